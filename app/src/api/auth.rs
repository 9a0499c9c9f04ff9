//! Setup, sign-in and sign-out.

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

/// Only same-site paths are followed after sign-in.
#[cfg(feature = "ssr")]
fn safe_next(next: &str) -> &str {
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') {
        next
    } else {
        "/contacts"
    }
}

/// Create the first organisation and its administrator, and sign them in.
#[server(endpoint = "setup")]
pub async fn setup(
    org_name: String,
    default_region: String,
    time_zone: String,
    email: String,
    password: String,
) -> Result<(), AppError> {
    crate::api::public("setup", |state| async move {
        if state.is_set_up().await? {
            return Err(AppError::Forbidden(
                "Muster is already set up. Sign in instead.".into(),
            ));
        }
        let org = auth::NewOrganisation {
            name: org_name,
            default_region,
            time_zone,
        };
        let (org, user_id) =
            auth::create_org_with_admin(&state.db, &org, &email, &password).await?;
        let token = auth::create_session(&state.db, user_id, org).await?;
        set_cookie(auth::session_cookie(&token, state.secure_cookies))?;
        leptos_axum::redirect("/contacts");
        Ok(())
    })
    .await
}

#[server(endpoint = "login")]
pub async fn login(email: String, password: String, next: Option<String>) -> Result<(), AppError> {
    crate::api::public("login", |state| async move {
        let token = auth::sign_in(&state.db, &state.throttle, &email, &password).await?;
        set_cookie(auth::session_cookie(&token, state.secure_cookies))?;
        leptos_axum::redirect(safe_next(next.as_deref().unwrap_or("")));
        Ok(())
    })
    .await
}

#[server(endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    crate::api::public("logout", |state| async move {
        if let Some(parts) = use_context::<http::request::Parts>() {
            if let Some(token) = auth::token_from_headers(&parts.headers) {
                auth::end_session(&state.db, &token).await?;
            }
        }
        set_cookie(auth::clear_session_cookie(state.secure_cookies))?;
        leptos_axum::redirect("/login");
        Ok(())
    })
    .await
}

#[server(endpoint = "whoami")]
pub async fn whoami() -> Result<Me, AppError> {
    crate::api::as_admin("whoami", |_, user| async move {
        Ok(Me {
            email: user.email,
            org_name: user.org_name,
        })
    })
    .await
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(safe_next("/contacts/3?x=1"), "/contacts/3?x=1");
        assert_eq!(safe_next("//evil.example"), "/contacts");
        assert_eq!(safe_next("https://evil.example"), "/contacts");
        assert_eq!(safe_next("/\\evil.example"), "/contacts");
        assert_eq!(safe_next(""), "/contacts");
    }
}
