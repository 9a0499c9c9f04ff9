//! One module per page.

mod account;
mod contact_detail;
mod contacts;
mod imports;
mod incidents;
mod integrations;
mod login;
mod new_contact;
mod respond;
mod scenarios;
mod settings;
mod setup;
mod upload;

pub use account::AccountPage;
pub use contact_detail::ContactDetailPage;
pub use contacts::ContactsPage;
pub use imports::{ImportJobPage, ImportsPage};
pub use incidents::{IncidentPage, IncidentsPage, LaunchPage};
pub use integrations::IntegrationsPage;
pub use login::LoginPage;
pub use new_contact::NewContactPage;
pub use respond::ResponsePage;
pub use scenarios::{ScenarioPage, ScenariosPage};
pub use settings::SettingsPage;
pub use setup::SetupPage;
pub use upload::UploadPage;

use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
            resp.set_status(http::StatusCode::NOT_FOUND);
        }
    }
    view! {
        <Title text="Page not found · Muster"/>
        <main class="auth-page">
            <div class="card auth-card">
                <h1>"Page not found"</h1>
                <p>"There is nothing at this address."</p>
                <a class="btn primary" href="/contacts">"Go to contacts"</a>
            </div>
        </main>
    }
}
