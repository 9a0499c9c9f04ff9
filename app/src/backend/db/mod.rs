//! Database connection, migrations, and a small SQL builder that writes the
//! placeholders of whichever backend is connected.

pub mod entities;
mod migrations;

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait, Value,
};
use std::time::Duration;

/// SQLite: the text a contact's row puts in the search index (its search text
/// and a deactivated contact's status token), as its triggers write it.
pub(crate) use migrations::indexed_text;
pub use migrations::Migrator;
pub use sea_orm_migration::MigratorTrait;

/// Open the database at `url` (SQLite or PostgreSQL). SQLite files and their
/// folder are created when missing.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut url = url.to_string();
    if url.starts_with("sqlite:") {
        if let Some(path) = sqlite_path(&url) {
            if let Some(dir) = std::path::Path::new(&path).parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| DbErr::Custom(format!("cannot create {dir:?}: {e}")))?;
                }
            }
        }
        if !url.contains("mode=") {
            url.push_str(if url.contains('?') {
                "&mode=rwc"
            } else {
                "?mode=rwc"
            });
        }
    }
    let mut opts = ConnectOptions::new(url.clone());
    opts.sqlx_logging(false)
        .acquire_timeout(Duration::from_secs(10))
        .max_connections(if url.starts_with("sqlite:") { 8 } else { 16 });
    if url.starts_with("sqlite:") {
        opts.map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                .pragma("cache_size", "-16384")
                // All connections' pages together: without it each of the
                // pool's connections kept its own 16 MB (measured: 150 MB
                // of a sync's peak of 390). SQLite stops growing any cache
                // once its memory nears this (process-wide) bound.
                .pragma("soft_heap_limit", SQLITE_HEAP_LIMIT)
                // Temporary files stay files (SQLite's default): in memory,
                // the statement journal of an upload's insert held a copy of
                // every page it changed (60 MB of the heap's 136 MB at
                // 300,000 rows, measured with heaptrack).
                // The log is copied into the database by a task of its own
                // (`spawn_checkpointer`), beside the writers; a commit does it
                // only past this many pages (256 MiB), when that task lags.
                .pragma("wal_autocheckpoint", "65536")
                // What the log keeps of its size once copied (64 MiB).
                .pragma("journal_size_limit", "67108864")
        });
    }
    Database::connect(opts).await
}

/// SQLite's memory, all connections together, that its page caches keep
/// under (32 MiB).
const SQLITE_HEAP_LIMIT: &str = "33554432";

fn sqlite_path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| path.to_string())
}

/// What a migration left for the application to do once the schema is up to date.
#[derive(Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct AfterMigration {
    /// The search text's format changed: every contact's text and key must be
    /// computed again (`directory::reindex_all`).
    pub reindex: bool,
}

/// Bring the schema up to date.
pub async fn migrate(db: &DatabaseConnection) -> Result<AfterMigration, DbErr> {
    let pending = Migrator::get_pending_migrations(db).await?;
    let applied_before = Migrator::get_applied_migrations(db).await?.len();
    // One transaction, so one connection: given the pool, each statement went
    // to any of its connections, and on SQLite a connection whose snapshot
    // predated m0002's DROP TRIGGER failed its CREATE TRIGGER with "already
    // exists" (now and then, on a new database). All or nothing, too.
    let tx = begin_write(db).await?;
    Migrator::up(&tx, None).await?;
    tx.commit().await?;
    Ok(AfterMigration {
        // A new database has no contacts to reindex.
        reindex: applied_before > 0
            && pending
                .iter()
                .any(|m| m.name() == migrations::SEARCH_FORMAT),
    })
}

/// How many of Muster's migrations the database has not had yet (a server
/// of a newer release would apply them at its start).
pub async fn pending_migrations(db: &DatabaseConnection) -> Result<usize, DbErr> {
    Ok(Migrator::get_pending_migrations(db).await?.len())
}

