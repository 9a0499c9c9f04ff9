//! Import jobs: an upload is stored and previewed, the user confirms its
//! mapping, and a background task applies it batch by batch, recording its
//! progress where every replica and every poll can read it.
//!
//! Statuses ([`ImportStatus`]): previewed → running → completed, cancelled or
//! failed. A running job beats a heartbeat; one whose heartbeat stops (the
//! server stopped) is interrupted. A preview never confirmed is discarded.
//!
//! - `file`: the uploaded file, stored and read back;
//! - `preview`: what an upload holds, recorded as a job waiting to be confirmed;
//! - `control`: starting and cancelling a job;
//! - `run`: the background task that applies a job;
//! - `index`: SQLite's search index catching up with a large upload;
//! - `sweep`: interrupted jobs and forgotten previews;
//! - `problems`: the rows a job could not apply.

mod control;
mod file;
mod index;
mod preview;
mod problems;
mod run;
mod sweep;

pub use control::{cancel, start};
pub use file::{check_space, clean_file_name, is_blank, store, Received, Stored};
pub use preview::{preview_again, receive};
pub use problems::{problems, ProblemRow};
pub use sweep::{spawn_sweeper, sweep};

use super::columns::Mapping;
use super::sniff::TextEncoding;
use crate::backend::db::entities::import_job;
use crate::backend::db::{from_ms, now_ms};
use crate::backend::domain::OrgId;
use crate::model::{AppError, ImportColumn, ImportJob, ImportStatus};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Select,
};
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Where uploads are kept while they are imported, how large they may be, and
/// how long a running job may go without a heartbeat before it counts as
/// interrupted.
#[derive(Debug, Clone)]
pub struct ImportConfig {
    pub dir: PathBuf,
    /// Uploads are kept in the database instead of `dir` (on PostgreSQL, so
    /// that every server can read them).
    pub in_database: bool,
    pub max_bytes: u64,
    pub stale_after: Duration,
    /// The most rows applied per transaction. Batches start at 5,000 (or
    /// this, if fewer) and are sized to take about a second each (`run`), so
    /// that progress moves well within 2 s: each commit writes every index
    /// page its rows touched, and random-order index inserts touch about a
    /// page per row per index, so the larger the batch the cheaper each row
    /// (measured in server/README).
    pub batch_rows: usize,
    /// The most contacts placed in SQLite's search index per transaction
    /// once an upload's rows are committed (fewer while placing is slow); a
    /// backlog no larger is placed with the job's end, so that its summary
    /// comes searchable (see `job::index`).
    pub index_chunk: u64,
    /// Free space the upload folder's disk must keep after an upload: by
    /// default the upload limit (an upload that would leave less is refused).
    pub keep_free: Option<u64>,
    /// Uploads of one organisation that may wait for confirmation; a newer
    /// one discards the oldest.
    pub max_waiting: usize,
    /// Cancelled when the server stops: running imports stop after the batch
    /// in hand, to be resumed from there (see [`stop`]).
    pub stopping: CancellationToken,
    /// The imports this server runs, to wait for when it stops.
    pub runs: TaskTracker,
}

impl Default for ImportConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("data/uploads"),
            in_database: false,
            max_bytes: 100 * 1024 * 1024,
            stale_after: Duration::from_secs(30),
            batch_rows: 20_000,
            index_chunk: 10_000,
            keep_free: None,
            max_waiting: 5,
            stopping: CancellationToken::new(),
            runs: TaskTracker::new(),
        }
    }
}

const INTERRUPTED: &str =
    "The server stopped during this import. The rows counted as processed were imported.";

const PAUSED: &str = "The server importing this upload stopped; it goes on from the last \
     rows imported as soon as a server picks it up.";

/// How many times an import goes on after its server crashed (stops that
/// paused it do not count): an import that crashes its server every time is
/// not tried for ever.
const MAX_RESUMES: i64 = 3;

/// The server is stopping: every running import stops once the batch in hand
/// is committed, keeping its file, so that the next server to look (this one
/// restarted, or another sharing the upload folder) goes on from there.
/// Resolves when they have stopped.
pub async fn stop(config: &ImportConfig) {
    config.stopping.cancel();
    config.runs.close();
    config.runs.wait().await;
}

