//! Start the real router on 127.0.0.1:0 with a fresh database, and talk HTTP to it.
//! `MUSTER_TEST_DB=postgres` runs against PostgreSQL (a new database per test, made
//! through `MUSTER_TEST_PG_URL`); anything else runs on a new SQLite file.

#![allow(dead_code)]

use app::backend::{auth, AppState};
use reqwest::{Client, Response, StatusCode};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use std::sync::atomic::{AtomicU32, Ordering};

pub struct TestApp {
    pub url: String,
    pub db: DatabaseConnection,
    _dir: Option<std::path::PathBuf>,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

pub async fn fresh_database_url() -> (String, Option<std::path::PathBuf>) {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let unique = format!(
        "{}_{}_{}",
        std::process::id(),
        n,
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    if std::env::var("MUSTER_TEST_DB").as_deref() == Ok("postgres") {
        let admin_url = std::env::var("MUSTER_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let admin = app::backend::db::connect(&admin_url)
            .await
            .expect("PostgreSQL for the integration tests");
        let name = format!("muster_it_{unique}");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let base = admin_url.rsplit_once('/').unwrap().0;
        (format!("{base}/{name}"), None)
    } else {
        let dir = std::env::temp_dir().join(format!("muster-it-{unique}"));
        std::fs::create_dir_all(&dir).unwrap();
        (format!("sqlite://{}/muster.db", dir.display()), Some(dir))
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        // Server warnings and errors show in the output of a failing test.
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
            )
            .try_init();
        let (db_url, dir) = fresh_database_url().await;
        let db = muster::open_database(&db_url).await.expect("database");
        let state = AppState::new(db.clone(), muster::leptos_options(), false);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, muster::router(state)).await.unwrap();
        });
        Self {
            url: format!("http://{addr}"),
            db,
            _dir: dir,
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

    /// Call a server function that must succeed, and read its JSON answer.
    pub async fn json(
        &self,
        client: &Client,
        name: &str,
        form: &[(&str, &str)],
    ) -> serde_json::Value {
        let res = self.call(client, name, form).await;
        let status = res.status();
        let body = res.text().await.unwrap();
        assert!(status.is_success(), "{name}: {status}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    pub async fn create(&self, client: &Client, form: &[(&str, &str)]) -> serde_json::Value {
        let res = self.call(client, "create_contact", form).await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "{}",
            res.text().await.unwrap()
        );
        res.json().await.unwrap()
    }
}

pub const PASSWORD: &str = "a long enough password";
