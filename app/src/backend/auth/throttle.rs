//! Failed sign-ins, counted three ways so that guessing is slow and the real
//! administrator cannot be locked out by someone who does not know the password:
//!
//! - per email **and** client address: after [`PAIR_LOCK`] failures in the
//!   window, that address may not try that email until the window ends;
//! - per client address: after [`ADDRESS_LOCK`] failures, whatever the email
//!   (password spraying), that address may not try at all, and it may have
//!   only [`ADDRESS_IN_FLIGHT`] attempts running at once;
//! - per email, from every address: failures beyond [`FREE_FAILURES`] slow the
//!   answer to each further failure, but never lock, so the owner signing in
//!   from another address still gets in;
//! - per known browser (a valid device cookie for the email tried, see
//!   [`super::device`]): such an attempt is not held to its address's limits,
//!   only to its device's own: [`PAIR_LOCK`] failures and the device is
//!   trusted no more until the window ends (it is then an unknown browser),
//!   and [`ADDRESS_IN_FLIGHT`] attempts at once.
//!
//! An attempt is checked and counted in one step ([`LoginThrottle::begin`]):
//! it counts as failed from the start, so attempts sent in parallel cannot all
//! pass the check before any is counted; a success takes its count back.
//! Memory is bounded: keys are cut to [`KEY_MAX`] bytes, and each table holds
//! at most `capacity` entries (expired ones go first, then the oldest).
//!
//! On a database several servers share, the failures are also counted there
//! ([`Attempt::count_shared`], see [`super::shared_failures`]), so reaching
//! another server gives no more tries; the attempts running at once are
//! bounded per server.

use super::device::DeviceId;
use super::shared_failures::{Counted, SharedFailures};
use crate::model::AppError;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Failures of one email, from all addresses, before its failures are slowed.
pub const FREE_FAILURES: u32 = 3;
/// Failures of one email from one address within the window that lock the pair.
pub const PAIR_LOCK: u32 = 10;
/// Failures from one address within the window that lock the address.
pub const ADDRESS_LOCK: u32 = 50;
/// Attempts one address may have running at once.
pub const ADDRESS_IN_FLIGHT: u32 = 2;
/// Longest stored key (an email is at most 254 characters).
pub const KEY_MAX: usize = 320;
const WINDOW: Duration = Duration::from_secs(15 * 60);
const SLOWEST: Duration = Duration::from_secs(2);

pub struct LoginThrottle {
    tables: Mutex<Tables>,
    capacity: usize,
    shared: Option<SharedFailures>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self::with_capacity(100_000)
    }
}

#[derive(Default)]
struct Tables {
    pairs: Table<(String, IpAddr)>,
    addresses: Table<IpAddr>,
    emails: Table<String>,
    devices: Table<DeviceId>,
    in_flight: HashMap<Source, u32>,
}

/// Where an attempt comes from, as its running attempts are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Source {
    Address(IpAddr),
    Device(DeviceId),
}

struct Table<K> {
    entries: HashMap<K, Entry>,
}

impl<K> Default for Table<K> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
        }
    }
}

#[derive(Clone, Copy)]
struct Entry {
    failures: u32,
    first: Instant,
}

impl<K: Hash + Eq + Clone> Table<K> {
    /// Failures of `key` in the current window, and when that window ends.
    fn failures(&mut self, key: &K, now: Instant) -> (u32, Duration) {
        match self.entries.get(key) {
            Some(e) if now.duration_since(e.first) < WINDOW => {
                (e.failures, WINDOW - now.duration_since(e.first))
            }
            Some(_) => {
                self.entries.remove(key);
                (0, Duration::ZERO)
            }
            None => (0, Duration::ZERO),
        }
    }

    fn add(&mut self, key: K, now: Instant, capacity: usize) -> u32 {
        if !self.entries.contains_key(&key) && self.entries.len() >= capacity {
            self.make_room(now, capacity);
        }
        let e = self.entries.entry(key).or_insert(Entry {
            failures: 0,
            first: now,
        });
        if now.duration_since(e.first) >= WINDOW {
            *e = Entry {
                failures: 0,
                first: now,
            };
        }
        e.failures += 1;
        e.failures
    }

    fn take_back(&mut self, key: &K) {
        if let Some(e) = self.entries.get_mut(key) {
            e.failures = e.failures.saturating_sub(1);
            if e.failures == 0 {
                self.entries.remove(key);
            }
        }
    }

