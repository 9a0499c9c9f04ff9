//! Argon2 is meant to be expensive (about 19 MB and tens of milliseconds a
//! hash): unbounded, a flood of sign-ins would take every core and as much
//! memory as it likes. At most one hash per core runs at once; a few more
//! attempts may wait briefly for their turn, and the rest are told to try
//! again in a moment at once, costing nothing.
//!
//! The hashes run on threads of the gate's own, one per slot, not on the
//! runtime's blocking pool: the allocator keeps a freed Argon2 block in the
//! arena of the thread that used it, so hashes spread over many pool threads
//! held about 19 MB per thread that ever hashed (measured: +500 MB after a
//! flood), while a fixed few threads hold at most one block each.
//!
//! Two lanes wait for the slots: one for browsers the administrator signed in
//! with before (a valid device cookie, see [`super::device`]) and one for
//! everyone else, each with its own bound on waiting attempts. A flood fills
//! only its own lane, and the slots are handed out in arrival order, so a known
//! browser waits behind at most that lane's bound of hashes, never refused
//! because strangers took every place.

use super::throttle::busy;
use crate::model::AppError;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

type Job = Box<dyn FnOnce() + Send>;

/// Which waiting line an attempt joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// A browser with a valid device cookie for the email it tries.
    Known,
    Anyone,
}

pub struct HashGate {
    /// The hashing threads' queue; they end when the gate is dropped.
    jobs: Mutex<mpsc::Sender<Job>>,
    permits: Semaphore,
    slots: usize,
    /// Attempts holding a place in each lane ([`Lane::Known`], [`Lane::Anyone`]).
    waiting: [AtomicUsize; 2],
    max_waiting: usize,
    max_wait: Duration,
    peak: AtomicUsize,
}

impl Default for HashGate {
    /// One hash per core; eight waiting per core, for at most 1.5 seconds.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(cores, cores * 8, Duration::from_millis(1500))
    }
}

impl HashGate {
    pub fn new(slots: usize, max_waiting: usize, max_wait: Duration) -> Self {
        let slots = slots.max(1);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..slots {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("password-hash-{n}"))
                .spawn(move || loop {
                    let job = match queue.lock() {
                        Ok(q) => q.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                });
            if let Err(e) = spawned {
                tracing::error!("could not start a password hashing thread: {e}");
            }
        }
        Self {
            jobs: Mutex::new(jobs),
            permits: Semaphore::new(slots),
            slots,
            waiting: [AtomicUsize::new(0), AtomicUsize::new(0)],
            max_waiting,
            max_wait,
            peak: AtomicUsize::new(0),
        }
    }

    /// Take a place in `lane`, or be told to try again in a moment when the
    /// lane is full. The place is held until the ticket runs its hash or is
    /// dropped: taking it first, before any other work, is what keeps a flood
    /// cheap.
    pub fn enter(self: &Arc<Self>, lane: Lane) -> Result<Ticket, AppError> {
        let waiting = &self.waiting[lane as usize];
        if waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
            waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(busy());
        }
        Ok(Ticket {
            gate: self.clone(),
            lane,
            placed: true,
        })
    }

    /// Run `hash` as [`Lane::Anyone`] (a place, then the hash).
    pub async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        hash: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        self.enter(Lane::Anyone)?.run(hash).await
    }

    /// The most hashes that ever ran at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// How many hashes may run at once.
    pub fn slots(&self) -> usize {
        self.slots
    }
}

/// A place in one of the gate's lanes.
pub struct Ticket {
    gate: Arc<HashGate>,
    lane: Lane,
    placed: bool,
}

impl Ticket {
    /// Run `hash` on one of the gate's threads when a slot is free (waiting
    /// at most the gate's longest wait).
    pub async fn run<T: Send + 'static>(
        mut self,
        hash: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let gate = self.gate.clone();
        let permit = tokio::time::timeout(gate.max_wait, gate.permits.acquire()).await;
        self.leave();
        let _permit = match permit {
            Ok(Ok(p)) => p,
            _ => return Err(busy()),
        };
        let running = gate.slots - gate.permits.available_permits();
        gate.peak.fetch_max(running, Ordering::SeqCst);
        let (done, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(hash());
        });
        gate.jobs
            .lock()
            .map_err(|_| AppError::internal("the password hashing queue is poisoned"))?
            .send(job)
            .map_err(|_| AppError::internal("the password hashing threads stopped"))?;
        answer
            .await
            .map_err(|_| AppError::internal("a password hash did not finish"))
    }

    fn leave(&mut self) {
        if std::mem::take(&mut self.placed) {
            self.gate.waiting[self.lane as usize].fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.leave();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn at_most_the_slots_run_and_the_overflow_is_refused_at_once() {
        let gate = Arc::new(HashGate::new(2, 3, Duration::from_millis(300)));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (gate, running, most) = (gate.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    gate.run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(100));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                })
            })
            .collect();
        let mut done = 0;
        let mut refused = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => done += 1,
                Err(AppError::TooManyAttempts(m)) => {
                    assert!(m.contains("try again in a moment"));
                    refused += 1
                }
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
        assert_eq!(gate.peak(), 2);
        // Two ran, at most three waited; the others were refused.
        assert!((2..=5).contains(&done), "{done}");
        assert_eq!(done + refused, 20);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_full_lane_of_strangers_leaves_room_for_a_known_browser() {
        let gate = Arc::new(HashGate::new(1, 3, Duration::from_secs(5)));
        let slow = || std::thread::sleep(Duration::from_millis(50));
        let strangers: Vec<_> = (0..3).map(|_| gate.enter(Lane::Anyone).unwrap()).collect();
        assert!(matches!(
            gate.enter(Lane::Anyone),
            Err(AppError::TooManyAttempts(_))
        ));
        let known = gate.enter(Lane::Known).unwrap();
        let runs: Vec<_> = strangers
            .into_iter()
            .map(|t| tokio::spawn(t.run(slow)))
            .collect();
        tokio::time::sleep(Duration::from_millis(10)).await;
        let started = std::time::Instant::now();
        known.run(slow).await.unwrap();
        // Behind at most the strangers' lane (3 hashes of 50 ms), then its own.
        assert!(
            started.elapsed() < Duration::from_millis(400),
            "{:?}",
            started.elapsed()
        );
        for r in runs {
            r.await.unwrap().unwrap();
        }
        // Places are given back whether the ticket ran or was dropped.
        drop(gate.enter(Lane::Anyone).unwrap());
        assert!(gate.waiting.iter().all(|w| w.load(Ordering::SeqCst) == 0));
    }
}
