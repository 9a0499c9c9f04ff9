//! Uploading CSV files, end to end over HTTP: matching, merging, validation,
//! duplicates, the error report, and isolation between organisations, on the
//! real database.

mod common;

use app::backend::import::job::ImportConfig;
use app::model::{Contact, ContactPage, ImportJob, ImportStatus};
use common::TestApp;

/// The counts of a finished upload, in the order of the summary.
fn counts(job: &ImportJob) -> [u64; 5] {
    [
        job.created,
        job.updated,
        job.unchanged,
        job.failed,
        job.warnings,
    ]
}

const FILE: &str = "First Name,Last Name,Email,Mobile,Job Title,Office,Groups,Badge\n\
Ada,Lovelace,ada@example.com,07911 123456,Engineer,London,Ops;On call,1\n\
Grace,Hopper,grace@example.com,,Admiral,,,2\n\
Alan,Turing,not-an-email,,,,,3\n\
Bad,Phone,,12,,,,4\n\
Katherine,Johnson,,07911 123457,,Hampton,,5\n\
Ada,Lovelace,ADA@example.com,,Analyst,,,6\n";

/// The error report, corrected in a spreadsheet (the failed rows' cells
/// fixed, the warning's line dropped) and uploaded again: its own columns
/// are ignored, the file's columns are found again, and the rows import.
#[tokio::test]
async fn the_error_report_corrected_imports_again() {
    let app = TestApp::spawn_with(common::test_imports()).await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let job = app.import(&admin, "people.csv", FILE.as_bytes()).await;
    let report = app.problems_csv(&admin, job.id).await;
    let mut fixed = csv::WriterBuilder::new().from_writer(Vec::new());
    for (i, mut line) in common::csv_records(&report).into_iter().enumerate() {
        if i > 0 && line[2] == "Warning" {
            continue;
        }
        for cell in line.iter_mut() {
            match cell.as_str() {
                "not-an-email" => *cell = "alan@example.com".into(),
                "12" => *cell = "07911 123458".into(),
                _ => {}
            }
        }
        fixed.write_record(&line).unwrap();
    }
    let fixed = fixed.into_inner().unwrap();
    let (status, preview) = app.upload(&admin, "fixed.csv", fixed.clone()).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    let preview = preview.unwrap();
    let fields = common::detected_fields(&preview);
    assert_eq!(
        fields[..5],
        ["", "", "", "first_name", "last_name"],
        "{preview:?}"
    );
    let again = app.import(&admin, "fixed.csv", &fixed).await;
    assert_eq!(counts(&again), [2, 0, 0, 0, 0], "{again:?}");
    let alan: ContactPage = app
        .json(&admin, "list_contacts", &[("query[q]", "alan@example.com")])
        .await;
    assert_eq!(alan.total, 1);
}

