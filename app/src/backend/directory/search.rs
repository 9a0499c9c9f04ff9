//! Finding contacts: one page sorted by name plus the total, for any search and
//! filters, fast at a million contacts in one organisation.
//!
//! On SQLite every search and filter is answered by the FTS5 trigram index over
//! `search_text` (see [`super::text`]). Its entries are keyed by `search_key`:
//!
//! ```text
//! organisation (20 bits) | position in the organisation's name order (43 bits)
//! ```
//!
//! Keys ascend exactly as `(sort_name, id)` does, so an organisation's entries
//! are one contiguous range (a total is a count over the index alone), and a
//! page is the next 51 matching index entries in key order: no sorting, however
//! many contacts match. New contacts are inserted without a key and then
//! [`place`]d between their neighbours; when a gap runs out, the keys around it
//! are spread out again (an order-maintenance list).
//!
//! On PostgreSQL, filters compare their columns and a search is a `LIKE` on
//! `search_text`, served by the `pg_trgm` index.

use super::text::{self, Facet};
use crate::backend::db::{like_escape, Sql};
use crate::backend::domain::OrgId;
use crate::model::{AppError, ContactPage, ContactQuery, ContactRow, Facets};
use base64::Engine;
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, TransactionTrait};

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
fn org_bounds(org: OrgId) -> (i64, i64) {
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

/// Give every contact of `org` that has no search key one, in name order.
/// Call it in the transaction that inserted or renamed them. PostgreSQL has no keys.
pub async fn place(db: &impl ConnectionTrait, org: OrgId) -> Result<(), AppError> {
    if db.get_database_backend() != DbBackend::Sqlite {
        return Ok(());
    }
    if !(1..=MAX_ORG).contains(&org.get()) {
        return Err(AppError::internal(
            "organisation id beyond the search key range",
        ));
    }
    let (org_low, org_high) = org_bounds(org);
    'pass: loop {
        let mut sql = Sql::new(DbBackend::Sqlite);
        sql.push("SELECT id, sort_name FROM contacts WHERE org_id = ")
            .bind(org.get())
            .push(&format!(
                " AND search_key IS NULL ORDER BY sort_name, id LIMIT {PLACE_CHUNK}"
            ));
        let rows: Vec<Unkeyed> = sql.all(db).await?;
        if rows.is_empty() {
            return Ok(());
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
                // surroundings (their keys are cleared), and start again.
                store_keys(db, &keys).await?;
                let (low, high) = (gap.0.unwrap_or(org_low), gap.1.unwrap_or(org_high));
                clear_window(db, org, low, high, rows.len() as i64).await?;
                continue 'pass;
            };
            for (i, row) in rows[start..end].iter().enumerate() {
                keys.push((row.id, first + step * i as i64));
            }
        }
        store_keys(db, &keys).await?;
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
    let mut sql = Sql::new(DbBackend::Sqlite);
    sql.push("UPDATE contacts SET search_key = j.value ->> 1 FROM json_each(")
        .bind(list)
        .push(") j WHERE contacts.id = j.value ->> 0");
    sql.execute(db).await?;
    Ok(())
}

/// Clear the keys of the contacts around the exhausted gap `(low, high)`, so
/// that the next pass spreads them out again. The window is the smallest
/// power-of-two-aligned key range around the gap that is sparse enough to give
/// every contact in it, and `incoming` more, [`SPREAD_SPACING`]; windows grow
/// with the crowding, so the work stays proportional to it.
async fn clear_window(
    db: &impl ConnectionTrait,
    org: OrgId,
    low: i64,
    high: i64,
    incoming: i64,
) -> Result<(), AppError> {
    let (org_low, _) = org_bounds(org);
    let mut bits = 64 - (low ^ (high - 1)).leading_zeros();
    loop {
        let from = (low >> bits) << bits;
        let to = from + (1i64 << bits);
        let mut sql = Sql::new(DbBackend::Sqlite);
        sql.push("SELECT COUNT(*) FROM contacts WHERE search_key >= ")
            .bind(from.max(org_low + 1))
            .push(" AND search_key < ")
            .bind(to);
        let inside = sql.scalar_i64(db).await?.unwrap_or(0);
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
            let mut sql = Sql::new(DbBackend::Sqlite);
            sql.push("UPDATE contacts SET search_key = NULL WHERE search_key >= ")
                .bind(from.max(org_low + 1))
                .push(" AND search_key < ")
                .bind(to);
            sql.execute(db).await?;
            return Ok(());
        }
        bits += 1;
    }
}

