//! Integrations against the fake providers, over real HTTP both ways: Test
//! Connection, Connect with the first sync, failures with their messages,
//! retries, a failed fetch changing nothing, removal, sealed credentials,
//! refused private addresses, an untrusted certificate, and isolation
//! between organisations.

mod common;

use app::model::{
    AppError, ConnectionTest, Contact, ContactPage, Expiry, Facets, Integration, IntegrationStatus,
    Provider,
};
use common::{error_text, message, test_providers, TestApp, UntrustedTls};
use muster::fakes::okta::FakeOkta;
use muster::fakes::scim::FakeScim;
use muster::fakes::{FakeOrg, Faults, Running};
use reqwest::{Client, StatusCode};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

const TOKEN: &str = "00okta-test-token-0123456789";

async fn okta(org: FakeOrg) -> Running {
    FakeOkta::new(org, TOKEN).start(0).await.unwrap()
}

fn okta_form(fake: &Running, token: &str) -> Value {
    json!({ "form": { "provider": "okta", "fields": { "domain": fake.url(), "api_token": token } } })
}

async fn test_connection(
    app: &TestApp,
    client: &Client,
    form: &Value,
) -> (StatusCode, Result<ConnectionTest, AppError>) {
    let res = app.call_json(client, "test_connection", form).await;
    common::answer(res).await
}

/// Connect, then wait for the first sync to end; the integration as listed.
async fn connect(app: &TestApp, client: &Client, form: &Value) -> Integration {
    let res = app.call_json(client, "connect_integration", form).await;
    let (status, connected) = common::answer::<Integration>(res).await;
    assert_eq!(status, StatusCode::OK, "{connected:?}");
    app.wait_sync(client, connected.unwrap().id).await
}

async fn sync_now(app: &TestApp, client: &Client, id: i64) -> Integration {
    let id_text = id.to_string();
    let _: Integration = app
        .json(client, "sync_integration", &[("id", id_text.as_str())])
        .await;
    app.wait_sync(client, id).await
}

/// (source, count) of the organisation's contacts.
async fn sources(app: &TestApp, org: i64) -> Vec<(String, i64)> {
    let db = &app.db;
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT source, COUNT(*) AS n FROM contacts WHERE org_id = {org} \
                 GROUP BY source ORDER BY source"
            ),
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            (
                r.try_get::<String>("", "source").unwrap(),
                r.try_get::<i64>("", "n").unwrap(),
            )
        })
        .collect()
}

async fn versions_sum(app: &TestApp) -> i64 {
    let db = &app.db;
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT CAST(COALESCE(SUM(version), 0) AS BIGINT) AS v FROM contacts".to_string(),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "v").unwrap()
}

fn active_with_details(org: &FakeOrg) -> usize {
    org.active()
}

