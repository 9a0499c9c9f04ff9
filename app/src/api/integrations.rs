//! The Integrations tab: test, connect, sync and remove HR and identity systems.
//! Credentials come in; nothing that goes out carries one.

use crate::model::BrowserJson;
use crate::model::{
    AppError, ConnectForm, ConnectionTest, Hold, Integration, SyncPreview, SyncRun,
};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::{
    backend::{connectors, domain::OrgId, integrations, AppState},
    model::{HoldResolution, Provider, SyncTrigger},
};

#[server(endpoint = "integrations", output = BrowserJson)]
pub async fn list_integrations() -> Result<Vec<Integration>, AppError> {
    crate::api::as_admin("integrations", |state, user| async move {
        let mut list = integrations::list(&state.db, user.org).await?;
        integrations::live::attach(&state.db, &state.syncs, user.org, &mut list).await?;
        Ok(list)
    })
    .await
}

#[cfg(feature = "ssr")]
fn provider_of(form: &ConnectForm) -> Result<Provider, AppError> {
    Provider::parse(&form.provider)
        .ok_or_else(|| AppError::BadRequest(format!("Unknown provider {:?}.", form.provider)))
}

/// Authenticate and read one page of users, saving nothing.
#[cfg(feature = "ssr")]
async fn try_connection(
    state: &AppState,
    provider: Provider,
    credentials: &connectors::Credentials,
) -> Result<ConnectionTest, AppError> {
    credentials.check_complete(provider)?;
    let connector = connectors::connector(provider, credentials, &state.providers)?;
    Ok(connector.test().await?)
}

/// Test Connection: authenticate for real and read one page of users. With
/// `id`, the form edits that integration: empty secrets are the stored ones.
#[server(endpoint = "test_connection", input = BrowserJson, output = BrowserJson)]
pub async fn test_connection(
    form: ConnectForm,
    id: Option<i64>,
) -> Result<ConnectionTest, AppError> {
    crate::api::as_admin("test_connection", |state, user| async move {
        let (provider, credentials) = match id {
            Some(id) => {
                integrations::merge_credentials(&state.db, &state.vault, user.org, id, &form.fields)
                    .await?
            }
            None => {
                let provider = provider_of(&form)?;
                (
                    provider,
                    connectors::Credentials::from_form(provider, &form.fields),
                )
            }
        };
        try_connection(&state, provider, &credentials).await
    })
    .await
}

/// Replace an integration's credentials (secrets left empty are kept), after
/// testing them.
#[server(endpoint = "update_integration", input = BrowserJson, output = BrowserJson)]
pub async fn update_integration(id: i64, form: ConnectForm) -> Result<Integration, AppError> {
    crate::api::as_admin("update_integration", |state, user| async move {
        let (provider, credentials) =
            integrations::merge_credentials(&state.db, &state.vault, user.org, id, &form.fields)
                .await?;
        try_connection(&state, provider, &credentials).await?;
        let replaced: Vec<String> = provider
            .fields()
            .iter()
            .filter(|f| f.is_secret())
            .filter(|f| form.fields.get(f.key).is_some_and(|v| !v.trim().is_empty()))
            .map(|f| f.key.to_string())
            .collect();
        integrations::save_credentials(
            &state.db,
            &state.vault,
            user.org,
            id,
            &credentials,
            &replaced,
        )
        .await
    })
    .await
}

/// Connect: test the credentials, save them sealed, and start the first sync.
#[server(endpoint = "connect_integration", input = BrowserJson, output = BrowserJson)]
pub async fn connect_integration(form: ConnectForm) -> Result<Integration, AppError> {
    crate::api::as_admin("connect_integration", |state, user| async move {
        let provider = provider_of(&form)?;
        let credentials = connectors::Credentials::from_form(provider, &form.fields);
        try_connection(&state, provider, &credentials).await?;
        let created =
            integrations::create(&state.db, &state.vault, user.org, provider, &credentials).await?;
        start_sync(&state, user.org, created.id, SyncTrigger::Connect).await
    })
    .await
}

/// Sync now: read the directory again and apply it, in the background.
#[server(endpoint = "sync_integration", output = BrowserJson)]
pub async fn sync_integration(id: i64) -> Result<Integration, AppError> {
    crate::api::as_admin("sync_integration", |state, user| async move {
        start_sync(&state, user.org, id, SyncTrigger::SyncNow).await
    })
    .await
}