#[tokio::test]
async fn rows_create_update_and_fail_as_they_should() {
    // Batches of two rows: Ada's second row is in another batch than her first.
    let app = TestApp::spawn_with(ImportConfig {
        batch_rows: 2,
        ..common::test_imports()
    })
    .await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
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

    let job = app.import(&admin, "people.csv", FILE.as_bytes()).await;
    assert_eq!(job.status, ImportStatus::Completed, "{job:?}");
    assert_eq!(counts(&job), [2, 2, 0, 2, 1], "{job:?}");
    assert_eq!((job.processed_rows, job.total_rows), (6, 6));
    // The report: a line per row, each failed row with its own cells under
    // the file's headers (a warning's row was applied: no cells).
    let report = app.problems_csv(&admin, job.id).await;
    let lines = common::csv_records(&report);
    assert_eq!(
        lines[0],
        "Line,Problem,Severity,First Name,Last Name,Email,Mobile,Job Title,Office,Groups,Badge"
            .split(',')
            .collect::<Vec<_>>()
    );
    assert_eq!(lines.len(), 4, "{report}");
    assert_eq!(lines[1][0], "4");
    assert!(lines[1][1].starts_with("Email: "), "{report}");
    assert_eq!(
        lines[1][2..],
        [
            "Error",
            "Alan",
            "Turing",
            "not-an-email",
            "",
            "",
            "",
            "",
            "3"
        ]
    );
    assert_eq!(lines[2][0], "5");
    assert!(lines[2][1].starts_with("Mobile: "), "{report}");
    assert_eq!(
        lines[2][2..],
        ["Error", "Bad", "Phone", "", "12", "", "", "", "4"]
    );
    assert_eq!(lines[3][0], "7");
    assert!(lines[3][1].contains("line 2"), "{report}");
    assert_eq!(lines[3][2], "Warning");
    assert!(lines[3][3..].iter().all(String::is_empty), "{report}");

    let list: ContactPage = app.json(&admin, "list_contacts", &[("query[q]", "")]).await;
    assert_eq!(list.total, 3);
    // Grace, updated by the upload, is found through the search index by her
    // new role and the department she kept (on SQLite her entry was parked by
    // the upload and rewritten when it ended).
    let found = |filter: &'static str, value: &'static str| {
        let (app, admin) = (&app, &admin);
        async move {
            let form = [("query[q]", "hopper"), (filter, value)];
            let page: ContactPage = app.json(admin, "list_contacts", &form).await;
            (page.total, page.rows.len(), page.unsearched)
        }
    };
    assert_eq!(found("query[role]", "Admiral").await, (1, 1, 0));
    assert_eq!(found("query[department]", "Navy").await, (1, 1, 0));
    let rows: Vec<(&str, &str)> = list
        .rows
        .iter()
        .map(|r| (r.name.as_str(), r.source.as_str()))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("Ada Lovelace", "CSV upload"),
            ("Grace Hopper", "Manual"),
            ("Katherine Johnson", "CSV upload"),
        ]
    );
    let ids: Vec<i64> = list.rows.iter().map(|r| r.id).collect();
    // Ada: created from line 2, then line 7 changed her role and the email's spelling,
    // and kept what line 7 left blank.
    let ada: Contact = app
        .json(&admin, "get_contact", &[("id", &ids[0].to_string())])
        .await;
    assert_eq!(ada.email.as_deref(), Some("ADA@example.com"));
    assert_eq!(ada.role.as_deref(), Some("Analyst"));
    assert_eq!(ada.phone.as_deref(), Some("+447911123456"));
    assert_eq!(ada.location.as_deref(), Some("London"));
    assert_eq!(ada.groups, ["On call", "Ops"]);
    // Grace: matched by email without case; the blank department kept.
    let grace: Contact = app
        .json(&admin, "get_contact", &[("id", &ids[1].to_string())])
        .await;
    assert_eq!(grace.role.as_deref(), Some("Admiral"));
    assert_eq!(grace.department.as_deref(), Some("Navy"));
    assert_eq!(grace.email.as_deref(), Some("grace@example.com"));

    // The same file again: its two rows for Ada still disagree, so she changes
    // twice, in file order; everyone else is unchanged.
    let again = app.import(&admin, "people.csv", FILE.as_bytes()).await;
    assert_eq!(counts(&again), [0, 2, 2, 2, 1], "{again:?}");

    // Both uploads are in the history, newest first, with who sent them.
    let history: Vec<ImportJob> = app.json(&admin, "import_history", &[]).await;
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].id, again.id);
    assert_eq!(history[1].uploaded_by, "admin@acme.example");
    assert_eq!(history[1].file_name, "people.csv");
}

