//! HTTP for connectors: bounded retries with exponential backoff that honour
//! `Retry-After` (whole or fractional seconds, or an HTTP date) and Okta's
//! `X-Rate-Limit-Reset`, a cap on concurrent requests per connector, timeouts,
//! and errors sorted into the kinds an administrator can act on.
//!
//! The retry loop is hand-written rather than taken from a crate because the
//! delay comes from provider-specific headers; the crates that exist
//! (reqwest-retry, backon) either ignore those or need as much code to adapt.

use super::url_guard;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tracing::Instrument;

/// How connectors talk HTTP. One per server; each connector takes its own
/// concurrency permits from it.
#[derive(Clone)]
pub struct HttpConfig {
    client: reqwest::Client,
    /// Allow http:// and private addresses in URLs users type (tests, demos).
    pub allow_insecure: bool,
    /// Tries per request, the first included.
    pub max_attempts: u32,
    /// The first backoff; it doubles on each retry.
    pub base_delay: Duration,
    /// A wait longer than this (asked by the provider) fails the request instead.
    pub max_delay: Duration,
    /// Requests one connector has in flight at once.
    pub concurrency: usize,
    /// Overrides of Microsoft's sign-in and Graph hosts (proxies, tests):
    /// `MUSTER_ENTRA_LOGIN_URL`, `MUSTER_GRAPH_URL`.
    pub entra_login_url: Option<url::Url>,
    pub graph_url: Option<url::Url>,
    /// Override of the Directory API's host: `MUSTER_GOOGLE_DIRECTORY_URL`.
    pub google_directory_url: Option<url::Url>,
    /// The largest answer read from a provider (`MUSTER_PROVIDER_MAX_BODY_MB`);
    /// reading stops there.
    pub max_body: usize,
    /// The most people one sync reads (`MUSTER_SYNC_MAX_PEOPLE`): a directory
    /// that pages for ever is stopped there.
    pub max_people: usize,
    /// How long a whole sync may take (`MUSTER_SYNC_DEADLINE_MINUTES`), read
    /// and apply; then it fails and changes nothing.
    pub sync_deadline: Duration,
    /// Syncs one organisation may run at once (`MUSTER_SYNCS_PER_ORG`).
    pub syncs_per_org: usize,
    /// The waits before each retry of a sync that failed in a way that may
    /// pass (`MUSTER_SYNC_RETRY_MINUTES`, default 5, 30 and 120 minutes).
    pub sync_retries: Vec<Duration>,
    /// Counts the answers read (a sync's pages, for its progress).
    pub answers: Option<Arc<std::sync::atomic::AtomicU64>>,
    timeout: Duration,
}

impl HttpConfig {
    /// Direct connections only: `HTTPS_PROXY` and the like in the environment
    /// are ignored, because a proxy resolves names itself, past the guard on
    /// resolved addresses. A proxy is used only when set with [`Self::with_proxy`].
    pub fn new(allow_insecure: bool, timeout: Duration) -> Self {
        Self {
            client: build_client(allow_insecure, timeout, None)
                .expect("the HTTP client's settings are valid"),
            allow_insecure,
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
            concurrency: 4,
            entra_login_url: None,
            graph_url: None,
            google_directory_url: None,
            max_body: 64 * 1024 * 1024,
            max_people: 2_000_000,
            sync_deadline: Duration::from_secs(2 * 3600),
            syncs_per_org: 2,
            sync_retries: [5, 30, 120].map(|m| Duration::from_secs(m * 60)).to_vec(),
            answers: None,
            timeout,
        }
    }

    /// Send every provider request through `proxy` (`MUSTER_PROVIDER_PROXY`).
    /// The proxy then resolves provider names: what it may reach is its
    /// own policy's business (the URL checks on typed addresses still apply).
    pub fn with_proxy(mut self, proxy: url::Url) -> Result<Self, reqwest::Error> {
        self.client = build_client(self.allow_insecure, self.timeout, Some(proxy))?;
        Ok(self)
    }

    /// The same settings, counting each answer read in `counter`.
    pub fn counting(mut self, counter: Arc<std::sync::atomic::AtomicU64>) -> Self {
        self.answers = Some(counter);
        self
    }

