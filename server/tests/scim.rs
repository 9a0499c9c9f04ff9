//! SCIM provisioning over real HTTP: tokens made in the Provisioning panel
//! (shown once, revoked and regenerated on their own), the protocol's edge
//! and discovery, Users as Entra ID and Okta send them, and isolation
//! between organisations and between identity providers.

mod common;

use app::model::{Contact, ContactPage, Facets, IssuedScimToken, ScimOverview};
use common::scim::*;
use common::TestApp;
use reqwest::{Client, StatusCode};
use sea_orm::ConnectionTrait;
use serde_json::{json, Value};

async fn overview(app: &TestApp, admin: &Client) -> (ScimOverview, String) {
    let res = app.call(admin, "scim_overview", &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    (serde_json::from_str(&text).unwrap(), text)
}

#[tokio::test]
async fn tokens_are_shown_once_and_revoked_or_regenerated_on_their_own() {
    let app = TestApp::spawn().await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let issued = add_source(&app, &admin, "Entra ID (SCIM)", "Own", false).await;
    assert!(issued.secret.starts_with("muster_scim_"));
    let (list, raw) = overview(&app, &admin).await;
    assert!(
        !raw.contains(&issued.secret),
        "the overview must not carry a token"
    );
    assert_eq!(list.base_url, format!("{}/scim/v2", app.url));
    assert_eq!(list.sources.len(), 1);
    assert_eq!(list.sources[0].name, "Entra ID (SCIM)");
    assert_eq!(
        list.sources[0].tokens[0].hint,
        issued.secret[issued.secret.len() - 4..]
    );
    assert!(list.sources[0].tokens[0].last_used_at.is_none());

    let first = Idp::new(&app, &issued.secret);
    let (status, _) = first.get("/ServiceProviderConfig").await;
    assert_eq!(status, StatusCode::OK);
    let (list, _) = overview(&app, &admin).await;
    assert!(
        list.sources[0].tokens[0].last_used_at.is_some(),
        "use is recorded"
    );

    // A second token, then the first revoked: only the first is refused.
    let second: IssuedScimToken = {
        let res = app
            .call_json(
                &admin,
                "add_scim_token",
                &json!({"source_id": issued.source_id, "form": {"name": "Rotation", "expires_on": ""}}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    };
    let id = issued.token.id.to_string();
    let res = app.call(&admin, "revoke_scim_token", &[("id", &id)]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let (status, body) = first.get("/ServiceProviderConfig").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_scim_error(&body, 401);
    let other = Idp::new(&app, &second.secret);
    assert_eq!(other.get("/ServiceProviderConfig").await.0, StatusCode::OK);

    // Regenerating the second: its old value is refused, the new one works.
    let renewed: IssuedScimToken = app
        .json(
            &admin,
            "regenerate_scim_token",
            &[("id", &second.token.id.to_string())],
        )
        .await;
    assert_ne!(renewed.secret, second.secret);
    assert_eq!(renewed.token.id, second.token.id);
    assert_eq!(
        other.get("/ServiceProviderConfig").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        Idp::new(&app, &renewed.secret)
            .get("/ServiceProviderConfig")
            .await
            .0,
        StatusCode::OK
    );

    // An expired token is refused.
    app.db
        .execute_unprepared(&format!(
            "UPDATE scim_tokens SET expires_at = 1 WHERE id = {}",
            renewed.token.id
        ))
        .await
        .unwrap();
    assert_eq!(
        Idp::new(&app, &renewed.secret)
            .get("/ServiceProviderConfig")
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    // No token, or another scheme.
    let res = Client::new()
        .get(format!("{}/scim/v2/Users", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().contains_key("www-authenticate"));
    let res = Client::new()
        .get(format!("{}/scim/v2/Users", app.url))
        .basic_auth("x", Some(&issued.secret))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn names_and_expiry_are_checked() {
    let app = TestApp::spawn().await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    add_source(&app, &admin, "Okta (SCIM)", "All", false).await;
    for (form, field) in [
        (
            json!({"name": "okta (scim)", "scope": "Own", "keep_deleted": false}),
            "name",
        ),
        (
            json!({"name": "  ", "scope": "Own", "keep_deleted": false}),
            "name",
        ),
    ] {
        let res = app
            .call_json(
                &admin,
                "create_scim_source",
                &json!({"form": form, "token": {"name": "t", "expires_on": ""}}),
            )
            .await;
        let (status, err) = common::refusal(res).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(err.field_message(field).is_some(), "{err:?}");
    }
    let res = app
        .call_json(
            &admin,
            "create_scim_source",
            &json!({"form": {"name": "Entra", "scope": "Own", "keep_deleted": false}, "token": {"name": "t", "expires_on": "2001-01-01"}}),
        )
        .await;
    let (_, err) = common::refusal(res).await;
    assert!(err.field_message("expires_on").is_some(), "{err:?}");
    let (list, _) = overview(&app, &admin).await;
    assert_eq!(list.sources.len(), 1, "nothing is added by a refused form");
}

#[tokio::test]
async fn discovery_answers_in_scim() {
    let app = TestApp::spawn().await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let idp = Idp::added(&app, &admin, "Entra ID (SCIM)", "Own", false).await;
    let (status, spc) = idp.get("/ServiceProviderConfig").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["filter"]["supported"], true);
    assert_eq!(
        spc["meta"]["location"],
        format!("{}/ServiceProviderConfig", idp.base)
    );
    let (_, types) = idp.get("/ResourceTypes").await;
    assert_eq!(types["totalResults"], 2);
    let (status, user) = idp.get("/ResourceTypes/User").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["schemaExtensions"][0]["schema"], ENTERPRISE);
    let (_, schemas) = idp.get("/Schemas").await;
    assert_eq!(schemas["totalResults"], 3);
    let (status, schema) = idp.get(&format!("/Schemas/{USER}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        schema["meta"]["location"],
        format!("{}/Schemas/{USER}", idp.base)
    );
    for path in [
        "/Schemas/nope",
        "/ResourceTypes/nope",
        "/0b1c6e0e-nothing-here",
    ] {
        let (status, body) = idp.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_scim_error(&body, 404);
    }
    for method in [
        reqwest::Method::POST,
        reqwest::Method::PUT,
        reqwest::Method::PATCH,
        reqwest::Method::DELETE,
    ] {
        for path in ["/ServiceProviderConfig", "/ResourceTypes", "/Schemas"] {
            let (status, body) = idp.send(method.clone(), path, None).await;
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert_scim_error(&body, 405);
        }
    }
}

fn entra_user(name: &str) -> Value {
    json!({
        "schemas": [USER, ENTERPRISE],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": name,
        "active": true,
        "displayName": "Barbara Jensen",
        "title": "Tour Guide",
        "emails": [{"primary": true, "type": "work", "value": name}],
        "name": {"formatted": "Barbara Jensen", "familyName": "Jensen", "givenName": "Barbara"},
        "phoneNumbers": [{"type": "mobile", "value": "+44 7400 123456"}],
        "addresses": [{"type": "work", "locality": "London", "country": "GB"}],
        ENTERPRISE: {"department": "Tour Operations", "manager": {"value": "42"}},
        "x509Certificates": [{"value": "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAw"}]
    })
}

#[tokio::test]
async fn users_round_trip_and_become_contacts() {
    let app = TestApp::spawn().await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let idp = Idp::added(&app, &admin, "Entra ID (SCIM)", "Own", false).await;

    // Entra's Test Connection: a filter for a user who does not exist.
    let none = idp.find("ee2e1a3a-not-a-user@example.com").await;
    assert_eq!(none["totalResults"], 0);
    assert_eq!(none["Resources"], json!([]));

    let sent = entra_user("bjensen@example.com");
    let (status, made) = idp.post("/Users", sent.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let id = made["id"].as_str().unwrap().to_string();
    assert_eq!(made["schemas"][0], USER);
    assert_eq!(made["meta"]["resourceType"], "User");
    assert_eq!(made["meta"]["location"], format!("{}/Users/{id}", idp.base));
    for key in [
        "externalId",
        "userName",
        "displayName",
        "emails",
        "phoneNumbers",
        "addresses",
        "x509Certificates",
        ENTERPRISE,
    ] {
        assert_eq!(made[key], sent[key], "{key} round-trips");
    }
    let (status, read) = idp.get(&format!("/Users/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, made);

    let c = contact(&app, &admin, &id).await;
    assert_eq!(
        (c.first_name.as_str(), c.last_name.as_str()),
        ("Barbara", "Jensen")
    );
    assert_eq!(c.email.as_deref(), Some("bjensen@example.com"));
    assert_eq!(c.phone.as_deref(), Some("+447400123456"));
    assert_eq!(c.department.as_deref(), Some("Tour Operations"));
    assert_eq!(c.role.as_deref(), Some("Tour Guide"));
    assert_eq!(c.location.as_deref(), Some("London"));
    assert_eq!(c.source, "Entra ID (SCIM)");

    // Found by userName ignoring case; the same userName again conflicts.
    let found = idp.find("BJensen@Example.com").await;
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["id"], id);
    let (status, body) = idp.post("/Users", sent.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["scimType"], "uniqueness");

    // Entra's PATCH dialect: op in any case, path-less replace with dotted
    // and URN keys, active as "False".
    let (status, patched) = idp
        .patch(
            &format!("/Users/{id}"),
            json!([
                {"op": "Replace", "value": {
                    "name.givenName": "Babs",
                    format!("{ENTERPRISE}:department"): "Guides"
                }},
                {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+44 7400 654321"},
                {"op": "Replace", "path": "active", "value": "False"}
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["active"], false);
    assert_eq!(patched["name"]["givenName"], "Babs");
    let c = contact(&app, &admin, &id).await;
    assert!(c.deactivated && c.provisioned);
    assert_eq!(c.first_name, "Babs");
    assert_eq!(c.department.as_deref(), Some("Guides"));
    assert_eq!(
        c.phone.as_deref(),
        Some("+447400654321"),
        "{}",
        patched["phoneNumbers"]
    );

    // Okta's: replace with a value object; then PUT of the whole user.
    let (status, _) = idp
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "value": {"active": true}}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut next = sent.clone();
    next["name"]["familyName"] = "Jensen-Smith".into();
    next["emails"] = json!([{"primary": true, "type": "work", "value": "babs@example.com"}]);
    let (status, put) = idp.put(&format!("/Users/{id}"), next.clone()).await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(put["emails"], next["emails"]);
    assert!(put.get("phoneNumbers").is_some());
    let c = contact(&app, &admin, &id).await;
    assert_eq!(c.last_name, "Jensen-Smith");
    assert_eq!(c.email.as_deref(), Some("babs@example.com"));
    assert!(!c.deactivated, "reactivated");

    // In Muster, the provider's fields are locked; the others can be edited.
    let version = c.version.to_string();
    let edit = |first: &'static str, department: &'static str| {
        vec![
            ("id", id.clone()),
            ("version", version.clone()),
            ("draft[first_name]", first.to_string()),
            ("draft[last_name]", "Jensen-Smith".to_string()),
            ("draft[email]", "babs@example.com".to_string()),
            ("draft[department]", department.to_string()),
        ]
    };
    let form = edit("Someone", "Ops");
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, err) = common::refusal(app.call(&admin, "update_contact", &form).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        err.field_message("first_name")
            .unwrap()
            .contains("Entra ID (SCIM)"),
        "{err:?}"
    );
    let form = edit("Barbara", "Ops");
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let edited: Contact = app.json(&admin, "update_contact", &form).await;
    assert_eq!(edited.department.as_deref(), Some("Ops"));

    // The next push replaces what was edited here, even one that changes
    // nothing of the user, which keeps its version.
    let (status, again) = idp
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "userName", "value": "bjensen@example.com"}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again, put, "nothing of the user changed");
    let c = contact(&app, &admin, &id).await;
    assert_eq!(
        c.department,
        next[ENTERPRISE]["department"].as_str().map(String::from)
    );
    // A renamed contact is found by its new name, in its place in the list.
    let found = list(&app, &admin, &[("q", "Jensen-Smith")]).await;
    assert_eq!(names(&found), [("Barbara Jensen-Smith", false)]);

    // A stale If-Match is refused; attributes choose what is returned.
    let res = idp
        .http
        .put(format!("{}/Users/{id}", idp.base))
        .bearer_auth(&idp.token)
        .header("if-match", "W/\"1\"")
        .json(&next)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PRECONDITION_FAILED);
    let (_, some) = idp
        .get_with(
            &format!("/Users/{id}"),
            &[("attributes", "userName,name.familyName")],
        )
        .await;
    assert_eq!(some["userName"], "bjensen@example.com");
    assert_eq!(some["name"], json!({"familyName": "Jensen-Smith"}));
    assert!(some.get("emails").is_none());

    // A bad PATCH changes nothing.
    let (status, body) = idp
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "emails[type eq", "value": "x"}]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["scimType"], "invalidPath");
    assert_eq!(idp.get(&format!("/Users/{id}")).await.1, put);

    let (status, _) = idp.delete(&format!("/Users/{id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = idp.get(&format!("/Users/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_scim_error(&body, 404);
    let res = app.call(&admin, "get_contact", &[("id", &id)]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn lists_page_and_filter() {
    let app = TestApp::spawn().await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let idp = Idp::added(&app, &admin, "Okta (SCIM)", "Own", false).await;
    for i in 0..5 {
        let (status, _) = idp
            .post("/Users", json!({"schemas": [USER], "userName": format!("user{i}@example.com"), "title": if i % 2 == 0 { "Even" } else { "Odd" }}))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (_, page) = idp.get("/Users?startIndex=2&count=2").await;
    assert_eq!(page["totalResults"], 5);
    assert_eq!(page["startIndex"], 2);
    assert_eq!(page["itemsPerPage"], 2);
    assert_eq!(page["Resources"][0]["userName"], "user1@example.com");
    let (_, even) = idp
        .get_with(
            "/Users",
            &[
                ("filter", "title eq \"even\" and userName sw \"user\""),
                ("count", "1"),
            ],
        )
        .await;
    assert_eq!(even["totalResults"], 3);
    assert_eq!(even["Resources"].as_array().unwrap().len(), 1);
    let (status, body) = idp.get("/Users?filter=userName%20eq").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["scimType"], "invalidFilter");
    let (status, searched) = idp
        .post("/Users/.search", json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userName ew \"3@example.com\"", "attributes": ["userName"]}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(searched["totalResults"], 1);
    assert!(searched["Resources"][0].get("title").is_none());
}

#[tokio::test]
async fn every_endpoint_is_isolated_per_organisation_and_identity_provider() {
    let app = TestApp::spawn().await;
    let acme = app.org_admin("Acme", "admin@acme.example").await;
    let globex = app.org_admin("Globex", "admin@globex.example").await;
    let acme_idp = Idp::added(&app, &acme, "Entra ID (SCIM)", "All", false).await;
    let globex_idp = Idp::added(&app, &globex, "Entra ID (SCIM)", "All", false).await;
    let okta_at_acme = Idp::added(&app, &acme, "Okta (SCIM)", "All", false).await;
    let (_, made) = acme_idp
        .post("/Users", entra_user("bjensen@acme.example"))
        .await;
    let id = made["id"].as_str().unwrap().to_string();
    let path = format!("/Users/{id}");
    for other in [&globex_idp, &okta_at_acme] {
        assert_eq!(other.get(&path).await.0, StatusCode::NOT_FOUND);
        assert_eq!(
            other.put(&path, entra_user("x@y.example")).await.0,
            StatusCode::NOT_FOUND
        );
        let ops = json!([{"op": "replace", "path": "active", "value": false}]);
        assert_eq!(other.patch(&path, ops).await.0, StatusCode::NOT_FOUND);
        assert_eq!(other.delete(&path).await.0, StatusCode::NOT_FOUND);
        assert_eq!(other.find("bjensen@acme.example").await["totalResults"], 0);
        assert_eq!(other.get("/Users").await.1["totalResults"], 0);
        let (_, all) = other.post("/.search", json!({})).await;
        assert_eq!(all["totalResults"], 0);
    }
    // Another organisation may use the same userName; within one, the
    // userName is taken even for another identity provider.
    assert_eq!(
        globex_idp
            .post("/Users", entra_user("bjensen@acme.example"))
            .await
            .0,
        StatusCode::CREATED
    );
    assert_eq!(
        okta_at_acme
            .post("/Users", entra_user("bjensen@acme.example"))
            .await
            .0,
        StatusCode::CONFLICT
    );
    let c = contact(&app, &acme, &id).await;
    assert_eq!(c.first_name, "Barbara", "untouched by the refused requests");
    let res = app.call(&globex, "get_contact", &[("id", &id)]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn managing_all_contacts_links_by_email_and_deleted_users_may_stay_deactivated() {
    let app = TestApp::spawn().await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let typed = app
        .create(
            &admin,
            &[
                ("draft[first_name]", "Barb"),
                ("draft[last_name]", "J"),
                ("draft[email]", "bjensen@example.com"),
            ],
        )
        .await;
    // Managing only its own contacts, the provider may not take it.
    let own = Idp::added(&app, &admin, "Okta (SCIM)", "Own", true).await;
    let (status, body) = own.post("/Users", entra_user("bjensen@example.com")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["scimType"], "uniqueness");

    let all = Idp::added(&app, &admin, "Entra ID (SCIM)", "All", true).await;
    let (status, made) = all.post("/Users", entra_user("bjensen@example.com")).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(
        made["id"],
        typed.id.to_string(),
        "linked to the contact with its email"
    );
    let c = contact(&app, &admin, made["id"].as_str().unwrap()).await;
    assert_eq!(
        (c.first_name.as_str(), c.source.as_str()),
        ("Barbara", "Entra ID (SCIM)")
    );

    // Kept as deactivated: gone from SCIM, still in the directory.
    let path = format!("/Users/{}", typed.id);
    assert_eq!(all.delete(&path).await.0, StatusCode::NO_CONTENT);
    assert_eq!(all.get(&path).await.0, StatusCode::NOT_FOUND);
    let active: bool = {
        use sea_orm::EntityTrait;
        app::backend::db::entities::Contact::find_by_id(typed.id)
            .one(&app.db)
            .await
            .unwrap()
            .expect("kept")
            .active
    };
    assert!(!active);
    // Pushed again, it comes back as the same contact.
    let (status, again) = all.post("/Users", entra_user("bjensen@example.com")).await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(again["id"], typed.id.to_string());
}

async fn user_id(idp: &Idp, name: &str) -> String {
    let (status, made) = idp
        .post("/Users", json!({"schemas": [USER], "userName": name, "name": {"givenName": name, "familyName": "Member"}}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    made["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn groups_as_entra_sends_them() {
    let app = TestApp::spawn().await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let idp = Idp::added(&app, &admin, "Entra ID (SCIM)", "Own", false).await;
    let (a, b) = (
        user_id(&idp, "a@acme.example").await,
        user_id(&idp, "b@acme.example").await,
    );

    // Entra's random-group check, then the create with a second schema URN.
    let (status, none) = idp
        .get_with(
            "/Groups",
            &[
                ("excludedAttributes", "members"),
                ("filter", "displayName eq \"no such group\""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(none["totalResults"], 0);
    let (status, made) = idp
        .post(
            "/Groups",
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
                "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                "displayName": "Tour Guides",
                "meta": {"resourceType": "Group"}
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(made["members"], json!([]));
    assert_eq!(made["meta"]["resourceType"], "Group");
    let id = made["id"].as_str().unwrap().to_string();
    let path = format!("/Groups/{id}");
    let (_, slim) = idp
        .get_with(&path, &[("excludedAttributes", "members")])
        .await;
    assert!(slim.get("members").is_none());
    assert_eq!(slim["displayName"], "Tour Guides");
    let (_, found) = idp
        .get_with(
            "/Groups",
            &[
                ("excludedAttributes", "members"),
                ("filter", "displayName eq \"tour guides\""),
            ],
        )
        .await;
    assert_eq!(found["totalResults"], 1);

    // Members added with "$ref": null, several in one operation: 204.
    let (status, _) = idp
        .patch(&path, json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": a}, {"$ref": null, "value": b}]}]))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(source_groups(&app, &admin, &a).await, ["Tour Guides"]);
    assert_eq!(source_groups(&app, &admin, &b).await, ["Tour Guides"]);
    let (_, read) = idp.get(&path).await;
    assert_eq!(read["members"], json!([{"value": a}, {"value": b}]));

    // Renamed, then one member removed by value list.
    let (status, _) = idp
        .patch(
            &path,
            json!([{"op": "Replace", "path": "displayName", "value": "Guides"}]),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = idp
        .patch(
            &path,
            json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": a}]}]),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(source_groups(&app, &admin, &a).await.is_empty());
    assert_eq!(source_groups(&app, &admin, &b).await, ["Guides"]);

    // A member that is not one of its users is refused; nothing changes.
    let (status, body) = idp
        .patch(
            &path,
            json!([{"op": "Add", "path": "members", "value": [{"value": "999999"}]}]),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["scimType"], "invalidValue");
    let (status, body) = idp.post("/Groups", json!({"displayName": "GUIDES"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // A deleted user leaves its groups; a deleted group leaves its members.
    assert_eq!(
        idp.delete(&format!("/Users/{b}")).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(idp.get(&path).await.1["members"], json!([]));
    assert_eq!(idp.delete(&path).await.0, StatusCode::NO_CONTENT);
    assert_eq!(idp.get(&path).await.0, StatusCode::NOT_FOUND);
    assert_eq!(contact(&app, &admin, &a).await.first_name, "a@acme.example");
}

#[tokio::test]
async fn groups_as_okta_pushes_them() {
    let app = TestApp::spawn().await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let idp = Idp::added(&app, &admin, "Okta (SCIM)", "Own", false).await;
    let a = user_id(&idp, "a@acme.example").await;
    let b = user_id(&idp, "b@acme.example").await;
    let c = user_id(&idp, "c@acme.example").await;
    let (status, made) = idp
        .post("/Groups", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Test SCIMv2", "members": []}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = made["id"].as_str().unwrap().to_string();
    let path = format!("/Groups/{id}");
    let (_, page) = idp
        .get_with("/Groups", &[("startIndex", "1"), ("count", "100")])
        .await;
    assert_eq!(page["totalResults"], 1);

    // Rename with the id in the value, then remove one member and add one in one request.
    let (status, _) = idp
        .patch(
            &path,
            json!([{"op": "replace", "value": {"id": id, "displayName": "Test SCIMv2"}}]),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = idp
        .patch(&path, json!([{"op": "add", "path": "members", "value": [{"value": a, "display": "a@acme.example"}, {"value": b, "display": "b@acme.example"}]}]))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = idp
        .patch(
            &path,
            json!([
                {"op": "remove", "path": format!("members[value eq \"{a}\"]")},
                {"op": "add", "path": "members", "value": [{"value": c, "display": "c@acme.example"}]}
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, read) = idp.get(&path).await;
    assert_eq!(
        read["members"],
        json!([{"value": b, "display": "b@acme.example"}, {"value": c, "display": "c@acme.example"}])
    );
    assert!(source_groups(&app, &admin, &a).await.is_empty());

    // A full push replaces the list; PUT too.
    let (status, _) = idp
        .patch(
            &path,
            json!([{"op": "replace", "path": "members", "value": [{"value": a}]}]),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(source_groups(&app, &admin, &a).await, ["Test SCIMv2"]);
    assert!(source_groups(&app, &admin, &b).await.is_empty());
    let (status, put) = idp
        .put(&path, json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Pushed", "members": [{"value": b}, {"value": c}]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(put["members"], json!([{"value": b}, {"value": c}]));
    assert!(source_groups(&app, &admin, &a).await.is_empty());
    assert_eq!(source_groups(&app, &admin, &c).await, ["Pushed"]);

    // Another organisation's token sees none of it, nor can it touch it.
    let other = app.org_admin("Globex", "admin@globex.example").await;
    let stranger = Idp::added(&app, &other, "Okta (SCIM)", "Own", false).await;
    assert_eq!(stranger.get(&path).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        stranger.put(&path, json!({"displayName": "x"})).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        stranger
            .patch(
                &path,
                json!([{"op": "replace", "path": "displayName", "value": "x"}])
            )
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(stranger.delete(&path).await.0, StatusCode::NOT_FOUND);
    assert_eq!(stranger.get("/Groups").await.1["totalResults"], 0);
    // Nor can it put the other organisation's users in its own group.
    let (status, _) = stranger
        .post(
            "/Groups",
            json!({"displayName": "Mine", "members": [{"value": a}]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The root search lists users, then groups.
    let (_, all) = idp
        .post("/.search", json!({"startIndex": 3, "count": 2}))
        .await;
    assert_eq!(all["totalResults"], 4);
    assert_eq!(all["Resources"][0]["userName"], "c@acme.example");
    assert_eq!(all["Resources"][1]["displayName"], "Pushed");
}

/// The python conformance suite `scim2-cli` (installed by `.ci/setup`, found
/// by `MUSTER_SCIM_CLI`) against a running Muster: it exits 0 only when
/// every check is a SUCCESS, none skipped.
#[tokio::test]
async fn the_conformance_suite_passes() {
    let cli = std::env::var("MUSTER_SCIM_CLI").unwrap_or_else(|_| {
        format!(
            "{}/.cache/muster/scim2-cli/bin/scim",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    assert!(
        std::path::Path::new(&cli).exists(),
        "the SCIM conformance suite is missing at {cli}: run `bash .ci/setup`"
    );
    // The suite sends its checks as fast as it can and does not retry a 429:
    // the per-token rate (a policy, tested on its own below) is lifted here.
    let app = TestApp::spawn_configured(|state| {
        state.with_scim_rate(app::backend::scim::rate::ScimRate::per_second(0))
    })
    .await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let token = add_source(&app, &admin, "Conformance (SCIM)", "Own", false)
        .await
        .secret;
    let base = format!("{}/scim/v2", app.url);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(cli)
            .args(["--url", &base, "test"])
            .env("SCIM_CLI_HEADERS", format!("Authorization: Bearer {token}"))
            .output()
    })
    .await
    .unwrap()
    .expect("the conformance suite runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{report}");
    assert!(!report.contains("SKIPPED"), "{report}");
}

#[tokio::test]
async fn removing_an_identity_provider_deletes_what_it_created_and_gives_back_what_it_took() {
    let app = TestApp::spawn().await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let typed = app
        .create(
            &admin,
            &[
                ("draft[first_name]", "Barb"),
                ("draft[last_name]", "J"),
                ("draft[email]", "bjensen@example.com"),
            ],
        )
        .await;
    let issued = add_source(&app, &admin, "Entra ID (SCIM)", "All", false).await;
    let idp = Idp::new(&app, &issued.secret);
    assert_eq!(
        idp.post("/Users", entra_user("bjensen@example.com"))
            .await
            .0,
        StatusCode::CREATED
    );
    let made = user_id(&idp, "new@example.com").await;
    let (status, _) = idp
        .post(
            "/Groups",
            json!({"displayName": "Guides", "members": [{"value": made}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (list, _) = overview(&app, &admin).await;
    let s = &list.sources[0];
    assert_eq!((s.contacts, s.created, s.groups), (2, 1, 1));

    let deleted: u64 = app
        .json(
            &admin,
            "remove_scim_source",
            &[("id", &issued.source_id.to_string())],
        )
        .await;
    assert_eq!(deleted, 1);
    assert_eq!(
        app.call(&admin, "get_contact", &[("id", &made)])
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let back = contact(&app, &admin, &typed.id.to_string()).await;
    assert_eq!(back.source, "Manual");
    assert!(!back.provisioned && back.synced_groups.is_empty());
    assert_eq!(idp.get("/Users").await.0, StatusCode::UNAUTHORIZED);
    assert!(overview(&app, &admin).await.0.sources.is_empty());
    // Another organisation cannot remove it (it no longer exists here either).
    let other = app.org_admin("Globex", "admin@globex.example").await;
    let mine = add_source(&app, &other, "Okta (SCIM)", "Own", false).await;
    let res = app
        .call(
            &admin,
            "remove_scim_source",
            &[("id", &mine.source_id.to_string())],
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(overview(&app, &other).await.0.sources.len(), 1);
}

/// One page of the list for a query, as the Contacts page asks for it.
async fn list(app: &TestApp, admin: &Client, query: &[(&str, &str)]) -> ContactPage {
    // At least one field, or the query is missing.
    let form: Vec<(String, String)> = [("after", "")]
        .iter()
        .chain(query)
        .map(|(k, v)| (format!("query[{k}]"), v.to_string()))
        .collect();
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    app.json(admin, "list_contacts", &form).await
}

fn names(page: &ContactPage) -> Vec<(&str, bool)> {
    page.rows
        .iter()
        .map(|r| (r.name.as_str(), r.deactivated))
        .collect()
}

/// A deactivated contact stays in the directory, left out of the list (its
/// total, its searches, filters and export) unless the Status filter asks for
/// it; reactivated, it is listed again.
#[tokio::test]
async fn deactivated_contacts_are_listed_only_when_asked_for() {
    let app = TestApp::spawn().await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let idp = Idp::added(&app, &admin, "Entra ID (SCIM)", "Own", false).await;
    let mut ids = Vec::new();
    for (given, family) in [("Ann", "Archer"), ("Bob", "Baker"), ("Cy", "Cooper")] {
        let mut user = entra_user(&format!("{}@acme.example", given.to_lowercase()));
        user["name"] = json!({"givenName": given, "familyName": family});
        user["externalId"] = format!("ext-{given}").into();
        let (status, made) = idp.post("/Users", user).await;
        assert_eq!(status, StatusCode::CREATED, "{made}");
        ids.push(made["id"].as_str().unwrap().to_string());
    }
    let bob = format!("/Users/{}", ids[1]);
    let (status, _) = idp
        .patch(
            &bob,
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let page = list(&app, &admin, &[]).await;
    assert_eq!(page.total, 2);
    assert_eq!(names(&page), [("Ann Archer", false), ("Cy Cooper", false)]);
    let page = list(&app, &admin, &[("status", "deactivated")]).await;
    assert_eq!((page.total, names(&page)), (1, vec![("Bob Baker", true)]));
    let page = list(&app, &admin, &[("status", "all")]).await;
    assert_eq!(page.total, 3);
    assert_eq!(names(&page)[1], ("Bob Baker", true));
    let facets: Facets = app.json(&admin, "contact_facets", &[]).await;
    assert_eq!(facets.deactivated, 1);

    // Searches and filters leave them out too, or find only them.
    let department = "Tour Operations";
    for (query, active, deactivated, all) in [
        (vec![("q", "bob")], 0, 1, 1),
        (vec![("q", "b")], 0, 1, 1),
        (vec![("q", "acme.example")], 2, 1, 3),
        (vec![("department", department)], 2, 1, 3),
        (vec![("q", "cooper"), ("department", department)], 1, 0, 1),
    ] {
        for (status, want) in [("", active), ("deactivated", deactivated), ("all", all)] {
            let mut q = query.clone();
            q.push(("status", status));
            let page = list(&app, &admin, &q).await;
            assert_eq!(page.total, want, "{q:?}");
            assert_eq!(page.rows.len() as u64, want, "{q:?}");
            assert!(
                page.rows
                    .iter()
                    .all(|r| status == "all" || r.deactivated == (status == "deactivated")),
                "{q:?}"
            );
        }
    }
    let export = |query: &'static str| {
        let (admin, url) = (admin.clone(), app.url.clone());
        async move {
            let res = admin
                .get(format!("{url}/contacts.csv{query}"))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            res.text().await.unwrap()
        }
    };
    assert!(!export("").await.contains("Baker"));
    assert!(export("?status=deactivated").await.contains("Baker"));
    let (status, err) = common::refusal(
        app.call(&admin, "list_contacts", &[("query[status]", "gone")])
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err.field_message("status").is_some(), "{err:?}");

    // Reactivated (Okta's form), listed again.
    let (status, _) = idp
        .patch(&bob, json!([{"op": "replace", "value": {"active": true}}]))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list(&app, &admin, &[("q", "bob")]).await.total, 1);
    assert_eq!(list(&app, &admin, &[]).await.total, 3);
    let page = list(&app, &admin, &[("status", "deactivated")]).await;
    assert_eq!(page.total, 0);
}

/// An upload may change a provisioned contact's other details, never the name
/// and email its identity provider sets; the row says so in its warning.
#[tokio::test]
async fn an_upload_keeps_a_provisioned_contacts_name_and_email() {
    let app = TestApp::spawn().await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let idp = Idp::added(&app, &admin, "Entra ID (SCIM)", "Own", false).await;
    let (status, made) = idp.post("/Users", entra_user("bjensen@example.com")).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let id = made["id"].as_str().unwrap().to_string();
    let csv = "First Name,Last Name,Email,Role\nSomeone,Else,BJENSEN@example.com,Night Guide\n";
    let job = app.import(&admin, "people.csv", csv.as_bytes()).await;
    assert_eq!(
        (job.updated, job.warnings, job.failed),
        (1, 1, 0),
        "{job:?}"
    );
    let problems = app.problems_csv(&admin, job.id).await;
    assert!(
        problems.contains("Name and email kept: Entra ID (SCIM) sets them"),
        "{problems}"
    );
    let c = contact(&app, &admin, &id).await;
    assert_eq!(
        (
            c.first_name.as_str(),
            c.last_name.as_str(),
            c.email.as_deref()
        ),
        ("Barbara", "Jensen", Some("bjensen@example.com"))
    );
    assert_eq!(c.role.as_deref(), Some("Night Guide"));
    // A row that would only rename it changes nothing.
    let csv = "First Name,Last Name,Email\nSomeone,Else,bjensen@example.com\n";
    let job = app.import(&admin, "names.csv", csv.as_bytes()).await;
    assert_eq!((job.unchanged, job.warnings), (1, 1), "{job:?}");
    assert_eq!(contact(&app, &admin, &id).await.version, c.version);
}

/// Each token has its own rate; beyond it, 429 with Retry-After in seconds,
/// and a body too large is 413: both as SCIM errors.
#[tokio::test]
async fn a_token_over_its_rate_waits_and_a_body_too_large_is_refused() {
    let app = TestApp::spawn_configured(|state| {
        state.with_scim_rate(app::backend::scim::rate::ScimRate::per_second(5))
    })
    .await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let fast = Idp::added(&app, &admin, "Okta (SCIM)", "Own", false).await;
    let other = Idp::added(&app, &admin, "Entra ID (SCIM)", "Own", false).await;
    let mut refused = None;
    for _ in 0..40 {
        let res = fast
            .http
            .get(format!("{}/Users", fast.base))
            .bearer_auth(&fast.token)
            .send()
            .await
            .unwrap();
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(res);
            break;
        }
        assert_eq!(res.status(), StatusCode::OK);
    }
    let res = refused.expect("a burst of 10 and 5 a second: 40 at once go over");
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    assert_eq!(res.headers()["content-type"], "application/scim+json");
    let body: Value = res.json().await.unwrap();
    assert_scim_error(&body, 429);
    // Another token is not held up; the first is served again after the wait.
    assert_eq!(other.get("/Users").await.0, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
    assert_eq!(fast.get("/Users").await.0, StatusCode::OK);

    let mut huge = entra_user("big@example.com");
    huge["nickName"] = "x".repeat(1024 * 1024 + 1).into();
    let (status, body) = other.post("/Users", huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_scim_error(&body, 413);
    assert_eq!(other.find("big@example.com").await["totalResults"], 0);
}
