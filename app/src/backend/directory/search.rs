//! Finding contacts: one page sorted by name plus the total, for any search and
//! filters, fast at a million contacts in one organisation.
//!
//! On SQLite every search and filter is answered by the FTS5 trigram index over
//! `search_text` (see [`super::text`]). Its entries are keyed by `search_key`
//! ([`super::keys`]), which ascends as the name order does, so an organisation's
//! entries are one contiguous range (a total is a count over the index alone),
//! and a page is the next 51 matching index entries in key order: no sorting,
//! however many contacts match. The statements are SQL of their own (FTS5
//! `MATCH` and its rowid ranges, row-value cursors and the loose index scan
//! have no place in the entity API), each saying why. While a large upload's
//! contacts are still being placed in that index (after its summary: see
//! `import::job::index`), filters alone are answered by their column indexes.
//!
//! On PostgreSQL, filters compare their columns. A one- or two-character
//! search (a word start) is counted and paged through `contact_word_starts`,
//! each contact's word starts in name order, kept by triggers (migration
//! m0018): index-only, however many contacts match. A longer search is a
//! `LIKE` on `search_text`, served by the `pg_trgm` index; how a page is read
//! depends on how many rows match (see [`page_postgres`]). When that search
//! lies inside one word (`text::is_within_word`), it is counted, and paged
//! unless a first window of the name order holds a page, through
//! `contact_words` instead (m0023), index-only too, unless contacts wait in
//! the backlog, which have no words yet.
//!
//! Deactivated contacts are listed only when asked for (`ContactStatus`): the
//! list without search leaves them out as it reads, a search on SQLite leaves
//! out or keeps only the index entries with their token, and the deactivated
//! contacts' own count and list read the partial index `contacts_deactivated`.

use super::keys::org_bounds;
use super::text::{self, Facet};
use crate::backend::db::entities::contact_group;
use crate::backend::db::{like_escape, Sql};
use crate::backend::domain::OrgId;
use crate::model::{AppError, ContactPage, ContactQuery, ContactRow, ContactStatus, Facets};
use base64::Engine;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};

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
    active: bool,
}

const ROW_COLUMNS: &str = "SELECT c.id, c.first_name, c.last_name, c.sort_name, c.email, \
     c.phone, c.source, c.active FROM contacts c";

/// A query, normalised: the search pattern and the filters that are set.
struct Criteria<'a> {
    org: OrgId,
    pattern: Option<String>,
    /// A one- or two-character search: the word start it matches.
    word_start: Option<String>,
    filters: Vec<(Facet, &'static str, &'a str)>,
    status: ContactStatus,
    /// SQLite: read through the text index (keyed contacts only), rather
    /// than the filters' own column indexes (see [`Criteria::plan`]).
    by_text_index: bool,
    /// PostgreSQL: count and page through `contact_words` (see
    /// [`Criteria::plan`]).
    by_words: bool,
}

