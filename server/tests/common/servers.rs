//! Real `muster serve` processes on one test database, and the calls a
//! browser makes to them: for the tests that stop, kill or run several servers.

use super::{detected_fields, PASSWORD};
use app::model::{ContactPage, ImportJob, ImportPreview, ImportStatus};
use muster::process::ServerProcess;
use reqwest::{Client, StatusCode};
use serde::de::DeserializeOwned;
use std::time::{Duration, Instant};

/// `muster serve` on the database at `db_url`, its uploads (on SQLite) in
/// `uploads`, with `more` settings; imports count as stale after a second.
pub async fn start(
    db_url: &str,
    uploads: &std::path::Path,
    more: &[(&str, &str)],
) -> ServerProcess {
    start_logged(db_url, uploads, more, None).await
}

/// [`start`], its log written to `log` (at the level `more` gives
/// `MUSTER_LOG`, warnings by default).
pub async fn start_logged(
    db_url: &str,
    uploads: &std::path::Path,
    more: &[(&str, &str)],
    log: Option<&std::path::Path>,
) -> ServerProcess {
    let mut env = vec![
        ("MUSTER_IMPORT_STALE_SECS", "1"),
        ("MUSTER_LOG", "warn"),
        // A key given, so that no key file is written into the source tree.
        (
            "MUSTER_MASTER_KEY",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ),
    ];
    env.extend_from_slice(more);
    ServerProcess::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_muster")),
        db_url,
        uploads,
        &env,
        log,
    )
    .await
    .expect("the muster binary starts")
}

pub async fn call<T: DeserializeOwned>(
    client: &Client,
    url: &str,
    name: &str,
    form: &[(&str, &str)],
) -> T {
    let res = client
        .post(format!("{url}/api/{name}"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body = res.text().await.unwrap();
    assert!(status.is_success(), "{name}: {status}: {body}");
    serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("{name}: the answer does not read as expected: {e}: {body}"))
}

/// The organisation Acme and its administrator, in the database at `db_url`.
pub async fn organisation(db_url: &str) {
    let db = muster::open_database(db_url).await.unwrap();
    let new = app::backend::auth::NewOrganisation {
        name: "Acme".into(),
        default_region: "GB".into(),
        time_zone: "UTC".into(),
    };
    app::backend::auth::create_org_with_admin(&db, &new, "admin@acme.example", PASSWORD)
        .await
        .unwrap();
}

/// Signs in as Acme's administrator on `server`.
pub async fn sign_in(client: &Client, server: &ServerProcess) {
    call::<()>(
        client,
        &server.url,
        "login",
        &[("email", "admin@acme.example"), ("password", PASSWORD)],
    )
    .await;
}

/// Upload `file` to `server`; its preview.
pub async fn upload(client: &Client, server: &ServerProcess, file: String) -> ImportPreview {
    let res = client
        .post(format!("{}/imports?name=big.csv", server.url))
        .body(file)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

/// Start importing the upload of `preview` on `server`, with the columns as
/// detected; the job as started.
pub async fn confirm(
    client: &Client,
    server: &ServerProcess,
    preview: &ImportPreview,
) -> ImportJob {
    let id = preview.job_id.to_string();
    let fields = detected_fields(preview);
    let mut form = vec![("id", id.as_str())];
    let keys = ["fields[0]", "fields[1]", "fields[2]"];
    for (k, f) in keys.iter().zip(&fields) {
        form.push((k, f.as_str()));
    }
    call(client, &server.url, "start_import", &form).await
}

/// Upload `file` and start importing it with the columns as detected; the job's id.
pub async fn start_import(client: &Client, server: &ServerProcess, file: String) -> String {
    let preview = upload(client, server, file).await;
    confirm(client, server, &preview).await;
    preview.job_id.to_string()
}

/// The error report of import `id`, as downloaded from `server`.
pub async fn problems_csv(client: &Client, server: &ServerProcess, id: &str) -> String {
    client
        .get(format!("{}/imports/{id}/problems.csv", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Wait until import `id` has committed some batches, still running.
pub async fn some_rows_in(client: &Client, server: &ServerProcess, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let job: ImportJob = call(client, &server.url, "import_job", &[("id", id)]).await;
        assert_eq!(job.status, ImportStatus::Running, "{job:?}");
        if job.processed_rows > 0 {
            return;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Wait until import `id` has ended and its contacts are all found by
/// search; it as it ended.
pub async fn ended(client: &Client, server: &ServerProcess, id: &str) -> ImportJob {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let job: ImportJob = call(client, &server.url, "import_job", &[("id", id)]).await;
        if job.status != ImportStatus::Running && job.indexing().is_none() {
            return job;
        }
        assert!(Instant::now() < deadline, "still running: {job:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Wait until a search for "person" finds `n` contacts (all of them placed
/// in the search index).
pub async fn all_searchable(client: &Client, server: &ServerProcess, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found: ContactPage = call(
            client,
            &server.url,
            "list_contacts",
            &[("query[q]", "person")],
        )
        .await;
        if found.total == n {
            return;
        }
        assert!(Instant::now() < deadline, "not all searchable: {found:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A file of `n` people, and at its end a second row for the first of them
/// (a warning, which must still be found after a resume).
pub fn people(n: usize) -> String {
    let mut file = String::from("First Name,Last Name,Email\n");
    for i in 0..n {
        file.push_str(&format!("P{i},Person,p{i}@example.com\n"));
    }
    file.push_str("P0,Person,p0@example.com\n");
    file
}

/// How many uploads are kept: files in `uploads`, and uploads in the database.
pub async fn stored_uploads(db: &sea_orm::DatabaseConnection, uploads: &std::path::Path) -> usize {
    use app::backend::db::entities::upload_chunk::{Column, Entity};
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let files = std::fs::read_dir(uploads).map_or(0, |d| d.count());
    let chunks = Entity::find()
        .filter(Column::Seq.eq(0))
        .count(db)
        .await
        .unwrap();
    files + chunks as usize
}
