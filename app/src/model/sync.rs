//! The history of an integration's syncs, and the deletions a sync held for
//! review.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An enum stored by name: `as_str`, `parse` and `label`.
macro_rules! named {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $key:literal, $label:literal;)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        pub enum $name { $($(#[$vmeta])* $variant,)* }

        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $key,)* }
            }

            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }

            pub fn label(self) -> &'static str {
                match self { $(Self::$variant => $label,)* }
            }
        }
    };
}

named! {
    /// How a sync started.
    pub enum SyncTrigger {
        /// Right after the integration was connected.
        Connect = "connect", "Connect";
        SyncNow = "sync_now", "Sync now";
        Schedule = "schedule", "Schedule";
        Retry = "retry", "Retry";
    }
}

named! {
    pub enum SyncStatus {
        Running = "running", "Running";
        Succeeded = "succeeded", "Succeeded";
        Failed = "failed", "Failed";
        /// Applied but its deletions, which wait for an administrator.
        Held = "held", "Held";
        Cancelled = "cancelled", "Cancelled";
        /// Its server stopped while it ran.
        Interrupted = "interrupted", "Interrupted";
    }
}

named! {
    /// Where a running sync is.
    pub enum SyncPhase {
        /// Reading the source's people and groups.
        Reading = "reading", "Reading the source";
        /// Writing the changes, in one transaction.
        Applying = "applying", "Applying changes";
    }
}

/// How far a running sync has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncProgress {
    pub phase: SyncPhase,
    /// People read from the source so far.
    pub read: u64,
    /// Pages (answers) read from the source so far.
    pub pages: u64,
    /// Contacts written so far, of `total` to write (while applying).
    pub applied: u64,
    pub total: u64,
    /// Cancel was asked for; the sync stops at its next step.
    pub cancelling: bool,
}

named! {
    /// What became of a held sync's deletions.
    pub enum HoldResolution {
        Applied = "applied", "Deletions applied";
        Discarded = "discarded", "Deletions discarded";
        /// A later sync no longer deleted them, or held its own.
        Released = "released", "Released by a later sync";
    }
}

named! {
    /// What a sync did to one contact.
    pub enum ChangeAction {
        Added = "added", "Added";
        Updated = "updated", "Updated";
        Deleted = "deleted", "Deleted";
        Skipped = "skipped", "Skipped";
        /// Would have been deleted; held for review.
        Held = "held", "Held";
    }
}

/// Why a sync deletes a contact.
pub const GONE: &str = "gone from the source";
pub const SUSPENDED: &str = "suspended or deactivated in the source";

/// One sync, as the history lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRun {
    pub id: i64,
    pub trigger: SyncTrigger,
    /// The retry's number (1 for the first), for a retry.
    pub attempt: u32,
    pub status: SyncStatus,
    pub resolution: Option<HoldResolution>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// People found in the source.
    pub people: u64,
    pub added: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub deleted: u64,
    pub skipped: u64,
    /// Deletions held for review.
    pub held: u64,
    pub error: Option<String>,
}

impl SyncRun {
    /// The history's "Synced" column: added and updated.
    pub fn synced(&self) -> u64 {
        self.added + self.updated
    }
}

/// A contact a held sync would delete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldContact {
    pub contact_id: i64,
    pub name: String,
    pub email: Option<String>,
    /// [`GONE`] or [`SUSPENDED`].
    pub reason: String,
}

/// The deletions a held sync waits to apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub run_id: i64,
    pub held_at: DateTime<Utc>,
    /// How many contacts it would delete.
    pub count: u64,
    /// The first of them, by name.
    pub contacts: Vec<HeldContact>,
}

/// One field a sync changes, with its value before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// A contact in a preview: who, and what would happen (why it would be
/// deleted or skipped; for an update, each changed field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewItem {
    pub name: String,
    pub email: Option<String>,
    pub detail: Option<String>,
    pub changes: Vec<FieldChange>,
}

/// What a sync would do now, read from the source, with nothing applied: the
/// counts, and the first of each kind of change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncPreview {
    pub result: crate::model::SyncResult,
    /// The deletions would be held for review.
    pub would_hold: bool,
    pub added: Vec<PreviewItem>,
    /// Updates, and contacts it would take over by email.
    pub updated: Vec<PreviewItem>,
    pub deleted: Vec<PreviewItem>,
    pub skipped: Vec<PreviewItem>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back() {
        for s in SyncStatus::ALL {
            assert_eq!(SyncStatus::parse(s.as_str()), Some(*s));
        }
        assert_eq!(SyncTrigger::parse("sync_now"), Some(SyncTrigger::SyncNow));
        assert_eq!(ChangeAction::parse("nope"), None);
    }
}
