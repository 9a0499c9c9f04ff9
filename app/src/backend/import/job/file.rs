//! The uploaded file: stored as it streams in, and read back.
//!
//! An upload is kept where every server that may import it can read it: a
//! file in the upload folder on SQLite (one server), chunks in the database on
//! PostgreSQL (an upload previewed on one server is imported by another, and
//! an import whose server died is resumed by any other).

use super::ImportConfig;
use crate::backend::db::entities::upload_chunk;
use crate::backend::db::now_ms;
use crate::backend::domain::OrgId;
use crate::backend::import::sniff::SAMPLE_BYTES;
use crate::backend::import::stream;
use crate::model::AppError;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, Set};
use std::io::Read;
use std::path::PathBuf;

/// Bytes of an upload per row of `upload_chunks`.
const CHUNK_BYTES: usize = 1024 * 1024;

/// What a job's `stored_path` says of an upload kept in the database.
const IN_DATABASE: &str = "database:";

/// Where an upload's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    File(PathBuf),
    /// The key of its rows of `upload_chunks`, and their organisation.
    Chunks(String, OrgId),
}

impl Stored {
    /// What a job's `stored_path` names, for a job of `org`.
    pub fn parse(stored_path: &str, org: OrgId) -> Self {
        match stored_path.strip_prefix(IN_DATABASE) {
            Some(key) => Self::Chunks(key.to_string(), org),
            None => Self::File(PathBuf::from(stored_path)),
        }
    }

    /// The job's `stored_path` for it.
    pub fn to_column(&self) -> String {
        match self {
            Self::File(path) => path.to_string_lossy().into_owned(),
            Self::Chunks(key, _) => format!("{IN_DATABASE}{key}"),
        }
    }

    /// Read it from the start. Call on a blocking thread of the runtime (in
    /// `spawn_blocking`): chunks are fetched as they are needed.
    pub fn open(&self, db: &DatabaseConnection) -> std::io::Result<Box<dyn Read + Send>> {
        Ok(match self {
            Self::File(path) => Box::new(std::fs::File::open(path)?),
            Self::Chunks(key, org) => Box::new(ChunkReader {
                db: db.clone(),
                runtime: tokio::runtime::Handle::current(),
                key: key.clone(),
                org: *org,
                next: 0,
                chunk: Vec::new(),
                at: 0,
                ended: false,
            }),
        })
    }

    /// Whether it is still there to be read.
    pub async fn exists(&self, db: &DatabaseConnection) -> bool {
        match self {
            Self::File(path) => tokio::fs::metadata(path).await.is_ok(),
            // Its first chunk's number, not its bytes.
            Self::Chunks(key, org) => upload_chunk::Entity::find()
                .select_only()
                .column(upload_chunk::Column::Seq)
                .filter(upload_chunk::Column::Upload.eq(key.as_str()))
                .filter(upload_chunk::Column::OrgId.eq(org.get()))
                .filter(upload_chunk::Column::Seq.eq(0))
                .into_tuple::<i64>()
                .one(db)
                .await
                .is_ok_and(|c| c.is_some()),
        }
    }

    /// Delete it (once it is imported or discarded). Failures are logged: a
    /// file left behind wastes space, it loses nothing.
    pub async fn remove(&self, db: &DatabaseConnection) {
        match self {
            Self::File(path) => {
                if let Err(e) = tokio::fs::remove_file(path).await {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        tracing::warn!(path = %path.display(), "removing an upload: {e}");
                    }
                }
            }
            Self::Chunks(key, org) => {
                let removed = upload_chunk::Entity::delete_many()
                    .filter(upload_chunk::Column::Upload.eq(key.as_str()))
                    .filter(upload_chunk::Column::OrgId.eq(org.get()))
                    .exec(db)
                    .await;
                if let Err(e) = removed {
                    tracing::warn!(upload = %key, "removing an upload: {e}");
                }
            }
        }
    }
}

