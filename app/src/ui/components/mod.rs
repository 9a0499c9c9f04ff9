//! Building blocks shared by the pages.

mod audit;
mod confirm;
mod contact_form;
mod copy;
mod field;
mod notice;
mod progress;
mod recipients;
mod shell;

pub use audit::AuditTrail;
pub use confirm::ConfirmDialog;
pub use contact_form::ContactForm;
pub use copy::CopyButton;
pub use field::{field_error, Field};
pub use notice::ErrorNotice;
pub use progress::ProgressBar;
pub use recipients::RecipientsPicker;
pub use shell::{AppShell, ContactsTabs};

use leptos::prelude::*;

/// The eye icon of the View action.
#[component]
pub fn EyeIcon() -> impl IntoView {
    view! {
        <svg class="icon" viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" focusable="false">
            <path
                fill="none"
                stroke="currentColor"
                stroke-width="2"
                stroke-linecap="round"
                stroke-linejoin="round"
                d="M1 12s4-8 11-8 11 8 11 8-4 8-11 8-11-8-11-8z"
            ></path>
            <circle fill="none" stroke="currentColor" stroke-width="2" cx="12" cy="12" r="3"></circle>
        </svg>
    }
}

/// A spinner with a text for screen readers.
#[component]
pub fn Loading(#[prop(default = "Loading…")] label: &'static str) -> impl IntoView {
    view! {
        <div class="loading" role="status">
            <span class="spinner" aria-hidden="true"></span>
            <span>{label}</span>
        </div>
    }
}
