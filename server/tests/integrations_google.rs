//! Google Workspace against the fake token endpoint and Directory API: a real
//! RS256 JWT grant checked by the fake, delegation errors, a credentials JSON
//! missing a field, Google's 403 rate limit retried, and a full sync.

mod common;

use app::model::{AppError, ConnectionTest, ContactPage, Integration, IntegrationStatus};
use common::{message, test_providers, TestApp};
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

/// Test Connection's status, its answer, and the answer's raw text (which
/// must never hold the key, whatever field it might come back in).
async fn test_connection(
    app: &TestApp,
    client: &Client,
    body: &Value,
) -> (StatusCode, Result<ConnectionTest, AppError>, String) {
    let res = app.call_json(client, "test_connection", body).await;
    let status = res.status();
    let text = res.text().await.unwrap();
    let answer = common::parse_answer(status, &text);
    (status, answer, text)
}

#[tokio::test]
async fn google_grant_errors_and_a_full_sync() {
    let (app, client, fake, json, org) = setup(700).await;
    let state = fake.state::<FakeGoogle>().unwrap();

    // A credentials JSON without its key says which field is missing.
    let mut partial: Value = serde_json::from_str(&json).unwrap();
    partial.as_object_mut().unwrap().remove("private_key");
    let (status, answer, _) =
        test_connection(&app, &client, &form(&partial.to_string(), ADMIN)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer:?}");
    assert!(message(&answer).contains("\"private_key\""), "{answer:?}");

    // Delegation not granted, or granted for another administrator.
    state.delegated.store(false, Ordering::Relaxed);
    let (status, answer, _) = test_connection(&app, &client, &form(&json, ADMIN)).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(
        message(&answer).contains("unauthorized_client"),
        "{answer:?}"
    );
    assert!(
        message(&answer).contains("Domain-wide delegation"),
        "{answer:?}"
    );
    state.delegated.store(true, Ordering::Relaxed);
    let (status, answer, _) =
        test_connection(&app, &client, &form(&json, "someone@example.com")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(
        message(&answer).contains("unauthorized_client"),
        "{answer:?}"
    );

    // Google's rate limit is a 403 with a reason, retried.
    fake.faults.rate_limit(2, "0");
    let (status, answer, text) = test_connection(&app, &client, &form(&json, ADMIN)).await;
    assert_eq!(status, StatusCode::OK, "{answer:?}");
    // Raw text: the key must appear nowhere in the answer.
    assert!(!text.contains("BEGIN PRIVATE KEY"));

    let res = app
        .call_json(&client, "connect_integration", &form(&json, ADMIN))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let id = res.json::<Integration>().await.unwrap().id;
    let done = app.wait_sync(&client, id).await;
    assert_eq!(done.status, IntegrationStatus::Connected, "{done:?}");
    assert_eq!(done.contact_count as usize, org.active());
    assert_eq!(done.last_result.as_ref().unwrap().groups, 16);
    // Raw text: a typed answer would drop a field it does not know, key and all.
    let listed = app.call(&client, "integrations", &[]).await;
    assert_eq!(listed.status(), StatusCode::OK);
    assert!(!listed.text().await.unwrap().contains("PRIVATE KEY"));
    let page: ContactPage = app
        .json(&client, "list_contacts", &[("query[q]", "example.com")])
        .await;
    assert_eq!(page.rows[0].source, "Google Workspace");
}
