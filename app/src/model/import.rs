//! CSV uploads as the browser sees them: the preview to confirm, and the job
//! with its progress and outcome.

use super::FieldError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The contact fields a column can fill: the key the server uses, and the label
/// shown in the mapping (also the header Muster writes on export).
pub const IMPORT_FIELDS: [(&str, &str); 8] = [
    ("first_name", "First Name"),
    ("last_name", "Last Name"),
    ("email", "Email"),
    ("phone", "Mobile Phone"),
    ("department", "Department"),
    ("role", "Role"),
    ("location", "Location"),
    ("groups", "Groups"),
];

/// The label of a field key, for display.
pub fn field_label(key: &str) -> &str {
    IMPORT_FIELDS
        .iter()
        .find(|(k, _)| *k == key)
        .map_or(key, |(_, label)| label)
}

/// One column of an uploaded file and the field it fills (`None`: ignored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportColumn {
    pub header: String,
    pub field: Option<String>,
}

/// One of the first rows of a file, as it would be imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportPreviewRow {
    /// The line of the file the row starts on (1 is the header).
    pub line: u64,
    /// The row's cells, one per column.
    pub cells: Vec<String>,
    /// Empty when the row is valid.
    pub errors: Vec<FieldError>,
}

/// What the user checks and confirms before anything is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportPreview {
    pub job_id: i64,
    pub file_name: String,
    pub file_bytes: u64,
    /// The text encoding, in words ("UTF-8", "Windows-1252", ...).
    pub encoding: String,
    /// The delimiter, in words ("comma", "semicolon", "tab").
    pub delimiter: String,
    /// Rows with at least one non-blank cell, after the header.
    pub total_rows: u64,
    pub columns: Vec<ImportColumn>,
    pub rows: Vec<ImportPreviewRow>,
    /// Why this mapping cannot be imported, if it cannot.
    pub mapping_error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportStatus {
    /// Uploaded and previewed; waiting for the user to confirm.
    Previewed,
    Running,
    Completed,
    /// Stopped by the user; the batches committed before stay.
    Cancelled,
    /// The server stopped while it ran.
    Interrupted,
    /// Refused, or stopped by an error; `message` says which.
    Failed,
    /// The user chose not to import the file after its preview.
    Discarded,
}

impl ImportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Previewed => "previewed",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::Interrupted => "interrupted",
            Self::Failed => "failed",
            Self::Discarded => "discarded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Previewed,
            Self::Running,
            Self::Completed,
            Self::Cancelled,
            Self::Interrupted,
            Self::Failed,
            Self::Discarded,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }

    /// In words, for the history and the summary.
    pub fn label(self) -> &'static str {
        match self {
            Self::Previewed => "Waiting for confirmation",
            Self::Running => "Importing",
            Self::Completed => "Completed",
            Self::Cancelled => "Cancelled",
            Self::Interrupted => "Interrupted",
            Self::Failed => "Failed",
            Self::Discarded => "Not imported",
        }
    }

    /// Whether the job's rows can change no more (its contacts may still be
    /// on their way into the search index: see [`ImportJob::indexing`]).
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Previewed | Self::Running)
    }
}

/// An upload: who, when, which file, how far it got and what it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportJob {
    pub id: i64,
    pub file_name: String,
    pub file_bytes: u64,
    pub uploaded_by: String,
    pub status: ImportStatus,
    /// Why it failed, or was refused.
    pub message: Option<String>,
    pub total_rows: u64,
    pub processed_rows: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub failed: u64,
    pub warnings: u64,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Contacts left to place in the search index when the rows were
    /// committed (0 when the summary came with everything searchable), and
    /// how many are placed so far.
    pub index_total: u64,
    pub indexed: u64,
}

impl ImportJob {
    /// While the search index catches up with this upload: how far, 0 to 99.
    pub fn indexing(&self) -> Option<u32> {
        (self.indexed < self.index_total)
            .then(|| ((self.indexed * 100) / self.index_total).min(99) as u32)
    }

    /// Whether nothing about the job will change any more: its rows are
    /// applied and its contacts are all found by search.
    pub fn is_settled(&self) -> bool {
        self.status.is_final() && self.indexing().is_none()
    }

    /// Rows processed out of the total, 0 to 100.
    pub fn percent(&self) -> u32 {
        if self.total_rows == 0 {
            return if self.status == ImportStatus::Completed {
                100
            } else {
                0
            };
        }
        ((self.processed_rows.min(self.total_rows) * 100) / self.total_rows) as u32
    }
}