#[tokio::test]
async fn okta_test_connect_sync_and_remove() {
    let app = TestApp::spawn().await;
    let client = app.org_admin("Acme", "admin@acme.example").await;
    let org = FakeOrg::generate(450, 7);
    let fake = okta(org.clone()).await;

    // A contact added by hand with the email of someone in Okta, and one who is not there.
    let shared = org
        .people
        .iter()
        .find(|p| p.status == muster::fakes::org::Status::Active)
        .unwrap();
    app.create(
        &client,
        &[
            ("draft[first_name]", "Hand"),
            ("draft[last_name]", "Made"),
            ("draft[email]", &shared.email.to_uppercase()),
        ],
    )
    .await;
    app.create(
        &client,
        &[
            ("draft[first_name]", "Only"),
            ("draft[last_name]", "Manual"),
            ("draft[email]", "only.manual@acme.example"),
        ],
    )
    .await;

    let (status, test) = test_connection(&app, &client, &okta_form(&fake, TOKEN)).await;
    assert_eq!(status, StatusCode::OK, "{test:?}");
    let test = test.unwrap();
    assert!(test.more, "{test:?}");
    let first_page = test.users;
    assert!((150..=200).contains(&first_page), "{test:?}");
    assert_eq!(test.sample.len(), 5);

    let done = connect(&app, &client, &okta_form(&fake, TOKEN)).await;
    assert_eq!(done.status, IntegrationStatus::Connected, "{done:?}");
    assert_eq!(done.last_error, None);
    let result = done.last_result.as_ref().expect("the first sync's counts");
    let suspended = org
        .people
        .iter()
        .filter(|p| p.status == muster::fakes::org::Status::Suspended)
        .count() as u64;
    assert_eq!(result.excluded, suspended, "{done:?}");
    assert_eq!(result.people as usize, active_with_details(&org));
    assert_eq!(result.linked, 1, "{done:?}");
    assert_eq!(result.skipped, 0, "{done:?}");
    let created = result.created as usize;
    assert_eq!(created + 1, org.active());
    assert_eq!(done.contact_count as usize, org.active());
    assert_eq!(done.provider, Provider::Okta);
    // Secrets: which are set, never their value.
    assert_eq!(done.secrets[0].key, "api_token");
    // Raw text: a typed answer would drop a field it does not know, token and all.
    let listed = app.call(&client, "integrations", &[]).await;
    assert_eq!(listed.status(), StatusCode::OK);
    assert!(!listed.text().await.unwrap().contains(TOKEN));

    assert_eq!(
        sources(&app, 1).await,
        vec![
            ("Manual".to_string(), 1),
            ("Okta".to_string(), org.active() as i64)
        ]
    );
    // Groups from Okta, with their members (the built-in Everyone left out);
    // they are the integration's, not offered as the organisation's own.
    let names = app.synced_groups().await;
    assert!(names.iter().any(|n| n == "Engineering Team"), "{names:?}");
    assert!(!names.iter().any(|n| n == "Everyone"));
    let facets: Facets = app.json(&client, "contact_facets", &[]).await;
    assert!(facets.groups.is_empty(), "{facets:?}");
    // The contacts are searchable at once.
    let found: ContactPage = app
        .json(
            &client,
            "list_contacts",
            &[("query[q]", shared.email.as_str())],
        )
        .await;
    assert_eq!(found.total, 1, "{found:?}");
    // The hand-made contact was taken over: Okta's name and source now.
    assert_eq!(found.rows[0].source, "Okta", "{found:?}");
    assert_eq!(
        found.rows[0].name,
        format!("{} {}", shared.first_name, shared.last_name)
    );

    // A second sync changes nothing.
    let before = versions_sum(&app).await;
    let again = sync_now(&app, &client, done.id).await;
    assert_eq!(again.status, IntegrationStatus::Connected, "{again:?}");
    assert_eq!(
        again.last_result.as_ref().unwrap().unchanged as usize,
        org.active()
    );
    assert_eq!(versions_sum(&app).await, before);

    // Remove: the count first, then the contacts and groups go; the manual one stays.
    let id = done.id.to_string();
    // The contact taken over by email is not counted: it goes back to Manual.
    let count: i64 = app
        .json(&client, "integration_removal_count", &[("id", &id)])
        .await;
    assert_eq!(count as usize, org.active() - 1);
    let removed: i64 = app
        .json(&client, "remove_integration", &[("id", &id)])
        .await;
    assert_eq!(removed, count);
    assert_eq!(sources(&app, 1).await, vec![("Manual".to_string(), 2)]);
    assert_eq!(app.synced_groups().await, Vec::<String>::new());
    assert!(app
        .integration(&client, id.parse().unwrap())
        .await
        .is_none());
}

#[tokio::test]
async fn scim_directory_with_paging_and_groups() {
    let app = TestApp::spawn().await;
    let client = app.org_admin("Acme", "admin@acme.example").await;
    let org = FakeOrg::generate(230, 3);
    let fake = FakeScim::new(org.clone(), "scim-token")
        .start(0)
        .await
        .unwrap();
    let form = json!({ "form": { "provider": "scim", "fields": {
        "base_url": format!("{}/scim/v2", fake.url()), "token": "scim-token" } } });
    let (status, test) = test_connection(&app, &client, &form).await;
    assert_eq!(status, StatusCode::OK, "{test:?}");
    assert!(test.unwrap().more);
    let done = connect(&app, &client, &form).await;
    assert_eq!(done.status, IntegrationStatus::Connected, "{done:?}");
    let inactive = org.people.len() - org.active();
    assert_eq!(
        done.last_result.as_ref().unwrap().excluded as usize,
        inactive
    );
    assert_eq!(done.contact_count as usize, org.active());
    assert_eq!(
        sources(&app, 1).await,
        vec![("SCIM 2.0 directory".to_string(), org.active() as i64)]
    );
    // Wrong token: SCIM's error detail is passed on.
    let bad = json!({ "form": { "provider": "scim", "fields": {
        "base_url": format!("{}/scim/v2", fake.url()), "token": "nope" } } });
    let (status, err) = test_connection(&app, &client, &bad).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(
        message(&err).contains("refused the access token"),
        "{err:?}"
    );
}