    /// Drop expired entries; if that is not enough, the oldest tenth.
    fn make_room(&mut self, now: Instant, capacity: usize) {
        self.entries
            .retain(|_, e| now.duration_since(e.first) < WINDOW);
        if self.entries.len() >= capacity {
            let mut firsts: Vec<Instant> = self.entries.values().map(|e| e.first).collect();
            let cut = (capacity / 10).max(1).min(firsts.len() - 1);
            let (_, nth, _) = firsts.select_nth_unstable(cut);
            let nth = *nth;
            self.entries.retain(|_, e| e.first > nth);
        }
    }
}

/// One sign-in attempt, counted as failed until [`Attempt::succeeded`].
/// Dropping it ends its place among its address's running attempts.
pub struct Attempt {
    throttle: Arc<LoginThrottle>,
    email: String,
    /// Where it comes from, as it is counted.
    source: Source,
    /// Its place among the running attempts, counted at [`LoginThrottle::begin`].
    running: Source,
    address: IpAddr,
    /// How long to wait before answering, if it fails.
    pub delay_if_failed: Duration,
    /// Its counts in the shared table, to forget if it succeeds.
    shared: Vec<String>,
}

impl LoginThrottle {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            tables: Mutex::new(Tables::default()),
            capacity: capacity.max(10),
            shared: None,
        }
    }

    /// The throttle for a server on `db`: its failures shared with every
    /// server on it when that is PostgreSQL.
    pub fn for_database(db: &sea_orm::DatabaseConnection) -> Self {
        let mut throttle = Self::default();
        if db.get_database_backend() == sea_orm::DbBackend::Postgres {
            throttle.shared = Some(SharedFailures::new(db.clone(), WINDOW));
        }
        throttle
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Check whether `email` may be tried from `address` now, and count the
    /// attempt, in one step. `device` is the browser's, when it brought a
    /// valid device cookie for this email.
    pub fn begin(
        self: &Arc<Self>,
        email: &str,
        address: IpAddr,
        device: Option<DeviceId>,
    ) -> Result<Attempt, AppError> {
        let email = key(email);
        let now = Instant::now();
        let capacity = self.capacity;
        let mut t = self.tables();
        let known = device.filter(|d| t.devices.failures(d, now).0 < PAIR_LOCK);
        let source = match known {
            Some(device) => Source::Device(device),
            None => {
                let pair = (email.clone(), address);
                let (pair_failures, pair_left) = t.pairs.failures(&pair, now);
                if pair_failures >= PAIR_LOCK {
                    return Err(locked("for this email from your network", pair_left));
                }
                let (address_failures, address_left) = t.addresses.failures(&address, now);
                if address_failures >= ADDRESS_LOCK {
                    return Err(locked("from your network", address_left));
                }
                Source::Address(address)
            }
        };
        let running = t.in_flight.entry(source).or_insert(0);
        if *running >= ADDRESS_IN_FLIGHT {
            return Err(busy());
        }
        *running += 1;
        match source {
            Source::Device(device) => {
                t.devices.add(device, now, capacity);
            }
            Source::Address(address) => {
                t.pairs.add((email.clone(), address), now, capacity);
                t.addresses.add(address, now, capacity);
            }
        }
        let email_failures = t.emails.add(email.clone(), now, capacity);
        // The count includes this attempt: it is the nth failure if it fails,
        // and the first FREE_FAILURES are answered at once.
        Ok(Attempt {
            throttle: self.clone(),
            email,
            source,
            running: source,
            address,
            delay_if_failed: delay_after(email_failures),
            shared: Vec::new(),
        })
    }

    /// How many keys the tables hold (for tests of the bound).
    pub fn len(&self) -> usize {
        let t = self.tables();
        t.pairs.entries.len()
            + t.addresses.entries.len()
            + t.emails.entries.len()
            + t.devices.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Attempt {
    /// Whether it came from a known browser (the gate gives those a lane of
    /// their own).
    pub fn from_known_device(&self) -> bool {
        matches!(self.source, Source::Device(_))
    }

    /// Count this attempt where every server on the database sees it (when
    /// the throttle is shared), and refuse it if the failures counted there,
    /// by any server, lock it. The local check of [`LoginThrottle::begin`]
    /// comes first and refuses what it knows without a query.
    pub async fn count_shared(mut self) -> Result<Self, AppError> {
        let Some(shared) = &self.throttle.shared else {
            return Ok(self);
        };
        if let Source::Device(device) = self.source {
            let key = Counted::Device(&device).key();
            let (failures, _) = shared.add(&key).await?;
            if failures <= PAIR_LOCK {
                self.shared.push(key);
            } else {
                // Past its failures on another server: trusted no more, as
                // [`LoginThrottle::begin`] treats it once its own table says
                // so, it is held to its address's limits.
                shared.take_back(&key).await;
                self.source = Source::Address(self.address);
            }
        }
        if let Source::Address(address) = self.source {
            let pair = Counted::Pair(&self.email, address).key();
            let (failures, left) = shared.add(&pair).await?;
            if failures > PAIR_LOCK {
                shared.take_back(&pair).await;
                return Err(locked("for this email from your network", left));
            }
            let from = Counted::Address(address).key();
            let (failures, left) = shared.add(&from).await?;
            if failures > ADDRESS_LOCK {
                shared.take_back(&from).await;
                shared.take_back(&pair).await;
                return Err(locked("from your network", left));
            }
            self.shared.extend([pair, from]);
        }
        let email = Counted::Email(&self.email).key();
        let (failures, _) = shared.add(&email).await?;
        self.delay_if_failed = self.delay_if_failed.max(delay_after(failures));
        self.shared.push(email);
        Ok(self)
    }

    /// The password was right: this attempt was no failure, and the email's
    /// and this pair's (or device's) earlier failures are forgotten.
    pub async fn succeeded(mut self) {
        {
            let mut t = self.throttle.tables();
            t.emails.entries.remove(&self.email);
            // As `begin` counted it here.
            match self.running {
                Source::Device(device) => {
                    t.devices.entries.remove(&device);
                }
                Source::Address(address) => {
                    t.pairs.entries.remove(&(self.email.clone(), address));
                    t.addresses.take_back(&address);
                }
            }
        }
        if let Some(shared) = &self.throttle.shared {
            let mut keys = std::mem::take(&mut self.shared);
            // The address keeps its other failures: only this one is taken back.
            if let Source::Address(address) = self.source {
                let from = Counted::Address(address).key();
                keys.retain(|k| *k != from);
                shared.take_back(&from).await;
            }
            shared.forget(&keys).await;
        }
    }
}

/// How long a failure waits before its answer when it is the email's
/// `failures`th: the first [`FREE_FAILURES`] are answered at once.
fn delay_after(failures: u32) -> Duration {
    let beyond = failures.saturating_sub(FREE_FAILURES);
    (Duration::from_millis(250) * beyond).min(SLOWEST)
}

impl Drop for Attempt {
    fn drop(&mut self) {
        let mut t = self.throttle.tables();
        if let Some(n) = t.in_flight.get_mut(&self.running) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                t.in_flight.remove(&self.running);
            }
        }
    }
}

