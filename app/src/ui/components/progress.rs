//! A progress bar that screen readers announce.

use leptos::prelude::*;

/// `value` is from 0 to 1; `busy` shows work whose end is not known yet.
#[component]
pub fn ProgressBar(
    #[prop(into)] label: String,
    value: f64,
    #[prop(default = false)] busy: bool,
) -> impl IntoView {
    let percent = (value.clamp(0.0, 1.0) * 100.0).floor() as u32;
    view! {
        <div class="progress-block">
            <div class="progress-label">
                <span>{label.clone()}</span>
                <span class="progress-percent" aria-hidden="true">{format!("{percent}%")}</span>
            </div>
            // A native bar: its width needs no inline style, which the
            // Content-Security-Policy refuses. Busy, it has no value
            // (indeterminate).
            <progress
                class="progress"
                max="100"
                value=(!busy).then_some(percent)
                aria-label=label
                aria-valuemin="0"
                aria-valuemax="100"
                aria-valuenow=percent.to_string()
            >
                {format!("{percent}%")}
            </progress>
        </div>
    }
}