    pub fn client(&self) -> Client {
        Client {
            config: self.clone(),
            permits: Arc::new(Semaphore::new(self.concurrency.max(1))),
            retry_also: None,
        }
    }
}

fn build_client(
    allow_insecure: bool,
    timeout: Duration,
    proxy: Option<url::Url>,
) -> Result<reqwest::Client, reqwest::Error> {
    let builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        // A redirect could lead to an address the URL check refused.
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(url_guard::GuardedResolver { allow_insecure }))
        .user_agent(concat!("Muster/", env!("CARGO_PKG_VERSION")));
    let builder = match proxy {
        Some(proxy) => builder.proxy(reqwest::Proxy::all(proxy)?),
        None => builder.no_proxy(),
    };
    builder.build()
}

/// A failed request, after any retries. An `Error`, so that clients of other
/// crates (oauth2's token requests) can carry it.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The provider answered with an error status.
    #[error("the provider answered {status}")]
    Status {
        status: StatusCode,
        headers: HeaderMap,
        body: String,
    },
    #[error("no answer in time")]
    Timeout,
    /// The host name does not resolve (or resolves only to refused addresses).
    #[error("{0}")]
    Dns(String),
    #[error("{0}")]
    Tls(String),
    #[error("{0}")]
    Connect(String),
    /// The body could not be read.
    #[error("{0}")]
    Body(String),
    /// The body was longer than `max_body` bytes: reading stopped there.
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
}

impl HttpError {
    /// Whether the failure may pass by waiting: no answer, a dropped or cut
    /// connection, a rate limit, or the provider's own failure (5xx). A
    /// refusal (other 4xx), an address that does not resolve, a certificate
    /// and an answer too large stay as they are until someone changes them.
    pub fn may_pass(&self) -> bool {
        match self {
            Self::Timeout | Self::Connect(_) | Self::Body(_) => true,
            Self::Status { status, .. } => {
                status.is_server_error() || matches!(status.as_u16(), 408 | 425 | 429)
            }
            Self::Dns(_) | Self::Tls(_) | Self::TooLarge(_) => false,
        }
    }

    /// What to tell the administrator about a failure that is not the
    /// provider's own error answer.
    pub fn network_message(&self, host: &str) -> String {
        match self {
            Self::Timeout => format!(
                "{host} did not answer in time. Check that it is reachable from this server, then try again."
            ),
            Self::Dns(detail) => format!("Could not find {host} ({detail}). Check the address."),
            Self::Tls(detail) => format!(
                "Could not set up a secure connection to {host}: {detail}. Check the address and that its certificate is valid."
            ),
            Self::Connect(detail) => format!("Could not connect to {host}: {detail}."),
            Self::Body(detail) => format!("The answer from {host} was cut off: {detail}. Try again."),
            Self::TooLarge(max) => format!(
                "The answer from {host} is larger than {} MB, the most Muster reads (MUSTER_PROVIDER_MAX_BODY_MB); it stopped reading. Check the address, or raise the limit.",
                max / (1024 * 1024)
            ),
            Self::Status { status, .. } => format!("{host} answered {status}."),
        }
    }
}

/// A connector's handle: shared client, its own concurrency cap.
#[derive(Clone)]
pub struct Client {
    config: HttpConfig,
    permits: Arc<Semaphore>,
    /// A provider's own "slow down" answers, retried like a 429.
    retry_also: Option<fn(StatusCode, &str) -> bool>,
}

