//! SQLite's search keys: every contact's place in its organisation's name
//! order, which orders the FTS5 index (see [`super::search`]):
//!
//! ```text
//! organisation (20 bits) | position in the organisation's name order (43 bits)
//! ```
//!
//! Keys ascend exactly as `(sort_name, id)` does. New contacts are inserted
//! without a key and then [`place`]d between their neighbours; when a gap runs
//! out, the keys around it are spread out again (an order-maintenance list).
//! Plain reads and range updates go through the contact entity; the neighbour
//! lookup and the bulk key update are SQL of their own, each saying why.

use crate::backend::db::entities::contact;
use crate::backend::db::Sql;
use crate::backend::domain::OrgId;
use crate::model::AppError;
use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};

const POSITION_BITS: u32 = 43;
/// The largest organisation id that search keys can hold (its upper bound is
/// still an `i64`).
pub const MAX_ORG: i64 = (1 << (63 - POSITION_BITS)) - 2;
/// The widest spacing between neighbours: room to append a couple of million
/// contacts after the last one, and 22 halvings between any two.
const MAX_SPACING: i64 = 1 << 22;
/// A gap that ran out is re-spread over a window sparse enough for this spacing.
const SPREAD_SPACING: i64 = 1 << 16;
/// Contacts keyed per pass, which bounds memory for a large re-index.
const PLACE_CHUNK: u64 = 20_000;

/// The organisation's keys lie strictly between these two bounds.
pub(super) fn org_bounds(org: OrgId) -> (i64, i64) {
    let first = org.get() << POSITION_BITS;
    (first, first + (1 << POSITION_BITS))
}

#[derive(FromQueryResult)]
struct Unkeyed {
    id: i64,
    sort_name: String,
}

#[derive(FromQueryResult)]
struct Neighbours {
    pred: Option<i64>,
    succ: Option<i64>,
    /// Whether the contact just before has the same name (a run of namesakes).
    same: bool,
}

/// Give every contact of `org` that has no search key one, in name order, in
/// the caller's transaction (one that inserted or renamed them), unless more
/// than [`BACKLOG`] are waiting: then a large upload's rows are being placed
/// a chunk per transaction ([`place_some`], by the import that left them),
/// and this writer's contacts are placed with them.
///
/// Nothing on PostgreSQL: its writers' contacts get their word starts with
/// their rows, and only an upload leaves a backlog (`super::word_starts`),
/// which the upload's own catch-up and the sweep place. Placing it here would
/// lock an upload's contacts in a sync's or a save's transaction, behind the
/// catch-up's locks.
///
/// Contacts an upload parked (see [`place_some`]) are left to its catch-up.
pub async fn place(db: &impl ConnectionTrait, org: OrgId) -> Result<(), AppError> {
    if db.get_database_backend() != DbBackend::Sqlite
        || unkeyed(db, org, Some(BACKLOG + 1)).await? > BACKLOG
    {
        return Ok(());
    }
    while key_some(db, org, PLACE_CHUNK).await? > 0 {}
    Ok(())
}

/// Bring every contact of `org` that waits for the search index into it,
/// however many, in the caller's transaction (after the keys were cleared
/// for a new index, or at the end of a small upload): see [`place_some`].
pub async fn place_all(db: &impl ConnectionTrait, org: OrgId) -> Result<(), AppError> {
    while place_some(db, org, PLACE_CHUNK).await? > 0 {}
    Ok(())
}

/// Unplaced contacts a writer places itself (see [`place`]); more are placed
/// a chunk per transaction, after the upload that left them is committed.
pub const BACKLOG: u64 = PLACE_CHUNK;

/// How many contacts of `org` wait for the search index (at most `at_most`
/// of each kind): on SQLite those with no search key and those parked, read
/// from the partial indexes `contacts_unkeyed` and `contacts_parked`; on
/// PostgreSQL those waiting for their word starts.
pub async fn unplaced(
    db: &impl ConnectionTrait,
    org: OrgId,
    at_most: Option<u64>,
) -> Result<u64, AppError> {
    if db.get_database_backend() != DbBackend::Sqlite {
        return count(db, super::word_starts::backlog(org), at_most).await;
    }
    Ok(unkeyed(db, org, at_most).await? + count(db, parked(org), at_most).await?)
}

/// The ids of `org`'s parked contacts (SQLite), from `contacts_parked`.
fn parked(org: OrgId) -> sea_orm::sea_query::SelectStatement {
    contact::Entity::find()
        .select_only()
        .column(contact::Column::Id)
        .filter(contact::Column::OrgId.eq(org.get()))
        .filter(contact::Column::SearchOld.is_not_null())
        .into_query()
}

