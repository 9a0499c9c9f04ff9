//! A group of contacts: the organisation's own (`integration_id` and
//! `scim_source_id` empty), one read from an integration's source, or one
//! pushed over SCIM.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "contact_groups")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub org_id: i64,
    pub name: String,
    /// Unique per organisation among its own groups, per integration among a source's.
    pub name_lower: String,
    pub source: String,
    pub created_at: i64,
    pub integration_id: Option<i64>,
    pub external_id: Option<String>,
    /// The identity provider that pushed this group over SCIM, if any.
    pub scim_source_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::group_member::Entity")]
    GroupMember,
}

impl Related<super::group_member::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::GroupMember.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
