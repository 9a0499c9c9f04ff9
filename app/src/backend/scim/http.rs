//! The SCIM protocol's edge (RFC 7644): the router under `/scim/v2`, the
//! bearer token check in front of every endpoint, answers in
//! `application/scim+json`, errors as SCIM Error bodies, request bodies read
//! with a bound, and the discovery endpoints (RFC 7644 section 4), whose
//! documents are in `discovery/`.

use super::groups;
use super::resource::{self, Answer, ListParams, ListQuery};
use super::sources::{self, Caller};
use super::users;
use crate::backend::AppState;
use crate::model::AppError;
use axum::body::{Body, Bytes};
use axum::extract::Query;
use axum::extract::{FromRequest, Path, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use http::{header, HeaderMap, HeaderValue, StatusCode};
use serde_json::{json, Value};
use std::sync::LazyLock;

/// SCIM's media type (RFC 7644 section 3.1).
pub const MEDIA_TYPE: &str = "application/scim+json";
/// The largest request body read, in bytes.
pub const MAX_BODY: usize = 1024 * 1024;
/// The most resources one page of a list holds.
pub const MAX_RESULTS: usize = 200;

pub const SCHEMA_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const SCHEMA_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const SCHEMA_ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const SCHEMA_LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const SCHEMA_ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const SCHEMA_SPC: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";

/// The routes under `/scim/v2`, every one behind a SCIM token.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/ServiceProviderConfig", get(service_provider_config))
        .route("/ResourceTypes", get(resource_types))
        .route("/ResourceTypes/{id}", get(resource_type))
        .route("/Schemas", get(schemas))
        .route("/Schemas/{id}", get(schema))
        .route("/Users", get(list_users).post(create_user))
        .route("/Users/.search", post(search_users))
        .route(
            "/Users/{id}",
            get(get_user)
                .put(replace_user)
                .patch(patch_user)
                .delete(delete_user),
        )
        .route("/Groups", get(list_groups).post(create_group))
        .route("/Groups/.search", post(search_groups))
        .route(
            "/Groups/{id}",
            get(get_group)
                .put(replace_group)
                .patch(patch_group)
                .delete(delete_group),
        )
        .route("/.search", post(search_all))
        .fallback(no_such_endpoint)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state, authenticate))
}

/// The base URL of this request's SCIM service, as `meta.location` starts:
/// `https://host/scim/v2`.
#[derive(Debug, Clone)]
pub struct Base(pub String);

/// Middleware: a request goes on only with a live token in `Authorization:
/// Bearer`, within its rate (`super::rate`); its caller (organisation and
/// identity provider) and the base URL go with it.
async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_string());
    let Some(token) = token else {
        return ScimError::unauthorized("Send a SCIM token as `Authorization: Bearer <token>`.")
            .into_response();
    };
    let caller = match sources::authenticate(&state.db, &token).await {
        Ok(Some(caller)) => caller,
        Ok(None) => {
            return ScimError::unauthorized(
                "The token is not valid: it is unknown, revoked or expired.",
            )
            .into_response()
        }
        Err(e) => return ScimError::from(e).into_response(),
    };
    if let Err(wait) = state.scim_rate.check(caller.token_id) {
        let mut res = ScimError::new(
            StatusCode::TOO_MANY_REQUESTS,
            None,
            format!(
                "Too many requests with this token: at most {} a second. Retry after {} s.",
                state.scim_rate.rate(),
                wait.as_secs()
            ),
        )
        .into_response();
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs()));
        return res;
    }
    let base = format!(
        "{}/scim/v2",
        state.origin_of(req.extensions(), req.headers())
    );
    req.extensions_mut().insert(caller);
    req.extensions_mut().insert(Base(base));
    next.run(req).await
}

/// A SCIM Error (RFC 7644 section 3.12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimError {
    pub status: StatusCode,
    /// One of RFC 7644's `scimType` values, where one applies.
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    pub fn new(
        status: StatusCode,
        scim_type: Option<&'static str>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
        }
    }

    /// 400 with `scimType`.
    pub fn bad(scim_type: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, None, detail)
    }

    pub fn unauthorized(detail: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, None, detail)
    }

    /// 500, with the cause logged under an error id (`AppError::internal`).
    pub fn internal(e: impl std::fmt::Display) -> Self {
        AppError::internal(e).into()
    }

    /// 409 `uniqueness`.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, Some("uniqueness"), detail)
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "schemas": [SCHEMA_ERROR],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = t.into();
        }
        let mut res = Scim(self.status, body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"Muster SCIM\""),
            );
        }
        res
    }
}

