//! Jobs whose server stopped, and previews nobody confirmed.

use super::run::place_all;
use super::{ImportConfig, INTERRUPTED};
use crate::backend::db::entities::import_job;
use crate::backend::db::now_ms;
use crate::backend::domain::OrgId;
use crate::model::{AppError, ImportStatus};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter};

/// A preview nobody confirms is discarded, with its file, after this long.
const PREVIEW_KEPT_MS: i64 = 24 * 3600 * 1000;

/// Record as interrupted the running jobs whose heartbeat stopped, and discard
/// previews left unconfirmed for a day, with their files.
pub async fn sweep(db: &DatabaseConnection, config: &ImportConfig) -> Result<(), AppError> {
    let now = now_ms();
    let beat_before = now - config.stale_after.as_millis() as i64;
    use import_job::Column as J;
    let (running, previewed) = (ImportStatus::Running, ImportStatus::Previewed);
    let stale = || {
        Condition::any()
            .add(
                Condition::all().add(J::Status.eq(running.as_str())).add(
                    Condition::any()
                        .add(J::HeartbeatAt.is_null())
                        .add(J::HeartbeatAt.lt(beat_before)),
                ),
            )
            .add(
                Condition::all()
                    .add(J::Status.eq(previewed.as_str()))
                    .add(J::CreatedAt.lt(now - PREVIEW_KEPT_MS)),
            )
    };
    for job in import_job::Entity::find().filter(stale()).all(db).await? {
        let was_running = job.status == running.as_str();
        let (status, message) = if was_running {
            (ImportStatus::Interrupted, Some(INTERRUPTED))
        } else {
            (ImportStatus::Discarded, None)
        };
        // The same condition again, in case the job moved on meanwhile.
        let ended = import_job::Entity::update_many()
            .col_expr(J::Status, Expr::value(status.as_str()))
            .col_expr(J::Message, Expr::value(message))
            .col_expr(J::StoredPath, Expr::value(None::<String>))
            .col_expr(J::FinishedAt, Expr::value(now))
            .filter(J::Id.eq(job.id))
            .filter(J::Status.eq(job.status.as_str()))
            .filter(stale())
            .exec(db)
            .await?;
        if ended.rows_affected > 0 {
            if let Some(path) = job.stored_path {
                let _ = tokio::fs::remove_file(path).await;
            }
            if was_running {
                // What it committed but had not placed yet becomes searchable.
                place_all(db, OrgId::trusted(job.org_id)).await?;
            }
        }
    }
    Ok(())
}

/// Sweep now, and then regularly, for as long as the server runs.
pub fn spawn_sweeper(db: DatabaseConnection, config: ImportConfig) {
    let period = config.stale_after / 2;
    crate::backend::db::every(period, "sweeping import jobs", move || {
        let (db, config) = (db.clone(), config.clone());
        async move { sweep(&db, &config).await }
    });
}
