//! Starting a waiting job, and cancelling a waiting or running one.

use super::preview::{columns_of, waiting_file};
use super::run::Run;
use super::{format_of, get, load, mapping_of, status_of, ImportConfig};
use crate::backend::auth::CurrentUser;
use crate::backend::db::entities::{import_job, Organisation};
use crate::backend::db::{begin_write, now_ms};
use crate::backend::domain::OrgId;
use crate::model::{AppError, ImportJob, ImportStatus};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};

/// Start importing a waiting upload with the columns mapped as the user chose.
/// The job runs in the background; its progress is read with [`get`].
pub async fn start(
    db: &DatabaseConnection,
    config: &ImportConfig,
    user: &CurrentUser,
    id: i64,
    fields: Vec<String>,
) -> Result<ImportJob, AppError> {
    let row = load(db, user.org, id).await?;
    let stored = waiting_file(&row)?;
    let mapping = mapping_of(&row)?
        .with_fields(&fields)
        .map_err(AppError::BadRequest)?;
    mapping
        .check()
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    let (encoding, delimiter) = format_of(&row)?;
    let columns = serde_json::to_string(&columns_of(&mapping)).map_err(AppError::internal)?;
    let now = now_ms();
    use import_job::Column as J;
    // One import runs per organisation at a time: the check and the start
    // are one transaction, with the organisation's row locked on PostgreSQL
    // (SQLite's write transaction already excludes every other writer).
    let tx = begin_write(db).await?;
    Organisation::find_by_id(user.org.get())
        .lock_exclusive()
        .one(&tx)
        .await?;
    let running = import_job::Entity::find()
        .filter(J::OrgId.eq(user.org.get()))
        .filter(J::Status.eq(ImportStatus::Running.as_str()))
        .filter(J::Id.ne(id))
        .count(&tx)
        .await?;
    if running > 0 {
        return Err(AppError::Conflict(
            "Another upload is being imported. Start this one when it has finished (or cancel it)."
                .into(),
        ));
    }
    let started = import_job::Entity::update_many()
        .col_expr(J::Status, Expr::value(ImportStatus::Running.as_str()))
        .col_expr(J::Columns, Expr::value(columns))
        .col_expr(J::StartedAt, Expr::value(now))
        .col_expr(J::HeartbeatAt, Expr::value(now))
        .filter(J::Id.eq(id))
        .filter(J::OrgId.eq(user.org.get()))
        .filter(J::Status.eq(ImportStatus::Previewed.as_str()))
        .exec(&tx)
        .await?;
    if started.rows_affected == 0 {
        return Err(AppError::Conflict(
            "This upload has already started.".into(),
        ));
    }
    tx.commit().await?;
    let run = Run::new(
        db,
        config,
        id,
        user.org,
        user.default_region.clone(),
        stored,
        (encoding, delimiter),
        mapping,
    );
    run.spawn(&config.runs);
    get(db, config, user.org, id).await
}

/// Stop an upload: a waiting one is discarded with its file; a running one
/// stops after the batch it is applying, which stays.
pub async fn cancel(
    db: &DatabaseConnection,
    config: &ImportConfig,
    org: OrgId,
    id: i64,
) -> Result<ImportJob, AppError> {
    use import_job::Column as J;
    let row = load(db, org, id).await?;
    let this = import_job::Entity::update_many()
        .filter(J::Id.eq(id))
        .filter(J::OrgId.eq(org.get()));
    match status_of(&row) {
        Some(ImportStatus::Previewed) => {
            let discarded = this
                .col_expr(J::Status, Expr::value(ImportStatus::Discarded.as_str()))
                .col_expr(J::StoredPath, Expr::value(None::<String>))
                .col_expr(J::FinishedAt, Expr::value(now_ms()))
                .filter(J::Status.eq(ImportStatus::Previewed.as_str()))
                .exec(db)
                .await?;
            if discarded.rows_affected > 0 {
                if let Some(path) = &row.stored_path {
                    super::Stored::parse(path, org).remove(db).await;
                }
            }
        }
        Some(ImportStatus::Running) => {
            this.col_expr(J::CancelRequested, Expr::value(true))
                .filter(J::Status.eq(ImportStatus::Running.as_str()))
                .exec(db)
                .await?;
        }
        _ => {}
    }
    get(db, config, org, id).await
}
