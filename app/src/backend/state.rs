//! Shared state handed to every request and server function.

use crate::backend::auth::{self, CurrentUser, HashGate, LoginThrottle, SessionPolicy, SetupCode};
use crate::backend::connectors::HttpConfig;
use crate::backend::import::job::ImportConfig;
use crate::backend::incidents::outbox::Outbox;
use crate::backend::integrations::live::RunningSyncs;
use crate::backend::scim::rate::ScimRate;
use crate::backend::vault::Vault;
use crate::model::AppError;
use axum::extract::{ConnectInfo, FromRef};
use leptos::prelude::{use_context, LeptosOptions};
use sea_orm::DatabaseConnection;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub leptos_options: LeptosOptions,
    pub throttle: Arc<LoginThrottle>,
    /// Bounds the password hashes running at once.
    pub hashing: Arc<HashGate>,
    /// Proxies whose `X-Forwarded-For` names the client (`MUSTER_TRUSTED_PROXIES`).
    pub trusted_proxies: Arc<Vec<ipnet::IpNet>>,
    /// Muster is served over https (`MUSTER_SECURE_COOKIES`): the session
    /// cookie is `__Host-` and `Secure`. Without it, a request counts as https
    /// when a trusted proxy says so in `X-Forwarded-Proto`.
    pub secure_cookies: bool,
    /// Sessions' lifetime and idle timeout.
    pub sessions: SessionPolicy,
    /// Where uploads go, how large they may be.
    pub imports: Arc<ImportConfig>,
    /// Seals integration credentials. `new` makes a throwaway key; the server
    /// sets the real one with [`AppState::with_vault`].
    pub vault: Arc<Vault>,
    /// How connectors reach HR and identity systems.
    pub providers: HttpConfig,
    /// The syncs this server runs: their progress, and Cancel.
    pub syncs: Arc<RunningSyncs>,
    /// What the setup page must be given before it creates the first
    /// organisation. `new` draws a random one that nobody is told; the server
    /// sets the one it prints with [`AppState::with_setup_code`].
    pub setup_code: Arc<SetupCode>,
    /// How fast one SCIM token may send requests (`MUSTER_SCIM_REQUESTS_PER_SECOND`).
    pub scim_rate: Arc<ScimRate>,
    /// Incidents' messages: the channels this server sends on, and the
    /// sender's wake-up call.
    pub outbox: Arc<Outbox>,
    /// The bearer token that `/metrics` on the main address asks for
    /// (`MUSTER_METRICS_TOKEN`); without one, it is not served there.
    pub metrics_token: Option<Arc<str>>,
    set_up: Arc<AtomicBool>,
}

impl AppState {
    pub fn new(
        db: DatabaseConnection,
        leptos_options: LeptosOptions,
        secure_cookies: bool,
    ) -> Self {
        let throttle = Arc::new(LoginThrottle::for_database(&db));
        Self {
            db,
            leptos_options,
            throttle,
            hashing: Arc::default(),
            trusted_proxies: Arc::default(),
            secure_cookies,
            sessions: SessionPolicy::default(),
            imports: Arc::default(),
            vault: Arc::new(Vault::ephemeral()),
            providers: HttpConfig::new(false, std::time::Duration::from_secs(30)),
            syncs: Arc::default(),
            setup_code: Arc::new(SetupCode::generate()),
            scim_rate: Arc::default(),
            outbox: Arc::default(),
            metrics_token: None,
            set_up: Arc::default(),
        }
    }

    pub fn with_imports(mut self, imports: ImportConfig) -> Self {
        self.imports = Arc::new(imports);
        self
    }

    pub fn with_metrics_token(mut self, token: Option<&str>) -> Self {
        self.metrics_token = token.filter(|t| !t.trim().is_empty()).map(Arc::from);
        self
    }

    pub fn with_scim_rate(mut self, rate: ScimRate) -> Self {
        self.scim_rate = Arc::new(rate);
        self
    }

