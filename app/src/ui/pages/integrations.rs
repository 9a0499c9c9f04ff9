//! The Integrations tab: connecting HR and identity systems (coming next).

use crate::ui::components::{AppShell, ContactsTabs};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn IntegrationsPage() -> impl IntoView {
    view! {
        <Title text="Integrations · Muster"/>
        <AppShell>
            <div class="page-head">
                <h1>"Contacts"</h1>
            </div>
            <ContactsTabs integrations=true/>
            <div class="empty-state card">
                <h2>"No integrations connected"</h2>
                <p>
                    "Connect Google Workspace, Microsoft Entra ID, Okta, Workday or a SCIM 2.0 directory to keep your contacts in sync automatically. Connectors are on their way in the next release."
                </p>
            </div>
        </AppShell>
    }
}
