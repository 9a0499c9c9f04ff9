//! Applying CSV files to the directory: matching, merging, validation and
//! duplicates, on the real database.

mod common;

use app::backend::auth::OrgId;
use app::backend::import::apply::{Counts, Importer, Problem};
use app::backend::import::{preview, stream};
use common::TestApp;
use serde_json::Value;

/// Import `file` into `org` in batches of `batch` rows, as the upload will.
async fn import(app: &TestApp, org: OrgId, file: &str, batch: usize) -> (Counts, Vec<Problem>) {
    let p = preview(file.as_bytes(), true, "GB", 5).expect("a usable file");
    let (mut reader, watch) = stream::records(file.as_bytes(), p.encoding, p.delimiter);
    reader.headers().unwrap();
    let mut importer = Importer::new(org, "GB");
    let mut problems = Vec::new();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.unwrap();
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let line = app::backend::import::line_at(file, record.position().unwrap().byte());
        rows.push((line, p.mapping.draft(&record)));
        if rows.len() == batch {
            importer
                .apply(&app.db, &p.mapping, &rows, &mut problems)
                .await
                .unwrap();
            rows.clear();
        }
    }
    assert_eq!(watch.unclosed_since(), None);
    importer
        .apply(&app.db, &p.mapping, &rows, &mut problems)
        .await
        .unwrap();
    (importer.counts, problems)
}

const FILE: &str = "First Name,Last Name,Email,Mobile,Job Title,Office,Groups,Badge\n\
Ada,Lovelace,ada@example.com,07911 123456,Engineer,London,Ops;On call,1\n\
Grace,Hopper,grace@example.com,,Admiral,,,2\n\
Alan,Turing,not-an-email,,,,,3\n\
Bad,Phone,,12,,,,4\n\
Katherine,Johnson,,07911 123457,,Hampton,,5\n\
Ada,Lovelace,ADA@example.com,,Analyst,,,6\n";

#[tokio::test]
async fn rows_create_update_and_fail_as_they_should() {
    let app = TestApp::spawn().await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let org = OrgId::trusted(1);
    // Grace already exists, typed by hand, with a department the file leaves blank.
    app.create(
        &admin,
        &[
            ("draft[first_name]", "Grace"),
            ("draft[last_name]", "Hopper"),
            ("draft[email]", "Grace@Example.com"),
            ("draft[department]", "Navy"),
        ],
    )
    .await;

    let (counts, problems) = import(&app, org, FILE, 2).await;
    assert_eq!(
        counts,
        Counts {
            created: 2,
            updated: 2,
            unchanged: 0,
            failed: 2,
            warnings: 1
        },
        "{problems:?}"
    );
    let errors: Vec<(u64, &str, bool)> = problems
        .iter()
        .map(|p| (p.line, p.column.as_str(), p.warning))
        .collect();
    assert_eq!(
        errors,
        vec![(4, "Email", false), (5, "Mobile", false), (7, "", true)]
    );
    assert!(
        problems[2].message.contains("line 2"),
        "{}",
        problems[2].message
    );

    let list: Value = app.json(&admin, "list_contacts", &[("query[q]", "")]).await;
    assert_eq!(list["total"], 3);
    let rows: Vec<(&str, &str)> = list["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap(), r["source"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("Ada Lovelace", "CSV upload"),
            ("Grace Hopper", "Manual"),
            ("Katherine Johnson", "CSV upload"),
        ]
    );
    let ids: Vec<i64> = list["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    // Ada: created from line 2, then line 7 changed her role and the email's spelling,
    // and kept what line 7 left blank.
    let ada = app
        .json(&admin, "get_contact", &[("id", &ids[0].to_string())])
        .await;
    assert_eq!(ada["email"], "ADA@example.com");
    assert_eq!(ada["role"], "Analyst");
    assert_eq!(ada["phone"], "+447911123456");
    assert_eq!(ada["location"], "London");
    assert_eq!(ada["groups"], serde_json::json!(["On call", "Ops"]));
    // Grace: matched by email without case; the blank department kept.
    let grace = app
        .json(&admin, "get_contact", &[("id", &ids[1].to_string())])
        .await;
    assert_eq!(grace["role"], "Admiral");
    assert_eq!(grace["department"], "Navy");
    assert_eq!(grace["email"], "grace@example.com");

    // The same file again: its two rows for Ada still disagree, so she changes
    // twice, in file order; everyone else is unchanged.
    let (again, problems) = import(&app, org, FILE, 100).await;
    assert_eq!(
        again,
        Counts {
            created: 0,
            updated: 2,
            unchanged: 2,
            failed: 2,
            warnings: 1
        },
        "{problems:?}"
    );
}

#[tokio::test]
async fn an_import_matches_only_inside_its_organisation() {
    let app = TestApp::spawn().await;
    let acme = app.org_admin("Acme", "admin@acme.example").await;
    let other = app.org_admin("Other", "admin@other.example").await;
    app.create(
        &other,
        &[
            ("draft[first_name]", "Ada"),
            ("draft[last_name]", "Byron"),
            ("draft[email]", "ada@example.com"),
        ],
    )
    .await;
    let (counts, _) = import(&app, OrgId::trusted(1), FILE, 50).await;
    assert_eq!(counts.created, 3, "{counts:?}");
    let theirs: Value = app.json(&other, "list_contacts", &[("query[q]", "")]).await;
    assert_eq!(theirs["total"], 1);
    assert_eq!(theirs["rows"][0]["name"], "Ada Byron");
    let ours: Value = app.json(&acme, "list_contacts", &[("query[q]", "")]).await;
    assert_eq!(ours["total"], 3);
}
