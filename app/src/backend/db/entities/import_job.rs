//! A CSV upload: who, when, what, and how it went.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "import_jobs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub org_id: i64,
    pub user_id: Option<i64>,
    pub user_email: String,
    pub file_name: String,
    pub file_bytes: i64,
    /// The uploaded file while it is needed; removed when the import ends.
    pub stored_path: Option<String>,
    pub encoding: String,
    pub delimiter: String,
    /// The column mapping, as JSON.
    pub columns: String,
    /// `model::ImportStatus`, by its name.
    pub status: String,
    pub message: Option<String>,
    pub total_rows: i64,
    pub processed_rows: i64,
    pub created: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub failed: i64,
    pub warnings: i64,
    pub cancel_requested: bool,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// Fresh while a server works on the import.
    pub heartbeat_at: Option<i64>,
    /// How many times a server went on with it after the one running it crashed.
    pub resumes: i64,
    /// Contacts left to place in SQLite's search index when the rows were
    /// committed (0: none; the summary came with everything searchable).
    pub index_total: i64,
    /// How many of those are placed; below `index_total` while search catches up.
    pub indexed: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::import_problem::Entity")]
    ImportProblem,
}

impl Related<super::import_problem::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ImportProblem.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
