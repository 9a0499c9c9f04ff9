//! Provisioning (SCIM): the identity providers that push users and groups into
//! Muster, the SCIM base URL, and each provider's tokens (add, regenerate,
//! revoke, each on its own), and removing a provider. A new token is shown
//! once, to be copied.

use super::when;
use crate::api::scim::{
    add_scim_token, create_scim_source, get_scim_overview, regenerate_scim_token,
    remove_scim_source, revoke_scim_token, update_scim_source,
};
use crate::model::{
    AppError, Expiry, IssuedScimToken, ScimOverview, ScimScope, ScimSource, ScimSourceForm,
    ScimToken, ScimTokenForm,
};
use crate::ui::components::{field_error, CopyButton, ErrorNotice, Field, Loading};
use leptos::prelude::*;
use leptos::task::spawn_local;

#[component]
pub(super) fn Provisioning() -> impl IntoView {
    let initial = Resource::new_serde_wb(|| (), |_| get_scim_overview());
    view! {
        <section class="section" aria-labelledby="scim-title">
            <h2 id="scim-title">"Provisioning (SCIM)"</h2>
            <p class="meta-line">
                "Identity providers such as Microsoft Entra ID and Okta can push users and groups into Muster over SCIM 2.0, and deactivate people who leave. Add the identity provider here, then paste the SCIM base URL and its token into its provisioning settings."
            </p>
            <Suspense fallback=|| view! { <Loading label="Loading provisioning…"/> }>
                {move || Suspend::new(async move {
                    match initial.await {
                        Ok(o) => view! { <ProvisioningPanel initial=o/> }.into_any(),
                        Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn ProvisioningPanel(initial: ScimOverview) -> impl IntoView {
    let base_url = initial.base_url.clone();
    let sources = RwSignal::new(initial.sources);
    let today = RwSignal::new(initial.today);
    let issued = RwSignal::new(None::<IssuedScimToken>);
    let adding = RwSignal::new(false);
    let reload = move || {
        spawn_local(async move {
            if let Ok(o) = get_scim_overview().await {
                today.set(o.today);
                sources.set(o.sources);
            }
        })
    };
    let on_issued = Callback::new(move |t: IssuedScimToken| {
        issued.set(Some(t));
        reload();
    });
    view! {
        <div class="card panel scim-panel">
            <div class="copy-row">
                <span class="copy-label" id="scim-base-label">"SCIM base URL"</span>
                <code data-testid="scim-base-url" aria-labelledby="scim-base-label">{base_url.clone()}</code>
                <CopyButton text=base_url what="the SCIM base URL"/>
            </div>
            {move || issued.get().map(|t| view! { <IssuedToken issued=t on_done=Callback::new(move |_| issued.set(None))/> })}
            {move || {
                let list = sources.get();
                if list.is_empty() {
                    view! {
                        <p class="muted" data-testid="no-scim-sources">
                            "No identity provider pushes into Muster yet."
                        </p>
                    }
                    .into_any()
                } else {
                    list.into_iter()
                        .map(|s| view! { <SourceCard source=s today=today.get_untracked() on_issued on_changed=Callback::new(move |_| reload())/> })
                        .collect_view()
                        .into_any()
                }
            }}
            <Show
                when=move || adding.get()
                fallback=move || view! {
                    <div class="form-actions">
                        <button type="button" class="btn primary" on:click=move |_| adding.set(true)>
                            "Add identity provider"
                        </button>
                    </div>
                }
            >
                <AddSource
                    on_close=Callback::new(move |_| adding.set(false))
                    on_added=Callback::new(move |t: IssuedScimToken| {
                        adding.set(false);
                        on_issued.run(t);
                    })
                />
            </Show>
        </div>
    }
}

/// A token just made: its value, once, with Copy.
#[component]
fn IssuedToken(issued: IssuedScimToken, on_done: Callback<()>) -> impl IntoView {
    let secret = issued.secret.clone();
    view! {
        <div class="notice success issued" role="status" data-testid="scim-issued-token">
            <p>
                <strong>{format!("Token “{}” is ready. ", issued.token.name)}</strong>
                "Copy it into your identity provider now: Muster keeps only a fingerprint of it and cannot show it again."
            </p>
            <div class="copy-row">
                <label class="copy-label" for="scim-new-token">"Token"</label>
                <input id="scim-new-token" class="token-value" readonly value=secret.clone() data-testid="scim-token-value"/>
                <CopyButton text=secret what="the token"/>
                <button type="button" class="btn small" on:click=move |_| on_done.run(())>"Done"</button>
            </div>
        </div>
    }
}

fn scope_select(value: RwSignal<ScimScope>, id: &'static str) -> impl IntoView {
    view! {
        <div class="field">
            <label for=id>"Contacts it manages"</label>
            <select
                id=id
                on:change=move |ev| {
                    if let Some(s) = ScimScope::parse(&event_target_value(&ev)) {
                        value.set(s);
                    }
                }
            >
                {ScimScope::ALL
                    .into_iter()
                    .map(|s| view! { <option value=s.key() selected=move || value.get() == s>{s.label()}</option> })
                    .collect_view()}
            </select>
        </div>
    }
}

fn keep_deleted_box(value: RwSignal<bool>, id: &'static str) -> impl IntoView {
    view! {
        <div class="field checkbox">
            <label>
                <input
                    type="checkbox"
                    id=id
                    prop:checked=move || value.get()
                    on:change=move |ev| value.set(event_target_checked(&ev))
                />
                " When it deletes a user, keep the contact as Deactivated"
            </label>
        </div>
    }
}

#[component]
fn AddSource(on_close: Callback<()>, on_added: Callback<IssuedScimToken>) -> impl IntoView {
    let name = RwSignal::new("Entra ID (SCIM)".to_string());
    let scope = RwSignal::new(ScimScope::Own);
    let keep_deleted = RwSignal::new(false);
    let token_name = RwSignal::new("Token 1".to_string());
    let expires_on = RwSignal::new(String::new());
    let result = RwSignal::new(None::<Result<(), AppError>>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        result.set(None);
        let form = ScimSourceForm {
            name: name.get_untracked(),
            scope: scope.get_untracked(),
            keep_deleted: keep_deleted.get_untracked(),
        };
        let token = ScimTokenForm {
            name: token_name.get_untracked(),
            expires_on: expires_on.get_untracked(),
        };
        spawn_local(async move {
            let made = create_scim_source(form, token).await;
            // Before `on_added`, which closes this form.
            busy.set(false);
            match made {
                Ok(t) => on_added.run(t),
                Err(e) => result.set(Some(Err(e))),
            }
        });
    };
    let error = move |f| field_error(move || result.get(), f);
    view! {
        <form class="scim-form" on:submit=submit aria-labelledby="scim-add-title">
            <h3 id="scim-add-title">"Add identity provider"</h3>
            <div class="grid-2">
                <Field label="Name" name="scim_name" value=name error=error("name") required=true
                    hint="The Source its contacts show, for example Entra ID (SCIM) or Okta (SCIM)."/>
                {scope_select(scope, "scim-scope")}
                <Field label="Token name" name="scim_token_name" value=token_name error=error("token_name") required=true/>
                <Field label="Token expires on" name="scim_expires_on" kind="date" value=expires_on error=error("expires_on")
                    hint="Optional. Muster warns 30 days before."/>
            </div>
            {keep_deleted_box(keep_deleted, "scim-keep-deleted")}
            {move || result.get().and_then(|r| r.err()).filter(|e| !matches!(e, AppError::Invalid(_))).map(|e| view! { <ErrorNotice error=e/> })}
            <div class="form-actions">
                <button type="submit" class="btn primary" disabled=move || busy.get()>
                    {move || if busy.get() { "Adding…" } else { "Add and make a token" }}
                </button>
                <button type="button" class="btn" on:click=move |_| on_close.run(())>"Cancel"</button>
            </div>
        </form>
    }
}

/// What a token's row says of its state.
fn token_state(t: &ScimToken, today: chrono::NaiveDate) -> (&'static str, String) {
    if t.revoked_at.is_some() {
        return ("badge", "Revoked".into());
    }
    if !t.is_live(today) {
        return ("badge bad", "Expired".into());
    }
    match t.expiry(today) {
        Some(Expiry::Soon(0)) => ("badge warn", "Expires today".into()),
        Some(Expiry::Soon(d)) => ("badge warn", format!("Expires in {d} days")),
        _ => ("badge ok", "Active".into()),
    }
}

#[component]
fn SourceCard(
    source: ScimSource,
    today: chrono::NaiveDate,
    on_issued: Callback<IssuedScimToken>,
    on_changed: Callback<()>,
) -> impl IntoView {
    let id = source.id;
    let editing = RwSignal::new(false);
    let adding_token = RwSignal::new(false);
    let title_id = format!("scim-source-{id}");
    let labelled = title_id.clone();
    let stored = StoredValue::new(source.clone());
    let removing = RwSignal::new(false);
    let remove_error = RwSignal::new(None::<AppError>);
    let remove = move |_| {
        spawn_local(async move {
            match remove_scim_source(id).await {
                Ok(_) => on_changed.run(()),
                Err(e) => remove_error.set(Some(e)),
            }
        });
    };
    let expiring = source
        .tokens
        .iter()
        .find_map(|t| t.expiry(today).map(|e| (t.name.clone(), e)));
    view! {
        <article class="card scim-source" aria-labelledby=labelled data-testid="scim-source">
            <header class="integration-head">
                <h3 id=title_id>{source.name.clone()}</h3>
                <span class="meta-line">{"Added "}{when(source.created_at)}</span>
            </header>
            <p class="meta-line" data-testid="scim-source-counts">
                <strong>{source.contacts}</strong>
                {if source.contacts == 1 { " contact, " } else { " contacts, " }}
                <strong>{source.groups}</strong>
                {if source.groups == 1 { " group. " } else { " groups. " }}
                {source.scope.label()}
                {if source.keep_deleted { "; a user it deletes stays as Deactivated." } else { "; a user it deletes is deleted." }}
            </p>
            {expiring.map(|(name, e)| {
                let text = match e {
                    Expiry::Soon(0) => format!("Token “{name}” expires today: add a new one and put it in the identity provider."),
                    Expiry::Soon(d) => format!("Token “{name}” expires in {d} days: add a new one and put it in the identity provider before then."),
                    Expiry::Expired(d) => format!("Token “{name}” expired {d} days ago: the identity provider's requests are refused until it has a new one."),
                };
                view! { <p class="notice warning" role="status" data-testid="scim-token-expiry">{text}</p> }
            })}
            <table class="contacts tokens">
                <caption class="sr-only">{format!("Tokens of {}", source.name)}</caption>
                <thead>
                    <tr>
                        <th scope="col">"Token"</th>
                        <th scope="col">"Created"</th>
                        <th scope="col">"Last used"</th>
                        <th scope="col">"Expires"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col"><span class="sr-only">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>
                    {source
                        .tokens
                        .into_iter()
                        .map(|t| view! { <TokenRow token=t today on_issued on_changed/> })
                        .collect_view()}
                </tbody>
            </table>
            <div class="form-actions">
                <button type="button" class="btn" on:click=move |_| adding_token.set(true)>"Add token"</button>
                <button type="button" class="btn" on:click=move |_| editing.set(true)>"Edit settings"</button>
                <button type="button" class="btn danger" on:click=move |_| removing.set(true)>"Remove identity provider"</button>
            </div>
            <Show when=move || removing.get()>
                <div class="notice warning" role="group" aria-label="Confirm removal" data-testid="scim-remove-confirm">
                    <p>
                        {format!(
                            "Remove {}? Its tokens stop working at once, its {} groups are deleted, and so are the {} contacts it created.",
                            stored.with_value(|s| s.name.clone()),
                            stored.with_value(|s| s.groups),
                            stored.with_value(|s| s.created),
                        )}
                        {(stored.with_value(|s| s.contacts - s.created) > 0).then(|| format!(
                            " The {} contacts it took over go back to their earlier source.",
                            stored.with_value(|s| s.contacts - s.created),
                        ))}
                    </p>
                    {move || remove_error.get().map(|e| view! { <ErrorNotice error=e/> })}
                    <div class="form-actions">
                        <button type="button" class="btn danger" on:click=remove>"Remove"</button>
                        <button type="button" class="btn" on:click=move |_| removing.set(false)>"Cancel"</button>
                    </div>
                </div>
            </Show>
            <Show when=move || adding_token.get()>
                <AddToken
                    source_id=id
                    on_close=Callback::new(move |_| adding_token.set(false))
                    on_added=Callback::new(move |t| {
                        adding_token.set(false);
                        on_issued.run(t);
                    })
                />
            </Show>
            <Show when=move || editing.get()>
                <EditSource
                    source=stored.get_value()
                    on_close=Callback::new(move |_| editing.set(false))
                    on_saved=Callback::new(move |_| {
                        editing.set(false);
                        on_changed.run(());
                    })
                />
            </Show>
        </article>
    }
}

#[component]
fn TokenRow(
    token: ScimToken,
    today: chrono::NaiveDate,
    on_issued: Callback<IssuedScimToken>,
    on_changed: Callback<()>,
) -> impl IntoView {
    let id = token.id;
    let (class, state) = token_state(&token, today);
    let revoked = token.revoked_at.is_some();
    let expired = !revoked && !token.is_live(today);
    // Which action waits for confirmation.
    let confirming = RwSignal::new(None::<&'static str>);
    let error = RwSignal::new(None::<AppError>);
    let busy = RwSignal::new(false);
    let name = token.name.clone();
    let run = move |action: &'static str| {
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let done = if action == "regenerate" {
                regenerate_scim_token(id).await.map(Some)
            } else {
                revoke_scim_token(id).await.map(|_| None)
            };
            // Before the callbacks, which draw this row again.
            busy.set(false);
            confirming.set(None);
            match done {
                Ok(Some(t)) => on_issued.run(t),
                Ok(None) => on_changed.run(()),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <tr data-testid="scim-token">
            <td class="name">{token.name.clone()} <span class="muted mono">{format!(" …{}", token.hint)}</span></td>
            <td>{when(token.created_at)}</td>
            <td>{token.last_used_at.map(when).unwrap_or_else(|| "Never".into())}</td>
            <td>{token.expires_on.map(|d| d.to_string()).unwrap_or_else(|| "Never".into())}</td>
            <td><span class=class data-testid="scim-token-state">{state}</span></td>
            <td class="row-actions">
                {move || match confirming.get() {
                    Some(action) => {
                        let question = if action == "regenerate" {
                            "The current value stops working at once. Make a new one?"
                        } else {
                            "Requests with this token are refused from now on. Revoke it?"
                        };
                        view! {
                            <span class="confirm" role="group" aria-label=format!("Confirm for token {name}")>
                                <span>{question}</span>
                                <button type="button" class="btn small danger" disabled=move || busy.get() on:click=move |_| run(action)>
                                    {if action == "regenerate" { "Yes, regenerate" } else { "Yes, revoke" }}
                                </button>
                                <button type="button" class="btn small" on:click=move |_| confirming.set(None)>"Keep it"</button>
                            </span>
                        }
                        .into_any()
                    }
                    None => view! {
                        <button type="button" class="btn small" disabled=expired
                            aria-label=format!("Regenerate token {name}")
                            on:click=move |_| confirming.set(Some("regenerate"))>
                            {if revoked { "Reactivate with a new value" } else { "Regenerate" }}
                        </button>
                        {(!revoked).then(|| view! {
                            <button type="button" class="btn small danger"
                                aria-label=format!("Revoke token {name}")
                                on:click=move |_| confirming.set(Some("revoke"))>
                                "Revoke"
                            </button>
                        })}
                    }
                    .into_any(),
                }}
                {move || error.get().map(|e| view! { <ErrorNotice error=e/> })}
            </td>
        </tr>
    }
}

#[component]
fn AddToken(
    source_id: i64,
    on_close: Callback<()>,
    on_added: Callback<IssuedScimToken>,
) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let expires_on = RwSignal::new(String::new());
    let result = RwSignal::new(None::<Result<(), AppError>>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let form = ScimTokenForm {
            name: name.get_untracked(),
            expires_on: expires_on.get_untracked(),
        };
        spawn_local(async move {
            match add_scim_token(source_id, form).await {
                Ok(t) => on_added.run(t),
                Err(e) => result.set(Some(Err(e))),
            }
        });
    };
    let error = move |f| field_error(move || result.get(), f);
    view! {
        <form class="scim-form" on:submit=submit aria-label="Add token">
            <div class="grid-2">
                <Field label="Token name" name="new_token_name" value=name error=error("token_name") required=true/>
                <Field label="Token expires on" name="new_token_expires_on" kind="date" value=expires_on error=error("expires_on")
                    hint="Optional."/>
            </div>
            {move || result.get().and_then(|r| r.err()).filter(|e| !matches!(e, AppError::Invalid(_))).map(|e| view! { <ErrorNotice error=e/> })}
            <div class="form-actions">
                <button type="submit" class="btn primary">"Make token"</button>
                <button type="button" class="btn" on:click=move |_| on_close.run(())>"Cancel"</button>
            </div>
        </form>
    }
}

#[component]
fn EditSource(source: ScimSource, on_close: Callback<()>, on_saved: Callback<()>) -> impl IntoView {
    let id = source.id;
    let name = RwSignal::new(source.name);
    let scope = RwSignal::new(source.scope);
    let keep_deleted = RwSignal::new(source.keep_deleted);
    let result = RwSignal::new(None::<Result<(), AppError>>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let form = ScimSourceForm {
            name: name.get_untracked(),
            scope: scope.get_untracked(),
            keep_deleted: keep_deleted.get_untracked(),
        };
        spawn_local(async move {
            match update_scim_source(id, form).await {
                Ok(()) => on_saved.run(()),
                Err(e) => result.set(Some(Err(e))),
            }
        });
    };
    let error = move |f| field_error(move || result.get(), f);
    view! {
        <form class="scim-form" on:submit=submit aria-label="Edit settings">
            <div class="grid-2">
                <Field label="Name" name="edit_scim_name" value=name error=error("name") required=true/>
                {scope_select(scope, "edit-scim-scope")}
            </div>
            {keep_deleted_box(keep_deleted, "edit-scim-keep-deleted")}
            {move || result.get().and_then(|r| r.err()).filter(|e| !matches!(e, AppError::Invalid(_))).map(|e| view! { <ErrorNotice error=e/> })}
            <div class="form-actions">
                <button type="submit" class="btn primary">"Save"</button>
                <button type="button" class="btn" on:click=move |_| on_close.run(())>"Cancel"</button>
            </div>
        </form>
    }
}
