//! The contact directory.

use crate::model::BrowserJson;
use crate::model::{AppError, Contact, ContactDraft, ContactPage, ContactQuery, Facets};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::backend::directory;

#[server(endpoint = "list_contacts", output = BrowserJson)]
pub async fn list_contacts(query: ContactQuery) -> Result<ContactPage, AppError> {
    crate::api::as_admin("list_contacts", |state, user| async move {
        directory::search(&state.db, user.org, &query).await
    })
    .await
}

#[server(endpoint = "contact_facets", output = BrowserJson)]
pub async fn contact_facets() -> Result<Facets, AppError> {
    crate::api::as_admin("contact_facets", |state, user| async move {
        directory::facets(&state.db, user.org).await
    })
    .await
}

#[server(endpoint = "get_contact", output = BrowserJson)]
pub async fn get_contact(id: i64) -> Result<Contact, AppError> {
    crate::api::as_admin("get_contact", |state, user| async move {
        directory::get(&state.db, user.org, id).await
    })
    .await
}

#[server(endpoint = "create_contact", output = BrowserJson)]
pub async fn create_contact(draft: ContactDraft) -> Result<Contact, AppError> {
    crate::api::as_admin("create_contact", |state, user| async move {
        directory::create(
            &state.db,
            user.org,
            &user.default_region,
            &draft,
            directory::SOURCE_MANUAL,
        )
        .await
    })
    .await
}

#[server(endpoint = "update_contact", output = BrowserJson)]
pub async fn update_contact(
    id: i64,
    version: i64,
    draft: ContactDraft,
) -> Result<Contact, AppError> {
    crate::api::as_admin("update_contact", |state, user| async move {
        directory::update(
            &state.db,
            user.org,
            &user.default_region,
            id,
            version,
            &draft,
        )
        .await
    })
    .await
}

#[server(endpoint = "delete_contact", output = BrowserJson)]
pub async fn delete_contact(id: i64) -> Result<(), AppError> {
    crate::api::as_admin("delete_contact", |state, user| async move {
        directory::delete(&state.db, user.org, id).await
    })
    .await
}
