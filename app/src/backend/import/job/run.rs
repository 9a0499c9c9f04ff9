//! The background task that applies a confirmed job, batch by batch.

use super::file::{is_blank, Stored};
use crate::backend::db::entities::import_job;
use crate::backend::db::{begin_write_in_turn, now_ms, Sql};
use crate::backend::domain::OrgId;
use crate::backend::import::apply::{self, Counts, Importer, Problem, Row};
use crate::backend::import::columns::Mapping;
use crate::backend::import::sniff::{TextEncoding, Unusable};
use crate::backend::import::{self as import, stream};
use crate::model::{AppError, ImportStatus};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// An import running in the background.
pub(super) struct Run {
    db: DatabaseConnection,
    id: i64,
    org: OrgId,
    region: String,
    stored: Stored,
    encoding: TextEncoding,
    delimiter: u8,
    mapping: Mapping,
    /// Its settings: the batch size, the heartbeat's pace, the server's
    /// stopping, how the search index catches up.
    config: super::ImportConfig,
    /// Where an earlier run of this job stopped: the rows it processed (they
    /// are read again only to be remembered), and its counts.
    skip: u64,
    counts: Counts,
}

/// How a run ended.
enum Outcome {
    Completed,
    Cancelled,
    /// Marked interrupted by a sweep while it ran; it stops without a word.
    Superseded,
    /// Stopped with the server after a committed batch; it keeps its file and
    /// goes on from there with the next server to pick it up.
    Paused,
    Failed(String),
}

