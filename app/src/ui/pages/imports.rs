//! An upload's progress and outcome, and the history of every upload.

use crate::api::imports::{cancel_import, get_import, import_history};
use crate::model::{AppError, ImportJob, ImportStatus};
use crate::ui::components::{AppShell, ContactsTabs, ErrorNotice, Loading, ProgressBar};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

/// How often a running import's progress is read.
const POLL_MS: u64 = 400;

fn when(job: &ImportJob) -> String {
    job.created_at.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn status_class(status: ImportStatus) -> &'static str {
    match status {
        ImportStatus::Completed => "badge ok",
        ImportStatus::Failed | ImportStatus::Interrupted => "badge bad",
        ImportStatus::Running | ImportStatus::Previewed => "badge busy",
        ImportStatus::Cancelled | ImportStatus::Discarded => "badge",
    }
}

#[component]
pub fn ImportJobPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").and_then(|v| v.parse::<i64>().ok());
    let first = Resource::new_serde_wb(id, |id| async move {
        match id {
            Some(id) => get_import(id).await,
            None => Err(AppError::NotFound),
        }
    });
    view! {
        <Title text="Upload · Muster"/>
        <AppShell>
            <nav class="breadcrumbs" aria-label="Breadcrumbs">
                <a href="/contacts">"Contacts"</a>
                " / "
                <a href="/contacts/imports">"Upload history"</a>
                " / Upload"
            </nav>
            <Suspense fallback=|| view! { <Loading/> }>
                {move || Suspend::new(async move {
                    match first.await {
                        Ok(job) => view! { <JobView job/> }.into_any(),
                        Err(AppError::NotFound) => {
                            view! {
                                <div class="notice" role="alert">
                                    "There is no such upload. "
                                    <a href="/contacts/imports">"See the upload history"</a>
                                </div>
                            }
                                .into_any()
                        }
                        Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                    }
                })}
            </Suspense>
        </AppShell>
    }
}

