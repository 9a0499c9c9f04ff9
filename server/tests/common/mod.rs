//! Start the real router on 127.0.0.1:0 with a fresh database, and talk HTTP to it.
//! `MUSTER_TEST_DB=postgres` runs against PostgreSQL (a new database per test, made
//! through `MUSTER_TEST_PG_URL`); anything else runs on a new SQLite file.

#![allow(dead_code)]

pub mod scim;
pub mod servers;

use app::backend::connectors::HttpConfig;
use app::backend::import::job::{self, ImportConfig};
use app::backend::integrations::schedule::Scheduler;
use app::backend::{auth, AppState};
use app::model::{AppError, Contact, ImportJob, ImportPreview, Integration, IntegrationStatus};
use reqwest::{Client, Response, StatusCode};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

pub struct TestApp {
    pub url: String,
    pub db: DatabaseConnection,
    /// The state the server runs with (its throttle, hashing gate, settings).
    pub state: AppState,
    uploads: std::path::PathBuf,
    _database: TestDb,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.uploads);
    }
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A name no other test of any run uses at the same time.
pub fn unique_name(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    )
}

/// A database of one test, removed when it is dropped: a new SQLite file in
/// a folder of its own, or a new PostgreSQL database (`MUSTER_TEST_DB=postgres`).
pub struct TestDb {
    pub url: String,
    dir: Option<std::path::PathBuf>,
    /// The server's URL and the database's name.
    postgres: Option<(String, String)>,
}

impl TestDb {
    pub async fn new() -> Self {
        let name = unique_name("muster_it");
        if std::env::var("MUSTER_TEST_DB").as_deref() == Ok("postgres") {
            let admin_url = std::env::var("MUSTER_TEST_PG_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
            let admin = app::backend::db::connect(&admin_url)
                .await
                .expect("PostgreSQL for the integration tests");
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            let _ = admin.close().await;
            let base = admin_url.rsplit_once('/').unwrap().0;
            Self {
                url: format!("{base}/{name}"),
                dir: None,
                postgres: Some((admin_url, name)),
            }
        } else {
            let dir = std::env::temp_dir().join(name);
            std::fs::create_dir_all(&dir).unwrap();
            Self {
                url: format!("sqlite://{}/muster.db", dir.display()),
                dir: Some(dir),
                postgres: None,
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some((admin_url, name)) = self.postgres.take() {
            // Drop cannot wait on the test's runtime, so a thread of its own
            // does; FORCE ends the connections the test's pool still holds.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    if let Ok(admin) = app::backend::db::connect(&admin_url).await {
                        let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        if let Err(e) = admin.execute_unprepared(&drop).await {
                            eprintln!("could not drop the test database {name}: {e}");
                        }
                        let _ = admin.close().await;
                    }
                });
            })
            .join();
        }
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(test_imports()).await
    }

    /// With its own upload settings (limits, batch size, upload directory).
    pub async fn spawn_with(imports: ImportConfig) -> Self {
        Self::spawn_full(imports, test_providers(true), |s, _| s).await
    }

    /// With its own connector settings.
    pub async fn spawn_with_providers(providers: HttpConfig) -> Self {
        Self::spawn_full(test_imports(), providers, |s, _| s).await
    }

    /// With the state changed by `configure` (sessions, proxies, gates...).
    pub async fn spawn_configured(configure: impl FnOnce(AppState) -> AppState) -> Self {
        Self::spawn_full(test_imports(), test_providers(true), |s, _| configure(s)).await
    }

    /// Not set up, with this setup code.
    pub async fn spawn_with_setup_code(code: &str) -> Self {
        let code = auth::SetupCode::configured(code).expect("a long enough code");
        Self::spawn_configured(|s| s.with_setup_code(code)).await
    }

    /// The test database's URL.
    pub fn database_url(&self) -> &str {
        &self._database.url
    }

    /// A server configured by `configure`, which is told the server's own
    /// URL (where webhooks must point).
    pub async fn spawn_at(configure: impl FnOnce(AppState, &str) -> AppState) -> Self {
        Self::spawn_full(test_imports(), test_providers(true), configure).await
    }

    async fn spawn_full(
        imports: ImportConfig,
        providers: HttpConfig,
        configure: impl FnOnce(AppState, &str) -> AppState,
    ) -> Self {
        // Server warnings and errors show in the output of a failing test.
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
            )
            .try_init();
        let database = TestDb::new().await;
        let db = muster::open_database(&database.url)
            .await
            .expect("database");
        let imports = ImportConfig {
            dir: std::env::temp_dir().join(unique_name("muster-it-uploads")),
            // As the server: kept in the database on PostgreSQL.
            in_database: db.get_database_backend() == sea_orm::DbBackend::Postgres,
            ..imports
        };
        job::spawn_sweeper(db.clone(), imports.clone());
        app::backend::integrations::spawn_sweeper(
            db.clone(),
            imports.stale_after,
            providers.sync_retries.len(),
        );
        let uploads = imports.dir.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = configure(
            AppState::new(db.clone(), muster::leptos_options(), false)
                .with_imports(imports)
                .with_providers(providers),
            &format!("http://{addr}"),
        );
        state.outbox.clone().spawn(db.clone(), state.vault.clone());
        let served = state.clone();
        tokio::spawn(async move {
            axum::serve(listener, muster::service(served))
                .await
                .unwrap();
        });
        Self {
            url: format!("http://{addr}"),
            db,
            state,
            uploads,
            _database: database,
        }
    }

    /// A client with its own cookie jar, like a separate browser.
    pub fn client(&self) -> Client {
        Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// Create an organisation with an admin and return a client signed in as them.
    pub async fn org_admin(&self, org: &str, email: &str) -> Client {
        let new = auth::NewOrganisation {
            name: org.into(),
            default_region: "GB".into(),
            time_zone: "Europe/London".into(),
        };
        auth::create_org_with_admin(&self.db, &new, email, PASSWORD)
            .await
            .unwrap();
        let client = self.client();
        let res = self
            .call(
                &client,
                "login",
                &[("email", email), ("password", PASSWORD)],
            )
            .await;
        assert!(
            res.status().is_success() || res.status().is_redirection(),
            "login: {}",
            res.status()
        );
        client
    }

    /// Call a server function with form-encoded arguments.
    pub async fn call(&self, client: &Client, name: &str, form: &[(&str, &str)]) -> Response {
        client
            .post(format!("{}/api/{name}", self.url))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// Call a server function that must succeed, and read its JSON answer as
    /// the type the function returns.
    pub async fn json<T: DeserializeOwned>(
        &self,
        client: &Client,
        name: &str,
        form: &[(&str, &str)],
    ) -> T {
        let res = self.call(client, name, form).await;
        let status = res.status();
        let body = res.text().await.unwrap();
        assert!(status.is_success(), "{name}: {status}: {body}");
        serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{name}: the answer does not read as expected: {e}: {body}"))
    }

    pub async fn create(&self, client: &Client, form: &[(&str, &str)]) -> Contact {
        let res = self.call(client, "create_contact", form).await;
        let status = res.status();
        let body = res.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("create_contact: not a contact: {e}: {body}"))
    }
}

