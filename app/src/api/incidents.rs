//! Incidents: launch, follow, resolve; and the response link's page, which
//! needs no sign-in (its token is its authority).

use crate::model::BrowserJson;
use crate::model::{
    AppError, AuditEntry, FollowUp, Incident, IncidentProgress, IncidentRecipientPage,
    IncidentSummary, LaunchPreview, LaunchRequest, RecipientFilter, ResponseView, ScenarioDraft,
};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::backend::incidents;

/// What launching `draft` would do now: whom it reaches, on which channels,
/// and which of them this server cannot send on.
#[server(endpoint = "preview_launch", input = BrowserJson, output = BrowserJson)]
pub async fn preview_launch(draft: ScenarioDraft) -> Result<LaunchPreview, AppError> {
    crate::api::as_admin("preview_launch", |state, user| async move {
        incidents::preview(&state.db, &state.outbox, user.org, &draft).await
    })
    .await
}

#[server(endpoint = "launch_incident", input = BrowserJson, output = BrowserJson)]
pub async fn launch_incident(request: LaunchRequest) -> Result<Incident, AppError> {
    crate::api::as_admin("launch_incident", |state, user| async move {
        incidents::launch(&state.db, &state.outbox, user.org, &user.email, &request).await
    })
    .await
}

#[server(endpoint = "list_incidents", output = BrowserJson)]
pub async fn list_incidents() -> Result<Vec<IncidentSummary>, AppError> {
    crate::api::as_admin("list_incidents", |state, user| async move {
        incidents::list(&state.db, user.org).await
    })
    .await
}

#[server(endpoint = "get_incident", output = BrowserJson)]
pub async fn get_incident(id: i64) -> Result<Incident, AppError> {
    crate::api::as_admin("get_incident", |state, user| async move {
        incidents::get(&state.db, user.org, id).await
    })
    .await
}

#[server(endpoint = "incident_progress", output = BrowserJson)]
pub async fn get_progress(id: i64) -> Result<IncidentProgress, AppError> {
    crate::api::as_admin("incident_progress", |state, user| async move {
        incidents::progress(&state.db, user.org, id).await
    })
    .await
}

#[server(endpoint = "incident_recipients", input = BrowserJson, output = BrowserJson)]
pub async fn incident_recipients(
    id: i64,
    filter: RecipientFilter,
) -> Result<IncidentRecipientPage, AppError> {
    crate::api::as_admin("incident_recipients", |state, user| async move {
        incidents::recipients_page(&state.db, user.org, id, &filter).await
    })
    .await
}

#[server(endpoint = "resolve_incident", output = BrowserJson)]
pub async fn resolve_incident(id: i64) -> Result<Incident, AppError> {
    crate::api::as_admin("resolve_incident", |state, user| async move {
        incidents::resolve(&state.db, user.org, &user.email, id).await
    })
    .await
}

/// Send `follow_up` to some of incident `id`'s recipients; how many
/// messages it queued.
#[server(endpoint = "send_follow_up", input = BrowserJson, output = BrowserJson)]
pub async fn send_follow_up(id: i64, follow_up: FollowUp) -> Result<u64, AppError> {
    crate::api::as_admin("send_follow_up", |state, user| async move {
        incidents::follow_up(
            &state.db,
            &state.outbox,
            user.org,
            &user.email,
            id,
            &follow_up,
        )
        .await
    })
    .await
}

/// Who launched and resolved incident `id`, newest first.
#[server(endpoint = "incident_history", output = BrowserJson)]
pub async fn incident_history(id: i64) -> Result<Vec<AuditEntry>, AppError> {
    crate::api::as_admin("incident_history", |state, user| async move {
        incidents::get(&state.db, user.org, id).await?;
        crate::backend::audit::trail(&state.db, user.org, "incident", id).await
    })
    .await
}

/// What the recipient of response link `token` sees.
#[server(endpoint = "open_response", output = BrowserJson)]
pub async fn open_response(token: String) -> Result<ResponseView, AppError> {
    crate::api::public("open_response", |state| async move {
        incidents::response_view(&state.db, &state.vault, &token).await
    })
    .await
}

/// The answer of response link `token`'s recipient: option `option`.
#[server(endpoint = "respond", output = BrowserJson)]
pub async fn respond(token: String, option: usize) -> Result<ResponseView, AppError> {
    crate::api::public("respond", |state| async move {
        incidents::respond(&state.db, &state.vault, &token, option, "link").await
    })
    .await
}
