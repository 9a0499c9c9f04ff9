//! The Integrations tab: connected HR and identity systems with their status,
//! last sync and contacts; Manage (Sync now, Remove); and a card per provider
//! with its Connect form (Test Connection, then Connect).
//!
//! - `card`: one connected integration, with its Manage panel;
//! - `connect`: the Connect (and Edit credentials) dialog and its inputs;
//! - `history`: the sync history, with each sync's details and export;
//! - `hold`: deletions held for review, and the bounds that hold them;
//! - `preview`: what a sync would do now, with nothing applied;
//! - `provisioning`: identity providers pushing over SCIM, and their tokens;
//! - `remove`: the Remove dialog, which states what goes with it.

mod card;
mod connect;
mod history;
mod hold;
mod preview;
mod provisioning;
mod remove;
mod schedule;

use crate::api::integrations::list_integrations;
use crate::model::{Integration, IntegrationStatus, Provider};
use crate::ui::components::{AppShell, ContactsTabs, ErrorNotice, Loading};
use card::IntegrationCard;
use connect::ConnectDialog;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;

/// How often the list is read again while a sync runs.
const POLL_MS: u64 = 1000;

pub(super) fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

#[component]
pub fn IntegrationsPage() -> impl IntoView {
    let initial = Resource::new_serde_wb(|| (), |_| list_integrations());
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
            <provisioning::Provisioning/>
        </AppShell>
    }
}

#[component]
fn Integrations(initial: Vec<Integration>) -> impl IntoView {
    let items = RwSignal::new(initial);
    let open_panels = RwSignal::new(std::collections::HashSet::<i64>::new());
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
                                .map(|i| view! { <IntegrationCard integration=i items open_panels reload/> })
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
