//! Tenant isolation, authentication and the contact directory over real HTTP.

mod common;

use app::model::{AppError, Contact, ContactPage, Facets, Me};
use common::TestApp;
use reqwest::StatusCode;

fn contact(first: &str, last: &str, email: &str) -> Vec<(&'static str, String)> {
    vec![
        ("draft[first_name]", first.into()),
        ("draft[last_name]", last.into()),
        ("draft[email]", email.into()),
    ]
}

fn as_refs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn calls_without_a_session_are_refused() {
    let app = TestApp::spawn().await;
    let _admin = app.org_admin("Acme", "admin@acme.example").await;
    let anon = app.client();
    let c = contact("Eve", "Anon", "eve@x.example");
    for (name, form) in [
        ("list_contacts", vec![("query[q]", "")]),
        ("contact_facets", vec![]),
        ("get_contact", vec![("id", "1")]),
        ("create_contact", as_refs(&c)),
        (
            "update_contact",
            [vec![("id", "1"), ("version", "1")], as_refs(&c)].concat(),
        ),
        ("delete_contact", vec![("id", "1")]),
        ("whoami", vec![]),
    ] {
        let res = app.call(&anon, name, &form).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{name}");
    }
    // A forged cookie is no better than none.
    let forged = reqwest::Client::new()
        .post(format!("{}/api/list_contacts", app.url))
        .header(
            "cookie",
            "muster_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        )
        .form(&[("query[q]", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    // Pages send the visitor to sign in.
    let page = anon
        .get(format!("{}/contacts", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(page.headers()["location"], "/login?next=%2Fcontacts");
}

#[tokio::test]
async fn a_second_organisation_can_neither_read_nor_change_the_first_ones_contacts() {
    let app = TestApp::spawn().await;
    let alice = app.org_admin("Acme", "alice@acme.example").await;
    let mallory = app.org_admin("Evil Corp", "mallory@evil.example").await;

    let mut form = contact("Ada", "Lovelace", "ada@acme.example");
    form.push(("draft[department]", "Engineering".into()));
    form.push(("draft[groups][0]", "Acme Secret Group".into()));
    let created = app.create(&alice, &as_refs(&form)).await;
    let id = created.id.to_string();

    // Mallory's directory is empty, and her filters show none of Acme's values.
    let list: ContactPage = app
        .json(&mallory, "list_contacts", &[("query[q]", "")])
        .await;
    assert_eq!(list.total, 0);
    assert_eq!(list.rows.len(), 0);
    let facets: Facets = app.json(&mallory, "contact_facets", &[]).await;
    assert_eq!(facets.departments.len(), 0);
    assert_eq!(facets.groups.len(), 0);
    let found: ContactPage = app
        .json(&mallory, "list_contacts", &[("query[q]", "lovelace")])
        .await;
    assert_eq!(found.total, 0);

    // With Acme's id in hand she still cannot read, change or delete it.
    let res = app.call(&mallory, "get_contact", &[("id", &id)]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let hacked = contact("Hacked", "Hacked", "hacked@evil.example");
    let edit = [
        vec![("id", id.as_str()), ("version", "1")],
        as_refs(&hacked),
    ]
    .concat();
    let res = app.call(&mallory, "update_contact", &edit).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = app.call(&mallory, "delete_contact", &[("id", &id)]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // The same email is free in her own organisation.
    app.create(
        &mallory,
        &as_refs(&contact("Ada", "Other", "ada@acme.example")),
    )
    .await;

    // Acme's contact is untouched.
    let got: Contact = app.json(&alice, "get_contact", &[("id", &id)]).await;
    assert_eq!(got.first_name, "Ada");
    assert_eq!(got.version, 1);
    assert_eq!(got.groups[0], "Acme Secret Group");
    let list: ContactPage = app.json(&alice, "list_contacts", &[("query[q]", "")]).await;
    assert_eq!(list.total, 1);
}

#[tokio::test]
async fn validation_duplicates_and_stale_edits() {
    let app = TestApp::spawn().await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;

    let mut bad = contact("", "Nobody", "not-an-email");
    bad.push(("draft[phone]", "12345".into()));
    let res = app.call(&admin, "create_contact", &as_refs(&bad)).await;
    let (status, err) = common::refusal(res).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for field in ["first_name", "email", "phone"] {
        assert!(
            err.field_message(field).is_some(),
            "{field} missing from {err:?}"
        );
    }

    let mut ok = contact("Grace", "Hopper", "Grace@Navy.example");
    ok.push(("draft[phone]", "07911 123456".into()));
    let created = app.create(&admin, &as_refs(&ok)).await;
    assert_eq!(
        created.phone.as_deref(),
        Some("+447911123456"),
        "stored in E.164 with the org's region"
    );
    let id = created.id.to_string();

    let dup = app
        .call(
            &admin,
            "create_contact",
            &as_refs(&contact("G", "H", "grace@navy.EXAMPLE")),
        )
        .await;
    let (status, err) = common::refusal(dup).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        err.field_message("email")
            .is_some_and(|m| m.contains("already exists")),
        "{err:?}"
    );

    let edit = |version: &'static str, first: &'static str| {
        [
            vec![("id", id.clone()), ("version", version.to_string())],
            contact(first, "Hopper", "grace@navy.example"),
        ]
        .concat()
    };
    let res = app
        .call(&admin, "update_contact", &as_refs(&edit("1", "Amazing")))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .call(&admin, "update_contact", &as_refs(&edit("1", "Stale")))
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let got: Contact = app.json(&admin, "get_contact", &[("id", &id)]).await;
    assert_eq!(got.first_name, "Amazing");
    assert_eq!(got.version, 2);
}

#[tokio::test]
async fn search_filters_and_paging_are_consistent() {
    let app = TestApp::spawn().await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    app::backend::demo::seed(
        &app.db,
        app::backend::domain::OrgId::trusted(1),
        230,
        |_| {},
    )
    .await
    .unwrap();

    // Walk every page forwards: each contact exactly once, in name order.
    let mut seen = Vec::new();
    let mut after = String::new();
    let mut total;
    loop {
        let page: ContactPage = app
            .json(
                &admin,
                "list_contacts",
                &[("query[q]", ""), ("query[after]", &after)],
            )
            .await;
        total = page.total;
        for r in &page.rows {
            seen.push((r.name.to_lowercase(), r.id));
        }
        match page.next {
            Some(n) => after = n,
            None => break,
        }
    }
    assert_eq!(total, 230);
    assert_eq!(seen.len(), 230);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted);

    // A search's count equals its rows, and combines with a filter.
    let count = |q: &'static str, dept: &'static str| {
        let admin = admin.clone();
        let url = app.url.clone();
        async move {
            let v: ContactPage = admin
                .post(format!("{url}/api/list_contacts"))
                .form(&[("query[q]", q), ("query[department]", dept)])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (v.total, v.rows.len() as u64)
        }
    };
    let (all_smith, rows) = count("smith", "").await;
    assert!(all_smith > 0);
    assert_eq!(rows, all_smith.min(50));
    let (eng_smith, _) = count("smith", "Engineering").await;
    let (eng, _) = count("", "Engineering").await;
    assert!(eng_smith <= all_smith && eng_smith <= eng && eng < 230);
    let (short, _) = count("ma", "").await;
    assert!(short > 0, "two-letter prefixes match names");
    let (none, rows) = count("zzzqqq", "").await;
    assert_eq!((none, rows), (0, 0));
}

#[tokio::test]
async fn cross_site_state_changes_are_refused() {
    let app = TestApp::spawn().await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let res = admin
        .post(format!("{}/api/create_contact", app.url))
        .header("origin", "https://evil.example")
        .form(&as_refs(&contact("Csrf", "Victim", "csrf@acme.example")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = admin
        .post(format!("{}/api/create_contact", app.url))
        .header("sec-fetch-site", "cross-site")
        .form(&as_refs(&contact("Csrf", "Victim", "csrf@acme.example")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let list: ContactPage = app.json(&admin, "list_contacts", &[("query[q]", "")]).await;
    assert_eq!(list.total, 0);
}

#[tokio::test]
async fn setup_happens_once_and_sign_in_is_throttled() {
    let app = TestApp::spawn_with_setup_code("directory-test-code").await;
    let browser = app.client();
    let page = browser
        .get(format!("{}/contacts", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.headers()["location"], "/setup");
    let form = [
        ("org_name", "Acme"),
        ("default_region", "GB"),
        ("time_zone", "Europe/London"),
        ("email", "first@acme.example"),
        ("password", common::PASSWORD),
        ("setup_code", "directory-test-code"),
    ];
    let res = app.call(&browser, "setup", &form).await;
    assert!(res.status().is_success() || res.status().is_redirection());
    let me: Me = app.json(&browser, "whoami", &[]).await;
    assert_eq!(me.org_name, "Acme");
    let again = app.call(&app.client(), "setup", &form).await;
    assert_eq!(again.status(), StatusCode::FORBIDDEN);

    let attacker = app.client();
    let mut last = StatusCode::OK;
    for _ in 0..11 {
        last = app
            .call(
                &attacker,
                "login",
                &[
                    ("email", "first@acme.example"),
                    ("password", "wrong password!"),
                ],
            )
            .await
            .status();
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    // Even the right password is refused while locked.
    let res = app
        .call(
            &attacker,
            "login",
            &[
                ("email", "first@acme.example"),
                ("password", common::PASSWORD),
            ],
        )
        .await;
    let (status, err) = common::refusal(res).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        matches!(&err, AppError::TooManyAttempts(m) if m.contains("Too many failed sign-ins")),
        "{err:?}"
    );
}
