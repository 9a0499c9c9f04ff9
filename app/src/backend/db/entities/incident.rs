//! An incident as launched (`model::Incident`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "incidents")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub org_id: i64,
    /// The scenario it was launched from (which may since be deleted).
    pub scenario_id: Option<i64>,
    pub name: String,
    /// `model::Severity`, by its key.
    pub severity: String,
    pub subject: String,
    pub body: String,
    pub email: bool,
    pub sms: bool,
    /// The answer options, as a JSON array of strings.
    pub options: String,
    /// The selection it was launched with (`model::Recipients`, JSON).
    pub recipients: String,
    /// `model::IncidentStatus`, by its key.
    pub status: String,
    /// Random: the response links of this incident are signed with it.
    pub nonce: String,
    pub launched_at: i64,
    pub launched_by: String,
    pub resolved_at: Option<i64>,
    pub resolved_by: Option<String>,
    pub recipient_count: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