/// The answer of a server function that may fail: the status, and what it
/// returned or the `AppError` it failed with (whose status must be the one sent).
pub async fn answer<T: DeserializeOwned>(res: Response) -> (StatusCode, Result<T, AppError>) {
    let status = res.status();
    let body = res.text().await.unwrap();
    (status, parse_answer(status, &body))
}

/// Call server function `name` with a JSON `body`: its status and answer.
pub async fn json_call<T: DeserializeOwned + std::fmt::Debug>(
    app: &TestApp,
    client: &Client,
    name: &str,
    body: serde_json::Value,
) -> (StatusCode, Result<T, AppError>) {
    answer(app.call_json(client, name, &body).await).await
}

/// Call server function `name` with a `form`: its status and answer.
pub async fn form_call<T: DeserializeOwned + std::fmt::Debug>(
    app: &TestApp,
    client: &Client,
    name: &str,
    form: &[(&str, &str)],
) -> (StatusCode, Result<T, AppError>) {
    answer(app.call(client, name, form).await).await
}

/// Read the body of a server function's answer sent with `status`: what it
/// returned, or the `AppError` it failed with.
pub fn parse_answer<T: DeserializeOwned>(status: StatusCode, body: &str) -> Result<T, AppError> {
    if status.is_success() {
        Ok(serde_json::from_str(body).unwrap_or_else(|e| {
            panic!("{status}: the answer does not read as expected: {e}: {body}")
        }))
    } else {
        Err(app_error(status, body))
    }
}

/// The answer of a server function that must fail: its status and its error.
pub async fn refusal(res: Response) -> (StatusCode, AppError) {
    let status = res.status();
    let body = res.text().await.unwrap();
    assert!(!status.is_success(), "expected a refusal: {status}: {body}");
    (status, app_error(status, &body))
}

/// A failed answer's `AppError`, which must carry the status it was sent with.
fn app_error(status: StatusCode, body: &str) -> AppError {
    let err: AppError = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("{status}: the answer is not an AppError: {e}: {body}"));
    assert_eq!(err.status(), status, "the status of {err:?}");
    err
}

