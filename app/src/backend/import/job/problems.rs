//! The rows a job could not apply, for its error report.

use crate::backend::db::entities::{import_job, import_problem};
use crate::backend::domain::OrgId;
use crate::model::AppError;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, JoinType, QueryFilter, QueryOrder, QuerySelect,
    RelationTrait,
};

/// A problem as stored.
pub type ProblemRow = import_problem::Model;

/// Up to `limit` problems of an upload after problem `after`, in file order.
pub async fn problems(
    db: &DatabaseConnection,
    org: OrgId,
    job: i64,
    after: i64,
    limit: u64,
) -> Result<Vec<ProblemRow>, AppError> {
    use import_problem::Column as P;
    Ok(import_problem::Entity::find()
        .join(
            JoinType::InnerJoin,
            import_problem::Relation::ImportJob.def(),
        )
        .filter(import_job::Column::OrgId.eq(org.get()))
        .filter(P::JobId.eq(job))
        .filter(P::Id.gt(after))
        .order_by_asc(P::Id)
        .limit(limit)
        .all(db)
        .await?)
}
