//! How fast one SCIM token may send requests: a sustained rate with a burst,
//! per token (GCRA, from `governor`), so that one identity provider's runaway
//! client cannot take the server from the others or from the people using
//! Muster. Over it, a request is answered 429 with `Retry-After` in whole
//! seconds, which both Entra ID and Okta honour before they retry. A token
//! takes a few bytes of state; tokens are as many as the database holds.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::time::Duration;

/// Requests per second per token, sustained, unless configured
/// (`MUSTER_SCIM_REQUESTS_PER_SECOND`); a burst may send twice as many at once.
pub const DEFAULT_PER_SECOND: u32 = 100;

pub struct ScimRate {
    limiter: Option<DefaultKeyedRateLimiter<i64>>,
    per_second: u32,
}

impl Default for ScimRate {
    fn default() -> Self {
        Self::per_second(DEFAULT_PER_SECOND)
    }
}

impl ScimRate {
    /// `per_second` requests a second per token, and bursts of twice that;
    /// 0 for no limit.
    pub fn per_second(per_second: u32) -> Self {
        let limiter = NonZeroU32::new(per_second).map(|rate| {
            let burst = rate.saturating_mul(NonZeroU32::new(2).expect("two"));
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Self {
            limiter,
            per_second,
        }
    }

    /// The sustained rate, 0 when unlimited.
    pub fn rate(&self) -> u32 {
        self.per_second
    }

    /// Count a request of `token`: `Err` with how long to wait when it is
    /// over its rate (at least a second, rounded up).
    pub fn check(&self, token: i64) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter.check_key(&token).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            Duration::from_secs(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
                .max(Duration::from_secs(1))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_a_wait_per_token() {
        let rate = ScimRate::per_second(5);
        for _ in 0..10 {
            assert_eq!(rate.check(1), Ok(()));
        }
        let wait = rate.check(1).unwrap_err();
        assert!(
            wait >= Duration::from_secs(1) && wait <= Duration::from_secs(2),
            "{wait:?}"
        );
        // Another token is not held up.
        assert_eq!(rate.check(2), Ok(()));
    }

    #[test]
    fn zero_is_no_limit() {
        let rate = ScimRate::per_second(0);
        for _ in 0..10_000 {
            assert_eq!(rate.check(1), Ok(()));
        }
    }
}
