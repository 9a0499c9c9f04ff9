//! Settings: the organisation's SMS provider (Twilio), a test message, and
//! who changed what.

use crate::api::sms::{
    get_sms_settings, remove_sms_settings, save_sms_settings, send_test_sms, settings_history,
};
use crate::model::{AppError, SmsSettings, SmsSettingsForm, DEFAULT_SMS_PER_SECOND, TWILIO_API};
use crate::ui::components::{
    field_error, AppShell, AuditTrail, ConfirmDialog, CopyButton, ErrorNotice, Field, Loading,
};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;

#[component]
pub fn SettingsPage() -> impl IntoView {
    let initial = Resource::new_serde_wb(|| (), |_| get_sms_settings());
    let history = Resource::new_serde_wb(|| (), |_| settings_history());
    let changed = Callback::new(move |_| history.refetch());
    view! {
        <Title text="Settings · Muster"/>
        <AppShell>
            <div class="page-head">
                <h1>"Settings"</h1>
            </div>
            <section class="section" aria-labelledby="sms-title">
                <h2 id="sms-title">"SMS (Twilio)"</h2>
                <p class="meta-line">
                    "Incidents reach people by text through your organisation's Twilio account. Muster sends each message with Twilio's Messages API, follows its delivery reports, and takes the answers people text back (“1” for the first answer)."
                </p>
                <Suspense fallback=|| view! { <Loading label="Loading SMS settings…"/> }>
                    {move || Suspend::new(async move {
                        match initial.await {
                            Ok(s) => view! { <SmsPanel initial=s on_changed=changed/> }.into_any(),
                            Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                        }
                    })}
                </Suspense>
            </section>
            <AuditTrail trail=history testid="settings-history"/>
        </AppShell>
    }
}

#[component]
fn SmsPanel(initial: Option<SmsSettings>, on_changed: Callback<()>) -> impl IntoView {
    let editing = RwSignal::new(initial.is_none());
    let current = RwSignal::new(initial);
    let removing = RwSignal::new(false);
    let remove_error = RwSignal::new(None::<AppError>);
    let remove = move |_| {
        spawn_local(async move {
            match remove_sms_settings().await {
                Ok(()) => {
                    current.set(None);
                    editing.set(true);
                    on_changed.run(());
                }
                Err(e) => remove_error.set(Some(e)),
            }
        });
    };
    let saved = Callback::new(move |s: SmsSettings| {
        current.set(Some(s));
        editing.set(false);
        on_changed.run(());
    });
    view! {
        <div class="card panel sms-panel" data-testid="sms-panel">
            {move || match (current.get(), editing.get()) {
                (Some(s), false) => view! {
                    <SmsSummary settings=s on_edit=Callback::new(move |_| editing.set(true)) on_remove=Callback::new(move |_| removing.set(true))/>
                }
                .into_any(),
                (stored, _) => view! {
                    <SmsForm
                        stored=stored.clone()
                        on_saved=saved
                        on_cancel=Callback::new(move |_| editing.set(false))
                    />
                }
                .into_any(),
            }}
            {move || remove_error.get().map(|e| view! { <ErrorNotice error=e/> })}
            <ConfirmDialog
                open=removing
                title="Remove the SMS settings?"
                message="Muster forgets the Account SID and auth token. Incidents can no longer send texts, and replies are no longer taken, until SMS is set up again."
                action="Remove"
                on_confirm=Callback::new(remove)
            />
        </div>
    }
}

#[component]
fn SmsSummary(
    settings: SmsSettings,
    on_edit: Callback<()>,
    on_remove: Callback<()>,
) -> impl IntoView {
    let inbound = settings.inbound_url.clone();
    let rate = match settings.per_second {
        1 => "1 message a second".to_string(),
        n => format!("{n} messages a second"),
    };
    view! {
        <p class="notice success" role="status" data-testid="sms-ready">
            "SMS is set up: incidents can send texts."
        </p>
        <dl class="facts" data-testid="sms-summary">
            <div>
                <dt>"Account SID"</dt>
                <dd class="mono">{settings.account_sid.clone()}</dd>
            </div>
            <div>
                <dt>"Sends as"</dt>
                <dd class="mono">{settings.sender.clone()}</dd>
            </div>
            <div>
                <dt>"Auth token"</dt>
                <dd data-testid="sms-token-hint">{format!("Saved, ending in {}", settings.token_hint)}</dd>
            </div>
            <div>
                <dt>"Rate"</dt>
                <dd>{rate}</dd>
            </div>
            {(settings.base_url != TWILIO_API).then(|| view! {
                <div>
                    <dt>"Base URL"</dt>
                    <dd class="mono">{settings.base_url.clone()}</dd>
                </div>
            })}
            <div>
                <dt>"Saved"</dt>
                <dd>{format!("{} by {}", settings.updated_at.format("%Y-%m-%d %H:%M UTC"), settings.updated_by)}</dd>
            </div>
        </dl>
        <div class="copy-row">
            <span class="copy-label" id="sms-inbound-label">"Replies webhook"</span>
            <code data-testid="sms-inbound-url" aria-labelledby="sms-inbound-label">{inbound.clone()}</code>
            <CopyButton text=inbound what="the replies webhook URL"/>
        </div>
        <p class="hint">
            "In Twilio's console, set this URL (HTTP POST) as “A message comes in” on the number, or on the Messaging Service, so that answers texted back reach Muster. Delivery reports need nothing: Muster asks for them with each message. Both must reach this server at its public address (MUSTER_PUBLIC_URL)."
        </p>
        <TestMessage/>
        <div class="form-actions">
            <button type="button" class="btn" on:click=move |_| on_edit.run(())>"Edit"</button>
            <button type="button" class="btn danger" on:click=move |_| on_remove.run(())>"Remove"</button>
        </div>
    }
}

