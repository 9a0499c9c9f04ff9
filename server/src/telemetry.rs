//! Prometheus metrics: the recorder (`metrics` with
//! `metrics-exporter-prometheus`), the middleware that counts and times
//! requests by route, and `/metrics`, served on its own address
//! (`MUSTER_METRICS_ADDR`) or on the main one behind a bearer token
//! (`MUSTER_METRICS_TOKEN`). The application's own counters (rows imported,
//! people read by syncs, provider requests and retries by host and status)
//! are recorded where the work happens, in `app`.

use app::backend::db::entities::{import_job, sync_run};
use app::backend::AppState;
use app::model::{ImportStatus, SyncStatus};
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbBackend, EntityTrait, PaginatorTrait, QueryFilter,
};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// Upper bounds of the latency histograms, in seconds.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
            .expect("the buckets are not empty");
        let handle = match builder.install_recorder() {
            Ok(handle) => handle,
            Err(e) => {
                tracing::warn!("metrics are not recorded: {e}");
                PrometheusBuilder::new().build_recorder().handle()
            }
        };
        // Histograms are drained into their buckets by upkeep.
        let upkeep = handle.clone();
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_secs(5));
            upkeep.run_upkeep();
        });
        handle
    })
}

/// Middleware (on matched routes): each request counted by route pattern,
/// method and status, and timed. The pattern, never the path: ids and
/// tokens stay out of the labels, and their number stays bounded.
pub async fn track(req: Request<Body>, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_string();
    let method = req.method().as_str().to_string();
    let started = Instant::now();
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    metrics::counter!(
        "muster_http_requests_total",
        "route" => route.clone(),
        "method" => method.clone(),
        "status" => status
    )
    .increment(1);
    metrics::histogram!(
        "muster_http_request_duration_seconds",
        "route" => route,
        "method" => method
    )
    .record(started.elapsed().as_secs_f64());
    res
}

/// `GET /metrics` on the main address: only with `MUSTER_METRICS_TOKEN`
/// set, and only for its bearer.
pub async fn metrics_with_token(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = &state.metrics_token else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or("");
    if !bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
        )
            .into_response();
    }
    render(&state.db).await
}

/// `GET /metrics` on `MUSTER_METRICS_ADDR` (an address for the monitoring
/// network only).
pub async fn metrics_open(State(state): State<AppState>) -> Response {
    render(&state.db).await
}

/// The gauges read at scrape time, then everything in Prometheus's text format.
async fn render(db: &DatabaseConnection) -> Response {
    let imports = import_job::Entity::find()
        .filter(import_job::Column::Status.eq(ImportStatus::Running.as_str()))
        .count(db)
        .await;
    let syncs = sync_run::Entity::find()
        .filter(sync_run::Column::Status.eq(SyncStatus::Running.as_str()))
        .count(db)
        .await;
    if let (Ok(imports), Ok(syncs)) = (imports, syncs) {
        // Every server's: they share the database.
        metrics::gauge!("muster_imports_running").set(imports as f64);
        metrics::gauge!("muster_syncs_running").set(syncs as f64);
    }
    let (size, idle, max) = match db.get_database_backend() {
        DbBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            )
        }
        DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            )
        }
        _ => (0, 0, 0),
    };
    metrics::gauge!("muster_db_pool_connections").set(f64::from(size));
    metrics::gauge!("muster_db_pool_in_use").set(f64::from(size) - idle as f64);
    metrics::gauge!("muster_db_pool_max").set(f64::from(max));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle().render(),
    )
        .into_response()
}

/// The router `MUSTER_METRICS_ADDR` serves.
pub fn router(state: AppState) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(metrics_open))
        .with_state(state)
}
