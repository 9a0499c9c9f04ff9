//! The Recipients selector's groups and reach: groups of every kind, rules
//! and picked contacts, each person once, deactivated people never, and one
//! organisation's groups and contacts out of another's reach.

mod common;

use app::model::{
    AppError, Contact, Integration, Reach, ReachFilter, RecipientGroup, RecipientPage, Recipients,
    Rule,
};
use common::scim::Idp;
use common::{test_providers, TestApp};
use muster::fakes::okta::FakeOkta;
use muster::fakes::FakeOrg;
use reqwest::{Client, StatusCode};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

const TOKEN: &str = "00okta-test-token-0123456789";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

async fn groups(app: &TestApp, admin: &Client) -> Vec<RecipientGroup> {
    app.json(admin, "recipient_groups", &[]).await
}

async fn reach(
    app: &TestApp,
    admin: &Client,
    selection: &Recipients,
) -> (StatusCode, Result<Reach, AppError>) {
    let res = app
        .call_json(admin, "recipient_reach", &json!({ "selection": selection }))
        .await;
    common::answer(res).await
}

async fn reached(app: &TestApp, admin: &Client, selection: &Recipients) -> Reach {
    let (status, reach) = reach(app, admin, selection).await;
    assert_eq!(status, StatusCode::OK, "{reach:?}");
    reach.unwrap()
}

async fn person(
    app: &TestApp,
    admin: &Client,
    name: (&str, &str),
    email: &str,
    phone: &str,
    (department, location): (&str, &str),
    group: &str,
) -> Contact {
    let mut form = vec![
        ("draft[first_name]", name.0),
        ("draft[last_name]", name.1),
        ("draft[email]", email),
        ("draft[phone]", phone),
        ("draft[department]", department),
        ("draft[location]", location),
    ];
    if !group.is_empty() {
        form.push(("draft[groups][0]", group));
    }
    app.create(admin, &form).await
}

async fn people(
    app: &TestApp,
    admin: &Client,
    selection: &Recipients,
    filter: ReachFilter,
) -> RecipientPage {
    let res = app
        .call_json(
            admin,
            "recipient_people",
            &json!({ "selection": selection, "filter": filter, "offset": 0 }),
        )
        .await;
    let (status, page) = common::answer::<RecipientPage>(res).await;
    assert_eq!(status, StatusCode::OK, "{page:?}");
    page.unwrap()
}

fn id_of(groups: &[RecipientGroup], name: &str) -> i64 {
    groups
        .iter()
        .find(|g| g.name == name)
        .unwrap_or_else(|| panic!("no group {name} in {groups:?}"))
        .id
}

/// Active members of group `id`, counted in the database.
async fn active_members(app: &TestApp, id: i64) -> u64 {
    count(
        app,
        &format!(
            "SELECT COUNT(*) AS n FROM group_members m JOIN contacts c ON c.id = m.contact_id \
             WHERE m.group_id = {id} AND c.active = TRUE"
        ),
    )
    .await
}

/// The `n` a counting statement gives.
async fn count(app: &TestApp, sql: &str) -> u64 {
    let db = &app.db;
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            sql.to_string(),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap() as u64
}

