//! Scenarios: incidents prepared in advance.

use crate::model::BrowserJson;
use crate::model::{AppError, AuditEntry, Scenario, ScenarioDraft, ScenarioSummary};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::backend::{audit, scenarios};

/// The scenarios whose name or description holds `q`, by name.
#[server(endpoint = "list_scenarios", output = BrowserJson)]
pub async fn list_scenarios(q: String) -> Result<Vec<ScenarioSummary>, AppError> {
    crate::api::as_admin("list_scenarios", |state, user| async move {
        scenarios::list(&state.db, user.org, &q).await
    })
    .await
}

#[server(endpoint = "get_scenario", output = BrowserJson)]
pub async fn get_scenario(id: i64) -> Result<Scenario, AppError> {
    crate::api::as_admin("get_scenario", |state, user| async move {
        scenarios::get(&state.db, user.org, id).await
    })
    .await
}

/// Who made, edited and copied scenario `id`, newest first.
#[server(endpoint = "scenario_history", output = BrowserJson)]
pub async fn scenario_history(id: i64) -> Result<Vec<AuditEntry>, AppError> {
    crate::api::as_admin("scenario_history", |state, user| async move {
        audit::trail(&state.db, user.org, "scenario", id).await
    })
    .await
}

#[server(endpoint = "create_scenario", input = BrowserJson, output = BrowserJson)]
pub async fn create_scenario(draft: ScenarioDraft) -> Result<Scenario, AppError> {
    crate::api::as_admin("create_scenario", |state, user| async move {
        scenarios::create(&state.db, user.org, &user.email, &draft).await
    })
    .await
}

/// Save `draft` over scenario `id` as of `version` (the version it was read at).
#[server(endpoint = "update_scenario", input = BrowserJson, output = BrowserJson)]
pub async fn update_scenario(
    id: i64,
    version: i64,
    draft: ScenarioDraft,
) -> Result<Scenario, AppError> {
    crate::api::as_admin("update_scenario", |state, user| async move {
        scenarios::update(&state.db, user.org, &user.email, id, version, &draft).await
    })
    .await
}

#[server(endpoint = "copy_scenario", output = BrowserJson)]
pub async fn copy_scenario(id: i64) -> Result<Scenario, AppError> {
    crate::api::as_admin("copy_scenario", |state, user| async move {
        scenarios::copy(&state.db, user.org, &user.email, id).await
    })
    .await
}

#[server(endpoint = "delete_scenario", output = BrowserJson)]
pub async fn delete_scenario(id: i64) -> Result<(), AppError> {
    crate::api::as_admin("delete_scenario", |state, user| async move {
        scenarios::delete(&state.db, user.org, &user.email, id).await
    })
    .await
}
