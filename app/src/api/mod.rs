//! Server functions, by area. Each one authenticates, calls the backend, and maps
//! the result; the work itself lives in `backend`.

pub mod auth;
pub mod contacts;
pub mod imports;
pub mod incidents;
pub mod integrations;
pub mod recipients;
pub mod scenarios;
pub mod scim;
pub mod sms;

#[cfg(feature = "ssr")]
use crate::backend::{auth::CurrentUser, state, AppState};
#[cfg(feature = "ssr")]
use crate::model::AppError;

/// Run the work of server function `name` for the signed-in administrator:
/// authenticate, hand the work the state and the user, log what ran for which
/// organisation and how long it took, and give a failure its HTTP status.
/// (Work that changes state runs to its end even if the browser goes away:
/// `web::finish_what_starts` runs such requests as tasks of their own.)
#[cfg(feature = "ssr")]
pub(crate) async fn as_admin<T, F, Fut>(name: &'static str, work: F) -> Result<T, AppError>
where
    F: FnOnce(AppState, CurrentUser) -> Fut,
    Fut: std::future::Future<Output = Result<T, AppError>>,
{
    // Everything the context gives is read before the first await: a
    // resource's fetch can outlive the owner it started under (a `Suspense`'s
    // throwaway render pass on the server disposes of its owner while the
    // fetch goes on), and after that no context is found.
    let response = response_options();
    let result = async {
        let state = AppState::from_context()?;
        let user = state::current_user().await?;
        let span = tracing::debug_span!("server_fn", name, org = user.org.get());
        timed(span, work(state, user)).await
    }
    .await;
    with_status(response, result)
}

/// Run the work of server function `name`, which needs no signed-in
/// administrator (setting up, signing in and out).
#[cfg(feature = "ssr")]
pub(crate) async fn public<T, F, Fut>(name: &'static str, work: F) -> Result<T, AppError>
where
    F: FnOnce(AppState) -> Fut,
    Fut: std::future::Future<Output = Result<T, AppError>>,
{
    let response = response_options();
    let result = async {
        let state = AppState::from_context()?;
        timed(tracing::debug_span!("server_fn", name), work(state)).await
    }
    .await;
    with_status(response, result)
}

/// Await `work` inside `span`, and log its outcome and duration there.
#[cfg(feature = "ssr")]
async fn timed<T>(
    span: tracing::Span,
    work: impl std::future::Future<Output = Result<T, AppError>>,
) -> Result<T, AppError> {
    use tracing::Instrument;
    let started = std::time::Instant::now();
    let result = work.instrument(span.clone()).await;
    let ms = started.elapsed().as_millis() as u64;
    span.in_scope(|| match &result {
        Ok(_) => tracing::debug!(ms, "done"),
        Err(e) => tracing::debug!(ms, error = %e, "failed"),
    });
    result
}

/// The response whose HTTP status a server function sets, from the context.
#[cfg(feature = "ssr")]
fn response_options() -> Option<leptos_axum::ResponseOptions> {
    leptos::prelude::use_context::<leptos_axum::ResponseOptions>()
}

/// Give a failed server function the HTTP status that fits its error.
#[cfg(feature = "ssr")]
fn with_status<T>(
    response: Option<leptos_axum::ResponseOptions>,
    result: Result<T, AppError>,
) -> Result<T, AppError> {
    if let (Err(e), Some(response)) = (&result, response) {
        response.set_status(e.status());
    }
    result
}