#[tokio::test]
async fn a_selection_reaches_each_active_person_once() {
    let app = TestApp::spawn_with_providers(test_providers(true)).await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;

    // Manual contacts in the organisation's own group, and by department.
    let ada = person(
        &app,
        &admin,
        ("Ada", "Lovelace"),
        "ada@acme.example",
        "+447400123401",
        ("Engineering", "London"),
        "On call",
    )
    .await;
    let bob = person(
        &app,
        &admin,
        ("Bob", "Babbage"),
        "bob@acme.example",
        "",
        ("Engineering", "Paris"),
        "On call",
    )
    .await;
    let cy = person(
        &app,
        &admin,
        ("Cy", "Clerk"),
        "",
        "+447400123403",
        ("Engineering", "London"),
        "",
    )
    .await;
    let _dee = person(
        &app,
        &admin,
        ("Dee", "Dane"),
        "dee@acme.example",
        "",
        ("Sales", "London"),
        "",
    )
    .await;

    // An identity provider's group: one member active, one deactivated.
    let idp = Idp::added(&app, &admin, "Entra ID (SCIM)", "Own", false).await;
    let mut members = Vec::new();
    for (name, active) in [("eve@acme.example", true), ("fay@acme.example", false)] {
        let (status, user) = idp
            .post(
                "/Users",
                json!({"schemas": [USER], "userName": name, "active": active,
                "phoneNumbers": [{"type": "mobile", "value": "+44 7400 123411"}]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{user}");
        members.push(json!({"value": user["id"]}));
    }
    let (status, made) = idp
        .post(
            "/Groups",
            json!({"schemas": [GROUP], "displayName": "Responders", "members": members}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");

    // An integration's groups, from its first sync.
    let fake = FakeOkta::new(FakeOrg::generate(40, 11), TOKEN)
        .start(0)
        .await
        .unwrap();
    let form = json!({ "form": { "provider": "okta", "fields": { "domain": fake.url(), "api_token": TOKEN } } });
    let res = app.call_json(&admin, "connect_integration", &form).await;
    let (status, okta) = common::answer::<Integration>(res).await;
    assert_eq!(status, StatusCode::OK, "{okta:?}");
    app.wait_sync(&admin, okta.unwrap().id).await;

    // Every group is offered: the organisation's own first, then by source.
    let offered = groups(&app, &admin).await;
    assert_eq!(
        (
            offered[0].name.as_str(),
            offered[0].source.as_str(),
            offered[0].members
        ),
        ("On call", "", 2)
    );
    let responders = offered.iter().find(|g| g.name == "Responders").unwrap();
    assert_eq!(
        (responders.source.as_str(), responders.members),
        ("Entra ID (SCIM)", 1),
        "deactivated members are not counted"
    );
    let synced: Vec<&RecipientGroup> = offered
        .iter()
        .filter(|g| !g.source.is_empty() && g.source != "Entra ID (SCIM)")
        .collect();
    assert!(
        !synced.is_empty(),
        "the integration's groups are offered: {offered:?}"
    );
    let okta_source = synced[0].source.clone();
    for g in &synced {
        assert_eq!(g.members, active_members(&app, g.id).await, "{}", g.name);
    }
    let sources: Vec<&str> = offered.iter().map(|g| g.source.as_str()).collect();
    let mut sorted = sources.clone();
    sorted.sort_by_key(|s| (!s.is_empty(), s.to_lowercase()));
    assert_eq!(sources, sorted);

    // Groups, a rule and picked people, overlapping: each person once.
    let on_call = id_of(&offered, "On call");
    let selection = Recipients {
        groups: vec![on_call, responders.id, on_call],
        rules: vec![Rule {
            department: "Engineering".into(),
            location: "London".into(),
            source: "Manual".into(),
            ..Default::default()
        }],
        contacts: vec![ada.id, bob.id, cy.id],
    };
    let r = reached(&app, &admin, &selection).await;
    // Ada, Bob (On call), Eve (Responders; Fay is deactivated), Cy (the rule).
    assert_eq!(r.people, 4, "{r:?}");
    assert_eq!(r.without_email, 1, "Cy (Eve's userName is her email) {r:?}");
    assert_eq!(r.without_phone, 1, "Bob");
    assert!(r.missing_groups.is_empty());

    // Who, and why: the first part of the selection that reaches them.
    let all = people(&app, &admin, &selection, ReachFilter::All).await;
    assert_eq!(all.total, 4);
    let whys: Vec<(i64, &str)> = all
        .rows
        .iter()
        .map(|r| (r.contact_id, r.why.as_str()))
        .collect();
    assert_eq!(
        whys[..2],
        [(ada.id, "Group On call"), (bob.id, "Group On call")]
    );
    assert_eq!(whys[2].1, "Group Responders");
    assert_eq!(
        whys[3],
        (
            cy.id,
            "Rule: Department is Engineering and Location is London and Source is Manual"
        )
    );
    let no_email = people(&app, &admin, &selection, ReachFilter::WithoutEmail).await;
    assert_eq!((no_email.total, no_email.rows[0].contact_id), (1, cy.id));
    let no_phone = people(&app, &admin, &selection, ReachFilter::WithoutPhone).await;
    assert_eq!((no_phone.total, no_phone.rows[0].contact_id), (1, bob.id));

    // A synced group reaches its active members; adding the whole of it to
    // the selection adds only those not reached already.
    let big = synced.iter().max_by_key(|g| g.members).unwrap();
    let alone = reached(
        &app,
        &admin,
        &Recipients {
            groups: vec![big.id],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(alone.people, big.members);
    let both = reached(
        &app,
        &admin,
        &Recipients {
            groups: vec![big.id, on_call],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(both.people, big.members + 2);

    // A rule on the source follows the directory.
    let by_source = reached(
        &app,
        &admin,
        &Recipients {
            rules: vec![Rule {
                source: okta_source.clone(),
                ..Default::default()
            }],
            ..Default::default()
        },
    )
    .await;
    let from_okta = count(
        &app,
        &format!(
            "SELECT COUNT(*) AS n FROM contacts WHERE source = '{okta_source}' AND active = TRUE"
        ),
    )
    .await;
    assert!(from_okta > 0);
    assert_eq!(by_source.people, from_okta);

    // A rule with no condition would reach everyone by accident: refused.
    let (status, err) = reach(
        &app,
        &admin,
        &Recipients {
            rules: vec![Rule::default()],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err
        .unwrap_err()
        .field_message("rules")
        .unwrap()
        .contains("no condition"));

    // Another organisation reaches none of it, even with its ids in hand.
    let mallory = app.org_admin("Globex", "mallory@globex.example").await;
    assert!(groups(&app, &mallory).await.is_empty());
    let theirs = reached(&app, &mallory, &selection).await;
    assert_eq!(theirs.people, 0);
    assert_eq!(theirs.missing_groups, vec![on_call, responders.id]);
    let rule_only = reached(
        &app,
        &mallory,
        &Recipients {
            rules: selection.rules.clone(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(rule_only.people, 0);
}

#[tokio::test]
async fn the_people_reached_are_listed_fifty_at_a_time() {
    let app = TestApp::spawn().await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let total = RecipientPage::PAGE_SIZE + 5;
    for i in 0..total {
        let email = format!("p{i:02}@acme.example");
        let first = format!("P{i:02}");
        let phone = if i % 2 == 0 { "" } else { "+447400123456" };
        person(
            &app,
            &admin,
            (&first, "Person"),
            &email,
            phone,
            ("Operations", "Leeds"),
            "",
        )
        .await;
    }
    let selection = Recipients {
        rules: vec![Rule {
            department: "Operations".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let page = |offset: usize, filter: ReachFilter| {
        let selection = selection.clone();
        let (app, admin) = (&app, &admin);
        async move {
            let res = app
                .call_json(
                    admin,
                    "recipient_people",
                    &json!({ "selection": selection, "filter": filter, "offset": offset }),
                )
                .await;
            let (status, page) = common::answer::<RecipientPage>(res).await;
            assert_eq!(status, StatusCode::OK, "{page:?}");
            page.unwrap()
        }
    };
    let first = page(0, ReachFilter::All).await;
    let second = page(RecipientPage::PAGE_SIZE, ReachFilter::All).await;
    assert_eq!((first.total, second.total), (total as u64, total as u64));
    assert_eq!(
        (first.rows.len(), second.rows.len()),
        (RecipientPage::PAGE_SIZE, 5)
    );
    // Each person once over both pages, none on both.
    let mut ids: Vec<i64> = first
        .rows
        .iter()
        .chain(&second.rows)
        .map(|r| r.contact_id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), total);
    assert!(first
        .rows
        .iter()
        .all(|r| r.why == "Rule: Department is Operations"));
    // Past the end: nothing, with the same total.
    let past = page(total, ReachFilter::All).await;
    assert!(past.rows.is_empty());
    assert_eq!(past.total, total as u64);
    // A filtered list pages over its own total (28 have no mobile phone).
    let without = page(0, ReachFilter::WithoutPhone).await;
    assert_eq!(without.total, total.div_ceil(2) as u64);
    assert!(without.rows.iter().all(|r| r.phone.is_none()));
}
