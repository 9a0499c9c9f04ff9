//! A fake Google Workspace (reference/providers.md §1): the OAuth token
//! endpoint of the JWT bearer grant, and the Admin SDK Directory API's
//! users.list, groups.list and members.list.
//!
//! The token endpoint verifies the grant as Google does: the RS256 signature
//! against the service account's public key, `iss` the service account,
//! `aud` https://oauth2.googleapis.com/token, a lifetime of at most an hour
//! around now, the scopes, and `sub` an administrator the service account has
//! domain-wide delegation for (else 401 `unauthorized_client`). The key pair
//! is the fake's own test fixture (`keys/`), never a real credential.

use super::org::Status;
use super::{FakeOrg, Faults, PageFault};
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The fake service account's key pair (generated for these fakes only).
pub const PRIVATE_KEY: &str = include_str!("keys/google-service-account.pem");
const PUBLIC_KEY: &str = include_str!("keys/google-service-account.pub");
const AUDIENCE: &str = "https://oauth2.googleapis.com/token";
const USER_SCOPE: &str = "https://www.googleapis.com/auth/admin.directory.user.readonly";
const GROUP_SCOPE: &str = "https://www.googleapis.com/auth/admin.directory.group.readonly";

pub struct FakeGoogle {
    pub org: FakeOrg,
    pub client_email: String,
    /// The administrator the delegation was granted for.
    pub admin: String,
    /// Whether domain-wide delegation is granted at all.
    pub delegated: AtomicBool,
    pub faults: Arc<Faults>,
    tokens: Mutex<HashMap<String, String>>,
    next: AtomicU64,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: Option<String>,
    scope: String,
    iat: i64,
    exp: i64,
}

impl FakeGoogle {
    pub fn new(org: FakeOrg, admin: &str) -> Self {
        Self {
            org,
            client_email: "muster-sync@fake-project.iam.gserviceaccount.com".into(),
            admin: admin.into(),
            delegated: AtomicBool::new(true),
            faults: Arc::default(),
            tokens: Mutex::default(),
            next: AtomicU64::new(1),
        }
    }

    /// The credentials JSON a Google Cloud console would give, pointing its
    /// `token_uri` at this fake (`base` is its URL).
    pub fn credentials_json(&self, base: &str) -> String {
        json!({
            "type": "service_account",
            "project_id": "fake-project",
            "private_key_id": "fake-key-1",
            "private_key": PRIVATE_KEY,
            "client_email": self.client_email,
            "client_id": "109876543210987654321",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": format!("{base}/token"),
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "universe_domain": "googleapis.com"
        })
        .to_string()
    }

    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/token", post(token))
            .route("/admin/directory/v1/users", get(users))
            .route("/admin/directory/v1/groups", get(groups))
            .route("/admin/directory/v1/groups/{id}/members", get(members))
            .with_state(self)
    }

    pub async fn start(self, port: u16) -> std::io::Result<super::Running> {
        self.start_on(super::listen(port).await?)
    }

    /// Serve on `listener`, whose address [`FakeGoogle::credentials_json`] named.
    pub fn start_on(self, listener: tokio::net::TcpListener) -> std::io::Result<super::Running> {
        let faults = self.faults.clone();
        let state = Arc::new(self);
        super::serve_on(listener, state.clone(), state.router(), faults)
    }
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

async fn token(
    State(fake): State<Arc<FakeGoogle>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    fake.faults.delay().await;
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Invalid grant_type: ",
        );
    }
    let assertion = form.get("assertion").map(String::as_str).unwrap_or("");
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(PUBLIC_KEY.as_bytes()).expect("fixture key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[AUDIENCE]);
    validation.leeway = 300;
    let claims = match jsonwebtoken::decode::<Claims>(assertion, &key, &validation) {
        Ok(data) => data.claims,
        Err(e) => {
            let description = match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => "Invalid JWT Signature.",
                jsonwebtoken::errors::ErrorKind::ExpiredSignature
                | jsonwebtoken::errors::ErrorKind::ImmatureSignature => {
                    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values and use a clock with skew to account for clock differences between systems."
                }
                _ => "Invalid JWT: the assertion could not be read.",
            };
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", description);
        }
    };
    let now = chrono::Utc::now().timestamp();
    if claims.exp - claims.iat > 3600 || (claims.iat - now).abs() > 300 {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values and use a clock with skew to account for clock differences between systems.",
        );
    }
    if claims.iss != fake.client_email {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Invalid JWT Signature.",
        );
    }
    let scopes: Vec<&str> = claims.scope.split(' ').collect();
    let delegated = fake.delegated.load(Ordering::Relaxed);
    let sub = claims.sub.clone().unwrap_or_default();
    if !delegated
        || !scopes.contains(&USER_SCOPE)
        || !scopes.contains(&GROUP_SCOPE)
        || (!sub.is_empty() && !sub.eq_ignore_ascii_case(&fake.admin))
    {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized_client",
            "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.",
        );
    }
    let access = format!("ya29.fake-{}", fake.next.fetch_add(1, Ordering::Relaxed));
    fake.tokens.lock().unwrap().insert(access.clone(), sub);
    axum::Json(json!({
        "access_token": access,
        "expires_in": 3599,
        "token_type": "Bearer"
    }))
    .into_response()
}

