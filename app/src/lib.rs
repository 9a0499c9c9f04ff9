//! Muster: a self-hosted contact directory for incident notification.
//! This crate is the program; `frontend` and `server` are its two hosts.

#![recursion_limit = "256"]
pub mod api;
pub mod model;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod backend;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet};
use leptos_router::components::{Redirect, Route, Router, Routes};
use leptos_router::{path, SsrMode};
use ui::pages::{
    AccountPage, ContactDetailPage, ContactsPage, ImportJobPage, ImportsPage, IncidentPage,
    IncidentsPage, IntegrationsPage, LaunchPage, LoginPage, NewContactPage, NotFound, ResponsePage,
    ScenarioPage, ScenariosPage, SettingsPage, SetupPage, UploadPage,
};

/// The HTML document the server renders around the app.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    backend::web::set_page_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" type="image/svg+xml" href="/favicon.svg"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Effects run only in the browser, once the page is interactive: mark it,
    // so that tests (and styles) can tell a hydrated page from its HTML.
    Effect::new(|_| {
        if let Some(root) = document().document_element() {
            let _ = root.set_attribute("data-hydrated", "true");
        }
    });
    view! {
        <Stylesheet id="leptos" href="/pkg/muster.css"/>
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/") view=|| view! { <Redirect path="/contacts"/> }/>
                <Route path=path!("/setup") view=SetupPage/>
                <Route path=path!("/login") view=LoginPage/>
                <Route path=path!("/account") view=AccountPage/>
                <Route path=path!("/contacts") view=ContactsPage ssr=SsrMode::Async/>
                <Route path=path!("/contacts/integrations") view=IntegrationsPage/>
                <Route path=path!("/contacts/new") view=NewContactPage ssr=SsrMode::Async/>
                <Route path=path!("/contacts/upload") view=UploadPage/>
                <Route path=path!("/contacts/imports") view=ImportsPage ssr=SsrMode::Async/>
                <Route path=path!("/contacts/imports/:id") view=ImportJobPage ssr=SsrMode::Async/>
                <Route path=path!("/contacts/:id") view=ContactDetailPage ssr=SsrMode::Async/>
                <Route path=path!("/incidents") view=IncidentsPage ssr=SsrMode::Async/>
                <Route path=path!("/incidents/new") view=LaunchPage/>
                <Route path=path!("/incidents/:id") view=IncidentPage/>
                <Route path=path!("/respond/:token") view=ResponsePage ssr=SsrMode::Async/>
                <Route path=path!("/scenarios") view=ScenariosPage ssr=SsrMode::Async/>
                <Route path=path!("/scenarios/:id") view=ScenarioPage/>
                <Route path=path!("/settings") view=SettingsPage/>
            </Routes>
        </Router>
    }
}
