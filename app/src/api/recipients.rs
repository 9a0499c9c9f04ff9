//! The Recipients selector's server functions: the groups it offers, and
//! what a selection comes to (shown live while it is built).

use crate::model::BrowserJson;
use crate::model::{
    AppError, PickedContact, Reach, ReachFilter, RecipientGroup, RecipientPage, Recipients,
};
use leptos::prelude::*;

#[cfg(feature = "ssr")]
use crate::backend::recipients;

#[server(endpoint = "recipient_groups", output = BrowserJson)]
pub async fn recipient_groups() -> Result<Vec<RecipientGroup>, AppError> {
    crate::api::as_admin("recipient_groups", |state, user| async move {
        recipients::groups(&state.db, user.org).await
    })
    .await
}

/// How many people `selection` reaches now, each once, and how many of them
/// have no email or no mobile phone.
#[server(endpoint = "recipient_reach", input = BrowserJson, output = BrowserJson)]
pub async fn recipient_reach(selection: Recipients) -> Result<Reach, AppError> {
    crate::api::as_admin("recipient_reach", |state, user| async move {
        Ok(recipients::resolve(&state.db, user.org, &selection)
            .await?
            .reach())
    })
    .await
}

/// A page of the people `selection` reaches now (all, or those who cannot
/// be emailed or texted), each with why.
#[server(endpoint = "recipient_people", input = BrowserJson, output = BrowserJson)]
pub async fn recipient_people(
    selection: Recipients,
    filter: ReachFilter,
    offset: usize,
) -> Result<RecipientPage, AppError> {
    crate::api::as_admin("recipient_people", |state, user| async move {
        recipients::people(&state.db, user.org, &selection, filter, offset).await
    })
    .await
}

/// The Sources a rule can select by.
#[server(endpoint = "recipient_sources", output = BrowserJson)]
pub async fn recipient_sources() -> Result<Vec<String>, AppError> {
    crate::api::as_admin("recipient_sources", |state, user| async move {
        recipients::sources(&state.db, user.org).await
    })
    .await
}

/// The people of `ids` (picked by name), as the selector shows them.
#[server(endpoint = "recipient_contacts", input = BrowserJson, output = BrowserJson)]
pub async fn recipient_contacts(ids: Vec<i64>) -> Result<Vec<PickedContact>, AppError> {
    crate::api::as_admin("recipient_contacts", |state, user| async move {
        if ids.len() > Recipients::MAX_CONTACTS {
            return Err(AppError::BadRequest("Too many people at once.".into()));
        }
        recipients::picked(&state.db, user.org, &ids).await
    })
    .await
}
