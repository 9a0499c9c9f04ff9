//! Preview changes: what a sync would do now, read from the source, with
//! nothing applied.

use crate::api::integrations::preview_sync;
use crate::model::{PreviewItem, Provider, SyncPreview};
use crate::ui::components::{ErrorNotice, Loading};
use leptos::prelude::*;

#[component]
pub(super) fn SyncPreviewPanel(
    id: i64,
    provider: Provider,
    on_close: Callback<()>,
) -> impl IntoView {
    let preview = LocalResource::new(move || preview_sync(id));
    let title = format!("preview-title-{id}");
    view! {
        <section class="preview card" aria-labelledby=title.clone() data-testid="sync-preview">
            <header class="integration-head">
                <h4 id=title.clone()>"Preview: what a sync would do now"</h4>
                <button type="button" class="btn" on:click=move |_| on_close.run(())>"Close preview"</button>
            </header>
            {move || match preview.get() {
                None => view! {
                    <Loading label=if provider == Provider::Workday { "Reading the report…" } else { "Reading the directory…" }/>
                }.into_any(),
                Some(Err(e)) => view! { <ErrorNotice error=e/> }.into_any(),
                Some(Ok(p)) => view! { <PreviewBody p/> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn PreviewBody(p: SyncPreview) -> impl IntoView {
    let r = &p.result;
    let deletions = r.held.max(p.deleted.len() as u64);
    view! {
        <p class="meta-line" data-testid="preview-counts">
            "Nothing has been changed. The source lists " <strong>{r.people}</strong> " people: "
            {r.created} " would be added, " {r.updated + r.linked} " updated, " {r.unchanged}
            " unchanged, " {r.skipped} " skipped."
        </p>
        {p.would_hold.then(|| view! {
            <p class="notice warning" data-testid="preview-held">
                "It would delete " {deletions} " contacts, more than this integration deletes without review: those deletions would be held."
            </p>
        })}
        <List title="Added" items=p.added total=r.created/>
        <List title="Updated" items=p.updated total=r.updated + r.linked/>
        <List title="Deleted" items=p.deleted total=deletions/>
        <List title="Skipped" items=p.skipped total=r.skipped/>
    }
}

#[component]
fn List(title: &'static str, items: Vec<PreviewItem>, total: u64) -> impl IntoView {
    let shown = items.len() as u64;
    let empty = items.is_empty();
    view! {
        <details class="preview-kind" data-testid=format!("preview-{}", title.to_lowercase())>
            <summary>
                {title} " (" {total} ")"
                {(total > shown).then(|| format!(", the first {shown} listed"))}
            </summary>
            {if empty {
                view! { <p class="muted">"None."</p> }.into_any()
            } else {
                view! {
                    <ul class="plain preview-items">
                        {items
                            .into_iter()
                            .map(|i| view! {
                                <li>
                                    <strong>{i.name}</strong>
                                    {i.email.map(|e| view! { <span class="muted">" " {e}</span> })}
                                    {i.detail.map(|d| view! { <span>" — " {d}</span> })}
                                    {(!i.changes.is_empty()).then(|| view! {
                                        <ul class="plain changes">
                                            {i.changes
                                                .into_iter()
                                                .map(|c| view! {
                                                    <li>
                                                        {c.field.replace('_', " ")} ": "
                                                        <del>{c.before.unwrap_or_else(|| "(empty)".into())}</del>
                                                        " → "
                                                        <ins>{c.after.unwrap_or_else(|| "(empty)".into())}</ins>
                                                    </li>
                                                })
                                                .collect_view()}
                                        </ul>
                                    })}
                                </li>
                            })
                            .collect_view()}
                    </ul>
                }
                .into_any()
            }}
        </details>
    }
}