/// Keyset cursor: the sort key and id of a row, opaque to the browser.
fn encode_cursor(sort_name: &str, id: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{id}\n{sort_name}"))
}

fn decode_cursor(cursor: &str) -> Result<(String, i64), AppError> {
    let bad = || {
        AppError::BadRequest("This page link is no longer valid; start from the first page.".into())
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (id, sort) = text.split_once('\n').ok_or_else(bad)?;
    Ok((sort.to_string(), id.parse().map_err(|_| bad())?))
}

#[derive(FromQueryResult)]
struct RowDb {
    id: i64,
    first_name: String,
    last_name: String,
    sort_name: String,
    email: Option<String>,
    phone: Option<String>,
    source: String,
}

const ROW_COLUMNS: &str =
    "SELECT c.id, c.first_name, c.last_name, c.sort_name, c.email, c.phone, c.source FROM contacts c";

/// A query, normalised: the search pattern and the filters that are set.
struct Criteria<'a> {
    org: OrgId,
    pattern: Option<String>,
    filters: Vec<(Facet, &'static str, &'a str)>,
}

impl<'a> Criteria<'a> {
    fn new(org: OrgId, query: &'a ContactQuery) -> Self {
        let filters = [
            (Facet::Department, "department", &query.department),
            (Facet::Role, "role", &query.role),
            (Facet::Location, "location", &query.location),
        ]
        .into_iter()
        .filter(|(_, _, v)| !v.is_empty())
        .map(|(f, c, v)| (f, c, v.as_str()))
        .collect();
        Self {
            org,
            pattern: text::pattern(&query.q),
            filters,
        }
    }

    fn is_everyone(&self) -> bool {
        self.pattern.is_none() && self.filters.is_empty()
    }

    /// The FTS5 query: every term must be found.
    fn fts_match(&self) -> String {
        let mut terms: Vec<String> = self.pattern.iter().map(|p| text::fts_phrase(p)).collect();
        terms.extend(
            self.filters
                .iter()
                .map(|(f, _, v)| text::fts_phrase(&text::facet_token(*f, v))),
        );
        terms.join(" AND ")
    }

    /// `WHERE` on the contacts table: organisation and filters, and on
    /// PostgreSQL the search too.
    fn push_where(&self, sql: &mut Sql) {
        sql.push(" WHERE c.org_id = ").bind(self.org.get());
        for (_, column, value) in &self.filters {
            sql.push(" AND c.")
                .push(column)
                .push(" = ")
                .bind(value.to_string());
        }
        if sql.is_postgres() {
            if let Some(p) = &self.pattern {
                sql.push(" AND c.search_text LIKE ")
                    .bind(format!("%{}%", like_escape(p)))
                    .push(" ESCAPE '\\'");
            }
        }
    }

    /// The index entries that match, with keys strictly between `low` and `high`.
    fn push_fts(&self, sql: &mut Sql, low: i64, high: i64) {
        sql.push("SELECT rowid AS key FROM contacts_fts WHERE contacts_fts MATCH ")
            .bind(self.fts_match())
            .push(" AND rowid > ")
            .bind(low)
            .push(" AND rowid < ")
            .bind(high);
    }
}

fn push_after(sql: &mut Sql, cursor: &(String, i64), backwards: bool) {
    let op = if backwards { "<" } else { ">" };
    let (sort, id) = cursor;
    sql.push(" AND (c.sort_name ")
        .push(op)
        .push(" ")
        .bind(sort.as_str())
        .push(" OR (c.sort_name = ")
        .bind(sort.as_str())
        .push(" AND c.id ")
        .push(op)
        .push(" ")
        .bind(*id)
        .push("))");
}

fn push_order(sql: &mut Sql, backwards: bool, limit: u64) {
    let order = if backwards { "DESC" } else { "ASC" };
    sql.push(&format!(
        " ORDER BY c.sort_name {order}, c.id {order} LIMIT {limit}"
    ));
}

