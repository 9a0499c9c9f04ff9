//! The contact directory.

use crate::model::{AppError, Contact, ContactDraft, ContactPage, ContactQuery, Facets};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::backend::{directory, state::current_user, AppState};

#[server(endpoint = "list_contacts")]
pub async fn list_contacts(query: ContactQuery) -> Result<ContactPage, AppError> {
    crate::api::with_status(
        async move {
            let user = current_user().await?;
            let state = AppState::from_context()?;
            directory::search(&state.db, user.org, &query).await
        }
        .await,
    )
}

#[server(endpoint = "contact_facets")]
pub async fn contact_facets() -> Result<Facets, AppError> {
    crate::api::with_status(
        async move {
            let user = current_user().await?;
            let state = AppState::from_context()?;
            directory::facets(&state.db, user.org).await
        }
        .await,
    )
}

#[server(endpoint = "get_contact")]
pub async fn get_contact(id: i64) -> Result<Contact, AppError> {
    crate::api::with_status(
        async move {
            let user = current_user().await?;
            let state = AppState::from_context()?;
            directory::get(&state.db, user.org, id).await
        }
        .await,
    )
}

#[server(endpoint = "create_contact")]
pub async fn create_contact(draft: ContactDraft) -> Result<Contact, AppError> {
    crate::api::with_status(
        async move {
            let user = current_user().await?;
            let state = AppState::from_context()?;
            directory::create(
                &state.db,
                user.org,
                &user.default_region,
                &draft,
                directory::SOURCE_MANUAL,
            )
            .await
        }
        .await,
    )
}

#[server(endpoint = "update_contact")]
pub async fn update_contact(
    id: i64,
    version: i64,
    draft: ContactDraft,
) -> Result<Contact, AppError> {
    crate::api::with_status(
        async move {
            let user = current_user().await?;
            let state = AppState::from_context()?;
            directory::update(
                &state.db,
                user.org,
                &user.default_region,
                id,
                version,
                &draft,
            )
            .await
        }
        .await,
    )
}

#[server(endpoint = "delete_contact")]
pub async fn delete_contact(id: i64) -> Result<(), AppError> {
    crate::api::with_status(
        async move {
            let user = current_user().await?;
            let state = AppState::from_context()?;
            directory::delete(&state.db, user.org, id).await
        }
        .await,
    )
}
