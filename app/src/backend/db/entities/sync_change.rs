//! What one sync did to one contact (kept for a while: `MUSTER_SYNC_DETAILS_DAYS`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sync_changes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub run_id: i64,
    pub org_id: i64,
    /// `model::ChangeAction`, by its name.
    pub action: String,
    pub contact_id: Option<i64>,
    pub external_id: String,
    pub name: String,
    pub email: Option<String>,
    /// Why it was skipped, deleted or held; for an update, the changed
    /// fields with their values before and after, as JSON.
    pub detail: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