    /// Send incidents' messages with `outbox`, reaching SMS providers as
    /// the connectors reach theirs (set [`AppState::providers`] first).
    pub fn with_outbox(mut self, outbox: Outbox) -> Self {
        self.outbox = Arc::new(outbox.with_http(&self.providers));
        self
    }

    pub fn with_vault(mut self, vault: Vault) -> Self {
        self.vault = Arc::new(vault);
        self
    }

    pub fn with_syncs(mut self, syncs: RunningSyncs) -> Self {
        self.syncs = Arc::new(syncs);
        self
    }

    pub fn with_setup_code(mut self, code: SetupCode) -> Self {
        self.setup_code = Arc::new(code);
        self
    }

    pub fn with_trusted_proxies(mut self, proxies: Vec<ipnet::IpNet>) -> Self {
        self.trusted_proxies = Arc::new(proxies);
        self
    }

    pub fn with_hashing(mut self, gate: HashGate) -> Self {
        self.hashing = Arc::new(gate);
        self
    }

    pub fn with_sessions(mut self, sessions: SessionPolicy) -> Self {
        self.sessions = sessions;
        self
    }

    /// The address of the client behind the current server function call.
    pub fn client_address(&self) -> IpAddr {
        match use_context::<http::request::Parts>() {
            Some(p) => self.address_of(&p.extensions, &p.headers),
            None => client_address(None, &http::HeaderMap::new(), &self.trusted_proxies),
        }
    }

    /// The address of the client behind a request.
    pub fn address_of(&self, extensions: &http::Extensions, headers: &http::HeaderMap) -> IpAddr {
        client_address(peer(extensions), headers, &self.trusted_proxies)
    }

    /// Let a sign-in for `email` through the throttle and into the hashing
    /// gate, or refuse it, from what its request says: the client's address
    /// and the browser's device cookie.
    pub async fn admit_sign_in(
        &self,
        extensions: &http::Extensions,
        headers: &http::HeaderMap,
        email: &str,
    ) -> Result<auth::Admission, AppError> {
        let https = self.is_https(peer(extensions), headers);
        let device = auth::cookie_value(headers, auth::device_cookie_name(https));
        auth::admit(
            &self.throttle,
            &self.hashing,
            self.vault.device_key(),
            email,
            self.address_of(extensions, headers),
            device.as_deref(),
        )
        .await
    }

    /// Whether a request came over https: configured so, or said so by a
    /// trusted proxy (the last `X-Forwarded-Proto`, the one it wrote).
    pub fn is_https(&self, peer: Option<IpAddr>, headers: &http::HeaderMap) -> bool {
        self.secure_cookies
            || (peer.is_some_and(|p| is_trusted(&self.trusted_proxies, &p))
                && headers
                    .get_all("x-forwarded-proto")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(|v| v.split(','))
                    .next_back()
                    .is_some_and(|p| p.trim().eq_ignore_ascii_case("https")))
    }

    /// Whether the current server function call came over https.
    pub fn request_is_https(&self) -> bool {
        use_context::<http::request::Parts>()
            .is_some_and(|p| self.is_https(peer(&p.extensions), &p.headers))
    }

