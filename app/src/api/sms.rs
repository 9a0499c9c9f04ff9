//! The organisation's SMS provider (Settings → SMS).

use crate::model::BrowserJson;
use crate::model::{AppError, AuditEntry, SmsSettings, SmsSettingsForm};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::backend::{audit, sms};

/// The SMS provider, if one is set up (never its auth token).
#[server(endpoint = "get_sms_settings", output = BrowserJson)]
pub async fn get_sms_settings() -> Result<Option<SmsSettings>, AppError> {
    crate::api::as_admin("get_sms_settings", |state, user| async move {
        sms::settings(&state.db, user.org, state.outbox.public_url()).await
    })
    .await
}

#[server(endpoint = "save_sms_settings", input = BrowserJson, output = BrowserJson)]
pub async fn save_sms_settings(form: SmsSettingsForm) -> Result<SmsSettings, AppError> {
    crate::api::as_admin("save_sms_settings", |state, user| async move {
        sms::save(
            &state.db,
            &state.vault,
            &state.providers,
            user.org,
            &user.email,
            &form,
            state.outbox.public_url(),
        )
        .await
    })
    .await
}

#[server(endpoint = "remove_sms_settings", output = BrowserJson)]
pub async fn remove_sms_settings() -> Result<(), AppError> {
    crate::api::as_admin("remove_sms_settings", |state, user| async move {
        sms::remove(&state.db, user.org, &user.email).await
    })
    .await
}

/// Text `to` a test message with the saved settings: Twilio's id of it.
#[server(endpoint = "send_test_sms", output = BrowserJson)]
pub async fn send_test_sms(to: String) -> Result<String, AppError> {
    crate::api::as_admin("send_test_sms", |state, user| async move {
        sms::send_test(&state.db, &state.vault, &state.providers, user.org, &to).await
    })
    .await
}

/// Who changed the organisation's settings, newest first.
#[server(endpoint = "settings_history", output = BrowserJson)]
pub async fn settings_history() -> Result<Vec<AuditEntry>, AppError> {
    crate::api::as_admin("settings_history", |state, user| async move {
        audit::trail_of(&state.db, user.org, "settings", None).await
    })
    .await
}
