//! A row of an upload that could not be applied (or was applied with a warning).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "import_problems")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub job_id: i64,
    pub line: i64,
    pub column_name: String,
    pub message: String,
    pub warning: bool,
    /// The failed row's own cells, as a JSON array of strings in the file's
    /// column order (on the first problem of the row).
    pub row_values: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::import_job::Entity",
        from = "Column::JobId",
        to = "super::import_job::Column::Id"
    )]
    ImportJob,
}

impl Related<super::import_job::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ImportJob.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
