//! Export: the contacts list, searched and filtered as on the page, as a CSV
//! file in the columns the import reads, so that export then import changes
//! nothing.

use super::cells::escape;
use super::columns::Field;
use crate::backend::directory::{self, ExportCursor};
use crate::backend::domain::OrgId;
use crate::model::{AppError, ContactQuery};
use sea_orm::DatabaseConnection;

/// Contacts read and written per step of the stream.
const CHUNK: u64 = 2000;

/// Spreadsheets read a UTF-8 file as UTF-8 only when it starts with a BOM.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Writes an export step by step, so that memory stays flat whatever its size.
pub struct Export {
    db: DatabaseConnection,
    org: OrgId,
    query: ContactQuery,
    after: Option<ExportCursor>,
    started: bool,
    done: bool,
}

impl Export {
    pub fn new(db: DatabaseConnection, org: OrgId, query: ContactQuery) -> Self {
        Self {
            db,
            org,
            query: query.first_page(),
            after: None,
            started: false,
            done: false,
        }
    }

    /// The next part of the file, or `None` once it is all written.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, AppError> {
        if self.done {
            return Ok(None);
        }
        let mut buf = Vec::with_capacity(256 * 1024);
        let first = !self.started;
        if first {
            self.started = true;
            buf.extend_from_slice(BOM);
        }
        let mut out = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(buf);
        if first {
            out.write_record(Field::ALL.iter().map(|f| f.header()))
                .map_err(AppError::internal)?;
        }
        let rows =
            directory::export_page(&self.db, self.org, &self.query, self.after.as_ref(), CHUNK)
                .await?;
        if (rows.len() as u64) < CHUNK {
            self.done = true;
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let groups = directory::groups_of(&self.db, self.org, &ids).await?;
        for r in &rows {
            let groups = groups.get(&r.id).map(|g| g.join(";")).unwrap_or_default();
            let cells = [
                r.first_name.as_str(),
                r.last_name.as_str(),
                r.email.as_deref().unwrap_or_default(),
                r.phone.as_deref().unwrap_or_default(),
                r.department.as_deref().unwrap_or_default(),
                r.role.as_deref().unwrap_or_default(),
                r.location.as_deref().unwrap_or_default(),
                groups.as_str(),
            ];
            out.write_record(cells.iter().map(|c| escape(c).into_owned()))
                .map_err(AppError::internal)?;
        }
        if let Some(last) = rows.last() {
            self.after = Some((last.sort_name.clone(), last.id));
        }
        out.into_inner()
            .map(Some)
            .map_err(|e| AppError::internal(e.to_string()))
    }
}

/// A file name for an export, with the date.
pub fn file_name() -> String {
    format!("contacts-{}.csv", chrono::Utc::now().format("%Y-%m-%d"))
}
