//! Microsoft Entra ID against the fake tenant and Graph: the sign-in errors
//! with their AADSTS codes, missing consent, throttling, a failing sign-in
//! retried, paging over several pages, and a token that expires during the run.

mod common;

use app::model::{AppError, ConnectionTest, ContactPage, Integration, IntegrationStatus};
use common::{message, test_providers, TestApp};
use muster::fakes::entra::FakeEntra;
use muster::fakes::{FakeOrg, Running};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

const TENANT: &str = "contoso.onmicrosoft.com";
const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
const SECRET: &str = "Xy8Q~correct-secret";

async fn setup(people: usize) -> (TestApp, Client, Running, FakeOrg) {
    let org = FakeOrg::generate(people, 21);
    let mut fake = FakeEntra::new(org.clone(), TENANT, CLIENT, SECRET);
    fake.expired_secret = Some("Old~expired-secret".into());
    let fake = fake.start(0).await.unwrap();
    let mut providers = test_providers(true);
    providers.entra_login_url = Some(fake.url().parse().unwrap());
    providers.graph_url = Some(fake.url().parse().unwrap());
    let app = TestApp::spawn_with_providers(providers).await;
    let client = app.org_admin("Contoso", "admin@contoso.example").await;
    (app, client, fake, org)
}

fn form(tenant: &str, client: &str, secret: &str) -> Value {
    json!({ "form": { "provider": "entra", "fields": {
        "tenant_id": tenant, "client_id": client, "client_secret": secret, "cloud": "global" } } })
}

/// Test Connection's status, its answer, and the answer's raw text (which
/// must never hold the secret, whatever field it might come back in).
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
async fn sign_in_failures_name_the_aadsts_code_and_the_fix() {
    let (app, client, fake, _) = setup(30).await;
    for (body, expect) in [
        (form(TENANT, CLIENT, "wrong"), "AADSTS7000215"),
        (form(TENANT, CLIENT, "Old~expired-secret"), "AADSTS7000222"),
        (form("other.onmicrosoft.com", CLIENT, SECRET), "AADSTS90002"),
        (
            form(TENANT, "99999999-0000-0000-0000-000000000000", SECRET),
            "AADSTS700016",
        ),
    ] {
        let (status, answer, _) = test_connection(&app, &client, &body).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{answer:?}");
        assert!(message(&answer).contains(expect), "{expect}: {answer:?}");
    }
    let (_, answer, _) = test_connection(&app, &client, &form(TENANT, CLIENT, "wrong")).await;
    assert!(message(&answer).contains("not its Secret ID"), "{answer:?}");

    // Signed in, but without admin consent.
    fake_consent(&fake, false);
    let (status, answer, _) = test_connection(&app, &client, &form(TENANT, CLIENT, SECRET)).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(
        message(&answer).contains("Authorization_RequestDenied"),
        "{answer:?}"
    );
    assert!(
        message(&answer).contains("Grant admin consent"),
        "{answer:?}"
    );
    fake_consent(&fake, true);

    let (status, answer, text) =
        test_connection(&app, &client, &form(TENANT, CLIENT, SECRET)).await;
    assert_eq!(status, StatusCode::OK, "{answer:?}");
    let test = answer.unwrap();
    assert!(test.users > 20, "{test:?}");
    // Raw text: the secret must appear nowhere in the answer.
    assert!(!text.contains(SECRET));
}

/// The fake's consent switch lives behind its router; reach it through the
/// shared state kept by `Running`.
fn fake_consent(fake: &Running, on: bool) {
    let state = fake
        .state::<FakeEntra>()
        .expect("the running fake is an Entra tenant");
    state.consented.store(on, Ordering::Relaxed);
}

#[tokio::test]
async fn a_directory_over_several_pages_with_throttling_and_a_token_expiring_midway() {
    let (app, client, fake, org) = setup(2300).await;
    let state = fake.state::<FakeEntra>().unwrap();
    // Tokens die after 300 ms although they say an hour; requests take 60 ms.
    state.real_lifetime_ms.store(300, Ordering::Relaxed);
    fake.faults.latency_ms.store(60, Ordering::Relaxed);
    fake.faults.rate_limit(1, "0.25");
    let res = app
        .call_json(
            &client,
            "connect_integration",
            &form(TENANT, CLIENT, SECRET),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let id = res.json::<Integration>().await.unwrap().id;
    let done = app.wait_sync(&client, id).await;
    assert_eq!(done.status, IntegrationStatus::Connected, "{done:?}");
    // Tokens expired during the run and new ones were fetched.
    assert!(
        state.tokens_issued() >= 3,
        "{} tokens",
        state.tokens_issued()
    );
    let active = org.active();
    let disabled = org
        .people
        .iter()
        .filter(|p| p.status == muster::fakes::org::Status::Suspended)
        .count();
    assert_eq!(done.contact_count as usize, active);
    let result = done.last_result.as_ref().expect("the sync's counts");
    assert_eq!(result.excluded as usize, disabled);
    assert_eq!(result.groups, 16);
    let groups = app.synced_groups().await;
    assert!(groups.iter().any(|g| g == "Berlin Office"), "{groups:?}");
    let page: ContactPage = app
        .json(&client, "list_contacts", &[("query[q]", "example.com")])
        .await;
    assert_eq!(page.rows[0].source, "Microsoft Entra ID");
}

#[tokio::test]
async fn a_failing_sign_in_is_retried_and_a_refused_one_is_not() {
    let (app, client, fake, _) = setup(30).await;
    let state = fake.state::<FakeEntra>().unwrap();

    // The sign-in fails once with a 503, then works: the token request is
    // retried like every other request.
    fake.faults.token_failures.store(1, Ordering::SeqCst);
    let (status, answer, _) = test_connection(&app, &client, &form(TENANT, CLIENT, SECRET)).await;
    assert_eq!(status, StatusCode::OK, "{answer:?}");
    assert_eq!(state.token_requests(), 2);
    assert_eq!(state.tokens_issued(), 1);

    // A refusal (401 for a wrong secret, 400 for an unknown tenant) is asked
    // once: trying again cannot change Microsoft's mind.
    for (body, expect) in [
        (form(TENANT, CLIENT, "wrong"), "AADSTS7000215"),
        (form("other.onmicrosoft.com", CLIENT, SECRET), "AADSTS90002"),
    ] {
        let before = state.token_requests();
        let (status, answer, _) = test_connection(&app, &client, &body).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{answer:?}");
        assert!(message(&answer).contains(expect), "{expect}: {answer:?}");
        assert_eq!(state.token_requests(), before + 1, "{expect}");
    }

    // Failing beyond the retries (three tries in the tests): the message says so.
    fake.faults.token_failures.store(10, Ordering::SeqCst);
    let before = state.token_requests();
    let (status, answer, _) = test_connection(&app, &client, &form(TENANT, CLIENT, SECRET)).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{answer:?}");
    assert!(message(&answer).contains("HTTP 503"), "{answer:?}");
    assert!(
        message(&answer).contains("also when tried again"),
        "{answer:?}"
    );
    assert_eq!(state.token_requests(), before + 3);
    fake.faults.token_failures.store(0, Ordering::SeqCst);
}