impl Run {
    /// Job `id` of `org`, its file `stored`, to apply from its first row, as
    /// `config` says.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        db: &DatabaseConnection,
        config: &super::ImportConfig,
        id: i64,
        org: OrgId,
        region: String,
        stored: Stored,
        (encoding, delimiter): (TextEncoding, u8),
        mapping: Mapping,
    ) -> Self {
        Self {
            db: db.clone(),
            id,
            org,
            region,
            stored,
            encoding,
            delimiter,
            mapping,
            config: config.clone(),
            skip: 0,
            counts: Counts::default(),
        }
    }

    /// The most rows a batch may have (the setting, at least 1).
    fn batch_rows(&self) -> usize {
        self.config.batch_rows.max(1)
    }

    /// The server is stopping: stop after the batch in hand (see [`super::stop`]).
    fn stop(&self) -> &CancellationToken {
        &self.config.stopping
    }

    /// Go on from where an earlier run stopped: `skip` rows processed, `counts` so far.
    pub fn resuming(self, skip: u64, counts: Counts) -> Self {
        Self {
            skip,
            counts,
            ..self
        }
    }

    /// Apply the job in the background, as one of `runs`.
    pub fn spawn(self, runs: &TaskTracker) {
        let span = tracing::info_span!("import", org = self.org.get(), job = self.id);
        runs.spawn(self.run().instrument(span));
    }

    async fn run(self) {
        let heartbeat = tokio::spawn(crate::backend::db::beat(
            self.db.clone(),
            "import_jobs",
            ImportStatus::Running.as_str(),
            self.id,
            self.config.stale_after / 4,
        ));
        let outcome = match self.apply_all().await {
            Ok(outcome) => outcome,
            Err(e) => Outcome::Failed(format!(
                "{e} The import stopped there; the rows counted as processed were imported."
            )),
        };
        heartbeat.abort();
        let (status, message) = match outcome {
            Outcome::Completed => (ImportStatus::Completed, None),
            Outcome::Cancelled => (
                ImportStatus::Cancelled,
                Some("Cancelled. The rows counted as processed were imported.".to_string()),
            ),
            Outcome::Superseded => {
                self.stored.remove(&self.db).await;
                return;
            }
            Outcome::Paused => {
                // No heartbeat: any server's next sweep goes on with it.
                use import_job::Column as J;
                let paused = import_job::Entity::update_many()
                    .col_expr(J::HeartbeatAt, Expr::value(None::<i64>))
                    .filter(J::Id.eq(self.id))
                    .filter(J::Status.eq(ImportStatus::Running.as_str()))
                    .exec(&self.db)
                    .await;
                if let Err(e) = paused {
                    tracing::error!(job = self.id, "recording a paused import: {e}");
                }
                tracing::info!(
                    "import paused with the server; it goes on when a server picks it up"
                );
                return;
            }
            Outcome::Failed(m) => (ImportStatus::Failed, Some(m)),
        };
        // However it ended, what it committed becomes searchable: now, or
        // after the summary for a large upload.
        let backlog = super::index::end(&self.db, &self.config, self.id, self.org, status, message)
            .await
            .unwrap_or_else(|e| {
                tracing::error!(job = self.id, "recording the end of an import: {e}");
                0
            });
        tracing::info!(status = status.as_str(), backlog, "import ended");
        self.stored.remove(&self.db).await;
        if backlog > 0 {
            if let Err(e) = super::index::catch_up(&self.db, &self.config, self.id, self.org).await
            {
                tracing::error!(
                    job = self.id,
                    "placing imported contacts in the search index: {e}"
                );
            }
        }
    }

    async fn apply_all(&self) -> Result<Outcome, AppError> {
        let (send, mut batches) = tokio::sync::mpsc::channel::<Read>(2);
        // Rows the reader puts in each batch, set after each commit.
        let batch_size = Arc::new(AtomicUsize::new(self.batch_rows().min(FIRST_BATCH)));
        let reader = {
            let (db, stored, encoding, delimiter, mapping, region, size, skip) = (
                self.db.clone(),
                self.stored.clone(),
                self.encoding,
                self.delimiter,
                self.mapping.clone(),
                self.region.clone(),
                batch_size.clone(),
                self.skip,
            );
            // Reading and validating (phone numbers above all) take a core of
            // their own, while the database applies the batch before.
            tokio::task::spawn_blocking(move || {
                let file = stored
                    .open(&db)
                    .map_err(|_| "The uploaded file could not be read again.".to_string())?;
                read_batches(
                    file, encoding, delimiter, &mapping, &region, size, skip, send,
                )
            })
        };
        let mut importer = Importer::new(self.org, &self.region).resuming(self.counts);
        loop {
            let waited = Instant::now();
            let read = tokio::select! {
                biased;
                () = self.stop().cancelled() => None,
                read = batches.recv() => Some(read),
            };
            let (batch, cells) = match read {
                // Stopping: what is committed stays, the rest waits for the next run.
                None => {
                    drop(batches);
                    let _ = reader.await;
                    return Ok(Outcome::Paused);
                }
                Some(None) => break,
                Some(Some(Read::Applied(rows))) => {
                    importer.remember(&rows);
                    continue;
                }
                Some(Some(Read::Rows(rows, cells))) => (rows, cells),
            };
            let beginning = Instant::now();
            let waited = beginning - waited;
            if self.cancel_requested().await? {
                drop(batches);
                let _ = reader.await;
                return Ok(Outcome::Cancelled);
            }
            // In turn: writers waiting for theirs (a session's last use, an
            // identity provider's requests) go between two batches.
            let (_turn, tx) = begin_write_in_turn(&self.db).await?;
            let began = Instant::now();
            let begun = began - beginning;
            let applied = importer.apply(&tx, &self.mapping, &batch).await?;
            let recording = Instant::now();
            save_problems(&tx, self.id, &applied.problems, &batch, &cells).await?;
            let c = applied.counts;
            use import_job::Column as J;
            // The importer's counts are running totals; the rows are this batch's.
            let total = |n: u64| Expr::value(n as i64);
            let counted = import_job::Entity::update_many()
                .col_expr(
                    J::ProcessedRows,
                    Expr::col(J::ProcessedRows).add(batch.len() as i64),
                )
                .col_expr(J::Created, total(c.created))
                .col_expr(J::Updated, total(c.updated))
                .col_expr(J::Unchanged, total(c.unchanged))
                .col_expr(J::Failed, total(c.failed))
                .col_expr(J::Warnings, total(c.warnings))
                .col_expr(J::HeartbeatAt, Expr::value(now_ms()))
                .filter(J::Id.eq(self.id))
                .filter(J::Status.eq(ImportStatus::Running.as_str()))
                .exec(&tx)
                .await?;
            if counted.rows_affected == 0 {
                // Interrupted by a sweep meanwhile: this batch is not applied.
                drop(tx);
                drop(batches);
                let _ = reader.await;
                return Ok(Outcome::Superseded);
            }
            let recorded = recording.elapsed();
            let t = Instant::now();
            tx.commit().await?;
            let next = next_batch_rows(batch.len(), began.elapsed(), self.batch_rows());
            batch_size.store(next, Ordering::Relaxed);
            tracing::debug!(
                wait_ms = waited.as_secs_f64() * 1e3,
                begin_ms = begun.as_secs_f64() * 1e3,
                record_ms = recorded.as_secs_f64() * 1e3,
                commit_ms = t.elapsed().as_secs_f64() * 1e3,
                rows = batch.len(),
                next,
                "import commit"
            );
            metrics::counter!("muster_import_rows_total").increment(batch.len() as u64);
            let accepting = Instant::now();
            let _ = importer.accept(applied);
            drop(batch);
            tracing::debug!(
                accept_ms = accepting.elapsed().as_secs_f64() * 1e3,
                "import accepted"
            );
            if self.stop().is_cancelled() {
                drop(batches);
                let _ = reader.await;
                return Ok(Outcome::Paused);
            }
        }
        match reader.await.map_err(AppError::internal)? {
            Ok(()) => Ok(Outcome::Completed),
            Err(message) => Ok(Outcome::Failed(message)),
        }
    }

    async fn cancel_requested(&self) -> Result<bool, AppError> {
        let requested: Option<bool> = import_job::Entity::find_by_id(self.id)
            .select_only()
            .column(import_job::Column::CancelRequested)
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(requested == Some(true))
    }
}