/// A successful response, read whole.
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Client {
    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// Also retry answers for which `rule(status, body)` holds (Google says
    /// "rate limit" with a 403).
    pub fn retry_also(mut self, rule: fn(StatusCode, &str) -> bool) -> Self {
        self.retry_also = Some(rule);
        self
    }

    /// Send the request `build` makes, retrying what is worth retrying: 429,
    /// 500, 502, 503, 504, timeouts and dropped connections.
    pub async fn send(
        &self,
        build: impl Fn(&reqwest::Client) -> RequestBuilder,
    ) -> Result<Response, HttpError> {
        let mut attempt = 0;
        // The host of the latest try, for the retries' count.
        let mut host: String;
        loop {
            attempt += 1;
            let outcome: Result<(), HttpError> = {
                let _permit = self.permits.acquire().await.expect("never closed");
                let (client, request) = build(&self.config.client).build_split();
                let request = request.map_err(|e| classify(&e))?;
                // Method, host and path only: a query string may carry a cursor
                // worth nothing to a log, and headers carry the credentials.
                let span = tracing::debug_span!(
                    "provider_request",
                    method = %request.method(),
                    host = request.url().host_str().unwrap_or_default(),
                    path = request.url().path(),
                    attempt,
                );
                let started = std::time::Instant::now();
                host = request.url().host_str().unwrap_or_default().to_string();
                let sent = client.execute(request).instrument(span.clone()).await;
                // By host: the provider's (or the organisation's tenant's) name.
                let status = match &sent {
                    Ok(r) => r.status().as_u16().to_string(),
                    Err(_) => "error".to_string(),
                };
                metrics::counter!("muster_provider_requests_total", "host" => host.clone(), "status" => status)
                    .increment(1);
                metrics::histogram!("muster_provider_request_duration_seconds", "host" => host.clone())
                    .record(started.elapsed().as_secs_f64());
                span.in_scope(|| {
                    tracing::debug!(
                        status = sent.as_ref().map(|r| r.status().as_u16()).unwrap_or(0),
                        ms = started.elapsed().as_millis() as u64,
                        "answered"
                    )
                });
                match sent {
                    Ok(resp) => {
                        let status = resp.status();
                        let headers = resp.headers().clone();
                        match read_capped(resp, self.config.max_body).await {
                            Ok(body) if status.is_success() => {
                                if let Some(n) = &self.config.answers {
                                    n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                }
                                return Ok(Response {
                                    status,
                                    headers,
                                    body,
                                });
                            }
                            Ok(body) => Err(HttpError::Status {
                                status,
                                headers,
                                body: String::from_utf8_lossy(&body).into_owned(),
                            }),
                            Err(e) => Err(e),
                        }
                    }
                    Err(e) => Err(classify(&e)),
                }
            };
            let err = outcome.unwrap_err();
            let Some(delay) = self.retry_delay(&err, attempt) else {
                return Err(err);
            };
            tracing::debug!(attempt, ?delay, "provider request failed, retrying");
            metrics::counter!("muster_provider_retries_total", "host" => host.clone()).increment(1);
            tokio::time::sleep(delay).await;
        }
    }

    /// How long to wait before trying again, or `None` to give up.
    fn retry_delay(&self, err: &HttpError, attempt: u32) -> Option<Duration> {
        if attempt >= self.config.max_attempts {
            return None;
        }
        let backoff = self.config.base_delay * 2u32.saturating_pow(attempt - 1);
        match err {
            HttpError::Status {
                status,
                headers,
                body,
            } => {
                let retryable = *status == StatusCode::TOO_MANY_REQUESTS
                    || matches!(status.as_u16(), 500 | 502 | 503 | 504)
                    || self.retry_also.is_some_and(|rule| rule(*status, body));
                if !retryable {
                    return None;
                }
                let asked = asked_delay(headers, chrono::Utc::now());
                match asked {
                    Some(d) if d > self.config.max_delay => None,
                    Some(d) => Some(d),
                    None => Some(backoff.min(self.config.max_delay)),
                }
            }
            HttpError::Timeout | HttpError::Connect(_) | HttpError::Body(_) => {
                Some(backoff.min(self.config.max_delay))
            }
            HttpError::Dns(_) | HttpError::Tls(_) | HttpError::TooLarge(_) => None,
        }
    }
}

/// Read a body as it streams in, up to `max` bytes: a provider that sends
/// more (or says it will) is cut off there, not held in memory whole.
async fn read_capped(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, HttpError> {
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(HttpError::TooLarge(max));
    }
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > max {
                    return Err(HttpError::TooLarge(max));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) if e.is_timeout() => return Err(HttpError::Timeout),
            Err(e) => return Err(HttpError::Body(e.to_string())),
        }
    }
}

