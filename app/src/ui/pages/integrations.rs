//! The Integrations tab: connected HR and identity systems with their status,
//! last sync and contacts; Manage (Sync now, Remove); and a card per provider
//! with its Connect form (Test Connection, then Connect).

use crate::api::integrations::{
    connect_integration, integration_removal_count, list_integrations, remove_integration,
    sync_integration, test_connection, update_integration,
};
use crate::model::{
    AppError, ConnectForm, ConnectionTest, CredentialField, Expiry, FieldKind, Integration,
    IntegrationStatus, Provider,
};
use crate::ui::components::{AppShell, ContactsTabs, ErrorNotice, Loading};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use std::collections::BTreeMap;

/// How often the list is read again while a sync runs.
const POLL_MS: u64 = 1000;

fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn status_class(status: IntegrationStatus) -> &'static str {
    match status {
        IntegrationStatus::Connected => "badge ok",
        IntegrationStatus::Syncing => "badge busy",
        IntegrationStatus::Failed => "badge bad",
    }
}

#[component]
pub fn IntegrationsPage() -> impl IntoView {
    let initial = Resource::new(|| (), |_| list_integrations());
    view! {
        <Title text="Integrations · Muster"/>
        <AppShell>
            <div class="page-head">
                <h1>"Contacts"</h1>
            </div>
            <ContactsTabs integrations=true/>
            <Suspense fallback=|| view! { <Loading label="Loading integrations…"/> }>
                {move || Suspend::new(async move {
                    match initial.await {
                        Ok(list) => view! { <Integrations initial=list/> }.into_any(),
                        Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                    }
                })}
            </Suspense>
        </AppShell>
    }
}

#[component]
fn Integrations(initial: Vec<Integration>) -> impl IntoView {
    let items = RwSignal::new(initial);
    let connecting = RwSignal::new(None::<Provider>);
    let reload = move || {
        spawn_local(async move {
            if let Ok(list) = list_integrations().await {
                items.set(list);
            }
        })
    };
    // While a sync runs, read the list again every second (browser only).
    Effect::new(move |_| {
        let in_flight = StoredValue::new(false);
        let handle = set_interval_with_handle(
            move || {
                let syncing = items
                    .with_untracked(|l| l.iter().any(|i| i.status == IntegrationStatus::Syncing));
                if !syncing || in_flight.get_value() {
                    return;
                }
                in_flight.set_value(true);
                spawn_local(async move {
                    if let Ok(list) = list_integrations().await {
                        items.set(list);
                    }
                    in_flight.set_value(false);
                });
            },
            std::time::Duration::from_millis(POLL_MS),
        );
        if let Ok(handle) = handle {
            on_cleanup(move || handle.clear());
        }
    });
    view! {
        <section class="section" aria-labelledby="connected-title">
            <h2 id="connected-title">"Connected"</h2>
            {move || {
                let list = items.get();
                if list.is_empty() {
                    view! {
                        <p class="muted" data-testid="no-integrations">
                            "No integrations yet. Connect your HR or identity system below and Muster keeps your contacts in sync with it."
                        </p>
                    }
                    .into_any()
                } else {
                    view! {
                        <div class="integration-list">
                            {list
                                .into_iter()
                                .map(|i| view! { <IntegrationCard integration=i items reload/> })
                                .collect_view()}
                        </div>
                    }
                    .into_any()
                }
            }}
        </section>
        <section class="section" aria-labelledby="add-title">
            <h2 id="add-title">"Add an integration"</h2>
            <div class="provider-grid">
                {Provider::ALL
                    .into_iter()
                    .map(|p| {
                        let title_id = format!("provider-{}", p.key());
                        let labelled_by = title_id.clone();
                        view! {
                            <article class="card provider-card" aria-labelledby=labelled_by>
                                <h3 id=title_id>{p.label()}</h3>
                                <p>{p.summary()}</p>
                                <button
                                    type="button"
                                    class="btn primary"
                                    aria-label=format!("Connect {}", p.label())
                                    on:click=move |_| connecting.set(Some(p))
                                >
                                    "Connect"
                                </button>
                            </article>
                        }
                    })
                    .collect_view()}
            </div>
        </section>
        {move || {
            connecting
                .get()
                .map(|p| {
                    view! {
                        <ConnectDialog
                            provider=p
                            on_close=Callback::new(move |_| connecting.set(None))
                            on_connected=Callback::new(move |i: Integration| {
                                connecting.set(None);
                                items.update(|l| l.push(i));
                            })
                        />
                    }
                })
        }}
    }
}

