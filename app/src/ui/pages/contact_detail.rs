//! One contact: review, edit, delete.

use crate::api::contacts::{contact_facets, get_contact, DeleteContact, UpdateContact};
use crate::model::{Contact, ContactDraft, Facets};
use crate::ui::components::{AppShell, ConfirmDialog, ContactForm, ErrorNotice, Loading};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map};

#[component]
pub fn ContactDetailPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| {
        params
            .read()
            .get("id")
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0)
    });
    let contact = Resource::new_serde_wb(move || id.get(), get_contact);
    let facets = Resource::new_serde_wb(|| (), |_| contact_facets());
    view! {
        <Title text="Contact · Muster"/>
        <AppShell>
            <nav class="breadcrumbs" aria-label="Breadcrumb">
                <a href="/contacts">"Contacts"</a>
                <span aria-hidden="true">" / "</span>
                <span aria-current="page">"Contact details"</span>
            </nav>
            <Suspense fallback=|| view! { <Loading/> }>
                {move || Suspend::new(async move {
                    let facets = facets.await.unwrap_or_default();
                    match contact.await {
                        Ok(c) => view! { <ContactEditor contact=c facets/> }.into_any(),
                        Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                    }
                })}
            </Suspense>
        </AppShell>
    }
}

#[component]
fn ContactEditor(contact: Contact, facets: Facets) -> impl IntoView {
    let update = ServerAction::<UpdateContact>::new();
    let delete = ServerAction::<DeleteContact>::new();
    let version = RwSignal::new(contact.version);
    let name = RwSignal::new(format!("{} {}", contact.first_name, contact.last_name));
    let saved = RwSignal::new(false);
    let confirming = RwSignal::new(false);
    let id = contact.id;
    Effect::new(move |_| {
        if let Some(Ok(c)) = update.value().get() {
            version.set(c.version);
            name.set(format!("{} {}", c.first_name, c.last_name));
            saved.set(true);
        }
    });
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(())) = delete.value().get() {
            navigate("/contacts", Default::default());
        }
    });
    let error = Signal::derive(move || update.value().get().and_then(|r| r.err()));
    let delete_error = move || delete.value().get().and_then(|r| r.err());
    let meta = format!(
        "Source: {} · Added {} · Last changed {}",
        contact.source,
        contact.created_at.format("%Y-%m-%d %H:%M UTC"),
        contact.updated_at.format("%Y-%m-%d %H:%M UTC"),
    );
    view! {
        <div class="page-head">
            <h1>{move || name.get()}</h1>
        </div>
        <p class="meta">{meta}</p>
        {contact.synced.then(|| {
            let source = contact.source.clone();
            view! {
                <p class="notice info" data-testid="synced-notice">
                    "This contact comes from " {source.clone()} ". Each sync writes its name, email, phone, department, role and location from "
                    {source} " again: change them there to keep a change."
                </p>
            }
        })}
        {contact.provisioned.then(|| {
            let source = contact.source.clone();
            view! {
                <p class="notice info" data-testid="provisioned-notice">
                    {source.clone()} " provisions this contact over SCIM: its name and email are set there and cannot be changed here. "
                    "Other fields can be edited; the next update from " {source} " writes them again."
                </p>
            }
        })}
        {contact.deactivated.then(|| view! {
            <p class="notice warning narrow" data-testid="deactivated-notice">
                <span class="badge bad">"Deactivated"</span>
                " Deactivated by its identity provider: kept in the directory, but never a recipient until it is reactivated there."
            </p>
        })}
        <div class="notice success" role="status" hidden=move || !saved.get()>
            "Changes saved."
        </div>
        {move || delete_error().map(|e| view! { <ErrorNotice error=e/> })}
        <ContactForm
            initial=ContactDraft::from(&contact)
            facets
            error
            pending=update.pending()
            on_submit=Callback::new(move |draft| {
                saved.set(false);
                update.dispatch(UpdateContact { id, version: version.get_untracked(), draft });
            })
            submit_label="Save changes"
            synced_groups=(contact.synced_groups.clone(), contact.source.clone())
            locked=contact.provisioned
        >
            <button type="button" class="btn danger" on:click=move |_| confirming.set(true)>
                "Delete contact"
            </button>
        </ContactForm>
        <ConfirmDialog
            open=confirming
            title=Signal::derive(move || format!("Delete {}?", name.get()))
            message="The contact is removed from the directory and from every group. This cannot be undone."
            action="Delete"
            pending=delete.pending()
            on_confirm=Callback::new(move |()| {
                delete.dispatch(DeleteContact { id });
            })
        />
    }
}