fn api_error(status: StatusCode, message: &str, reason: &str) -> Response {
    (
        status,
        axum::Json(
            json!({ "error": { "code": status.as_u16(), "message": message,
            "errors": [ { "message": message, "domain": "global", "reason": reason } ] } }),
        ),
    )
        .into_response()
}

async fn admit(fake: &FakeGoogle, headers: &HeaderMap) -> Result<(), Response> {
    fake.faults.delay().await;
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let sub = fake.tokens.lock().unwrap().get(token).cloned();
    match sub {
        None => Err(api_error(
            StatusCode::UNAUTHORIZED,
            "Invalid Credentials",
            "authError",
        )),
        // Without impersonation the service account itself is no administrator.
        Some(sub) if sub.is_empty() => Err(api_error(
            StatusCode::FORBIDDEN,
            "Not Authorized to access this resource/api",
            "forbidden",
        )),
        Some(_) if fake.faults.take_rate_limit() => Err(api_error(
            StatusCode::FORBIDDEN,
            "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user'",
            "userRateLimitExceeded",
        )),
        Some(_) => Ok(()),
    }
}

/// One page of `items` under `key`, from the `pageToken` offset.
fn page(
    kind: &str,
    key: &str,
    q: &HashMap<String, String>,
    max: usize,
    items: Vec<Value>,
) -> Response {
    let size = q
        .get("maxResults")
        .and_then(|m| m.parse().ok())
        .unwrap_or(max.min(100))
        .clamp(1, max);
    let start: usize = q
        .get("pageToken")
        .and_then(|t| t.strip_prefix("pt-"))
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let end = (start + size).min(items.len());
    let mut body = json!({ "kind": kind, "etag": "\"fake\"" });
    body[key] = Value::Array(items[start.min(end)..end].to_vec());
    if end < items.len() {
        body["nextPageToken"] = Value::String(format!("pt-{end}"));
    }
    axum::Json(body).into_response()
}

async fn users(
    State(fake): State<Arc<FakeGoogle>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(resp) = admit(&fake, &headers).await {
        return resp;
    }
    if !q.contains_key("customer") && !q.contains_key("domain") {
        return api_error(StatusCode::BAD_REQUEST, "Bad Request", "badRequest");
    }
    let items: Vec<Value> = fake
        .org
        .people
        .iter()
        .filter(|p| p.status != Status::Deprovisioned)
        .map(|p| {
            let mut phones = vec![json!({ "value": "+1 650 253 0000", "type": "work" })];
            if let Some(m) = &p.mobile {
                phones.push(json!({ "value": m, "type": "mobile" }));
            }
            json!({
                "kind": "admin#directory#user",
                "id": p.id.replace("00u", "1"),
                "etag": "\"fake\"",
                "primaryEmail": p.email,
                "name": { "givenName": p.first_name, "familyName": p.last_name,
                          "fullName": format!("{} {}", p.first_name, p.last_name) },
                "isAdmin": false,
                "suspended": p.status == Status::Suspended,
                "archived": false,
                "customerId": "C0fake00",
                "orgUnitPath": format!("/{}", p.department),
                "phones": phones,
                "organizations": [{ "title": p.title, "department": p.department,
                                    "location": p.city, "primary": true, "customType": "" }],
            })
        })
        .collect();
    let size = q
        .get("maxResults")
        .and_then(|m| m.parse().ok())
        .unwrap_or(100usize)
        .clamp(1, 500);
    let start: usize = q
        .get("pageToken")
        .and_then(|t| t.strip_prefix("pt-"))
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    match fake.faults.page_fault(start / size + 1) {
        PageFault::None => {}
        PageFault::Fail(code) => {
            return api_error(
                StatusCode::from_u16(code).unwrap(),
                "Backend Error",
                "backendError",
            )
        }
        PageFault::Malformed => {
            return (
                StatusCode::OK,
                "{\"kind\": \"admin#directory#users\", \"users\": [",
            )
                .into_response()
        }
        PageFault::Hang => tokio::time::sleep(std::time::Duration::from_secs(3600)).await,
    }
    page("admin#directory#users", "users", &q, 500, items)
}

async fn groups(
    State(fake): State<Arc<FakeGoogle>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(resp) = admit(&fake, &headers).await {
        return resp;
    }
    let items = fake
        .org
        .groups
        .iter()
        .map(|g| {
            json!({
                "kind": "admin#directory#group",
                "id": g.id.replace("00g", "0"),
                "email": format!("{}@example.com", g.name.to_lowercase().replace(' ', "-")),
                "name": g.name,
                "directMembersCount": g.members.len().to_string(),
                "adminCreated": true,
            })
        })
        .collect();
    page("admin#directory#groups", "groups", &q, 200, items)
}

async fn members(
    State(fake): State<Arc<FakeGoogle>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(resp) = admit(&fake, &headers).await {
        return resp;
    }
    let Some(g) = fake
        .org
        .groups
        .iter()
        .find(|g| g.id.replace("00g", "0") == id)
    else {
        return api_error(
            StatusCode::NOT_FOUND,
            "Resource Not Found: groupKey",
            "notFound",
        );
    };
    let items = g
        .members
        .iter()
        .map(|i| &fake.org.people[*i])
        .filter(|p| p.status != Status::Deprovisioned)
        .map(|p| {
            json!({ "kind": "admin#directory#member", "id": p.id.replace("00u", "1"),
                    "email": p.email, "role": "MEMBER", "type": "USER", "status": "ACTIVE" })
        })
        .collect();
    page("admin#directory#members", "members", &q, 200, items)
}
