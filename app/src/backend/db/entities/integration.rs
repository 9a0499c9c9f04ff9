//! A connected HR or identity system.

use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "integrations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub org_id: i64,
    /// `model::Provider`, by its key.
    pub provider: String,
    /// The provider's settings that are not secret, as JSON.
    pub settings: String,
    /// The secret fields, sealed by the vault: never leaves the server.
    pub secrets: String,
    /// Which secret fields are set and when, as JSON; never their values.
    pub secrets_set: String,
    /// `model::IntegrationStatus`, by its name.
    pub status: String,
    pub last_error: Option<String>,
    /// The last sync's counts, as JSON.
    pub last_result: Option<String>,
    pub last_sync_at: Option<i64>,
    /// Fresh while a server syncs it.
    pub heartbeat_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// A sync that would delete more than this share of the integration's
    /// contacts (in percent) is held for review; `None`: no such bound.
    pub hold_percent: Option<i64>,
    /// ... or more than this many contacts; `None`: no such bound.
    pub hold_count: Option<i64>,
    /// The held sync waiting for an administrator, if any.
    pub held_run_id: Option<i64>,
    /// Minutes after midnight, in the organisation's time zone, of its
    /// daily sync.
    pub sync_minute: i64,
    /// When its next sync is due (a retry, or the daily one); `None`: to be
    /// worked out from `sync_minute`.
    pub next_sync_at: Option<i64>,
    /// Retries of the current failure scheduled so far.
    pub retries: i64,
}

/// Leaves the sealed secrets out.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Integration")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("provider", &self.provider)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
