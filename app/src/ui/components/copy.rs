//! Copy to the clipboard.

use leptos::prelude::*;

/// A button that copies `text` to the clipboard and says so.
#[component]
pub fn CopyButton(#[prop(into)] text: Signal<String>, what: &'static str) -> impl IntoView {
    let copied = RwSignal::new(false);
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        {
            if let Some(w) = web_sys::window() {
                let _ = w.navigator().clipboard().write_text(&text.get_untracked());
                copied.set(true);
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = text;
    };
    view! {
        <button type="button" class="btn small" aria-label=format!("Copy {what}") on:click=copy>
            {move || if copied.get() { "Copied" } else { "Copy" }}
        </button>
        <span class="sr-only" role="status">
            {move || copied.get().then(|| format!("Copied {what}."))}
        </span>
    }
}