/// How many contacts of `org` have no search key (SQLite; at most `at_most`).
async fn unkeyed(
    db: &impl ConnectionTrait,
    org: OrgId,
    at_most: Option<u64>,
) -> Result<u64, AppError> {
    let unkeyed = contact::Entity::find()
        .select_only()
        .column(contact::Column::Id)
        .filter(contact::Column::OrgId.eq(org.get()))
        .filter(contact::Column::SearchKey.is_null())
        .into_query();
    count(db, unkeyed, at_most).await
}

/// The rows of `rows`, at most `at_most`.
async fn count(
    db: &impl ConnectionTrait,
    mut rows: sea_orm::sea_query::SelectStatement,
    at_most: Option<u64>,
) -> Result<u64, AppError> {
    if let Some(n) = at_most {
        rows.limit(n);
    }
    // Counted over a subquery: the bound must apply before the count.
    let count = Query::select()
        .expr(Expr::cust("COUNT(*)"))
        .from_subquery(rows, Alias::new("rows"))
        .to_owned();
    let row = db.query_one(&count).await?;
    let n: i64 = match row {
        Some(row) => row.try_get_by_index(0)?,
        None => 0,
    };
    Ok(n.max(0) as u64)
}

/// Bring up to about `limit` of `org`'s contacts that wait for the search
/// index into it, in the caller's transaction; how many (0: none was left).
/// On SQLite, the parked ones while there are any (an upload changed their
/// text and left their entry as it was, `bulk::overwrite_many`): clearing
/// `search_old` has the triggers rewrite their entry. Then those with no
/// search key (see [`key_some`]), which take several times longer each: a
/// call does one or the other, so that a caller sizing its chunks by time
/// sees one pace at a time. On PostgreSQL, give up to `limit` of them their
/// word starts.
pub async fn place_some(
    db: &impl ConnectionTrait,
    org: OrgId,
    limit: u64,
) -> Result<u64, AppError> {
    if db.get_database_backend() != DbBackend::Sqlite {
        return super::word_starts::place_some(db, org, limit).await;
    }
    let limit = limit.max(1);
    let unparked = contact::Entity::update_many()
        .col_expr(contact::Column::SearchOld, Expr::value(None::<String>))
        .filter(contact::Column::Id.in_subquery(parked(org).limit(limit).to_owned()))
        .exec(db)
        .await?
        .rows_affected;
    if unparked > 0 {
        return Ok(unparked);
    }
    key_some(db, org, limit).await
}

/// Give up to about `limit` of `org`'s contacts that have no search key one,
/// the first in name order, in the caller's transaction; how many it keyed
/// (0: none was left). Contacts whose neighbours ran out of room are keyed
/// again with them, so none is left without a key that had one.
async fn key_some(db: &impl ConnectionTrait, org: OrgId, limit: u64) -> Result<u64, AppError> {
    if !(1..=MAX_ORG).contains(&org.get()) {
        return Err(AppError::internal(
            "organisation id beyond the search key range",
        ));
    }
    let (org_low, org_high) = org_bounds(org);
    let (mut keyed, mut limit) = (0u64, limit.max(1));
    'pass: loop {
        let rows: Vec<Unkeyed> = contact::Entity::find()
            .select_only()
            .columns([contact::Column::Id, contact::Column::SortName])
            .filter(contact::Column::OrgId.eq(org.get()))
            .filter(contact::Column::SearchKey.is_null())
            .order_by_asc(contact::Column::SortName)
            .order_by_asc(contact::Column::Id)
            .limit(limit)
            .into_model()
            .all(db)
            .await?;
        if rows.is_empty() {
            return Ok(keyed);
        }
        let order: Vec<(&str, i64)> = rows.iter().map(|r| (r.sort_name.as_str(), r.id)).collect();
        let neighbours = neighbours(db, org, &order).await?;
        let mut keys: Vec<(i64, i64)> = Vec::with_capacity(rows.len());
        for (start, end, gap) in gaps(&neighbours) {
            let count = (end - start) as i64;
            let same = neighbours[start].same;
            let Some((first, step)) = fill_gap(gap.0, gap.1, (org_low, org_high), count, same)
            else {
                // This gap ran out: key what fits so far, re-spread its
                // surroundings (their keys are cleared), and start again,
                // taking in the contacts cleared, which come first in name order.
                store_keys(db, &keys).await?;
                keyed += keys.len() as u64;
                let (low, high) = (gap.0.unwrap_or(org_low), gap.1.unwrap_or(org_high));
                limit += clear_window(db, org, low, high, rows.len() as i64).await?;
                continue 'pass;
            };
            for (i, row) in rows[start..end].iter().enumerate() {
                keys.push((row.id, first + step * i as i64));
            }
        }
        store_keys(db, &keys).await?;
        return Ok(keyed + keys.len() as u64);
    }
}

