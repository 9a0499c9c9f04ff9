//! Server functions, by area. Each one authenticates, calls the backend, and maps
//! the result; the work itself lives in `backend`.

pub mod auth;
pub mod contacts;
pub mod imports;
pub mod integrations;

/// Give a failed server function the HTTP status that fits its error.
#[cfg(feature = "ssr")]
pub(crate) fn with_status<T>(
    result: Result<T, crate::model::AppError>,
) -> Result<T, crate::model::AppError> {
    if let Err(e) = &result {
        if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(e.status());
        }
    }
    result
}
