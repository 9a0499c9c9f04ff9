//! A message of an incident: the launch's, or a follow-up.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "incident_messages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub incident_id: i64,
    pub org_id: i64,
    /// "launch" or "follow-up".
    pub kind: String,
    /// With placeholders, filled for each recipient when sent.
    pub subject: String,
    pub body: String,
    pub sent_at: i64,
    pub sent_by: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
