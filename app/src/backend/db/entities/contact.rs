//! A person who can be notified.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "contacts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub org_id: i64,
    pub first_name: String,
    pub last_name: String,
    /// "first last", lower-cased: the list's order.
    pub sort_name: String,
    /// What search matches (`directory::text`).
    pub search_text: String,
    pub email: Option<String>,
    /// Unique per organisation.
    pub email_lower: Option<String>,
    /// E.164.
    pub phone: Option<String>,
    pub department: Option<String>,
    pub role: Option<String>,
    pub location: Option<String>,
    /// Manual, CSV upload, or the integration's name.
    pub source: String,
    pub external_id: Option<String>,
    pub active: bool,
    /// Incremented by every change; a save names the version it edited.
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// The contact's place in SQLite's text index (`directory::place`); unused on PostgreSQL.
    pub search_key: Option<i64>,
    /// The integration that keeps this contact, if any.
    pub integration_id: Option<i64>,
    /// The source a contact had before an integration took it over.
    pub adopted_source: Option<String>,
    /// The identity provider that pushed this contact over SCIM, if any.
    pub scim_source_id: Option<i64>,
    /// SQLite: the text in the search index while an upload's change to it
    /// waits for the index's catch-up (`directory::keys`); none otherwise.
    pub search_old: Option<String>,
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

impl Related<super::contact_group::Entity> for Entity {
    fn to() -> RelationDef {
        super::group_member::Relation::ContactGroup.def()
    }
    fn via() -> Option<RelationDef> {
        Some(super::group_member::Relation::Contact.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}
