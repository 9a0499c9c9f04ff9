//! Add Contact.

use crate::api::contacts::{contact_facets, CreateContact};
use crate::model::ContactDraft;
use crate::ui::components::{AppShell, ContactForm, Loading};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_navigate;

#[component]
pub fn NewContactPage() -> impl IntoView {
    let facets = Resource::new_serde_wb(|| (), |_| contact_facets());
    let action = ServerAction::<CreateContact>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(_)) = action.value().get() {
            navigate("/contacts", Default::default());
        }
    });
    let error = Signal::derive(move || action.value().get().and_then(|r| r.err()));
    view! {
        <Title text="Add contact · Muster"/>
        <AppShell>
            <nav class="breadcrumbs" aria-label="Breadcrumb">
                <a href="/contacts">"Contacts"</a>
                <span aria-hidden="true">" / "</span>
                <span aria-current="page">"Add contact"</span>
            </nav>
            <div class="page-head">
                <h1>"Add contact"</h1>
            </div>
            <Suspense fallback=|| view! { <Loading/> }>
                {move || Suspend::new(async move {
                    let facets = facets.await.unwrap_or_default();
                    view! {
                        <ContactForm
                            initial=ContactDraft::default()
                            facets
                            error
                            pending=action.pending()
                            on_submit=Callback::new(move |draft| {
                                action.dispatch(CreateContact { draft });
                            })
                            submit_label="Save"
                        >
                            <a class="btn" href="/contacts">"Cancel"</a>
                        </ContactForm>
                    }
                })}
            </Suspense>
        </AppShell>
    }
}
