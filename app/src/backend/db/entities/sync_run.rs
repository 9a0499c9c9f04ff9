//! One sync of an integration, with its counts (kept for ever).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sync_runs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub org_id: i64,
    pub integration_id: i64,
    /// `model::SyncTrigger`, by its name.
    pub trigger: String,
    /// A retry's number (1 for the first); 0 otherwise.
    pub attempt: i64,
    /// `model::SyncStatus`, by its name.
    pub status: String,
    /// What became of a held sync's deletions: `model::HoldResolution`.
    pub resolution: Option<String>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    /// People read from the source.
    pub people: i64,
    pub added: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub deleted: i64,
    pub skipped: i64,
    /// Deletions held for review.
    pub held: i64,
    pub error: Option<String>,
    /// While it runs: `model::SyncPhase`, by its name.
    pub phase: Option<String>,
    /// While it runs: pages read, and contacts written of those to write.
    pub pages: i64,
    pub applied: i64,
    pub total: i64,
    /// Someone asked a server other than the one running it to cancel it.
    pub cancel_requested: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