#[tokio::test]
async fn okta_failures_say_what_to_do() {
    let app = TestApp::spawn().await;
    let client = app.org_admin("Acme", "admin@acme.example").await;
    let mut fake = FakeOkta::new(FakeOrg::generate(10, 1), TOKEN);
    fake.powerless_token = Some("00powerless".into());
    let fake = fake.start(0).await.unwrap();

    let (status, err) = test_connection(&app, &client, &okta_form(&fake, "00wrong")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(message(&err).contains("E0000011"), "{err:?}");
    assert!(message(&err).contains("Security → API → Tokens"), "{err:?}");

    let (status, err) = test_connection(&app, &client, &okta_form(&fake, "00powerless")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(message(&err).contains("Read-Only Administrator"), "{err:?}");

    // Missing fields are named; nothing is sent.
    let empty = json!({ "form": { "provider": "okta", "fields": { "domain": "" } } });
    let (status, err) = test_connection(&app, &client, &empty).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(message(&err).contains("Enter the Domain"), "{err:?}");
    assert!(message(&err).contains("Enter the API Token"), "{err:?}");

    // A domain that does not resolve.
    let nowhere = json!({ "form": { "provider": "okta", "fields": {
        "domain": "https://muster-test.invalid", "api_token": TOKEN } } });
    let (status, err) = test_connection(&app, &client, &nowhere).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(
        message(&err).contains("Could not find muster-test.invalid"),
        "{err:?}"
    );

    // A server that does not speak TLS on an https:// address.
    let (status, err) = test_connection(
        &app,
        &client,
        &json!({ "form": { "provider": "okta", "fields": {
            "domain": format!("https://{}", fake.addr), "api_token": TOKEN } } }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(message(&err).contains("secure connection"), "{err:?}");

    // Not an Okta API at all.
    let (status, err) = test_connection(
        &app,
        &client,
        &json!({ "form": { "provider": "okta", "fields": {
            "domain": app.url.clone(), "api_token": TOKEN } } }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{err:?}");

    // Connect refuses credentials that fail, and saves nothing.
    let res = app
        .call_json(&client, "connect_integration", &okta_form(&fake, "00wrong"))
        .await;
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    let listed: Vec<Integration> = app.json(&client, "integrations", &[]).await;
    assert!(listed.is_empty(), "{listed:?}");
}

#[tokio::test]
async fn an_untrusted_certificate_is_named_and_saves_nothing() {
    let app = TestApp::spawn().await;
    let client = app.org_admin("Acme", "admin@acme.example").await;
    let server = UntrustedTls::start().await;
    let form = json!({ "form": { "provider": "okta", "fields": {
        "domain": format!("https://{}", server.addr), "api_token": TOKEN } } });

    let (status, err) = test_connection(&app, &client, &form).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{err:?}");
    assert!(message(&err).contains("secure connection"), "{err:?}");
    assert!(
        message(&err)
            .contains("certificate is not trusted (self-signed or from an unknown authority)"),
        "{err:?}"
    );

    // Connect tests first, so it fails the same way and saves nothing.
    let res = app.call_json(&client, "connect_integration", &form).await;
    let (status, err) = common::refusal(res).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{err:?}");
    assert!(error_text(&err).contains("not trusted"), "{err:?}");
    let listed: Vec<Integration> = app.json(&client, "integrations", &[]).await;
    assert!(listed.is_empty(), "{listed:?}");
    assert_eq!(app.contact_count(1).await, 0);

    // Each try stopped at the certificate, and none was retried: a
    // certificate does not become trusted by asking again.
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
    assert_eq!(server.handshakes.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn rate_limits_and_passing_failures_are_retried() {
    let app = TestApp::spawn().await;
    let client = app.org_admin("Acme", "admin@acme.example").await;
    let org = FakeOrg::generate(450, 11);
    let fake = okta(org.clone()).await;
    // Two 429s asking for a fractional wait, then a 503 on the second page once.
    fake.faults.rate_limit(2, "0.2");
    Faults::set(&fake.faults.fail_page_once, Some(2));
    let started = std::time::Instant::now();
    let done = connect(&app, &client, &okta_form(&fake, TOKEN)).await;
    assert_eq!(done.status, IntegrationStatus::Connected, "{done:?}");
    assert!(started.elapsed() >= std::time::Duration::from_millis(400));
    assert_eq!(done.contact_count as usize, org.active());

    // Without Retry-After, Okta's X-Rate-Limit-Reset (a second ahead) is honoured.
    *fake.faults.retry_after.lock().unwrap() = None;
    fake.faults.rate_limited.store(1, Ordering::SeqCst);
    let (status, test) = test_connection(&app, &client, &okta_form(&fake, TOKEN)).await;
    assert_eq!(status, StatusCode::OK, "{test:?}");

    // Rate limited beyond the retries: the message says so.
    fake.faults.rate_limit(10, "0.05");
    let (status, err) = test_connection(&app, &client, &okta_form(&fake, TOKEN)).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(message(&err).contains("rate limit"), "{err:?}");
    fake.faults.rate_limited.store(0, Ordering::SeqCst);
}

#[tokio::test]
async fn a_failed_fetch_changes_no_contact() {
    let app = TestApp::spawn().await;
    let client = app.org_admin("Acme", "admin@acme.example").await;
    let org = FakeOrg::generate(450, 5);
    let fake = okta(org.clone()).await;
    let done = connect(&app, &client, &okta_form(&fake, TOKEN)).await;
    assert_eq!(done.status, IntegrationStatus::Connected, "{done:?}");
    let id = done.id;
    let before = (sources(&app, 1).await, versions_sum(&app).await);

    // A 5xx in the middle of paging, every time.
    Faults::set(&fake.faults.fail_page, Some(2));
    let failed = sync_now(&app, &client, id).await;
    assert_eq!(failed.status, IntegrationStatus::Failed);
    assert!(
        failed
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("HTTP 500")),
        "{failed:?}"
    );
    // The last good result is kept beside the error.
    assert_eq!(failed.last_result, done.last_result);
    assert_eq!((sources(&app, 1).await, versions_sum(&app).await), before);
    Faults::set(&fake.faults.fail_page, None);

    // Malformed JSON on a page.
    Faults::set(&fake.faults.malformed_page, Some(3));
    let failed = sync_now(&app, &client, id).await;
    assert_eq!(failed.status, IntegrationStatus::Failed);
    assert!(
        failed
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("not Okta's list")),
        "{failed:?}"
    );
    assert_eq!((sources(&app, 1).await, versions_sum(&app).await), before);
    Faults::set(&fake.faults.malformed_page, None);

    // A page that never comes: the timeout, retried, then given up.
    Faults::set(&fake.faults.hang_page, Some(2));
    let failed = sync_now(&app, &client, id).await;
    assert_eq!(failed.status, IntegrationStatus::Failed);
    assert!(
        failed
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("did not answer in time")),
        "{failed:?}"
    );
    assert_eq!((sources(&app, 1).await, versions_sum(&app).await), before);
    Faults::set(&fake.faults.hang_page, None);

    let ok = sync_now(&app, &client, id).await;
    assert_eq!(ok.status, IntegrationStatus::Connected, "{ok:?}");
    assert_eq!(ok.last_error, None);
}

#[tokio::test]
async fn credentials_are_sealed_and_never_returned() {
    let app = TestApp::spawn().await;
    let client = app.org_admin("Acme", "admin@acme.example").await;
    let fake = okta(FakeOrg::generate(20, 2)).await;
    let done = connect(&app, &client, &okta_form(&fake, TOKEN)).await;
    assert_eq!(done.status, IntegrationStatus::Connected, "{done:?}");

    // No column of any integration holds the token in plain text.
    let db = &app.db;
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT provider, settings, secrets, secrets_set, status, \
             COALESCE(last_error, '') AS last_error, COALESCE(last_result, '') AS last_result \
             FROM integrations"
                .to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    for col in [
        "provider",
        "settings",
        "secrets",
        "secrets_set",
        "status",
        "last_error",
        "last_result",
    ] {
        let v: String = rows[0].try_get("", col).unwrap();
        assert!(!v.contains(TOKEN), "{col} holds the token");
        assert!(
            !v.contains("okta-test-token"),
            "{col} holds part of the token"
        );
    }
    let sealed: String = rows[0].try_get("", "secrets").unwrap();
    assert!(sealed.starts_with("v1:"));

    // No server function answer carries it: read as raw text, since a typed
    // answer would drop a field it does not know, token and all.
    let id = done.id.to_string();
    for (name, form) in [
        ("integrations", vec![]),
        ("sync_integration", vec![("id", id.as_str())]),
        ("integration_removal_count", vec![("id", id.as_str())]),
    ] {
        let res = app.call(&client, name, &form).await;
        let status = res.status();
        let text = res.text().await.unwrap();
        // An answer, not a refusal: a refusal would carry nothing to check.
        assert!(status.is_success(), "{name}: {status}: {text}");
        assert!(!text.contains(TOKEN), "{name} answered with the token");
    }
    app.wait_sync(&client, done.id).await;

    // Editing: a secret left empty keeps the stored one (tested, then saved);
    // a wrong new one is refused and changes nothing; a bad date is named.
    let num = done.id;
    let edit = |token: &str, expires: &str| {
        json!({ "id": num, "form": { "provider": "okta", "fields": {
            "domain": fake.url(), "api_token": token, "expires_on": expires } } })
    };
    let set_at = done.secrets[0].set_at;
    let res = app
        .call_json(&client, "update_integration", &edit("", "2027-01-31"))
        .await;
    let (status, saved) = common::answer::<Integration>(res).await;
    assert_eq!(status, StatusCode::OK, "{saved:?}");
    let saved = saved.unwrap();
    assert_eq!(
        saved.settings.get("expires_on").map(String::as_str),
        Some("2027-01-31")
    );
    assert_eq!(
        saved.secrets[0].set_at, set_at,
        "kept secret keeps its date"
    );
    let res = app
        .call_json(&client, "update_integration", &edit("00wrong", ""))
        .await;
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    let res = app
        .call_json(&client, "update_integration", &edit("", "31/01/2027"))
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = app
        .call_json(
            &client,
            "test_connection",
            &json!({ "id": num, "form": { "provider": "okta",
            "fields": { "domain": fake.url(), "api_token": "" } } }),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "a stored secret is used by Test Connection"
    );
    let after = app.integration(&client, num).await.unwrap();
    assert_eq!(
        after.settings.get("expires_on").map(String::as_str),
        Some("2027-01-31")
    );
    assert_eq!(after.secrets[0].set_at, set_at);
    assert_eq!(after.expiry_warning, None);
    // Within 30 days of the recorded expiry, the integration says so.
    let soon = (chrono::Utc::now().date_naive() + chrono::Duration::days(10)).to_string();
    let res = app
        .call_json(&client, "update_integration", &edit("", &soon))
        .await;
    let (status, saved) = common::answer::<Integration>(res).await;
    assert_eq!(status, StatusCode::OK, "{saved:?}");
    let saved = saved.unwrap();
    assert_eq!(saved.expiry_warning, Some(Expiry::Soon(10)), "{saved:?}");

    // Nor does the page.
    let page = client
        .get(format!("{}/contacts/integrations", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains(TOKEN));
}

#[tokio::test]
async fn private_addresses_are_refused() {
    let app = TestApp::spawn_with_providers(test_providers(false)).await;
    let client = app.org_admin("Acme", "admin@acme.example").await;
    let fake = okta(FakeOrg::generate(5, 1)).await;
    let port = fake.addr.port();
    for (domain, expect) in [
        (fake.url(), "https://"),
        (format!("https://127.0.0.1:{port}"), "private or local"),
        (format!("https://localhost:{port}"), "private or local"),
        ("https://169.254.169.254".to_string(), "private or local"),
    ] {
        let form = json!({ "form": { "provider": "okta", "fields": {
            "domain": domain, "api_token": TOKEN } } });
        let (status, err) = test_connection(&app, &client, &form).await;
        assert!(
            status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::BAD_GATEWAY,
            "{domain}: {status}"
        );
        assert!(message(&err).contains(expect), "{domain}: {err:?}");
    }
    assert_eq!(fake.faults.requests.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn organisations_do_not_see_each_others_integrations() {
    let app = TestApp::spawn().await;
    let acme = app.org_admin("Acme", "admin@acme.example").await;
    let globex = app.org_admin("Globex", "admin@globex.example").await;
    let fake = okta(FakeOrg::generate(20, 4)).await;
    let done = connect(&app, &acme, &okta_form(&fake, TOKEN)).await;
    let id = done.id.to_string();
    let listed: Vec<Integration> = app.json(&globex, "integrations", &[]).await;
    assert!(listed.is_empty(), "{listed:?}");
    for name in [
        "sync_integration",
        "integration_removal_count",
        "remove_integration",
    ] {
        let res = app.call(&globex, name, &[("id", id.as_str())]).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{name}");
    }
    assert_eq!(sources(&app, 2).await, vec![]);
    let anonymous = app.client();
    let res = app.call(&anonymous, "integrations", &[]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(app.integration(&acme, done.id).await.is_some());
}

async fn execute(app: &TestApp, sql: String) {
    app.db
        .execute_raw(Statement::from_string(app.db.get_database_backend(), sql))
        .await
        .unwrap();
}

/// One sync at a time per integration, on any replica: Sync now and Remove
/// are refused while a sync runs; a sync whose heartbeat stopped (its server
/// died) is recorded as interrupted by the sweeper and is due at once as a
/// retry, which a server's scheduler takes over; Sync now can run it too.
#[tokio::test]
async fn one_sync_at_a_time_and_interrupted_syncs_are_swept() {
    let app = TestApp::spawn().await;
    let client = app.org_admin("Acme", "admin@acme.example").await;
    let fake = okta(FakeOrg::generate(60, 9)).await;
    let first = connect(&app, &client, &okta_form(&fake, TOKEN)).await;
    assert_eq!(first.status, IntegrationStatus::Connected, "{first:?}");
    let id = first.id;
    let id_text = id.to_string();
    let form = [("id", id_text.as_str())];

    // A slow source keeps the next sync running while we knock.
    fake.faults.latency_ms.store(600, Ordering::SeqCst);
    let res = app.call(&client, "sync_integration", &form).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.call(&client, "sync_integration", &form).await;
    let (status, err) = common::refusal(res).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        matches!(&err, AppError::Conflict(m) if m.contains("already running")),
        "{err:?}"
    );
    let res = app.call(&client, "remove_integration", &form).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    fake.faults.latency_ms.store(0, Ordering::SeqCst);
    let done = app.wait_sync(&client, id).await;
    assert_eq!(done.status, IntegrationStatus::Connected, "{done:?}");

    // A replica died in the middle of a sync: "syncing", heartbeat a minute old.
    let a_minute_ago = chrono::Utc::now().timestamp_millis() - 60_000;
    let died = format!(
        "UPDATE integrations SET status = 'syncing', heartbeat_at = {a_minute_ago} WHERE id = {id}"
    );
    execute(&app, died.clone()).await;
    // The sweeper (every 15 s with the default 30 s) is not waited for.
    app::backend::integrations::sweep_interrupted(&app.db, std::time::Duration::from_secs(30), 3)
        .await
        .unwrap();
    let swept = app.integration(&client, id).await.unwrap();
    assert_eq!(swept.status, IntegrationStatus::Failed, "{swept:?}");
    assert!(
        swept
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("interrupted")),
        "{swept:?}"
    );
    assert_eq!(swept.next_retry, 1, "{swept:?}");
    assert!(
        swept.next_sync_at.unwrap() <= chrono::Utc::now(),
        "{swept:?}"
    );
    // Any server's scheduler takes it over, as retry 1.
    let started = app
        .scheduler(std::time::Duration::from_secs(1))
        .start_due()
        .await
        .unwrap();
    assert_eq!(started, 1);
    let retried = app.wait_sync(&client, id).await;
    assert_eq!(retried.status, IntegrationStatus::Connected, "{retried:?}");
    assert_eq!(retried.next_retry, 0, "{retried:?}");
    assert!(
        retried.next_sync_at.unwrap() > chrono::Utc::now(),
        "{retried:?}"
    );
    // Interrupted with its retries spent: not taken over again, its next
    // sync the daily one (given back by the scheduler's next look).
    execute(
        &app,
        format!("UPDATE integrations SET retries = 3, status = 'syncing', heartbeat_at = {a_minute_ago} WHERE id = {id}"),
    )
    .await;
    app::backend::integrations::sweep_interrupted(&app.db, std::time::Duration::from_secs(30), 3)
        .await
        .unwrap();
    let spent = app.integration(&client, id).await.unwrap();
    assert_eq!(spent.status, IntegrationStatus::Failed, "{spent:?}");
    assert_eq!(
        (spent.next_retry, spent.next_sync_at),
        (0, None),
        "{spent:?}"
    );
    let scheduler = app.scheduler(std::time::Duration::from_secs(1));
    assert_eq!(scheduler.start_due().await.unwrap(), 0);
    let daily = app.integration(&client, id).await.unwrap();
    assert_eq!(daily.next_sync_at, retried.next_sync_at, "{daily:?}");
    // Before any sweep, Sync now takes over a sync whose heartbeat stopped.
    execute(&app, died).await;
    let again = sync_now(&app, &client, id).await;
    assert_eq!(again.status, IntegrationStatus::Connected, "{again:?}");
    assert_eq!(again.last_error, None, "{again:?}");
}

/// A synced contact's groups from its source are shown apart and kept by
/// the sync; editing the contact's own groups leaves them alone, and the
/// group picker offers only the organisation's own groups.
#[tokio::test]
async fn synced_groups_are_shown_but_not_edited_by_hand() {
    let app = TestApp::spawn().await;
    let client = app.org_admin("Acme", "admin@acme.example").await;
    let fake = okta(FakeOrg::generate(80, 5)).await;
    let done = connect(&app, &client, &okta_form(&fake, TOKEN)).await;
    assert_eq!(done.status, IntegrationStatus::Connected, "{done:?}");
    let db = &app.db;
    let member = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT m.contact_id AS id FROM group_members m JOIN contact_groups g \
             ON g.id = m.group_id WHERE g.integration_id IS NOT NULL ORDER BY m.contact_id LIMIT 1"
                .to_string(),
        ))
        .await
        .unwrap()
        .expect("a synced contact in a synced group");
    let id = member.try_get::<i64>("", "id").unwrap().to_string();
    let get = || async {
        app.json::<Contact>(&client, "get_contact", &[("id", &id)])
            .await
    };
    let before = get().await;
    assert!(before.synced, "{before:?}");
    let manual = app
        .create(
            &client,
            &[
                ("draft[first_name]", "Only"),
                ("draft[last_name]", "Manual"),
                ("draft[email]", "only.manual@acme.example"),
            ],
        )
        .await;
    assert!(!manual.synced, "{manual:?}");
    assert!(before.groups.is_empty(), "{before:?}");
    let synced = before.synced_groups.clone();
    assert!(!synced.is_empty(), "{before:?}");

    let version = before.version.to_string();
    let edit = [
        ("id", id.as_str()),
        ("version", version.as_str()),
        ("draft[first_name]", before.first_name.as_str()),
        ("draft[last_name]", before.last_name.as_str()),
        ("draft[email]", before.email.as_deref().unwrap()),
        ("draft[groups][0]", "On call"),
    ];
    let res = app.call(&client, "update_contact", &edit).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    let after = get().await;
    assert_eq!(after.groups, ["On call"], "{after:?}");
    assert_eq!(after.synced_groups, synced, "{after:?}");

    let facets: Facets = app.json(&client, "contact_facets", &[]).await;
    assert_eq!(facets.groups, ["On call"], "{facets:?}");
    // The next sync keeps the source's memberships and the hand-made one.
    sync_now(&app, &client, done.id).await;
    let later = get().await;
    assert_eq!(later.groups, ["On call"], "{later:?}");
    assert_eq!(later.synced_groups, synced, "{later:?}");
}
