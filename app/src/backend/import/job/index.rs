//! SQLite's search index catching up with an upload. Its rows are committed
//! without search keys: listed, counted and filterable at once, found by a
//! search once placed in the index (see `directory::keys`). Contacts it
//! changed keep their entries as they were (parked) until the same catch-up
//! rewrites them (migration m0022). When the job ends
//! (however it ends) a backlog of at most [`ImportConfig::index_chunk`]
//! contacts is placed in the transaction that records the end, so that the
//! summary of an ordinary upload comes searchable; a larger one is placed a
//! chunk per transaction after it, each recording in the job how far it got
//! and beating its heartbeat. The upload's page shows "Indexing for search"
//! until it is done; a server that stops or crashes leaves the rest to any
//! server's sweep ([`sweep`]). On PostgreSQL the backlog is the contacts'
//! word starts, which one- and two-character searches read; its trigram
//! index, for longer ones, is written with the rows.

use super::ImportConfig;
use crate::backend::db::entities::import_job;
use crate::backend::db::{begin_write, begin_write_in_turn, now_ms};
use crate::backend::directory;
use crate::backend::domain::OrgId;
use crate::model::{AppError, ImportStatus};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter};
use tracing::Instrument;

use import_job::Column as J;

/// Record that running job `id` of `org` ended with `status` (and `message`),
/// with its backlog: placed now if it is small, else left to [`catch_up`].
/// The contacts left to place (0 when none is, or when the job was no longer
/// running: a sweep recorded its end).
pub(super) async fn end(
    db: &DatabaseConnection,
    config: &ImportConfig,
    id: i64,
    org: OrgId,
    status: ImportStatus,
    message: Option<String>,
) -> Result<u64, AppError> {
    let tx = begin_write(db).await?;
    let backlog = backlog(&tx, config, org).await?;
    let ended = import_job::Entity::update_many()
        .col_expr(J::Status, Expr::value(status.as_str()))
        .col_expr(J::Message, Expr::value(message))
        .col_expr(J::StoredPath, Expr::value(None::<String>))
        .col_expr(J::FinishedAt, Expr::value(now_ms()))
        .col_expr(J::IndexTotal, Expr::value(backlog as i64))
        .col_expr(J::Indexed, Expr::value(0))
        // Fresh: this server goes on with the backlog; no sweep takes it.
        .col_expr(J::HeartbeatAt, Expr::value(now_ms()))
        .filter(J::Id.eq(id))
        .filter(J::Status.eq(ImportStatus::Running.as_str()))
        .exec(&tx)
        .await?;
    if ended.rows_affected == 0 {
        return Ok(0);
    }
    tx.commit().await?;
    Ok(backlog)
}

/// The contacts of `org` left to place after a job: none once a small backlog
/// is placed in `tx`; all of them when there are more than a chunk.
async fn backlog(
    tx: &impl sea_orm::ConnectionTrait,
    config: &ImportConfig,
    org: OrgId,
) -> Result<u64, AppError> {
    let chunk = std::cmp::max(config.index_chunk, 1);
    if directory::unplaced(tx, org, Some(chunk + 1)).await? <= chunk {
        directory::place_all(tx, org).await?;
        return Ok(0);
    }
    directory::unplaced(tx, org, None).await
}

/// The catch-up's first chunk, in contacts (fewer when the setting is lower).
const FIRST_CHUNK: usize = 2_500;

/// Place the backlog of job `id` of `org` a chunk per transaction, until none
/// is left or the server stops (then the next sweep of any server goes on).
pub(super) async fn catch_up(
    db: &DatabaseConnection,
    config: &ImportConfig,
    id: i64,
    org: OrgId,
) -> Result<(), AppError> {
    // Sized by time, as the upload's batches: at most the setting, fewer when
    // placing is slow (a slower machine took 3.8 s for 10,000 contacts
    // at a million), so that the progress keeps moving.
    let ceiling = std::cmp::max(config.index_chunk, 1) as usize;
    let mut chunk = ceiling.min(FIRST_CHUNK);
    loop {
        if config.stopping.is_cancelled() {
            // No heartbeat: the next sweep takes it at once.
            import_job::Entity::update_many()
                .col_expr(J::HeartbeatAt, Expr::value(None::<i64>))
                .filter(J::Id.eq(id))
                .exec(db)
                .await?;
            return Ok(());
        }
        let started = std::time::Instant::now();
        // In turn, as the upload's batches: writers waiting meanwhile go
        // between two chunks.
        let (_turn, tx) = begin_write_in_turn(db).await?;
        // The job's row first, locked to the end of the chunk: a sweep's
        // claim (`sweep`) waits for it and then finds a fresh heartbeat, so a
        // slow chunk never lets a second server place the same backlog.
        import_job::Entity::update_many()
            .col_expr(J::HeartbeatAt, Expr::value(now_ms()))
            .filter(J::Id.eq(id))
            .exec(&tx)
            .await?;
        let placed = directory::place_some(&tx, org, chunk as u64).await?;
        let place_ms = started.elapsed().as_secs_f64() * 1e3;
        // Contacts re-spread or written meanwhile may be placed too: the
        // count shown stops at the total.
        let indexed = if placed == 0 {
            Expr::col(J::IndexTotal)
        } else {
            Expr::col(J::Indexed).add(placed as i64)
        };
        import_job::Entity::update_many()
            .col_expr(J::Indexed, indexed)
            .col_expr(J::HeartbeatAt, Expr::value(now_ms()))
            .filter(J::Id.eq(id))
            .exec(&tx)
            .await?;
        tx.commit().await?;
        let took = started.elapsed();
        tracing::debug!(
            place_ms,
            total_ms = took.as_secs_f64() * 1e3,
            placed,
            chunk,
            "import index chunk"
        );
        chunk = next_chunk(chunk, placed, took, ceiling);
        metrics::counter!("muster_import_indexed_total").increment(placed);
        if placed == 0 {
            tracing::info!(job = id, "imported contacts all found by search");
            return Ok(());
        }
    }
}

