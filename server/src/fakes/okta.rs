//! A fake Okta org (reference/providers.md §3): `Authorization: SSWS {token}`,
//! `/api/v1/users` (DEPROVISIONED users left out, as Okta does without a
//! filter), `/api/v1/groups` (with the BUILT_IN Everyone group),
//! `/api/v1/groups/{id}/users`; cursor paging with `after` and `limit` (at
//! most 200) and absolute `Link` headers; Okta's error bodies (E0000011,
//! E0000006, E0000047, E0000009); `X-Rate-Limit-*` and `X-Okta-Request-Id`
//! on every answer. `POST /_fake/people` changes its people while it runs
//! (no authentication: a fake for tests and trials only).

use super::org::Status;
use super::{origin, FakeOrg, FakePerson, Faults, PageFault};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub struct FakeOkta {
    /// The people and groups it serves; a test may change them while it runs.
    org: std::sync::RwLock<FakeOrg>,
    /// What it started with, for `{"restore": true}`.
    original: FakeOrg,
    /// The API token that works.
    pub token: String,
    /// A token that authenticates but whose administrator lacks the role.
    pub powerless_token: Option<String>,
    pub faults: Arc<Faults>,
    ids: AtomicU64,
}

impl FakeOkta {
    pub fn new(org: FakeOrg, token: &str) -> Self {
        Self {
            original: org.clone(),
            org: std::sync::RwLock::new(org),
            token: token.to_string(),
            powerless_token: None,
            faults: Arc::default(),
            ids: AtomicU64::new(1),
        }
    }

    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/api/v1/users", get(users))
            .route("/api/v1/groups", get(groups))
            .route("/api/v1/groups/{id}/users", get(group_users))
            .route("/_fake/people", axum::routing::post(control))
            .fallback(not_found)
            .with_state(self)
    }

    /// Serve on 127.0.0.1 (`port` 0 for any free one).
    pub async fn start(self, port: u16) -> std::io::Result<super::Running> {
        let faults = self.faults.clone();
        let state = Arc::new(self);
        super::serve(state.clone(), state.router(), faults, port).await
    }

    /// The people and groups it serves now.
    pub fn org(&self) -> std::sync::RwLockReadGuard<'_, FakeOrg> {
        self.org.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Change the people and groups it serves (as an HR system changes).
    pub fn change(&self, f: impl FnOnce(&mut FakeOrg)) {
        f(&mut self.org.write().unwrap_or_else(|e| e.into_inner()))
    }

    fn request_id(&self) -> String {
        format!("fake-{}", self.ids.fetch_add(1, Ordering::Relaxed))
    }
}

/// A change to the fake's people, as `POST /_fake/people` takes it (each
/// part optional, applied in this order).
#[derive(Deserialize, Default)]
#[serde(default)]
struct Control {
    /// Back to the people it started with.
    restore: bool,
    /// The first this many people leave (deprovisioned: Okta lists them no more).
    deprovision: usize,
    /// The first `count` active people move to this department.
    department: Option<String>,
    count: usize,
    /// Added to every answer from now on, in milliseconds (a slow source);
    /// `restore` sets it back to 0.
    latency_ms: Option<u64>,
}

async fn control(
    State(fake): State<Arc<FakeOkta>>,
    axum::Json(c): axum::Json<Control>,
) -> axum::Json<Value> {
    let latency = c.latency_ms.or(c.restore.then_some(0));
    if let Some(ms) = latency {
        fake.faults
            .latency_ms
            .store(ms, std::sync::atomic::Ordering::SeqCst);
    }
    fake.change(|org| {
        if c.restore {
            *org = fake.original.clone();
        }
        for p in org.people.iter_mut().take(c.deprovision) {
            p.status = Status::Deprovisioned;
        }
        if let Some(d) = &c.department {
            for p in org
                .people
                .iter_mut()
                .filter(|p| p.status == Status::Active)
                .take(c.count)
            {
                p.department = d.clone();
            }
        }
    });
    axum::Json(json!({ "active": fake.org().active() }))
}