/// One page of the list, sorted by name, with the total matching the query.
pub async fn search(
    db: &sea_orm::DatabaseConnection,
    org: OrgId,
    query: &ContactQuery,
) -> Result<ContactPage, AppError> {
    let limit = ContactQuery::PAGE_SIZE;
    let (cursor, backwards) = if !query.before.is_empty() {
        (Some(decode_cursor(&query.before)?), true)
    } else if !query.after.is_empty() {
        (Some(decode_cursor(&query.after)?), false)
    } else {
        (None, false)
    };
    let criteria = Criteria::new(org, query);
    // One snapshot for the count and the page, which keys must agree on.
    let tx = db.begin().await?;
    let total = count(&tx, &criteria).await?;
    let mut rows = if total == 0 {
        Vec::new()
    } else {
        matching::<RowDb>(
            &tx,
            &criteria,
            ROW_COLUMNS,
            cursor.as_ref(),
            backwards,
            limit + 1,
        )
        .await?
    };
    tx.commit().await?;

    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    if backwards {
        rows.reverse();
    }
    let first = rows.first().map(|r| encode_cursor(&r.sort_name, r.id));
    let last = rows.last().map(|r| encode_cursor(&r.sort_name, r.id));
    let (has_prev, has_next) = match (cursor.is_some(), backwards) {
        (false, _) => (false, more),
        (true, false) => (true, more),
        (true, true) => (more, true),
    };
    Ok(ContactPage {
        rows: rows
            .into_iter()
            .map(|r| ContactRow {
                id: r.id,
                name: format!("{} {}", r.first_name, r.last_name),
                email: r.email,
                phone: r.phone,
                source: r.source,
            })
            .collect(),
        total,
        next: if has_next { last } else { None },
        prev: if has_prev { first } else { None },
    })
}

/// Up to `want` matching rows of `columns` (a `SELECT ... FROM contacts c`) after
/// the cursor, in name order, or before it in reverse name order.
async fn matching<T: FromQueryResult>(
    db: &impl ConnectionTrait,
    criteria: &Criteria<'_>,
    columns: &str,
    cursor: Option<&(String, i64)>,
    backwards: bool,
    want: u64,
) -> Result<Vec<T>, AppError> {
    if db.get_database_backend() == DbBackend::Sqlite && !criteria.is_everyone() {
        return page_by_index(db, criteria, columns, cursor, backwards, want).await;
    }
    let mut sql = Sql::new(db.get_database_backend());
    sql.push(columns);
    criteria.push_where(&mut sql);
    if let Some(c) = cursor {
        push_after(&mut sql, c, backwards);
    }
    push_order(&mut sql, backwards, want);
    Ok(sql.all::<T>(db).await?)
}

/// A contact as exported, in name order.
#[derive(Debug, FromQueryResult)]
pub struct ExportRow {
    pub id: i64,
    pub first_name: String,
    pub last_name: String,
    pub sort_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub department: Option<String>,
    pub role: Option<String>,
    pub location: Option<String>,
}

const EXPORT_COLUMNS: &str = "SELECT c.id, c.first_name, c.last_name, c.sort_name, c.email, \
     c.phone, c.department, c.role, c.location FROM contacts c";

/// Where an export has got to: the last contact written.
pub type ExportCursor = (String, i64);

/// The next `limit` contacts the query matches after `after`, in name order,
/// for an export of the whole list (search and filters as on the page).
pub async fn export_page(
    db: &sea_orm::DatabaseConnection,
    org: OrgId,
    query: &ContactQuery,
    after: Option<&ExportCursor>,
    limit: u64,
) -> Result<Vec<ExportRow>, AppError> {
    let criteria = Criteria::new(org, query);
    matching::<ExportRow>(db, &criteria, EXPORT_COLUMNS, after, false, limit).await
}

/// How many contacts match.
async fn count(db: &impl ConnectionTrait, criteria: &Criteria<'_>) -> Result<u64, AppError> {
    let backend = db.get_database_backend();
    let mut sql = Sql::new(backend);
    if criteria.is_everyone() {
        sql.push("SELECT contact_count FROM organisations WHERE id = ")
            .bind(criteria.org.get());
    } else if backend == DbBackend::Sqlite {
        let (low, high) = org_bounds(criteria.org);
        sql.push("SELECT COUNT(*) FROM (");
        criteria.push_fts(&mut sql, low, high);
        sql.push(")");
    } else {
        sql.push("SELECT COUNT(*) FROM contacts c");
        criteria.push_where(&mut sql);
    }
    Ok(sql.scalar_i64(db).await?.unwrap_or(0).max(0) as u64)
}

#[derive(FromQueryResult)]
struct KeyRow {
    key: i64,
}

