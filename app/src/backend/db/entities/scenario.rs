//! A scenario: an incident prepared in advance (`model::Scenario`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "scenarios")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub org_id: i64,
    pub name: String,
    /// Unique per organisation.
    pub name_lower: String,
    pub description: String,
    /// `model::Severity`, by its key.
    pub severity: String,
    pub subject: String,
    pub body: String,
    pub email: bool,
    pub sms: bool,
    /// The answer options, as a JSON array of strings.
    pub options: String,
    /// `model::Recipients`, as JSON.
    pub recipients: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// The emails of who made it and who saved it last.
    pub created_by: String,
    pub updated_by: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
