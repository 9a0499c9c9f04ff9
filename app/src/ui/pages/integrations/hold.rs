//! Deletions a sync held for review: how many, who and why, and the two ways
//! out (Apply deletions, Discard). Nothing on the list is deleted until an
//! administrator applies it.

use crate::api::integrations::{held_deletions, set_hold_limits, settle_held_deletions};
use crate::model::{AppError, Integration};
use crate::ui::components::{ErrorNotice, Loading};
use leptos::prelude::*;
use leptos::task::spawn_local;

#[component]
pub(super) fn HeldDeletions(
    id: i64,
    count: u64,
    /// Called once the deletions are applied or discarded.
    on_settled: Callback<()>,
) -> impl IntoView {
    let open = RwSignal::new(false);
    let hold = LocalResource::new(move || held_deletions(id));
    let error = RwSignal::new(None::<AppError>);
    let busy = RwSignal::new(false);
    let list_id = format!("held-{id}");
    let settle = move |apply: bool| {
        let Some(Ok(Some(h))) = hold.get() else {
            return;
        };
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match settle_held_deletions(id, h.run_id, apply).await {
                Ok(_) => on_settled.run(()),
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    view! {
        <div class="notice warning held" role="alert" data-testid="integration-held">
            <p>
                <strong>
                    "Held: would delete " {count} {if count == 1 { " contact" } else { " contacts" }}
                </strong>
                ". The last sync found them gone from the source or suspended there, more than this integration deletes without review. Everything else it found is applied."
            </p>
            <div class="form-actions">
                <button
                    type="button"
                    class="btn"
                    aria-expanded=move || open.get().to_string()
                    aria-controls=list_id.clone()
                    on:click=move |_| open.update(|o| *o = !*o)
                >
                    {move || if open.get() { "Hide the list" } else { "Review deletions" }}
                </button>
            </div>
            <div id=list_id hidden=move || !open.get()>
                {move || match hold.get() {
                    None => view! { <Loading label="Loading the held deletions…"/> }.into_any(),
                    Some(Err(e)) => view! { <ErrorNotice error=e/> }.into_any(),
                    Some(Ok(None)) => view! {
                        <p class="muted">"Nothing is held any more: a later sync or another administrator settled it."</p>
                    }.into_any(),
                    Some(Ok(Some(h))) => {
                        let more = h.count.saturating_sub(h.contacts.len() as u64);
                        view! {
                            <p class="meta-line">
                                "Apply deletions deletes them now (contacts taken over from an upload or typed by hand go back to being just that). Discard keeps them; the next sync looks again."
                            </p>
                            {move || error.get().map(|e| view! { <ErrorNotice error=e/> })}
                            <div class="form-actions">
                                <button
                                    type="button"
                                    class="btn danger"
                                    disabled=move || busy.get()
                                    on:click=move |_| settle(true)
                                >
                                    "Apply deletions"
                                </button>
                                <button
                                    type="button"
                                    class="btn"
                                    disabled=move || busy.get()
                                    on:click=move |_| settle(false)
                                >
                                    "Discard"
                                </button>
                            </div>
                            <div class="held-scroll" tabindex="0" role="region" aria-label="Contacts the sync would delete">
                                <table class="contacts compact" data-testid="held-list">
                                    <thead>
                                        <tr>
                                            <th scope="col">"Name"</th>
                                            <th scope="col">"Email"</th>
                                            <th scope="col">"Why"</th>
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {h.contacts
                                            .into_iter()
                                            .map(|c| view! {
                                                <tr>
                                                    <td>{c.name}</td>
                                                    <td>{c.email.unwrap_or_default()}</td>
                                                    <td>{c.reason}</td>
                                                </tr>
                                            })
                                            .collect_view()}
                                    </tbody>
                                </table>
                            </div>
                            {(more > 0).then(|| view! {
                                <p class="muted">"And " {more} " more (the sync's export lists them all)."</p>
                            })}
                        }
                        .into_any()
                    }
                }}
            </div>
        </div>
    }
}

/// When a sync of the integration is held: the percentage and the number of
/// its contacts it may delete without review (empty: no such bound).
#[component]
pub(super) fn HoldLimits(
    integration: Integration,
    on_saved: Callback<Integration>,
) -> impl IntoView {
    let id = integration.id;
    let percent = RwSignal::new(
        integration
            .hold_percent
            .map(|p| p.to_string())
            .unwrap_or_default(),
    );
    let count = RwSignal::new(
        integration
            .hold_count
            .map(|c| c.to_string())
            .unwrap_or_default(),
    );
    let error = RwSignal::new(None::<AppError>);
    let saved = RwSignal::new(false);
    let number = |text: String, field: &str| -> Result<Option<u64>, AppError> {
        let text = text.trim().to_string();
        if text.is_empty() {
            return Ok(None);
        }
        text.parse::<u64>().map(Some).map_err(|_| {
            AppError::field(
                field,
                "Enter a whole number, or leave it empty for no such bound.",
            )
        })
    };
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        saved.set(false);
        let (p, c) = match (
            number(percent.get_untracked(), "hold_percent"),
            number(count.get_untracked(), "hold_count"),
        ) {
            (Ok(p), Ok(c)) => (p, c),
            (Err(e), _) | (_, Err(e)) => return error.set(Some(e)),
        };
        let p = p.map(|p| u32::try_from(p).unwrap_or(u32::MAX));
        spawn_local(async move {
            match set_hold_limits(id, p, c).await {
                Ok(next) => {
                    saved.set(true);
                    on_saved.run(next);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let (pid, cid) = (format!("hold-percent-{id}"), format!("hold-count-{id}"));
    view! {
        <h4>"Deletions"</h4>
        <p class="muted">
            "People who leave the source or are suspended there are deleted at the next sync. A sync that would delete more than either bound below waits for your review instead; a source that lists nobody always does."
        </p>
        <form class="hold-limits" on:submit=save>
            <label for=pid.clone()>
                "More than this % of its contacts"
                <input id=pid.clone() type="number" min="0" max="100" inputmode="numeric"
                    prop:value=move || percent.get()
                    on:input=move |ev| percent.set(event_target_value(&ev))/>
            </label>
            <label for=cid.clone()>
                "or more than this many"
                <input id=cid.clone() type="number" min="0" inputmode="numeric"
                    prop:value=move || count.get()
                    on:input=move |ev| count.set(event_target_value(&ev))/>
            </label>
            <button type="submit" class="btn">"Save bounds"</button>
            {move || saved.get().then(|| view! { <span class="muted" role="status">"Saved."</span> })}
        </form>
        {move || error.get().map(|e| view! { <ErrorNotice error=e/> })}
    }
}