/// Begin a transaction that will write. On SQLite it takes the write lock at
/// once (`BEGIN IMMEDIATE`), waiting up to the busy timeout for other writers:
/// a deferred transaction that reads first cannot upgrade its lock when another
/// writer committed meanwhile, and fails with "database is locked".
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// SQLite has one write lock. Short writers sent at once (an identity
/// provider's requests) take turns for it here, in order of arrival, rather
/// than in SQLite's busy handler, which sleeps up to 100 ms between tries: the
/// wait is then the time of the writes ahead, not a sleep (bench-scim's PATCH
/// p99: 565 ms without, see server/README.md). Process-wide: a process holds
/// one SQLite database in production; tests' databases merely share the turn.
static SQLITE_WRITERS: std::sync::LazyLock<tokio::sync::Mutex<()>> =
    std::sync::LazyLock::new(|| tokio::sync::Mutex::new(()));

/// A turn at SQLite's write lock (nothing on PostgreSQL), held until dropped:
/// keep it alive as long as the transaction.
#[must_use]
pub struct WriteTurn(#[allow(dead_code)] Option<tokio::sync::MutexGuard<'static, ()>>);

/// [`begin_write`] after waiting for this process's turn at SQLite's write
/// lock. The transaction must not wait for another turn: bind both, as
/// `let (_turn, tx) = ...`, so that the transaction ends before the turn.
pub async fn begin_write_in_turn(
    db: &DatabaseConnection,
) -> Result<(WriteTurn, DatabaseTransaction), DbErr> {
    let turn = match db.get_database_backend() {
        DbBackend::Sqlite => Some(SQLITE_WRITERS.lock().await),
        _ => None,
    };
    Ok((WriteTurn(turn), begin_write(db).await?))
}

/// Refresh the query planner's statistics, after a bulk load.
pub async fn analyze(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared("ANALYZE").await.map(|_| ())
}

/// Current time in milliseconds since the Unix epoch: how every timestamp is stored.
/// Keep the heartbeat (`heartbeat_at`) of row `id` of `table` fresh while its
/// `status` is `running`, for as long as the caller keeps this future alive
/// (abort its task when the work ends). A stale heartbeat tells every replica
/// that the work stopped with the server doing it.
pub async fn beat(
    db: DatabaseConnection,
    table: &'static str,
    running: &'static str,
    id: i64,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(100)));
    tick.tick().await;
    loop {
        tick.tick().await;
        let update = Query::update()
            .table(Alias::new(table))
            .value(Alias::new("heartbeat_at"), now_ms())
            .and_where(Expr::col(Alias::new("id")).eq(id))
            .and_where(Expr::col(Alias::new("status")).eq(running))
            .to_owned();
        if let Err(e) = db.execute(&update).await {
            tracing::warn!(table, id, "heartbeat: {e}");
        }
    }
}

/// Run `work` now and then every `period` for as long as the server runs
/// (the sweepers that every replica runs).
pub fn every<F, Fut>(period: Duration, what: &'static str, work: F)
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), crate::model::AppError>> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period.max(Duration::from_millis(200)));
        loop {
            tick.tick().await;
            if let Err(e) = work().await {
                tracing::warn!("{what}: {e}");
            }
        }
    });
}

/// SQLite: copy the write-ahead log into the database every half second, on
/// a connection of its own, beside the writers (a `PASSIVE` checkpoint waits
/// for no one). Left to the commits, each commit of an upload's batch copied
/// what it wrote and flushed the file to disk before the next batch could
/// begin (measured with `muster bench-import`, server/README).
pub fn spawn_checkpointer(db: DatabaseConnection) {
    if db.get_database_backend() != DbBackend::Sqlite {
        return;
    }
    every(
        Duration::from_millis(500),
        "copying SQLite's log into the database",
        move || {
            let db = db.clone();
            async move {
                let t = std::time::Instant::now();
                db.execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)")
                    .await?;
                tracing::trace!(ms = t.elapsed().as_secs_f64() * 1e3, "checkpoint");
                Ok(())
            }
        },
    );
}

