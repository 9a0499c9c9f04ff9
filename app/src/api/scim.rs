//! The Provisioning (SCIM) panel of the Integrations tab: the identity
//! providers that push users and groups into Muster, and their tokens. A
//! token's value goes out once, in the answer that made it.

use crate::model::BrowserJson;
use crate::model::{
    AppError, IssuedScimToken, ScimOverview, ScimSourceForm, ScimToken, ScimTokenForm,
};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::backend::scim::sources;

#[server(endpoint = "scim_overview", output = BrowserJson)]
pub async fn get_scim_overview() -> Result<ScimOverview, AppError> {
    crate::api::as_admin("scim_overview", |state, user| async move {
        Ok(ScimOverview {
            base_url: format!("{}/scim/v2", state.request_origin()),
            sources: sources::list(&state.db, user.org).await?,
            today: chrono::Utc::now().date_naive(),
        })
    })
    .await
}

/// Add an identity provider with its first token.
#[server(endpoint = "create_scim_source", input = BrowserJson, output = BrowserJson)]
pub async fn create_scim_source(
    form: ScimSourceForm,
    token: ScimTokenForm,
) -> Result<IssuedScimToken, AppError> {
    crate::api::as_admin("create_scim_source", |state, user| async move {
        let issued = sources::create(&state.db, user.org, &form, &token).await?;
        tracing::info!(org = %user.org, source = issued.source_id, by = user.user_id, "SCIM identity provider added");
        Ok(issued)
    })
    .await
}

#[server(endpoint = "update_scim_source", input = BrowserJson, output = BrowserJson)]
pub async fn update_scim_source(id: i64, form: ScimSourceForm) -> Result<(), AppError> {
    crate::api::as_admin("update_scim_source", |state, user| async move {
        sources::update(&state.db, user.org, id, &form).await
    })
    .await
}

#[server(endpoint = "add_scim_token", input = BrowserJson, output = BrowserJson)]
pub async fn add_scim_token(
    source_id: i64,
    form: ScimTokenForm,
) -> Result<IssuedScimToken, AppError> {
    crate::api::as_admin("add_scim_token", |state, user| async move {
        let issued = sources::add_token(&state.db, user.org, source_id, &form).await?;
        tracing::info!(org = %user.org, source = source_id, token = issued.token.id, by = user.user_id, "SCIM token added");
        Ok(issued)
    })
    .await
}

/// Replace a token's value: the old one is refused from now on.
#[server(endpoint = "regenerate_scim_token", output = BrowserJson)]
pub async fn regenerate_scim_token(id: i64) -> Result<IssuedScimToken, AppError> {
    crate::api::as_admin("regenerate_scim_token", |state, user| async move {
        let issued = sources::regenerate(&state.db, user.org, id).await?;
        tracing::info!(org = %user.org, token = id, by = user.user_id, "SCIM token regenerated");
        Ok(issued)
    })
    .await
}

#[server(endpoint = "revoke_scim_token", output = BrowserJson)]
pub async fn revoke_scim_token(id: i64) -> Result<ScimToken, AppError> {
    crate::api::as_admin("revoke_scim_token", |state, user| async move {
        let token = sources::revoke(&state.db, user.org, id).await?;
        tracing::info!(org = %user.org, token = id, by = user.user_id, "SCIM token revoked");
        Ok(token)
    })
    .await
}

/// Remove an identity provider: its tokens stop working, its groups go, the
/// contacts it created are deleted (those it took over go back to their
/// earlier source). Returns how many contacts were deleted.
#[server(endpoint = "remove_scim_source", output = BrowserJson)]
pub async fn remove_scim_source(id: i64) -> Result<u64, AppError> {
    crate::api::as_admin("remove_scim_source", |state, user| async move {
        let deleted = sources::remove(&state.db, user.org, id).await?;
        tracing::info!(org = %user.org, source = id, deleted, by = user.user_id, "SCIM identity provider removed");
        Ok(deleted)
    })
    .await
}
