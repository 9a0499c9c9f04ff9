//! Google Workspace against the fake token endpoint and Directory API: a real
//! RS256 JWT grant checked by the fake, delegation errors, a credentials JSON
//! missing a field, Google's 403 rate limit retried, and a full sync.

mod common;

use common::{test_providers, TestApp};
use muster::fakes::google::FakeGoogle;
use muster::fakes::{FakeOrg, Running};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

const ADMIN: &str = "admin@example.com";

async fn setup(people: usize) -> (TestApp, Client, Running, String, FakeOrg) {
    let org = FakeOrg::generate(people, 13);
    let fake = FakeGoogle::new(org.clone(), ADMIN);
    // The credentials JSON names the token endpoint, so it needs the address first.
    let listener = muster::fakes::listen(0).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let json = fake.credentials_json(&base);
    let fake = fake.start_on(listener).unwrap();
    let mut providers = test_providers(true);
    providers.google_directory_url = Some(base.parse().unwrap());
    let app = TestApp::spawn_with_providers(providers).await;
    let client = app.org_admin("Example", "it@example.org").await;
    (app, client, fake, json, org)
}

fn form(json: &str, admin: &str) -> Value {
    json!({ "form": { "provider": "google", "fields": {
        "credentials_json": json, "admin_email": admin } } })
}

async fn test_connection(app: &TestApp, client: &Client, body: &Value) -> (StatusCode, String) {
    let res = app.call_json(client, "test_connection", body).await;
    (res.status(), res.text().await.unwrap())
}

#[tokio::test]
async fn google_grant_errors_and_a_full_sync() {
    let (app, client, fake, json, org) = setup(700).await;
    let state = fake.state::<FakeGoogle>().unwrap();

    // A credentials JSON without its key says which field is missing.
    let mut partial: Value = serde_json::from_str(&json).unwrap();
    partial.as_object_mut().unwrap().remove("private_key");
    let (status, text) = test_connection(&app, &client, &form(&partial.to_string(), ADMIN)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    assert!(text.contains("\\\"private_key\\\""), "{text}");

    // Delegation not granted, or granted for another administrator.
    state.delegated.store(false, Ordering::Relaxed);
    let (status, text) = test_connection(&app, &client, &form(&json, ADMIN)).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(text.contains("unauthorized_client"), "{text}");
    assert!(text.contains("Domain-wide delegation"), "{text}");
    state.delegated.store(true, Ordering::Relaxed);
    let (status, text) = test_connection(&app, &client, &form(&json, "someone@example.com")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(text.contains("unauthorized_client"), "{text}");

    // Google's rate limit is a 403 with a reason, retried.
    fake.faults.rate_limit(2, "0");
    let (status, text) = test_connection(&app, &client, &form(&json, ADMIN)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(!text.contains("BEGIN PRIVATE KEY"));

    let res = app
        .call_json(&client, "connect_integration", &form(&json, ADMIN))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let done = app.wait_sync(&client, id).await;
    assert_eq!(done["status"], "connected", "{done}");
    assert_eq!(
        done["contact_count"].as_u64().unwrap() as usize,
        org.active()
    );
    assert_eq!(done["last_result"]["groups"], 16);
    assert!(!done.to_string().contains("PRIVATE KEY"));
    let page = app
        .json(&client, "list_contacts", &[("query[q]", "example.com")])
        .await;
    assert_eq!(page["rows"][0]["source"], "Google Workspace");
}