/// An upload kept in the database, read a chunk at a time.
struct ChunkReader {
    db: DatabaseConnection,
    runtime: tokio::runtime::Handle,
    key: String,
    org: OrgId,
    next: i64,
    chunk: Vec<u8>,
    at: usize,
    ended: bool,
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.chunk.len() {
            if self.ended || out.is_empty() {
                return Ok(0);
            }
            let fetch = upload_chunk::Entity::find_by_id((self.key.clone(), self.next))
                .filter(upload_chunk::Column::OrgId.eq(self.org.get()))
                .one(&self.db);
            match self
                .runtime
                .block_on(fetch)
                .map_err(std::io::Error::other)?
            {
                Some(c) => {
                    (self.chunk, self.at) = (c.bytes, 0);
                    self.next += 1;
                }
                None => self.ended = true,
            }
        }
        let n = out.len().min(self.chunk.len() - self.at);
        out[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// A name for the stored copy of an upload that nobody can guess or collide with.
fn stored_name() -> Result<String, AppError> {
    let mut raw = [0u8; 12];
    getrandom::fill(&mut raw).map_err(AppError::internal)?;
    Ok(format!(
        "upload-{}",
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
    pub stored: Stored,
    pub bytes: u64,
}

/// Refuse an upload of `size` bytes (the limit when not declared) that would
/// leave the upload folder's disk with less free space than it must keep.
/// (Uploads kept in the database are the database's own to store.)
pub fn check_space(config: &ImportConfig, size: Option<u64>) -> Result<(), AppError> {
    if config.in_database {
        return Ok(());
    }
    std::fs::create_dir_all(&config.dir).map_err(AppError::internal)?;
    let free = fs4::available_space(&config.dir).map_err(AppError::internal)?;
    let keep = config.keep_free.unwrap_or(config.max_bytes);
    let size = size.unwrap_or(config.max_bytes).min(config.max_bytes);
    if free.saturating_sub(size) < keep {
        tracing::warn!(free, size, keep, dir = %config.dir.display(), "upload refused: disk nearly full");
        return Err(AppError::NoSpace(format!(
            "The server's disk is nearly full: this upload would leave less than {} MB free. \
             Ask whoever runs this Muster server to free some space, then upload again.",
            keep.div_ceil(1024 * 1024)
        )));
    }
    Ok(())
}

/// Store an upload's body for `org`, refusing it as soon as it passes the
/// size limit.
pub async fn store<S, B, E>(
    db: &DatabaseConnection,
    config: &ImportConfig,
    org: OrgId,
    mut body: S,
) -> Result<Received, AppError>
where
    S: futures_util::Stream<Item = Result<B, E>> + Unpin,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    use futures_util::StreamExt;
    let name = stored_name()?;
    let mut sink = if config.in_database {
        Sink::Chunks(ChunkSink {
            db: db.clone(),
            key: name.clone(),
            org,
            seq: 0,
            pending: Vec::with_capacity(CHUNK_BYTES),
        })
    } else {
        tokio::fs::create_dir_all(&config.dir)
            .await
            .map_err(AppError::internal)?;
        let path = config.dir.join(format!("{name}.csv"));
        let file = tokio::fs::File::create(&path)
            .await
            .map_err(AppError::internal)?;
        Sink::File(path, tokio::io::BufWriter::with_capacity(256 * 1024, file))
    };
    let stored = sink.stored();
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
            sink.write(chunk).await?;
        }
        sink.finish().await
    }
    .await;
    match result {
        Ok(()) => Ok(Received { stored, bytes }),
        Err(e) => {
            stored.remove(db).await;
            Err(e)
        }
    }
}

/// Where an arriving upload is written.
enum Sink {
    File(PathBuf, tokio::io::BufWriter<tokio::fs::File>),
    Chunks(ChunkSink),
}

/// An arriving upload written to the database, a chunk per row.
struct ChunkSink {
    db: DatabaseConnection,
    key: String,
    org: OrgId,
    seq: i64,
    pending: Vec<u8>,
}

impl Sink {
    fn stored(&self) -> Stored {
        match self {
            Self::File(path, _) => Stored::File(path.clone()),
            Self::Chunks(c) => Stored::Chunks(c.key.clone(), c.org),
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), AppError> {
        use tokio::io::AsyncWriteExt;
        match self {
            Self::File(_, out) => out.write_all(bytes).await.map_err(AppError::internal),
            Self::Chunks(c) => c.write(bytes).await,
        }
    }

    async fn finish(&mut self) -> Result<(), AppError> {
        use tokio::io::AsyncWriteExt;
        match self {
            Self::File(_, out) => out.flush().await.map_err(AppError::internal),
            // An empty upload still has its first chunk, so that it exists.
            Self::Chunks(c) if !c.pending.is_empty() || c.seq == 0 => c.flush().await,
            Self::Chunks(_) => Ok(()),
        }
    }
}

impl ChunkSink {
    async fn write(&mut self, mut bytes: &[u8]) -> Result<(), AppError> {
        while !bytes.is_empty() {
            let n = bytes.len().min(CHUNK_BYTES - self.pending.len());
            self.pending.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.pending.len() == CHUNK_BYTES {
                self.flush().await?;
            }
        }
        Ok(())
    }

    /// Write the chunk in hand as the upload's next row.
    async fn flush(&mut self) -> Result<(), AppError> {
        let row = upload_chunk::ActiveModel {
            upload: Set(self.key.clone()),
            seq: Set(self.seq),
            org_id: Set(self.org.get()),
            bytes: Set(std::mem::replace(
                &mut self.pending,
                Vec::with_capacity(CHUNK_BYTES),
            )),
            created_at: Set(now_ms()),
        };
        // Without RETURNING: the chunk is not sent back.
        upload_chunk::Entity::insert(row)
            .exec_without_returning(&self.db)
            .await?;
        self.seq += 1;
        Ok(())
    }
}

/// The start of a stored upload, and whether that is all of it (on a
/// blocking thread, as [`Stored::open`]).
pub(super) fn read_sample(
    db: &DatabaseConnection,
    stored: &Stored,
) -> std::io::Result<(Vec<u8>, bool)> {
    let mut sample = Vec::with_capacity(SAMPLE_BYTES + 1);
    stored
        .open(db)?
        .take(SAMPLE_BYTES as u64 + 1)
        .read_to_end(&mut sample)?;
    let complete = sample.len() <= SAMPLE_BYTES;
    sample.truncate(SAMPLE_BYTES);
    Ok((sample, complete))
}

pub fn is_blank(record: &csv::StringRecord) -> bool {
    record.iter().all(|c| c.trim().is_empty())
}