impl<'a> Criteria<'a> {
    /// The criteria of a query that passed [`ContactQuery::check`].
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
            word_start: text::word_start(&query.q),
            filters,
            status: query.status().unwrap_or(ContactStatus::Active),
            by_text_index: false,
            by_words: false,
        }
    }

    /// Choose how to read: on SQLite a search, or filters, are answered by the
    /// text index, which holds only the contacts placed in it; while a large
    /// upload's contacts are still being placed or rewritten (after its
    /// summary), filters alone are answered by their column indexes instead,
    /// so that every contact is filterable as soon as it is listed. A search
    /// finds the contacts placed so far, a parked one by its entry as it was
    /// (the upload's page says indexing goes on).
    ///
    /// On PostgreSQL, a search of three characters or more that lies inside
    /// one word is read through `contact_words`, which holds every contact
    /// but those in the backlog (an upload's, until its catch-up places
    /// them); while any wait there, the trigram index counts instead.
    async fn plan(mut self, db: &impl ConnectionTrait) -> Result<Self, AppError> {
        let backend = db.get_database_backend();
        self.by_text_index = backend == DbBackend::Sqlite
            && !self.is_unsearched()
            && (self.pattern.is_some() || super::unplaced(db, self.org, Some(1)).await? == 0);
        self.by_words = backend == DbBackend::Postgres
            && self.word_start.is_none()
            && self.pattern.as_deref().is_some_and(text::is_within_word)
            && super::unplaced(db, self.org, Some(1)).await? == 0;
        Ok(self)
    }

    /// PostgreSQL, searching a word start: read `contact_word_starts`.
    fn by_word_starts(&self, backend: DbBackend) -> bool {
        backend == DbBackend::Postgres && self.word_start.is_some()
    }

    /// PostgreSQL: `FROM contact_word_starts w`, then `join`, then the `WHERE`
    /// on `w` (organisation, word start, filters and status), answered by
    /// its indexes alone.
    fn push_word_starts(&self, sql: &mut Sql, join: &str) {
        sql.push(" FROM contact_word_starts w")
            .push(join)
            .push(" WHERE w.org_id = ")
            .bind(self.org.get())
            .push(" AND w.word_start = ")
            .bind(self.word_start.clone().unwrap_or_default());
        self.push_filter_terms(sql, "w");
    }

    /// PostgreSQL: `FROM contact_words w WHERE` each matching contact's first
    /// word that holds the pattern (migration m0023): the words of the
    /// vocabulary that hold it, then the rows of those words whose earlier
    /// words do not, with the filters and status. Index-only.
    fn push_words(&self, sql: &mut Sql) {
        let pattern = self.pattern.clone().unwrap_or_default();
        sql.push(" FROM contact_words w WHERE w.org_id = ")
            .bind(self.org.get())
            .push(
                " AND w.word = ANY (ARRAY(SELECT DISTINCT s.word FROM search_words s \
                 WHERE s.org_id = ",
            )
            .bind(self.org.get())
            .push(" AND s.word LIKE ")
            .bind(format!("%{}%", like_escape(&pattern)))
            .push(" ESCAPE '\\')) AND strpos(w.before, ")
            .bind(pattern)
            .push(") = 0");
        self.push_filter_terms(sql, "w");
    }

    /// No search and no filter on department, role or location.
    fn is_unsearched(&self) -> bool {
        self.pattern.is_none() && self.filters.is_empty()
    }

    /// The FTS5 query: every term must be found, and the status token must be
    /// there (deactivated) or not (active). An active-only query has terms
    /// (unsearched lists are read from the table): FTS5 has no `NOT` alone.
    fn fts_match(&self) -> String {
        let mut terms: Vec<String> = self.pattern.iter().map(|p| text::fts_phrase(p)).collect();
        terms.extend(
            self.filters
                .iter()
                .map(|(f, _, v)| text::fts_phrase(&text::facet_token(*f, v))),
        );
        let token = text::fts_phrase(text::DEACTIVATED);
        match self.status {
            ContactStatus::All => terms.join(" AND "),
            ContactStatus::Deactivated => {
                terms.push(token);
                terms.join(" AND ")
            }
            ContactStatus::Active => format!("({}) NOT {token}", terms.join(" AND ")),
        }
    }

    /// `WHERE` on the contacts table: organisation and filters, and on
    /// PostgreSQL the search too.
    fn push_where(&self, sql: &mut Sql) {
        self.push_filters(sql);
        if sql.is_postgres() {
            self.push_search(sql, " AND ");
        }
    }

    /// PostgreSQL: the search, after `joiner` (nothing without a search).
    fn push_search(&self, sql: &mut Sql, joiner: &str) {
        if let Some(p) = &self.pattern {
            sql.push(joiner)
                .push("c.search_text LIKE ")
                .bind(format!("%{}%", like_escape(p)))
                .push(" ESCAPE '\\'");
        }
    }

    /// `WHERE` on the contacts table: organisation, filters and status.
    fn push_filters(&self, sql: &mut Sql) {
        sql.push(" WHERE c.org_id = ").bind(self.org.get());
        self.push_filter_terms(sql, "c");
    }

    /// `AND` the filters and the status, on the columns of `table`.
    fn push_filter_terms(&self, sql: &mut Sql, table: &str) {
        for (_, column, value) in &self.filters {
            sql.push(&format!(" AND {table}.{column} = "))
                .bind(value.to_string());
        }
        // Literals, not parameters: SQLite uses a partial index only for a
        // condition it can match with the index's own when it plans.
        let status = match self.status {
            ContactStatus::Active => "TRUE",
            ContactStatus::Deactivated => "FALSE",
            ContactStatus::All => return,
        };
        sql.push(&format!(" AND {table}.active = {status}"));
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

/// The name order of the contacts table's rows (`c`).
const CONTACT_ORDER: (&str, &str) = ("c.sort_name", "c.id");

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

/// PostgreSQL: the entries (`w`, of word starts or words) after the cursor
/// in name order (before it, if backwards), as many as a read wants.
fn push_entries_page(sql: &mut Sql, read: &Read<'_>) {
    if let Some((sort, id)) = read.cursor {
        let op = if read.backwards { "<" } else { ">" };
        sql.push(&format!(" AND (w.sort_name, w.contact_id) {op} ("))
            .bind(sort.as_str())
            .push(", ")
            .bind(*id)
            .push(")");
    }
    push_order(
        sql,
        read.backwards,
        read.want,
        ("w.sort_name", "w.contact_id"),
    );
}

fn push_order(sql: &mut Sql, backwards: bool, limit: u64, (by, then): (&str, &str)) {
    let order = if backwards { "DESC" } else { "ASC" };
    sql.push(&format!(
        " ORDER BY {by} {order}, {then} {order} LIMIT {limit}"
    ));
}

/// One page of the list, sorted by name, with the total matching the query.
pub async fn search(
    db: &sea_orm::DatabaseConnection,
    org: OrgId,
    query: &ContactQuery,
) -> Result<ContactPage, AppError> {
    query.check()?;
    let limit = ContactQuery::PAGE_SIZE;
    let (cursor, backwards) = if !query.before.is_empty() {
        (Some(decode_cursor(&query.before)?), true)
    } else if !query.after.is_empty() {
        (Some(decode_cursor(&query.after)?), false)
    } else {
        (None, false)
    };
    // One snapshot for the plan, the count and the page, which keys must agree on.
    let tx = db.begin().await?;
    let criteria = Criteria::new(org, query).plan(&tx).await?;
    let total = count(&tx, &criteria).await?;
    // Counted from the partial indexes of unkeyed and parked contacts
    // (PostgreSQL: the backlog of word starts, which only one- and
    // two-character searches read): none but while an upload's contacts are
    // being placed, and then the page says so.
    let backend = tx.get_database_backend();
    let unsearched = if criteria.pattern.is_some()
        && (backend == DbBackend::Sqlite || criteria.by_word_starts(backend))
    {
        super::unplaced(&tx, org, None).await?
    } else {
        0
    };
    let mut rows = if total == 0 {
        Vec::new()
    } else {
        let read = Read {
            columns: ROW_COLUMNS,
            cursor: cursor.as_ref(),
            backwards,
            want: limit + 1,
            total: Some(total),
        };
        matching::<RowDb>(&tx, &criteria, &read).await?
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
                deactivated: !r.active,
            })
            .collect(),
        total,
        next: if has_next { last } else { None },
        prev: if has_prev { first } else { None },
        unsearched,
    })
}