/// The wait a provider asks for: `Retry-After` in seconds (whole or
/// fractional, as Graph sends) or as an HTTP date, else Okta's
/// `X-Rate-Limit-Reset` (epoch seconds).
pub fn asked_delay(headers: &HeaderMap, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(v) = text(RETRY_AFTER.as_str()) {
        if let Ok(secs) = v.parse::<f64>() {
            if secs.is_finite() && secs >= 0.0 {
                return Some(Duration::from_secs_f64(secs));
            }
        }
        if let Ok(at) = chrono::DateTime::parse_from_rfc2822(v) {
            let ms = (at.timestamp_millis() - now.timestamp_millis()).max(0);
            return Some(Duration::from_millis(ms as u64));
        }
    }
    if let Some(reset) = text("x-rate-limit-reset").and_then(|v| v.parse::<i64>().ok()) {
        let ms = (reset * 1000 - now.timestamp_millis()).max(0);
        // The reset is a whole second; wait into it rather than just before.
        return Some(Duration::from_millis(ms as u64 + 100));
    }
    None
}

/// Sort a failed request into the kinds an administrator can act on.
pub fn classify(e: &reqwest::Error) -> HttpError {
    if e.is_timeout() {
        return HttpError::Timeout;
    }
    let chain = causes(e);
    let lower = chain.to_lowercase();
    if let Some(refused) = url_guard::refusal_in(e) {
        return HttpError::Dns(refused);
    }
    if lower.contains("dns error")
        || lower.contains("failed to lookup address")
        || lower.contains("name or service not known")
    {
        return HttpError::Dns("the name does not resolve".into());
    }
    // rustls's errors: a bad or untrusted certificate, a failed handshake,
    // or a server that does not speak TLS at all ("corrupt message").
    let tls = [
        "certificate",
        "tls",
        "handshake",
        "corrupt message",
        "invalidcontenttype",
        "peer is incompatible",
        "alert",
    ];
    if tls.iter().any(|t| lower.contains(t)) {
        let detail = tls_problem(&lower).map_or_else(|| last_cause(e), str::to_string);
        return HttpError::Tls(detail);
    }
    HttpError::Connect(last_cause(e))
}

/// rustls's common TLS failures in words an administrator knows; rustls
/// names them by its enum variants ("invalid peer certificate:
/// UnknownIssuer"), which say little to someone who did not write it.
fn tls_problem(lower_chain: &str) -> Option<&'static str> {
    const PROBLEMS: &[(&[&str], &str)] = &[
        (
            // webpki reports a self-signed server certificate marked as a CA
            // as CaUsedAsEndEntity rather than UnknownIssuer.
            &["unknownissuer", "causedasendentity"],
            "the server's certificate is not trusted (self-signed or from an unknown authority)",
        ),
        (
            &["notvalidforname", "certificate not valid for name"],
            "the server's certificate is for another name",
        ),
        (
            &["certificate: expired", "certificate expired"],
            "the server's certificate has expired",
        ),
        (
            &["notvalidyet", "certificate not valid yet"],
            "the server's certificate is not valid yet (or this server's clock is wrong)",
        ),
        (
            &["certificate: revoked"],
            "the server's certificate has been revoked",
        ),
        (
            &["corrupt message", "invalidcontenttype"],
            "the server does not speak TLS on this port (is the address http:// only?)",
        ),
    ];
    PROBLEMS
        .iter()
        .find(|(signs, _)| signs.iter().any(|s| lower_chain.contains(s)))
        .map(|(_, plain)| *plain)
}

