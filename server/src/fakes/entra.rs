//! A fake Microsoft Entra ID tenant and Microsoft Graph (reference/providers.md
//! §2), on one address that stands for both `login.microsoftonline.com` and
//! `graph.microsoft.com`:
//!
//! - `POST /{tenant}/oauth2/v2.0/token`, client credentials in the body; the
//!   AADSTS errors of a wrong tenant (90002), unknown app (700016), wrong
//!   secret (7000215), expired secret (7000222) and bad scope (70011), in
//!   Microsoft's error body; tokens that expire after `token_lifetime`; a
//!   passing 503 (90033) while `Faults::token_failures` lasts.
//! - `GET /v1.0/users` with `$select` (department and accountEnabled only when
//!   selected, as in Graph), `$top` (default 100, at most 999) and an opaque
//!   `$skiptoken` in an absolute `@odata.nextLink`; disabled accounts listed
//!   with `accountEnabled: false`, deleted ones absent.
//! - `GET /v1.0/groups` and `/v1.0/groups/{id}/transitiveMembers`.
//! - Graph's error body for 401 (InvalidAuthenticationToken), 403
//!   (Authorization_RequestDenied, before admin consent) and 429 (with a
//!   fractional `Retry-After`).

use super::org::Status;
use super::{origin, FakeOrg, FakePerson, Faults, PageFault};
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct FakeEntra {
    /// The people and groups it serves; a benchmark or test may change them
    /// while it runs.
    org: std::sync::RwLock<FakeOrg>,
    pub tenant: String,
    pub client_id: String,
    pub secret: String,
    /// A secret that was valid once and has expired.
    pub expired_secret: Option<String>,
    /// Whether an administrator granted consent to the app's permissions.
    pub consented: AtomicBool,
    /// Seconds an access token is said to live (`expires_in`).
    pub token_lifetime: AtomicU64,
    /// Milliseconds it really lives, when shorter (0: as said): a token that
    /// expires during a run.
    pub real_lifetime_ms: AtomicU64,
    pub faults: Arc<Faults>,
    tokens: Mutex<HashMap<String, Instant>>,
    token_requests: AtomicUsize,
    next: AtomicU64,
}

impl FakeEntra {
    pub fn new(org: FakeOrg, tenant: &str, client_id: &str, secret: &str) -> Self {
        Self {
            org: std::sync::RwLock::new(org),
            tenant: tenant.into(),
            client_id: client_id.into(),
            secret: secret.into(),
            expired_secret: None,
            consented: AtomicBool::new(true),
            token_lifetime: AtomicU64::new(3599),
            real_lifetime_ms: AtomicU64::new(0),
            faults: Arc::default(),
            tokens: Mutex::default(),
            token_requests: AtomicUsize::new(0),
            next: AtomicU64::new(1),
        }
    }

    pub fn org(&self) -> std::sync::RwLockReadGuard<'_, FakeOrg> {
        self.org.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Change the people and groups it serves (as a directory changes).
    pub fn change(&self, f: impl FnOnce(&mut FakeOrg)) {
        f(&mut self.org.write().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .route("/v1.0/users", get(users))
            .route("/v1.0/groups", get(groups))
            .route("/v1.0/groups/{id}/transitiveMembers", get(members))
            .with_state(self)
    }

    pub async fn start(self, port: u16) -> std::io::Result<super::Running> {
        let faults = self.faults.clone();
        let state = Arc::new(self);
        super::serve(state.clone(), state.router(), faults, port).await
    }

    /// How many access tokens it has issued.
    pub fn tokens_issued(&self) -> usize {
        self.tokens.lock().unwrap().len()
    }

    /// How many token requests it has received, refused and failed ones included.
    pub fn token_requests(&self) -> usize {
        self.token_requests.load(Ordering::SeqCst)
    }

    fn id(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{n:08x}-fake-4000-8000-{:012x}", n * 7919)
    }
}

/// The GUID Graph gives person `i`.
fn user_id(i: usize) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", i + 1, i + 1)
}

fn group_id(i: usize) -> String {
    format!("{:08x}-0000-4000-9000-{:012x}", i + 1, i + 1)
}

fn aad_error(fake: &FakeEntra, status: StatusCode, error: &str, code: u32, text: &str) -> Response {
    let trace = fake.id();
    let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
    let body = json!({
        "error": error,
        "error_description": format!(
            "AADSTS{code}: {text}\r\nTrace ID: {trace}\r\nCorrelation ID: {trace}\r\nTimestamp: {now}"
        ),
        "error_codes": [code],
        "timestamp": now,
        "trace_id": trace,
        "correlation_id": trace,
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}")
    });
    (status, axum::Json(body)).into_response()
}