/// An upload changes the groups of the contacts it updates, batch by batch:
/// a group the row no longer names is left, a new one joined (and made), one
/// named in another case kept as it is; a blank cell keeps them all, and the
/// other members of a group left stay in it.
#[tokio::test]
async fn updates_change_groups_as_their_rows_say() {
    let app = TestApp::spawn_with(ImportConfig {
        batch_rows: 2,
        ..common::test_imports()
    })
    .await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let first = "First Name,Last Name,Email,Groups\n\
        Ada,Lovelace,ada@example.com,Ops;On call\n\
        Grace,Hopper,grace@example.com,On call\n\
        Alan,Turing,alan@example.com,Ops\n";
    let job = app.import(&admin, "first.csv", first.as_bytes()).await;
    assert_eq!(counts(&job), [3, 0, 0, 0, 0], "{job:?}");
    let second = "First Name,Last Name,Email,Groups\n\
        Grace,Hopper,grace@example.com,on call\n\
        Alan,Turing,alan@example.com,\n\
        Ada,Lovelace,ada@example.com,ops;Night shift\n";
    let job = app.import(&admin, "second.csv", second.as_bytes()).await;
    assert_eq!(counts(&job), [0, 1, 2, 0, 0], "{job:?}");

    let groups: Vec<_> = every_contact(&app, &admin)
        .await
        .into_iter()
        .map(|c| (c.first_name, c.groups, c.version))
        .collect();
    let expected = |name: &str, groups: &[&str], version: i64| {
        (
            name.to_string(),
            groups.iter().map(|g| g.to_string()).collect::<Vec<_>>(),
            version,
        )
    };
    assert_eq!(
        groups,
        [
            expected("Ada", &["Night shift", "Ops"], 2),
            expected("Alan", &["Ops"], 1),
            expected("Grace", &["On call"], 1),
        ]
    );
}

/// Every contact of the organisation, in name order, in full.
async fn every_contact(app: &TestApp, admin: &reqwest::Client) -> Vec<Contact> {
    let list: ContactPage = app.json(admin, "list_contacts", &[("query[q]", "")]).await;
    let mut all = Vec::new();
    for row in &list.rows {
        all.push(
            app.json(admin, "get_contact", &[("id", &row.id.to_string())])
                .await,
        );
    }
    all
}

/// The names of the contacts a search (and a department) finds, in order.
async fn found(app: &TestApp, admin: &reqwest::Client, q: &str, department: &str) -> Vec<String> {
    let page: ContactPage = app
        .json(
            admin,
            "list_contacts",
            &[("query[q]", q), ("query[department]", department)],
        )
        .await;
    page.rows.into_iter().map(|r| r.name).collect()
}

