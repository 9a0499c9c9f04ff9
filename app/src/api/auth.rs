//! Setup, sign-in and sign-out.

use crate::model::BrowserJson;
#[cfg(feature = "ssr")]
use crate::model::FieldError;
use crate::model::{AppError, Me};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::backend::auth;

#[cfg(feature = "ssr")]
fn set_cookie(value: String) -> Result<(), AppError> {
    let response = expect_context::<leptos_axum::ResponseOptions>();
    let value = http::HeaderValue::from_str(&value).map_err(AppError::internal)?;
    response.append_header(http::header::SET_COOKIE, value);
    Ok(())
}

/// Create the first organisation and its administrator, and sign them in.
#[server(endpoint = "setup", output = BrowserJson)]
pub async fn setup(
    org_name: String,
    default_region: String,
    time_zone: String,
    email: String,
    password: String,
    setup_code: String,
) -> Result<(), AppError> {
    crate::api::public("setup", |state| async move {
        if state.is_set_up().await? {
            return Err(AppError::Forbidden(auth::ALREADY_SET_UP.into()));
        }
        let org = auth::NewOrganisation {
            name: org_name,
            default_region,
            time_zone,
        };
        // Every field's problem at once, the code's among them.
        let mut errors = Vec::new();
        if !state.setup_code.matches(&setup_code) {
            errors.push(FieldError {
                field: "setup_code".into(),
                message: "That is not the setup code. Muster printed it in its log when it \
                          started (or it is the value of MUSTER_SETUP_CODE)."
                    .into(),
            });
        }
        for checked in [
            auth::validate_org(&org).map(drop),
            auth::validate_admin(&email, &password).map(drop),
        ] {
            match checked {
                Err(AppError::Invalid(fields)) => errors.extend(fields),
                Err(other) => return Err(other),
                Ok(()) => {}
            }
        }
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        let (org, user_id) = auth::set_up(&state.db, &org, &email, &password).await?;
        let token = auth::create_session(&state.db, &state.sessions, user_id, org).await?;
        set_cookie(auth::session_cookie(
            &token,
            &state.sessions,
            state.request_is_https(),
        ))?;
        leptos_axum::redirect(auth::HOME);
        Ok(())
    })
    .await
}

#[server(endpoint = "login", output = BrowserJson)]
pub async fn login(email: String, password: String, next: Option<String>) -> Result<(), AppError> {
    crate::api::public("login", |state| async move {
        // Checked first: nothing about the target can fail once the session exists.
        let target = auth::local_path(next.as_deref().unwrap_or(""));
        // Admitted at the edge already (`web::sign_in`); here only when the
        // route was mounted without it.
        let parts = use_context::<http::request::Parts>()
            .ok_or_else(|| AppError::internal("the request's parts are missing"))?;
        let admission = match parts
            .extensions
            .get::<auth::Admitted>()
            .and_then(|a| a.take())
        {
            Some(admission) => admission,
            None => {
                state
                    .admit_sign_in(&parts.extensions, &parts.headers, &email)
                    .await?
            }
        };
        let signed_in = auth::sign_in(
            &state.db,
            &state.sessions,
            state.vault.device_key(),
            admission,
            &email,
            &password,
        )
        .await?;
        let https = state.request_is_https();
        set_cookie(auth::session_cookie(
            &signed_in.session,
            &state.sessions,
            https,
        ))?;
        set_cookie(auth::device_cookie(&signed_in.device, https))?;
        leptos_axum::redirect(&target);
        Ok(())
    })
    .await
}

#[server(endpoint = "logout", output = BrowserJson)]
pub async fn logout() -> Result<(), AppError> {
    crate::api::public("logout", |state| async move {
        if let Some(token) = state.request_token() {
            auth::end_session(&state.db, &token).await?;
        }
        set_cookie(auth::clear_session_cookie(state.request_is_https()))?;
        leptos_axum::redirect("/login");
        Ok(())
    })
    .await
}

/// Change the signed-in administrator's password. Every other session of
/// theirs ends; this one stays signed in. Returns how many ended.
#[server(endpoint = "change_password", output = BrowserJson)]
pub async fn change_password(
    current_password: String,
    new_password: String,
    confirm_password: String,
) -> Result<u64, AppError> {
    crate::api::as_admin("change_password", |state, user| async move {
        if new_password != confirm_password {
            return Err(AppError::field(
                "confirm_password",
                "The two new passwords are not the same.",
            ));
        }
        let keep = state.request_token();
        auth::change_password(
            &state.db,
            &state.hashing,
            &user,
            &current_password,
            &new_password,
            keep.as_deref(),
        )
        .await
    })
    .await
}

/// End every session of the signed-in administrator, this one included.
#[server(endpoint = "sign_out_everywhere", output = BrowserJson)]
pub async fn sign_out_everywhere() -> Result<u64, AppError> {
    crate::api::as_admin("sign_out_everywhere", |state, user| async move {
        let ended = auth::end_sessions_of(&state.db, &user, None).await?;
        set_cookie(auth::clear_session_cookie(state.request_is_https()))?;
        leptos_axum::redirect("/login");
        Ok(ended)
    })
    .await
}

#[server(endpoint = "whoami", output = BrowserJson)]
pub async fn whoami() -> Result<Me, AppError> {
    crate::api::as_admin("whoami", |_, user| async move {
        Ok(Me {
            email: user.email,
            org_name: user.org_name,
        })
    })
    .await
}
