//! The native host of Muster: configuration, the HTTP router, and start-up.

pub mod bench;
pub mod bench_import;
pub mod bench_incident;
pub mod bench_scim;
pub mod bench_sign_in;
pub mod bench_sync;
pub mod fakes;
pub mod ops;
pub mod process;
pub mod telemetry;

use app::backend::{db, directory, incidents, scim, web, AppState};
use app::{shell, App};
use axum::body::Body;
use axum::extract::Request;
use axum::handler::Handler;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{middleware, Router};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower::Layer;
use tower_http::services::ServeDir;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/muster.db";

/// Where the compiled browser assets are, and what they are called. cargo-leptos
/// sets `LEPTOS_*` variables; without them Muster uses its build layout.
pub fn leptos_options() -> LeptosOptions {
    match get_configuration(None) {
        Ok(conf) => conf.leptos_options,
        Err(_) => LeptosOptions::builder()
            .output_name("muster")
            .site_root(std::env::var("LEPTOS_SITE_ROOT").unwrap_or_else(|_| "target/site".into()))
            .site_pkg_dir("pkg")
            .build(),
    }
}

/// Connect to the database and bring its schema up to date.
pub async fn open_database(url: &str) -> anyhow::Result<sea_orm::DatabaseConnection> {
    let conn = db::connect(url).await?;
    if db::migrate(&conn).await?.reindex {
        tracing::info!("computing every contact's search text again (its format changed)");
        directory::reindex_all(&conn).await?;
    }
    Ok(conn)
}

/// The whole application: pages, server functions, static files, request checks.
pub fn router(state: AppState) -> Router {
    telemetry::handle();
    let options = state.leptos_options.clone();
    let routes = generate_route_list(App);
    let pkg = format!("/{}", options.site_pkg_dir);
    let browser_code = browser_code(&options);
    let context_state = state.clone();
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(telemetry::metrics_with_token))
        .route("/imports", post(web::files::upload))
        .route("/imports/{id}/problems.csv", get(web::files::problems))
        .route("/contacts.csv", get(web::files::export))
        .route(
            "/integrations/{id}/syncs/{run}/changes.csv",
            get(web::files::sync_changes),
        )
        .nest("/scim/v2", scim::http::router(state.clone()))
        .merge(incidents::sms_webhooks::router())
        // The pages, and each server function at `/api/<name>` for its own
        // method (an unknown name falls through to the 404 page).
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(context_state.clone()),
            move || shell(options.clone()),
        )
        .route_layer(middleware::from_fn(telemetry::track))
        .nest_service(&pkg, browser_code)
        // Other files (the icon) go gzipped too. Pages are not compressed:
        // one can echo what a visitor typed (a search) beside private data,
        // which compressed together would let a network observer guess the
        // data a request at a time (BREACH).
        .fallback(
            leptos_axum::file_and_error_handler::<AppState, _>(shell)
                .layer(tower_http::compression::CompressionLayer::new()),
        )
        .layer(middleware::from_fn_with_state(
            state.clone(),
            web::admit_sign_in,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), web::guard))
        .layer(middleware::from_fn(plain_forms_go_back))
        .layer(middleware::from_fn(web::security_headers))
        .layer(middleware::from_fn(web::finish_what_starts))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// The application as served: [`router`], with each connection's peer address
/// known to it (the sign-in throttle counts per client address).
pub fn service(
    state: AppState,
) -> axum::extract::connect_info::IntoMakeServiceWithConnectInfo<Router, std::net::SocketAddr> {
    router(state).into_make_service_with_connect_info::<std::net::SocketAddr>()
}

/// The browser code and style (`/pkg/`), compressed for browsers that take it:
/// the brotli file beside each when there is one (`cargo leptos build --release
/// --precompress` writes them at brotli's best, a quarter smaller than gzip),
/// or else gzipped as it goes (a third of the size). The `.gz` files that
/// `--precompress` also writes are not used: they are a sixth larger than
/// tower-http's gzip.
fn browser_code(options: &LeptosOptions) -> tower_http::compression::Compression<ServeDir> {
    let dir = std::path::Path::new(&*options.site_root).join(&*options.site_pkg_dir);
    tower_http::compression::CompressionLayer::new().layer(ServeDir::new(dir).precompressed_br())
}

/// A server function's form posted without JavaScript (before the page's code
/// has loaded, or with it off) that fails is sent back to its page with the
/// error in the URL, where the page's action shows it beside the fields. Leptos
/// sets that Location but keeps the error's status (422...), which browsers do
/// not follow: they showed the error's JSON instead.
async fn plain_forms_go_back(req: Request<Body>, next: middleware::Next) -> Response {
    let plain_form = req.uri().path().starts_with("/api/")
        && req
            .headers()
            .get(axum::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"));
    let mut res = next.run(req).await;
    if plain_form
        && res.headers().contains_key(axum::http::header::LOCATION)
        && !res.status().is_redirection()
    {
        *res.status_mut() = axum::http::StatusCode::SEE_OTHER;
    }
    res
}
