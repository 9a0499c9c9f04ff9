//! CSV uploads after the file has arrived (the upload itself is `POST /imports`,
//! which streams): the mapping, the start, progress, cancellation and history.

use crate::model::{AppError, ImportJob, ImportPreview};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::backend::{import::job, state::current_user, AppState};

/// The largest file the server accepts, in bytes.
#[server(endpoint = "import_limit")]
pub async fn import_limit() -> Result<u64, AppError> {
    crate::api::with_status(
        async move {
            current_user().await?;
            Ok(AppState::from_context()?.imports.max_bytes)
        }
        .await,
    )
}

/// The preview of a waiting upload with the columns mapped as chosen: one
/// field key per column, empty to ignore it.
#[server(endpoint = "import_preview")]
pub async fn remap_import(id: i64, fields: Vec<String>) -> Result<ImportPreview, AppError> {
    crate::api::with_status(
        async move {
            let user = current_user().await?;
            let state = AppState::from_context()?;
            job::preview_again(&state.db, &user, id, fields).await
        }
        .await,
    )
}

/// Confirm a waiting upload with its mapping; it runs in the background.
#[server(endpoint = "start_import")]
pub async fn start_import(id: i64, fields: Vec<String>) -> Result<ImportJob, AppError> {
    crate::api::with_status(
        async move {
            let user = current_user().await?;
            let state = AppState::from_context()?;
            job::start(&state.db, &state.imports, &user, id, fields).await
        }
        .await,
    )
}

/// Discard a waiting upload, or stop a running one after its current batch.
#[server(endpoint = "cancel_import")]
pub async fn cancel_import(id: i64) -> Result<ImportJob, AppError> {
    crate::api::with_status(
        async move {
            let user = current_user().await?;
            let state = AppState::from_context()?;
            job::cancel(&state.db, &state.imports, user.org, id).await
        }
        .await,
    )
}

/// An upload with its progress or outcome.
#[server(endpoint = "import_job")]
pub async fn get_import(id: i64) -> Result<ImportJob, AppError> {
    crate::api::with_status(
        async move {
            let user = current_user().await?;
            let state = AppState::from_context()?;
            job::get(&state.db, &state.imports, user.org, id).await
        }
        .await,
    )
}

/// The organisation's uploads, newest first.
#[server(endpoint = "import_history")]
pub async fn import_history() -> Result<Vec<ImportJob>, AppError> {
    crate::api::with_status(
        async move {
            let user = current_user().await?;
            let state = AppState::from_context()?;
            job::history(&state.db, &state.imports, user.org, 200).await
        }
        .await,
    )
}