/// An upload that changes one field or another of its contacts: each is
/// found at once by what it became, and no longer by what it was, whichever
/// field changed (an update writes only the columns whose values change).
#[tokio::test]
async fn updated_contacts_are_found_by_what_they_became_not_by_what_they_were() {
    let app = TestApp::spawn_with(common::test_imports()).await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let first = "First Name,Last Name,Email,Mobile,Department\n\
        Ada,Lovelace,ada@example.com,07911 123456,Engines\n\
        Grace,Hopper,grace@example.com,07911 123457,Navy\n\
        Alan,Turing,alan@example.com,07911 123458,Codes\n";
    let job = app.import(&admin, "first.csv", first.as_bytes()).await;
    assert_eq!(counts(&job), [3, 0, 0, 0, 0], "{job:?}");
    // Ada's department changes, Grace's last name, Alan's phone alone.
    let second = "First Name,Last Name,Email,Mobile,Department\n\
        Ada,Lovelace,ada@example.com,07911 123456,Finance\n\
        Grace,Murray,grace@example.com,07911 123457,Navy\n\
        Alan,Turing,alan@example.com,07911 123459,Codes\n";
    let job = app.import(&admin, "second.csv", second.as_bytes()).await;
    assert_eq!(counts(&job), [0, 3, 0, 0, 0], "{job:?}");

    // A department is a filter (on SQLite, a token of the search text).
    assert_eq!(found(&app, &admin, "", "Finance").await, ["Ada Lovelace"]);
    assert_eq!(
        found(&app, &admin, "lovelace", "Finance").await,
        ["Ada Lovelace"]
    );
    assert!(found(&app, &admin, "", "Engines").await.is_empty());
    assert_eq!(found(&app, &admin, "murray", "").await, ["Grace Murray"]);
    assert_eq!(found(&app, &admin, "mu", "Navy").await, ["Grace Murray"]);
    assert!(found(&app, &admin, "hopper", "").await.is_empty());
    assert_eq!(
        found(&app, &admin, "turing", "Codes").await,
        ["Alan Turing"]
    );
    assert_eq!(
        found(&app, &admin, "", "").await,
        ["Ada Lovelace", "Alan Turing", "Grace Murray"]
    );
    let now: Vec<_> = every_contact(&app, &admin)
        .await
        .into_iter()
        .map(|c| (c.last_name, c.email, c.phone, c.department, c.version))
        .collect();
    let contact = |last: &str, email: &str, phone: &str, department: &str| {
        (
            last.to_string(),
            Some(email.to_string()),
            Some(phone.to_string()),
            Some(department.to_string()),
            2,
        )
    };
    assert_eq!(
        now,
        [
            contact("Lovelace", "ada@example.com", "+447911123456", "Finance"),
            contact("Turing", "alan@example.com", "+447911123459", "Codes"),
            contact("Murray", "grace@example.com", "+447911123457", "Navy"),
        ]
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
    // One batch: Ada's second row finds the contact her first row created.
    let job = app.import(&acme, "people.csv", FILE.as_bytes()).await;
    assert_eq!(counts(&job), [3, 1, 0, 2, 1], "{job:?}");
    let theirs: ContactPage = app.json(&other, "list_contacts", &[("query[q]", "")]).await;
    assert_eq!(theirs.total, 1);
    assert_eq!(theirs.rows[0].name, "Ada Byron");
    let ours: ContactPage = app.json(&acme, "list_contacts", &[("query[q]", "")]).await;
    assert_eq!(ours.total, 3);
}

#[tokio::test]
async fn uploads_and_their_reports_are_private_to_their_organisation() {
    let app = TestApp::spawn().await;
    let acme = app.org_admin("Acme", "admin@acme.example").await;
    let other = app.org_admin("Other", "admin@other.example").await;
    let job = app.import(&acme, "people.csv", FILE.as_bytes()).await;
    let id = job.id.to_string();
    let res = app.call(&other, "import_job", &[("id", &id)]).await;
    assert_eq!(res.status(), reqwest::StatusCode::NOT_FOUND);
    let res = app.call(&other, "cancel_import", &[("id", &id)]).await;
    assert_eq!(res.status(), reqwest::StatusCode::NOT_FOUND);
    let res = other
        .get(format!("{}/imports/{id}/problems.csv", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::NOT_FOUND);
    let history: Vec<ImportJob> = app.json(&other, "import_history", &[]).await;
    assert!(history.is_empty(), "{history:?}");
    // Without a session, nothing.
    let anonymous = app.client();
    let (status, _) = app
        .upload(&anonymous, "x.csv", FILE.as_bytes().to_vec())
        .await;
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED);
    let res = anonymous
        .get(format!("{}/contacts.csv", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::UNAUTHORIZED);
}

/// A row is matched by its email first and by its mobile phone only when its
/// email is not in the directory: a new address with a known phone updates
/// that contact, and a known address with another contact's phone updates the
/// address's contact, not the phone's.
#[tokio::test]
async fn a_row_is_matched_by_email_first_then_by_phone() {
    let app = TestApp::spawn().await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let first = "First Name,Last Name,Email,Mobile,Role\n\
        Katherine,Johnson,katherine@old.example,07911 123457,Analyst\n\
        Dorothy,Vaughan,dorothy@example.com,07911 123458,Analyst\n";
    let job = app.import(&admin, "first.csv", first.as_bytes()).await;
    assert_eq!(counts(&job), [2, 0, 0, 0, 0], "{job:?}");
    let second = "First Name,Last Name,Email,Mobile,Role\n\
        Katherine,Johnson,katherine@new.example,07911 123457,Mathematician\n\
        Dorothy,Vaughan,DOROTHY@example.com,07911 123457,Supervisor\n";
    let job = app.import(&admin, "second.csv", second.as_bytes()).await;
    // One warning: the second row has the first's phone (a file's rows that
    // share an email or a phone are reported, and applied in file order).
    assert_eq!(counts(&job), [0, 2, 0, 0, 1], "{job:?}");

    let now: Vec<_> = every_contact(&app, &admin)
        .await
        .into_iter()
        .map(|c| (c.first_name, c.email, c.phone, c.role))
        .collect();
    let contact = |first: &str, email: &str, phone: &str, role: &str| {
        (
            first.to_string(),
            Some(email.to_string()),
            Some(phone.to_string()),
            Some(role.to_string()),
        )
    };
    assert_eq!(
        now,
        [
            contact(
                "Dorothy",
                "DOROTHY@example.com",
                "+447911123457",
                "Supervisor"
            ),
            contact(
                "Katherine",
                "katherine@new.example",
                "+447911123457",
                "Mathematician"
            ),
        ]
    );
}

/// A contact whose stored phone is no longer valid (saved under older rules,
/// or written to the database by hand): a row that keeps that phone is
/// reported and not applied, the rest of the upload goes on, and a row that
/// gives a valid phone repairs the contact.
#[tokio::test]
async fn a_row_for_a_contact_with_a_stored_invalid_value_is_reported_not_fatal() {
    use sea_orm::ConnectionTrait;
    let app = TestApp::spawn().await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let first = "First Name,Last Name,Email,Mobile,Role\n\
        Katherine,Johnson,katherine@example.com,07911 123457,Analyst\n";
    let job = app.import(&admin, "first.csv", first.as_bytes()).await;
    assert_eq!(counts(&job), [1, 0, 0, 0, 0], "{job:?}");
    app.db
        .execute_unprepared(
            "UPDATE contacts SET phone = '+12' WHERE email_lower = 'katherine@example.com'",
        )
        .await
        .unwrap();

    let second = "First Name,Last Name,Email,Role\n\
        Katherine,Johnson,katherine@example.com,Mathematician\n\
        Dorothy,Vaughan,dorothy@example.com,Supervisor\n";
    let job = app.import(&admin, "second.csv", second.as_bytes()).await;
    assert_eq!(job.status, ImportStatus::Completed, "{job:?}");
    assert_eq!(counts(&job), [1, 0, 0, 1, 0], "{job:?}");
    let report = app.problems_csv(&admin, job.id).await;
    let lines = common::csv_records(&report);
    assert_eq!(lines.len(), 2, "{report}");
    assert_eq!(lines[1][0], "2", "{report}");
    assert!(
        lines[1]
            .iter()
            .any(|c| c.contains("stored phone is not valid")),
        "{report}"
    );
    // The row's own cells, to correct and upload again.
    assert_eq!(
        lines[0][3..],
        ["First Name", "Last Name", "Email", "Role"],
        "{report}"
    );
    assert_eq!(
        lines[1][3..],
        [
            "Katherine",
            "Johnson",
            "katherine@example.com",
            "Mathematician"
        ],
        "{report}"
    );
    let katherine = |contacts: Vec<Contact>| {
        contacts
            .into_iter()
            .find(|c| c.first_name == "Katherine")
            .map(|c| (c.phone, c.role))
            .unwrap()
    };
    assert_eq!(
        katherine(every_contact(&app, &admin).await),
        (Some("+12".to_string()), Some("Analyst".to_string()))
    );

    let third = "First Name,Last Name,Email,Mobile,Role\n\
        Katherine,Johnson,katherine@example.com,07911 123459,Mathematician\n";
    let job = app.import(&admin, "third.csv", third.as_bytes()).await;
    assert_eq!(counts(&job), [0, 1, 0, 0, 0], "{job:?}");
    assert_eq!(
        katherine(every_contact(&app, &admin).await),
        (
            Some("+447911123459".to_string()),
            Some("Mathematician".to_string())
        )
    );
}