/// Progress while the import runs (read twice a second or more), then its
/// summary, with the search index's progress while it catches up.
#[component]
fn JobView(job: ImportJob) -> impl IntoView {
    let id = job.id;
    let job = RwSignal::new(job);
    let error = RwSignal::new(None::<AppError>);
    let cancelling = RwSignal::new(false);
    // Poll in the browser only, until the job can change no more.
    Effect::new(move |_| {
        if job.with_untracked(|j| j.is_settled()) {
            return;
        }
        let in_flight = StoredValue::new(false);
        let handle = set_interval_with_handle(
            move || {
                if in_flight.get_value() {
                    return;
                }
                in_flight.set_value(true);
                leptos::task::spawn_local(async move {
                    match get_import(id).await {
                        Ok(next) => {
                            error.set(None);
                            job.set(next);
                        }
                        Err(e) => error.set(Some(e)),
                    }
                    in_flight.set_value(false);
                });
            },
            std::time::Duration::from_millis(POLL_MS),
        );
        if let Ok(handle) = handle {
            let handle = StoredValue::new(Some(handle));
            Effect::new(move |_| {
                if job.with(|j| j.is_settled()) {
                    if let Some(h) = handle.get_value() {
                        h.clear();
                        handle.set_value(None);
                    }
                }
            });
            on_cleanup(move || {
                if let Some(h) = handle.get_value() {
                    h.clear();
                }
            });
        }
    });
    let cancel = move |_| {
        cancelling.set(true);
        leptos::task::spawn_local(async move {
            match cancel_import(id).await {
                Ok(next) => job.set(next),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        {move || {
            let j = job.get();
            view! {
                <div class="page-head">
                    <h1>{j.file_name.clone()}</h1>
                    <span class=status_class(j.status) data-testid="import-status">
                        {j.status.label()}
                    </span>
                </div>
                <p class="meta">{format!("Uploaded by {} on {}", j.uploaded_by, when(&j))}</p>
            }
        }}
        <ContactsTabs integrations=false/>
        {move || error.get().map(|e| view! { <ErrorNotice error=e/> })}
        {move || {
            let j = job.get();
            match j.status {
                ImportStatus::Running => {
                    let label = format!(
                        "Imported {} of {} rows",
                        j.processed_rows,
                        j.total_rows,
                    );
                    let value = if j.total_rows == 0 {
                        0.0
                    } else {
                        j.processed_rows as f64 / j.total_rows as f64
                    };
                    view! {
                        <section class="card panel" aria-labelledby="progress-title">
                            <h2 id="progress-title">"Importing"</h2>
                            <ProgressBar label value/>
                            // Its server stopped: it waits for a server to go on with it.
                            {j.message.clone().map(|m| view! { <p class="notice" role="status">{m}</p> })}
                            <Counts job=j.clone()/>
                            <div class="form-actions">
                                <button
                                    type="button"
                                    class="btn danger"
                                    disabled=move || cancelling.get()
                                    on:click=cancel
                                >
                                    {move || if cancelling.get() { "Cancelling…" } else { "Cancel import" }}
                                </button>
                            </div>
                            <p class="hint">
                                "You can leave this page: the import goes on, and the upload history shows how it ends."
                            </p>
                        </section>
                    }
                        .into_any()
                }
                ImportStatus::Previewed => {
                    view! {
                        <section class="card panel">
                            <p>"This upload is waiting for its columns to be confirmed."</p>
                            <a class="btn primary" href="/contacts/upload">"Upload a file"</a>
                        </section>
                    }
                        .into_any()
                }
                _ => view! { <Summary job=j/> }.into_any(),
            }
        }}
    }
}

/// Created, updated, unchanged and failed so far.
#[component]
fn Counts(job: ImportJob) -> impl IntoView {
    let cells = [
        ("Created", job.created, "created"),
        ("Updated", job.updated, "updated"),
        ("Unchanged", job.unchanged, "unchanged"),
        ("Failed", job.failed, "failed"),
        ("Warnings", job.warnings, "warnings"),
    ];
    view! {
        <dl class="counts">
            {cells
                .into_iter()
                .map(|(label, n, key)| {
                    view! {
                        <div class=format!("count-cell {key}")>
                            <dt>{label}</dt>
                            <dd data-testid=format!("count-{key}")>{n}</dd>
                        </div>
                    }
                })
                .collect_view()}
        </dl>
    }
}

#[component]
fn Summary(job: ImportJob) -> impl IntoView {
    let id = job.id;
    let reached = format!(
        "{} of {} rows processed.",
        job.processed_rows, job.total_rows
    );
    let has_problems = job.failed + job.warnings > 0;
    let (class, headline) = match job.status {
        ImportStatus::Completed if job.failed == 0 => ("notice success", "Import complete."),
        ImportStatus::Completed => (
            "notice",
            "Import complete; some rows could not be imported.",
        ),
        ImportStatus::Cancelled => ("notice", "Import cancelled."),
        ImportStatus::Interrupted => ("notice error", "Import interrupted."),
        ImportStatus::Discarded => ("notice", "This file was not imported."),
        _ => ("notice error", "Import failed."),
    };
    let message = job.message.clone();
    let ran = job.processed_rows > 0 || job.status == ImportStatus::Completed;
    let indexing = job.indexing().map(|percent| {
        let label = format!(
            "Indexing for search: {} of {} contacts",
            job.indexed.min(job.index_total),
            job.index_total
        );
        view! {
            <div class="indexing" data-testid="import-indexing">
                <ProgressBar label value=f64::from(percent) / 100.0/>
                <p class="hint">
                    "The imported contacts are listed and can be filtered now; "
                    "a search finds each of them once it is indexed."
                </p>
            </div>
        }
    });
    view! {
        <section class="card panel" aria-labelledby="summary-title">
            <h2 id="summary-title">"Summary"</h2>
            <div class=class role="status">
                <strong>{headline}</strong>
                " "
                {ran.then(|| reached.clone())}
                {message.map(|m| view! { <p class="notice-detail">{m}</p> })}
            </div>
            {indexing}
            {ran.then(|| view! { <Counts job=job.clone()/> })}
            <div class="form-actions">
                {has_problems
                    .then(|| {
                        view! {
                            <a
                                class="btn"
                                href=format!("/imports/{id}/problems.csv")
                                download=format!("upload-{id}-problems.csv")
                                rel="external"
                            >
                                "Download error report"
                            </a>
                        }
                    })}
                <a class="btn primary" href="/contacts">"View contacts"</a>
                <a class="btn" href="/contacts/upload">"Upload another file"</a>
            </div>
        </section>
    }
}

#[component]
pub fn ImportsPage() -> impl IntoView {
    let history = Resource::new_serde_wb(|| (), |_| import_history());
    view! {
        <Title text="Upload history · Muster"/>
        <AppShell>
            <nav class="breadcrumbs" aria-label="Breadcrumbs">
                <a href="/contacts">"Contacts"</a>
                " / Upload history"
            </nav>
            <div class="page-head">
                <h1>"Upload history"</h1>
                <div class="actions">
                    <a class="btn primary" href="/contacts/upload">"Upload contacts"</a>
                </div>
            </div>
            <ContactsTabs integrations=false/>
            <Suspense fallback=|| view! { <Loading label="Loading uploads…"/> }>
                {move || Suspend::new(async move {
                    match history.await {
                        Ok(jobs) if jobs.is_empty() => {
                            view! {
                                <div class="empty-state card">
                                    <h2>"No uploads yet"</h2>
                                    <p>"Upload a CSV file to add or update many contacts at once."</p>
                                    <a class="btn primary" href="/contacts/upload">"Upload contacts"</a>
                                </div>
                            }
                                .into_any()
                        }
                        Ok(jobs) => view! { <HistoryTable jobs/> }.into_any(),
                        Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                    }
                })}
            </Suspense>
        </AppShell>
    }
}

#[component]
fn HistoryTable(jobs: Vec<ImportJob>) -> impl IntoView {
    view! {
        <div class="table-wrap card">
            <table class="contacts history">
                <thead>
                    <tr>
                        <th scope="col">"When"</th>
                        <th scope="col">"File"</th>
                        <th scope="col">"By"</th>
                        <th scope="col">"Rows"</th>
                        <th scope="col">"Created"</th>
                        <th scope="col">"Updated"</th>
                        <th scope="col">"Unchanged"</th>
                        <th scope="col">"Failed"</th>
                        <th scope="col">"Status"</th>
                    </tr>
                </thead>
                <tbody>
                    {jobs
                        .into_iter()
                        .map(|j| {
                            let rows = if j.status == ImportStatus::Running {
                                format!("{} of {}", j.processed_rows, j.total_rows)
                            } else {
                                j.total_rows.to_string()
                            };
                            view! {
                                <tr>
                                    <td data-label="When">{when(&j)}</td>
                                    <td data-label="File" class="name">
                                        <a href=format!("/contacts/imports/{}", j.id)>{j.file_name.clone()}</a>
                                    </td>
                                    <td data-label="By">{j.uploaded_by.clone()}</td>
                                    <td data-label="Rows">{rows}</td>
                                    <td data-label="Created">{j.created}</td>
                                    <td data-label="Updated">{j.updated}</td>
                                    <td data-label="Unchanged">{j.unchanged}</td>
                                    <td data-label="Failed">{j.failed}</td>
                                    <td data-label="Status">
                                        <span class=status_class(j.status) title=j.message.clone().unwrap_or_default()>
                                            {j.status.label()}
                                        </span>
                                        {j.indexing().map(|p| view! {
                                            <span class="badge busy">{format!("Indexing {p}%")}</span>
                                        })}
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}
