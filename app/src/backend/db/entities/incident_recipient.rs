//! One person an incident targeted, frozen at launch, and their answer.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "incident_recipients")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub incident_id: i64,
    pub org_id: i64,
    /// The contact (no reference: the incident keeps its copy if the
    /// contact is deleted).
    pub contact_id: Option<i64>,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Why they were targeted, in words.
    pub reason: String,
    /// The option they answered (its index), the last one if several.
    pub response: Option<i64>,
    pub responded_at: Option<i64>,
    /// "link" or "sms".
    pub response_via: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
