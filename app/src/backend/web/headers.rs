//! Security headers: every response says `nosniff` and `Referrer-Policy:
//! same-origin` and may not be framed; pages carry a Content-Security-Policy
//! that runs only Muster's own scripts (the hydration script by the nonce
//! Leptos puts on it, the module and WebAssembly it loads from `/pkg/`) and
//! Muster's own styles, with no inline style or script of any other origin.

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::header::{CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS};
use http::HeaderValue;

/// The policy of responses that are not pages (server functions, files):
/// nothing in them may load or run anything, nor be framed.
const NOT_A_PAGE: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// The policy of a page rendered with `nonce`. `dev_reload` allows the
/// websocket of `cargo leptos watch`'s live reload.
pub fn page_policy(nonce: &str, dev_reload: bool) -> String {
    let connect = if dev_reload {
        "'self' ws://127.0.0.1:* ws://localhost:*"
    } else {
        "'self'"
    };
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src {connect}; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// Give the page being rendered its policy, with the nonce of this render.
/// Called from the document shell, before the first byte is sent.
pub fn set_page_policy() {
    use leptos::prelude::use_context;
    let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    let dev_reload = std::env::var_os("LEPTOS_WATCH").is_some();
    if let Ok(value) = HeaderValue::from_str(&page_policy(&nonce, dev_reload)) {
        response.insert_header(CONTENT_SECURITY_POLICY, value);
    }
}

/// Middleware: the headers every response carries.
pub async fn security_headers(req: Request<Body>, next: Next) -> Response {
    let mut res = next.run(req).await;
    let headers = res.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers
        .entry(CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(NOT_A_PAGE));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_runs_only_its_own_scripts_and_styles() {
        let p = page_policy("abc123", false);
        assert!(p.contains("script-src 'self' 'nonce-abc123' 'wasm-unsafe-eval';"));
        assert!(p.contains("style-src 'self';"));
        assert!(p.contains("frame-ancestors 'none'"));
        assert!(!p.contains("unsafe-inline") && !p.contains("ws:"));
        assert!(page_policy("n", true).contains("ws://127.0.0.1:*"));
    }
}
