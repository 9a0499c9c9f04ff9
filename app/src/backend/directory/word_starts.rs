//! PostgreSQL's backlog of word starts (migration m0020) and words (m0023).
//! A bulk writer that inserts contacts without search keys
//! (`bulk::insert_many`, not `keyed`) leaves both for later: the insert
//! trigger lists the contacts in `word_start_backlog`, and [`place_some`]
//! writes their word starts and words a chunk at a time, as SQLite's
//! contacts get their search keys. Until then one- and two-character
//! searches do not find them, and longer ones are answered by the trigram
//! index (written with the rows) instead of the words. A write to a contact
//! in the backlog leaves its entries alone (m0020's and m0023's update
//! trigger): placing writes them from its text as it is then. Only an
//! upload's catch-up and the sweep place the backlog (`import::job::index`),
//! never another writer's transaction.

use crate::backend::db::Sql;
use crate::backend::domain::OrgId;
use crate::model::AppError;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{ConnectionTrait, FromQueryResult};

/// Whether the contacts that the caller's transaction inserts from now on get
/// their word starts later (`true`) or with the rows.
pub(super) async fn later(db: &impl ConnectionTrait, later: bool) -> Result<(), AppError> {
    let value = if later { "on" } else { "off" };
    db.execute_unprepared(&format!("SET LOCAL muster.word_starts_later = {value}"))
        .await?;
    Ok(())
}

/// The contact ids of `org` in the backlog, to count.
pub(super) fn backlog(org: OrgId) -> SelectStatement {
    Query::select()
        .column(Alias::new("contact_id"))
        .from(Alias::new("word_start_backlog"))
        .and_where(Expr::col(Alias::new("org_id")).eq(org.get()))
        .to_owned()
}

#[derive(FromQueryResult)]
struct Taken {
    contact_id: i64,
}

/// Give up to `limit` contacts of `org` in the backlog their word starts, in
/// the caller's transaction; how many left the backlog (0: none was left).
pub(super) async fn place_some(
    db: &impl ConnectionTrait,
    org: OrgId,
    limit: u64,
) -> Result<u64, AppError> {
    let backend = db.get_database_backend();
    // Hand-written, as the statements below: DELETE ... RETURNING of a
    // limited subquery.
    let mut sql = Sql::new(backend);
    sql.push("DELETE FROM word_start_backlog WHERE org_id = ")
        .bind(org.get())
        .push(" AND contact_id IN (SELECT contact_id FROM word_start_backlog WHERE org_id = ")
        .bind(org.get())
        .push(" ORDER BY contact_id LIMIT ")
        .bind(std::cmp::max(limit, 1) as i64)
        .push(") RETURNING contact_id");
    let ids: Vec<i64> = sql
        .all::<Taken>(db)
        .await?
        .into_iter()
        .map(|t| t.contact_id)
        .collect();
    if ids.is_empty() {
        return Ok(0);
    }
    let ids_json = serde_json::to_string(&ids).map_err(AppError::internal)?;
    let of_these = |sql: &mut Sql| {
        sql.push(" WHERE c.org_id = ")
            .bind(org.get())
            .push(" AND ")
            .json_in("c.id", ids_json.clone(), "BIGINT");
    };
    // Locked first: a write of one of them waits for this transaction, or
    // committed before it and is read below.
    let mut lock = Sql::new(backend);
    lock.push("SELECT c.id AS contact_id FROM contacts c");
    of_these(&mut lock);
    lock.push(" ORDER BY c.id FOR UPDATE");
    lock.all::<Taken>(db).await?;
    // A contact written since its insert got no entries (m0020's update
    // trigger leaves those in the backlog alone): every one's are written now,
    // from its text as it is.
    let mut add = Sql::new(backend);
    add.push(
        "INSERT INTO contact_word_starts SELECT c.org_id, s, c.sort_name, c.id, c.active, \
         c.department, c.role, c.location FROM contacts c, contact_word_starts(c.search_text) AS s",
    );
    of_these(&mut add);
    add.execute(db).await?;
    // And their words (migration m0023).
    let mut words = Sql::new(backend);
    words.push(
        "INSERT INTO contact_words SELECT c.org_id, w.word, c.id, w.before, c.sort_name, \
         c.active, c.department, c.role, c.location \
         FROM contacts c, contact_words(c.search_text) AS w",
    );
    of_these(&mut words);
    words.execute(db).await?;
    Ok(ids.len() as u64)
}
