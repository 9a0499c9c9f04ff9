//! A piece of an upload kept in the database (PostgreSQL), so that every
//! server can read it: the upload's bytes are its chunks in `seq` order.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "upload_chunks")]
pub struct Model {
    /// The upload's random key (what its job's `stored_path` names).
    #[sea_orm(primary_key, auto_increment = false)]
    pub upload: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    pub org_id: i64,
    pub bytes: Vec<u8>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
