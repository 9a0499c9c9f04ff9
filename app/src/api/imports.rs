//! CSV uploads after the file has arrived (the upload itself is `POST /imports`,
//! which streams): the mapping, the start, progress, cancellation and history.

use crate::model::BrowserJson;
use crate::model::{AppError, ImportJob, ImportPreview};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::backend::import::job;

/// The largest file the server accepts, in bytes.
#[server(endpoint = "import_limit", output = BrowserJson)]
pub async fn import_limit() -> Result<u64, AppError> {
    crate::api::as_admin("import_limit", |state, _| async move {
        Ok(state.imports.max_bytes)
    })
    .await
}

/// The preview of a waiting upload with the columns mapped as chosen: one
/// field key per column, empty to ignore it.
#[server(endpoint = "import_preview", output = BrowserJson)]
pub async fn remap_import(id: i64, fields: Vec<String>) -> Result<ImportPreview, AppError> {
    crate::api::as_admin("import_preview", |state, user| async move {
        job::preview_again(&state.db, &user, id, fields).await
    })
    .await
}

/// Confirm a waiting upload with its mapping; it runs in the background.
#[server(endpoint = "start_import", output = BrowserJson)]
pub async fn start_import(id: i64, fields: Vec<String>) -> Result<ImportJob, AppError> {
    crate::api::as_admin("start_import", |state, user| async move {
        job::start(&state.db, &state.imports, &user, id, fields).await
    })
    .await
}

/// Discard a waiting upload, or stop a running one after its current batch.
#[server(endpoint = "cancel_import", output = BrowserJson)]
pub async fn cancel_import(id: i64) -> Result<ImportJob, AppError> {
    crate::api::as_admin("cancel_import", |state, user| async move {
        job::cancel(&state.db, &state.imports, user.org, id).await
    })
    .await
}

/// An upload with its progress or outcome.
#[server(endpoint = "import_job", output = BrowserJson)]
pub async fn get_import(id: i64) -> Result<ImportJob, AppError> {
    crate::api::as_admin("import_job", |state, user| async move {
        job::get(&state.db, &state.imports, user.org, id).await
    })
    .await
}

/// The organisation's uploads, newest first.
#[server(endpoint = "import_history", output = BrowserJson)]
pub async fn import_history() -> Result<Vec<ImportJob>, AppError> {
    crate::api::as_admin("import_history", |state, user| async move {
        job::history(&state.db, &state.imports, user.org, 200).await
    })
    .await
}
