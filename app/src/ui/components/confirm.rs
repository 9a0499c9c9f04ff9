//! A confirmation before something that cannot be undone.

use leptos::prelude::*;

/// While `open`: a modal with `title`, what will happen (`message`), Cancel
/// (focused, and Escape) and the `action` button, which runs `on_confirm`.
#[component]
pub fn ConfirmDialog(
    open: RwSignal<bool>,
    #[prop(into)] title: Signal<String>,
    message: &'static str,
    action: &'static str,
    on_confirm: Callback<()>,
    #[prop(into, optional)] pending: Signal<bool>,
) -> impl IntoView {
    view! {
        <Show when=move || open.get()>
            <div class="modal-backdrop">
                <div
                    class="modal card"
                    role="alertdialog"
                    aria-modal="true"
                    aria-labelledby="confirm-title"
                    aria-describedby="confirm-desc"
                    on:keydown=move |ev| {
                        if ev.key() == "Escape" {
                            open.set(false)
                        }
                    }
                >
                    <h2 id="confirm-title">{move || title.get()}</h2>
                    <p id="confirm-desc">{message}</p>
                    <div class="form-actions">
                        <button type="button" class="btn" autofocus on:click=move |_| open.set(false)>
                            "Cancel"
                        </button>
                        <button
                            type="button"
                            class="btn danger"
                            disabled=move || pending.get()
                            on:click=move |_| {
                                on_confirm.run(());
                                open.set(false);
                            }
                        >
                            {action}
                        </button>
                    </div>
                </div>
            </div>
        </Show>
    }
}