/// What to read of the matching rows.
struct Read<'a> {
    /// `SELECT ... FROM contacts c`, with `c.id` and `c.sort_name` among them.
    columns: &'a str,
    /// Rows after this one in name order (before it, if `backwards`).
    cursor: Option<&'a (String, i64)>,
    backwards: bool,
    want: u64,
    /// How many rows match in all, when counted (a page of the list); an
    /// export's pages leave the plan to the database.
    total: Option<u64>,
}

/// PostgreSQL: matches at least this dense (one contact in this many) are
/// found by walking the name order; sparser ones are read whole through the
/// text and filter indexes and sorted (at a million contacts: fewer than
/// 10,000).
const DENSE_ONE_IN: u64 = 100;

/// Up to `want` matching rows of `columns` after the cursor, in name order,
/// or before it in reverse name order.
async fn matching<T: FromQueryResult>(
    db: &impl ConnectionTrait,
    criteria: &Criteria<'_>,
    read: &Read<'_>,
) -> Result<Vec<T>, AppError> {
    let backend = db.get_database_backend();
    if criteria.by_text_index {
        return page_by_index(db, criteria, read).await;
    }
    if criteria.by_word_starts(backend) {
        // Hand-written: the entries of the word start in name order, read
        // from their index (a row-value cursor is an index condition there),
        // each joined to its contact.
        let columns = read
            .columns
            .strip_suffix(" FROM contacts c")
            .expect("columns are read from contacts c");
        let mut sql = Sql::new(backend);
        sql.push(columns);
        criteria.push_word_starts(&mut sql, " JOIN contacts c ON c.id = w.contact_id");
        push_entries_page(&mut sql, read);
        return Ok(sql.all::<T>(db).await?);
    }
    // Filters alone are served in name order by their own indexes.
    if let (DbBackend::Postgres, Some(_), Some(total)) = (backend, &criteria.pattern, read.total) {
        return page_postgres(db, criteria, read, total).await;
    }
    // Hand-written: the WHERE that the count and the index path share
    // (Criteria), and a row-value cursor `(sort_name, id) > (?, ?)`.
    let mut sql = Sql::new(backend);
    sql.push(read.columns);
    criteria.push_where(&mut sql);
    if let Some(c) = read.cursor {
        push_after(&mut sql, c, read.backwards);
    }
    push_order(&mut sql, read.backwards, read.want, CONTACT_ORDER);
    Ok(sql.all::<T>(db).await?)
}

