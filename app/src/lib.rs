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
use leptos_router::{lazy_route, path, Lazy, LazyRoute, SsrMode};
use ui::pages::{
    AccountPage, ContactDetailPage, ContactsPage, ImportJobPage, ImportsPage, IncidentPage,
    IncidentsPage, IntegrationsPage, LaunchPage, LoginPage, NewContactPage, NotFound, ResponsePage,
    ScenarioPage, ScenariosPage, SettingsPage, SetupPage, UploadPage,
};

/// A page whose code the browser fetches when it is first opened (built with
/// `cargo leptos ... --split`, each is a WebAssembly file of its own): every
/// page but the Contacts list, which is the first load.
macro_rules! lazy_page {
    ($($route:ident => $page:ident),* $(,)?) => {$(
        struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                Self
            }

            fn view(_this: Self) -> AnyView {
                mark_hydrated();
                view! { <$page/> }.into_any()
            }
        }
    )*};
}

lazy_page! {
    SetupRoute => SetupPage,
    LoginRoute => LoginPage,
    AccountRoute => AccountPage,
    IntegrationsRoute => IntegrationsPage,
    NewContactRoute => NewContactPage,
    UploadRoute => UploadPage,
    ImportsRoute => ImportsPage,
    ImportJobRoute => ImportJobPage,
    ContactDetailRoute => ContactDetailPage,
    IncidentsRoute => IncidentsPage,
    LaunchRoute => LaunchPage,
    IncidentRoute => IncidentPage,
    ResponseRoute => ResponsePage,
    ScenariosRoute => ScenariosPage,
    ScenarioRoute => ScenarioPage,
    SettingsRoute => SettingsPage,
}

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

/// Mark the document once the route's page is interactive, so that tests
/// (and styles) can tell a hydrated page from its HTML. Called in each
/// route's view: effects run only in the browser, after the view they are
/// made in is hydrated, and a page fetched apart (a lazy route) is hydrated
/// after the rest of the app.
fn mark_hydrated() {
    Effect::new(|_| {
        if let Some(root) = document().document_element() {
            let _ = root.set_attribute("data-hydrated", "true");
        }
    });
}

/// The router. Every page that loads data is rendered whole on the server
/// (`SsrMode::Async`), not streamed. Streamed, a page whose `Suspense` builds
/// components with resources of their own after an `await` (the scenario
/// editor) was now and then hydrated with other values than its HTML had: an
/// unrecoverable hydration error in the recipients' reach, which stopped the
/// page (the end-to-end scenario test failed so 2 times in 12), while the
/// server logged "AppState missing from context" for resources whose owner was
/// gone, that is, the `Suspense` had run twice. Rendered whole: 0 in 24.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/muster.css"/>
        <Router>
            <Routes fallback=|| {
                mark_hydrated();
                view! { <NotFound/> }
            }>
                <Route path=path!("/") view=|| view! { <Redirect path="/contacts"/> }/>
                <Route path=path!("/setup") view={Lazy::<SetupRoute>::new()} ssr=SsrMode::Async/>
                <Route path=path!("/login") view={Lazy::<LoginRoute>::new()} ssr=SsrMode::Async/>
                <Route path=path!("/account") view={Lazy::<AccountRoute>::new()} ssr=SsrMode::Async/>
                <Route
                    path=path!("/contacts")
                    view=|| {
                        mark_hydrated();
                        view! { <ContactsPage/> }
                    }
                    ssr=SsrMode::Async
                />
                <Route path=path!("/contacts/integrations") view={Lazy::<IntegrationsRoute>::new()} ssr=SsrMode::Async/>
                <Route
                    path=path!("/contacts/new")
                    view={Lazy::<NewContactRoute>::new()}
                    ssr=SsrMode::Async
                />
                <Route path=path!("/contacts/upload") view={Lazy::<UploadRoute>::new()} ssr=SsrMode::Async/>
                <Route
                    path=path!("/contacts/imports")
                    view={Lazy::<ImportsRoute>::new()}
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/contacts/imports/:id")
                    view={Lazy::<ImportJobRoute>::new()}
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/contacts/:id")
                    view={Lazy::<ContactDetailRoute>::new()}
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/incidents")
                    view={Lazy::<IncidentsRoute>::new()}
                    ssr=SsrMode::Async
                />
                <Route path=path!("/incidents/new") view={Lazy::<LaunchRoute>::new()} ssr=SsrMode::Async/>
                <Route path=path!("/incidents/:id") view={Lazy::<IncidentRoute>::new()} ssr=SsrMode::Async/>
                <Route
                    path=path!("/respond/:token")
                    view={Lazy::<ResponseRoute>::new()}
                    ssr=SsrMode::Async
                />
                <Route
                    path=path!("/scenarios")
                    view={Lazy::<ScenariosRoute>::new()}
                    ssr=SsrMode::Async
                />
                <Route path=path!("/scenarios/:id") view={Lazy::<ScenarioRoute>::new()} ssr=SsrMode::Async/>
                <Route path=path!("/settings") view={Lazy::<SettingsRoute>::new()} ssr=SsrMode::Async/>
            </Routes>
        </Router>
    }
}
