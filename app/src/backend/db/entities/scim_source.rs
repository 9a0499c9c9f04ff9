//! An identity provider that pushes users and groups over SCIM 2.0.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "scim_sources")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub org_id: i64,
    /// The contacts' Source, for example "Entra ID (SCIM)".
    pub name: String,
    /// Unique per organisation.
    pub name_lower: String,
    /// `model::ScimScope`, by its key.
    pub scope: String,
    /// A DELETE keeps the contact, deactivated, instead of deleting it.
    pub keep_deleted: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::scim_token::Entity")]
    ScimToken,
}

impl Related<super::scim_token::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ScimToken.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