/// PostgreSQL, with a search or a filter: the planner cannot know how many
/// rows a pattern matches, and guessed wrong both ways (walking the name
/// index for a rare pattern, seconds; sorting every match of a common one).
/// The exact total, counted first, decides instead: few matches are read
/// through the trigram and filter indexes and sorted; many are found by
/// walking the name order in windows eight times larger each time (where
/// matches are dense, a few thousand rows hold a page; bunched later in the
/// alphabet, as a first name's are, a larger window), but never a window of
/// more rows than there are matches: sorting them all costs less then (at a
/// million contacts, "sandra" walked 12,148 then 97,184 rows in 75 ms before
/// its 16,789 matches were sorted in 13).
async fn page_postgres<T: FromQueryResult>(
    db: &impl ConnectionTrait,
    criteria: &Criteria<'_>,
    read: &Read<'_>,
    total: u64,
) -> Result<Vec<T>, AppError> {
    let order = if read.backwards { "DESC" } else { "ASC" };
    let contacts = organisation_size(db, criteria.org).await?;
    if total.saturating_mul(DENSE_ONE_IN) >= contacts {
        let columns = read
            .columns
            .strip_prefix("SELECT ")
            .expect("columns start with SELECT");
        // Expected rows to walk for a page at this density, four times over;
        // matches bunched later in the alphabet take larger windows.
        let mut window = (read.want.saturating_mul(contacts) / total.max(1))
            .saturating_mul(4)
            .max(1_000);
        while window < total {
            // Hand-written: the inner ORDER BY and LIMIT walk the name index
            // (the organisation's, or a filter's); the search is checked on
            // the rows walked.
            let mut sql = Sql::new(DbBackend::Postgres);
            sql.push("SELECT * FROM (SELECT c.search_text, ")
                .push(columns);
            criteria.push_filters(&mut sql);
            if let Some(c) = read.cursor {
                push_after(&mut sql, c, read.backwards);
            }
            sql.push(&format!(
                " ORDER BY c.sort_name {order}, c.id {order} LIMIT {window}) c"
            ));
            criteria.push_search(&mut sql, " WHERE ");
            sql.push(&format!(
                " ORDER BY c.sort_name {order}, c.id {order} LIMIT {}",
                read.want
            ));
            let rows = sql.all::<T>(db).await?;
            // A full page is the answer. Words in name order cost less
            // than a larger window.
            if rows.len() as u64 == read.want {
                return Ok(rows);
            }
            if criteria.by_words {
                break;
            }
            window = window.saturating_mul(8);
        }
    }
    if criteria.by_words {
        return page_by_words(db, criteria, read).await;
    }
    // Hand-written: MATERIALIZED keeps the ORDER BY from steering the
    // planner onto the name index; the matches are read through the indexes
    // that find them, then sorted.
    let mut sql = Sql::new(DbBackend::Postgres);
    sql.push("WITH m AS MATERIALIZED (").push(read.columns);
    criteria.push_where(&mut sql);
    if let Some(c) = read.cursor {
        push_after(&mut sql, c, read.backwards);
    }
    sql.push(&format!(
        ") SELECT * FROM m ORDER BY m.sort_name {order}, m.id {order} LIMIT {}",
        read.want
    ));
    Ok(sql.all::<T>(db).await?)
}