#[component]
fn IntegrationCard(
    integration: Integration,
    items: RwSignal<Vec<Integration>>,
    reload: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let id = integration.id;
    let provider = integration.provider;
    let open = RwSignal::new(false);
    let removing = RwSignal::new(false);
    let editing = RwSignal::new(false);
    let stored = StoredValue::new(integration.clone());
    let error = RwSignal::new(None::<AppError>);
    let panel_id = format!("manage-{id}");
    let syncing = integration.status == IntegrationStatus::Syncing;
    let sync_now = move |_| {
        error.set(None);
        spawn_local(async move {
            match sync_integration(id).await {
                Ok(next) => items.update(|l| {
                    if let Some(i) = l.iter_mut().find(|i| i.id == id) {
                        *i = next;
                    }
                }),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let settings: Vec<(String, String)> = provider
        .fields()
        .iter()
        .filter(|f| !f.is_secret())
        .filter_map(|f| {
            integration
                .settings
                .get(f.key)
                .map(|v| (f.label.to_string(), v.clone()))
        })
        .collect();
    let result = integration.last_result.clone();
    view! {
        <article class="card integration" data-testid="integration" aria-label=provider.label()>
            <header class="integration-head">
                <h3>{provider.label()}</h3>
                <span class=status_class(integration.status) data-testid="integration-status">
                    {integration.status.label()}
                </span>
            </header>
            <dl class="facts">
                <div>
                    <dt>"Contacts"</dt>
                    <dd data-testid="integration-contacts">{integration.contact_count}</dd>
                </div>
                <div>
                    <dt>"Last sync"</dt>
                    <dd>{integration.last_sync_at.map(when).unwrap_or_else(|| "Not yet".into())}</dd>
                </div>
                {settings
                    .into_iter()
                    .map(|(label, value)| view! {
                        <div>
                            <dt>{label}</dt>
                            <dd class="wrap">{value}</dd>
                        </div>
                    })
                    .collect_view()}
            </dl>
            {integration
                .expiry_warning
                .map(|e| {
                    let text = match e {
                        Expiry::Soon(0) => "The credential expires today. Replace it to keep syncing.".to_string(),
                        Expiry::Soon(d) => format!("The credential expires in {d} days. Replace it before then to keep syncing."),
                        Expiry::Expired(d) => format!("The credential expired {d} days ago: syncs will fail until it is replaced."),
                    };
                    view! { <p class="notice warning" role="status" data-testid="integration-expiry">{text}</p> }
                })}
            {integration
                .last_error
                .clone()
                .map(|e| view! { <p class="notice error" role="alert" data-testid="integration-error">{e}</p> })}
            <div class="form-actions">
                <button
                    type="button"
                    class="btn"
                    aria-expanded=move || open.get().to_string()
                    aria-controls=panel_id.clone()
                    on:click=move |_| open.update(|o| *o = !*o)
                >
                    "Manage"
                </button>
            </div>
            <div id=panel_id class="manage" hidden=move || !open.get()>
                {result
                    .map(|r| {
                        view! {
                            <p class="meta-line" data-testid="integration-result">
                                "Last sync read " <strong>{r.people}</strong> " people: "
                                {r.created} " added, " {r.updated} " updated, " {r.linked}
                                " linked to existing contacts, " {r.unchanged} " unchanged; "
                                {r.excluded} " suspended or deactivated left out; " {r.skipped}
                                " skipped (no name, or neither email nor phone, or an email another contact has); "
                                {r.groups} " groups."
                            </p>
                        }
                    })}
                <h4>"Credentials"</h4>
                <ul class="plain">
                    {integration
                        .secrets
                        .iter()
                        .map(|s| view! {
                            <li>{s.label.clone()} " — set " {when(s.set_at)} " (never shown again)"</li>
                        })
                        .collect_view()}
                </ul>
                {move || error.get().map(|e| view! { <ErrorNotice error=e/> })}
                <div class="form-actions">
                    <button type="button" class="btn primary" disabled=syncing on:click=sync_now>
                        {if syncing { "Syncing…" } else { "Sync now" }}
                    </button>
                    <button type="button" class="btn" on:click=move |_| editing.set(true)>
                        "Edit credentials"
                    </button>
                    <button
                        type="button"
                        class="btn danger"
                        disabled=syncing
                        on:click=move |_| removing.set(true)
                    >
                        "Remove integration"
                    </button>
                </div>
            </div>
            {move || {
                editing
                    .get()
                    .then(|| {
                        view! {
                            <ConnectDialog
                                provider
                                existing=stored.get_value()
                                on_close=Callback::new(move |_| editing.set(false))
                                on_connected=Callback::new(move |next: Integration| {
                                    editing.set(false);
                                    items.update(|l| {
                                        if let Some(i) = l.iter_mut().find(|i| i.id == id) {
                                            *i = next;
                                        }
                                    });
                                })
                            />
                        }
                    })
            }}
            <Show when=move || removing.get()>
                <RemoveDialog
                    id
                    provider
                    on_close=Callback::new(move |_| removing.set(false))
                    on_removed=Callback::new(move |_| {
                        removing.set(false);
                        items.update(|l| l.retain(|i| i.id != id));
                        reload();
                    })
                />
            </Show>
        </article>
    }
}

#[component]
fn RemoveDialog(
    id: i64,
    provider: Provider,
    on_close: Callback<()>,
    on_removed: Callback<()>,
) -> impl IntoView {
    let count = LocalResource::new(move || integration_removal_count(id));
    let error = RwSignal::new(None::<AppError>);
    let busy = RwSignal::new(false);
    let confirm = move |_| {
        busy.set(true);
        spawn_local(async move {
            match remove_integration(id).await {
                Ok(_) => on_removed.run(()),
                Err(e) => {
                    busy.set(false);
                    error.set(Some(e));
                }
            }
        });
    };
    view! {
        <div class="modal-backdrop">
            <div
                class="modal card"
                role="alertdialog"
                aria-modal="true"
                aria-labelledby=format!("remove-title-{id}")
                aria-describedby=format!("remove-desc-{id}")
                on:keydown=move |ev| {
                    if ev.key() == "Escape" {
                        on_close.run(())
                    }
                }
            >
                <h2 id=format!("remove-title-{id}")>"Remove " {provider.label()} "?"</h2>
                <p id=format!("remove-desc-{id}") data-testid="remove-count">
                    {move || match count.get() {
                        None => "Counting the contacts it imported…".to_string(),
                        Some(Ok(n)) => format!(
                            "{} imported from {} will be deleted, with its groups. Contacts added by hand or by upload stay. This cannot be undone.",
                            if n == 1 { "1 contact".to_string() } else { format!("{n} contacts") },
                            provider.label()
                        ),
                        Some(Err(e)) => e.to_string(),
                    }}
                </p>
                {move || error.get().map(|e| view! { <ErrorNotice error=e/> })}
                <div class="form-actions">
                    <button type="button" class="btn" autofocus on:click=move |_| on_close.run(())>
                        "Cancel"
                    </button>
                    <button
                        type="button"
                        class="btn danger"
                        disabled=move || busy.get() || !matches!(count.get(), Some(Ok(_)))
                        on:click=confirm
                    >
                        "Remove integration"
                    </button>
                </div>
            </div>
        </div>
    }
}

/// The Connect form of one provider, with its setup guidance beside it.
/// With `existing`, the form edits that integration's credentials: settings
/// are filled in, and a secret left empty keeps the stored one.
#[component]
fn ConnectDialog(
    provider: Provider,
    #[prop(optional)] existing: Option<Integration>,
    on_close: Callback<()>,
    on_connected: Callback<Integration>,
) -> impl IntoView {
    let editing = existing.as_ref().map(|i| i.id);
    let values: Vec<(CredentialField, RwSignal<String>)> = provider
        .fields()
        .iter()
        .map(|f| {
            let stored = existing
                .as_ref()
                .and_then(|i| i.settings.get(f.key).cloned());
            let initial = match (stored, f.kind) {
                (Some(v), _) => v,
                (None, FieldKind::Choice(options)) => {
                    options.first().map(|o| o.0).unwrap_or("").to_string()
                }
                _ => String::new(),
            };
            (*f, RwSignal::new(initial))
        })
        .collect();
    let set_at = move |key: &str| {
        existing
            .as_ref()
            .and_then(|i| i.secrets.iter().find(|s| s.key == key))
            .map(|s| when(s.set_at))
    };
    let form = {
        let values = values.clone();
        move || ConnectForm {
            provider: provider.key().to_string(),
            fields: values
                .iter()
                .map(|(f, v)| (f.key.to_string(), v.get_untracked()))
                .collect::<BTreeMap<_, _>>(),
        }
    };
    let tested = RwSignal::new(None::<Result<ConnectionTest, AppError>>);
    let error = RwSignal::new(None::<AppError>);
    let busy = RwSignal::new(None::<&'static str>);
    let test = {
        let form = form.clone();
        move |_| {
            let form = form();
            busy.set(Some("Testing…"));
            error.set(None);
            tested.set(None);
            spawn_local(async move {
                let r = test_connection(form, editing).await;
                busy.set(None);
                tested.set(Some(r));
            });
        }
    };
    let connect = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let form = form();
        busy.set(Some(if editing.is_some() {
            "Saving…"
        } else {
            "Connecting…"
        }));
        error.set(None);
        spawn_local(async move {
            let saved = match editing {
                Some(id) => update_integration(id, form).await,
                None => connect_integration(form).await,
            };
            match saved {
                Ok(i) => on_connected.run(i),
                Err(e) => {
                    busy.set(None);
                    error.set(Some(e));
                }
            }
        });
    };
    let field_error = move |key: &'static str| {
        Signal::derive(move || {
            let from_test = tested.with(|t| match t {
                Some(Err(e)) => e.field_message(key),
                _ => None,
            });
            from_test.or_else(|| error.with(|e| e.as_ref().and_then(|e| e.field_message(key))))
        })
    };
    let title_id = format!("connect-title-{}", provider.key());
    let labelled_by = title_id.clone();
    view! {
        <div class="modal-backdrop">
            <div
                class="modal card connect-modal"
                role="dialog"
                aria-modal="true"
                aria-labelledby=labelled_by
                on:keydown=move |ev| {
                    if ev.key() == "Escape" {
                        on_close.run(())
                    }
                }
            >
                <h2 id=title_id>
                    {if editing.is_some() { "Edit " } else { "Connect " }}
                    {provider.label()}
                </h2>
                <div class="connect-layout">
                    <form class="connect-form" on:submit=connect novalidate>
                        {values
                            .iter()
                            .enumerate()
                            .map(|(n, (f, value))| {
                                view! {
                                    <CredentialInput
                                        field=*f
                                        value=*value
                                        error=field_error(f.key)
                                        first={n == 0}
                                        set_at=set_at(f.key)
                                    />
                                }
                            })
                            .collect_view()}
                        <div aria-live="polite" class="test-result">
                            {move || match tested.get() {
                                Some(Ok(t)) => Some(view! {
                                    <div class="notice success" data-testid="test-result">
                                        <strong>"Connection works. "</strong>
                                        {format!(
                                            "Muster can see {} {} on the first page{}",
                                            t.users,
                                            if t.users == 1 { "user" } else { "users" },
                                            if t.more { ", and there are more pages" } else { "" },
                                        )}
                                        {(!t.sample.is_empty()).then(|| format!(": {}.", t.sample.join(", ")))}
                                    </div>
                                }.into_any()),
                                Some(Err(AppError::Invalid(_))) => None,
                                Some(Err(e)) => Some(view! {
                                    <div class="notice error" role="alert" data-testid="test-result">{e.to_string()}</div>
                                }.into_any()),
                                None => None,
                            }}
                            {move || error.get().filter(|e| !matches!(e, AppError::Invalid(_))).map(|e| view! { <ErrorNotice error=e/> })}
                        </div>
                        <div class="form-actions">
                            <button type="button" class="btn" on:click=test disabled=move || busy.get().is_some()>
                                "Test Connection"
                            </button>
                            <button type="submit" class="btn primary" disabled=move || busy.get().is_some()>
                                {if editing.is_some() { "Save" } else { "Connect" }}
                            </button>
                            <button type="button" class="btn ghost" on:click=move |_| on_close.run(())>
                                "Cancel"
                            </button>
                            {move || busy.get().map(|b| view! { <span class="muted" role="status">{b}</span> })}
                        </div>
                    </form>
                    <aside class="guidance" aria-label="How to set it up">
                        <h3>"How to set it up"</h3>
                        <ol>
                            {provider.guidance().iter().map(|g| view! { <li>{*g}</li> }).collect_view()}
                        </ol>
                        <p class="hint">
                            "Use a dedicated read-only account. Secrets are encrypted at rest and never shown again."
                        </p>
                    </aside>
                </div>
            </div>
        </div>
    }
}

#[component]
fn CredentialInput(
    field: CredentialField,
    value: RwSignal<String>,
    error: Signal<Option<String>>,
    first: bool,
    /// When a stored secret was set (editing): it is kept if left empty.
    set_at: Option<String>,
) -> impl IntoView {
    let help = match &set_at {
        Some(at) => {
            format!("Set {at}; never shown again. Leave empty to keep it, or enter a new one.")
        }
        None => field.help.to_string(),
    };
    let placeholder = if set_at.is_some() {
        "••••••••"
    } else {
        field.placeholder
    };
    let id = format!("cred-{}", field.key);
    let hint_id = format!("cred-{}-hint", field.key);
    let error_id = format!("cred-{}-error", field.key);
    let described = {
        let (hint_id, error_id) = (hint_id.clone(), error_id.clone());
        move || {
            if error.get().is_some() {
                format!("{hint_id} {error_id}")
            } else {
                hint_id.clone()
            }
        }
    };
    let on_input = move |ev| value.set(event_target_value(&ev));
    let input = match field.kind {
        FieldKind::Choice(options) => view! {
            <select id=id.clone() name=field.key aria-describedby=described.clone() on:change=on_input prop:value=move || value.get()>
                {options.iter().map(|(v, label)| view! { <option value=*v>{*label}</option> }).collect_view()}
            </select>
        }
        .into_any(),
        FieldKind::SecretFile => view! {
            <input
                type="file"
                class="file-pick"
                accept="application/json,.json"
                aria-label=format!("Load the {} from a file", field.label)
                on:change=move |ev| {
                    use wasm_bindgen::JsCast;
                    let file = ev
                        .target()
                        .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
                        .and_then(|input| input.files())
                        .and_then(|files| files.get(0));
                    if let Some(file) = file {
                        spawn_local(async move {
                            let text = wasm_bindgen_futures::JsFuture::from(file.text()).await;
                            if let Some(text) = text.ok().and_then(|t| t.as_string()) {
                                value.set(text);
                            }
                        });
                    }
                }
            />
            <textarea
                id=id.clone()
                name=field.key
                rows="5"
                spellcheck="false"
                autocomplete="off"
                placeholder=placeholder
                aria-describedby=described.clone()
                aria-invalid=move || error.get().is_some().to_string()
                autofocus=first
                on:input=on_input
                prop:value=move || value.get()
            ></textarea>
        }
        .into_any(),
        kind => {
            let ty = match kind {
                FieldKind::Secret => "password",
                FieldKind::Url => "url",
                FieldKind::Email => "email",
                FieldKind::Date => "date",
                _ => "text",
            };
            view! {
                <input
                    id=id.clone()
                    name=field.key
                    type=ty
                    autocomplete={if kind == FieldKind::Secret { "new-password" } else { "off" }}
                    spellcheck="false"
                    placeholder=placeholder
                    aria-describedby=described.clone()
                    aria-invalid=move || error.get().is_some().to_string()
                    autofocus=first
                    on:input=on_input
                    prop:value=move || value.get()
                />
            }
            .into_any()
        }
    };
    view! {
        <div class="field" class:has-error=move || error.get().is_some()>
            <div class="label-row">
                <label for=id>{field.label}</label>
                {field.required.then(|| view! { <span class="required" aria-hidden="true">"*"</span> })}
            </div>
            <p class="hint" id=hint_id>{help}</p>
            {input}
            <p class="field-error" id=error_id>{move || error.get()}</p>
        </div>
    }
}
