//! Slows and then refuses repeated failed sign-ins for one email address.

use crate::model::AppError;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed before each further attempt is delayed.
const FREE_FAILURES: u32 = 3;
/// Failures within the window after which sign-in is refused until it ends.
const LOCK_AFTER: u32 = 10;
const WINDOW: Duration = Duration::from_secs(15 * 60);

#[derive(Default)]
pub struct LoginThrottle {
    entries: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    failures: u32,
    first_failure: Instant,
}

impl LoginThrottle {
    /// Refuse when this email has failed too often within the window.
    pub fn check(&self, key: &str) -> Result<(), AppError> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = entries.get(key) {
            let elapsed = e.first_failure.elapsed();
            if elapsed >= WINDOW {
                entries.remove(key);
            } else if e.failures >= LOCK_AFTER {
                let minutes = (WINDOW - elapsed).as_secs().div_ceil(60);
                return Err(AppError::TooManyAttempts(format!(
                    "Too many failed sign-ins for this email. Try again in {minutes} minute{}.",
                    if minutes == 1 { "" } else { "s" }
                )));
            }
        }
        Ok(())
    }

    /// Record a failure; returns how long to wait before answering.
    pub fn failed(&self, key: &str) -> Duration {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() > 100_000 {
            entries.retain(|_, e| e.first_failure.elapsed() < WINDOW);
        }
        let e = entries.entry(key.to_string()).or_insert(Entry {
            failures: 0,
            first_failure: Instant::now(),
        });
        e.failures += 1;
        let extra = e.failures.saturating_sub(FREE_FAILURES);
        Duration::from_millis(u64::from(extra.min(5)) * 400)
    }

    pub fn succeeded(&self, key: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slows_then_refuses() {
        let t = LoginThrottle::default();
        for _ in 0..FREE_FAILURES {
            assert_eq!(t.failed("a"), Duration::ZERO);
        }
        assert!(t.failed("a") > Duration::ZERO);
        for _ in 0..LOCK_AFTER {
            t.failed("a");
        }
        let err = t.check("a").unwrap_err();
        assert!(
            matches!(err, AppError::TooManyAttempts(m) if m.contains("Try again in 15 minutes"))
        );
        assert!(t.check("b").is_ok());
        t.succeeded("a");
        assert!(t.check("a").is_ok());
    }
}
