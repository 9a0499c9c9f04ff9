//! SMS through Twilio's Messages API, against a fake Twilio over real HTTP
//! in both directions: the settings (sealed, checked, never shown again, a
//! token that does not follow a changed address); an incident's texts with
//! their answers, Twilio's refusals (temporary ones tried again, permanent
//! ones failed with Twilio's code), its signed delivery reports; answers
//! texted back by number; forged webhooks refused; another organisation's
//! webhook reaching nothing of this one's.

mod common;

use app::backend::db::entities::sms_setting;
use app::backend::incidents::outbox::{Outbox, OutboxSettings};
use app::model::{
    AppError, AuditEntry, Channels, DeliveryStatus, Incident, IncidentProgress,
    IncidentRecipientPage, LaunchPreview, LaunchRequest, RecipientFilter, Recipients, Rule,
    ScenarioDraft, SmsSettings,
};
use common::{form_call, json_call, TestApp};
use muster::fakes::twilio::{self, Twilio};
use reqwest::{Client, StatusCode};
use sea_orm::EntityTrait;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "9f8e7d6c5b4a39281706f5e4d3c2b1a0";
const NUMBER: &str = "+15005550006";

struct Setup {
    app: TestApp,
    twilio: Arc<Twilio>,
    _running: muster::fakes::Running,
}

async fn setup() -> Setup {
    let twilio = Twilio::new(SID, TOKEN, &[NUMBER]);
    let running = twilio::start(twilio.clone(), 0).await.unwrap();
    let settings = OutboxSettings {
        retries: vec![Duration::from_millis(200); 2],
        tick: Duration::from_millis(50),
        ..OutboxSettings::default()
    };
    let app =
        TestApp::spawn_at(move |s, url| s.with_outbox(Outbox::new(None, url, settings))).await;
    Setup {
        app,
        twilio,
        _running: running,
    }
}

fn form(base_url: &str, token: &str) -> serde_json::Value {
    json!({ "form": {
        "account_sid": SID,
        "auth_token": token,
        "sender": NUMBER,
        "base_url": base_url,
        "per_second": "50",
    }})
}