fn error(status: StatusCode, code: &str, summary: &str, id: String) -> Response {
    let mut resp = (
        status,
        axum::Json(json!({
            "errorCode": code,
            "errorSummary": summary,
            "errorLink": code,
            "errorId": id,
            "errorCauses": []
        })),
    )
        .into_response();
    resp.headers_mut()
        .insert("x-okta-request-id", HeaderValue::from_str(&id).unwrap());
    resp
}

async fn not_found(State(fake): State<Arc<FakeOkta>>) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "E0000007",
        "Not found: Resource not found",
        fake.request_id(),
    )
}

/// Check the token and the faults that apply to every request.
async fn admit(fake: &FakeOkta, headers: &HeaderMap) -> Result<(), Response> {
    fake.faults.delay().await;
    let id = fake.request_id();
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let token = auth.strip_prefix("SSWS ").unwrap_or("");
    if token.is_empty() || (token != fake.token && Some(token) != fake.powerless_token.as_deref()) {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "E0000011",
            "Invalid token provided",
            id,
        ));
    }
    if Some(token) == fake.powerless_token.as_deref() {
        return Err(error(
            StatusCode::FORBIDDEN,
            "E0000006",
            "You do not have permission to perform the requested action",
            id,
        ));
    }
    if fake.faults.take_rate_limit() {
        let mut resp = error(
            StatusCode::TOO_MANY_REQUESTS,
            "E0000047",
            "API call exceeded rate limit due to too many requests.",
            id,
        );
        let h = resp.headers_mut();
        let reset = chrono::Utc::now().timestamp() + 1;
        h.insert("x-rate-limit-limit", HeaderValue::from_static("600"));
        h.insert("x-rate-limit-remaining", HeaderValue::from_static("0"));
        h.insert("x-rate-limit-reset", HeaderValue::from(reset));
        if let Some(after) = fake.faults.retry_after.lock().unwrap().clone() {
            h.insert("retry-after", HeaderValue::from_str(&after).unwrap());
        }
        return Err(resp);
    }
    Ok(())
}

#[derive(Deserialize)]
struct Paging {
    after: Option<String>,
    limit: Option<usize>,
}

/// One page of `items` (each with its id) after the cursor, with Link headers.
fn page(
    fake: &FakeOkta,
    headers: &HeaderMap,
    path: &str,
    paging: &Paging,
    items: Vec<(String, Value)>,
) -> Response {
    let limit = paging.limit.unwrap_or(200).clamp(1, 200);
    let start = match &paging.after {
        Some(after) => items
            .iter()
            .position(|(id, _)| id == after)
            .map_or(items.len(), |i| i + 1),
        None => 0,
    };
    let end = (start + limit).min(items.len());
    let body: Vec<&Value> = items[start..end].iter().map(|(_, v)| v).collect();
    let base = format!("{}{path}", origin(headers));
    let mut resp = axum::Json(body).into_response();
    let h = resp.headers_mut();
    h.append(
        "link",
        HeaderValue::from_str(&format!("<{base}?limit={limit}>; rel=\"self\"")).unwrap(),
    );
    if end < items.len() {
        let cursor = &items[end - 1].0;
        h.append(
            "link",
            HeaderValue::from_str(&format!(
                "<{base}?after={cursor}&limit={limit}>; rel=\"next\""
            ))
            .unwrap(),
        );
    }
    h.insert("x-rate-limit-limit", HeaderValue::from_static("600"));
    h.insert("x-rate-limit-remaining", HeaderValue::from_static("599"));
    h.insert(
        "x-rate-limit-reset",
        HeaderValue::from(chrono::Utc::now().timestamp() + 60),
    );
    h.insert(
        "x-okta-request-id",
        HeaderValue::from_str(&fake.request_id()).unwrap(),
    );
    resp
}

fn status(p: &FakePerson) -> &'static str {
    match p.status {
        Status::Active => "ACTIVE",
        Status::Suspended => "SUSPENDED",
        Status::Deprovisioned => "DEPROVISIONED",
    }
}

