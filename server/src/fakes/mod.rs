//! Fake HR and identity providers, served on 127.0.0.1, faithful to the wire
//! formats in `reference/providers.md`: real credential checks, paging, error
//! bodies and rate-limit headers, over a generated organisation of any size.
//! The integration tests run the connectors against them, and
//! `muster fake-providers` starts them so that anyone can try the
//! Integrations tab without an HR system.
//!
//! Faults can be switched on while a fake runs ([`Faults`]), to test what a
//! connector does with a 429, a 5xx in the middle of paging or from the
//! sign-in, a malformed page or a provider that stops answering.

pub mod entra;
pub mod google;
pub mod okta;
pub mod org;
pub mod scim;
pub mod smtp;
pub mod twilio;
pub mod workday;

pub use org::{FakeGroup, FakeOrg, FakePerson};

use axum::Router;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Misbehaviour to show, shared with the fake while it runs.
#[derive(Default)]
pub struct Faults {
    /// Answer this many requests with 429 before serving again.
    pub rate_limited: AtomicUsize,
    /// Seconds the 429s ask the client to wait (`Retry-After`); fractional allowed.
    pub retry_after: Mutex<Option<String>>,
    /// The page of users (1-based) answered with HTTP 500, every time.
    pub fail_page: Mutex<Option<usize>>,
    /// The page of users answered with 503 only the first time.
    pub fail_page_once: Mutex<Option<usize>>,
    /// The page of users whose body is cut off in the middle of the JSON.
    pub malformed_page: Mutex<Option<usize>>,
    /// The page of users that never answers.
    pub hang_page: Mutex<Option<usize>>,
    /// Answer this many token requests with 503 before serving again (a
    /// sign-in service that fails for a moment).
    pub token_failures: AtomicUsize,
    /// Added to every answer.
    pub latency_ms: AtomicU64,
    /// Requests served, for tests that count them.
    pub requests: AtomicUsize,
}

impl Faults {
    pub fn rate_limit(&self, requests: usize, retry_after: &str) {
        *self.retry_after.lock().unwrap() = Some(retry_after.to_string());
        self.rate_limited.store(requests, Ordering::SeqCst);
    }

    pub fn set(slot: &Mutex<Option<usize>>, page: Option<usize>) {
        *slot.lock().unwrap() = page;
    }

    /// Take one 429 if any are left.
    fn take_rate_limit(&self) -> bool {
        Self::take_one(&self.rate_limited)
    }

    /// Take one failed token request if any are left.
    fn take_token_failure(&self) -> bool {
        Self::take_one(&self.token_failures)
    }

    fn take_one(left: &AtomicUsize) -> bool {
        left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    fn is(slot: &Mutex<Option<usize>>, page: usize) -> bool {
        *slot.lock().unwrap() == Some(page)
    }

    fn take_once(slot: &Mutex<Option<usize>>, page: usize) -> bool {
        let mut s = slot.lock().unwrap();
        if *s == Some(page) {
            *s = None;
            true
        } else {
            false
        }
    }

    async fn delay(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let ms = self.latency_ms.load(Ordering::Relaxed);
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }
}

/// What a users page request should do instead of answering normally.
pub(crate) enum PageFault {
    None,
    Fail(u16),
    Malformed,
    Hang,
}

impl Faults {
    pub(crate) fn page_fault(&self, page: usize) -> PageFault {
        if Self::is(&self.fail_page, page) {
            PageFault::Fail(500)
        } else if Self::take_once(&self.fail_page_once, page) {
            PageFault::Fail(503)
        } else if Self::is(&self.malformed_page, page) {
            PageFault::Malformed
        } else if Self::is(&self.hang_page, page) {
            PageFault::Hang
        } else {
            PageFault::None
        }
    }
}

/// A fake provider running on 127.0.0.1.
pub struct Running {
    pub addr: SocketAddr,
    pub faults: Arc<Faults>,
    state: Arc<dyn std::any::Any + Send + Sync>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// The fake itself, to change its settings while it runs.
    pub fn state<T: std::any::Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.state.clone().downcast::<T>().ok()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serve `router` on a free port of 127.0.0.1 (or `port` when not 0).
pub async fn serve<T: std::any::Any + Send + Sync>(
    state: Arc<T>,
    router: Router,
    faults: Arc<Faults>,
    port: u16,
) -> std::io::Result<Running> {
    serve_on(listen(port).await?, state, router, faults)
}

/// A listener on 127.0.0.1:`port` (a free port when 0), for a fake that must
/// know its own address before it starts (Google's credentials name it).
pub async fn listen(port: u16) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(("127.0.0.1", port)).await
}

/// Serve `router` on `listener`.
pub fn serve_on<T: std::any::Any + Send + Sync>(
    listener: tokio::net::TcpListener,
    state: Arc<T>,
    router: Router,
    faults: Arc<Faults>,
) -> std::io::Result<Running> {
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(Running {
        addr,
        faults,
        state,
        task,
    })
}

/// The same answer with its body cut off in the middle (a malformed page).
pub(crate) async fn cut_in_half(resp: axum::response::Response) -> axum::response::Response {
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let half = bytes.slice(..bytes.len() / 2);
    axum::response::Response::from_parts(parts, axum::body::Body::from(half))
}

/// The base URL the client used, for absolute links in `Link` headers.
pub(crate) fn origin(headers: &axum::http::HeaderMap) -> String {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}
