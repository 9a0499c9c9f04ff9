//! Remove an integration, saying first how many contacts go with it.

use crate::api::integrations::{integration_removal_count, remove_integration};
use crate::model::{AppError, Provider};
use crate::ui::components::ErrorNotice;
use leptos::prelude::*;
use leptos::task::spawn_local;

#[component]
pub(super) fn RemoveDialog(
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