/// An email as a key: trimmed, lower case, cut to [`KEY_MAX`] bytes.
fn key(email: &str) -> String {
    let mut k = email.trim().to_lowercase();
    if k.len() > KEY_MAX {
        let mut end = KEY_MAX;
        while !k.is_char_boundary(end) {
            end -= 1;
        }
        k.truncate(end);
    }
    k
}

fn locked(scope: &str, left: Duration) -> AppError {
    let minutes = left.as_secs().div_ceil(60).max(1);
    AppError::TooManyAttempts(format!(
        "Too many failed sign-ins {scope}. Try again in {minutes} minute{}.",
        if minutes == 1 { "" } else { "s" }
    ))
}

/// The answer when sign-in is busy (this address's attempts, or hashing).
pub fn busy() -> AppError {
    AppError::TooManyAttempts("Too many sign-in attempts, try again in a moment.".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn fail(t: &Arc<LoginThrottle>, email: &str, from: &str) -> Result<Duration, AppError> {
        t.begin(email, ip(from), None).map(|a| a.delay_if_failed)
    }

    #[tokio::test]
    async fn a_pair_locks_but_the_owner_elsewhere_gets_in() {
        let t = Arc::new(LoginThrottle::default());
        for n in 0..PAIR_LOCK {
            let delay = fail(&t, "Admin@Acme.example", "203.0.113.7").unwrap();
            if n < FREE_FAILURES {
                assert_eq!(delay, Duration::ZERO, "failure {n}");
            } else {
                assert!(delay > Duration::ZERO && delay <= SLOWEST, "failure {n}");
            }
        }
        let err = fail(&t, "admin@acme.example", "203.0.113.7").unwrap_err();
        assert!(
            matches!(&err, AppError::TooManyAttempts(m) if m.contains("Try again in 15 minutes")),
            "{err:?}"
        );
        // The owner, elsewhere: slowed at worst, never locked.
        let owner = t
            .begin("admin@acme.example", ip("198.51.100.20"), None)
            .unwrap();
        assert!(owner.delay_if_failed <= SLOWEST);
        owner.succeeded().await;
        // Success forgets the email's failures, not the attacker's lock.
        assert_eq!(
            fail(&t, "admin@acme.example", "198.51.100.20").unwrap(),
            Duration::ZERO
        );
        assert!(fail(&t, "admin@acme.example", "203.0.113.7").is_err());
    }

    #[test]
    fn spraying_many_emails_locks_the_address() {
        let t = Arc::new(LoginThrottle::default());
        for n in 0..ADDRESS_LOCK {
            fail(&t, &format!("user{n}@acme.example"), "203.0.113.7").unwrap();
        }
        let err = fail(&t, "someone@acme.example", "203.0.113.7").unwrap_err();
        assert!(matches!(&err, AppError::TooManyAttempts(m) if m.contains("from your network")));
        assert!(fail(&t, "someone@acme.example", "203.0.113.8").is_ok());
    }

    #[test]
    fn attempts_in_parallel_are_counted_before_any_ends() {
        let t = Arc::new(LoginThrottle::default());
        let a = t.begin("a@acme.example", ip("203.0.113.7"), None).unwrap();
        let b = t.begin("b@acme.example", ip("203.0.113.7"), None).unwrap();
        assert!(matches!(
            t.begin("c@acme.example", ip("203.0.113.7"), None),
            Err(AppError::TooManyAttempts(m)) if m.contains("in a moment")
        ));
        assert!(t.begin("c@acme.example", ip("203.0.113.9"), None).is_ok());
        drop(a);
        let c = t.begin("c@acme.example", ip("203.0.113.7"), None).unwrap();
        drop((b, c));

        // Threads racing on one pair: exactly PAIR_LOCK get through.
        let t = Arc::new(LoginThrottle::default());
        let passed = std::sync::atomic::AtomicU32::new(0);
        std::thread::scope(|s| {
            for _ in 0..64 {
                let (t, passed) = (&t, &passed);
                s.spawn(move || {
                    if let Ok(a) = t.begin("x@acme.example", ip("203.0.113.7"), None) {
                        passed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        drop(a);
                    }
                });
            }
        });
        let passed = passed.into_inner();
        assert!((1..=PAIR_LOCK).contains(&passed), "{passed}");
    }

    #[tokio::test]
    async fn a_known_browser_gets_in_from_a_locked_address_until_it_fails_too_often() {
        let t = Arc::new(LoginThrottle::default());
        let shared = "203.0.113.7";
        for n in 0..ADDRESS_LOCK {
            fail(&t, &format!("user{n}@acme.example"), shared).unwrap();
        }
        let owner = "admin@acme.example";
        assert!(fail(&t, owner, shared).is_err());
        // The same address, but the browser where the owner signed in before.
        let laptop: DeviceId = [1; 16];
        let known = t.begin(owner, ip(shared), Some(laptop)).unwrap();
        assert!(known.from_known_device());
        let also = t.begin(owner, ip(shared), Some(laptop)).unwrap();
        // Its own attempts at once are bounded like an address's.
        assert!(t.begin(owner, ip(shared), Some(laptop)).is_err());
        drop((known, also));
        // A stolen cookie guessing passwords: PAIR_LOCK failures, then it is
        // an unknown browser at a locked address.
        for _ in 1..PAIR_LOCK {
            t.begin(owner, ip("198.51.100.20"), Some(laptop)).unwrap();
        }
        let Err(err) = t.begin(owner, ip(shared), Some(laptop)) else {
            panic!("a device past its failures is trusted no more")
        };
        assert!(matches!(&err, AppError::TooManyAttempts(m) if m.contains("from your network")));
        // Another browser of the owner's is still known.
        let phone: DeviceId = [2; 16];
        let ok = t.begin(owner, ip(shared), Some(phone)).unwrap();
        assert!(ok.from_known_device());
        ok.succeeded().await;
        assert!(t.tables().in_flight.is_empty());
    }

    #[test]
    fn memory_is_bounded() {
        let t = Arc::new(LoginThrottle::with_capacity(1000));
        for n in 0..20_000u32 {
            let from = IpAddr::from(n.to_be_bytes());
            let email = format!("{}{n}@example.com", "x".repeat(2000));
            let _ = fail(&t, &email, &from.to_string());
        }
        assert!(t.len() <= 3 * 1000, "{}", t.len());
        assert!(t.tables().emails.entries.keys().all(|k| k.len() <= KEY_MAX));
        assert!(t.tables().in_flight.is_empty());
    }
}
