//! A bearer token of a SCIM source. Only the SHA-256 of the token is stored.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "scim_tokens")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub org_id: i64,
    pub source_id: i64,
    pub name: String,
    pub token_hash: String,
    /// The token's last characters, to tell tokens apart.
    pub hint: String,
    pub created_at: i64,
    /// Kept to the minute.
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::scim_source::Entity",
        from = "Column::SourceId",
        to = "super::scim_source::Column::Id"
    )]
    ScimSource,
}

impl Related<super::scim_source::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ScimSource.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
