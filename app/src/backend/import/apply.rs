//! Applying an upload's rows to the directory, one transaction per batch: a
//! row updates the contact with its email (ignoring case), else the one with
//! its mobile phone, and otherwise creates one.

use super::columns::Mapping;
use super::merge::merge;
use crate::backend::auth::OrgId;
use crate::backend::directory::{self, validate};
use crate::model::{AppError, ContactDraft};
use sea_orm::ConnectionTrait;
use std::collections::HashMap;

/// The source of contacts an upload creates.
pub const SOURCE_CSV: &str = "CSV upload";

/// What the rows applied so far did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub failed: u64,
    pub warnings: u64,
}

/// A row that failed, or that was applied with a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: u64,
    /// The file's header of the column at fault; empty for the whole row.
    pub column: String,
    pub message: String,
    pub warning: bool,
}

/// Applies the rows of one upload in file order.
pub struct Importer {
    org: OrgId,
    region: String,
    /// Emails (lower-case) and phones applied from this file, with their line.
    seen: HashMap<String, u64>,
    pub counts: Counts,
}

impl Importer {
    pub fn new(org: OrgId, region: &str) -> Self {
        Self {
            org,
            region: region.to_string(),
            seen: HashMap::new(),
            counts: Counts::default(),
        }
    }

    /// Apply a batch of rows (line, draft) within the transaction `tx`. What
    /// the batch did counts once [`Importer::accept`] is told that `tx` committed;
    /// a batch that fails or is rolled back counts nothing.
    pub async fn apply(
        &self,
        tx: &impl ConnectionTrait,
        mapping: &Mapping,
        rows: &[(u64, ContactDraft)],
    ) -> Result<Applied, AppError> {
        let mut counts = self.counts;
        let mut seen = HashMap::new();
        let mut found = Vec::new();
        for (line, draft) in rows {
            let line = *line;
            let row = match validate(draft, &self.region) {
                Ok(row) => row,
                Err(AppError::Invalid(errors)) => {
                    counts.failed += 1;
                    found.extend(errors.into_iter().map(|e| Problem {
                        line,
                        column: mapping.header_of(&e.field).unwrap_or_default(),
                        message: e.message,
                        warning: false,
                    }));
                    continue;
                }
                Err(e) => return Err(e),
            };
            let email = row.email.as_ref().map(|e| e.lower());
            let phone = row.phone.as_ref().map(|p| p.as_str().to_string());
            let keys: Vec<String> = email.iter().chain(phone.iter()).cloned().collect();
            if let Some(first) = keys
                .iter()
                .find_map(|k| seen.get(k).or_else(|| self.seen.get(k)))
            {
                counts.warnings += 1;
                found.push(Problem {
                    line,
                    column: String::new(),
                    message: format!(
                        "The same contact is on line {first}; both rows were applied, in file order."
                    ),
                    warning: true,
                });
            }
            for k in keys {
                seen.entry(k).or_insert(line);
            }
            match directory::find_match(tx, self.org, email.as_deref(), phone.as_deref()).await? {
                None => {
                    directory::insert(tx, self.org, &row, SOURCE_CSV).await?;
                    counts.created += 1;
                }
                Some(existing) => match merge(&existing, &row) {
                    None => counts.unchanged += 1,
                    Some(next) => {
                        let next = validate(&next, &self.region)?;
                        directory::overwrite(tx, self.org, existing.id, existing.version, &next)
                            .await?;
                        counts.updated += 1;
                    }
                },
            }
        }
        directory::place(tx, self.org).await?;
        Ok(Applied {
            counts,
            seen,
            problems: found,
        })
    }

    /// Count a batch whose transaction committed.
    pub fn accept(&mut self, applied: Applied) -> Vec<Problem> {
        self.counts = applied.counts;
        for (k, line) in applied.seen {
            self.seen.entry(k).or_insert(line);
        }
        applied.problems
    }
}

/// What a batch did, counted once its transaction commits.
#[must_use]
pub struct Applied {
    /// The counts of the whole import, this batch included.
    pub counts: Counts,
    seen: HashMap<String, u64>,
    /// The failed rows and warnings of this batch.
    pub problems: Vec<Problem>,
}
