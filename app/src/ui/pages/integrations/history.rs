//! Sync history: every sync of the integration, newest first, a page at a
//! time: Job ID, Status, Total Contacts, Synced, Started At, Finished, and a
//! toggle for the details (added, updated, deleted, unchanged, skipped, held)
//! with the export of what it did to each contact.

use super::when;
use crate::api::integrations::{sync_history, HISTORY_PAGE};
use crate::model::{SyncRun, SyncStatus, SyncTrigger};
use crate::ui::components::{ErrorNotice, Loading};
use leptos::prelude::*;

fn status_class(status: SyncStatus) -> &'static str {
    match status {
        SyncStatus::Succeeded => "badge ok",
        SyncStatus::Running => "badge busy",
        SyncStatus::Held => "badge warn",
        _ => "badge bad",
    }
}

fn trigger_text(r: &SyncRun) -> String {
    match r.trigger {
        SyncTrigger::Retry => format!("Retry {}", r.attempt.max(1)),
        t => t.label().to_string(),
    }
}

#[component]
pub(super) fn SyncHistory(id: i64) -> impl IntoView {
    let page = RwSignal::new(0u64);
    let runs = LocalResource::new(move || sync_history(id, page.get()));
    view! {
        <h4 id=format!("history-{id}")>"Sync history"</h4>
        {move || match runs.get() {
            None => view! { <Loading label="Loading the sync history…"/> }.into_any(),
            Some(Err(e)) => view! { <ErrorNotice error=e/> }.into_any(),
            Some(Ok((list, _))) if list.is_empty() => {
                view! { <p class="muted">"No syncs yet."</p> }.into_any()
            }
            Some(Ok((list, total))) => {
                let pages = total.div_ceil(HISTORY_PAGE).max(1);
                view! {
                    <div class="table-wrap">
                        <table class="contacts compact history" data-testid="sync-history" aria-labelledby=format!("history-{id}")>
                            <thead>
                                <tr>
                                    <th scope="col">"Job ID"</th>
                                    <th scope="col">"Status"</th>
                                    <th scope="col">"Total Contacts"</th>
                                    <th scope="col">"Synced"</th>
                                    <th scope="col">"Started At"</th>
                                    <th scope="col">"Finished"</th>
                                    <th scope="col"><span class="sr-only">"Details"</span></th>
                                </tr>
                            </thead>
                            {list.into_iter().map(|r| view! { <RunRows id run=r/> }).collect_view()}
                        </table>
                    </div>
                    {(pages > 1).then(|| view! {
                        <nav class="pager" aria-label="Sync history pages">
                            <button
                                type="button"
                                class="btn"
                                disabled=move || page.get() == 0
                                on:click=move |_| page.update(|p| *p = p.saturating_sub(1))
                            >
                                "Newer"
                            </button>
                            <span class="muted">{move || format!("Page {} of {pages}", page.get() + 1)}</span>
                            <button
                                type="button"
                                class="btn"
                                disabled=move || page.get() + 1 >= pages
                                on:click=move |_| page.update(|p| *p += 1)
                            >
                                "Older"
                            </button>
                        </nav>
                    })}
                }
                .into_any()
            }
        }}
    }
}

/// One sync: its row, and its details when expanded.
#[component]
fn RunRows(id: i64, run: SyncRun) -> impl IntoView {
    let open = RwSignal::new(false);
    let details_id = format!("sync-{}-details", run.id);
    let export = format!("/integrations/{id}/syncs/{}/changes.csv", run.id);
    let r = run.clone();
    let counted = matches!(run.status, SyncStatus::Succeeded | SyncStatus::Held);
    let count = move |n: u64| if counted { n.to_string() } else { "—".into() };
    view! {
        <tbody data-testid="sync-run">
            <tr>
                <td>{run.id}</td>
                <td>
                    <span class=status_class(run.status)>{run.status.label()}</span>
                    {run.resolution.map(|x| view! { <span class="muted">" · " {x.label()}</span> })}
                </td>
                // Only a sync that applied has counts (a running one shows
                // its progress on the card).
                <td>{count(run.people)}</td>
                <td data-testid="sync-synced">
                    {count(run.synced())}
                </td>
                <td>{when(run.started_at)}</td>
                <td>{run.finished_at.map(when).unwrap_or_else(|| "—".into())}</td>
                <td>
                    <button
                        type="button"
                        class="btn icon"
                        aria-expanded=move || open.get().to_string()
                        aria-controls=details_id.clone()
                        aria-label=format!("Details of sync {}", run.id)
                        on:click=move |_| open.update(|o| *o = !*o)
                    >
                        {move || if open.get() { "∧" } else { "∨" }}
                    </button>
                </td>
            </tr>
            <tr id=details_id.clone() class="details" hidden=move || !open.get()>
                <td colspan="7">
                    <dl class="facts" data-testid="sync-details">
                        <div><dt>"Started by"</dt><dd>{trigger_text(&r)}</dd></div>
                        <div><dt>"Added"</dt><dd data-testid="sync-added">{r.added}</dd></div>
                        <div><dt>"Updated"</dt><dd data-testid="sync-updated">{r.updated}</dd></div>
                        <div><dt>"Deleted"</dt><dd data-testid="sync-deleted">{r.deleted}</dd></div>
                        <div><dt>"Unchanged"</dt><dd>{r.unchanged}</dd></div>
                        <div><dt>"Skipped"</dt><dd>{r.skipped}</dd></div>
                        <div><dt>"Held"</dt><dd data-testid="sync-held">{r.held}</dd></div>
                    </dl>
                    {r.error.clone().map(|e| view! { <p class="notice error">{e}</p> })}
                    <a class="btn" href=export download="" rel="external">"Export .csv"</a>
                </td>
            </tr>
        </tbody>
    }
}
