//! A stored secret never follows a changed address: an edit (Test Connection
//! or Save) that changes a setting deciding where a provider's secrets are
//! sent, with the secret left empty, is refused naming the secret, sends
//! nothing anywhere and stores nothing. Typed again, the secret goes to the
//! new address. Other settings can still change with the secret kept.

mod common;

use app::model::{AppError, Integration, Provider};
use common::{test_providers, TestApp};
use muster::fakes::entra::FakeEntra;
use muster::fakes::google::FakeGoogle;
use muster::fakes::okta::FakeOkta;
use muster::fakes::scim::FakeScim;
use muster::fakes::workday::FakeWorkday;
use muster::fakes::{FakeOrg, Running};
use reqwest::{Client, StatusCode};
use serde_json::{json, Map, Value};
use std::sync::atomic::Ordering;

/// An edit form of integration `id`.
fn edit(id: i64, provider: Provider, fields: &Value) -> Value {
    json!({ "id": id, "form": { "provider": provider.key(), "fields": fields } })
}

fn with(fields: &Value, key: &str, value: &str) -> Value {
    let mut map: Map<String, Value> = fields.as_object().unwrap().clone();
    map.insert(key.to_string(), value.into());
    Value::Object(map)
}

/// Connect with `fields` and wait for the first sync; the integration's id.
async fn connect(app: &TestApp, client: &Client, provider: Provider, fields: &Value) -> i64 {
    let form = json!({ "form": { "provider": provider.key(), "fields": fields } });
    let res = app.call_json(client, "connect_integration", &form).await;
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{text}");
    let id = serde_json::from_str::<Integration>(&text).unwrap().id;
    app.wait_sync(client, id).await;
    id
}

async fn stored(app: &TestApp, client: &Client, id: i64) -> Integration {
    let res = app.call(client, "integrations", &[]).await;
    let list: Vec<Integration> = res.json().await.unwrap();
    list.into_iter().find(|i| i.id == id).expect("listed")
}

fn requests(fakes: &[&Running]) -> Vec<usize> {
    fakes
        .iter()
        .map(|f| f.faults.requests.load(Ordering::SeqCst))
        .collect()
}

/// `moved` (the stored fields with a destination changed and `secret` left
/// empty) is refused by Test Connection and by Save, naming `secret`; no fake
/// hears of it and the integration is as it was.
async fn refused(
    app: &TestApp,
    client: &Client,
    id: i64,
    provider: Provider,
    moved: &Value,
    secret: &str,
    fakes: &[&Running],
) {
    let before = stored(app, client, id).await;
    let heard = requests(fakes);
    for name in ["test_connection", "update_integration"] {
        let res = app
            .call_json(client, name, &edit(id, provider, &with(moved, secret, "")))
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        let error: AppError = res.json().await.unwrap();
        let message = error.field_message(secret).unwrap_or_default();
        assert!(
            message.contains("changed: enter the") && message.contains("again"),
            "{name}: {error:?}"
        );
    }
    assert_eq!(requests(fakes), heard, "a fake was called");
    assert_eq!(stored(app, client, id).await, before);
}

/// The same edit with the secret typed again goes where it says.
async fn accepted(
    app: &TestApp,
    client: &Client,
    id: i64,
    provider: Provider,
    moved: &Value,
    to: &Running,
) {
    let heard = to.faults.requests.load(Ordering::SeqCst);
    let res = app
        .call_json(client, "update_integration", &edit(id, provider, moved))
        .await;
    let status = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(to.faults.requests.load(Ordering::SeqCst) > heard);
}

