//! A labelled form field with its error message.

use crate::model::AppError;
use leptos::prelude::*;

/// The message for `field` in the latest result of a form, if any.
pub fn field_error<T: Send + Sync + 'static>(
    result: impl Fn() -> Option<Result<T, AppError>> + Send + Sync + 'static,
    field: &'static str,
) -> Signal<Option<String>> {
    Signal::derive(move || match result() {
        Some(Err(e)) => e.field_message(field),
        _ => None,
    })
}

#[component]
pub fn Field(
    label: &'static str,
    name: &'static str,
    value: RwSignal<String>,
    #[prop(into)] error: Signal<Option<String>>,
    #[prop(default = "text")] kind: &'static str,
    #[prop(optional)] hint: Option<&'static str>,
    #[prop(optional)] required: bool,
    #[prop(optional)] autocomplete: Option<&'static str>,
    #[prop(optional)] list: Option<&'static str>,
    #[prop(optional)] placeholder: Option<&'static str>,
    /// Shown, not edited (a value another system owns).
    #[prop(optional)]
    readonly: bool,
) -> impl IntoView {
    let id = format!("field-{name}");
    let error_id = format!("field-{name}-error");
    let hint_id = format!("field-{name}-hint");
    let described = {
        let (error_id, hint_id) = (error_id.clone(), hint_id.clone());
        move || {
            let mut ids = Vec::new();
            if hint.is_some() {
                ids.push(hint_id.clone());
            }
            if error.get().is_some() {
                ids.push(error_id.clone());
            }
            (!ids.is_empty()).then(|| ids.join(" "))
        }
    };
    view! {
        <div class="field" class:has-error=move || error.get().is_some()>
            <div class="label-row">
                <label for=id.clone()>{label}</label>
                {required.then(|| view! { <span class="required" aria-hidden="true">"*"</span> })}
            </div>
            {hint.map(|h| view! { <p class="hint" id=hint_id.clone()>{h}</p> })}
            <input
                id=id
                name=name
                type=kind
                required=required
                autocomplete=autocomplete
                list=list
                placeholder=placeholder
                readonly=readonly
                aria-invalid=move || error.get().is_some().then_some("true")
                aria-describedby=described
                prop:value=move || value.get()
                value=value.get_untracked()
                on:input=move |ev| value.set(event_target_value(&ev))
            />
            <p class="field-error" id=error_id role="alert">
                {move || error.get()}
            </p>
        </div>
    }
}
