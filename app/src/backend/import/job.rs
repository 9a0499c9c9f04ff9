//! Import jobs: an upload is stored and previewed, the user confirms its
//! mapping, and a background task applies it batch by batch, recording its
//! progress where every replica and every poll can read it.
//!
//! Statuses: `previewed` → `running` → `completed`, `cancelled` or `failed`.
//! A running job beats a heartbeat; one whose heartbeat stops (the server
//! stopped) is `interrupted`. A preview never confirmed is `discarded`.

use super::apply::{self, Importer, Problem, Row};
use super::columns::Mapping;
use super::sniff::{TextEncoding, Unusable, SAMPLE_BYTES};
use super::stream;
use crate::backend::auth::CurrentUser;
use crate::backend::db::{begin_write, from_ms, now_ms, Sql};
use crate::backend::domain::OrgId;
use crate::model::{
    AppError, ImportColumn, ImportJob, ImportPreview, ImportPreviewRow, ImportStatus,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, FromQueryResult};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Rows shown in a preview.
const PREVIEW_ROWS: usize = 10;

/// A preview nobody confirms is discarded, with its file, after this long.
const PREVIEW_KEPT_MS: i64 = 24 * 3600 * 1000;

/// Where uploads are kept while they are imported, how large they may be, and
/// how long a running job may go without a heartbeat before it counts as
/// interrupted.
#[derive(Debug, Clone)]
pub struct ImportConfig {
    pub dir: PathBuf,
    pub max_bytes: u64,
    pub stale_after: Duration,
    /// Rows applied per transaction. Small enough that progress moves several
    /// times a second, large enough that commits do not dominate.
    pub batch_rows: usize,
    /// Rows between two placements of new contacts in SQLite's search index
    /// (see `apply::Importer::place_every`).
    pub place_every: u64,
}

impl Default for ImportConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("data/uploads"),
            max_bytes: 100 * 1024 * 1024,
            stale_after: Duration::from_secs(30),
            batch_rows: 1000,
            place_every: 10_000,
        }
    }
}

#[derive(Debug, FromQueryResult)]
struct JobRow {
    id: i64,
    user_email: String,
    file_name: String,
    file_bytes: i64,
    stored_path: Option<String>,
    encoding: String,
    delimiter: String,
    columns: String,
    status: String,
    message: Option<String>,
    total_rows: i64,
    processed_rows: i64,
    created: i64,
    updated: i64,
    unchanged: i64,
    failed: i64,
    warnings: i64,
    created_at: i64,
    finished_at: Option<i64>,
    heartbeat_at: Option<i64>,
}

const JOB_COLUMNS: &str = "SELECT id, user_email, file_name, file_bytes, stored_path, encoding, \
     delimiter, columns, status, message, total_rows, processed_rows, created, updated, \
     unchanged, failed, warnings, created_at, finished_at, heartbeat_at FROM import_jobs";

const INTERRUPTED: &str =
    "The server stopped during this import. The rows counted as processed were imported.";

impl JobRow {
    fn to_model(&self, stale_after: Duration) -> ImportJob {
        let mut status = ImportStatus::parse(&self.status).unwrap_or(ImportStatus::Failed);
        let mut message = self.message.clone();
        // The sweep will record it; until then, say what it is.
        if status == ImportStatus::Running && self.is_stale(stale_after, now_ms()) {
            status = ImportStatus::Interrupted;
            message = Some(INTERRUPTED.into());
        }
        ImportJob {
            id: self.id,
            file_name: self.file_name.clone(),
            file_bytes: self.file_bytes.max(0) as u64,
            uploaded_by: self.user_email.clone(),
            status,
            message,
            total_rows: self.total_rows.max(0) as u64,
            processed_rows: self.processed_rows.max(0) as u64,
            created: self.created.max(0) as u64,
            updated: self.updated.max(0) as u64,
            unchanged: self.unchanged.max(0) as u64,
            failed: self.failed.max(0) as u64,
            warnings: self.warnings.max(0) as u64,
            created_at: from_ms(self.created_at),
            finished_at: self.finished_at.map(from_ms),
        }
    }

    fn is_stale(&self, stale_after: Duration, now: i64) -> bool {
        self.heartbeat_at
            .is_none_or(|beat| now - beat > stale_after.as_millis() as i64)
    }