async fn token(
    State(fake): State<Arc<FakeEntra>>,
    Path(tenant): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    fake.faults.delay().await;
    fake.token_requests.fetch_add(1, Ordering::SeqCst);
    if fake.faults.take_token_failure() {
        return aad_error(
            &fake,
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            90033,
            "A transient error has occurred. Please try again.",
        );
    }
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if tenant != fake.tenant {
        return aad_error(
            &fake,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
        );
    }
    if field("grant_type") != "client_credentials" {
        return aad_error(
            &fake,
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    if field("client_id") != fake.client_id {
        return aad_error(
            &fake,
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{}' was not found in the directory '{}'.",
                field("client_id"),
                fake.tenant
            ),
        );
    }
    if !field("scope").ends_with("/.default") {
        return aad_error(
            &fake,
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            &format!("The provided value for the input parameter 'scope' is not valid. The scope {} is not valid.", field("scope")),
        );
    }
    let secret = field("client_secret");
    if Some(secret) == fake.expired_secret.as_deref() {
        return aad_error(
            &fake,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000222,
            "The provided client secret keys for app are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.",
        );
    }
    if secret != fake.secret {
        return aad_error(
            &fake,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app.",
        );
    }
    let lifetime = fake.token_lifetime.load(Ordering::Relaxed);
    let real = match fake.real_lifetime_ms.load(Ordering::Relaxed) {
        0 => Duration::from_secs(lifetime),
        ms => Duration::from_millis(ms),
    };
    let access = format!("eyJ0eXAiOiJKV1QifQ.fake.{}", fake.id());
    fake.tokens
        .lock()
        .unwrap()
        .insert(access.clone(), Instant::now() + real);
    let mut resp = axum::Json(json!({
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access
    }))
    .into_response();
    resp.headers_mut().insert(
        "cache-control",
        HeaderValue::from_static("no-store, no-cache"),
    );
    resp
}

fn graph_error(fake: &FakeEntra, status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({
        "error": {
            "code": code,
            "message": message,
            "innerError": { "request-id": fake.id(), "date": chrono::Utc::now().to_rfc3339() }
        }
    });
    (status, axum::Json(body)).into_response()
}

/// Check the bearer token, consent and rate limits.
async fn admit(fake: &FakeEntra, headers: &HeaderMap) -> Result<(), Response> {
    fake.faults.delay().await;
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if token.is_empty() {
        return Err(graph_error(
            fake,
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token is empty.",
        ));
    }
    let until = fake.tokens.lock().unwrap().get(token).copied();
    match until {
        None => {
            return Err(graph_error(
                fake,
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "IDX14100: JWT is not well formed.",
            ))
        }
        Some(t) if t <= Instant::now() => {
            return Err(graph_error(
                fake,
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired.",
            ))
        }
        Some(_) => {}
    }
    if !fake.consented.load(Ordering::Relaxed) {
        return Err(graph_error(
            fake,
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        ));
    }
    if fake.faults.take_rate_limit() {
        let mut resp = graph_error(
            fake,
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Please retry again later.",
        );
        if let Some(after) = fake.faults.retry_after.lock().unwrap().clone() {
            resp.headers_mut()
                .insert("retry-after", HeaderValue::from_str(&after).unwrap());
        }
        return Err(resp);
    }
    Ok(())
}

/// `$select`, `$top` and `$skiptoken` of a collection request.
struct Paging {
    select: Option<Vec<String>>,
    top: usize,
    skip: usize,
}

fn paging(q: &HashMap<String, String>) -> Paging {
    Paging {
        select: q
            .get("$select")
            .map(|s| s.split(',').map(|f| f.trim().to_string()).collect()),
        top: q
            .get("$top")
            .and_then(|t| t.parse().ok())
            .unwrap_or(100)
            .clamp(1, 999),
        // Opaque to clients; here, the offset in hex behind a prefix.
        skip: q
            .get("$skiptoken")
            .and_then(|t| t.strip_prefix("X'"))
            .and_then(|t| usize::from_str_radix(t.trim_end_matches('\''), 16).ok())
            .unwrap_or(0),
    }
}

/// The page of a collection of `total` items that `p` asks for; `item(i)`
/// makes the i-th item, so that only the page's items are built.
fn collection(
    headers: &HeaderMap,
    path: &str,
    context: &str,
    p: &Paging,
    total: usize,
    item: impl Fn(usize) -> Value,
) -> Response {
    let end = (p.skip + p.top).min(total);
    let page: Vec<Value> = (p.skip.min(end)..end).map(item).collect();
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        Value::String(format!(
            "https://graph.microsoft.com/v1.0/$metadata#{context}"
        )),
    );
    if end < total {
        let mut next = reqwest::Url::parse(&format!("{}{path}", origin(headers))).unwrap();
        {
            let mut q = next.query_pairs_mut();
            if let Some(select) = &p.select {
                q.append_pair("$select", &select.join(","));
            }
            q.append_pair("$top", &p.top.to_string())
                .append_pair("$skiptoken", &format!("X'{end:x}'"));
        }
        body.insert("@odata.nextLink".into(), Value::String(next.to_string()));
    }
    body.insert("value".into(), Value::Array(page));
    axum::Json(Value::Object(body)).into_response()
}

