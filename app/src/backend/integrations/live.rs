//! The syncs a server runs, as they go: what Manage shows while one runs
//! (the phase, people and pages read, contacts written of those to write)
//! and Cancel. The server running a sync keeps its progress in memory; on
//! PostgreSQL, where several servers may share the database, it also writes
//! it to the sync's run every second, and reads from there whether another
//! server was asked to cancel it. (On SQLite, one server holds the database,
//! and the apply's transaction holds the only write lock: nothing is written
//! meanwhile.)

use crate::backend::db::entities::{sync_run, SyncRun};
use crate::backend::domain::OrgId;
use crate::model::{AppError, Integration, IntegrationStatus, SyncPhase, SyncProgress, SyncStatus};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter, QueryOrder};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// One running sync's progress, updated by the sync as it goes.
#[derive(Default)]
pub struct Live {
    applying: AtomicBool,
    read: AtomicU64,
    pages: Arc<AtomicU64>,
    applied: AtomicU64,
    total: AtomicU64,
    cancel: CancellationToken,
    /// Cancelled because the server is stopping, not by an administrator.
    stopping: AtomicBool,
    /// Gives the memory freed so far back to the system (see [`RunningSyncs`]).
    release: Option<fn()>,
}

impl Live {
    pub fn snapshot(&self) -> SyncProgress {
        SyncProgress {
            phase: if self.applying.load(Ordering::Relaxed) {
                SyncPhase::Applying
            } else {
                SyncPhase::Reading
            },
            read: self.read.load(Ordering::Relaxed),
            pages: self.pages.load(Ordering::Relaxed),
            applied: self.applied.load(Ordering::Relaxed),
            total: self.total.load(Ordering::Relaxed),
            cancelling: self.cancel.is_cancelled(),
        }
    }

    /// One more person read; returns how many have been read.
    pub fn person_read(&self) -> u64 {
        self.read.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// A phase has ended and freed what it held: give it back to the system
    /// now, so that the next phase's peak does not come on top of it.
    pub fn release_memory(&self) {
        if let Some(f) = self.release {
            f();
        }
    }

    /// The counter of answers the source's client has read (pages).
    pub fn page_counter(&self) -> Arc<AtomicU64> {
        self.pages.clone()
    }

    /// The read is done: `total` contacts to write.
    pub fn applying(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
        self.applying.store(true, Ordering::Relaxed);
    }

    pub fn wrote(&self, n: u64) {
        self.applied.fetch_add(n, Ordering::Relaxed);
    }

    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Stop it because the server is stopping: it ends as interrupted, to be
    /// tried again at once (by this server once it is back, or another).
    fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.cancel.cancel();
    }

    /// Whether it was stopped by the server stopping (see [`RunningSyncs::stop_all`]).
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Resolves once Cancel was asked for.
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await
    }

    /// Stop here if Cancel was asked for: the caller's transaction, if any,
    /// is dropped unfinished and rolls back.
    pub fn check(&self) -> Result<(), Cancelled> {
        if self.is_cancelled() {
            Err(Cancelled)
        } else {
            Ok(())
        }
    }
}

/// The sync was cancelled before it changed anything.
#[derive(Debug)]
pub struct Cancelled;

/// The syncs this server runs, by integration.
#[derive(Default)]
pub struct RunningSyncs {
    running: Mutex<HashMap<i64, Arc<Live>>>,
    /// The server is stopping: every sync, running or registered from now
    /// on, stops as interrupted.
    stopping: AtomicBool,
    /// Gives the memory the process freed back to the system: called
    /// between a sync's phases and when the last running sync has ended.
    release: Option<fn()>,
}

impl RunningSyncs {
    /// With `f` to give freed memory back to the system.
    pub fn releasing_memory_with(f: fn()) -> Self {
        Self {
            release: Some(f),
            ..Self::default()
        }
    }

    /// Follow the sync of integration `id` until the guard is dropped.
    pub fn register(self: &Arc<Self>, id: i64) -> (Arc<Live>, Registered) {
        let live = Arc::new(Live {
            release: self.release,
            ..Live::default()
        });
        let mut running = self.running.lock().expect("never poisoned");
        // Read under the lock that `stop_all` takes: no sync slips past it.
        if self.stopping.load(Ordering::SeqCst) {
            live.stop();
        }
        running.insert(id, live.clone());
        drop(running);
        (
            live,
            Registered {
                syncs: self.clone(),
                id,
            },
        )
    }

