//! The sign-in's admission, in front of the `login` server function: the
//! throttle and a place at the hashing gate come first, from the form's email
//! and the request's address and cookies alone, so that a refused attempt (most
//! of a flood) costs a small read and an answer, not a server function call,
//! a database lookup and their memory.

use crate::backend::auth::Admitted;
use crate::backend::AppState;
use crate::model::AppError;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{header, request::Parts, HeaderName, HeaderValue, StatusCode};
use leptos::server_fn::error::{FromServerFnError, ServerFnUrlError, SERVER_FN_ERROR_HEADER};
use leptos::server_fn::{ContentType, ServerFn};

/// The largest sign-in form read (an email is at most 254 characters; a
/// password longer than this is no password anyone types).
pub const MAX_FORM: usize = 16 * 1024;

const LOGIN: &str = <crate::api::auth::Login as ServerFn>::PATH;

/// Middleware: admits a `POST` to the `login` server function; passes
/// everything else on.
pub async fn admit_sign_in(
    State(state): State<AppState>,
    req: Request<Body>,
    next: Next,
) -> Response {
    if req.method() != http::Method::POST || req.uri().path() != LOGIN {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let Ok(form) = axum::body::to_bytes(body, MAX_FORM).await else {
        return refusal(
            &parts,
            AppError::TooLarge("The sign-in form is too large.".into()),
        );
    };
    let email = url::form_urlencoded::parse(&form)
        .find(|(name, _)| name == "email")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    match state
        .admit_sign_in(&parts.extensions, &parts.headers, &email)
        .await
    {
        Ok(admission) => {
            parts.extensions.insert(Admitted::new(admission));
            next.run(Request::from_parts(parts, Body::from(form))).await
        }
        Err(e) => refusal(&parts, e),
    }
}

/// The answer the `login` server function would give with `error`: for a
/// form posted without JavaScript, back to the page with the error in its
/// address; otherwise the error's status and its JSON, marked as a server
/// function's error.
fn refusal(parts: &Parts, error: AppError) -> Response {
    let accepts_html = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if accepts_html {
        let referer = parts
            .headers
            .get(header::REFERER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("/");
        if let Some(back) = ServerFnUrlError::new(LOGIN, error.clone())
            .to_url(referer)
            .ok()
            .and_then(|url| HeaderValue::from_str(url.as_str()).ok())
        {
            return (StatusCode::FOUND, [(header::LOCATION, back)]).into_response();
        }
    }
    (
        error.status(),
        [
            (
                HeaderName::from_static(SERVER_FN_ERROR_HEADER),
                HeaderValue::from_static(LOGIN),
            ),
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(<AppError as FromServerFnError>::Encoder::CONTENT_TYPE),
            ),
        ],
        error.ser(),
    )
        .into_response()
}