impl From<AppError> for ScimError {
    fn from(e: AppError) -> Self {
        let (status, scim_type) = match e {
            AppError::Conflict(_) => (StatusCode::CONFLICT, Some("uniqueness")),
            AppError::Invalid(_) | AppError::BadRequest(_) => {
                (StatusCode::BAD_REQUEST, Some("invalidValue"))
            }
            _ => (e.status(), None),
        };
        let detail = match &e {
            AppError::Invalid(fields) => fields
                .iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join(" "),
            other => other.to_string(),
        };
        Self::new(status, scim_type, detail)
    }
}

impl From<sea_orm::DbErr> for ScimError {
    fn from(e: sea_orm::DbErr) -> Self {
        AppError::from(e).into()
    }
}

/// A SCIM answer: the status and a JSON body, in SCIM's media type.
pub struct Scim(pub StatusCode, pub Value);

impl IntoResponse for Scim {
    fn into_response(self) -> Response {
        let mut res = (self.0, axum::Json(self.1)).into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
        res
    }
}

/// A request's JSON body: `application/scim+json` or `application/json` (or
/// no type, as some clients send), at most [`MAX_BODY`] bytes.
pub struct ScimBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for ScimBody {
    type Rejection = ScimError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ScimError> {
        let kind = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            });
        if let Some(kind) = kind {
            if kind != MEDIA_TYPE && kind != "application/json" {
                return Err(ScimError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    None,
                    format!("Send the body as {MEDIA_TYPE}, not {kind}."),
                ));
            }
        }
        let bytes: Bytes = axum::body::to_bytes(req.into_body(), MAX_BODY)
            .await
            .map_err(|_| {
                ScimError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    None,
                    format!("The body is larger than {MAX_BODY} bytes."),
                )
            })?;
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| ScimError::bad("invalidSyntax", format!("The body is not JSON: {e}.")))?;
        if !value.is_object() {
            return Err(ScimError::bad(
                "invalidSyntax",
                "The body must be a JSON object.",
            ));
        }
        Ok(Self(value))
    }
}

/// A single resource's answer: its body, its ETag, and for a new one its
/// location.
fn one(status: StatusCode, answer: Answer, location: Option<String>) -> Response {
    let etag = resource::etag(answer.version);
    let mut res = Scim(status, answer.body).into_response();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    if let Some(loc) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        res.headers_mut().insert(header::LOCATION, loc);
    }
    res
}

async fn create_user(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(base): Extension<Base>,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let user = users::create(&state.db, &caller, &base.0, body).await?;
    tracing::info!(org = %caller.org, source = caller.source_id, user = user.id, "SCIM user created");
    let location = format!("{}/Users/{}", base.0, user.id);
    Ok(one(StatusCode::CREATED, user, Some(location)))
}

async fn get_user(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(base): Extension<Base>,
    Path(id): Path<String>,
    Query(params): Query<ListParams>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let q = ListQuery::from_params(params)?;
    let mut user = users::get(&state.db, &caller, &base.0, &id).await?;
    if resource::not_modified(&headers, user.version) {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    }
    user.body = resource::project(user.body, &q.attributes, &q.excluded);
    Ok(one(StatusCode::OK, user, None))
}

async fn replace_user(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(base): Extension<Base>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let user = users::replace(&state.db, &caller, &base.0, &id, &headers, body).await?;
    Ok(one(StatusCode::OK, user, None))
}

async fn patch_user(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(base): Extension<Base>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let user = users::patch(&state.db, &caller, &base.0, &id, &headers, body).await?;
    Ok(one(StatusCode::OK, user, None))
}