async fn save(s: &Setup, admin: &Client) -> SmsSettings {
    let (status, saved) = json_call::<SmsSettings>(
        &s.app,
        admin,
        "save_sms_settings",
        form(&s._running.url(), TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{saved:?}");
    saved.unwrap()
}

fn field_errors(e: AppError) -> Vec<String> {
    match e {
        AppError::Invalid(errors) => errors.into_iter().map(|e| e.field).collect(),
        other => panic!("not a form error: {other:?}"),
    }
}

#[tokio::test]
async fn sms_settings_are_sealed_checked_and_never_shown_again() {
    let s = setup().await;
    let admin = s.app.org_admin("Acme", "admin@acme.example").await;
    let other = s.app.org_admin("Other", "admin@other.example").await;
    let (_, none) = form_call::<Option<SmsSettings>>(&s.app, &admin, "get_sms_settings", &[]).await;
    assert_eq!(none.unwrap(), None);

    // Every problem named by its field; nothing saved.
    let (status, err) = json_call::<SmsSettings>(
        &s.app,
        &admin,
        "save_sms_settings",
        json!({ "form": { "account_sid": "AC12", "auth_token": "", "sender": "0800", "base_url": "", "per_second": "0" }}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        field_errors(err.unwrap_err()),
        ["account_sid", "sender", "per_second"]
    );
    let (status, err) = json_call::<SmsSettings>(
        &s.app,
        &admin,
        "save_sms_settings",
        form(&s._running.url(), ""),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field_errors(err.unwrap_err()), ["auth_token"]);

    let saved = save(&s, &admin).await;
    assert_eq!(saved.token_hint, "b1a0");
    assert_eq!(saved.per_second, 50);
    assert!(
        saved
            .inbound_url
            .starts_with(&format!("{}/sms/twilio/", s.app.url)),
        "{}",
        saved.inbound_url
    );
    // The token is in no answer and not in the clear in the database.
    let raw = s
        .app
        .call(&admin, "get_sms_settings", &[])
        .await
        .text()
        .await
        .unwrap();
    assert!(!raw.contains(TOKEN), "{raw}");
    let row = sms_setting::Entity::find()
        .one(&s.app.db)
        .await
        .unwrap()
        .unwrap();
    assert!(!row.secrets.contains(TOKEN));
    assert!(
        !row.secrets.contains("127.0.0.1"),
        "the base URL is sealed with the token"
    );

    // A test message goes out with the stored token.
    let (status, sid) = form_call::<String>(
        &s.app,
        &admin,
        "send_test_sms",
        &[("to", "+44 7400 123401")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{sid:?}");
    let sent = s.twilio.to("+447400123401");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].sid, sid.unwrap());
    assert_eq!(sent[0].from.as_deref(), Some(NUMBER));
    assert!(sent[0].body.contains("Acme"), "{}", sent[0].body);
    let (status, err) =
        form_call::<String>(&s.app, &admin, "send_test_sms", &[("to", "not a number")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field_errors(err.unwrap_err()), ["to"]);

    // Saved again without the token: kept. With another base URL and no
    // token: refused, since the stored token would go somewhere new.
    let (status, kept) = json_call::<SmsSettings>(
        &s.app,
        &admin,
        "save_sms_settings",
        form(&s._running.url(), ""),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{kept:?}");
    assert_eq!(
        kept.unwrap().inbound_url,
        saved.inbound_url,
        "the webhook key stays"
    );
    let (status, _) =
        form_call::<String>(&s.app, &admin, "send_test_sms", &[("to", "+447400123401")]).await;
    assert_eq!(status, StatusCode::OK);
    let elsewhere = "http://127.0.0.1:9/twilio";
    let (status, err) =
        json_call::<SmsSettings>(&s.app, &admin, "save_sms_settings", form(elsewhere, "")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field_errors(err.unwrap_err()), ["auth_token"]);

    // A wrong token: Twilio's refusal, said plainly.
    json_call::<SmsSettings>(
        &s.app,
        &admin,
        "save_sms_settings",
        form(&s._running.url(), "ffffffffffffffffffffffffffffffff"),
    )
    .await
    .1
    .unwrap();
    let (status, err) =
        form_call::<String>(&s.app, &admin, "send_test_sms", &[("to", "+447400123401")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let message = err.unwrap_err().field_message("to").unwrap();
    assert!(message.contains("20003"), "{message}");

    // Another organisation sees none of it, and cannot remove it.
    let (_, theirs) =
        form_call::<Option<SmsSettings>>(&s.app, &other, "get_sms_settings", &[]).await;
    assert_eq!(theirs.unwrap(), None);
    let (status, _) = form_call::<()>(&s.app, &other, "remove_sms_settings", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, history) = form_call::<Vec<AuditEntry>>(&s.app, &admin, "settings_history", &[]).await;
    let history = history.unwrap();
    assert_eq!(history.len(), 3, "{history:?}");
    assert!(history.iter().all(|e| e.action == "changed SMS settings"));
    assert!(!format!("{history:?}").contains(TOKEN));

    let (status, _) = form_call::<()>(&s.app, &admin, "remove_sms_settings", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let (_, none) = form_call::<Option<SmsSettings>>(&s.app, &admin, "get_sms_settings", &[]).await;
    assert_eq!(none.unwrap(), None);
}

async fn progress(app: &TestApp, admin: &Client, id: i64) -> IncidentProgress {
    let (status, p) = form_call(app, admin, "incident_progress", &[("id", &id.to_string())]).await;
    assert_eq!(status, StatusCode::OK, "{p:?}");
    p.unwrap()
}

/// The progress once `done` holds of it.
async fn until(
    app: &TestApp,
    admin: &Client,
    id: i64,
    done: impl Fn(&IncidentProgress) -> bool,
) -> IncidentProgress {
    let started = Instant::now();
    loop {
        let p = progress(app, admin, id).await;
        if done(&p) {
            return p;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "still: {p:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn person(app: &TestApp, admin: &Client, first: &str, phone: &str) {
    let email = format!("{}@acme.example", first.to_lowercase());
    app.create(
        admin,
        &[
            ("draft[first_name]", first),
            ("draft[last_name]", "Tester"),
            ("draft[email]", &email),
            ("draft[phone]", phone),
            ("draft[department]", "Engineering"),
        ],
    )
    .await;
}

async fn recipients(app: &TestApp, admin: &Client, id: i64) -> IncidentRecipientPage {
    let (status, page) = json_call(
        app,
        admin,
        "incident_recipients",
        json!({ "id": id, "filter": RecipientFilter::default() }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page:?}");
    page.unwrap()
}

#[tokio::test]
async fn an_incident_texts_its_recipients_and_takes_their_answers_by_reply() {
    let s = setup().await;
    let app = &s.app;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let other = app.org_admin("Other", "admin@other.example").await;
    let draft = ScenarioDraft {
        name: "Flood".into(),
        subject: "Flood".into(),
        body: "Hello {first_name}, the ground floor is flooded.".into(),
        channels: Channels {
            email: false,
            sms: true,
        },
        options: vec!["I'm safe".into(), "I need help".into()],
        recipients: Recipients {
            rules: vec![Rule {
                department: "Engineering".into(),
                ..Default::default()
            }],
            ..Default::default()
        },
        ..ScenarioDraft::new_blank()
    };

    // Before SMS is set up, the launch says so.
    person(app, &admin, "Ada", "+447400123401").await;
    let (_, preview) =
        json_call::<LaunchPreview>(app, &admin, "preview_launch", json!({ "draft": draft })).await;
    let why = preview.unwrap().sms_unavailable.unwrap();
    assert!(why.contains("Settings"), "{why}");

    let saved = save(&s, &admin).await;
    person(app, &admin, "Bob", "+447400123402").await;
    person(app, &admin, "Cy", "+447400123403").await;
    person(app, &admin, "Dee", "+447400123404").await;
    person(app, &admin, "Eve", "").await;
    s.twilio.undeliverable("+447400123402", 30003);
    s.twilio.refuse(
        "+447400123403",
        400,
        21610,
        "Attempt to send to unsubscribed recipient",
        5,
    );
    s.twilio
        .refuse("+447400123404", 503, 20500, "Internal Server Error", 1);
    s.twilio
        .rate_limited
        .store(1, std::sync::atomic::Ordering::SeqCst);

    let (_, preview) =
        json_call::<LaunchPreview>(app, &admin, "preview_launch", json!({ "draft": draft })).await;
    let preview = preview.unwrap();
    assert_eq!((preview.reach.people, preview.texts), (5, 4));
    assert_eq!(preview.sms_unavailable, None);
    let (status, incident) = json_call::<Incident>(
        app,
        &admin,
        "launch_incident",
        json!({ "request": LaunchRequest { scenario_id: None, draft: draft.clone() } }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{incident:?}");
    let incident = incident.unwrap();

    // Ada's and Dee's delivered (one of them after a 429, Dee's after a
    // 503), Bob's undelivered as Twilio reported, Cy's refused for good.
    let p = until(app, &admin, incident.id, |p| {
        p.sms.queued == 0 && p.sms.sent == 0
    })
    .await;
    assert_eq!((p.sms.delivered, p.sms.failed), (2, 2), "{p:?}");
    for number in ["+447400123401", "+447400123402", "+447400123404"] {
        assert_eq!(s.twilio.to(number).len(), 1, "{number}");
    }
    assert!(s.twilio.to("+447400123403").is_empty());
    let ada = &s.twilio.to("+447400123401")[0];
    assert_eq!(ada.from.as_deref(), Some(NUMBER));
    assert!(
        ada.body
            .starts_with("Hello Ada, the ground floor is flooded."),
        "{}",
        ada.body
    );
    assert!(
        ada.body
            .contains("Reply with a number:\n1 I'm safe\n2 I need help"),
        "{}",
        ada.body
    );
    assert!(
        ada.body.contains(&format!("{}/respond/", app.url)),
        "{}",
        ada.body
    );
    assert!(ada
        .status_callback
        .as_deref()
        .unwrap()
        .starts_with(&format!("{}/sms/twilio/", app.url)));
    // Every report Twilio sent was taken.
    let reports = s.twilio.callbacks();
    assert_eq!(reports.len(), 6, "{reports:?}");
    assert!(
        reports.iter().all(|(_, _, code)| *code == 204),
        "{reports:?}"
    );
    let rows = recipients(app, &admin, incident.id).await.rows;
    let row = |name: &str| rows.iter().find(|r| r.name == name).unwrap().clone();
    assert_eq!(
        row("Ada Tester").sms_status,
        Some(DeliveryStatus::Delivered)
    );
    assert_eq!(row("Bob Tester").sms_status, Some(DeliveryStatus::Failed));
    let bob = row("Bob Tester").error.unwrap();
    assert!(
        bob.contains("30003") && bob.contains("Unreachable"),
        "{bob}"
    );
    let cy = row("Cy Tester").error.unwrap();
    assert!(cy.contains("21610"), "{cy}");
    assert_eq!(row("Eve Tester").sms_status, None);

    // Answers texted back: by number, the last one counts.
    let inbound = saved.inbound_url.clone();
    let (status, twiml) = s.twilio.reply("+447400123401", NUMBER, "2", &inbound).await;
    assert_eq!(status, 200, "{twiml}");
    assert!(
        twiml.contains("<Message>Thank you. Your answer: I need help.</Message>"),
        "{twiml}"
    );
    let p = progress(app, &admin, incident.id).await;
    assert_eq!(p.tally, vec![0, 1]);
    let (_, twiml) = s
        .twilio
        .reply("+447400123401", NUMBER, " 1 ", &inbound)
        .await;
    assert!(twiml.contains("I'm safe"), "{twiml}");
    let (_, twiml) = s
        .twilio
        .reply("+447400123404", NUMBER, "1. safe", &inbound)
        .await;
    assert!(twiml.contains("I'm safe"), "{twiml}");
    assert_eq!(progress(app, &admin, incident.id).await.tally, vec![2, 0]);
    let rows = recipients(app, &admin, incident.id).await.rows;
    assert_eq!(
        rows.iter()
            .find(|r| r.name == "Ada Tester")
            .unwrap()
            .response
            .as_deref(),
        Some("I'm safe")
    );

    // Not an answer: the options said again; opt-out words and strangers get
    // nothing back; nothing changes.
    let (_, twiml) = s.twilio.reply("+447400123402", NUMBER, "7", &inbound).await;
    assert!(
        twiml.contains("Reply with the number of your answer: 1 I'm safe, 2 I need help."),
        "{twiml}"
    );
    let (_, twiml) = s
        .twilio
        .reply("+447400123402", NUMBER, "STOP", &inbound)
        .await;
    assert!(twiml.ends_with("<Response></Response>"), "{twiml}");
    let (_, twiml) = s.twilio.reply("+447499999999", NUMBER, "1", &inbound).await;
    assert!(twiml.ends_with("<Response></Response>"), "{twiml}");
    assert_eq!(progress(app, &admin, incident.id).await.tally, vec![2, 0]);

    // Forged requests: signed with another token, or for another URL.
    let forged = |body: &str| {
        vec![
            ("From".to_string(), "+447400123402".to_string()),
            ("To".to_string(), NUMBER.to_string()),
            ("Body".to_string(), body.to_string()),
            ("AccountSid".to_string(), SID.to_string()),
        ]
    };
    let (status, _) = s
        .twilio
        .post_signed(&inbound, &forged("2"), "not-the-token-0123456789")
        .await;
    assert_eq!(status, 403);
    let ada_id = rows.iter().find(|r| r.name == "Ada Tester").unwrap().id;
    let status_url = ada.status_callback.clone().unwrap();
    let report = vec![
        ("MessageSid".to_string(), ada.sid.clone()),
        ("MessageStatus".to_string(), "undelivered".to_string()),
        ("ErrorCode".to_string(), "30005".to_string()),
    ];
    let (status, _) = s
        .twilio
        .post_signed(&status_url, &report, "not-the-token-0123456789")
        .await;
    assert_eq!(status, 403);
    // Signed for Ada's delivery, replayed against another: refused.
    let (status_base, ada_delivery) = status_url.rsplit_once('/').unwrap();
    let moved = format!("{status_base}/{}", 1_000_000);
    let signed_elsewhere = twilio::signature(TOKEN, &status_url, &report);
    let res = reqwest::Client::new()
        .post(&moved)
        .header("X-Twilio-Signature", signed_elsewhere)
        .form(&report)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // And a delivered text is not undone by a late failure report.
    let (status, _) = s.twilio.post_signed(&status_url, &report, TOKEN).await;
    assert_eq!(status, 204);
    let rows = recipients(app, &admin, incident.id).await.rows;
    let ada_row = rows.iter().find(|r| r.id == ada_id).unwrap();
    assert_eq!(ada_row.sms_status, Some(DeliveryStatus::Delivered));
    assert_eq!(progress(app, &admin, incident.id).await.tally, vec![2, 0]);

    // Another organisation's webhook reaches nothing of Acme's, even signed
    // with its own token.
    let theirs = save(&s, &other).await;
    let (status, twiml) = s
        .twilio
        .reply("+447400123402", NUMBER, "2", &theirs.inbound_url)
        .await;
    assert_eq!(status, 200);
    assert!(twiml.ends_with("<Response></Response>"), "{twiml}");
    let (status, _) = s
        .twilio
        .post_signed(
            &theirs
                .inbound_url
                .replace("/inbound", &format!("/status/{ada_delivery}")),
            &report,
            TOKEN,
        )
        .await;
    assert_eq!(status, 204, "signed, but Acme's delivery is not Other's");
    assert_eq!(progress(app, &admin, incident.id).await.tally, vec![2, 0]);
    let rows = recipients(app, &admin, incident.id).await.rows;
    assert_eq!(
        rows.iter().find(|r| r.id == ada_id).unwrap().sms_status,
        Some(DeliveryStatus::Delivered)
    );
    // An unknown webhook key: nobody's.
    let (status, _) = s
        .twilio
        .reply(
            "+447400123402",
            NUMBER,
            "2",
            &format!("{}/sms/twilio/0000/inbound", app.url),
        )
        .await;
    assert_eq!(status, 404);

    // Resolved: answers are closed, and the reply says so.
    let (status, _) = form_call::<Incident>(
        app,
        &admin,
        "resolve_incident",
        &[("id", &incident.id.to_string())],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, twiml) = s.twilio.reply("+447400123402", NUMBER, "1", &inbound).await;
    assert!(twiml.contains("answers are closed"), "{twiml}");
    assert_eq!(progress(app, &admin, incident.id).await.tally, vec![2, 0]);
}