/// An import's first batch, in rows (fewer when the setting is lower). The
/// reader is up to three batches ahead, so the first four have this size
/// whatever the pace: 5,000 rows into a million contacts took 2.3 s on a
/// slow machine, longer than the progress may stand still.
const FIRST_BATCH: usize = 2_500;

/// How long a batch should take, so that the progress moves about every
/// second. Each commit writes every index page its rows touched, so larger
/// batches cost less per row (SQLite alone: a million contacts in 76 s in
/// batches of 5,000, 41 s in batches of 20,000; server/README).
const BATCH_AIM: Duration = Duration::from_secs(1);

/// The rows of the batch after one of `rows` that took `took`: as many as
/// take [`BATCH_AIM`] at its pace, at most twice or half as many, never more
/// than `ceiling` (the setting) nor fewer than 1,000 (or the setting). The
/// search index's catch-up sizes its chunks of contacts the same way.
pub(super) fn next_batch_rows(rows: usize, took: Duration, ceiling: usize) -> usize {
    let ceiling = ceiling.max(1);
    let pace = rows as f64 / took.as_secs_f64().max(1e-3);
    let aim = (pace * BATCH_AIM.as_secs_f64()) as usize;
    aim.clamp(rows / 2, rows.saturating_mul(2))
        .clamp(ceiling.min(1_000), ceiling)
}

/// What the reading task hands the applying one.
enum Read {
    /// Rows an earlier run of this job applied: only remembered.
    Applied(Vec<Row>),
    /// Rows to apply, with their cells in the same order: a row can fail when
    /// it is applied too (a stored value no longer valid), and the error
    /// report gives a failed row's cells.
    Rows(Vec<Row>, Cells),
}

/// Read the stored file in batches of validated rows, in file order, for the
/// applying task; the first `skip` rows as already applied. Stops early when
/// that task stops listening.
#[allow(clippy::too_many_arguments)]
fn read_batches(
    file: impl std::io::Read + Send,
    encoding: TextEncoding,
    delimiter: u8,
    mapping: &Mapping,
    region: &str,
    batch_size: Arc<AtomicUsize>,
    skip: u64,
    send: tokio::sync::mpsc::Sender<Read>,
) -> Result<(), String> {
    let (mut reader, watch) = stream::records(
        std::io::BufReader::with_capacity(256 * 1024, file),
        encoding,
        delimiter,
        true,
    );
    let mut record = csv::StringRecord::new();
    let mut batch = Vec::with_capacity(batch_size.load(Ordering::Relaxed));
    let mut cells = Cells::default();
    let mut read = 0u64;
    // The reader takes the header row itself.
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) if is_blank(&record) => {}
            Ok(true) => {
                let line = watch.line_of(record.position().map_or(0, |p| p.byte()));
                let row = apply::check(&mapping.draft(&record), region);
                let applied = read < skip;
                read += 1;
                if !applied {
                    cells.push(&record);
                }
                batch.push((line, row));
                // The rows applied before are sent apart from the others.
                let size = batch_size.load(Ordering::Relaxed);
                let full = batch.len() >= size || read == skip;
                if full {
                    let rows = std::mem::replace(&mut batch, Vec::with_capacity(size));
                    let message = if applied {
                        Read::Applied(rows)
                    } else {
                        Read::Rows(rows, std::mem::take(&mut cells))
                    };
                    if send.blocking_send(message).is_err() {
                        return Ok(());
                    }
                }
            }
            Err(e) => return Err(import::broken(&e).to_string()),
        }
    }
    // Checked before the upload was accepted; this guards the rows after it.
    if let Some(line) = watch.unclosed_since() {
        return Err(Unusable::Broken {
            line,
            reason: "a quoted value starts there and is never closed".into(),
        }
        .to_string());
    }
    if !batch.is_empty() {
        let _ = send.blocking_send(if read <= skip {
            Read::Applied(batch)
        } else {
            Read::Rows(batch, cells)
        });
    }
    Ok(())
}