    fn mapping(&self) -> Result<Mapping, AppError> {
        let columns: Vec<ImportColumn> =
            serde_json::from_str(&self.columns).map_err(AppError::internal)?;
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

    fn format(&self) -> Result<(TextEncoding, u8), AppError> {
        let encoding = TextEncoding::from_name(&self.encoding)
            .ok_or_else(|| AppError::internal(format!("unknown encoding {}", self.encoding)))?;
        Ok((encoding, self.delimiter.bytes().next().unwrap_or(b',')))
    }
}

async fn load(db: &impl ConnectionTrait, org: OrgId, id: i64) -> Result<JobRow, AppError> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push(JOB_COLUMNS)
        .push(" WHERE org_id = ")
        .bind(org.get())
        .push(" AND id = ")
        .bind(id);
    sql.one::<JobRow>(db).await?.ok_or(AppError::NotFound)
}

/// One upload of the caller's organisation.
pub async fn get(
    db: &DatabaseConnection,
    config: &ImportConfig,
    org: OrgId,
    id: i64,
) -> Result<ImportJob, AppError> {
    Ok(load(db, org, id).await?.to_model(config.stale_after))
}

/// The organisation's uploads, newest first.
pub async fn history(
    db: &DatabaseConnection,
    config: &ImportConfig,
    org: OrgId,
    limit: u64,
) -> Result<Vec<ImportJob>, AppError> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push(JOB_COLUMNS)
        .push(" WHERE org_id = ")
        .bind(org.get())
        .push(&format!(" ORDER BY id DESC LIMIT {limit}"));
    Ok(sql
        .all::<JobRow>(db)
        .await?
        .iter()
        .map(|r| r.to_model(config.stale_after))
        .collect())
}

/// A name for the stored copy of an upload that nobody can guess or collide with.
fn stored_name() -> Result<String, AppError> {
    let mut raw = [0u8; 12];
    getrandom::fill(&mut raw).map_err(AppError::internal)?;
    Ok(format!(
        "upload-{}.csv",
        raw.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

/// The name a user's file is listed under: its base name, printable, bounded.
pub fn clean_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    match clean.trim() {
        "" => "upload.csv".into(),
        t => t.to_string(),
    }
}

/// What the upload route received: the stored file, or why it stopped.
pub struct Received {
    pub path: PathBuf,
    pub bytes: u64,
}

/// Store an upload's body under `config.dir`, refusing it as soon as it passes
/// the size limit.
pub async fn store<S, B, E>(config: &ImportConfig, mut body: S) -> Result<Received, AppError>
where
    S: futures_util::Stream<Item = Result<B, E>> + Unpin,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    tokio::fs::create_dir_all(&config.dir)
        .await
        .map_err(AppError::internal)?;
    let path = config.dir.join(stored_name()?);
    let file = tokio::fs::File::create(&path)
        .await
        .map_err(AppError::internal)?;
    let mut out = tokio::io::BufWriter::with_capacity(256 * 1024, file);
    let mut bytes = 0u64;
    let result: Result<(), AppError> = async {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                AppError::BadRequest(format!("The upload did not arrive whole: {e}"))
            })?;
            let chunk = chunk.as_ref();
            bytes += chunk.len() as u64;
            if bytes > config.max_bytes {
                return Err(AppError::TooLarge(stream::too_large(config.max_bytes)));
            }
            out.write_all(chunk).await.map_err(AppError::internal)?;
        }
        out.flush().await.map_err(AppError::internal)
    }
    .await;
    match result {
        Ok(()) => Ok(Received { path, bytes }),
        Err(e) => {
            let _ = tokio::fs::remove_file(&path).await;
            Err(e)
        }
    }
}

/// Everything the preview needs, read from the stored file.
struct Analysis {
    preview: super::Preview,
    total_rows: u64,
}