/// PostgreSQL, a search within a word: the first rows of its words in name
/// order (a top-N sort of index entries: "smith", 18,367 matches at a million
/// contacts, where the trigram index took 91 ms to read the matching rows
/// before sorting them), then those contacts.
async fn page_by_words<T: FromQueryResult>(
    db: &impl ConnectionTrait,
    criteria: &Criteria<'_>,
    read: &Read<'_>,
) -> Result<Vec<T>, AppError> {
    // Hand-written: an IN of a sorted, limited subquery.
    let mut sql = Sql::new(DbBackend::Postgres);
    sql.push(read.columns)
        .push(" WHERE c.org_id = ")
        .bind(criteria.org.get())
        .push(" AND c.id IN (SELECT w.contact_id");
    criteria.push_words(&mut sql);
    push_entries_page(&mut sql, read);
    sql.push(")");
    push_order(&mut sql, read.backwards, read.want, CONTACT_ORDER);
    Ok(sql.all::<T>(db).await?)
}

/// The organisation's contacts, as kept by the triggers.
async fn organisation_size(db: &impl ConnectionTrait, org: OrgId) -> Result<u64, AppError> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT contact_count FROM organisations WHERE id = ")
        .bind(org.get());
    Ok(sql.scalar_i64(db).await?.unwrap_or(0).max(0) as u64)
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
    query.check()?;
    let criteria = Criteria::new(org, query).plan(db).await?;
    let read = Read {
        columns: EXPORT_COLUMNS,
        cursor: after,
        backwards: false,
        want: limit,
        total: None,
    };
    matching::<ExportRow>(db, &criteria, &read).await
}

