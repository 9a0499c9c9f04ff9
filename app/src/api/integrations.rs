//! The Integrations tab: test, connect, sync and remove HR and identity systems.
//! Credentials come in; nothing that goes out carries one.

use crate::model::{AppError, ConnectForm, ConnectionTest, Integration};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

#[cfg(feature = "ssr")]
use crate::{
    backend::{connectors, domain::OrgId, integrations, AppState},
    model::Provider,
};

#[server(endpoint = "integrations")]
pub async fn list_integrations() -> Result<Vec<Integration>, AppError> {
    crate::api::as_admin("integrations", |state, user| async move {
        integrations::list(&state.db, user.org).await
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
#[server(endpoint = "test_connection", input = Json)]
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
#[server(endpoint = "update_integration", input = Json)]
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
#[server(endpoint = "connect_integration", input = Json)]
pub async fn connect_integration(form: ConnectForm) -> Result<Integration, AppError> {
    crate::api::as_admin("connect_integration", |state, user| async move {
        let provider = provider_of(&form)?;
        let credentials = connectors::Credentials::from_form(provider, &form.fields);
        try_connection(&state, provider, &credentials).await?;
        let created =
            integrations::create(&state.db, &state.vault, user.org, provider, &credentials).await?;
        start_sync(&state, user.org, created.id).await
    })
    .await
}

/// Sync now: read the directory again and apply it, in the background.
#[server(endpoint = "sync_integration")]
pub async fn sync_integration(id: i64) -> Result<Integration, AppError> {
    crate::api::as_admin("sync_integration", |state, user| async move {
        start_sync(&state, user.org, id).await
    })
    .await
}

#[cfg(feature = "ssr")]
async fn start_sync(state: &AppState, org: OrgId, id: i64) -> Result<Integration, AppError> {
    let vault = state.vault.clone();
    let stale_after = state.imports.stale_after;
    integrations::start_sync(&state.db, vault, &state.providers, org, id, stale_after).await
}

/// How many contacts removing the integration would delete.
#[server(endpoint = "integration_removal_count")]
pub async fn integration_removal_count(id: i64) -> Result<i64, AppError> {
    crate::api::as_admin("integration_removal_count", |state, user| async move {
        integrations::removal_count(&state.db, user.org, id).await
    })
    .await
}

/// Remove the integration with the contacts and groups it imported; returns
/// how many contacts were deleted.
#[server(endpoint = "remove_integration")]
pub async fn remove_integration(id: i64) -> Result<i64, AppError> {
    crate::api::as_admin("remove_integration", |state, user| async move {
        integrations::remove(&state.db, user.org, id).await
    })
    .await
}