/// Read the whole file once: its preview, and its rows counted, so that the
/// progress has a total and a quote left open is refused before any write.
fn analyse(path: &Path, region: &str, chose: Option<&[String]>) -> Result<Analysis, Unusable> {
    let (sample, complete) = read_sample(path).map_err(|e| Unusable::Broken {
        line: 0,
        reason: e.to_string(),
    })?;
    let preview = super::preview(&sample, complete, region, PREVIEW_ROWS, chose)?;
    let file = std::fs::File::open(path).map_err(|e| Unusable::Broken {
        line: 0,
        reason: e.to_string(),
    })?;
    let (mut reader, watch) = stream::records(
        std::io::BufReader::with_capacity(256 * 1024, file),
        preview.encoding,
        preview.delimiter,
        false,
    );
    let mut record = csv::StringRecord::new();
    let mut total_rows = 0u64;
    // The reader takes the header row itself.
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => total_rows += u64::from(!is_blank(&record)),
            Err(e) => return Err(super::broken(&e)),
        }
    }
    if let Some(line) = watch.unclosed_since() {
        return Err(Unusable::Broken {
            line,
            reason: "a quoted value starts there and is never closed".into(),
        });
    }
    Ok(Analysis {
        preview,
        total_rows,
    })
}

fn read_sample(path: &Path) -> std::io::Result<(Vec<u8>, bool)> {
    let mut sample = Vec::with_capacity(SAMPLE_BYTES + 1);
    std::fs::File::open(path)?
        .take(SAMPLE_BYTES as u64 + 1)
        .read_to_end(&mut sample)?;
    let complete = sample.len() <= SAMPLE_BYTES;
    sample.truncate(SAMPLE_BYTES);
    Ok((sample, complete))
}

pub fn is_blank(record: &csv::StringRecord) -> bool {
    record.iter().all(|c| c.trim().is_empty())
}

fn delimiter_name(d: u8) -> &'static str {
    match d {
        b';' => "semicolon",
        b'\t' => "tab",
        _ => "comma",
    }
}

fn to_model_preview(
    job_id: i64,
    file_name: &str,
    file_bytes: u64,
    analysis: &Analysis,
) -> ImportPreview {
    let p = &analysis.preview;
    ImportPreview {
        job_id,
        file_name: file_name.to_string(),
        file_bytes,
        encoding: p.encoding.to_string(),
        delimiter: delimiter_name(p.delimiter).into(),
        total_rows: analysis.total_rows,
        columns: columns_of(&p.mapping),
        rows: p
            .rows
            .iter()
            .map(|r| ImportPreviewRow {
                line: r.line,
                cells: r.cells.clone(),
                errors: r.errors.clone(),
            })
            .collect(),
        mapping_error: p.mapping_error.clone(),
    }
}

fn columns_of(mapping: &Mapping) -> Vec<ImportColumn> {
    mapping
        .headers
        .iter()
        .zip(&mapping.fields)
        .map(|(h, f)| ImportColumn {
            header: h.clone(),
            field: f.map(|f| f.key().to_string()),
        })
        .collect()
}

/// Record an upload, previewed and waiting, or refused with why. Every upload
/// is kept in the history.
#[allow(clippy::too_many_arguments)]
async fn record(
    db: &DatabaseConnection,
    user: &CurrentUser,
    file_name: &str,
    bytes: u64,
    stored: Option<&Path>,
    format: Option<(TextEncoding, u8, &Mapping, u64)>,
    refused: Option<&str>,
) -> Result<i64, AppError> {
    let now = now_ms();
    let (encoding, delimiter, columns, total) = match format {
        Some((e, d, m, total)) => (
            e.name().to_string(),
            (d as char).to_string(),
            serde_json::to_string(&columns_of(m)).map_err(AppError::internal)?,
            total,
        ),
        None => (String::new(), String::new(), "[]".to_string(), 0),
    };
    let status = if refused.is_some() {
        ImportStatus::Failed
    } else {
        ImportStatus::Previewed
    };
    let mut sql = Sql::new(db.get_database_backend());
    sql.push(
        "INSERT INTO import_jobs (org_id, user_id, user_email, file_name, file_bytes, \
         stored_path, encoding, delimiter, columns, status, message, total_rows, created_at, \
         finished_at) VALUES ",
    )
    .bind_list::<sea_orm::Value>([
        user.org.get().into(),
        user.user_id.into(),
        user.email.clone().into(),
        file_name.to_string().into(),
        (bytes as i64).into(),
        stored.map(|p| p.to_string_lossy().into_owned()).into(),
        encoding.into(),
        delimiter.into(),
        columns.into(),
        status.as_str().into(),
        refused.map(String::from).into(),
        (total as i64).into(),
        now.into(),
        refused.map(|_| now).into(),
    ])
    .push(" RETURNING id");
    sql.scalar_i64(db)
        .await?
        .ok_or_else(|| AppError::internal("insert returned no id"))
}

