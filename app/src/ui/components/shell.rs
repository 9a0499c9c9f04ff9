//! The frame around every signed-in page: navigation, organisation and sign-out.

use crate::api::auth::{logout, whoami, Logout};
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_router::hooks::use_location;

#[component]
pub fn AppShell(children: Children) -> impl IntoView {
    let me = Resource::new_serde_wb(|| (), |_| whoami());
    // A plain action, not a `ServerAction`: signing out has no error to
    // show, and a `ServerAction`'s reading of errors from the URL (for forms
    // posted without JavaScript) would weigh on every page's first load.
    let sign_out = Action::new(|_: &()| logout());
    let location = use_location();
    let on = move |prefix: &'static str| {
        move || {
            location
                .pathname
                .get()
                .starts_with(prefix)
                .then_some("page")
        }
    };
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <div class="layout">
            <header class="topbar">
                <a class="brand" href="/contacts">
                    <span class="brand-mark" aria-hidden="true">"M"</span>
                    "Muster"
                </a>
                <div class="topbar-user">
                    <Suspense fallback=|| ()>
                        {move || Suspend::new(async move {
                            me.await
                                .ok()
                                .map(|m| {
                                    view! {
                                        <span class="org-name">{m.org_name}</span>
                                        <a class="user-email" href="/account" title="Your account">{m.email}</a>
                                    }
                                })
                        })}
                    </Suspense>
                    <form
                        method="post"
                        action=Logout::url()
                        class="inline"
                        on:submit=move |ev| {
                            ev.prevent_default();
                            sign_out.dispatch(());
                        }
                    >
                        <button type="submit" class="btn ghost">"Sign out"</button>
                    </form>
                </div>
            </header>
            <nav class="sidebar" aria-label="Main">
                <ul>
                    <li>
                        <a href="/contacts" aria-current=on("/contacts")>
                            "Contacts"
                        </a>
                    </li>
                    <li>
                        <a href="/incidents" aria-current=on("/incidents")>
                            "Incidents"
                        </a>
                    </li>
                    <li>
                        <a href="/scenarios" aria-current=on("/scenarios")>
                            "Scenarios"
                        </a>
                    </li>
                    <li>
                        <a href="/settings" aria-current=on("/settings")>
                            "Settings"
                        </a>
                    </li>
                </ul>
            </nav>
            <main id="main" class="content" tabindex="-1">
                {children()}
            </main>
        </div>
    }
}

/// The All Contacts / Integrations tabs under the page title.
#[component]
pub fn ContactsTabs(integrations: bool) -> impl IntoView {
    view! {
        <nav class="tabs" aria-label="Contacts views">
            <a href="/contacts" aria-current=(!integrations).then_some("page")>
                "All Contacts"
            </a>
            <a href="/contacts/integrations" aria-current=integrations.then_some("page")>
                "Integrations"
            </a>
        </nav>
    }
}
