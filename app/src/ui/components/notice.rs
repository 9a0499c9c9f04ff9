//! How an error reaches the user outside a form field.

use crate::model::AppError;
use leptos::prelude::*;

#[component]
pub fn ErrorNotice(error: AppError) -> impl IntoView {
    match error {
        AppError::Unauthenticated => view! {
            <div class="notice error" role="alert">
                "Your session has ended. "
                <a href="/login" rel="external">"Sign in again"</a>
                "."
            </div>
        }
        .into_any(),
        AppError::NotFound => view! {
            <div class="notice" role="alert">
                "This contact does not exist, or it was deleted. "
                <a href="/contacts">"Back to contacts"</a>
            </div>
        }
        .into_any(),
        other => {
            view! { <div class="notice error" role="alert">{other.to_string()}</div> }.into_any()
        }
    }
}