/// Check an upload once stored: refuse it (recorded, file removed) or record it
/// as waiting for confirmation and return its preview.
pub async fn receive(
    db: &DatabaseConnection,
    user: &CurrentUser,
    file_name: &str,
    received: Result<Received, AppError>,
) -> Result<ImportPreview, AppError> {
    let file_name = clean_file_name(file_name);
    let Received { path, bytes } = match received {
        Ok(r) => r,
        Err(e @ (AppError::TooLarge(_) | AppError::BadRequest(_))) => {
            record(db, user, &file_name, 0, None, None, Some(&e.to_string())).await?;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    let region = user.default_region.clone();
    let at = path.clone();
    let analysis = tokio::task::spawn_blocking(move || analyse(&at, &region, None))
        .await
        .map_err(AppError::internal)?;
    match analysis {
        Err(unusable) => {
            let _ = tokio::fs::remove_file(&path).await;
            let message = unusable.to_string();
            record(db, user, &file_name, bytes, None, None, Some(&message)).await?;
            Err(AppError::BadRequest(message))
        }
        Ok(analysis) => {
            let p = &analysis.preview;
            let format = (p.encoding, p.delimiter, &p.mapping, analysis.total_rows);
            let id = record(db, user, &file_name, bytes, Some(&path), Some(format), None).await;
            match id {
                Ok(id) => Ok(to_model_preview(id, &file_name, bytes, &analysis)),
                Err(e) => {
                    let _ = tokio::fs::remove_file(&path).await;
                    Err(e)
                }
            }
        }
    }
}

/// A waiting upload's file, or why it cannot be used any more.
fn waiting_file(row: &JobRow) -> Result<PathBuf, AppError> {
    let status = ImportStatus::parse(&row.status);
    if status != Some(ImportStatus::Previewed) {
        return Err(AppError::Conflict(format!(
            "This upload is {}; upload the file again to import it.",
            status.map_or("gone", |s| s.label()).to_lowercase()
        )));
    }
    row.stored_path
        .as_ref()
        .map(PathBuf::from)
        .ok_or_else(|| AppError::Conflict("The uploaded file is gone; upload it again.".into()))
}

/// The preview of a waiting upload with the columns mapped as the user chose.
pub async fn preview_again(
    db: &DatabaseConnection,
    user: &CurrentUser,
    id: i64,
    fields: Vec<String>,
) -> Result<ImportPreview, AppError> {
    let row = load(db, user.org, id).await?;
    let path = waiting_file(&row)?;
    let region = user.default_region.clone();
    // File reading and parsing stay off the async workers.
    let preview = tokio::task::spawn_blocking(move || {
        let (sample, complete) = read_sample(&path).map_err(AppError::internal)?;
        super::preview(&sample, complete, &region, PREVIEW_ROWS, Some(&fields))
            .map_err(|e| AppError::BadRequest(e.to_string()))
    })
    .await
    .map_err(AppError::internal)??;
    let analysis = Analysis {
        preview,
        total_rows: row.total_rows.max(0) as u64,
    };
    Ok(to_model_preview(
        id,
        &row.file_name,
        row.file_bytes.max(0) as u64,
        &analysis,
    ))
}

/// Start importing a waiting upload with the columns mapped as the user chose.
/// The job runs in the background; its progress is read with [`get`].
pub async fn start(
    db: &DatabaseConnection,
    config: &ImportConfig,
    user: &CurrentUser,
    id: i64,
    fields: Vec<String>,
) -> Result<ImportJob, AppError> {
    let row = load(db, user.org, id).await?;
    let path = waiting_file(&row)?;
    let mapping = row
        .mapping()?
        .with_fields(&fields)
        .map_err(AppError::BadRequest)?;
    mapping
        .check()
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    let (encoding, delimiter) = row.format()?;
    let columns = serde_json::to_string(&columns_of(&mapping)).map_err(AppError::internal)?;
    let now = now_ms();
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("UPDATE import_jobs SET status = 'running', columns = ")
        .bind(columns)
        .push(", started_at = ")
        .bind(now)
        .push(", heartbeat_at = ")
        .bind(now)
        .push(" WHERE id = ")
        .bind(id)
        .push(" AND org_id = ")
        .bind(user.org.get())
        .push(" AND status = 'previewed'");
    if sql.execute(db).await? == 0 {
        return Err(AppError::Conflict(
            "This upload has already started.".into(),
        ));
    }
    let run = Run {
        db: db.clone(),
        id,
        org: user.org,
        region: user.default_region.clone(),
        path,
        encoding,
        delimiter,
        mapping,
        beat_every: config.stale_after / 4,
        batch_rows: config.batch_rows.max(1),
        place_every: config.place_every,
    };
    tokio::spawn(run.run());
    get(db, config, user.org, id).await
}

/// Stop an upload: a waiting one is discarded with its file; a running one
/// stops after the batch it is applying, which stays.
pub async fn cancel(
    db: &DatabaseConnection,
    config: &ImportConfig,
    org: OrgId,
    id: i64,
) -> Result<ImportJob, AppError> {
    let row = load(db, org, id).await?;
    let mut sql = Sql::new(db.get_database_backend());
    match ImportStatus::parse(&row.status) {
        Some(ImportStatus::Previewed) => {
            sql.push(
                "UPDATE import_jobs SET status = 'discarded', stored_path = NULL, finished_at = ",
            )
            .bind(now_ms())
            .push(" WHERE id = ")
            .bind(id)
            .push(" AND status = 'previewed'");
            if sql.execute(db).await? > 0 {
                if let Some(path) = &row.stored_path {
                    let _ = tokio::fs::remove_file(path).await;
                }
            }
        }
        Some(ImportStatus::Running) => {
            sql.push("UPDATE import_jobs SET cancel_requested = TRUE WHERE id = ")
                .bind(id)
                .push(" AND status = 'running'");
            sql.execute(db).await?;
        }
        _ => {}
    }
    get(db, config, org, id).await
}

/// An import running in the background.
struct Run {
    db: DatabaseConnection,
    id: i64,
    org: OrgId,
    region: String,
    path: PathBuf,
    encoding: TextEncoding,
    delimiter: u8,
    mapping: Mapping,
    beat_every: Duration,
    batch_rows: usize,
    place_every: u64,
}

/// How a run ended.
enum Outcome {
    Completed,
    Cancelled,
    /// Marked interrupted by a sweep while it ran; it stops without a word.
    Superseded,
    Failed(String),
}

impl Run {
    async fn run(self) {
        let heartbeat = tokio::spawn(crate::backend::db::beat(
            self.db.clone(),
            "import_jobs",
            "running",
            self.id,
            self.beat_every,
        ));
        let outcome = match self.apply_all().await {
            Ok(outcome) => outcome,
            Err(e) => Outcome::Failed(format!(
                "{e} The import stopped there; the rows counted as processed were imported."
            )),
        };
        // However it ended, what it committed becomes searchable.
        if let Err(e) = place_all(&self.db, self.org).await {
            tracing::error!(job = self.id, "placing imported contacts: {e}");
        }
        heartbeat.abort();
        let (status, message) = match outcome {
            Outcome::Completed => ("completed", None),
            Outcome::Cancelled => (
                "cancelled",
                Some("Cancelled. The rows counted as processed were imported.".to_string()),
            ),
            Outcome::Superseded => {
                let _ = tokio::fs::remove_file(&self.path).await;
                return;
            }
            Outcome::Failed(m) => ("failed", Some(m)),
        };
        let mut sql = Sql::new(self.db.get_database_backend());
        sql.push("UPDATE import_jobs SET status = ")
            .bind(status)
            .push(", message = ")
            .bind(message)
            .push(", stored_path = NULL, finished_at = ")
            .bind(now_ms())
            .push(" WHERE id = ")
            .bind(self.id)
            .push(" AND status = 'running'");
        if let Err(e) = sql.execute(&self.db).await {
            tracing::error!(job = self.id, "recording the end of an import: {e}");
        }
        let _ = tokio::fs::remove_file(&self.path).await;
    }

    async fn apply_all(&self) -> Result<Outcome, AppError> {
        let (send, mut batches) = tokio::sync::mpsc::channel::<Vec<Row>>(2);
        let reader = {
            let (path, encoding, delimiter, mapping, region, rows) = (
                self.path.clone(),
                self.encoding,
                self.delimiter,
                self.mapping.clone(),
                self.region.clone(),
                self.batch_rows,
            );
            // Reading and validating (phone numbers above all) take a core of
            // their own, while the database applies the batch before.
            tokio::task::spawn_blocking(move || {
                read_batches(&path, encoding, delimiter, &mapping, &region, rows, send)
            })
        };
        let mut importer = Importer::new(self.org, &self.region).place_every(self.place_every);
        while let Some(batch) = batches.recv().await {
            if self.cancel_requested().await? {
                drop(batches);
                let _ = reader.await;
                return Ok(Outcome::Cancelled);
            }
            let tx = begin_write(&self.db).await?;
            let applied = importer.apply(&tx, &self.mapping, &batch).await?;
            save_problems(&tx, self.id, &applied.problems).await?;
            let c = applied.counts;
            let mut sql = Sql::new(tx.get_database_backend());
            sql.push("UPDATE import_jobs SET processed_rows = processed_rows + ")
                .bind(batch.len() as i64)
                .push(", created = ")
                .bind(c.created as i64)
                .push(", updated = ")
                .bind(c.updated as i64)
                .push(", unchanged = ")
                .bind(c.unchanged as i64)
                .push(", failed = ")
                .bind(c.failed as i64)
                .push(", warnings = ")
                .bind(c.warnings as i64)
                .push(", heartbeat_at = ")
                .bind(now_ms())
                .push(" WHERE id = ")
                .bind(self.id)
                .push(" AND status = 'running'");
            if sql.execute(&tx).await? == 0 {
                // Interrupted by a sweep meanwhile: this batch is not applied.
                drop(tx);
                drop(batches);
                let _ = reader.await;
                return Ok(Outcome::Superseded);
            }
            let t = std::time::Instant::now();
            tx.commit().await?;
            tracing::debug!(commit_ms = t.elapsed().as_secs_f64() * 1e3, "import commit");
            let _ = importer.accept(applied);
        }
        match reader.await.map_err(AppError::internal)? {
            Ok(()) => Ok(Outcome::Completed),
            Err(message) => Ok(Outcome::Failed(message)),
        }
    }

    async fn cancel_requested(&self) -> Result<bool, AppError> {
        let mut sql = Sql::new(self.db.get_database_backend());
        sql.push(
            "SELECT CAST(CASE WHEN cancel_requested THEN 1 ELSE 0 END AS BIGINT) \
             FROM import_jobs WHERE id = ",
        )
        .bind(self.id);
        Ok(sql.scalar_i64(&self.db).await? == Some(1))
    }
}

/// Read the stored file in batches of validated rows, in file order, for the
/// applying task. Stops early when that task stops listening.
fn read_batches(
    path: &Path,
    encoding: TextEncoding,
    delimiter: u8,
    mapping: &Mapping,
    region: &str,
    batch_rows: usize,
    send: tokio::sync::mpsc::Sender<Vec<Row>>,
) -> Result<(), String> {
    let stopped = || "The uploaded file could not be read again.".to_string();
    let file = std::fs::File::open(path).map_err(|_| stopped())?;
    let (mut reader, watch) = stream::records(
        std::io::BufReader::with_capacity(256 * 1024, file),
        encoding,
        delimiter,
        true,
    );
    let mut record = csv::StringRecord::new();
    let mut batch = Vec::with_capacity(batch_rows);
    // The reader takes the header row itself.
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) if is_blank(&record) => {}
            Ok(true) => {
                let line = watch.line_of(record.position().map_or(0, |p| p.byte()));
                batch.push((line, apply::check(&mapping.draft(&record), region)));
                if batch.len() == batch_rows
                    && send
                        .blocking_send(std::mem::replace(
                            &mut batch,
                            Vec::with_capacity(batch_rows),
                        ))
                        .is_err()
                {
                    return Ok(());
                }
            }
            Err(e) => return Err(super::broken(&e).to_string()),
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
        let _ = send.blocking_send(batch);
    }
    Ok(())
}

