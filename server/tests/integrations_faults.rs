//! The same faults for every paged provider: a 5xx in the middle of paging, a
//! malformed page, a page that never comes, and a 429 with Retry-After. A
//! failed read fails the sync and changes no contact; a passing fault is
//! retried and the sync completes.

mod common;

use app::model::{Integration, IntegrationStatus};
use common::{count_contacts, test_providers, TestApp};
use muster::fakes::entra::FakeEntra;
use muster::fakes::google::FakeGoogle;
use muster::fakes::scim::FakeScim;
use muster::fakes::{FakeOrg, Faults, Running};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

/// A fake provider with enough people for three pages, the app connected to
/// it, and the Connect form for it.
async fn provider(kind: &str) -> (TestApp, Client, Running, Value) {
    let org = FakeOrg::generate(2100, 31);
    let mut providers = test_providers(true);
    let (fake, form) = match kind {
        "scim" => {
            let fake = FakeScim::new(org, "t0k").start(0).await.unwrap();
            let form = json!({ "provider": "scim", "fields": {
                "base_url": format!("{}/scim/v2", fake.url()), "token": "t0k" } });
            (fake, form)
        }
        "entra" => {
            let fake = FakeEntra::new(org, "t.example", "app", "s")
                .start(0)
                .await
                .unwrap();
            providers.entra_login_url = Some(fake.url().parse().unwrap());
            providers.graph_url = Some(fake.url().parse().unwrap());
            let form = json!({ "provider": "entra", "fields": {
                "tenant_id": "t.example", "client_id": "app", "client_secret": "s", "cloud": "global" } });
            (fake, form)
        }
        "google" => {
            let listener = muster::fakes::listen(0).await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let fake = FakeGoogle::new(org, "admin@example.com");
            let json = fake.credentials_json(&base);
            let fake = fake.start_on(listener).unwrap();
            providers.google_directory_url = Some(fake.url().parse().unwrap());
            let form = json!({ "provider": "google", "fields": {
                "credentials_json": json, "admin_email": "admin@example.com" } });
            (fake, form)
        }
        other => panic!("no fake provider named {other:?}"),
    };
    let app = TestApp::spawn_with_providers(providers).await;
    let client = app.org_admin("Acme", "admin@acme.example").await;
    (app, client, fake, form)
}

async fn sync(app: &TestApp, client: &Client, id: Option<i64>, form: &Value) -> Integration {
    let res = match id {
        None => {
            app.call_json(client, "connect_integration", &json!({ "form": form }))
                .await
        }
        Some(id) => {
            let id = id.to_string();
            app.call(client, "sync_integration", &[("id", id.as_str())])
                .await
        }
    };
    assert_eq!(res.status(), StatusCode::OK);
    let id = res.json::<Integration>().await.unwrap().id;
    app.wait_sync(client, id).await
}

async fn faults_for(kind: &str) {
    let (app, client, fake, form) = provider(kind).await;
    // A 503 on the second page once, and a 429 asking for 0.2 s: retried.
    Faults::set(&fake.faults.fail_page_once, Some(2));
    fake.faults.rate_limit(1, "0.2");
    let done = sync(&app, &client, None, &form).await;
    assert_eq!(
        done.status,
        IntegrationStatus::Connected,
        "{kind}: {done:?}"
    );
    let id = Some(done.id);
    let contacts = count_contacts(&app.db, 1).await;
    assert!(contacts > 1900, "{kind}: {contacts}");

    for (slot, what) in [
        (&fake.faults.fail_page, "a 5xx in the middle of paging"),
        (&fake.faults.malformed_page, "a malformed page"),
        (&fake.faults.hang_page, "a page that never comes"),
    ] {
        Faults::set(slot, Some(2));
        let failed = sync(&app, &client, id, &form).await;
        assert_eq!(
            failed.status,
            IntegrationStatus::Failed,
            "{kind}, {what}: {failed:?}"
        );
        assert!(failed.last_error.as_deref().is_some_and(|e| !e.is_empty()));
        assert_eq!(count_contacts(&app.db, 1).await, contacts, "{kind}, {what}");
        Faults::set(slot, None);
    }
    let again = sync(&app, &client, id, &form).await;
    assert_eq!(
        again.status,
        IntegrationStatus::Connected,
        "{kind}: {again:?}"
    );
    assert_eq!(
        again.last_result.as_ref().unwrap().unchanged as i64,
        contacts,
        "{kind}"
    );
}

#[tokio::test]
async fn scim_faults() {
    faults_for("scim").await;
}

#[tokio::test]
async fn entra_faults() {
    faults_for("entra").await;
}

#[tokio::test]
async fn google_faults() {
    faults_for("google").await;
}
