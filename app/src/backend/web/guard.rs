//! Request checks in front of every route: cross-site request refusal for state
//! changes, and the redirects to setup or sign-in for pages.

use crate::backend::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use http::{header, Method, StatusCode};

pub async fn guard(State(state): State<AppState>, req: Request<Body>, next: Next) -> Response {
    if !is_safe(req.method()) && is_cross_site(&req) {
        return (StatusCode::FORBIDDEN, "Cross-site request refused.").into_response();
    }
    let path = req.uri().path();
    if !is_page(req.method(), path) {
        return next.run(req).await;
    }
    let set_up = match state.is_set_up().await {
        Ok(v) => v,
        Err(_) => {
            return (StatusCode::SERVICE_UNAVAILABLE, "Database unavailable.").into_response()
        }
    };
    if !set_up {
        return if path == "/setup" {
            next.run(req).await
        } else {
            Redirect::to("/setup").into_response()
        };
    }
    let signed_in = matches!(
        state.session_user(req.extensions(), req.headers()).await,
        Ok(Some(_))
    );
    match path {
        "/setup" => Redirect::to(if signed_in { "/contacts" } else { "/login" }).into_response(),
        "/login" if signed_in => Redirect::to("/contacts").into_response(),
        "/login" => next.run(req).await,
        // A recipient's response link: its token is its authority.
        _ if path.starts_with("/respond/") => next.run(req).await,
        _ if signed_in => next.run(req).await,
        _ => {
            let target = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            Redirect::to(&format!("/login?next={}", urlencoding::encode(target))).into_response()
        }
    }
}

/// Middleware: a request that changes state runs as a task of its own, so
/// that it finishes (or its transaction rolls back whole) whatever the browser
/// does. Without it, a tab closed right after Connect, Save or Start drops the
/// connection, and the server drops the request's work wherever it was.
pub async fn finish_what_starts(req: Request<Body>, next: Next) -> Response {
    if is_safe(req.method()) {
        return next.run(req).await;
    }
    match tokio::spawn(next.run(req)).await {
        Ok(res) => res,
        Err(e) => {
            tracing::error!("a request's task failed: {e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A page is a GET for a path that is not an API call (server functions,
/// SCIM), a health check, metrics or a static file.
fn is_page(method: &Method, path: &str) -> bool {
    is_safe(method)
        && !matches!(path, "/healthz" | "/readyz" | "/metrics")
        && !path.starts_with("/api/")
        && !path.starts_with("/pkg/")
        && !path.starts_with("/scim/")
        && !path.rsplit('/').next().unwrap_or("").contains('.')
}

/// Browsers say where a request comes from in `Sec-Fetch-Site`, or failing that in
/// `Origin`. A request with neither is not from a browser, so it carries no ambient
/// cookie to abuse.
fn is_cross_site(req: &Request<Body>) -> bool {
    let headers = req.headers();
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => false,
        Some(origin) => {
            let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
            let origin_host = origin.split("://").nth(1);
            origin == "null" || host.is_none() || origin_host != host
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> Request<Body> {
        let mut b = Request::builder().method("POST").uri("/api/x");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Body::empty()).unwrap()
    }

    #[test]
    fn cross_site_posts_are_recognised() {
        assert!(is_cross_site(&req(&[("sec-fetch-site", "cross-site")])));
        assert!(is_cross_site(&req(&[("sec-fetch-site", "same-site")])));
        assert!(!is_cross_site(&req(&[("sec-fetch-site", "same-origin")])));
        assert!(is_cross_site(&req(&[
            ("origin", "https://evil.example"),
            ("host", "muster.example")
        ])));
        assert!(!is_cross_site(&req(&[
            ("origin", "https://muster.example"),
            ("host", "muster.example")
        ])));
        assert!(!is_cross_site(&req(&[])));
    }

    #[test]
    fn pages_exclude_api_and_assets() {
        assert!(is_page(&Method::GET, "/contacts"));
        assert!(!is_page(&Method::GET, "/api/list_contacts"));
        assert!(!is_page(&Method::GET, "/pkg/muster.js"));
        assert!(!is_page(&Method::GET, "/scim/v2/Users"));
        assert!(!is_page(&Method::GET, "/favicon.svg"));
        assert!(!is_page(&Method::POST, "/contacts"));
    }
}