async fn delete_user(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ScimError> {
    users::delete(&state.db, &caller, &id, &headers).await?;
    tracing::info!(org = %caller.org, source = caller.source_id, user = %id, "SCIM user deleted");
    Ok(StatusCode::NO_CONTENT)
}

async fn list_users(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(base): Extension<Base>,
    Query(params): Query<ListParams>,
) -> Result<Scim, ScimError> {
    let q = ListQuery::from_params(params)?;
    let (page, total) = users::list(&state.db, &caller, &base.0, &q).await?;
    Ok(Scim(
        StatusCode::OK,
        list_response(page, total, q.start_index),
    ))
}

async fn search_users(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(base): Extension<Base>,
    ScimBody(body): ScimBody,
) -> Result<Scim, ScimError> {
    let q = ListQuery::from_search(&body)?;
    let (page, total) = users::list(&state.db, &caller, &base.0, &q).await?;
    Ok(Scim(
        StatusCode::OK,
        list_response(page, total, q.start_index),
    ))
}

async fn create_group(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(base): Extension<Base>,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let group = groups::create(&state.db, &caller, &base.0, body).await?;
    tracing::info!(org = %caller.org, source = caller.source_id, group = group.id, "SCIM group created");
    let location = format!("{}/Groups/{}", base.0, groups::scim_id(group.id));
    Ok(one(StatusCode::CREATED, group, Some(location)))
}

async fn get_group(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(base): Extension<Base>,
    Path(id): Path<String>,
    Query(params): Query<ListParams>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let q = ListQuery::from_params(params)?;
    let mut group = groups::get(&state.db, &caller, &base.0, &id).await?;
    if resource::not_modified(&headers, group.version) {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    }
    group.body = resource::project(group.body, &q.attributes, &q.excluded);
    Ok(one(StatusCode::OK, group, None))
}

async fn replace_group(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(base): Extension<Base>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let group = groups::replace(&state.db, &caller, &base.0, &id, &headers, body).await?;
    Ok(one(StatusCode::OK, group, None))
}

/// A group's PATCH answers 204 with its ETag, as Entra ID expects: the
/// members of a large group are not sent back for each change.
async fn patch_group(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(base): Extension<Base>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let group = groups::patch(&state.db, &caller, &base.0, &id, &headers, body).await?;
    let mut res = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&resource::etag(group.version)) {
        res.headers_mut().insert(header::ETAG, v);
    }
    Ok(res)
}

async fn delete_group(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ScimError> {
    groups::delete(&state.db, &caller, &id, &headers).await?;
    tracing::info!(org = %caller.org, source = caller.source_id, group = %id, "SCIM group deleted");
    Ok(StatusCode::NO_CONTENT)
}

async fn list_groups(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(base): Extension<Base>,
    Query(params): Query<ListParams>,
) -> Result<Scim, ScimError> {
    let q = ListQuery::from_params(params)?;
    let (page, total) = groups::list(&state.db, &caller, &base.0, &q).await?;
    Ok(Scim(
        StatusCode::OK,
        list_response(page, total, q.start_index),
    ))
}

async fn search_groups(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(base): Extension<Base>,
    ScimBody(body): ScimBody,
) -> Result<Scim, ScimError> {
    let q = ListQuery::from_search(&body)?;
    let (page, total) = groups::list(&state.db, &caller, &base.0, &q).await?;
    Ok(Scim(
        StatusCode::OK,
        list_response(page, total, q.start_index),
    ))
}

/// POST /.search at the root: Users, then Groups, as one list (RFC 7644
/// section 3.4.3).
async fn search_all(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(base): Extension<Base>,
    ScimBody(body): ScimBody,
) -> Result<Scim, ScimError> {
    let mut q = ListQuery::from_search(&body)?;
    let start_index = q.start_index;
    let (mut page, users) = users::list(&state.db, &caller, &base.0, &q).await?;
    // The groups' part of the page: what follows the users.
    q.start_index = start_index.saturating_sub(users).max(1);
    q.count -= page.len();
    let (more, groups) = groups::list(&state.db, &caller, &base.0, &q).await?;
    page.extend(more);
    Ok(Scim(
        StatusCode::OK,
        list_response(page, users + groups, start_index),
    ))
}
/// A list of resources as one page (RFC 7644 section 3.4.2).
pub fn list_response(resources: Vec<Value>, total: usize, start_index: usize) -> Value {
    json!({
        "schemas": [SCHEMA_LIST],
        "totalResults": total,
        "itemsPerPage": resources.len(),
        "startIndex": start_index,
        "Resources": resources,
    })
}

async fn no_such_endpoint(_: Request<Body>) -> ScimError {
    ScimError::not_found("No such SCIM endpoint.")
}

async fn method_not_allowed(req: Request<Body>) -> ScimError {
    ScimError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        None,
        format!("{} is not supported here.", req.method()),
    )
}