#[tokio::test]
async fn okta_domain() {
    let app = TestApp::spawn().await;
    let client = app.org_admin("Acme", "admin@acme.example").await;
    let token = "00okta-token-typed-once";
    let first = FakeOkta::new(FakeOrg::generate(20, 1), token)
        .start(0)
        .await
        .unwrap();
    let second = FakeOkta::new(FakeOrg::generate(20, 2), token)
        .start(0)
        .await
        .unwrap();
    let fields = json!({ "domain": first.url(), "api_token": token });
    let id = connect(&app, &client, Provider::Okta, &fields).await;

    let moved = with(&fields, "domain", &second.url());
    refused(
        &app,
        &client,
        id,
        Provider::Okta,
        &moved,
        "api_token",
        &[&first, &second],
    )
    .await;

    // A setting that sends nothing elsewhere still keeps the stored token.
    let heard = first.faults.requests.load(Ordering::SeqCst);
    let kept = with(&with(&fields, "api_token", ""), "expires_on", "2027-03-01");
    let res = app
        .call_json(
            &client,
            "update_integration",
            &edit(id, Provider::Okta, &kept),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(first.faults.requests.load(Ordering::SeqCst) > heard);
    // Only a change of the address counts: the same domain typed with spaces is no change.
    let same = with(&kept, "domain", &format!("  {}  ", first.url()));
    let res = app
        .call_json(&client, "test_connection", &edit(id, Provider::Okta, &same))
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    accepted(&app, &client, id, Provider::Okta, &moved, &second).await;
    assert_eq!(
        stored(&app, &client, id).await.settings["domain"],
        second.url()
    );
}

#[tokio::test]
async fn scim_base_url() {
    let app = TestApp::spawn().await;
    let client = app.org_admin("Acme", "admin@acme.example").await;
    let first = FakeScim::new(FakeOrg::generate(20, 3), "scim-token")
        .start(0)
        .await
        .unwrap();
    let second = FakeScim::new(FakeOrg::generate(20, 4), "scim-token")
        .start(0)
        .await
        .unwrap();
    let fields = json!({ "base_url": format!("{}/scim/v2", first.url()), "token": "scim-token" });
    let id = connect(&app, &client, Provider::Scim, &fields).await;
    // Even a path on the same host is another place.
    for base in [
        format!("{}/scim/v2", second.url()),
        format!("{}/other/scim/v2", first.url()),
    ] {
        let moved = with(&fields, "base_url", &base);
        refused(
            &app,
            &client,
            id,
            Provider::Scim,
            &moved,
            "token",
            &[&first, &second],
        )
        .await;
    }
    let moved = with(&fields, "base_url", &format!("{}/scim/v2", second.url()));
    accepted(&app, &client, id, Provider::Scim, &moved, &second).await;
}

#[tokio::test]
async fn workday_report_url() {
    let app = TestApp::spawn().await;
    let client = app.org_admin("Acme", "admin@acme.example").await;
    let report = "/ccx/service/customreport2/acme/ISU_Muster/Muster_Workers?format=json";
    let first = FakeWorkday::new(FakeOrg::generate(20, 5), "ISU_Muster", "s3cret")
        .start(0)
        .await
        .unwrap();
    let second = FakeWorkday::new(FakeOrg::generate(20, 6), "ISU_Muster", "s3cret")
        .start(0)
        .await
        .unwrap();
    let fields = json!({ "report_url": format!("{}{report}", first.url()),
        "username": "ISU_Muster", "password": "s3cret" });
    let id = connect(&app, &client, Provider::Workday, &fields).await;
    let moved = with(&fields, "report_url", &format!("{}{report}", second.url()));
    refused(
        &app,
        &client,
        id,
        Provider::Workday,
        &moved,
        "password",
        &[&first, &second],
    )
    .await;
    accepted(&app, &client, id, Provider::Workday, &moved, &second).await;
}

#[tokio::test]
async fn entra_tenant_and_cloud() {
    const TENANT: &str = "contoso.onmicrosoft.com";
    const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
    const SECRET: &str = "Xy8Q~typed-once";
    let fake = FakeEntra::new(FakeOrg::generate(20, 7), TENANT, CLIENT, SECRET)
        .start(0)
        .await
        .unwrap();
    let mut providers = test_providers(true);
    providers.entra_login_url = Some(fake.url().parse().unwrap());
    providers.graph_url = Some(fake.url().parse().unwrap());
    let app = TestApp::spawn_with_providers(providers).await;
    let client = app.org_admin("Contoso", "admin@contoso.example").await;
    let fields = json!({ "tenant_id": TENANT, "client_id": CLIENT,
        "client_secret": SECRET, "cloud": "global" });
    let id = connect(&app, &client, Provider::Entra, &fields).await;

    for (key, value) in [
        ("tenant_id", "attacker.onmicrosoft.com"),
        ("cloud", "china"),
    ] {
        let moved = with(&fields, key, value);
        refused(
            &app,
            &client,
            id,
            Provider::Entra,
            &moved,
            "client_secret",
            &[&fake],
        )
        .await;
    }
    // The client ID says who signs in, not where: the stored secret is kept
    // (and the fake's sign-in refuses the unknown client, so nothing is saved).
    let other_client = with(
        &with(&fields, "client_secret", ""),
        "client_id",
        "99999999-0000-0000-0000-000000000000",
    );
    let res = app
        .call_json(
            &client,
            "test_connection",
            &edit(id, Provider::Entra, &other_client),
        )
        .await;
    let text = res.text().await.unwrap();
    assert!(text.contains("AADSTS700016"), "{text}");
}

#[tokio::test]
async fn google_key_carries_its_own_address() {
    const ADMIN: &str = "admin@example.com";
    let org = FakeOrg::generate(20, 8);
    let fake = FakeGoogle::new(org, ADMIN);
    let listener = muster::fakes::listen(0).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let key = fake.credentials_json(&base);
    let fake = fake.start_on(listener).unwrap();
    let mut providers = test_providers(true);
    providers.google_directory_url = Some(base.parse().unwrap());
    let app = TestApp::spawn_with_providers(providers).await;
    let client = app.org_admin("Example", "it@example.org").await;
    let fields = json!({ "credentials_json": key, "admin_email": ADMIN });
    let id = connect(&app, &client, Provider::Google, &fields).await;

    // No setting outside the key decides where it goes (its token_uri is
    // inside it, so changing that means pasting a key): the administrator
    // it acts as can change with the stored key.
    assert!(Provider::Google.secret_destinations().is_empty());
    let heard = fake.faults.requests.load(Ordering::SeqCst);
    let other_admin = json!({ "credentials_json": "", "admin_email": "boss@example.com" });
    let res = app
        .call_json(
            &client,
            "test_connection",
            &edit(id, Provider::Google, &other_admin),
        )
        .await;
    assert_ne!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(fake.faults.requests.load(Ordering::SeqCst) > heard);
}