/// The causes of `e`, joined: not `e`'s own message, which holds the URL (a
/// host named `tls.example.com` must not make every failure a TLS one).
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = String::new();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn last_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn failures_that_may_pass_are_told_from_refusals() {
        let status = |code: u16| HttpError::Status {
            status: StatusCode::from_u16(code).unwrap(),
            headers: HeaderMap::new(),
            body: String::new(),
        };
        for passing in [
            HttpError::Timeout,
            HttpError::Connect("reset".into()),
            HttpError::Body("cut off".into()),
            status(500),
            status(502),
            status(503),
            status(504),
            status(429),
            status(408),
        ] {
            assert!(passing.may_pass(), "{passing:?}");
        }
        for refused in [
            status(400),
            status(401),
            status(403),
            status(404),
            HttpError::Dns("no such host".into()),
            HttpError::Tls("untrusted".into()),
            HttpError::TooLarge(1),
        ] {
            assert!(!refused.may_pass(), "{refused:?}");
        }
    }

    /// A local server answering every request with `body_len` bytes, sent in
    /// chunks without a Content-Length (so only counting can stop it), or
    /// announcing its length when `announce`.
    async fn big_answers(body_len: usize, announce: bool) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = socket.read(&mut buf).await;
                    let head = if announce {
                        format!("HTTP/1.1 200 OK\r\ncontent-length: {body_len}\r\n\r\n")
                    } else {
                        "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_string()
                    };
                    if socket.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    let chunk = vec![b'x'; 64 * 1024];
                    let mut sent = 0;
                    while sent < body_len {
                        let n = chunk.len().min(body_len - sent);
                        if socket.write_all(&chunk[..n]).await.is_err() {
                            return;
                        }
                        sent += n;
                    }
                });
            }
        });
        format!("http://{addr}/")
    }

    #[tokio::test]
    async fn an_answer_larger_than_the_cap_is_cut_off() {
        let mut config = HttpConfig::new(true, Duration::from_secs(5));
        config.max_body = 1024 * 1024;
        config.max_attempts = 1;
        let client = config.client();
        for announce in [false, true] {
            let url = big_answers(8 * 1024 * 1024, announce).await;
            let err = client.send(|c| c.get(&url)).await.err().unwrap();
            assert!(
                matches!(err, HttpError::TooLarge(n) if n == 1024 * 1024),
                "{err:?}"
            );
            assert!(err
                .network_message("example.com")
                .contains("larger than 1 MB"));
        }
        let url = big_answers(1000, false).await;
        assert_eq!(client.send(|c| c.get(&url)).await.unwrap().body.len(), 1000);
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn retry_after_in_whole_and_fractional_seconds_and_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-29T10:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            asked_delay(&headers(&[("retry-after", "10")]), now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            asked_delay(&headers(&[("retry-after", "2.128")]), now),
            Some(Duration::from_millis(2128))
        );
        assert_eq!(
            asked_delay(
                &headers(&[("retry-after", "Sun, 29 Nov 2026 10:00:03 GMT")]),
                now
            ),
            Some(Duration::from_secs(3))
        );
        let reset = (now.timestamp() + 2).to_string();
        assert_eq!(
            asked_delay(&headers(&[("x-rate-limit-reset", &reset)]), now),
            Some(Duration::from_millis(2100))
        );
        assert_eq!(asked_delay(&headers(&[]), now), None);
        assert_eq!(asked_delay(&headers(&[("retry-after", "soon")]), now), None);
    }

    #[test]
    fn gives_up_on_errors_not_worth_retrying_and_on_long_waits() {
        let mut config = HttpConfig::new(false, Duration::from_secs(5));
        config.max_delay = Duration::from_secs(30);
        let client = config.client();
        let status = |code: u16, h: HeaderMap| HttpError::Status {
            status: StatusCode::from_u16(code).unwrap(),
            headers: h,
            body: String::new(),
        };
        assert!(client.retry_delay(&status(401, headers(&[])), 1).is_none());
        assert!(client.retry_delay(&status(404, headers(&[])), 1).is_none());
        assert_eq!(
            client.retry_delay(&status(503, headers(&[])), 2),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            client.retry_delay(&status(429, headers(&[("retry-after", "3")])), 1),
            Some(Duration::from_secs(3))
        );
        assert!(client
            .retry_delay(&status(429, headers(&[("retry-after", "3600")])), 1)
            .is_none());
        assert!(client.retry_delay(&status(503, headers(&[])), 5).is_none());
        assert!(client.retry_delay(&HttpError::Dns("x".into()), 1).is_none());
        assert!(client.retry_delay(&HttpError::Timeout, 1).is_some());
    }

    #[test]
    fn tls_failures_are_named_in_plain_words() {
        let untrusted = tls_problem("error sending request: client error (connect): invalid peer certificate: unknownissuer");
        assert!(untrusted.unwrap().contains("not trusted (self-signed"));
        assert!(
            tls_problem("invalid peer certificate: other(othererror(causedasendentity))").is_some()
        );
        assert!(tls_problem(
            "certificate not valid for name \"a.example\"; certificate is only valid for b.example"
        )
        .unwrap()
        .contains("another name"));
        assert!(tls_problem("invalid peer certificate: expired")
            .unwrap()
            .contains("expired"));
        assert!(
            tls_problem("received corrupt message of type invalidcontenttype")
                .unwrap()
                .contains("does not speak TLS")
        );
        assert!(tls_problem("peer is incompatible: nosignatureschemesincommon").is_none());
    }
}
