//! Replays, request by request, what the identity providers send to Muster's
//! SCIM endpoint, with the bodies they send: Microsoft Entra ID's
//! provisioning cycle (Test Connection, the sync cycle's lookups, creates and
//! PATCH updates in both of its dialects, disable and enable, groups, hard
//! delete) as `providers.md` section 5.2 documents it, and Okta's (the
//! create flow, import paging, the SCIM 2.0 SPEC test, PUT updates,
//! deactivation and Group Push) as section 5.3 does. After each change,
//! what Muster's directory shows is checked, not only the SCIM answer.

mod common;

use common::scim::*;
use common::TestApp;
use reqwest::header::AUTHORIZATION;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// An empty ListResponse: what both providers expect when nothing matches.
fn assert_no_results(list: &Value) {
    assert_eq!(list["schemas"], json!([LIST]), "{list}");
    assert_eq!(list["totalResults"], 0, "{list}");
    assert_eq!(list["itemsPerPage"], 0, "{list}");
    assert_eq!(list["startIndex"], 1, "{list}");
    assert_eq!(list["Resources"], json!([]), "{list}");
}

/// A GUID such as Entra ID makes up for Test Connection.
fn random_guid() -> String {
    let hex = format!("{:032x}", rand::random::<u128>());
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// A user as Entra ID creates it: the tutorial's body, with the `meta` and
/// empty `roles` it sends.
fn entra_create(
    user_name: &str,
    email: &str,
    external_id: &str,
    given: &str,
    family: &str,
) -> Value {
    json!({
        "schemas": [USER, ENTERPRISE],
        "externalId": external_id,
        "userName": user_name,
        "active": true,
        "emails": [{"primary": true, "type": "work", "value": email}],
        "meta": {"resourceType": "User"},
        "name": {
            "formatted": format!("{given} {family}"),
            "familyName": family,
            "givenName": given
        },
        "roles": []
    })
}

/// Okta's import: `GET /Users?startIndex=1&count=100`, then startIndex+100
/// while totalResults is more than what has been read.
async fn import_users(okta: &Idp) -> Vec<Value> {
    let mut users = Vec::new();
    let mut start = 1usize;
    loop {
        let index = start.to_string();
        let (status, page) = okta
            .get_with("/Users", &[("startIndex", &index), ("count", "100")])
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for key in ["totalResults", "startIndex", "itemsPerPage"] {
            assert!(page[key].is_u64(), "{key} must be an integer: {page}");
        }
        assert_eq!(page["startIndex"], start);
        let got = page["Resources"].as_array().unwrap();
        users.extend(got.iter().cloned());
        let total = page["totalResults"].as_u64().unwrap() as usize;
        if got.is_empty() || users.len() >= total {
            return users;
        }
        start += 100;
    }
}

/// Okta's group rename, which it sends before each membership update: a
/// path-less replace whose value carries the group's own id.
async fn okta_rename(okta: &Idp, group: &str, id: &str, name: &str) {
    let (status, body) = okta
        .patch(
            group,
            json!([{"op": "replace", "value": {"id": id, "displayName": name}}]),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

#[tokio::test]
async fn entra_provisioning_cycle_replays() {
    let app = TestApp::spawn().await;
    let admin = app.org_admin("Contoso", "admin@contoso.example").await;
    let issued = add_source(&app, &admin, "Entra ID (SCIM)", "Own", false).await;
    let entra = Idp::entra(&app, &issued.secret);

    // Test Connection: a user with a random GUID as its userName; none.
    assert_no_results(&entra.find(&random_guid()).await);
    // Test Connection: a random group by displayName, members excluded.
    let filter = format!("displayName eq \"{}\"", random_guid());
    let (status, none) = entra
        .get_with(
            "/Groups",
            &[("excludedAttributes", "members"), ("filter", &filter)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{none}");
    assert_no_results(&none);

    // Sync cycle: the in-scope user is looked up by its UPN; not there.
    let upn = "Test_User_00aa00aa-bb11-cc22-dd33-44ee44ee44ee";
    let email = "Test_User_11bb11bb-cc22-dd33-ee44-55ff55ff55ff@testuser.com";
    assert_no_results(&entra.find(upn).await);

    // Not found: created with the tutorial's body.
    let sent = entra_create(
        upn,
        email,
        "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "givenName",
        "familyName",
    );
    let (status, made) = entra.post("/Users", sent.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let id = made["id"].as_str().unwrap().to_string();
    assert!(!id.is_empty());
    for key in [
        "externalId",
        "userName",
        "active",
        "emails",
        "name",
        "roles",
    ] {
        assert_eq!(made[key], sent[key], "{key} as written");
    }
    assert_eq!(made["meta"]["resourceType"], "User");
    assert!(made["meta"]["created"].is_string(), "{made}");
    assert!(made["meta"]["lastModified"].is_string(), "{made}");
    let c = contact(&app, &admin, &id).await;
    assert_eq!(
        (c.first_name.as_str(), c.last_name.as_str()),
        ("givenName", "familyName")
    );
    assert_eq!(c.email.as_deref(), Some(email));
    assert_eq!(c.source, "Entra ID (SCIM)");
    assert!(c.provisioned && !c.deactivated);
    assert!(c.phone.is_none() && c.department.is_none() && c.role.is_none());

    // Next cycle: found by userName; Entra caches the id for what follows.
    let found = entra.find(upn).await;
    assert_eq!(found["schemas"], json!([LIST]));
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["startIndex"], 1);
    assert_eq!(found["Resources"][0]["id"], id.as_str());
    let path = format!("/Users/{id}");
    // Get user by the cached id.
    let (status, read) = entra.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, made);

    // Update, no flag (the tutorial's): one Replace per path.
    let (status, patched) = entra
        .patch(
            &path,
            json!([
                {
                    "op": "Replace",
                    "path": "emails[type eq \"work\"].value",
                    "value": "updatedEmail@microsoft.com"
                },
                {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"}
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["id"], id.as_str());
    assert_eq!(patched["emails"][0]["value"], "updatedEmail@microsoft.com");
    assert_eq!(patched["name"]["familyName"], "updatedFamilyName");
    let c = contact(&app, &admin, &id).await;
    assert_eq!(c.last_name, "updatedFamilyName");
    assert_eq!(c.email.as_deref(), Some("updatedEmail@microsoft.com"));

    // Replace multiple, no flag: one Replace per attribute; Add for new ones.
    let (status, patched) = entra
        .patch(
            &path,
            json!([
                {"op": "Replace", "path": "displayName", "value": "Barbara Jensen"},
                {"op": "Replace", "path": "name.givenName", "value": "Barbara"},
                {"op": "Replace", "path": "externalId", "value": "bjensen"},
                {
                    "op": "Replace",
                    "path": format!("{ENTERPRISE}:employeeNumber"),
                    "value": "701984"
                },
                {"op": "Add", "path": "title", "value": "Tour Guide"},
                {
                    "op": "Add",
                    "path": "phoneNumbers[type eq \"mobile\"].value",
                    "value": "+44 7400 123456"
                },
                {"op": "Add", "path": "nickName", "value": "Babs"}
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["schemas"], json!([USER, ENTERPRISE]));
    assert_eq!(patched[ENTERPRISE]["employeeNumber"], "701984");
    assert_eq!(patched["externalId"], "bjensen");
    assert_eq!(patched["nickName"], "Babs");
    assert_eq!(
        patched["phoneNumbers"],
        json!([{"type": "mobile", "value": "+44 7400 123456"}]),
        "stored as sent"
    );
    let c = contact(&app, &admin, &id).await;
    assert_eq!(
        (c.first_name.as_str(), c.last_name.as_str()),
        ("Barbara", "updatedFamilyName")
    );
    assert_eq!(c.role.as_deref(), Some("Tour Guide"));
    assert_eq!(c.phone.as_deref(), Some("+447400123456"));
    assert!(c.department.is_none());

    // Update with aadOptscim062020: a lower-case path-based replace, and one
    // path-less replace whose keys are dotted paths and full URN paths.
    let (status, patched) = entra
        .patch(
            &path,
            json!([
                {
                    "op": "replace",
                    "path": "emails[type eq \"work\"].value",
                    "value": "bjensen@contoso.example"
                },
                {"op": "replace", "value": {
                    "displayName": "Barbara Jensen",
                    "name.givenName": "Barbara",
                    "name.familyName": "Jensen",
                    format!("{ENTERPRISE}:employeeNumber"): "701985",
                    format!("{ENTERPRISE}:department"): "Tour Operations"
                }}
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["name"]["familyName"], "Jensen");
    assert_eq!(
        patched[ENTERPRISE],
        json!({"employeeNumber": "701985", "department": "Tour Operations"})
    );
    let c = contact(&app, &admin, &id).await;
    assert_eq!(
        (c.first_name.as_str(), c.last_name.as_str()),
        ("Barbara", "Jensen")
    );
    assert_eq!(c.email.as_deref(), Some("bjensen@contoso.example"));
    assert_eq!(c.department.as_deref(), Some("Tour Operations"));
    assert_eq!(c.role.as_deref(), Some("Tour Guide"), "kept");

    // Another in-scope user, her manager: looked up, not there, created.
    let boss_upn = "Test_User_22cc22cc-dd33-ee44-ff55-66aa66aa66aa";
    assert_no_results(&entra.find(boss_upn).await);
    let (status, boss) = entra
        .post(
            "/Users",
            entra_create(
                boss_upn,
                "alovelace@contoso.example",
                "5e3c2d1b-0a9f-4e8d-b7c6-a5b4c3d2e1f0",
                "Ada",
                "Lovelace",
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{boss}");
    let boss = boss["id"].as_str().unwrap().to_string();
    let c = contact(&app, &admin, &boss).await;
    assert_eq!(
        (c.first_name.as_str(), c.last_name.as_str()),
        ("Ada", "Lovelace")
    );

    // Reference attributes once both exist: the manager as a bare id.
    let (status, patched) = entra
        .patch(
            &path,
            json!([{"op": "add", "path": format!("{ENTERPRISE}:manager"), "value": boss}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched[ENTERPRISE]["manager"], json!({"value": boss}));
    assert_eq!(patched[ENTERPRISE]["department"], "Tour Operations");
    let c = contact(&app, &admin, &id).await;
    assert_eq!(c.department.as_deref(), Some("Tour Operations"));

    // Disabled (or unassigned) in Entra: disabled by update, "False" a string.
    let (status, patched) = entra
        .patch(
            &path,
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["active"], false);
    let c = contact(&app, &admin, &id).await;
    assert!(c.deactivated && c.provisioned);
    assert_eq!(c.first_name, "Barbara", "kept while disabled");
    assert_eq!(c.department.as_deref(), Some("Tour Operations"));
    // Next cycle: the inactive user is still returned, by filter and by id.
    assert_eq!(entra.find(upn).await["Resources"][0]["active"], false);
    let (status, read) = entra.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["active"], false);

    // Restored in Entra: enabled by update, "True" a string.
    let (status, patched) = entra
        .patch(
            &path,
            json!([{"op": "Replace", "path": "active", "value": "True"}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["active"], true);
    let c = contact(&app, &admin, &id).await;
    assert!(!c.deactivated && c.provisioned);

    // UPN changed in Entra: the single-valued replace of userName.
    let new_upn = "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com";
    let (status, patched) = entra
        .patch(
            &path,
            json!([{"op": "Replace", "path": "userName", "value": new_upn}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["userName"], new_upn);
    assert_eq!(entra.find(new_upn).await["Resources"][0]["id"], id.as_str());
    assert_no_results(&entra.find(upn).await);
    let c = contact(&app, &admin, &id).await;
    assert_eq!(
        c.email.as_deref(),
        Some("bjensen@contoso.example"),
        "the email is the work email's, not the userName"
    );

    // Groups: the group is looked up by displayName, members excluded.
    let (status, none) = entra
        .get_with(
            "/Groups",
            &[
                ("excludedAttributes", "members"),
                ("filter", "displayName eq \"Tour Guides\""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{none}");
    assert_no_results(&none);

    // Not found: created empty, with Microsoft's second schema URN.
    let (status, made) = entra
        .post(
            "/Groups",
            json!({
                "schemas": [GROUP, MS_GROUP],
                "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                "displayName": "Tour Guides",
                "meta": {"resourceType": "Group"}
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(made["members"], json!([]));
    assert_eq!(made["displayName"], "Tour Guides");
    assert_eq!(made["externalId"], "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159");
    let gid = made["id"].as_str().unwrap().to_string();
    let group = format!("/Groups/{gid}");
    assert!(source_groups(&app, &admin, &id).await.is_empty());

    // Get group by id without members.
    let (status, slim) = entra
        .get_with(&group, &[("excludedAttributes", "members")])
        .await;
    assert_eq!(status, StatusCode::OK, "{slim}");
    assert!(slim.get("members").is_none(), "{slim}");
    assert_eq!(slim["id"], gid.as_str());
    // Next cycle: the group is found by displayName, members excluded.
    let (_, found) = entra
        .get_with(
            "/Groups",
            &[
                ("excludedAttributes", "members"),
                ("filter", "displayName eq \"Tour Guides\""),
            ],
        )
        .await;
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["id"], gid.as_str());
    assert!(found["Resources"][0].get("members").is_none(), "{found}");

    // Members added, several in one PATCH, each with "$ref": null: 204.
    let (status, body) = entra
        .patch(
            &group,
            json!([{
                "op": "Add",
                "path": "members",
                "value": [{"$ref": null, "value": id}, {"$ref": null, "value": boss}]
            }]),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(body, Value::Null);
    assert_eq!(source_groups(&app, &admin, &id).await, ["Tour Guides"]);
    assert_eq!(source_groups(&app, &admin, &boss).await, ["Tour Guides"]);
    let (_, read) = entra.get(&group).await;
    assert_eq!(read["members"], json!([{"value": id}, {"value": boss}]));

    // Group renamed in Entra: PATCH of displayName, 204.
    let (status, _) = entra
        .patch(
            &group,
            json!([{"op": "Replace", "path": "displayName", "value": "Tour Guides UK"}]),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(source_groups(&app, &admin, &id).await, ["Tour Guides UK"]);
    assert_eq!(source_groups(&app, &admin, &boss).await, ["Tour Guides UK"]);

    // A member removed, no flag: Remove with the member listed in value.
    let (status, _) = entra
        .patch(
            &group,
            json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": boss}]}]),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(source_groups(&app, &admin, &boss).await.is_empty());
    assert_eq!(source_groups(&app, &admin, &id).await, ["Tour Guides UK"]);
    let (_, read) = entra.get(&group).await;
    assert_eq!(read["members"], json!([{"value": id}]));

    // Hard-deleted in Entra: DELETE of the user, 204.
    let (status, _) = entra.delete(&path).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = entra.get(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_scim_error(&body, 404);
    assert_no_results(&entra.find(new_upn).await);
    assert_contact_gone(&app, &admin, &id).await;
    let (_, read) = entra.get(&group).await;
    assert_eq!(
        read["members"],
        json!([]),
        "the deleted user left the group"
    );

    // The group deleted in Entra: DELETE, 204.
    let (status, _) = entra.delete(&group).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = entra.get(&group).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_scim_error(&body, 404);
    let c = contact(&app, &admin, &boss).await;
    assert!(c.synced_groups.is_empty());
    assert_eq!(c.first_name, "Ada", "the other user stays");
}

#[tokio::test]
async fn okta_provisioning_cycle_replays() {
    let app = TestApp::spawn().await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let issued = add_source(&app, &admin, "Okta (SCIM)", "Own", false).await;
    let okta = Idp::okta(&app, &issued.secret);
    let spec = Idp::okta_spec_test(&app, &issued.secret);

    // Import before any assignment: the first page of 100, empty.
    assert!(import_users(&okta).await.is_empty());

    // Assignment: the user is looked up by userName, paged as Okta pages.
    let (status, none) = okta
        .get_with(
            "/Users",
            &[
                ("filter", "userName eq \"test.user@okta.local\""),
                ("startIndex", "1"),
                ("count", "100"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{none}");
    assert_no_results(&none);

    // Not found: created, with the placeholder password Okta always sends.
    let sent = json!({
        "schemas": [USER],
        "userName": "test.user@okta.local",
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",
        "active": true
    });
    let (status, made) = okta.post("/Users", sent.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let id = made["id"].as_str().unwrap().to_string();
    assert!(!id.is_empty());
    for key in [
        "userName",
        "name",
        "emails",
        "displayName",
        "locale",
        "externalId",
    ] {
        assert_eq!(made[key], sent[key], "{key} as written");
    }
    assert_eq!(made["active"], true);
    assert!(made.get("password").is_none(), "{made}");
    let c = contact(&app, &admin, &id).await;
    assert_eq!(
        (c.first_name.as_str(), c.last_name.as_str()),
        ("Test", "User")
    );
    assert_eq!(c.email.as_deref(), Some("test.user@okta.local"));
    assert_eq!(c.source, "Okta (SCIM)");
    assert!(c.provisioned && !c.deactivated);
    let path = format!("/Users/{id}");

    // Import: the user is on the first page.
    let users = import_users(&okta).await;
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["id"], id.as_str());

    // SPEC test 1: the users, one a page; the first has every required field.
    let (status, page) = spec
        .get_with("/Users", &[("count", "1"), ("startIndex", "1")])
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["schemas"], json!([LIST]));
    for key in ["itemsPerPage", "startIndex", "totalResults"] {
        assert!(page[key].is_u64(), "{key} must be a number: {page}");
    }
    let first = page["Resources"][0].clone();
    let required = [
        "/id",
        "/name/familyName",
        "/name/givenName",
        "/userName",
        "/emails/0/value",
    ];
    for pointer in required {
        let value = first.pointer(pointer).and_then(Value::as_str);
        assert!(value.is_some_and(|v| !v.is_empty()), "{pointer}: {first}");
    }
    assert!(first["active"].is_boolean(), "{first}");

    // SPEC test 2: that user by id, the same.
    let (status, read) = spec
        .get(&format!("/Users/{}", first["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    for pointer in required {
        assert_eq!(read.pointer(pointer), first.pointer(pointer), "{pointer}");
    }
    assert_eq!(read["active"], first["active"]);

    // SPEC test 3: a userName nobody has.
    let (status, none) = spec
        .get_with("/Users", &[("filter", "userName eq \"abcdefgh@atko.com\"")])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_no_results(&none);

    // SPEC test 4: an id nobody has: 404 with a SCIM error.
    let (status, body) = spec.get("/Users/010101001010101011001010101011").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_scim_error(&body, 404);

    // SPEC test 5: a random userName, not there yet.
    let random = format!("{}@atko.com", &random_guid()[..13]);
    let filter = format!("userName eq \"{random}\"");
    let (status, none) = spec.get_with("/Users", &[("filter", &filter)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_no_results(&none);

    // SPEC test 6: that user created.
    let spec_user = json!({
        "schemas": [USER],
        "userName": random,
        "name": {"givenName": "Spec", "familyName": "Tester"},
        "emails": [{"primary": true, "value": random, "type": "work"}],
        "displayName": "Spec Tester",
        "active": true
    });
    let (status, made) = spec.post("/Users", spec_user.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(made["active"], true);
    let other = made["id"].as_str().unwrap().to_string();
    assert!(!other.is_empty());
    assert_eq!(made["name"], spec_user["name"]);
    assert_eq!(made["userName"], random.as_str());
    assert!(made["schemas"].as_array().unwrap().contains(&json!(USER)));
    let c = contact(&app, &admin, &other).await;
    assert_eq!(
        (c.first_name.as_str(), c.last_name.as_str()),
        ("Spec", "Tester")
    );
    assert_eq!(c.email.as_deref(), Some(random.as_str()));

    // SPEC test 7: read back, the same values.
    let (status, read) = spec.get(&format!("/Users/{other}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, made);

    // SPEC test 8: the same user again: 409.
    let (status, body) = spec.post("/Users", spec_user.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_scim_error(&body, 409);
    assert_eq!(body["scimType"], "uniqueness");

    // SPEC test 9: the userName upper-cased (Okta checks only the status).
    let filter = format!("userName eq \"{}\"", random.to_uppercase());
    let (status, found) = spec.get_with("/Users", &[("filter", &filter)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found["totalResults"], 1, "userName ignores case");

    // SPEC test 10: the groups; none yet.
    let (status, groups) = spec.get("/Groups").await;
    assert_eq!(status, StatusCode::OK);
    assert!(groups["Resources"].is_array(), "{groups}");
    assert_eq!(groups["totalResults"], 0);

    // SPEC test 11: an Authorization header that is no token: 401.
    let res = spec
        .http
        .get(format!("{}/Users", spec.base))
        .query(&[("filter", filter.as_str())])
        .header(AUTHORIZATION, "non-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_scim_error(&res.json::<Value>().await.unwrap(), 401);

    // SPEC test 12: another id nobody has: 404 with a SCIM error.
    let (status, body) = spec.get("/Users/00919288221112222").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_scim_error(&body, 404);

    // Profile change in Okta: the user is read, then replaced whole by PUT.
    let (status, read) = okta.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["name"]["givenName"], "Test");
    let mut profile = sent.clone();
    profile["id"] = id.clone().into();
    profile["schemas"] = json!([USER, ENTERPRISE]);
    profile["name"]["givenName"] = "Testy".into();
    profile["displayName"] = "Testy User".into();
    profile["title"] = "Tour Guide".into();
    profile["phoneNumbers"] = json!([
        {"primary": true, "type": "mobile", "value": "+44 7400 123456"}
    ]);
    profile["addresses"] = json!([{"primary": true, "type": "work", "locality": "London"}]);
    profile[ENTERPRISE] = json!({"department": "Tour Operations"});
    let (status, put) = okta.put(&path, profile.clone()).await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(put["id"], id.as_str());
    assert_eq!(put["name"]["givenName"], "Testy");
    assert_eq!(put["phoneNumbers"], profile["phoneNumbers"]);
    assert!(put.get("password").is_none(), "{put}");
    let c = contact(&app, &admin, &id).await;
    assert_eq!(
        (c.first_name.as_str(), c.last_name.as_str()),
        ("Testy", "User")
    );
    assert_eq!(c.role.as_deref(), Some("Tour Guide"));
    assert_eq!(c.phone.as_deref(), Some("+447400123456"));
    assert_eq!(c.department.as_deref(), Some("Tour Operations"));
    assert_eq!(c.location.as_deref(), Some("London"));
    // The CRUD test: the new givenName, found by userName.
    let (_, found) = okta
        .get_with(
            "/Users",
            &[("filter", "userName eq \"test.user@okta.local\"")],
        )
        .await;
    assert_eq!(found["Resources"][0]["name"]["givenName"], "Testy");

    // Deactivated in Okta (OIN app): a path-less replace of active.
    let (status, patched) = okta
        .patch(
            &path,
            json!([{"op": "replace", "value": {"active": false}}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["active"], false);
    let c = contact(&app, &admin, &id).await;
    assert!(c.deactivated && c.provisioned);
    assert_eq!(c.first_name, "Testy", "kept while deactivated");
    // The CRUD test: active false after deactivation.
    assert_eq!(okta.get(&path).await.1["active"], false);

    // Reactivated in Okta: the same replace, active true.
    let (status, patched) = okta
        .patch(&path, json!([{"op": "replace", "value": {"active": true}}]))
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["active"], true);
    let c = contact(&app, &admin, &id).await;
    assert!(!c.deactivated && c.provisioned);
    assert_eq!(okta.get(&path).await.1["active"], true);

    // Group Push: the group created empty.
    let (status, made) = okta
        .post(
            "/Groups",
            json!({"schemas": [GROUP], "displayName": "Test SCIMv2", "members": []}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(made["members"], json!([]));
    let gid = made["id"].as_str().unwrap().to_string();
    let group = format!("/Groups/{gid}");

    // Okta lists the groups, finds the pushed one by name, and reads it.
    let (_, page) = okta
        .get_with("/Groups", &[("startIndex", "1"), ("count", "100")])
        .await;
    assert_eq!(page["totalResults"], 1);
    assert_eq!(page["Resources"][0]["id"], gid.as_str());
    let (_, found) = okta
        .get_with(
            "/Groups",
            &[
                ("filter", "displayName eq \"Test SCIMv2\""),
                ("startIndex", "1"),
                ("count", "100"),
            ],
        )
        .await;
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["id"], gid.as_str());
    let (status, read) = okta.get(&group).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["displayName"], "Test SCIMv2");

    // A membership update: the rename Okta sends with it, then the member.
    okta_rename(&okta, &group, &gid, "Test SCIMv2").await;
    let (status, _) = okta
        .patch(
            &group,
            json!([{
                "op": "add",
                "path": "members",
                "value": [{"value": id, "display": "test.user@okta.local"}]
            }]),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(source_groups(&app, &admin, &id).await, ["Test SCIMv2"]);
    assert!(source_groups(&app, &admin, &other).await.is_empty());

    // The group renamed in Okta, then one member out and one in, at once.
    okta_rename(&okta, &group, &gid, "Tour Guides").await;
    assert_eq!(source_groups(&app, &admin, &id).await, ["Tour Guides"]);
    let (status, _) = okta
        .patch(
            &group,
            json!([
                {"op": "remove", "path": format!("members[value eq \"{id}\"]")},
                {"op": "add", "path": "members", "value": [{"value": other, "display": random}]}
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(source_groups(&app, &admin, &id).await.is_empty());
    assert_eq!(source_groups(&app, &admin, &other).await, ["Tour Guides"]);
    let (_, read) = okta.get(&group).await;
    assert_eq!(
        read["members"],
        json!([{"value": other, "display": random}])
    );

    // A full push: the rename, then replace of the whole member list.
    okta_rename(&okta, &group, &gid, "Tour Guides").await;
    let (status, _) = okta
        .patch(
            &group,
            json!([{"op": "replace", "path": "members", "value": [
                {"value": id, "display": "test.user@okta.local"},
                {"value": other, "display": random}
            ]}]),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(source_groups(&app, &admin, &id).await, ["Tour Guides"]);
    assert_eq!(source_groups(&app, &admin, &other).await, ["Tour Guides"]);

    // AIW apps: PUT of the group with its whole member list, 200.
    let members = json!([{"value": other, "display": random}]);
    let (status, put) = okta
        .put(
            &group,
            json!({
                "schemas": [GROUP],
                "id": gid,
                "displayName": "Tour Guides",
                "members": members
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(put["id"], gid.as_str());
    assert_eq!(put["members"], members);
    assert!(source_groups(&app, &admin, &id).await.is_empty());
    assert_eq!(source_groups(&app, &admin, &other).await, ["Tour Guides"]);

    // The pushed group deleted in Okta: DELETE, 204; its members stay.
    let (status, _) = okta.delete(&group).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = okta.get(&group).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_scim_error(&body, 404);
    let c = contact(&app, &admin, &other).await;
    assert!(c.synced_groups.is_empty());
    assert!(!c.deactivated);

    // Unassigned (AIW app): no DELETE, a PUT of the user with active false.
    profile["active"] = false.into();
    let (status, put) = okta.put(&path, profile).await;
    assert_eq!(status, StatusCode::OK, "{put}");
    assert_eq!(put["active"], false);
    let c = contact(&app, &admin, &id).await;
    assert!(c.deactivated && c.provisioned, "kept, deactivated");
    assert_eq!(c.first_name, "Testy");
    // Unassigned (OIN app): the path-less PATCH of active false.
    let (status, patched) = okta
        .patch(
            &format!("/Users/{other}"),
            json!([{"op": "replace", "value": {"active": false}}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert!(contact(&app, &admin, &other).await.deactivated);

    // The next import still reads both users, inactive.
    let users = import_users(&okta).await;
    assert_eq!(users.len(), 2);
    assert!(
        users.iter().all(|u| u["active"].as_bool() == Some(false)),
        "{users:?}"
    );
}