async fn save_problems(
    tx: &impl ConnectionTrait,
    job: i64,
    problems: &[Problem],
) -> Result<(), AppError> {
    if problems.is_empty() {
        return Ok(());
    }
    let rows: Vec<serde_json::Value> = problems
        .iter()
        .map(|p| serde_json::json!([job, p.line, p.column, p.message, p.warning]))
        .collect();
    let rows = serde_json::to_string(&rows).map_err(AppError::internal)?;
    let mut sql = Sql::new(tx.get_database_backend());
    sql.push("INSERT INTO import_problems (job_id, line, column_name, message, warning) SELECT ")
        .json_col(0, "BIGINT")
        .push(", ")
        .json_col(1, "BIGINT")
        .push(", ")
        .json_col(2, "TEXT")
        .push(", ")
        .json_col(3, "TEXT")
        .push(", ")
        .json_col(4, "BOOLEAN")
        .push(" FROM ")
        .json_rows(rows);
    sql.execute(tx).await?;
    Ok(())
}

/// Give the organisation's contacts that have none their place in SQLite's
/// search index, in a transaction of its own.
async fn place_all(db: &DatabaseConnection, org: OrgId) -> Result<(), AppError> {
    let tx = begin_write(db).await?;
    crate::backend::directory::place(&tx, org).await?;
    tx.commit().await?;
    Ok(())
}