/// The catch-up's chunk after one of `chunk` contacts that placed `placed` in
/// `took`: sized by its pace as an upload's batches are, unless it was short.
/// A short chunk ran out of its kind of work (parked contacts, whose entries
/// are rewritten, come before unkeyed ones, placed several times slower
/// each), and the next starts small again.
fn next_chunk(chunk: usize, placed: u64, took: std::time::Duration, ceiling: usize) -> usize {
    if placed < chunk as u64 {
        ceiling.min(FIRST_CHUNK)
    } else {
        super::run::next_batch_rows(chunk, took, ceiling)
    }
}

/// Go on with the backlogs that their server left (it stopped, or crashed:
/// the heartbeat is old), each taken up by one server only.
pub(super) async fn sweep(db: &DatabaseConnection, config: &ImportConfig) -> Result<(), AppError> {
    if config.stopping.is_cancelled() {
        return Ok(());
    }
    let beat_before = now_ms() - config.stale_after.as_millis() as i64;
    let left = || {
        Condition::all()
            .add(Expr::col(J::Indexed).lt(Expr::col(J::IndexTotal)))
            .add(J::Status.ne(ImportStatus::Running.as_str()))
            .add(
                Condition::any()
                    .add(J::HeartbeatAt.is_null())
                    .add(J::HeartbeatAt.lt(beat_before)),
            )
    };
    for job in import_job::Entity::find().filter(left()).all(db).await? {
        let claimed = import_job::Entity::update_many()
            .col_expr(J::HeartbeatAt, Expr::value(now_ms()))
            .filter(J::Id.eq(job.id))
            .filter(left())
            .exec(db)
            .await?;
        if claimed.rows_affected == 0 {
            continue;
        }
        tracing::info!(
            job = job.id,
            "placing an import's contacts in the search index"
        );
        spawn(db, config, job.id, OrgId::trusted(job.org_id));
    }
    Ok(())
}

/// [`catch_up`] in the background, as one of the server's runs.
fn spawn(db: &DatabaseConnection, config: &ImportConfig, id: i64, org: OrgId) {
    let (db, config2) = (db.clone(), config.clone());
    let span = tracing::info_span!("import index", org = org.get(), job = id);
    config.runs.spawn(
        async move {
            if let Err(e) = catch_up(&db, &config2, id, org).await {
                tracing::error!("placing imported contacts in the search index: {e}");
            }
        }
        .instrument(span),
    );
}

#[cfg(test)]
mod tests {
    use super::next_chunk;
    use std::time::Duration;

    #[test]
    fn chunks_grow_with_their_pace_and_start_again_after_a_short_one() {
        let ms = Duration::from_millis;
        // Fast rewrites of parked entries: twice as many each time, to the ceiling.
        assert_eq!(next_chunk(2_500, 2_500, ms(100), 10_000), 5_000);
        assert_eq!(next_chunk(10_000, 10_000, ms(300), 10_000), 10_000);
        // Their last chunk was short: placing, slower, starts at the first size.
        assert_eq!(next_chunk(10_000, 1_200, ms(100), 10_000), 2_500);
        // Slow placing: half as many.
        assert_eq!(next_chunk(4_000, 4_000, ms(3_000), 10_000), 2_000);
        // A re-spread placed more than asked: not short.
        assert_eq!(next_chunk(2_500, 2_900, ms(1_000), 10_000), 2_500);
        // A setting below the first size bounds it.
        assert_eq!(next_chunk(500, 10, ms(10), 500), 500);
    }
}