    /// Where the client reached this server, as `scheme://host[:port]`, from
    /// the request's `Host` (a value that is not a host name or address
    /// gives `localhost`): what SCIM's `meta.location` and the Provisioning
    /// panel's base URL start with.
    pub fn origin_of(&self, extensions: &http::Extensions, headers: &http::HeaderMap) -> String {
        let scheme = if self.is_https(peer(extensions), headers) {
            "https"
        } else {
            "http"
        };
        let host = headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| {
                !h.is_empty()
                    && h.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
            })
            .unwrap_or("localhost");
        format!("{scheme}://{host}")
    }

    /// [`AppState::origin_of`] the current server function call.
    pub fn request_origin(&self) -> String {
        match use_context::<http::request::Parts>() {
            Some(p) => self.origin_of(&p.extensions, &p.headers),
            None => self.origin_of(&http::Extensions::new(), &http::HeaderMap::new()),
        }
    }

    /// The session token of the current server function call.
    pub fn request_token(&self) -> Option<String> {
        let parts = use_context::<http::request::Parts>()?;
        auth::token_from_headers(
            &parts.headers,
            self.is_https(peer(&parts.extensions), &parts.headers),
        )
    }

    /// The administrator signed in on a request with these headers, if any.
    pub async fn session_user(
        &self,
        extensions: &http::Extensions,
        headers: &http::HeaderMap,
    ) -> Result<Option<CurrentUser>, AppError> {
        let https = self.is_https(peer(extensions), headers);
        match auth::token_from_headers(headers, https) {
            Some(token) => auth::user_for_token(&self.db, &self.sessions, &token).await,
            None => Ok(None),
        }
    }

    pub fn with_providers(mut self, providers: HttpConfig) -> Self {
        self.providers = providers;
        self
    }

    /// Whether an organisation exists yet. Once true it stays true, so it is cached.
    pub async fn is_set_up(&self) -> Result<bool, AppError> {
        if self.set_up.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let done = auth::org_count(&self.db).await? > 0;
        if done {
            self.set_up.store(true, Ordering::Relaxed);
        }
        Ok(done)
    }

    /// The state provided to server functions and server-side rendering.
    pub fn from_context() -> Result<Self, AppError> {
        use_context::<Self>().ok_or_else(|| AppError::internal("AppState missing from context"))
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// The administrator behind the current server function call or page render.
pub async fn current_user() -> Result<CurrentUser, AppError> {
    let state = AppState::from_context()?;
    let parts = use_context::<http::request::Parts>().ok_or(AppError::Unauthenticated)?;
    state
        .session_user(&parts.extensions, &parts.headers)
        .await?
        .ok_or(AppError::Unauthenticated)
}

/// The connection's peer, when the server was started with connect info.
fn peer(extensions: &http::Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

/// Whether `ip` is one of the trusted proxies.
fn is_trusted(trusted: &[ipnet::IpNet], ip: &IpAddr) -> bool {
    trusted.iter().any(|net| net.contains(ip))
}

/// The client's address: the peer's own, unless the peer is a trusted proxy;
/// then the nearest address in `X-Forwarded-For` that is not a trusted proxy
/// (read from the right, as each proxy appends the address it saw; a value
/// that is not an address stops the search at the proxy that wrote it).
pub fn client_address(
    peer: Option<IpAddr>,
    headers: &http::HeaderMap,
    trusted: &[ipnet::IpNet],
) -> IpAddr {
    let mut client = peer.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let is_trusted = |ip: &IpAddr| is_trusted(trusted, ip);
    if !is_trusted(&client) {
        return client;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for hop in hops.into_iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(values: &[&str]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/24".parse().unwrap()];
        let h = forwarded(&["198.51.100.20"]);
        // Not behind a trusted proxy: the header is anyone's to write.
        assert_eq!(
            client_address(Some("203.0.113.7".parse().unwrap()), &h, &trusted),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_address(Some(proxy), &h, &[]), proxy);
        assert_eq!(
            client_address(Some(proxy), &h, &trusted),
            "198.51.100.20".parse::<IpAddr>().unwrap()
        );
        // A client's own made-up entries are left of what the proxy appended.
        let h = forwarded(&["1.2.3.4, 198.51.100.20", "10.0.0.9"]);
        assert_eq!(
            client_address(Some(proxy), &h, &trusted),
            "198.51.100.20".parse::<IpAddr>().unwrap()
        );
        // Garbage stops at the proxy that passed it on.
        let h = forwarded(&["198.51.100.20, not-an-ip"]);
        assert_eq!(client_address(Some(proxy), &h, &trusted), proxy);
        assert_eq!(
            client_address(None, &http::HeaderMap::new(), &trusted),
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        );
    }
}