// Discovery (RFC 7644 section 4).

/// The schema documents, as the RFC writes them (`discovery/`), each with
/// its relative `meta.location`.
static SCHEMAS: LazyLock<Vec<Value>> = LazyLock::new(|| {
    [
        include_str!("discovery/user.json"),
        include_str!("discovery/enterprise_user.json"),
        include_str!("discovery/group.json"),
    ]
    .into_iter()
    .map(|doc| serde_json::from_str(doc).expect("discovery documents are JSON"))
    .collect()
});

static RESOURCE_TYPES: LazyLock<Vec<Value>> = LazyLock::new(|| {
    serde_json::from_str(include_str!("discovery/resource_types.json"))
        .expect("discovery documents are JSON")
});

/// `doc` with its `meta.location` made absolute.
fn located(doc: &Value, base: &Base) -> Value {
    let mut doc = doc.clone();
    if let Some(loc) = doc.pointer_mut("/meta/location") {
        if let Some(rel) = loc.as_str() {
            *loc = format!("{}{rel}", base.0).into();
        }
    }
    doc
}

fn all_located(docs: &[Value], base: &Base) -> Scim {
    let docs: Vec<Value> = docs.iter().map(|d| located(d, base)).collect();
    let n = docs.len();
    Scim(StatusCode::OK, list_response(docs, n, 1))
}

fn one_located(docs: &[Value], id: &str, base: &Base, what: &str) -> Result<Scim, ScimError> {
    docs.iter()
        .find(|d| d["id"].as_str() == Some(id))
        .map(|d| Scim(StatusCode::OK, located(d, base)))
        .ok_or_else(|| ScimError::not_found(format!("No {what} {id:?}.")))
}

/// What this service provider supports (RFC 7643 section 5).
pub fn service_provider_config_document(base: &str) -> Value {
    json!({
        "schemas": [SCHEMA_SPC],
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "A token made in Muster's Integrations tab, under Provisioning (SCIM), sent as `Authorization: Bearer <token>`.",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig"),
        },
    })
}

async fn service_provider_config(Extension(base): Extension<Base>) -> Scim {
    Scim(StatusCode::OK, service_provider_config_document(&base.0))
}

async fn resource_types(Extension(base): Extension<Base>) -> Scim {
    all_located(&RESOURCE_TYPES, &base)
}

async fn resource_type(
    Extension(base): Extension<Base>,
    Path(id): Path<String>,
) -> Result<Scim, ScimError> {
    one_located(&RESOURCE_TYPES, &id, &base, "resource type")
}

async fn schemas(Extension(base): Extension<Base>) -> Scim {
    all_located(&SCHEMAS, &base)
}

async fn schema(
    Extension(base): Extension<Base>,
    Path(id): Path<String>,
) -> Result<Scim, ScimError> {
    one_located(&SCHEMAS, &id, &base, "schema")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_documents_parse_and_name_their_ids() {
        let ids: Vec<&str> = SCHEMAS.iter().map(|d| d["id"].as_str().unwrap()).collect();
        assert_eq!(ids, [SCHEMA_USER, SCHEMA_ENTERPRISE, SCHEMA_GROUP]);
        let types: Vec<&str> = RESOURCE_TYPES
            .iter()
            .map(|d| d["id"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["User", "Group"]);
        let base = Base("https://m.example/scim/v2".into());
        let user = located(&SCHEMAS[0], &base);
        assert_eq!(
            user["meta"]["location"],
            format!("https://m.example/scim/v2/Schemas/{SCHEMA_USER}")
        );
    }

    #[test]
    fn errors_carry_status_as_text_and_scim_type() {
        let res = ScimError::bad("invalidFilter", "x").into_response();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(res.headers()[header::CONTENT_TYPE], MEDIA_TYPE);
        let res = ScimError::unauthorized("x").into_response();
        assert!(res.headers().contains_key(header::WWW_AUTHENTICATE));
    }
}