/// A job as stored.
type Job = import_job::Model;

fn status_of(job: &Job) -> Option<ImportStatus> {
    ImportStatus::parse(&job.status)
}

fn to_model(job: &Job, stale_after: Duration) -> ImportJob {
    let status = status_of(job).unwrap_or(ImportStatus::Failed);
    let mut message = job.message.clone();
    // The sweep will resume it, or record it as interrupted; until then, say so.
    if status == ImportStatus::Running && is_stale(job, stale_after, now_ms()) {
        message = Some(PAUSED.into());
    }
    let n = |v: i64| v.max(0) as u64;
    ImportJob {
        id: job.id,
        file_name: job.file_name.clone(),
        file_bytes: n(job.file_bytes),
        uploaded_by: job.user_email.clone(),
        status,
        message,
        total_rows: n(job.total_rows),
        processed_rows: n(job.processed_rows),
        created: n(job.created),
        updated: n(job.updated),
        unchanged: n(job.unchanged),
        failed: n(job.failed),
        warnings: n(job.warnings),
        created_at: from_ms(job.created_at),
        finished_at: job.finished_at.map(from_ms),
        index_total: n(job.index_total),
        indexed: n(job.indexed),
    }
}

fn is_stale(job: &Job, stale_after: Duration, now: i64) -> bool {
    job.heartbeat_at
        .is_none_or(|beat| now - beat > stale_after.as_millis() as i64)
}

/// The column mapping a job was recorded with.
fn mapping_of(job: &Job) -> Result<Mapping, AppError> {
    let columns: Vec<ImportColumn> =
        serde_json::from_str(&job.columns).map_err(AppError::internal)?;
    let headers = columns.iter().map(|c| c.header.clone()).collect();
    let keys: Vec<String> = columns
        .iter()
        .map(|c| c.field.clone().unwrap_or_default())
        .collect();
    Mapping {
        headers,
        fields: Vec::new(),
    }
    .with_fields(&keys)
    .map_err(AppError::internal)
}

/// The encoding and delimiter a job's file was found to have.
fn format_of(job: &Job) -> Result<(TextEncoding, u8), AppError> {
    let encoding = TextEncoding::from_name(&job.encoding)
        .ok_or_else(|| AppError::internal(format!("unknown encoding {}", job.encoding)))?;
    Ok((encoding, job.delimiter.bytes().next().unwrap_or(b',')))
}

/// The jobs of `org`.
fn of_org(org: OrgId) -> Select<import_job::Entity> {
    import_job::Entity::find().filter(import_job::Column::OrgId.eq(org.get()))
}

async fn load(db: &impl ConnectionTrait, org: OrgId, id: i64) -> Result<Job, AppError> {
    of_org(org)
        .filter(import_job::Column::Id.eq(id))
        .one(db)
        .await?
        .ok_or(AppError::NotFound)
}

/// One upload of the caller's organisation.
pub async fn get(
    db: &DatabaseConnection,
    config: &ImportConfig,
    org: OrgId,
    id: i64,
) -> Result<ImportJob, AppError> {
    Ok(to_model(&load(db, org, id).await?, config.stale_after))
}

/// The organisation's uploads, newest first.
pub async fn history(
    db: &DatabaseConnection,
    config: &ImportConfig,
    org: OrgId,
    limit: u64,
) -> Result<Vec<ImportJob>, AppError> {
    Ok(of_org(org)
        .order_by_desc(import_job::Column::Id)
        .limit(limit)
        .all(db)
        .await?
        .iter()
        .map(|job| to_model(job, config.stale_after))
        .collect())
}

/// The column headers of an upload of the organisation (for its error
/// report), or `None` if it has no such upload.
pub async fn headers(
    db: &DatabaseConnection,
    org: OrgId,
    id: i64,
) -> Result<Option<Vec<String>>, AppError> {
    match load(db, org, id).await {
        // An upload refused at once has no columns.
        Ok(job) => Ok(Some(
            serde_json::from_str::<Vec<ImportColumn>>(&job.columns)
                .map(|c| c.into_iter().map(|c| c.header).collect())
                .unwrap_or_default(),
        )),
        Err(AppError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}
