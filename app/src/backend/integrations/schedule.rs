//! Syncs that start by themselves: daily at a time of day in the
//! organisation's time zone, and again after a failure that may pass.
//!
//! Each integration's next sync is a moment in the database
//! (`next_sync_at`), so that any server may start it, and a sync that fell
//! due while no server ran starts when one does. Every server looks for due
//! syncs regularly ([`spawn_scheduler`]) and claims each with one
//! conditional update naming the due moment it saw: of several servers, or
//! of a server and a sync that ended meanwhile, exactly one wins.

use super::live::RunningSyncs;
use super::{claim, spawn_run, Claim};
use crate::backend::connectors::HttpConfig;
use crate::backend::db::entities::{integration, Organisation};
use crate::backend::db::{from_ms, now_ms};
use crate::backend::domain::OrgId;
use crate::backend::vault::Vault;
use crate::model::{AppError, IntegrationStatus, SyncResult, SyncTrigger};
use chrono::{DateTime, Days, LocalResult, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Minutes in a day.
pub const DAY: i64 = 24 * 60;
/// Daily syncs are spread over the first six hours of the night.
const NIGHT: i64 = 6 * 60;

/// A new integration's time of day (minutes after midnight): spread through
/// the night, so that an organisation's integrations do not all start at once.
pub fn night_minute(id: i64) -> i64 {
    (id * 127).rem_euclid(NIGHT)
}

/// A time zone by its IANA name; UTC for a name this build does not know.
pub fn zone(name: &str) -> Tz {
    name.parse().unwrap_or(chrono_tz::UTC)
}

/// `minute` (minutes after midnight) as a clock reads it: "02:07".
pub fn clock(minute: i64) -> String {
    let m = minute.rem_euclid(DAY);
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// A clock time typed as "HH:MM" as minutes after midnight.
pub fn parse_clock(text: &str) -> Option<i64> {
    let t = NaiveTime::parse_from_str(text.trim(), "%H:%M").ok()?;
    Some(i64::from(chrono::Timelike::num_seconds_from_midnight(&t)) / 60)
}

/// The first moment after `after` when the clocks of `zone` read `minute`.
/// On a day when clocks jump over that time, the first moment they show
/// after it; on a day when it comes twice, the first of the two.
pub fn next_daily(minute: i64, zone: Tz, after: DateTime<Utc>) -> DateTime<Utc> {
    let secs = (minute.rem_euclid(DAY) * 60) as u32;
    let time = NaiveTime::from_num_seconds_from_midnight_opt(secs, 0).expect("within a day");
    let today = after.with_timezone(&zone).date_naive();
    (0..3)
        .filter_map(|d| today.checked_add_days(Days::new(d)))
        .map(|day| local(zone, day.and_time(time)))
        .find(|at| *at > after)
        .unwrap_or(after + chrono::Duration::days(1))
}

fn local(zone: Tz, at: NaiveDateTime) -> DateTime<Utc> {
    match zone.from_local_datetime(&at) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        // In a gap: the clocks' first minute after it.
        LocalResult::None => (1..=DAY)
            .map(|m| at + chrono::Duration::minutes(m))
            .find_map(|n| zone.from_local_datetime(&n).earliest())
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&at)),
    }
}

/// The next daily sync after now, at `minute` on the clocks of `org`.
pub async fn next_daily_of(
    db: &impl ConnectionTrait,
    org: OrgId,
    minute: i64,
) -> Result<DateTime<Utc>, AppError> {
    let zone = zone(&crate::backend::auth::org(db, org).await?.time_zone);
    Ok(next_daily(minute, zone, Utc::now()))
}

/// How a sync ended, as its integration records it.
pub enum Ended<'a> {
    Succeeded(&'a SyncResult),
    /// Failed; `may_pass`: a later try may succeed (network, timeouts, 5xx,
    /// rate limits), else it needs someone to act.
    Failed {
        message: &'a str,
        may_pass: bool,
    },
    /// Cancelled by an administrator; it changed nothing.
    Cancelled,
    /// Stopped with the server before it changed anything: tried again at
    /// once, as a retry.
    Interrupted,
}

/// What an integration shows after a sync stopped with its server.
pub const INTERRUPTED: &str =
    "The sync was interrupted: the server running it stopped. It starts again at once.";

