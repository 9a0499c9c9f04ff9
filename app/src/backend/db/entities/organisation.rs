//! An organisation: everything else belongs to one.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "organisations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    /// ISO country code that reads phone numbers without a country code.
    pub default_region: String,
    pub time_zone: String,
    pub created_at: i64,
    /// Kept by triggers on `contacts`; never written by the application.
    pub contact_count: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
