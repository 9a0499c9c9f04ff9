//! The uploaded file: stored as it streams in, and read back.

use super::ImportConfig;
use crate::backend::import::sniff::SAMPLE_BYTES;
use crate::backend::import::stream;
use crate::model::AppError;
use std::io::Read;
use std::path::{Path, PathBuf};

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
/// Refuse an upload of `size` bytes (the limit when not declared) that would
/// leave the upload folder's disk with less free space than it must keep.
pub fn check_space(config: &ImportConfig, size: Option<u64>) -> Result<(), AppError> {
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

/// The start of a stored file, and whether that is all of it.
pub(super) fn read_sample(path: &Path) -> std::io::Result<(Vec<u8>, bool)> {
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