/// The statement broke a unique index.
pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub fn from_ms(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Builds one SQL statement with bound values, numbering placeholders for
/// PostgreSQL (`$1`) or not for SQLite (`?`).
pub struct Sql {
    backend: DbBackend,
    sql: String,
    values: Vec<Value>,
}

impl Sql {
    pub fn new(backend: DbBackend) -> Self {
        Self {
            backend,
            sql: String::with_capacity(256),
            values: Vec::new(),
        }
    }

    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    pub fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.values.push(value.into());
        match self.backend {
            DbBackend::Postgres => {
                self.sql.push('$');
                self.sql.push_str(&self.values.len().to_string());
            }
            _ => self.sql.push('?'),
        }
        self
    }

    /// `(?, ?, ...)` for each value.
    pub fn bind_list<V: Into<Value>>(&mut self, values: impl IntoIterator<Item = V>) -> &mut Self {
        self.push("(");
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(v);
        }
        self.push(")")
    }

    /// The rows of a JSON array of arrays, as the table `j`, to read with
    /// [`Sql::json_col`]. Many rows go in one bound value, so the statement's
    /// text (and the prepared statement each connection caches for it) stays
    /// the same whatever their number.
    pub fn json_rows(&mut self, json: String) -> &mut Self {
        if self.is_postgres() {
            self.push("json_array_elements(CAST(")
                .bind(json)
                .push(" AS json)) AS j(value)")
        } else {
            self.push("json_each(").bind(json).push(") AS j")
        }
    }

    /// Element `i` of the current row of [`Sql::json_rows`], as SQL type `ty`
    /// (`BIGINT`, `TEXT` or `BOOLEAN`).
    pub fn json_col(&mut self, i: usize, ty: &str) -> &mut Self {
        if self.is_postgres() {
            self.push(&format!("CAST(j.value ->> {i} AS {ty})"))
        } else {
            self.push(&format!("j.value ->> {i}"))
        }
    }

    /// `column IN` the values of a JSON array of scalars, as SQL type `ty`:
    /// any number of values in one bound value.
    ///
    /// On PostgreSQL it is `column = ANY(ARRAY(...))`. The planner guesses that
    /// a set-returning function returns 100 rows, and against a large
    /// organisation's contacts it then hashes all of them for a semi-join (a
    /// batch of 5,000 phones read every one of a million contacts); the
    /// elements of an array are looked up in the column's index.
    pub fn json_in(&mut self, column: &str, json: String, ty: &str) -> &mut Self {
        self.json_membership(column, json, ty, false)
    }

    /// `column NOT IN` the values of a JSON array of scalars (see [`Sql::json_in`]).
    pub fn json_not_in(&mut self, column: &str, json: String, ty: &str) -> &mut Self {
        self.json_membership(column, json, ty, true)
    }

    fn json_membership(&mut self, column: &str, json: String, ty: &str, not: bool) -> &mut Self {
        if self.is_postgres() {
            let op = if not { "<> ALL" } else { "= ANY" };
            self.push(&format!(
                "{column} {op}(ARRAY(SELECT CAST(v AS {ty}) FROM json_array_elements_text(CAST("
            ))
            .bind(json)
            .push(" AS json)) AS t(v)))")
        } else {
            let op = if not { "NOT IN" } else { "IN" };
            self.push(&format!("{column} {op} (SELECT value FROM json_each("))
                .bind(json)
                .push("))")
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.backend == DbBackend::Postgres
    }

    pub fn build(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.sql, self.values)
    }

    pub async fn execute(self, db: &impl ConnectionTrait) -> Result<u64, DbErr> {
        Ok(db.execute_raw(self.build()).await?.rows_affected())
    }

    pub async fn all<T: sea_orm::FromQueryResult>(
        self,
        db: &impl ConnectionTrait,
    ) -> Result<Vec<T>, DbErr> {
        let rows = db.query_all_raw(self.build()).await?;
        rows.iter().map(|r| T::from_query_result(r, "")).collect()
    }

    pub async fn one<T: sea_orm::FromQueryResult>(
        self,
        db: &impl ConnectionTrait,
    ) -> Result<Option<T>, DbErr> {
        match db.query_one_raw(self.build()).await? {
            Some(r) => Ok(Some(T::from_query_result(&r, "")?)),
            None => Ok(None),
        }
    }

    /// The first column of the first row, as an integer (counts, ids).
    pub async fn scalar_i64(self, db: &impl ConnectionTrait) -> Result<Option<i64>, DbErr> {
        match db.query_one_raw(self.build()).await? {
            Some(r) => Ok(Some(r.try_get_by_index::<i64>(0)?)),
            None => Ok(None),
        }
    }
}

