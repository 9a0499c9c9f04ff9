//! Who did what to a scenario or an incident, and when. Never changed.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub org_id: i64,
    pub at: i64,
    /// The administrator's email.
    pub actor: String,
    /// "created", "edited", "copied", "deleted", "launched", ...
    pub action: String,
    /// "scenario" or "incident".
    pub subject_kind: String,
    pub subject_id: Option<i64>,
    /// What it was about, in words (the scenario's name at the time).
    pub summary: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