/// What a refused call said (see `error_text`); panics on a success.
pub fn message<T: std::fmt::Debug>(answer: &Result<T, AppError>) -> String {
    match answer {
        Err(err) => error_text(err),
        Ok(value) => panic!("not refused: {value:?}"),
    }
}

/// Everything an error says: its message, and for invalid fields each field
/// with its message.
pub fn error_text(err: &AppError) -> String {
    match err {
        AppError::Invalid(fields) => fields
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect::<Vec<_>>()
            .join("\n"),
        other => other.to_string(),
    }
}

/// Connector settings for tests: local fakes allowed (or not), short waits.
pub fn test_providers(allow_insecure: bool) -> HttpConfig {
    let mut config = HttpConfig::new(allow_insecure, std::time::Duration::from_secs(1));
    config.max_attempts = 3;
    config.base_delay = std::time::Duration::from_millis(50);
    config.max_delay = std::time::Duration::from_secs(5);
    config
}

impl TestApp {
    /// The server's scheduler of due syncs, looking every `tick` (not
    /// started: call `start_due` for one look, or `spawn`). Tests start it
    /// themselves, so that no sync starts behind the back of the others.
    pub fn scheduler(&self, tick: std::time::Duration) -> Scheduler {
        Scheduler::new(
            self.db.clone(),
            self.state.vault.clone(),
            self.state.providers.clone(),
            self.state.syncs.clone(),
            self.state.imports.stale_after,
            tick,
            4,
        )
    }

    /// Integration `id` as the Integrations tab lists it, if listed.
    pub async fn integration(&self, client: &Client, id: i64) -> Option<Integration> {
        let list: Vec<Integration> = self.json(client, "integrations", &[]).await;
        list.into_iter().find(|i| i.id == id)
    }

    /// Wait for integration `id`'s sync to end (at most a minute); the
    /// integration as listed then.
    pub async fn wait_sync(&self, client: &Client, id: i64) -> Integration {
        for _ in 0..1200 {
            let i = self.integration(client, id).await.expect("listed");
            if i.status != IntegrationStatus::Syncing {
                return i;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the sync of integration {id} did not end");
    }

    /// The names of the groups that integrations brought, in name order.
    pub async fn synced_groups(&self) -> Vec<String> {
        let db = &self.db;
        db.query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT name FROM contact_groups WHERE integration_id IS NOT NULL ORDER BY name_lower"
                .to_string(),
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String>("", "name").unwrap())
        .collect()
    }

    /// Call a server function that takes JSON.
    pub async fn call_json<B: Serialize + ?Sized>(
        &self,
        client: &Client,
        name: &str,
        body: &B,
    ) -> Response {
        client
            .post(format!("{}/api/{name}", self.url))
            .json(body)
            .send()
            .await
            .unwrap()
    }
}

/// Upload settings for tests: the defaults, with the upload directory set per app.
pub fn test_imports() -> ImportConfig {
    ImportConfig::default()
}

/// Why an upload was not previewed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The upload's own refusal, as the browser's upload code reads it.
    App(AppError),
    /// Any other answer, as text: the request guard's plain-text refusals
    /// (a cross-site request, the database unavailable) come before the upload.
    Text(String),
}

impl Refused {
    /// The `AppError` of a refusal that must be the upload's own.
    pub fn app_error(&self) -> &AppError {
        match self {
            Self::App(err) => err,
            Self::Text(text) => panic!("not an AppError: {text}"),
        }
    }
}

impl TestApp {
    /// Upload a file as the browser does; the status, and the preview or why
    /// there is none.
    pub async fn upload(
        &self,
        client: &Client,
        name: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Result<ImportPreview, Refused>) {
        let res = client
            .post(format!("{}/imports", self.url))
            .query(&[("name", name)])
            .body(body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        if status.is_success() {
            let preview = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{status}: not a preview: {e}: {text}"));
            return (status, Ok(preview));
        }
        let refused = match serde_json::from_str::<AppError>(&text) {
            Ok(err) => {
                assert_eq!(err.status(), status, "the status of {err:?}");
                Refused::App(err)
            }
            Err(_) => Refused::Text(text),
        };
        (status, Err(refused))
    }

    /// Upload a file that must be accepted, and confirm its detected mapping.
    pub async fn import(&self, client: &Client, name: &str, body: &[u8]) -> ImportJob {
        let (status, preview) = self.upload(client, name, body.to_vec()).await;
        assert_eq!(status, StatusCode::OK, "{preview:?}");
        let preview = preview.unwrap();
        assert_eq!(preview.mapping_error, None, "{preview:?}");
        let id = preview.job_id;
        self.start_import(client, id, &detected_fields(&preview))
            .await;
        self.wait_import(client, id).await
    }

    /// Confirm an upload with one field key per column ("" ignores it); the
    /// job as it started.
    pub async fn start_import(&self, client: &Client, id: i64, fields: &[String]) -> ImportJob {
        let id = id.to_string();
        let mut form = vec![("id".to_string(), id)];
        for (i, f) in fields.iter().enumerate() {
            form.push((format!("fields[{i}]"), f.clone()));
        }
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let res = self.call(client, "start_import", &form).await;
        let status = res.status();
        let body = res.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("start_import: not an import job: {e}: {body}"))
    }