#[derive(FromQueryResult)]
struct Stale {
    id: i64,
    org_id: i64,
    status: String,
    stored_path: Option<String>,
}

/// Record as interrupted the running jobs whose heartbeat stopped, and discard
/// previews left unconfirmed for a day, with their files.
pub async fn sweep(db: &DatabaseConnection, config: &ImportConfig) -> Result<(), AppError> {
    let now = now_ms();
    let beat_before = now - config.stale_after.as_millis() as i64;
    let stale = |sql: &mut Sql| {
        sql.push("((status = 'running' AND (heartbeat_at IS NULL OR heartbeat_at < ")
            .bind(beat_before)
            .push(")) OR (status = 'previewed' AND created_at < ")
            .bind(now - PREVIEW_KEPT_MS)
            .push("))");
    };
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT id, org_id, status, stored_path FROM import_jobs WHERE ");
    stale(&mut sql);
    for job in sql.all::<Stale>(db).await? {
        // Checked again as it changes, in case the job moved on meanwhile.
        let mut sql = Sql::new(db.get_database_backend());
        sql.push(
            "UPDATE import_jobs SET status = CASE WHEN status = 'running' \
             THEN 'interrupted' ELSE 'discarded' END, \
             message = CASE WHEN status = 'running' THEN ",
        )
        .bind(INTERRUPTED)
        .push(" ELSE NULL END, stored_path = NULL, finished_at = ")
        .bind(now)
        .push(" WHERE id = ")
        .bind(job.id)
        .push(" AND ");
        stale(&mut sql);
        if sql.execute(db).await? > 0 {
            if let Some(path) = job.stored_path {
                let _ = tokio::fs::remove_file(path).await;
            }
            if job.status == "running" {
                // What it committed but had not placed yet becomes searchable.
                place_all(db, OrgId::trusted(job.org_id)).await?;
            }
        }
    }
    Ok(())
}