fn project(full: Value, select: &Option<Vec<String>>) -> Value {
    let Value::Object(map) = full else {
        return full;
    };
    let keep = |k: &str| match select {
        Some(fields) => fields.iter().any(|f| f == k),
        // Graph's default set leaves department and accountEnabled out.
        None => !matches!(k, "department" | "accountEnabled" | "city"),
    };
    Value::Object(map.into_iter().filter(|(k, _)| keep(k)).collect())
}

fn user_json(i: usize, p: &FakePerson) -> Value {
    json!({
        "businessPhones": [],
        "displayName": format!("{} {}", p.first_name, p.last_name),
        "givenName": p.first_name,
        "jobTitle": p.title,
        "mail": p.email,
        "mobilePhone": p.mobile,
        "officeLocation": p.city,
        "preferredLanguage": "en-GB",
        "surname": p.last_name,
        "userPrincipalName": p.email,
        "id": user_id(i),
        "department": p.department,
        "accountEnabled": p.status == Status::Active,
        "city": p.city,
    })
}

async fn users(
    State(fake): State<Arc<FakeEntra>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(resp) = admit(&fake, &headers).await {
        return resp;
    }
    let p = paging(&q);
    let fault = fake.faults.page_fault(p.skip / p.top + 1);
    match fault {
        PageFault::None | PageFault::Malformed => {}
        PageFault::Fail(code) => {
            return graph_error(
                &fake,
                StatusCode::from_u16(code).unwrap(),
                "serviceNotAvailable",
                "The service is temporarily unavailable.",
            )
        }
        PageFault::Hang => tokio::time::sleep(Duration::from_secs(3600)).await,
    }
    let full = {
        let org = fake.org();
        let listed: Vec<usize> = (0..org.people.len())
            .filter(|i| org.people[*i].status != Status::Deprovisioned)
            .collect();
        let item = |n: usize| {
            let i = listed[n];
            project(user_json(i, &org.people[i]), &p.select)
        };
        collection(&headers, "/v1.0/users", "users", &p, listed.len(), item)
    };
    if matches!(fault, PageFault::Malformed) {
        return super::cut_in_half(full).await;
    }
    full
}

async fn groups(
    State(fake): State<Arc<FakeEntra>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(resp) = admit(&fake, &headers).await {
        return resp;
    }
    let p = paging(&q);
    let org = fake.org();
    let item = |i: usize| {
        let g = &org.groups[i];
        project(
            json!({
                "id": group_id(i),
                "displayName": g.name,
                "description": null,
                "groupTypes": [],
                "mailEnabled": false,
                "securityEnabled": true,
                "mailNickname": g.name.replace(' ', "")
            }),
            &p.select,
        )
    };
    collection(
        &headers,
        "/v1.0/groups",
        "groups",
        &p,
        org.groups.len(),
        item,
    )
}

async fn members(
    State(fake): State<Arc<FakeEntra>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(resp) = admit(&fake, &headers).await {
        return resp;
    }
    let org = fake.org();
    let Some(g) = (0..org.groups.len())
        .find(|i| group_id(*i) == id)
        .map(|i| &org.groups[i])
    else {
        return graph_error(
            &fake,
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
        );
    };
    let p = paging(&q);
    let listed: Vec<usize> = g
        .members
        .iter()
        .copied()
        .filter(|i| org.people[*i].status != Status::Deprovisioned)
        .collect();
    let item =
        |n: usize| json!({ "@odata.type": "#microsoft.graph.user", "id": user_id(listed[n]) });
    collection(
        &headers,
        &format!("/v1.0/groups/{id}/transitiveMembers"),
        "directoryObjects",
        &p,
        listed.len(),
        item,
    )
}