/// How many contacts match.
async fn count(db: &impl ConnectionTrait, criteria: &Criteria<'_>) -> Result<u64, AppError> {
    let backend = db.get_database_backend();
    // Hand-written: the cached total (less the deactivated contacts, counted in
    // their partial index), or a count of word starts or words, or over the
    // FTS5 index's rowid range, or over the shared WHERE.
    let mut sql = Sql::new(backend);
    let org = criteria.org.get();
    if criteria.is_unsearched() {
        match criteria.status {
            ContactStatus::All => sql
                .push("SELECT contact_count FROM organisations WHERE id = ")
                .bind(org),
            ContactStatus::Active => sql
                .push("SELECT contact_count - (")
                .push(DEACTIVATED_COUNT)
                .bind(org)
                .push(") FROM organisations WHERE id = ")
                .bind(org),
            ContactStatus::Deactivated => sql.push(DEACTIVATED_COUNT).bind(org),
        };
    } else if criteria.by_word_starts(backend) {
        sql.push("SELECT COUNT(*)");
        criteria.push_word_starts(&mut sql, "");
    } else if criteria.by_words {
        // Index-only; two parallel workers cost more to start (about 20 ms)
        // than they save.
        db.execute_unprepared("SET LOCAL max_parallel_workers_per_gather = 0")
            .await?;
        sql.push("SELECT COUNT(*)");
        criteria.push_words(&mut sql);
    } else if criteria.by_text_index {
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

/// The deactivated contacts of an organisation (bind its id), from their partial index.
const DEACTIVATED_COUNT: &str = "SELECT COUNT(*) FROM contacts WHERE active = FALSE AND org_id = ";

#[derive(FromQueryResult)]
struct KeyRow {
    key: i64,
}

/// SQLite: up to `want` matching rows after the cursor, in name order: the next
/// matching index entries in key order, which is name order.
async fn page_by_index<T: FromQueryResult>(
    db: &impl ConnectionTrait,
    criteria: &Criteria<'_>,
    read: &Read<'_>,
) -> Result<Vec<T>, AppError> {
    let (columns, cursor, backwards, want) = (read.columns, read.cursor, read.backwards, read.want);
    let org = criteria.org;
    let (mut low, mut high) = org_bounds(org);
    if let Some((sort, id)) = cursor {
        // The key of the first contact beyond the cursor, which may be gone.
        let (op, order) = if backwards {
            ("<", "DESC")
        } else {
            (">", "ASC")
        };
        // Hand-written: a row-value comparison with the cursor.
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
    // Hand-written: FTS5 `MATCH` within a rowid range.
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
    // Hand-written: the rows of the keys found, under the shared WHERE.
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
        // Hand-written: a loose index scan (a recursive CTE), one seek per
        // distinct value in the (org, column) index instead of reading every
        // contact, which matters at a million rows.
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
    // The groups a contact can be put in: the organisation's own.
    out.groups = contact_group::Entity::find()
        .select_only()
        .column(contact_group::Column::Name)
        .filter(contact_group::Column::OrgId.eq(org.get()))
        .filter(contact_group::Column::IntegrationId.is_null())
        .filter(contact_group::Column::ScimSourceId.is_null())
        .order_by_asc(contact_group::Column::NameLower)
        .into_tuple::<String>()
        .all(db)
        .await?;
    // Hand-written: the same count as the list's, from the partial index.
    let mut sql = Sql::new(backend);
    sql.push(DEACTIVATED_COUNT).bind(org.get());
    out.deactivated = sql.scalar_i64(db).await?.unwrap_or(0).max(0) as u64;
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

    /// Any search and filter text becomes a query SQLite runs (FTS5 is strict
    /// about its syntax: a stray quote would be an error), or is refused as
    /// too long; never a failure, never a panic.
    #[test]
    fn any_search_is_a_query_that_runs() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestCaseError, TestRunner};
        let dir = std::env::temp_dir().join(format!("muster-search-prop-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let url = format!("sqlite://{}/t.db", dir.display());
        let db = rt.block_on(async {
            let db = crate::backend::db::connect(&url).await.unwrap();
            let _ = crate::backend::db::migrate(&db).await.unwrap();
            db.execute_unprepared(
                "INSERT INTO organisations (id, name, default_region, time_zone, created_at) \
                 VALUES (1, 'Org', 'GB', 'UTC', 0)",
            )
            .await
            .unwrap();
            db
        });
        let text = prop_oneof![
            any::<String>(),
            "[a-zA-Z0-9 \"'*^:()\\-+.@_]{0,12}",
            "[\"* ]{0,6}(AND|OR|NOT|NEAR)[\"* ]{0,6}",
            "[a \"]{195,205}",
        ];
        let mut runner = TestRunner::new(Config::with_cases(600));
        runner
            .run(&(text.clone(), text), |(q, department)| {
                let too_long = q.chars().count() > ContactQuery::MAX_TEXT
                    || department.chars().count() > ContactQuery::MAX_TEXT;
                let query = ContactQuery {
                    q,
                    department,
                    ..Default::default()
                };
                match rt.block_on(search(&db, OrgId::trusted(1), &query)) {
                    Ok(page) if !too_long => {
                        prop_assert_eq!(page.total, 0);
                        Ok(())
                    }
                    Err(AppError::Invalid(_)) if too_long => Ok(()),
                    other => Err(TestCaseError::fail(format!("{query:?}: {other:?}"))),
                }
            })
            .unwrap();
        drop(db);
        let _ = std::fs::remove_dir_all(&dir);
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

    #[test]
    fn postgres_reads_word_starts_from_their_table() {
        let query = ContactQuery {
            q: " Jo ".into(),
            role: "Nurse".into(),
            status: "all".into(),
            ..Default::default()
        };
        let criteria = Criteria::new(OrgId::trusted(7), &query);
        assert!(criteria.by_word_starts(DbBackend::Postgres));
        assert!(!criteria.by_word_starts(DbBackend::Sqlite));
        let mut sql = Sql::new(DbBackend::Postgres);
        criteria.push_word_starts(&mut sql, "");
        let built = sql.build();
        assert_eq!(
            built.sql,
            " FROM contact_word_starts w WHERE w.org_id = $1 AND w.word_start = $2 AND w.role = $3"
        );
        assert_eq!(built.values.unwrap().0[1], sea_orm::Value::from("jo"));
        for longer in ["joh", "j o"] {
            let query = ContactQuery {
                q: longer.into(),
                ..Default::default()
            };
            let criteria = Criteria::new(OrgId::trusted(7), &query);
            assert!(!criteria.by_word_starts(DbBackend::Postgres), "{longer}");
        }
    }
}
