//! A group pushed over SCIM: its group and the resource without its members
//! (those are the group's memberships).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "scim_groups")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub group_id: i64,
    pub org_id: i64,
    pub source_id: i64,
    pub display_name_lower: String,
    pub external_id: Option<String>,
    /// The resource's attributes as JSON, without `id`, `meta` and `members`.
    pub resource: String,
    /// Counts writes: the ETag.
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::contact_group::Entity",
        from = "Column::GroupId",
        to = "super::contact_group::Column::Id"
    )]
    ContactGroup,
}

impl Related<super::contact_group::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ContactGroup.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
