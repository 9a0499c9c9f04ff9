//! A fake SCIM 2.0 directory read as a source (RFC 7643/7644, the way an 8x8
//! Work directory is read): `Authorization: Bearer {token}`, `/scim/v2/Users`
//! and `/scim/v2/Groups` paged by `startIndex` and `count` (at most 100) in
//! ListResponse envelopes, the enterprise extension's department, SCIM error
//! bodies. Suspended and deprovisioned people are `active: false`.

use super::org::Status;
use super::{FakeOrg, FakePerson, Faults, PageFault};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

const MAX_COUNT: usize = 100;

pub struct FakeScim {
    pub org: FakeOrg,
    pub token: String,
    pub faults: Arc<Faults>,
}

impl FakeScim {
    pub fn new(org: FakeOrg, token: &str) -> Self {
        Self {
            org,
            token: token.to_string(),
            faults: Arc::default(),
        }
    }

    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/scim/v2/Users", get(users))
            .route("/scim/v2/Groups", get(groups))
            .with_state(self)
    }

    pub async fn start(self, port: u16) -> std::io::Result<super::Running> {
        let faults = self.faults.clone();
        let state = Arc::new(self);
        super::serve(state.clone(), state.router(), faults, port).await
    }
}

fn scim_error(status: StatusCode, detail: &str) -> Response {
    let mut resp = (
        status,
        axum::Json(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": status.as_u16().to_string(),
            "detail": detail
        })),
    )
        .into_response();
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/scim+json"),
    );
    resp
}

async fn admit(fake: &FakeScim, headers: &HeaderMap) -> Result<(), Response> {
    fake.faults.delay().await;
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if token != fake.token {
        return Err(scim_error(
            StatusCode::UNAUTHORIZED,
            "Authorization failure. The authorization header is invalid or missing.",
        ));
    }
    if fake.faults.take_rate_limit() {
        let mut resp = scim_error(StatusCode::TOO_MANY_REQUESTS, "Too many requests.");
        if let Some(after) = fake.faults.retry_after.lock().unwrap().clone() {
            resp.headers_mut()
                .insert("retry-after", HeaderValue::from_str(&after).unwrap());
        }
        return Err(resp);
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Paging {
    start_index: Option<usize>,
    count: Option<usize>,
}

fn list(paging: &Paging, items: Vec<Value>) -> Response {
    let start = paging.start_index.unwrap_or(1).max(1);
    let count = paging.count.unwrap_or(MAX_COUNT).min(MAX_COUNT);
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(start - 1).take(count).collect();
    let mut resp = axum::Json(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": page.len(),
        "Resources": page
    }))
    .into_response();
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/scim+json"),
    );
    resp
}

fn user_json(p: &FakePerson) -> Value {
    let mut phones = Vec::new();
    if let Some(m) = &p.mobile {
        phones.push(json!({ "value": m, "type": "mobile" }));
    }
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "id": p.id,
        "userName": p.email,
        "name": { "givenName": p.first_name, "familyName": p.last_name },
        "displayName": format!("{} {}", p.first_name, p.last_name),
        "emails": [{ "value": p.email, "type": "work", "primary": true }],
        "phoneNumbers": phones,
        "addresses": [{ "locality": p.city, "type": "work", "primary": true }],
        "title": p.title,
        "active": p.status == Status::Active,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { "department": p.department },
        "meta": { "resourceType": "User", "location": format!("/scim/v2/Users/{}", p.id) }
    })
}

async fn users(
    State(fake): State<Arc<FakeScim>>,
    headers: HeaderMap,
    Query(paging): Query<Paging>,
) -> Response {
    if let Err(resp) = admit(&fake, &headers).await {
        return resp;
    }
    let count = paging.count.unwrap_or(MAX_COUNT).clamp(1, MAX_COUNT);
    let index = (paging.start_index.unwrap_or(1).max(1) - 1) / count + 1;
    let items: Vec<Value> = fake.org.people.iter().map(user_json).collect();
    match fake.faults.page_fault(index) {
        PageFault::None => list(&paging, items),
        PageFault::Fail(code) => scim_error(
            StatusCode::from_u16(code).unwrap(),
            "The service is temporarily unavailable.",
        ),
        PageFault::Malformed => super::cut_in_half(list(&paging, items)).await,
        PageFault::Hang => {
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            list(&paging, items)
        }
    }
}

async fn groups(
    State(fake): State<Arc<FakeScim>>,
    headers: HeaderMap,
    Query(paging): Query<Paging>,
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
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "id": g.id,
                "displayName": g.name,
                "members": g.members.iter().map(|i| json!({
                    "value": fake.org.people[*i].id,
                    "type": "User"
                })).collect::<Vec<_>>(),
                "meta": { "resourceType": "Group" }
            })
        })
        .collect();
    list(&paging, items)
}
