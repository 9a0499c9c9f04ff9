//! The Connect form of a provider, which also edits an integration's credentials.

use super::when;
use crate::api::integrations::{connect_integration, test_connection, update_integration};
use crate::model::{
    AppError, ConnectForm, ConnectionTest, CredentialField, FieldKind, Integration, Provider,
};
use crate::ui::components::ErrorNotice;
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::collections::BTreeMap;

/// The Connect form of one provider, with its setup guidance beside it.
/// With `existing`, the form edits that integration's credentials: settings
/// are filled in, and a secret left empty keeps the stored one.
#[component]
pub(super) fn ConnectDialog(
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
    let stored = existing
        .as_ref()
        .map(|i| i.settings.clone())
        .unwrap_or_default();
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
    // The settings typed that would send the stored secrets somewhere new:
    // then the secrets must be typed again (the server refuses otherwise).
    let moved = {
        let values = values.clone();
        Signal::derive(move || {
            let typed = values
                .iter()
                .map(|(f, v)| (f.key.to_string(), v.get()))
                .collect::<BTreeMap<_, _>>();
            provider.moved_destinations(&stored, &typed)
        })
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
                                        provider
                                        field=*f
                                        value=*value
                                        error=field_error(f.key)
                                        first={n == 0}
                                        set_at=set_at(f.key)
                                        moved
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
    provider: Provider,
    field: CredentialField,
    value: RwSignal<String>,
    error: Signal<Option<String>>,
    first: bool,
    /// When a stored secret was set (editing): it is kept if left empty,
    /// unless a setting that decides where it is sent changes.
    set_at: Option<String>,
    /// The labels of the settings changed that decide where secrets go.
    moved: Signal<Vec<&'static str>>,
) -> impl IntoView {
    let is_stored = set_at.is_some();
    let destinations = provider
        .fields()
        .iter()
        .filter(|f| provider.secret_destinations().contains(&f.key))
        .map(|f| f.label)
        .collect::<Vec<_>>()
        .join(" or ");
    let help = move || {
        match &set_at {
        Some(_) if !moved.with(Vec::is_empty) => {
            moved.with(|m| Provider::retype_secret(m, field.label))
        }
        Some(at) if destinations.is_empty() => {
            format!("Set {at}; never shown again. Leave empty to keep it, or enter a new one.")
        }
        Some(at) => format!(
            "Set {at}; never shown again. Leave empty to keep it (unless you change the {destinations}), or enter a new one."
        ),
        None => field.help.to_string(),
    }
    };
    let placeholder = if is_stored {
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
