//! What an upload holds: checked once stored, shown as a preview, and recorded
//! as a job waiting for the user to confirm its mapping (or refused, with why).

use super::file::{clean_file_name, is_blank, read_sample, Received, Stored};
use super::{load, Job};
use crate::backend::auth::CurrentUser;
use crate::backend::db::entities::import_job;
use crate::backend::db::now_ms;
use crate::backend::domain::OrgId;
use crate::backend::import::columns::Mapping;
use crate::backend::import::sniff::{TextEncoding, Unusable};
use crate::backend::import::{self as import, stream};
use crate::model::{AppError, ImportColumn, ImportPreview, ImportPreviewRow, ImportStatus};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

/// Rows shown in a preview.
const PREVIEW_ROWS: usize = 10;

/// Everything the preview needs, read from the stored file.
struct Analysis {
    preview: import::Preview,
    total_rows: u64,
}

/// Read the whole file once: its preview, and its rows counted, so that the
/// progress has a total and a quote left open is refused before any write.
fn analyse(
    db: &DatabaseConnection,
    stored: &Stored,
    region: &str,
    chose: Option<&[String]>,
) -> Result<Analysis, Unusable> {
    let (sample, complete) = read_sample(db, stored).map_err(|e| Unusable::Broken {
        line: 0,
        reason: e.to_string(),
    })?;
    let file = stored.open(db).map_err(|e| Unusable::Broken {
        line: 0,
        reason: e.to_string(),
    })?;
    let whole = std::io::BufReader::with_capacity(256 * 1024, file);
    analyse_from(&sample, complete, whole, region, chose)
}