/// Keys for contacts about to be inserted, given in name order (`(sort_name,
/// id)` ascending, ids not yet used): a key between their keyed neighbours,
/// or `None` where a gap has run out, for [`place`] to re-spread after the insert.
/// Inserting with keys spares the bulk writers a second write of every row.
pub async fn keys_for(
    db: &impl ConnectionTrait,
    org: OrgId,
    order: &[(&str, i64)],
) -> Result<Vec<Option<i64>>, AppError> {
    if db.get_database_backend() != DbBackend::Sqlite || order.is_empty() {
        return Ok(vec![None; order.len()]);
    }
    let bounds = org_bounds(org);
    let neighbours = neighbours(db, org, order).await?;
    let mut keys = vec![None; order.len()];
    for (start, end, gap) in gaps(&neighbours) {
        let count = (end - start) as i64;
        if let Some((first, step)) = fill_gap(gap.0, gap.1, bounds, count, neighbours[start].same) {
            for (i, key) in keys[start..end].iter_mut().enumerate() {
                *key = Some(first + step * i as i64);
            }
        }
    }
    Ok(keys)
}

/// For each of `order` (name order), the keys of the keyed contacts just
/// before and after it, one statement for the lot.
async fn neighbours(
    db: &impl ConnectionTrait,
    org: OrgId,
    order: &[(&str, i64)],
) -> Result<Vec<Neighbours>, AppError> {
    let list = serde_json::to_string(order).map_err(|e| AppError::internal(e.to_string()))?;
    // Hand-written: three correlated subqueries with row-value comparisons per
    // element of a JSON list, one statement for the whole chunk.
    let mut sql = Sql::new(DbBackend::Sqlite);
    sql.push("SELECT (SELECT search_key FROM contacts WHERE org_id = ")
        .bind(org.get())
        .push(
            " AND search_key IS NOT NULL AND (sort_name, id) < (j.value ->> 0, j.value ->> 1) \
             ORDER BY sort_name DESC, id DESC LIMIT 1) AS pred, \
             (SELECT search_key FROM contacts WHERE org_id = ",
        )
        .bind(org.get())
        .push(
            " AND search_key IS NOT NULL AND (sort_name, id) > (j.value ->> 0, j.value ->> 1) \
             ORDER BY sort_name, id LIMIT 1) AS succ, \
             EXISTS (SELECT 1 FROM contacts WHERE org_id = ",
        )
        .bind(org.get())
        .push(
            " AND search_key IS NOT NULL AND sort_name = j.value ->> 0 \
             AND id < j.value ->> 1) AS same FROM json_each(",
        )
        .bind(list)
        .push(") j ORDER BY j.key");
    let neighbours: Vec<Neighbours> = sql.all(db).await?;
    if neighbours.len() != order.len() {
        return Err(AppError::internal("neighbour lookup lost rows"));
    }
    Ok(neighbours)
}

type Gap = (Option<i64>, Option<i64>);

/// Runs of consecutive contacts that fall in the same gap: `(start, end, gap)`.
fn gaps(neighbours: &[Neighbours]) -> impl Iterator<Item = (usize, usize, Gap)> + '_ {
    let mut start = 0;
    std::iter::from_fn(move || {
        let first = neighbours.get(start)?;
        let gap = (first.pred, first.succ);
        let end = start
            + neighbours[start..]
                .iter()
                .take_while(|n| (n.pred, n.succ) == gap)
                .count();
        let run = (start, end, gap);
        start = end;
        Some(run)
    })
}

/// Where `count` new keys go between the neighbours' keys `pred` and `succ`
/// (`None`: that end of the organisation's range): the first key and the step,
/// or `None` when they do not fit.
///
/// Keys at an end of the range hug the neighbour, leaving the room beyond for
/// more contacts sorted the same way; a run of namesakes (`same`) always grows
/// at its end, so its keys hug the previous one; other gaps are shared evenly.
fn fill_gap(
    pred: Option<i64>,
    succ: Option<i64>,
    (org_low, org_high): (i64, i64),
    count: i64,
    same: bool,
) -> Option<(i64, i64)> {
    let step =
        |low: i64, high: i64, share: i64| ((high - low) / (share * (count + 1))).min(MAX_SPACING);
    let (first, step) = match (pred, succ) {
        (None, None) => {
            // An empty organisation starts in the middle, with room on both sides.
            let middle = org_low + (org_high - org_low) / 2;
            let s = step(middle, org_high, 1);
            (middle + s, s)
        }
        (Some(p), None) => {
            let s = step(p, org_high, 1);
            (p + s, s)
        }
        (None, Some(q)) => {
            let s = step(org_low, q, 1);
            (q - s * count, s)
        }
        (Some(p), Some(q)) => {
            let s = match step(p, q, 16) {
                s if same && s > 0 => s,
                _ => step(p, q, 1),
            };
            (p + s, s)
        }
    };
    (step > 0).then_some((first, step))
}