    pub async fn import_job(&self, client: &Client, id: i64) -> ImportJob {
        self.json(client, "import_job", &[("id", &id.to_string())])
            .await
    }

    /// Poll an upload until it can change no more, its contacts all found by search.
    pub async fn wait_import(&self, client: &Client, id: i64) -> ImportJob {
        for _ in 0..1200 {
            let job = self.import_job(client, id).await;
            if job.is_settled() {
                return job;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("import {id} did not finish in a minute");
    }

    /// The error report of an upload, as downloaded.
    pub async fn problems_csv(&self, client: &Client, id: i64) -> String {
        let res = client
            .get(format!("{}/imports/{id}/problems.csv", self.url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        res.text().await.unwrap()
    }

    /// How many uploads this app keeps (waiting or being imported): files
    /// in its upload folder, and uploads in the database.
    pub async fn stored_uploads(&self) -> usize {
        use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
        let files = std::fs::read_dir(&self.uploads).map_or(0, |d| d.count());
        let chunks = app::backend::db::entities::upload_chunk::Entity::find()
            .filter(app::backend::db::entities::upload_chunk::Column::Seq.eq(0))
            .count(&self.db)
            .await
            .unwrap();
        files + chunks as usize
    }

    /// How many contacts an organisation has, straight from the database.
    pub async fn contact_count(&self, org: i64) -> i64 {
        count_contacts(&self.db, org).await
    }
}

pub async fn count_contacts(db: &DatabaseConnection, org: i64) -> i64 {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) FROM contacts WHERE org_id = {org}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

/// The field of each column as the preview detected it.
pub fn detected_fields(preview: &ImportPreview) -> Vec<String> {
    preview
        .columns
        .iter()
        .map(|c| c.field.clone().unwrap_or_default())
        .collect()
}

pub const PASSWORD: &str = "a long enough password";

/// A certificate for localhost and 127.0.0.1 that signs itself, so that no
/// client trusts it (generated for these tests only, valid 2000 to 2100).
const SELF_SIGNED_CERT: &[u8] = include_bytes!("../../src/fakes/keys/self-signed-localhost.crt");
const SELF_SIGNED_KEY: &[u8] = include_bytes!("../../src/fakes/keys/self-signed-localhost.key");

/// An HTTPS server on 127.0.0.1 that presents the self-signed certificate.
/// Should a client ever get through the handshake, it answers an empty JSON
/// list, so that a client trusting it shows as a test failure, not a hang.
pub struct UntrustedTls {
    pub addr: std::net::SocketAddr,
    /// Connections accepted.
    pub connections: Arc<AtomicUsize>,
    /// TLS handshakes that completed.
    pub handshakes: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl UntrustedTls {
    pub async fn start() -> Self {
        // ring, the provider the rest of the tree builds rustls with.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cert = CertificateDer::from_pem_slice(SELF_SIGNED_CERT).unwrap();
        let key = PrivateKeyDer::from_pem_slice(SELF_SIGNED_KEY).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let handshakes = Arc::new(AtomicUsize::new(0));
        let (accepted, completed) = (connections.clone(), handshakes.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                accepted.fetch_add(1, Ordering::SeqCst);
                let (acceptor, completed) = (acceptor.clone(), completed.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    completed.fetch_add(1, Ordering::SeqCst);
                    let mut request = [0u8; 4096];
                    let _ = tls.read(&mut request).await;
                    let _ = tls
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                              content-length: 2\r\nconnection: close\r\n\r\n[]",
                        )
                        .await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        Self {
            addr,
            connections,
            handshakes,
            task,
        }
    }
}

impl Drop for UntrustedTls {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The records of a CSV download (its byte order mark removed), as cells.
pub fn csv_records(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes())
        .records()
        .map(|r| {
            r.expect("a CSV record")
                .iter()
                .map(str::to_string)
                .collect()
        })
        .collect()
}