/// [`analyse`] of a file read as `sample` (its start, or all of it when
/// `complete`) and then `whole`.
fn analyse_from(
    sample: &[u8],
    complete: bool,
    whole: impl std::io::Read + Send,
    region: &str,
    chose: Option<&[String]>,
) -> Result<Analysis, Unusable> {
    let preview = import::preview(sample, complete, region, PREVIEW_ROWS, chose)?;
    let (mut reader, watch) = stream::records(whole, preview.encoding, preview.delimiter, false);
    let mut record = csv::StringRecord::new();
    let mut total_rows = 0u64;
    // The reader takes the header row itself.
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => total_rows += u64::from(!is_blank(&record)),
            Err(e) => return Err(import::broken(&e)),
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

pub(super) fn columns_of(mapping: &Mapping) -> Vec<ImportColumn> {
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
async fn record(
    db: &DatabaseConnection,
    user: &CurrentUser,
    file_name: &str,
    bytes: u64,
    stored: Option<&Stored>,
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
    let job = import_job::ActiveModel {
        org_id: Set(user.org.get()),
        user_id: Set(Some(user.user_id)),
        user_email: Set(user.email.clone()),
        file_name: Set(file_name.to_string()),
        file_bytes: Set(bytes as i64),
        stored_path: Set(stored.map(Stored::to_column)),
        encoding: Set(encoding),
        delimiter: Set(delimiter),
        columns: Set(columns),
        status: Set(status.as_str().to_string()),
        message: Set(refused.map(String::from)),
        total_rows: Set(total as i64),
        created_at: Set(now),
        finished_at: Set(refused.map(|_| now)),
        ..Default::default()
    };
    Ok(import_job::Entity::insert(job)
        .exec(db)
        .await?
        .last_insert_id)
}

/// Check an upload once stored: refuse it (recorded, file removed) or record it
/// as waiting for confirmation and return its preview.
pub async fn receive(
    db: &DatabaseConnection,
    user: &CurrentUser,
    max_waiting: usize,
    file_name: &str,
    received: Result<Received, AppError>,
) -> Result<ImportPreview, AppError> {
    let file_name = clean_file_name(file_name);
    let Received { stored, bytes } = match received {
        Ok(r) => r,
        Err(e @ (AppError::TooLarge(_) | AppError::BadRequest(_) | AppError::NoSpace(_))) => {
            record(db, user, &file_name, 0, None, None, Some(&e.to_string())).await?;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    let region = user.default_region.clone();
    let (at, conn) = (stored.clone(), db.clone());
    let analysis = tokio::task::spawn_blocking(move || analyse(&conn, &at, &region, None))
        .await
        .map_err(AppError::internal)?;
    match analysis {
        Err(unusable) => {
            stored.remove(db).await;
            let message = unusable.to_string();
            record(db, user, &file_name, bytes, None, None, Some(&message)).await?;
            Err(AppError::BadRequest(message))
        }
        Ok(analysis) => {
            let p = &analysis.preview;
            let format = (p.encoding, p.delimiter, &p.mapping, analysis.total_rows);
            let id = record(
                db,
                user,
                &file_name,
                bytes,
                Some(&stored),
                Some(format),
                None,
            )
            .await;
            match id {
                Ok(id) => {
                    discard_oldest_waiting(db, user, max_waiting).await?;
                    Ok(to_model_preview(id, &file_name, bytes, &analysis))
                }
                Err(e) => {
                    stored.remove(db).await;
                    Err(e)
                }
            }
        }
    }
}

/// Keep at most `max_waiting` uploads of the organisation waiting for
/// confirmation: older ones are discarded, with their files, and say why.
async fn discard_oldest_waiting(
    db: &DatabaseConnection,
    user: &CurrentUser,
    max_waiting: usize,
) -> Result<(), AppError> {
    use import_job::Column as J;
    let old = import_job::Entity::find()
        .filter(J::OrgId.eq(user.org.get()))
        .filter(J::Status.eq(ImportStatus::Previewed.as_str()))
        .order_by_desc(J::CreatedAt)
        .order_by_desc(J::Id)
        .offset(max_waiting.max(1) as u64)
        // SQLite has no OFFSET without a LIMIT; far more than can ever wait.
        .limit(10_000)
        .all(db)
        .await?;
    for job in old {
        let discarded = import_job::Entity::update_many()
            .col_expr(J::Status, Expr::value(ImportStatus::Discarded.as_str()))
            .col_expr(J::StoredPath, Expr::value(None::<String>))
            .col_expr(J::FinishedAt, Expr::value(now_ms()))
            .col_expr(
                J::Message,
                Expr::value(format!(
                    "Discarded unconfirmed: at most {} uploads can wait for confirmation, and newer ones arrived.",
                    max_waiting.max(1)
                )),
            )
            .filter(J::Id.eq(job.id))
            .filter(J::Status.eq(ImportStatus::Previewed.as_str()))
            .exec(db)
            .await?;
        if discarded.rows_affected > 0 {
            if let Some(path) = &job.stored_path {
                Stored::parse(path, user.org).remove(db).await;
            }
        }
    }
    Ok(())
}

/// A waiting upload's file, or why it cannot be used any more.
pub(super) fn waiting_file(row: &Job) -> Result<Stored, AppError> {
    let status = super::status_of(row);
    if status != Some(ImportStatus::Previewed) {
        return Err(AppError::Conflict(format!(
            "This upload is {}; upload the file again to import it.",
            status.map_or("gone", |s| s.label()).to_lowercase()
        )));
    }
    row.stored_path
        .as_deref()
        .map(|p| Stored::parse(p, OrgId::trusted(row.org_id)))
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
    let stored = waiting_file(&row)?;
    let region = user.default_region.clone();
    let conn = db.clone();
    // File reading and parsing stay off the async workers.
    let preview = tokio::task::spawn_blocking(move || {
        let (sample, complete) = read_sample(&conn, &stored).map_err(AppError::internal)?;
        import::preview(&sample, complete, &region, PREVIEW_ROWS, Some(&fields))
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
        match analyse_from(bytes, true, bytes, "GB", None) {
            Ok(a) => {
                prop_assert!(a.preview.rows.len() <= PREVIEW_ROWS);
                prop_assert!(a.total_rows as usize <= bytes.len());
            }
            Err(e) => prop_assert!(!e.to_string().trim().is_empty()),
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1500))]

        /// Any bytes at all: refused with a message, or read; never a panic.
        #[test]
        fn any_bytes_are_read_or_refused(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
            check(&bytes)?;
        }

        /// Text shaped like a CSV file, with quotes, delimiters, line breaks,
        /// byte order marks and bytes of other encodings in odd places.
        #[test]
        fn csv_like_text_is_read_or_refused(parts in prop::collection::vec(prop_oneof![
            Just(b"First Name,Last Name,Email\r\n".to_vec()),
            Just(b"Given name;Surname;E-mail;Cell\n".to_vec()),
            Just(b"\xEF\xBB\xBF".to_vec()),
            Just(b"\xFF\xFE".to_vec()),
            Just(b"\"".to_vec()),
            Just(b"\"\"".to_vec()),
            Just(b",".to_vec()),
            Just(b";".to_vec()),
            Just(b"\t".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\0".to_vec()),
            Just("Zo\u{eb} \u{c5}ngstr\u{f6}m".as_bytes().to_vec()),
            Just(b"caf\xE9".to_vec()),
            Just(b"ada@example.com".to_vec()),
            Just(b"+44 7911 123456".to_vec()),
            "[a-z ]{0,8}".prop_map(String::into_bytes),
        ], 0..60)) {
            check(&parts.concat())?;
        }
    }
}