/// What an integration becomes after a sync that was retry `attempt` (0: not
/// a retry) ended as `ended`: its status, and its next sync with the retries
/// scheduled so far. Retries follow `delays`, for failures that may pass.
pub fn next_after(
    ended: &Ended,
    attempt: u32,
    delays: &[Duration],
    daily: DateTime<Utc>,
    now: DateTime<Utc>,
) -> (IntegrationStatus, DateTime<Utc>, u32) {
    match ended {
        Ended::Succeeded(_) | Ended::Cancelled => (IntegrationStatus::Connected, daily, 0),
        Ended::Failed { may_pass: true, .. } => match delays.get(attempt as usize) {
            Some(delay) => (
                IntegrationStatus::Failed,
                now + chrono::Duration::from_std(*delay).unwrap_or(chrono::Duration::MAX),
                attempt + 1,
            ),
            None => (IntegrationStatus::Failed, daily, 0),
        },
        Ended::Failed {
            may_pass: false, ..
        } => (IntegrationStatus::NeedsAttention, daily, 0),
        Ended::Interrupted if (attempt as usize) < delays.len() => {
            (IntegrationStatus::Failed, now, attempt + 1)
        }
        Ended::Interrupted => (IntegrationStatus::Failed, daily, 0),
    }
}

/// Record on integration `id` how its sync (retry `attempt`) ended: status,
/// error or counts, and when it syncs next.
pub async fn record_end(
    db: &impl ConnectionTrait,
    org: OrgId,
    id: i64,
    attempt: u32,
    ended: Ended<'_>,
    delays: &[Duration],
) -> Result<(), AppError> {
    let row = super::find(org, id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound)?;
    let daily = next_daily_of(db, org, row.sync_minute).await?;
    let now = Utc::now();
    let (status, next, retries) = next_after(&ended, attempt, delays, daily, now);
    let mut update = integration::Entity::update_many()
        .col_expr(integration::Column::Status, Expr::value(status.as_str()))
        .col_expr(
            integration::Column::UpdatedAt,
            Expr::value(now.timestamp_millis()),
        )
        .col_expr(
            integration::Column::NextSyncAt,
            Expr::value(next.timestamp_millis()),
        )
        .col_expr(
            integration::Column::Retries,
            Expr::value(i64::from(retries)),
        );
    let synced = |u: sea_orm::UpdateMany<integration::Entity>| {
        u.col_expr(
            integration::Column::LastSyncAt,
            Expr::value(now.timestamp_millis()),
        )
    };
    update = match ended {
        Ended::Succeeded(result) => synced(update)
            .col_expr(integration::Column::LastError, Expr::value(None::<String>))
            .col_expr(
                integration::Column::LastResult,
                Expr::value(super::json(result)),
            ),
        Ended::Failed { message, .. } => {
            synced(update).col_expr(integration::Column::LastError, Expr::value(message))
        }
        Ended::Interrupted => {
            synced(update).col_expr(integration::Column::LastError, Expr::value(INTERRUPTED))
        }
        // As it was before: the last sync is still the one before.
        Ended::Cancelled => update,
    };
    update
        .filter(integration::Column::Id.eq(id))
        .filter(integration::Column::OrgId.eq(org.get()))
        .exec(db)
        .await?;
    Ok(())
}