    /// The server is stopping: stop every running sync (each rolls back what
    /// it had not committed and is recorded as interrupted, to be tried again
    /// at once), and every sync started from now on.
    pub fn stop_all(&self) {
        let running = self.running.lock().expect("never poisoned");
        self.stopping.store(true, Ordering::SeqCst);
        for live in running.values() {
            live.stop();
        }
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Wait until no sync runs here.
    pub async fn idle(&self) {
        while !self.running.lock().expect("never poisoned").is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn get(&self, id: i64) -> Option<Arc<Live>> {
        self.running
            .lock()
            .expect("never poisoned")
            .get(&id)
            .cloned()
    }
}

/// Takes the sync off [`RunningSyncs`] when dropped.
pub struct Registered {
    syncs: Arc<RunningSyncs>,
    id: i64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        let last = match self.syncs.running.lock() {
            Ok(mut map) => {
                map.remove(&self.id);
                map.is_empty()
            }
            Err(_) => false,
        };
        if let (true, Some(f)) = (last, self.syncs.release) {
            f();
        }
    }
}

/// On PostgreSQL, write `live` to run `run` every second, and cancel it when
/// another server was asked to. Runs until aborted.
pub async fn publish(db: DatabaseConnection, run: i64, live: Arc<Live>) {
    if db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let p = live.snapshot();
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let written = SyncRun::update_many()
            .col_expr(sync_run::Column::Phase, Expr::value(p.phase.as_str()))
            .col_expr(sync_run::Column::People, Expr::value(n(p.read)))
            .col_expr(sync_run::Column::Pages, Expr::value(n(p.pages)))
            .col_expr(sync_run::Column::Applied, Expr::value(n(p.applied)))
            .col_expr(sync_run::Column::Total, Expr::value(n(p.total)))
            .filter(sync_run::Column::Id.eq(run))
            .filter(sync_run::Column::Status.eq(SyncStatus::Running.as_str()))
            .exec(&db)
            .await;
        if let Err(e) = written {
            tracing::warn!(run, "writing a sync's progress: {e}");
            continue;
        }
        match SyncRun::find_by_id(run).one(&db).await {
            Ok(Some(r)) if r.cancel_requested => live.cancel(),
            Ok(_) => {}
            Err(e) => tracing::warn!(run, "reading a sync's cancel request: {e}"),
        }
    }
}

/// Fill in the progress of those of `list` that are syncing: from this
/// server's memory, or from the database for a sync another server runs.
pub async fn attach(
    db: &DatabaseConnection,
    syncs: &RunningSyncs,
    org: OrgId,
    list: &mut [Integration],
) -> Result<(), AppError> {
    for i in list
        .iter_mut()
        .filter(|i| i.status == IntegrationStatus::Syncing)
    {
        i.progress = match syncs.get(i.id) {
            Some(live) => Some(live.snapshot()),
            None => running_run(db, org, i.id).await?.map(|r| SyncProgress {
                phase: r
                    .phase
                    .as_deref()
                    .and_then(SyncPhase::parse)
                    .unwrap_or(SyncPhase::Reading),
                read: u64::try_from(r.people).unwrap_or(0),
                pages: u64::try_from(r.pages).unwrap_or(0),
                applied: u64::try_from(r.applied).unwrap_or(0),
                total: u64::try_from(r.total).unwrap_or(0),
                cancelling: r.cancel_requested,
            }),
        };
    }
    Ok(())
}

async fn running_run(
    db: &DatabaseConnection,
    org: OrgId,
    id: i64,
) -> Result<Option<sync_run::Model>, AppError> {
    Ok(SyncRun::find()
        .filter(sync_run::Column::OrgId.eq(org.get()))
        .filter(sync_run::Column::IntegrationId.eq(id))
        .filter(sync_run::Column::Status.eq(SyncStatus::Running.as_str()))
        .order_by_desc(sync_run::Column::Id)
        .one(db)
        .await?)
}

/// Cancel the running sync of integration `id` (of `org`): at once if this
/// server runs it, else by asking the server that does, through its run.
pub async fn cancel(
    db: &DatabaseConnection,
    syncs: &RunningSyncs,
    org: OrgId,
    id: i64,
) -> Result<(), AppError> {
    if super::get(db, org, id).await?.status != IntegrationStatus::Syncing {
        return Err(AppError::Conflict(
            "No sync of this integration is running.".into(),
        ));
    }
    if let Some(live) = syncs.get(id) {
        live.cancel();
        return Ok(());
    }
    let asked = SyncRun::update_many()
        .col_expr(sync_run::Column::CancelRequested, Expr::value(true))
        .filter(sync_run::Column::OrgId.eq(org.get()))
        .filter(sync_run::Column::IntegrationId.eq(id))
        .filter(sync_run::Column::Status.eq(SyncStatus::Running.as_str()))
        .exec(db)
        .await?;
    if asked.rows_affected == 0 {
        return Err(AppError::Conflict(
            "No sync of this integration is running.".into(),
        ));
    }
    Ok(())
}
