//! Uploads as people make them: every encoding and delimiter spreadsheets
//! write, files that are not usable, the size limit, mapping corrections,
//! cancellation, and export followed by import.

mod common;

use app::backend::import::job::ImportConfig;
use app::model::{AppError, Contact, ContactPage, ImportJob, ImportPreview, ImportStatus};
use common::{detected_fields, TestApp};
use reqwest::StatusCode;

/// Three people, with quoted values holding the delimiter and a line break,
/// accents, a blank line and CRLF line ends; `{d}` is the delimiter. The
/// Notes column is ignored, but read wrongly it would shift the Office column.
fn people(d: char) -> String {
    format!(
        "First Name{d}Last Name{d}Email{d}Job Title{d}Notes{d}Office\r\n\
         Zoë{d}Ångström{d}zoe@example.com{d}\"Lead, Platform\"{d}\"a{d}b\"{d}Malmö\r\n\
         José{d}Núñez{d}jose@example.com{d}\"Night\r\nshift\"{d}{d}\r\n\
         \r\n\
         Ada{d}Lovelace{d}ada@example.com{d}{d}\"x{d}\r\ny\"{d}London\r\n"
    )
}

fn utf16(text: &str, little: bool, bom: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if bom {
        out.extend_from_slice(if little { &[0xFF, 0xFE] } else { &[0xFE, 0xFF] });
    }
    for unit in text.encode_utf16() {
        out.extend_from_slice(&if little {
            unit.to_le_bytes()
        } else {
            unit.to_be_bytes()
        });
    }
    out
}

#[tokio::test]
async fn every_encoding_and_delimiter_imports_the_same_people() {
    let app = TestApp::spawn().await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    for (d, name) in [(',', "comma"), (';', "semicolon"), ('\t', "tab")] {
        let text = people(d);
        let (cp1252, _, unmappable) = encoding_rs::WINDOWS_1252.encode(&text);
        assert!(!unmappable);
        let files: Vec<(&str, Vec<u8>, &str)> = vec![
            ("UTF-8", text.as_bytes().to_vec(), "UTF-8"),
            (
                "UTF-8 with BOM",
                [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat(),
                "UTF-8",
            ),
            (
                "UTF-16LE with BOM",
                utf16(&text, true, true),
                "UTF-16 (little-endian)",
            ),
            (
                "UTF-16BE without BOM",
                utf16(&text, false, false),
                "UTF-16 (big-endian)",
            ),
            ("Windows-1252", cp1252.into_owned(), "Windows-1252"),
        ];
        for (label, bytes, encoding) in files {
            let (status, preview) = app.upload(&admin, "people.csv", bytes).await;
            assert_eq!(status, StatusCode::OK, "{label} {name}: {preview:?}");
            let preview = preview.unwrap();
            assert_eq!(preview.encoding, encoding, "{label} {name}");
            assert_eq!(preview.delimiter, name, "{label} {name}");
            assert_eq!(preview.total_rows, 3, "{label} {name}: blank line skipped");
            assert_eq!(preview.rows[0].cells[0], "Zoë", "{label} {name}");
            assert_eq!(preview.rows[0].cells[3], "Lead, Platform");
            assert_eq!(preview.rows[0].cells[4], format!("a{d}b"), "{label} {name}");
            assert_eq!(preview.rows[2].cells[5], "London", "{label} {name}");
            assert_eq!(preview.rows[1].cells[3], "Night\r\nshift");
            let lines: Vec<u64> = preview.rows.iter().map(|r| r.line).collect();
            assert_eq!(lines, vec![2, 3, 6], "{label} {name}");
            let id = preview.job_id;
            app.start_import(&admin, id, &detected_fields(&preview))
                .await;
            let job = app.wait_import(&admin, id).await;
            assert_eq!(
                job.status,
                ImportStatus::Completed,
                "{label} {name}: {job:?}"
            );
            assert_eq!(job.failed, 0, "{label} {name}: {job:?}");
        }
    }
    // The first file created them; every other file found them unchanged.
    let list: ContactPage = app.json(&admin, "list_contacts", &[("query[q]", "")]).await;
    assert_eq!(list.total, 3);
    let names: Vec<&str> = list.rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, vec!["Ada Lovelace", "José Núñez", "Zoë Ångström"]);
    let history: Vec<ImportJob> = app.json(&admin, "import_history", &[]).await;
    assert_eq!(history.len(), 15);
    assert!(
        history[..14].iter().all(|j| j.unchanged == 3),
        "{history:?}"
    );
    let zoe: Contact = app
        .json(
            &admin,
            "get_contact",
            &[("id", &list.rows[2].id.to_string())],
        )
        .await;
    assert_eq!(zoe.role.as_deref(), Some("Lead, Platform"));
    assert_eq!(zoe.location.as_deref(), Some("Malmö"));
}