/// The cells of a batch's rows, in one buffer (a row's cells as `String`s
/// cost about three times their size, and a batch of 20,000 is kept until it
/// is applied).
#[derive(Default)]
struct Cells {
    text: String,
    /// Where each cell ends in `text`.
    ends: Vec<usize>,
    /// Where each row's cells start in `ends`.
    rows: Vec<usize>,
}

impl Cells {
    fn push(&mut self, record: &csv::StringRecord) {
        self.rows.push(self.ends.len());
        for cell in record {
            self.text.push_str(cell);
            self.ends.push(self.text.len());
        }
    }

    /// The cells of the `i`th row pushed.
    fn row(&self, i: usize) -> Option<Vec<&str>> {
        let first = *self.rows.get(i)?;
        let last = self.rows.get(i + 1).copied().unwrap_or(self.ends.len());
        let start = |c: usize| if c == 0 { 0 } else { self.ends[c - 1] };
        Some(
            (first..last)
                .map(|c| &self.text[start(c)..self.ends[c]])
                .collect(),
        )
    }
}

/// Record the batch's problems; the first problem of each failed row keeps
/// the row's cells as a JSON array (in `cells`, in the order of `batch`,
/// itself in line order).
async fn save_problems(
    tx: &impl ConnectionTrait,
    job: i64,
    problems: &[Problem],
    batch: &[Row],
    cells: &Cells,
) -> Result<(), AppError> {
    if problems.is_empty() {
        return Ok(());
    }
    let cells_of = |line: u64| {
        let i = batch.binary_search_by_key(&line, |(l, _)| *l).ok()?;
        serde_json::to_string(&cells.row(i)?).ok()
    };
    // The cells go with a failed row's first error (a warning's row was
    // applied: there is nothing in it to fix and upload again).
    let mut failed = None;
    let rows: Vec<serde_json::Value> = problems
        .iter()
        .map(|p| {
            let first = !p.warning && failed.replace(p.line) != Some(p.line);
            let values = first.then(|| cells_of(p.line)).flatten();
            serde_json::json!([job, p.line, p.column, p.message, p.warning, values])
        })
        .collect();
    let rows = serde_json::to_string(&rows).map_err(AppError::internal)?;
    // Hand-written: the rows go as one JSON value, so the statement is the
    // same for any number of them.
    let mut sql = Sql::new(tx.get_database_backend());
    sql.push(
        "INSERT INTO import_problems (job_id, line, column_name, message, warning, row_values) \
         SELECT ",
    )
    .json_col(0, "BIGINT")
    .push(", ")
    .json_col(1, "BIGINT")
    .push(", ")
    .json_col(2, "TEXT")
    .push(", ")
    .json_col(3, "TEXT")
    .push(", ")
    .json_col(4, "BOOLEAN")
    .push(", ")
    .json_col(5, "TEXT")
    .push(" FROM ")
    .json_rows(rows);
    sql.execute(tx).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{next_batch_rows, Cells};
    use std::time::Duration;

    #[test]
    fn a_batch_keeps_each_rows_cells() {
        let mut cells = Cells::default();
        for row in [&["Ada", "", "ada@example.com"][..], &[], &["", "Bo"]] {
            cells.push(&csv::StringRecord::from(row.to_vec()));
        }
        assert_eq!(cells.row(0), Some(vec!["Ada", "", "ada@example.com"]));
        assert_eq!(cells.row(1), Some(vec![]));
        assert_eq!(cells.row(2), Some(vec!["", "Bo"]));
        assert_eq!(cells.row(3), None);
    }

    #[test]
    fn batches_grow_while_fast_and_shrink_when_slow_within_bounds() {
        let ms = Duration::from_millis;
        // Fast: twice as many at most, up to the setting.
        assert_eq!(next_batch_rows(5_000, ms(200), 20_000), 10_000);
        assert_eq!(next_batch_rows(10_000, ms(200), 20_000), 20_000);
        assert_eq!(next_batch_rows(20_000, ms(100), 20_000), 20_000);
        // On pace: the same; a little slow or fast: in proportion.
        assert_eq!(next_batch_rows(8_000, ms(1_000), 20_000), 8_000);
        assert_eq!(next_batch_rows(8_000, ms(800), 20_000), 10_000);
        // Slow: half as many at most, never below 1,000.
        assert_eq!(next_batch_rows(10_000, ms(4_000), 20_000), 5_000);
        assert_eq!(next_batch_rows(1_500, ms(9_000), 20_000), 1_000);
        // A setting below 1,000 is kept as it is, fast or slow.
        assert_eq!(next_batch_rows(50, ms(9_000), 50), 50);
        assert_eq!(next_batch_rows(2, ms(1), 2), 2);
        // A short batch (a resumed run's first, the last) starts over small.
        assert_eq!(next_batch_rows(37, ms(5), 20_000), 1_000);
    }
}
