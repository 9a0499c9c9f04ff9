//! One connected integration: status, last sync, contacts, and Manage.

use super::connect::ConnectDialog;
use super::history::SyncHistory;
use super::hold::{HeldDeletions, HoldLimits};
use super::preview::SyncPreviewPanel;
use super::remove::RemoveDialog;
use super::schedule::{next_sync, SyncProgressLine, SyncSchedule};
use super::when;
use crate::api::integrations::sync_integration;
use crate::model::{AppError, Expiry, Integration, IntegrationStatus};
use crate::ui::components::ErrorNotice;
use leptos::prelude::*;
use leptos::task::spawn_local;

fn status_class(status: IntegrationStatus) -> &'static str {
    match status {
        IntegrationStatus::Connected => "badge ok",
        IntegrationStatus::Syncing => "badge busy",
        IntegrationStatus::Failed | IntegrationStatus::NeedsAttention => "badge bad",
    }
}

#[component]
pub(super) fn IntegrationCard(
    integration: Integration,
    items: RwSignal<Vec<Integration>>,
    /// The integrations whose Manage panel is open (kept while the list is
    /// read again during a sync).
    open_panels: RwSignal<std::collections::HashSet<i64>>,
    reload: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let id = integration.id;
    let provider = integration.provider;
    let open = Signal::derive(move || open_panels.with(|s| s.contains(&id)));
    let toggle = move |_| {
        open_panels.update(|s| {
            if !s.remove(&id) {
                s.insert(id);
            }
        })
    };
    let replace = move |next: Integration| {
        items.update(|l| {
            if let Some(i) = l.iter_mut().find(|i| i.id == id) {
                *i = next;
            }
        })
    };
    // Keep a change that this card shows itself, without drawing the list
    // again (which would lose the card's "Saved." and open forms).
    let keep = move |next: Integration| {
        items.update_untracked(|l| {
            if let Some(i) = l.iter_mut().find(|i| i.id == id) {
                *i = next;
            }
        })
    };
    let next_text = RwSignal::new(next_sync(&integration));
    let removing = RwSignal::new(false);
    let previewing = RwSignal::new(false);
    let editing = RwSignal::new(false);
    let stored = StoredValue::new(integration.clone());
    let error = RwSignal::new(None::<AppError>);
    let panel_id = format!("manage-{id}");
    let syncing = integration.status == IntegrationStatus::Syncing;
    let sync_now = move |_| {
        error.set(None);
        spawn_local(async move {
            match sync_integration(id).await {
                Ok(next) => replace(next),
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
                <div>
                    <dt>"Next sync"</dt>
                    <dd data-testid="integration-next-sync">{move || next_text.get()}</dd>
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
            {integration.progress.map(|p| view! { <SyncProgressLine id progress=p on_cancelled=Callback::new(replace)/> })}
            {integration
                .last_error
                .clone()
                .map(|e| view! { <p class="notice error" role="alert" data-testid="integration-error">{e}</p> })}
            {(integration.held_deletions > 0)
                .then(|| view! {
                    <HeldDeletions id count=integration.held_deletions on_settled=Callback::new(move |_| reload())/>
                })}
            <div class="form-actions">
                <button
                    type="button"
                    class="btn"
                    aria-expanded=move || open.get().to_string()
                    aria-controls=panel_id.clone()
                    on:click=toggle
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
                                {r.deleted} " deleted; " {r.held} " deletions held; " {r.groups} " groups."
                            </p>
                        }
                    })}
                {move || error.get().map(|e| view! { <ErrorNotice error=e/> })}
                <div class="form-actions">
                    <button type="button" class="btn primary" disabled=syncing on:click=sync_now>
                        {if syncing { "Syncing…" } else { "Sync now" }}
                    </button>
                    <button
                        type="button"
                        class="btn"
                        aria-pressed=move || previewing.get().to_string()
                        on:click=move |_| previewing.update(|p| *p = !*p)
                    >
                        "Preview changes"
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
                <Show when=move || previewing.get()>
                    <SyncPreviewPanel id provider on_close=Callback::new(move |_| previewing.set(false))/>
                </Show>
                <SyncHistory id/>
                <SyncSchedule
                    integration=stored.get_value()
                    on_saved=Callback::new(move |next: Integration| {
                        next_text.set(next_sync(&next));
                        keep(next);
                    })
                />
                <HoldLimits integration=stored.get_value() on_saved=Callback::new(keep)/>
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
                                    replace(next);
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