/// SQLite: up to `want` matching rows after the cursor, in name order: the next
/// matching index entries in key order, which is name order.
async fn page_by_index<T: FromQueryResult>(
    db: &impl ConnectionTrait,
    criteria: &Criteria<'_>,
    columns: &str,
    cursor: Option<&(String, i64)>,
    backwards: bool,
    want: u64,
) -> Result<Vec<T>, AppError> {
    let org = criteria.org;
    let (mut low, mut high) = org_bounds(org);
    if let Some((sort, id)) = cursor {
        // The key of the first contact beyond the cursor, which may be gone.
        let (op, order) = if backwards {
            ("<", "DESC")
        } else {
            (">", "ASC")
        };
        let mut sql = Sql::new(DbBackend::Sqlite);
        sql.push("SELECT search_key FROM contacts WHERE org_id = ")
            .bind(org.get())
            .push(&format!(
                " AND search_key IS NOT NULL AND (sort_name, id) {op} ("
            ))
            .bind(sort.as_str())
            .push(", ")
            .bind(*id)
            .push(&format!(") ORDER BY sort_name {order}, id {order} LIMIT 1"));
        match sql.scalar_i64(db).await? {
            None => return Ok(Vec::new()),
            Some(key) if backwards => high = key + 1,
            Some(key) => low = key - 1,
        }
    }
    let mut sql = Sql::new(DbBackend::Sqlite);
    criteria.push_fts(&mut sql, low, high);
    sql.push(&format!(
        " ORDER BY rowid {} LIMIT {want}",
        if backwards { "DESC" } else { "ASC" }
    ));
    let keys: Vec<i64> = sql
        .all::<KeyRow>(db)
        .await?
        .into_iter()
        .map(|k| k.key)
        .collect();
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(DbBackend::Sqlite);
    sql.push(columns);
    criteria.push_where(&mut sql);
    sql.push(" AND c.search_key IN ")
        .bind_list(keys.iter().copied());
    sql.push(if backwards {
        " ORDER BY c.search_key DESC"
    } else {
        " ORDER BY c.search_key"
    });
    Ok(sql.all::<T>(db).await?)
}

#[derive(FromQueryResult)]
struct NameRow {
    name: String,
}

/// The departments, roles, locations and groups present in the organisation.
pub async fn facets(db: &impl ConnectionTrait, org: OrgId) -> Result<Facets, AppError> {
    let backend = db.get_database_backend();
    let mut out = Facets::default();
    for (column, target) in [
        ("department", &mut out.departments),
        ("role", &mut out.roles),
        ("location", &mut out.locations),
    ] {
        // A loose index scan: one seek per distinct value in the (org, column)
        // index instead of reading every contact, which matters at a million rows.
        let mut sql = Sql::new(backend);
        sql.push(&format!(
            "WITH RECURSIVE v(name) AS ( \
               SELECT MIN({column}) FROM contacts WHERE org_id = "
        ))
        .bind(org.get())
        .push(&format!(
            " UNION ALL \
               SELECT (SELECT MIN({column}) FROM contacts WHERE org_id = "
        ))
        .bind(org.get())
        .push(&format!(
            " AND {column} > v.name) FROM v WHERE v.name IS NOT NULL \
             ) SELECT name FROM v WHERE name IS NOT NULL ORDER BY name"
        ));
        *target = sql
            .all::<NameRow>(db)
            .await?
            .into_iter()
            .map(|r| r.name)
            .collect();
    }
    let mut sql = Sql::new(backend);
    // The groups a contact can be put in: the organisation's own.
    sql.push("SELECT name FROM contact_groups WHERE integration_id IS NULL AND org_id = ")
        .bind(org.get())
        .push(" ORDER BY name_lower");
    out.groups = sql
        .all::<NameRow>(db)
        .await?
        .into_iter()
        .map(|r| r.name)
        .collect();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = encode_cursor("ada lovelace\nx", 42);
        assert_eq!(
            decode_cursor(&c).unwrap(),
            ("ada lovelace\nx".to_string(), 42)
        );
        assert!(decode_cursor("!!").is_err());
        assert!(
            decode_cursor(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("x")).is_err()
        );
    }

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

    #[test]
    fn postgres_searches_with_like_and_filters_on_columns() {
        let query = ContactQuery {
            q: "John".into(),
            department: "Ops".into(),
            ..Default::default()
        };
        let criteria = Criteria::new(OrgId::trusted(7), &query);
        let mut sql = Sql::new(DbBackend::Postgres);
        criteria.push_where(&mut sql);
        let s = sql.build().sql;
        assert!(s.starts_with(" WHERE c.org_id = $1 AND c.department = $2"));
        assert!(s.contains("search_text LIKE $3"));
        assert_eq!(criteria.fts_match().matches(" AND ").count(), 1);
    }
}