/// Sweep now, and then regularly, for as long as the server runs.
pub fn spawn_sweeper(db: DatabaseConnection, config: ImportConfig) {
    let period = config.stale_after / 2;
    crate::backend::db::every(period, "sweeping import jobs", move || {
        let (db, config) = (db.clone(), config.clone());
        async move { sweep(&db, &config).await }
    });
}

#[derive(FromQueryResult)]
pub struct ProblemRow {
    pub id: i64,
    pub line: i64,
    pub column_name: String,
    pub message: String,
    pub warning: bool,
}

/// Up to `limit` problems of an upload after problem `after`, in file order.
pub async fn problems(
    db: &DatabaseConnection,
    org: OrgId,
    job: i64,
    after: i64,
    limit: u64,
) -> Result<Vec<ProblemRow>, AppError> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push(
        "SELECT p.id, p.line, p.column_name, p.message, p.warning FROM import_problems p \
         JOIN import_jobs j ON j.id = p.job_id WHERE j.org_id = ",
    )
    .bind(org.get())
    .push(" AND p.job_id = ")
    .bind(job)
    .push(" AND p.id > ")
    .bind(after)
    .push(&format!(" ORDER BY p.id LIMIT {limit}"));
    Ok(sql.all::<ProblemRow>(db).await?)
}

/// Whether an upload of the organisation exists (for the error report).
pub async fn exists(db: &DatabaseConnection, org: OrgId, id: i64) -> Result<bool, AppError> {
    match load(db, org, id).await {
        Ok(_) => Ok(true),
        Err(AppError::NotFound) => Ok(false),
        Err(e) => Err(e),
    }
}
