//! Sign in.

use crate::api::auth::Login;
use crate::model::AppError;
use crate::ui::components::{field_error, Field};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn LoginPage() -> impl IntoView {
    let action = ServerAction::<Login>::new();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let result = move || action.value().get();
    let message = move || match result() {
        Some(Err(AppError::Invalid(_))) | None | Some(Ok(())) => None,
        Some(Err(e)) => Some(e.to_string()),
    };
    view! {
        <Title text="Sign in · Muster"/>
        <main class="auth-page">
            <div class="card auth-card">
                <div class="brand big">
                    <span class="brand-mark" aria-hidden="true">"M"</span>
                    "Muster"
                </div>
                <h1>"Sign in"</h1>
                <ActionForm action=action>
                    <div class="notice error" role="alert" hidden=move || message().is_none()>
                        {message}
                    </div>
                    <input type="hidden" name="next" prop:value=next value=next/>
                    <Field label="Email" name="email" kind="email" value=RwSignal::new(String::new()) error=field_error(result, "email") required=true autocomplete="username"/>
                    <Field label="Password" name="password" kind="password" value=RwSignal::new(String::new()) error=field_error(result, "password") required=true autocomplete="current-password"/>
                    <button type="submit" class="btn primary block" disabled=move || action.pending().get()>
                        {move || if action.pending().get() { "Signing in…" } else { "Sign in" }}
                    </button>
                </ActionForm>
            </div>
        </main>
    }
}