fn user_json(p: &FakePerson) -> Value {
    json!({
        "id": p.id,
        "status": status(p),
        "created": "2024-01-15T09:30:00.000Z",
        "activated": "2024-01-15T09:31:00.000Z",
        "statusChanged": null,
        "lastLogin": null,
        "lastUpdated": "2026-11-01T08:00:00.000Z",
        "passwordChanged": null,
        "type": { "id": "oty1fake" },
        "profile": {
            "firstName": p.first_name,
            "lastName": p.last_name,
            "email": p.email,
            "login": p.email,
            "mobilePhone": p.mobile,
            "department": p.department,
            "title": p.title,
            "city": p.city,
        },
        "credentials": { "provider": { "type": "OKTA", "name": "OKTA" } },
        "_links": { "self": { "href": format!("/api/v1/users/{}", p.id) } }
    })
}

async fn users(
    State(fake): State<Arc<FakeOkta>>,
    headers: HeaderMap,
    Query(paging): Query<Paging>,
) -> Response {
    if let Err(resp) = admit(&fake, &headers).await {
        return resp;
    }
    let items: Vec<(String, Value)> = fake
        .org()
        .people
        .iter()
        .filter(|p| p.status != Status::Deprovisioned)
        .map(|p| (p.id.clone(), user_json(p)))
        .collect();
    // Which page this is, counted from the cursor.
    let limit = paging.limit.unwrap_or(200).clamp(1, 200);
    let index = match &paging.after {
        None => 1,
        Some(a) => items
            .iter()
            .position(|(id, _)| id == a)
            .map_or(1, |i| (i + 1) / limit + 1),
    };
    match fake.faults.page_fault(index) {
        PageFault::None => {}
        PageFault::Fail(code) => {
            return error(
                StatusCode::from_u16(code).unwrap(),
                "E0000009",
                "Internal Server Error",
                fake.request_id(),
            )
        }
        PageFault::Malformed => {
            let full = page(&fake, &headers, "/api/v1/users", &paging, items);
            return super::cut_in_half(full).await;
        }
        PageFault::Hang => {
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        }
    }
    page(&fake, &headers, "/api/v1/users", &paging, items)
}

fn group_json(id: &str, name: &str, kind: &str) -> Value {
    json!({
        "id": id,
        "created": "2024-01-15T09:30:00.000Z",
        "lastUpdated": "2026-11-01T08:00:00.000Z",
        "lastMembershipUpdated": "2026-11-01T08:00:00.000Z",
        "objectClass": ["okta:user_group"],
        "type": kind,
        "profile": { "name": name, "description": null },
        "_links": { "users": { "href": format!("/api/v1/groups/{id}/users") } }
    })
}

async fn groups(
    State(fake): State<Arc<FakeOkta>>,
    headers: HeaderMap,
    Query(paging): Query<Paging>,
) -> Response {
    if let Err(resp) = admit(&fake, &headers).await {
        return resp;
    }
    let mut items = vec![(
        "00g0everyone".to_string(),
        group_json("00g0everyone", "Everyone", "BUILT_IN"),
    )];
    items.extend(
        fake.org()
            .groups
            .iter()
            .map(|g| (g.id.clone(), group_json(&g.id, &g.name, "OKTA_GROUP"))),
    );
    page(&fake, &headers, "/api/v1/groups", &paging, items)
}

async fn group_users(
    State(fake): State<Arc<FakeOkta>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(paging): Query<Paging>,
) -> Response {
    if let Err(resp) = admit(&fake, &headers).await {
        return resp;
    }
    let org = fake.org();
    let members: Vec<&FakePerson> = if id == "00g0everyone" {
        org.people.iter().collect()
    } else {
        match org.groups.iter().find(|g| g.id == id) {
            Some(g) => g
                .members
                .iter()
                .filter_map(|i| org.people.get(*i))
                .collect(),
            None => {
                return error(
                    StatusCode::NOT_FOUND,
                    "E0000007",
                    &format!("Not found: Resource not found: {id} (UserGroup)"),
                    fake.request_id(),
                )
            }
        }
    };
    let items = members
        .into_iter()
        .filter(|p| p.status != Status::Deprovisioned)
        .map(|p| (p.id.clone(), user_json(p)))
        .collect();
    drop(org);
    page(
        &fake,
        &headers,
        &format!("/api/v1/groups/{id}/users"),
        &paging,
        items,
    )
}