/// Escape `%`, `_` and `\` for a `LIKE ... ESCAPE '\'` pattern.
pub fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written pages reach the database file while the writers only commit:
    /// the log is copied by the checkpointer, not left to grow to
    /// `wal_autocheckpoint` (256 MiB). Without the checkpointer the file
    /// stays at its two first pages.
    #[tokio::test]
    async fn the_checkpointer_copies_the_log_into_the_database_file() {
        let dir = std::env::temp_dir().join(format!("muster-checkpointer-{}", std::process::id()));
        let file = dir.join("muster.db");
        let db = connect(&format!("sqlite://{}", file.display()))
            .await
            .unwrap();
        db.execute_unprepared("CREATE TABLE t (v BLOB)")
            .await
            .unwrap();
        spawn_checkpointer(db.clone());
        // 4 MiB in 64 commits, none of them past the automatic checkpoint.
        for _ in 0..64 {
            db.execute_unprepared(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 64) \
                 INSERT INTO t SELECT randomblob(1024) FROM n",
            )
            .await
            .unwrap();
        }
        let size = || std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while size() < 4 << 20 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let copied = size();
        db.close().await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(copied >= 4 << 20, "the database file holds {copied} bytes");
    }

    #[test]
    fn placeholders_follow_the_backend() {
        let mut pg = Sql::new(DbBackend::Postgres);
        pg.push("a = ")
            .bind(1i64)
            .push(" AND b IN ")
            .bind_list(["x", "y"]);
        assert_eq!(pg.build().sql, "a = $1 AND b IN ($2, $3)");
        let mut lite = Sql::new(DbBackend::Sqlite);
        lite.push("a = ")
            .bind(1i64)
            .push(" AND b IN ")
            .bind_list(["x", "y"]);
        assert_eq!(lite.build().sql, "a = ? AND b IN (?, ?)");
    }

    #[test]
    fn json_lists_are_arrays_on_postgres() {
        let mut pg = Sql::new(DbBackend::Postgres);
        pg.push("a = 1 AND ").json_in("b", "[1]".into(), "BIGINT");
        pg.push(" AND ").json_not_in("c", "[\"x\"]".into(), "TEXT");
        assert_eq!(
            pg.build().sql,
            "a = 1 AND b = ANY(ARRAY(SELECT CAST(v AS BIGINT) FROM json_array_elements_text(CAST($1 AS json)) AS t(v))) \
             AND c <> ALL(ARRAY(SELECT CAST(v AS TEXT) FROM json_array_elements_text(CAST($2 AS json)) AS t(v)))"
        );
        let mut lite = Sql::new(DbBackend::Sqlite);
        lite.json_in("b", "[1]".into(), "BIGINT")
            .push(" AND ")
            .json_not_in("c", "[]".into(), "TEXT");
        assert_eq!(
            lite.build().sql,
            "b IN (SELECT value FROM json_each(?)) AND c NOT IN (SELECT value FROM json_each(?))"
        );
    }

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(like_escape(r"50%_a\b"), r"50\%\_a\\b");
    }

    #[test]
    fn sqlite_paths_are_found() {
        assert_eq!(
            sqlite_path("sqlite://data/m.db?mode=rwc").as_deref(),
            Some("data/m.db")
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }
}
