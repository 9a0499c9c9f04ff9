//! When an integration syncs: its daily time, what is next, and how far the
//! running sync has got (with Cancel).

use super::when;
use crate::api::integrations::{cancel_sync, set_sync_time};
use crate::model::{AppError, Integration, IntegrationStatus, SyncPhase, SyncProgress};
use crate::ui::components::ErrorNotice;
use leptos::prelude::*;
use leptos::task::spawn_local;

/// What the card says of the next sync: the daily one, or a retry.
pub(super) fn next_sync(i: &Integration) -> String {
    match (i.status, i.next_sync_at) {
        (IntegrationStatus::Syncing, _) => "Running now".into(),
        (_, None) => format!("Daily at {} ({})", i.daily_at, i.time_zone),
        (_, Some(at)) if i.next_retry > 0 => format!("Retry {} at {}", i.next_retry, when(at)),
        (_, Some(at)) => when(at),
    }
}

/// The time of day the integration syncs by itself, on the organisation's
/// clocks.
#[component]
pub(super) fn SyncSchedule(
    integration: Integration,
    on_saved: Callback<Integration>,
) -> impl IntoView {
    let id = integration.id;
    let time = RwSignal::new(integration.daily_at.clone());
    let error = RwSignal::new(None::<AppError>);
    let saved = RwSignal::new(false);
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        saved.set(false);
        let typed = time.get_untracked();
        spawn_local(async move {
            match set_sync_time(id, typed).await {
                Ok(next) => {
                    saved.set(true);
                    on_saved.run(next);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let input_id = format!("sync-time-{id}");
    view! {
        <h4>"Schedule"</h4>
        <p class="muted">
            "It syncs by itself every day at this time (" {integration.time_zone.clone()}
            "), and on Sync now. A sync that fails for a while (network, timeouts, the system's own errors, rate limits) is tried again (by default after 5 minutes, 30 minutes and 2 hours); one that needs you (credentials refused or expired, a permission missing) waits until you edit the credentials or run Sync now."
        </p>
        <form class="hold-limits" on:submit=save>
            <label for=input_id.clone()>
                "Daily at"
                <input id=input_id.clone() name="sync_time" type="time" required
                    // `try_get`: on the server a Suspense's dry pass may read
                    // this after disposing the pass's owner (a panic, seen once).
                    prop:value=move || time.try_get().unwrap_or_default()
                    on:input=move |ev| time.set(event_target_value(&ev))/>
            </label>
            <button type="submit" class="btn">"Save time"</button>
            {move || saved.get().then(|| view! { <span class="muted" role="status">"Saved."</span> })}
        </form>
        {move || error.get().map(|e| view! { <ErrorNotice error=e/> })}
    }
}

/// The running sync: its phase and counts, a bar while it writes, and Cancel.
#[component]
pub(super) fn SyncProgressLine(
    id: i64,
    progress: SyncProgress,
    on_cancelled: Callback<Integration>,
) -> impl IntoView {
    let error = RwSignal::new(None::<AppError>);
    let asked = RwSignal::new(progress.cancelling);
    let cancel = move |_| {
        error.set(None);
        asked.set(true);
        spawn_local(async move {
            match cancel_sync(id).await {
                Ok(next) => on_cancelled.run(next),
                Err(e) => {
                    asked.set(false);
                    error.set(Some(e));
                }
            }
        });
    };
    let text = match progress.phase {
        SyncPhase::Reading => format!(
            "Reading the source: {} people, {} pages so far",
            progress.read, progress.pages
        ),
        SyncPhase::Applying => format!(
            "Applying changes: {} of {} contacts written",
            progress.applied, progress.total
        ),
    };
    let bar = (progress.phase == SyncPhase::Applying).then(|| {
        view! {
            <progress max=progress.total.max(1).to_string() value=progress.applied.to_string() aria-label="Contacts written"></progress>
        }
    });
    view! {
        <div class="sync-progress" role="status" data-testid="sync-progress">
            <p>{text}</p>
            {bar}
            <button type="button" class="btn" disabled=move || asked.get() on:click=cancel>
                {move || if asked.get() { "Cancelling…" } else { "Cancel sync" }}
            </button>
            {move || error.get().map(|e| view! { <ErrorNotice error=e/> })}
        </div>
    }
}