/// Give every integration without a next sync (new, or out of retries after
/// an interrupted sync) its next daily one.
pub async fn fill_unscheduled(db: &impl ConnectionTrait) -> Result<(), AppError> {
    let rows: Vec<(i64, i64, i64)> = integration::Entity::find()
        .select_only()
        .columns([
            integration::Column::Id,
            integration::Column::OrgId,
            integration::Column::SyncMinute,
        ])
        .filter(integration::Column::NextSyncAt.is_null())
        .filter(integration::Column::Status.ne(IntegrationStatus::Syncing.as_str()))
        .into_tuple()
        .all(db)
        .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let zones: HashMap<i64, Tz> = Organisation::find()
        .filter(
            crate::backend::db::entities::organisation::Column::Id
                .is_in(rows.iter().map(|(_, org, _)| *org).collect::<Vec<_>>()),
        )
        .all(db)
        .await?
        .into_iter()
        .map(|o| (o.id, zone(&o.time_zone)))
        .collect();
    let now = Utc::now();
    for (id, org, minute) in rows {
        let tz = zones.get(&org).copied().unwrap_or(chrono_tz::UTC);
        integration::Entity::update_many()
            .col_expr(
                integration::Column::NextSyncAt,
                Expr::value(next_daily(minute, tz, now).timestamp_millis()),
            )
            .filter(integration::Column::Id.eq(id))
            .filter(integration::Column::OrgId.eq(org))
            .filter(integration::Column::NextSyncAt.is_null())
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Starts the syncs that are due, on this server.
#[derive(Clone)]
pub struct Scheduler {
    pub db: DatabaseConnection,
    pub vault: Arc<Vault>,
    pub http: HttpConfig,
    /// A sync whose heartbeat is older than this is not running any more.
    pub stale_after: Duration,
    /// How often this server looks for due syncs (`MUSTER_SYNC_TICK_SECONDS`).
    pub tick: Duration,
    /// Scheduled syncs this server runs at once at most
    /// (`MUSTER_SYNCS_PER_SERVER`); others wait for the next look, or
    /// another server.
    pub per_server: usize,
    /// The syncs this server runs (their progress, and Cancel).
    pub syncs: Arc<RunningSyncs>,
    running: Arc<AtomicUsize>,
}

impl Scheduler {
    pub fn new(
        db: DatabaseConnection,
        vault: Arc<Vault>,
        http: HttpConfig,
        syncs: Arc<RunningSyncs>,
        stale_after: Duration,
        tick: Duration,
        per_server: usize,
    ) -> Self {
        Self {
            db,
            vault,
            http,
            syncs,
            stale_after,
            tick,
            per_server: per_server.max(1),
            running: Arc::default(),
        }
    }

    /// Look for due syncs now and every `tick`, and start them.
    pub fn spawn(self) {
        crate::backend::db::every(self.tick, "starting due syncs", move || {
            let this = self.clone();
            async move { this.start_due().await.map(|_| ()) }
        });
    }

    /// Start the syncs that are due, as many as this server has room for;
    /// returns how many it started.
    pub async fn start_due(&self) -> Result<usize, AppError> {
        if self.syncs.is_stopping() {
            return Ok(0);
        }
        fill_unscheduled(&self.db).await?;
        let room = self
            .per_server
            .saturating_sub(self.running.load(Ordering::SeqCst));
        if room == 0 {
            return Ok(0);
        }
        let now = now_ms();
        let due: Vec<(i64, i64, i64, i64)> = integration::Entity::find()
            .select_only()
            .columns([
                integration::Column::Id,
                integration::Column::OrgId,
                integration::Column::NextSyncAt,
                integration::Column::Retries,
            ])
            .filter(integration::Column::NextSyncAt.lte(now))
            .filter(super::running(now, self.stale_after).not())
            .order_by_asc(integration::Column::NextSyncAt)
            .limit(room as u64 * 4)
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut started = 0;
        for (id, org, due_at, retries) in due {
            if self.running.load(Ordering::SeqCst) >= self.per_server {
                break;
            }
            let org = OrgId::trusted(org);
            match claim(
                &self.db,
                org,
                id,
                self.stale_after,
                self.http.syncs_per_org,
                Some(due_at),
            )
            .await?
            {
                Claim::Claimed => {}
                // Taken by another server, ended meanwhile, or its
                // organisation is busy: looked at again next time.
                Claim::Running | Claim::OrgBusy(_) => continue,
            }
            let attempt = u32::try_from(retries).unwrap_or(0);
            let trigger = if attempt > 0 {
                SyncTrigger::Retry
            } else {
                SyncTrigger::Schedule
            };
            tracing::info!(
                org = org.get(),
                integration = id,
                due = %from_ms(due_at),
                trigger = trigger.as_str(),
                attempt,
                "starting a due sync"
            );
            self.running.fetch_add(1, Ordering::SeqCst);
            let running = self.running.clone();
            spawn_run(
                self.db.clone(),
                self.vault.clone(),
                self.http.clone(),
                self.syncs.clone(),
                org,
                id,
                trigger,
                attempt,
                self.stale_after,
                move || {
                    running.fetch_sub(1, Ordering::SeqCst);
                },
            );
            started += 1;
        }
        Ok(started)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_daily_time_is_read_on_the_organisations_clocks() {
        let paris = zone("Europe/Paris");
        // 02:07 in Paris in winter is 01:07 UTC; asked at 00:30 UTC, today's.
        assert_eq!(
            next_daily(127, paris, utc("2026-12-02T00:30:00Z")),
            utc("2026-12-02T01:07:00Z")
        );
        // Asked just after it: tomorrow's.
        assert_eq!(
            next_daily(127, paris, utc("2026-12-02T01:07:00Z")),
            utc("2026-12-03T01:07:00Z")
        );
        // Summer time: 02:07 is 00:07 UTC.
        assert_eq!(
            next_daily(127, paris, utc("2026-07-01T12:00:00Z")),
            utc("2026-07-02T00:07:00Z")
        );
        // The local day differs from UTC's: 23:30 in Auckland (UTC+13 in
        // December) is 10:30 UTC the same day.
        assert_eq!(
            next_daily(
                23 * 60 + 30,
                zone("Pacific/Auckland"),
                utc("2026-12-02T09:00:00Z")
            ),
            utc("2026-12-02T10:30:00Z")
        );
        assert_eq!(zone("Nowhere/Else"), chrono_tz::UTC);
    }

    #[test]
    fn a_time_the_clocks_skip_or_repeat_is_still_a_day_s_one_sync() {
        let paris = zone("Europe/Paris");
        // 29 March 2026: Paris goes from 02:00 to 03:00; 02:30 does not
        // exist, so the sync is at 03:00 (01:00 UTC), once.
        assert_eq!(
            next_daily(150, paris, utc("2026-03-28T23:00:00Z")),
            utc("2026-03-29T01:00:00Z")
        );
        // 25 October 2026: 02:30 comes twice; the first (00:30 UTC).
        assert_eq!(
            next_daily(150, paris, utc("2026-10-24T23:00:00Z")),
            utc("2026-10-25T00:30:00Z")
        );
        assert_eq!(
            next_daily(150, paris, utc("2026-10-25T00:30:00Z")),
            utc("2026-10-26T01:30:00Z")
        );
    }

    #[test]
    fn new_integrations_spread_through_the_night() {
        let minutes: Vec<i64> = (1..=20).map(night_minute).collect();
        assert!(minutes.iter().all(|m| (0..NIGHT).contains(m)));
        let mut distinct = minutes.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 20, "{minutes:?}");
        assert_eq!(clock(127), "02:07");
        assert_eq!(parse_clock("02:07"), Some(127));
        assert_eq!(parse_clock(" 23:59 "), Some(DAY - 1));
        for bad in ["24:00", "2pm", "", "02:7x"] {
            assert_eq!(parse_clock(bad), None, "{bad}");
        }
    }

    #[test]
    fn failures_that_may_pass_are_retried_then_wait_for_the_day() {
        let now = utc("2026-12-02T10:00:00Z");
        let daily = utc("2026-12-03T01:07:00Z");
        let delays = [
            Duration::from_secs(300),
            Duration::from_secs(1800),
            Duration::from_secs(7200),
        ];
        let passing = Ended::Failed {
            message: "503",
            may_pass: true,
        };
        let mut attempt = 0;
        let mut seen = Vec::new();
        loop {
            let (status, next, retries) = next_after(&passing, attempt, &delays, daily, now);
            assert_eq!(status, IntegrationStatus::Failed);
            seen.push((next - now).num_minutes());
            if retries == 0 {
                assert_eq!(next, daily);
                break;
            }
            assert_eq!(retries, attempt + 1);
            attempt = retries;
        }
        assert_eq!(seen, vec![5, 30, 120, (daily - now).num_minutes()]);
        let refused = Ended::Failed {
            message: "401",
            may_pass: false,
        };
        assert_eq!(
            next_after(&refused, 0, &delays, daily, now),
            (IntegrationStatus::NeedsAttention, daily, 0)
        );
        // Stopped with its server: again at once, as a retry, while retries last.
        assert_eq!(
            next_after(&Ended::Interrupted, 0, &delays, daily, now),
            (IntegrationStatus::Failed, now, 1)
        );
        assert_eq!(
            next_after(&Ended::Interrupted, 3, &delays, daily, now),
            (IntegrationStatus::Failed, daily, 0)
        );
        let ok = SyncResult::default();
        assert_eq!(
            next_after(&Ended::Succeeded(&ok), 2, &delays, daily, now),
            (IntegrationStatus::Connected, daily, 0)
        );
        // No retries configured: straight to the daily sync.
        assert_eq!(
            next_after(&passing, 0, &[], daily, now),
            (IntegrationStatus::Failed, daily, 0)
        );
    }
}
