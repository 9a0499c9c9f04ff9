//! The sign-in throttle's failure counts kept in the database, so that every
//! server on it counts the same failures: behind a load balancer, an attacker
//! gets no more tries by reaching several servers. Used on PostgreSQL (the
//! database several servers share); on SQLite the throttle counts in memory.
//!
//! Keys are hashes of what is counted (an email, an address, the pair, a
//! browser), so the table holds no email or address. Each count is added to
//! and read in one statement, so attempts on different servers at once are
//! all counted. Windows past their end are deleted as the table is used.

use super::device::DeviceId;
use crate::backend::db::entities::sign_in_failure::{self, Column as F};
use crate::backend::db::now_ms;
use crate::model::AppError;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// What a count is kept for.
pub(super) enum Counted<'a> {
    Pair(&'a str, IpAddr),
    Address(IpAddr),
    Email(&'a str),
    Device(&'a DeviceId),
}

impl Counted<'_> {
    pub(super) fn key(&self) -> String {
        let text = match self {
            Self::Pair(email, address) => format!("pair\0{email}\0{address}"),
            Self::Address(address) => format!("address\0{address}"),
            Self::Email(email) => format!("email\0{email}"),
            Self::Device(device) => format!("device\0{}", hex(device.as_slice())),
        };
        hex(&Sha256::digest(text.as_bytes()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub struct SharedFailures {
    db: DatabaseConnection,
    window_ms: i64,
    /// When this server last deleted ended windows.
    swept_at: AtomicI64,
}

impl SharedFailures {
    pub fn new(db: DatabaseConnection, window: Duration) -> Self {
        Self {
            db,
            window_ms: window.as_millis() as i64,
            swept_at: AtomicI64::new(0),
        }
    }

    /// Count one more failure of `key`: its failures in its window, this one
    /// included, and how long the window has left.
    pub(super) async fn add(&self, key: &str) -> Result<(u32, Duration), AppError> {
        let now = now_ms();
        self.sweep(now).await;
        let ended = Expr::col((sign_in_failure::Entity, F::FirstAt)).lt(now - self.window_ms);
        let row = sign_in_failure::ActiveModel {
            key: Set(key.to_string()),
            failures: Set(1),
            first_at: Set(now),
        };
        // A window that has ended starts again with this failure.
        let counted = sign_in_failure::Entity::insert(row)
            .on_conflict(
                OnConflict::column(F::Key)
                    .value(
                        F::Failures,
                        Expr::case(ended.clone(), 1)
                            .finally(Expr::col((sign_in_failure::Entity, F::Failures)).add(1)),
                    )
                    .value(
                        F::FirstAt,
                        Expr::case(ended, now)
                            .finally(Expr::col((sign_in_failure::Entity, F::FirstAt))),
                    )
                    .to_owned(),
            )
            .exec_with_returning(&self.db)
            .await?;
        let left = (counted.first_at + self.window_ms - now).clamp(0, self.window_ms);
        Ok((
            u32::try_from(counted.failures).unwrap_or(u32::MAX),
            Duration::from_millis(left as u64),
        ))
    }

    /// Take back one failure of `key` (an attempt refused, or one that
    /// succeeded and counts against its address no more).
    pub(super) async fn take_back(&self, key: &str) {
        let taken = sign_in_failure::Entity::update_many()
            .col_expr(F::Failures, Expr::col(F::Failures).sub(1))
            .filter(F::Key.eq(key))
            .filter(F::Failures.gt(0))
            .exec(&self.db)
            .await;
        if let Err(e) = taken {
            tracing::warn!("taking back a counted sign-in: {e}");
        }
    }

    /// Forget the failures of `keys` (a sign-in succeeded).
    pub(super) async fn forget(&self, keys: &[String]) {
        let forgotten = sign_in_failure::Entity::delete_many()
            .filter(F::Key.is_in(keys.iter().map(String::as_str)))
            .exec(&self.db)
            .await;
        if let Err(e) = forgotten {
            tracing::warn!("forgetting failed sign-ins: {e}");
        }
    }

    /// Delete the windows that have ended, at most once a minute per server.
    async fn sweep(&self, now: i64) {
        let last = self.swept_at.load(Ordering::Relaxed);
        if now - last < 60_000
            || self
                .swept_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let swept = sign_in_failure::Entity::delete_many()
            .filter(F::FirstAt.lt(now - self.window_ms))
            .exec(&self.db)
            .await;
        if let Err(e) = swept {
            tracing::warn!("deleting ended sign-in windows: {e}");
        }
    }
}