#[cfg(feature = "ssr")]
async fn start_sync(
    state: &AppState,
    org: OrgId,
    id: i64,
    trigger: SyncTrigger,
) -> Result<Integration, AppError> {
    let vault = state.vault.clone();
    let stale_after = state.imports.stale_after;
    integrations::start_sync(
        &state.db,
        vault,
        &state.providers,
        state.syncs.clone(),
        org,
        id,
        trigger,
        stale_after,
    )
    .await
}

/// Preview changes: read the source and say what a sync would do now,
/// applying nothing.
#[server(endpoint = "preview_sync", output = BrowserJson)]
pub async fn preview_sync(id: i64) -> Result<SyncPreview, AppError> {
    crate::api::as_admin("preview_sync", |state, user| async move {
        integrations::sync::preview(&state.db, &state.vault, &state.providers, user.org, id).await
    })
    .await
}

/// Syncs shown per page of the history.
pub const HISTORY_PAGE: u64 = 10;

/// A page of the integration's sync history, newest first, and how many
/// syncs there are in all.
#[server(endpoint = "sync_history", output = BrowserJson)]
pub async fn sync_history(id: i64, page: u64) -> Result<(Vec<SyncRun>, u64), AppError> {
    crate::api::as_admin("sync_history", |state, user| async move {
        integrations::get(&state.db, user.org, id).await?;
        integrations::history::runs(&state.db, user.org, id, page, HISTORY_PAGE).await
    })
    .await
}

/// The deletions a sync of the integration holds for review, if any.
#[server(endpoint = "held_deletions", output = BrowserJson)]
pub async fn held_deletions(id: i64) -> Result<Option<Hold>, AppError> {
    crate::api::as_admin("held_deletions", |state, user| async move {
        integrations::history::hold(&state.db, user.org, id).await
    })
    .await
}

/// Apply (or, with `apply` false, discard) the deletions that sync `run` of
/// the integration holds; returns how many contacts went.
#[server(endpoint = "settle_held_deletions", output = BrowserJson)]
pub async fn settle_held_deletions(id: i64, run: i64, apply: bool) -> Result<u64, AppError> {
    crate::api::as_admin("settle_held_deletions", |state, user| async move {
        let resolution = if apply {
            HoldResolution::Applied
        } else {
            HoldResolution::Discarded
        };
        integrations::history::settle(&state.db, user.org, id, run, resolution).await
    })
    .await
}

/// When a sync of the integration is held: more than `percent` of its
/// contacts, or more than `count`, to delete (empty: no such bound).
#[server(endpoint = "set_hold_limits", output = BrowserJson)]
pub async fn set_hold_limits(
    id: i64,
    percent: Option<u32>,
    count: Option<u64>,
) -> Result<Integration, AppError> {
    crate::api::as_admin("set_hold_limits", |state, user| async move {
        integrations::set_hold_limits(&state.db, user.org, id, percent, count).await
    })
    .await
}

/// How many contacts removing the integration would delete.
#[server(endpoint = "integration_removal_count", output = BrowserJson)]
pub async fn integration_removal_count(id: i64) -> Result<i64, AppError> {
    crate::api::as_admin("integration_removal_count", |state, user| async move {
        integrations::removal_count(&state.db, user.org, id).await
    })
    .await
}

/// Remove the integration with the contacts and groups it imported; returns
/// how many contacts were deleted.
#[server(endpoint = "remove_integration", output = BrowserJson)]
pub async fn remove_integration(id: i64) -> Result<i64, AppError> {
    crate::api::as_admin("remove_integration", |state, user| async move {
        integrations::remove(&state.db, user.org, id).await
    })
    .await
}

/// The time of day ("HH:MM", on the organisation's clocks) the integration
/// syncs by itself.
#[server(endpoint = "set_sync_time", output = BrowserJson)]
pub async fn set_sync_time(id: i64, time: String) -> Result<Integration, AppError> {
    crate::api::as_admin("set_sync_time", |state, user| async move {
        integrations::set_sync_time(&state.db, user.org, id, &time).await
    })
    .await
}

/// Cancel the integration's running sync: it stops at its next step and
/// changes nothing.
#[server(endpoint = "cancel_sync", output = BrowserJson)]
pub async fn cancel_sync(id: i64) -> Result<Integration, AppError> {
    crate::api::as_admin("cancel_sync", |state, user| async move {
        integrations::live::cancel(&state.db, &state.syncs, user.org, id).await?;
        let mut one = [integrations::get(&state.db, user.org, id).await?];
        integrations::live::attach(&state.db, &state.syncs, user.org, &mut one).await?;
        let [integration] = one;
        Ok(integration)
    })
    .await
}
