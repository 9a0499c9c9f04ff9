//! The identity provider's side of SCIM, for the SCIM tests: a client with the
//! base URL and a token (as Entra ID, Okta or Okta's SPEC test sends), and
//! the panel's server functions and directory reads the tests check against.

use super::TestApp;
use app::model::{Contact, IssuedScimToken};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// The second schema Entra ID lists when it creates a group.
pub const MS_GROUP: &str =
    "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";
pub const MEDIA_TYPE: &str = "application/scim+json";

/// An identity provider's side: the base URL, a token, and its client.
pub struct Idp {
    pub base: String,
    pub token: String,
    pub http: Client,
    /// The `Content-Type` of the bodies it sends.
    content_type: &'static str,
}

impl Idp {
    /// A plain SCIM client, as Entra ID's provisioning service is.
    pub fn new(app: &TestApp, token: &str) -> Self {
        Self::entra(app, token)
    }

    /// A plain client of a new identity provider, added through the panel.
    pub async fn added(app: &TestApp, admin: &Client, name: &str, scope: &str, keep: bool) -> Self {
        Self::new(app, &add_source(app, admin, name, scope, keep).await.secret)
    }

    /// Entra ID's provisioning service, with the Secret Token as a bearer.
    pub fn entra(app: &TestApp, token: &str) -> Self {
        Self::with(app, token, Client::new(), MEDIA_TYPE)
    }

    /// Okta's provisioning client, with its `User-Agent`.
    pub fn okta(app: &TestApp, token: &str) -> Self {
        let http = Client::builder()
            .user_agent("Okta SCIM Client 1.0.0")
            .build()
            .unwrap();
        Self::with(app, token, http, MEDIA_TYPE)
    }

    /// Okta's SCIM 2.0 SPEC test (Runscope), with the headers it sends.
    pub fn okta_spec_test(app: &TestApp, token: &str) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(MEDIA_TYPE));
        let http = Client::builder()
            .user_agent("OKTA SCIM Integration")
            .default_headers(headers)
            .build()
            .unwrap();
        Self::with(app, token, http, "application/scim+json; charset=utf-8")
    }

    pub fn with(app: &TestApp, token: &str, http: Client, content_type: &'static str) -> Self {
        Self {
            base: format!("{}/scim/v2", app.url),
            token: token.to_string(),
            http,
            content_type,
        }
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.send_with(method, path, &[], body).await
    }

    pub async fn send_with(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .query(query)
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req
                .header("content-type", self.content_type)
                .body(b.to_string());
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        if let Some(kind) = res.headers().get("content-type") {
            assert_eq!(kind, MEDIA_TYPE, "{path}");
        }
        let text = res.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
        };
        (status, body)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn get_with(&self, path: &str, query: &[(&str, &str)]) -> (StatusCode, Value) {
        self.send_with(reqwest::Method::GET, path, query, None)
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, ops: Value) -> (StatusCode, Value) {
        let body = json!({"schemas": [PATCH_OP], "Operations": ops});
        self.send(reqwest::Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    /// The users whose userName is `name`, as Entra asks (the query string
    /// encoded as in its logs: `filter=userName+eq+%22...%22`).
    pub async fn find(&self, name: &str) -> Value {
        let filter = format!("userName eq \"{name}\"");
        let (status, body) = self.get_with("/Users", &[("filter", &filter)]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

/// Add an identity provider named `name` through the panel; its first token.
pub async fn add_source(
    app: &TestApp,
    admin: &Client,
    name: &str,
    scope: &str,
    keep: bool,
) -> IssuedScimToken {
    let res = app
        .call_json(
            admin,
            "create_scim_source",
            &json!({
                "form": {"name": name, "scope": scope, "keep_deleted": keep},
                "token": {"name": "Token 1", "expires_on": ""}
            }),
        )
        .await;
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{text}");
    serde_json::from_str(&text).unwrap()
}

pub async fn contact(app: &TestApp, admin: &Client, id: &str) -> Contact {
    app.json(admin, "get_contact", &[("id", id)]).await
}

/// The names of the groups from a source that contact `id` is in.
pub async fn source_groups(app: &TestApp, admin: &Client, id: &str) -> Vec<String> {
    contact(app, admin, id).await.synced_groups
}

pub async fn assert_contact_gone(app: &TestApp, admin: &Client, id: &str) {
    let res = app.call(admin, "get_contact", &[("id", id)]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

pub fn assert_scim_error(body: &Value, status: u16) {
    assert_eq!(body["schemas"], json!([ERROR]), "{body}");
    assert_eq!(body["status"], status.to_string(), "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
}