async fn store_keys(db: &impl ConnectionTrait, keys: &[(i64, i64)]) -> Result<(), AppError> {
    if keys.is_empty() {
        return Ok(());
    }
    let list = serde_json::to_string(keys).map_err(|e| AppError::internal(e.to_string()))?;
    // Hand-written: UPDATE ... FROM json_each, every key of the chunk in one
    // statement (the entity API updates one value for many rows, not many).
    let mut sql = Sql::new(DbBackend::Sqlite);
    // A parked contact placed gets its own text in the index.
    sql.push("UPDATE contacts SET search_key = j.value ->> 1, search_old = NULL FROM json_each(")
        .bind(list)
        .push(") j WHERE contacts.id = j.value ->> 0");
    sql.execute(db).await?;
    Ok(())
}

/// Clear the keys of the contacts around the exhausted gap `(low, high)`, so
/// that the next pass spreads them out again. The window is the smallest
/// power-of-two-aligned key range around the gap that is sparse enough to give
/// every contact in it, and `incoming` more, [`SPREAD_SPACING`]; windows grow
/// with the crowding, so the work stays proportional to it. How many it cleared.
async fn clear_window(
    db: &impl ConnectionTrait,
    org: OrgId,
    low: i64,
    high: i64,
    incoming: i64,
) -> Result<u64, AppError> {
    let (org_low, _) = org_bounds(org);
    let mut bits = 64 - (low ^ (high - 1)).leading_zeros();
    loop {
        let from = (low >> bits) << bits;
        let to = from + (1i64 << bits);
        let range = contact::Column::SearchKey.between(from.max(org_low + 1), to - 1);
        let inside = contact::Entity::find()
            .filter(range.clone())
            .count(db)
            .await? as i64;
        let needed = (inside + incoming + 1).saturating_mul(SPREAD_SPACING);
        if needed <= to - from || bits >= POSITION_BITS {
            if (to - from) / (inside + incoming + 1) < 2 {
                return Err(AppError::BadRequest(
                    "This organisation has too many contacts to index.".into(),
                ));
            }
            tracing::debug!(
                org = org.get(),
                inside,
                incoming,
                bits,
                "re-spreading search keys"
            );
            let cleared = contact::Entity::update_many()
                .col_expr(contact::Column::SearchKey, Expr::value(None::<i64>))
                .filter(range)
                .exec(db)
                .await?;
            return Ok(cleared.rows_affected);
        }
        bits += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organisations_have_disjoint_positive_key_ranges() {
        let (low, high) = org_bounds(OrgId::trusted(5));
        assert_eq!(org_bounds(OrgId::trusted(4)).1, low);
        assert_eq!(org_bounds(OrgId::trusted(6)).0, high);
        let (_, last) = org_bounds(OrgId::trusted(MAX_ORG));
        assert!(last - 1 > 0, "keys stay positive");
    }

    #[test]
    fn new_keys_fit_strictly_inside_their_gap_in_order() {
        let bounds = org_bounds(OrgId::trusted(3));
        let (low, high) = bounds;
        let cases = [
            (None, None, 5000, false),
            (Some(low + 10), None, 20_000, false),
            (None, Some(low + 1_000), 7, false),
            (Some(low + 100), Some(low + 200), 9, false),
            (Some(low + 100), Some(low + 200), 99, true),
            (Some(high - 50), None, 1, false),
        ];
        for (pred, succ, count, same) in cases {
            let (first, step) = fill_gap(pred, succ, bounds, count, same).unwrap();
            let last = first + step * (count - 1);
            assert!(step > 0 && step <= MAX_SPACING);
            assert!(first > pred.unwrap_or(low), "{pred:?} {succ:?}");
            assert!(last < succ.unwrap_or(high), "{pred:?} {succ:?}");
        }
        // What does not fit says so.
        assert_eq!(
            fill_gap(Some(low + 100), Some(low + 110), bounds, 10, false),
            None
        );
        assert_eq!(
            fill_gap(Some(low + 100), Some(low + 101), bounds, 1, true),
            None
        );
        // Appends and namesakes leave most of the gap for the next ones.
        let (first, _) =
            fill_gap(Some(low + 1000), Some(low + (1 << 20)), bounds, 1, true).unwrap();
        assert!(first - (low + 1000) < (1 << 20) / 8);
        let (first, step) = fill_gap(None, None, bounds, 10, false).unwrap();
        assert!(first - low > (high - low) / 3 && high - (first + 10 * step) > (high - low) / 3);
    }
}