/// Send one text with the saved settings, to see that they work.
#[component]
fn TestMessage() -> impl IntoView {
    let to = RwSignal::new(String::new());
    let result = RwSignal::new(None::<Result<String, AppError>>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        result.set(None);
        let number = to.get_untracked();
        spawn_local(async move {
            let sent = send_test_sms(number).await;
            busy.set(false);
            result.set(Some(sent));
        });
    };
    view! {
        <form class="inline-form" on:submit=submit aria-label="Send a test message">
            <Field label="Send a test message to" name="sms_test_to" kind="tel" value=to
                error=field_error(move || result.get(), "to") autocomplete="off"
                placeholder="+44 7911 123456"/>
            <div class="form-actions">
                <button type="submit" class="btn" disabled=move || busy.get()>
                    {move || if busy.get() { "Sending…" } else { "Send test message" }}
                </button>
            </div>
            {move || match result.get() {
                Some(Ok(sid)) => Some(view! {
                    <p class="notice success" role="status" data-testid="sms-test-sent">
                        {format!("Twilio took the message ({sid}). It should arrive in a moment.")}
                    </p>
                }.into_any()),
                Some(Err(e)) if !matches!(e, AppError::Invalid(_)) => Some(view! { <ErrorNotice error=e/> }.into_any()),
                _ => None,
            }}
        </form>
    }
}

#[component]
fn SmsForm(
    stored: Option<SmsSettings>,
    on_saved: Callback<SmsSettings>,
    on_cancel: Callback<()>,
) -> impl IntoView {
    let has_stored = stored.is_some();
    let account_sid = RwSignal::new(
        stored
            .as_ref()
            .map(|s| s.account_sid.clone())
            .unwrap_or_default(),
    );
    let auth_token = RwSignal::new(String::new());
    let sender = RwSignal::new(
        stored
            .as_ref()
            .map(|s| s.sender.clone())
            .unwrap_or_default(),
    );
    let per_second = RwSignal::new(
        stored
            .as_ref()
            .map_or(DEFAULT_SMS_PER_SECOND, |s| s.per_second)
            .to_string(),
    );
    let base_url = RwSignal::new(
        stored
            .as_ref()
            .map_or_else(|| TWILIO_API.to_string(), |s| s.base_url.clone()),
    );
    let result = RwSignal::new(None::<Result<(), AppError>>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        result.set(None);
        let form = SmsSettingsForm {
            account_sid: account_sid.get_untracked(),
            auth_token: auth_token.get_untracked(),
            sender: sender.get_untracked(),
            base_url: base_url.get_untracked(),
            per_second: per_second.get_untracked(),
        };
        spawn_local(async move {
            let saved = save_sms_settings(form).await;
            busy.set(false);
            match saved {
                Ok(s) => on_saved.run(s),
                Err(e) => result.set(Some(Err(e))),
            }
        });
    };
    let error = move |f| field_error(move || result.get(), f);
    view! {
        <form class="sms-form" on:submit=submit aria-labelledby="sms-form-title">
            <h3 id="sms-form-title">{if has_stored { "Edit the SMS settings" } else { "Connect Twilio" }}</h3>
            <div class="grid-2">
                <Field label="Account SID" name="sms_account_sid" value=account_sid error=error("account_sid")
                    required=true autocomplete="off" placeholder="AC…"
                    hint="On the first page of Twilio's console."/>
                {if has_stored {
                    view! {
                        <Field label="Auth token" name="sms_auth_token" kind="password" value=auth_token error=error("auth_token")
                            autocomplete="off"
                            hint="Leave empty to keep the saved one; type it again if you change the Account SID or the base URL."/>
                    }.into_any()
                } else {
                    view! {
                        <Field label="Auth token" name="sms_auth_token" kind="password" value=auth_token error=error("auth_token")
                            required=true autocomplete="off"
                            hint="Sealed on the server and never shown again."/>
                    }.into_any()
                }}
                <Field label="Sends as" name="sms_sender" value=sender error=error("sender") required=true
                    autocomplete="off" placeholder="+14155550100"
                    hint="Your Twilio number with its country code, or a Messaging Service SID (MG…)."/>
                <Field label="Messages per second" name="sms_per_second" kind="number" value=per_second error=error("per_second")
                    hint="What your number allows: 1 for a single long code, more for a Messaging Service, toll-free number or short code."/>
            </div>
            <details class="advanced">
                <summary>"Advanced"</summary>
                <Field label="Base URL" name="sms_base_url" kind="url" value=base_url error=error("base_url")
                    hint="Twilio's API unless you send through a regional edge or a proxy."/>
            </details>
            {move || result.get().and_then(|r| r.err()).filter(|e| !matches!(e, AppError::Invalid(_))).map(|e| view! { <ErrorNotice error=e/> })}
            <div class="form-actions">
                <button type="submit" class="btn primary" disabled=move || busy.get()>
                    {move || if busy.get() { "Saving…" } else { "Save" }}
                </button>
                {has_stored.then(|| view! {
                    <button type="button" class="btn" on:click=move |_| on_cancel.run(())>"Cancel"</button>
                })}
            </div>
        </form>
    }
}