/// Upload `bytes`, which must be refused with a message containing `why`;
/// nothing is written and the history records the refusal.
async fn refused(
    app: &TestApp,
    admin: &reqwest::Client,
    bytes: Vec<u8>,
    status: StatusCode,
    why: &str,
) {
    let before: Vec<ImportJob> = app.json(admin, "import_history", &[]).await;
    let (got, answer) = app.upload(admin, "file.csv", bytes).await;
    assert_eq!(got, status, "{answer:?}");
    let message = match answer.expect_err("refused").app_error() {
        AppError::BadRequest(m) | AppError::TooLarge(m) => m.clone(),
        other => panic!("{other:?} should say {why:?}"),
    };
    assert!(message.contains(why), "{message:?} should say {why:?}");
    assert_eq!(app.contact_count(1).await, 0);
    let history: Vec<ImportJob> = app.json(admin, "import_history", &[]).await;
    assert_eq!(history.len(), before.len() + 1);
    assert_eq!(history[0].status, ImportStatus::Failed);
    assert_eq!(history[0].message.as_deref(), Some(message.as_str()));
}

#[tokio::test]
async fn unusable_files_are_refused_with_why_and_nothing_is_written() {
    let app = TestApp::spawn_with(ImportConfig {
        max_bytes: 1024 * 1024,
        ..common::test_imports()
    })
    .await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    refused(&app, &admin, Vec::new(), unprocessable, "The file is empty").await;
    refused(
        &app,
        &admin,
        vec![0, 159, 146, 150, 0, 0, 1, 2, 3, 0, 7, 255, 0, 0],
        unprocessable,
        "binary file",
    )
    .await;
    refused(
        &app,
        &admin,
        b"PK\x03\x04\x14\x00\x06\x00xl/workbook.xml".to_vec(),
        unprocessable,
        "an Excel workbook",
    )
    .await;
    refused(
        &app,
        &admin,
        b"\r\n\n".to_vec(),
        unprocessable,
        "The file is empty",
    )
    .await;
    refused(
        &app,
        &admin,
        b",,\nAda,Lovelace,ada@example.com\n".to_vec(),
        unprocessable,
        "no header row",
    )
    .await;
    // Over the limit, as declared by its length: refused before it is stored.
    refused(
        &app,
        &admin,
        many(40_000).into_bytes(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "larger than the limit of 1 MB",
    )
    .await;
    // A quote never closed, beyond what the preview reads: refused with its line.
    let mut broken = many(3000);
    broken.push_str("\"Open,Quote,open@example.com,\nLast,Row,last@example.com,\n");
    assert!(broken.len() > 64 * 1024);
    refused(
        &app,
        &admin,
        broken.into_bytes(),
        unprocessable,
        "Line 3002 could not be read: a quoted value starts there and is never closed",
    )
    .await;
    // Over the limit without a declared length: refused while streaming.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..1100).map(|_| Ok(vec![b'a'; 1024])).collect();
    let res = admin
        .post(format!("{}/imports", app.url))
        .query(&[("name", "big.csv")])
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await;
    // The server may close the connection before the rest of the body is sent.
    if let Ok(res) = res {
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
    let history: Vec<ImportJob> = app.json(&admin, "import_history", &[]).await;
    assert_eq!(history[0].status, ImportStatus::Failed);
    assert!(
        history[0]
            .message
            .as_deref()
            .is_some_and(|m| m.contains("larger than the limit of 1 MB")),
        "{history:?}"
    );
    assert_eq!(app.contact_count(1).await, 0);
    // No upload is left, on disk or in the database.
    assert_eq!(app.stored_uploads().await, 0);
}

#[tokio::test]
async fn a_mapping_can_be_corrected_before_anything_is_written() {
    let app = TestApp::spawn().await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let file = "Nom,Prénom,Courriel,Matricule\nCurie,Marie,marie@example.com,7\n";
    let (status, preview) = app.upload(&admin, "equipe.csv", file.into()).await;
    assert_eq!(status, StatusCode::OK, "{preview:?}");
    let preview = preview.unwrap();
    assert!(
        preview
            .mapping_error
            .as_deref()
            .is_some_and(|e| e.contains("No column holds first names")),
        "{preview:?}"
    );
    let id = preview.job_id;
    // Starting with the detected mapping is refused, and writes nothing.
    let fields = detected_fields(&preview);
    let res = app
        .call(
            &admin,
            "start_import",
            &[
                ("id", &id.to_string()),
                ("fields[0]", &fields[0]),
                ("fields[1]", &fields[1]),
                ("fields[2]", &fields[2]),
                ("fields[3]", &fields[3]),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.contact_count(1).await, 0);
    let chosen = ["last_name", "first_name", "email", ""];
    let again: ImportPreview = app
        .json(
            &admin,
            "import_preview",
            &[
                ("id", &id.to_string()),
                ("fields[0]", chosen[0]),
                ("fields[1]", chosen[1]),
                ("fields[2]", chosen[2]),
                ("fields[3]", chosen[3]),
            ],
        )
        .await;
    assert_eq!(again.mapping_error, None, "{again:?}");
    assert!(again.rows[0].errors.is_empty(), "{again:?}");
    let chosen: Vec<String> = chosen.iter().map(|s| s.to_string()).collect();
    app.start_import(&admin, id, &chosen).await;
    let job = app.wait_import(&admin, id).await;
    assert_eq!(job.created, 1, "{job:?}");
    let list: ContactPage = app.json(&admin, "list_contacts", &[("query[q]", "")]).await;
    assert_eq!(list.rows[0].name, "Marie Curie");
    // A started upload cannot start twice.
    let res = app
        .call(
            &admin,
            "start_import",
            &[("id", &id.to_string()), ("fields[0]", "last_name")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);

    // A preview the user cancels is discarded, with its file.
    let (_, preview) = app.upload(&admin, "again.csv", file.into()).await;
    let id = preview.unwrap().job_id;
    let job: ImportJob = app
        .json(&admin, "cancel_import", &[("id", &id.to_string())])
        .await;
    assert_eq!(job.status, ImportStatus::Discarded);
    assert_eq!(app.stored_uploads().await, 0);
}

/// A file of `n` valid people.
fn many(n: usize) -> String {
    let mut s = String::from("First Name,Last Name,Email,Department\n");
    for i in 0..n {
        s.push_str(&format!(
            "Person{i},Number{i},person{i}@example.com,Dept{}\n",
            i % 7
        ));
    }
    s
}

#[tokio::test]
async fn a_cancelled_import_keeps_what_it_committed_and_says_how_far_it_got() {
    // Placed in the search index after the rows, a few at a time.
    let app = TestApp::spawn_with(ImportConfig {
        batch_rows: 50,
        index_chunk: 120,
        ..common::test_imports()
    })
    .await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let (status, preview) = app.upload(&admin, "many.csv", many(20_000).into()).await;
    assert_eq!(status, StatusCode::OK);
    let preview = preview.unwrap();
    assert_eq!(preview.total_rows, 20_000);
    let id = preview.job_id;
    app.start_import(&admin, id, &detected_fields(&preview))
        .await;
    // Progress is visible while it runs.
    let mut seen = Vec::new();
    loop {
        let job = app.import_job(&admin, id).await;
        let done = job.processed_rows;
        if done > 0 {
            seen.push(done);
        }
        if seen.len() >= 2 && seen[0] < *seen.last().unwrap() {
            break;
        }
        assert_eq!(job.status, ImportStatus::Running, "{job:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let job: ImportJob = app
        .json(&admin, "cancel_import", &[("id", &id.to_string())])
        .await;
    // The job stops after the batch it is applying: the answer may come
    // before that (running) or, when the batch ended first, after (cancelled).
    assert!(
        matches!(job.status, ImportStatus::Running | ImportStatus::Cancelled),
        "{job:?}"
    );
    let job = app.wait_import(&admin, id).await;
    assert_eq!(job.status, ImportStatus::Cancelled, "{job:?}");
    let processed = job.processed_rows;
    assert!(processed > 0 && processed < 20_000, "{job:?}");
    assert_eq!(processed % 50, 0, "whole batches only: {job:?}");
    assert_eq!(job.created, processed);
    assert_eq!(app.contact_count(1).await, processed as i64);
    // The contacts of the committed batches are searchable like any other.
    let list: ContactPage = app
        .json(&admin, "list_contacts", &[("query[q]", "Person0")])
        .await;
    assert_eq!(list.rows[0].name, "Person0 Number0");
    let list: ContactPage = app
        .json(&admin, "list_contacts", &[("query[q]", "person")])
        .await;
    assert_eq!(list.total, processed);
}

#[tokio::test]
async fn export_then_import_changes_nothing_and_escapes_formulas() {
    let app = TestApp::spawn().await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    for (first, last, email, phone, dept, groups) in [
        (
            "=cmd",
            "Hacker",
            "eq@example.com",
            "07911 123456",
            "-Ops",
            vec!["@oncall", "Ops"],
        ),
        (
            "Ada",
            "Lovelace",
            "ada@example.com",
            "",
            "Engineering",
            vec![],
        ),
        (
            "Grace",
            "Hopper, Jr",
            "",
            "07911 123457",
            "Engineering",
            vec!["Navy"],
        ),
    ] {
        let mut form = vec![
            ("draft[first_name]", first.to_string()),
            ("draft[last_name]", last.to_string()),
            ("draft[email]", email.to_string()),
            ("draft[phone]", phone.to_string()),
            ("draft[department]", dept.to_string()),
        ];
        for (i, g) in groups.iter().enumerate() {
            form.push((["draft[groups][0]", "draft[groups][1]"][i], g.to_string()));
        }
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        app.create(&admin, &form).await;
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
            assert!(res.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .starts_with("attachment; filename=\"contacts-"));
            res.bytes().await.unwrap().to_vec()
        }
    };
    let all = export("").await;
    let text = String::from_utf8(all.clone()).unwrap();
    let lines: Vec<&str> = text.trim_start_matches('\u{feff}').lines().collect();
    assert_eq!(
        lines[0],
        "First Name,Last Name,Email,Mobile Phone,Department,Role,Location,Groups"
    );
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(
        lines[1],
        "'=cmd,Hacker,eq@example.com,'+447911123456,'-Ops,,,'@oncall;Ops"
    );
    assert_eq!(
        lines[3],
        "Grace,\"Hopper, Jr\",,'+447911123457,Engineering,,,Navy"
    );
    // The filtered list only.
    let filtered = String::from_utf8(export("?department=Engineering&q=ada").await).unwrap();
    assert_eq!(filtered.lines().count(), 2, "{filtered}");
    assert!(filtered.contains("ada@example.com"));

    let job = app.import(&admin, "contacts.csv", &all).await;
    assert_eq!(
        (job.unchanged, job.failed, job.created, job.updated),
        (3, 0, 0, 0),
        "{job:?}"
    );
}

/// An upload whose server stopped while its contacts were being placed in the
/// search index (its heartbeat went quiet after the summary) is finished by
/// the next sweep of any server, once; its page then says nothing is left.
#[tokio::test]
async fn the_search_index_of_an_upload_whose_server_stopped_is_finished_by_a_sweep() {
    use app::backend::db::entities::import_job;
    use app::backend::directory::{self, bulk};
    use app::backend::domain::OrgId;
    use rand::SeedableRng;
    use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
    let app = TestApp::spawn().await;
    let admin = app.org_admin("Acme", "admin@acme.example").await;
    let org = OrgId::trusted(1);
    let mut rng = rand::rngs::SmallRng::seed_from_u64(5);
    let people: Vec<_> = (0..300)
        .map(|n| app::backend::demo::sample(&mut rng, n + 1))
        .collect();
    let people: Vec<_> = people.iter().collect();
    let tx = app::backend::db::begin_write(&app.db).await.unwrap();
    bulk::insert_many(
        &tx,
        org,
        &people,
        "CSV upload",
        &mut bulk::GroupIds::new(org, "CSV upload"),
        None,
        false,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let sqlite = app.db.get_database_backend() == sea_orm::DbBackend::Sqlite;
    // Not found by one letter yet: on SQLite without search keys, on
    // PostgreSQL without word starts.
    let list: ContactPage = app
        .json(&admin, "list_contacts", &[("query[q]", "a")])
        .await;
    assert_eq!(list.total, 0);
    if !sqlite {
        // A write before the sweep: the update trigger leaves a contact in
        // the backlog alone, and placing writes its entries once, as they
        // are now.
        app.db
            .execute_unprepared(
                "UPDATE contacts SET department = 'Moved' WHERE id = (SELECT MIN(id) FROM contacts)",
            )
            .await
            .unwrap();
    }
    let left = 300;
    let now = chrono::Utc::now().timestamp_millis();
    let job = import_job::ActiveModel {
        org_id: Set(1),
        user_email: Set("admin@acme.example".into()),
        file_name: Set("people.csv".into()),
        file_bytes: Set(1000),
        encoding: Set("utf-8".into()),
        delimiter: Set(",".into()),
        columns: Set("[]".into()),
        status: Set(ImportStatus::Completed.as_str().into()),
        total_rows: Set(300),
        processed_rows: Set(300),
        created: Set(300),
        updated: Set(0),
        unchanged: Set(0),
        failed: Set(0),
        warnings: Set(0),
        cancel_requested: Set(false),
        resumes: Set(0),
        created_at: Set(now - 60_000),
        finished_at: Set(Some(now - 50_000)),
        heartbeat_at: Set(Some(now - 50_000)),
        index_total: Set(left),
        indexed: Set(0),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap();
    let before = app.import_job(&admin, job.id).await;
    assert_eq!(before.indexing(), Some(0), "{before:?}");
    assert!(!before.is_settled());

    let config = ImportConfig {
        index_chunk: 40,
        ..common::test_imports()
    };
    // Two sweeps at once (two servers): one takes it up.
    let (a, b) = tokio::join!(
        app::backend::import::job::sweep(&app.db, &config),
        app::backend::import::job::sweep(&app.db, &config)
    );
    a.unwrap();
    b.unwrap();
    config.runs.close();
    config.runs.wait().await;
    assert_eq!(directory::unplaced(&app.db, org, None).await.unwrap(), 0);
    let after = app.import_job(&admin, job.id).await;
    assert!(after.is_settled(), "{after:?}");
    assert_eq!(
        (after.indexed, after.index_total),
        (left as u64, left as u64)
    );
    // Every generated email is at example.com.
    let list: ContactPage = app
        .json(&admin, "list_contacts", &[("query[q]", "example.com")])
        .await;
    assert_eq!(list.total, 300);
    let list: ContactPage = app
        .json(&admin, "list_contacts", &[("query[q]", "a")])
        .await;
    assert!(list.total > 0);
    if !sqlite {
        // Each contact's word starts once, exactly those of its text.
        let counts = app
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT (SELECT COUNT(*) FROM contact_word_starts), \
                 (SELECT COUNT(*) FROM (SELECT DISTINCT org_id, word_start, sort_name, contact_id, \
                  active, department, role, location FROM contact_word_starts) d), \
                 (SELECT COUNT(*) FROM contacts c, contact_word_starts(c.search_text) s), \
                 (SELECT COUNT(*) FROM word_start_backlog), \
                 (SELECT COUNT(*) FROM contact_word_starts WHERE department = 'Moved'), \
                 (SELECT COUNT(*) FROM contacts c, contact_word_starts(c.search_text) s \
                  WHERE c.department = 'Moved'), \
                 (SELECT COUNT(*) FROM contact_words), \
                 (SELECT COUNT(*) FROM (SELECT w.org_id, w.word, w.contact_id, w.before, \
                  w.sort_name, w.active, w.department, w.role, w.location FROM contact_words w \
                  INTERSECT SELECT c.org_id, x.word, c.id, x.before, c.sort_name, c.active, \
                  c.department, c.role, c.location \
                  FROM contacts c, contact_words(c.search_text) x) d), \
                 (SELECT COUNT(*) FROM contacts c, contact_words(c.search_text) x), \
                 (SELECT COUNT(*) FROM (SELECT DISTINCT org_id, word FROM contact_words \
                  EXCEPT SELECT org_id, word FROM search_words) d)",
            ))
            .await
            .unwrap()
            .unwrap();
        let n = |i: usize| counts.try_get_by_index::<i64>(i).unwrap();
        assert!(n(0) > 300);
        assert_eq!((n(1), n(2), n(3)), (n(0), n(0), 0));
        assert!(n(5) > 0);
        assert_eq!(n(4), n(5));
        // And its words, exactly those of its text as it is now, each in the
        // vocabulary.
        assert!(n(6) > 300);
        assert_eq!((n(7), n(8), n(9)), (n(6), n(6), 0));
    }
}
