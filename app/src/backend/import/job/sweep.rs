//! Jobs whose server stopped (resumed from their last committed batch when
//! their file is here, else recorded as interrupted), and previews nobody
//! confirmed.

use super::file::Stored;
use super::run::Run;
use super::{format_of, mapping_of, ImportConfig, Job, INTERRUPTED, MAX_RESUMES};
use crate::backend::db::entities::{import_job, upload_chunk, Organisation};
use crate::backend::db::now_ms;
use crate::backend::directory;
use crate::backend::domain::OrgId;
use crate::backend::import::apply::Counts;
use crate::model::{AppError, ImportStatus};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect,
};

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
        if was_running && config.stopping.is_cancelled() {
            // Paused by this server's stop: left for the next server to resume.
            continue;
        }
        if was_running && job.resumes < MAX_RESUMES {
            match resume(db, config, &job, stale()).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::warn!(job = job.id, "resuming an import: {e}"),
            }
        }
        let gave_up;
        let (status, message) = if was_running && job.resumes >= MAX_RESUMES {
            gave_up = format!(
                "The server stopped unexpectedly during this import {} times, so it was not \
                 resumed again. The rows counted as processed were imported.",
                job.resumes + 1
            );
            (ImportStatus::Interrupted, Some(gave_up.as_str()))
        } else if was_running {
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
            if let Some(path) = &job.stored_path {
                Stored::parse(path, OrgId::trusted(job.org_id))
                    .remove(db)
                    .await;
            }
            if was_running {
                // What it committed but had not placed yet becomes searchable,
                // a chunk at a time, as after any large upload.
                let left = directory::unplaced(db, OrgId::trusted(job.org_id), None).await?;
                import_job::Entity::update_many()
                    .col_expr(J::IndexTotal, Expr::value(left as i64))
                    .col_expr(J::Indexed, Expr::value(0))
                    .col_expr(J::HeartbeatAt, Expr::value(None::<i64>))
                    .filter(J::Id.eq(job.id))
                    .exec(db)
                    .await?;
            }
        }
    }
    super::index::sweep(db, config).await?;
    forget_orphans(db, now).await
}

/// Delete the uploads kept in the database that no job names a day after
/// they arrived: their server stopped while they arrived, or failed to
/// delete them when their job ended.
async fn forget_orphans(db: &DatabaseConnection, now: i64) -> Result<(), AppError> {
    use upload_chunk::Column as C;
    let old: Vec<(String, i64)> = upload_chunk::Entity::find()
        .select_only()
        .column(C::Upload)
        .column(C::OrgId)
        .filter(C::Seq.eq(0))
        .filter(C::CreatedAt.lt(now - PREVIEW_KEPT_MS))
        .into_tuple()
        .all(db)
        .await?;
    for (key, org) in old {
        let stored = Stored::Chunks(key, OrgId::trusted(org));
        let named = import_job::Entity::find()
            .filter(import_job::Column::OrgId.eq(org))
            .filter(import_job::Column::StoredPath.eq(stored.to_column()))
            .count(db)
            .await?;
        if named == 0 {
            stored.remove(db).await;
        }
    }
    Ok(())
}

/// Go on with running job `job`, whose server stopped, from its last
/// committed batch, if its file is here to read; whether it was taken up (by
/// this server, or another one meanwhile).
async fn resume(
    db: &DatabaseConnection,
    config: &ImportConfig,
    job: &Job,
    stale: Condition,
) -> Result<bool, AppError> {
    let org_id = OrgId::trusted(job.org_id);
    let Some(stored) = job.stored_path.as_deref().map(|p| Stored::parse(p, org_id)) else {
        return Ok(false);
    };
    if !stored.exists(db).await {
        return Ok(false);
    }
    let (mapping, format) = (mapping_of(job)?, format_of(job)?);
    let Some(org) = Organisation::find_by_id(job.org_id).one(db).await? else {
        return Ok(false);
    };
    use import_job::Column as J;
    // A stop paused it (no heartbeat left); a crash left its heartbeat, and
    // only crashes count towards giving up on it.
    let crashed = i64::from(job.heartbeat_at.is_some());
    // Taken up by one server only: the job must still be stale as read.
    let claimed = import_job::Entity::update_many()
        .col_expr(J::HeartbeatAt, Expr::value(now_ms()))
        .col_expr(J::Resumes, Expr::col(J::Resumes).add(crashed))
        .filter(J::Id.eq(job.id))
        .filter(J::Status.eq(ImportStatus::Running.as_str()))
        .filter(stale)
        .exec(db)
        .await?;
    if claimed.rows_affected == 0 {
        return Ok(true);
    }
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    tracing::info!(
        job = job.id,
        rows = job.processed_rows,
        "going on with an import whose server stopped"
    );
    Run::new(
        db,
        config,
        job.id,
        OrgId::trusted(job.org_id),
        org.default_region,
        stored,
        format,
        mapping,
    )
    .resuming(
        n(job.processed_rows),
        Counts {
            created: n(job.created),
            updated: n(job.updated),
            unchanged: n(job.unchanged),
            failed: n(job.failed),
            warnings: n(job.warnings),
        },
    )
    .spawn(&config.runs);
    Ok(true)
}

/// Sweep now, and then regularly, for as long as the server runs.
pub fn spawn_sweeper(db: DatabaseConnection, config: ImportConfig) {
    let period = config.stale_after / 2;
    crate::backend::db::every(period, "sweeping import jobs", move || {
        let (db, config) = (db.clone(), config.clone());
        async move { sweep(&db, &config).await }
    });
}
