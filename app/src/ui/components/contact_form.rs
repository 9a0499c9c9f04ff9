//! The form behind Add Contact and the contact details page.

use super::field::Field;
use crate::model::{AppError, ContactDraft, Facets};
use leptos::prelude::*;

#[component]
pub fn ContactForm(
    initial: ContactDraft,
    facets: Facets,
    /// The latest error of the save, if it failed.
    #[prop(into)]
    error: Signal<Option<AppError>>,
    #[prop(into)] pending: Signal<bool>,
    on_submit: Callback<ContactDraft>,
    submit_label: &'static str,
    /// Groups kept by an integration's sync, shown read-only, and the
    /// integration's name (the contact's Source).
    #[prop(optional)]
    synced_groups: Option<(Vec<String>, String)>,
    /// The name and email belong to an identity provider (the contact was
    /// provisioned over SCIM): shown, not edited.
    #[prop(optional)]
    locked: bool,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    let first_name = RwSignal::new(initial.first_name);
    let last_name = RwSignal::new(initial.last_name);
    let email = RwSignal::new(initial.email);
    let phone = RwSignal::new(initial.phone);
    let department = RwSignal::new(initial.department);
    let role = RwSignal::new(initial.role);
    let location = RwSignal::new(initial.location);
    let groups = RwSignal::new(initial.groups);
    let err = move |field: &'static str| {
        Signal::derive(move || error.get().and_then(|e| e.field_message(field)))
    };
    let general_error = move || match error.get() {
        Some(AppError::Invalid(_)) | None => None,
        Some(e) => Some(e.to_string()),
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        on_submit.run(ContactDraft {
            first_name: first_name.get_untracked(),
            last_name: last_name.get_untracked(),
            email: email.get_untracked(),
            phone: phone.get_untracked(),
            department: department.get_untracked(),
            role: role.get_untracked(),
            location: location.get_untracked(),
            groups: groups.get_untracked(),
        });
    };
    let Facets {
        departments,
        roles,
        locations,
        groups: group_names,
        ..
    } = facets;
    let options = |id: &'static str, values: Vec<String>| {
        view! {
            <datalist id=id>
                {values.into_iter().map(|v| view! { <option value=v></option> }).collect_view()}
            </datalist>
        }
    };
    view! {
        <form class="card form" on:submit=submit novalidate>
            <div class="notice error" role="alert" hidden=move || general_error().is_none()>
                {general_error}
            </div>
            <div class="grid-2">
                <Field label="First name" name="first_name" value=first_name error=err("first_name") required=true autocomplete="off" readonly=locked/>
                <Field label="Last name" name="last_name" value=last_name error=err("last_name") required=true autocomplete="off" readonly=locked/>
                <Field
                    label="Email"
                    name="email"
                    kind="email"
                    value=email
                    error=err("email")
                    autocomplete="off"
                    hint=if locked { "Set by the identity provider." } else { "An email address or a mobile phone is required." }
                    readonly=locked
                />
                <Field
                    label="Mobile phone"
                    name="phone"
                    kind="tel"
                    value=phone
                    error=err("phone")
                    autocomplete="off"
                    hint="With a country code, or in your organisation's default country."
                />
                <Field label="Department" name="department" value=department error=err("department") list="department-options" autocomplete="off"/>
                <Field label="Role" name="role" value=role error=err("role") list="role-options" autocomplete="off"/>
                <Field label="Location" name="location" value=location error=err("location") list="location-options" autocomplete="off"/>
            </div>
            {options("department-options", departments)}
            {options("role-options", roles)}
            {options("location-options", locations)}
            <GroupPicker groups=groups options=group_names error=err("groups")/>
            {synced_groups
                .filter(|(names, _)| !names.is_empty())
                .map(|(names, source)| view! { <SyncedGroups names source/> })}
            <div class="form-actions">
                <button type="submit" class="btn primary" disabled=move || pending.get()>
                    {move || if pending.get() { "Saving…" } else { submit_label }}
                </button>
                {children.map(|c| c())}
            </div>
        </form>
    }
}

/// Pick existing groups or type a new name; chosen groups show as removable chips.
#[component]
fn GroupPicker(
    groups: RwSignal<Vec<String>>,
    options: Vec<String>,
    error: Signal<Option<String>>,
) -> impl IntoView {
    let input = RwSignal::new(String::new());
    let add = move || {
        let name = input.get_untracked().trim().to_string();
        if name.is_empty() {
            return;
        }
        groups.update(|gs| {
            if !gs.iter().any(|g| g.eq_ignore_ascii_case(&name)) {
                gs.push(name);
            }
        });
        input.set(String::new());
    };
    view! {
        <div class="field" class:has-error=move || error.get().is_some()>
            <label for="field-groups">"Groups"</label>
            <p class="hint" id="field-groups-hint">
                "Choose an existing group or type a new name, then press Enter."
            </p>
            <ul class="chips" aria-label="Selected groups">
                <For each=move || groups.get() key=|g| g.clone() let:group>
                    <li class="chip">
                        <span>{group.clone()}</span>
                        <button
                            type="button"
                            class="chip-remove"
                            aria-label=format!("Remove group {group}")
                            on:click={
                                let group = group.clone();
                                move |_| groups.update(|gs| gs.retain(|g| g != &group))
                            }
                        >
                            "×"
                        </button>
                    </li>
                </For>
            </ul>
            <div class="inline-input">
                <input
                    id="field-groups"
                    list="group-options"
                    autocomplete="off"
                    aria-describedby="field-groups-hint"
                    prop:value=move || input.get()
                    on:input=move |ev| input.set(event_target_value(&ev))
                    on:keydown=move |ev| {
                        if ev.key() == "Enter" {
                            ev.prevent_default();
                            add();
                        }
                    }
                />
                <button type="button" class="btn" on:click=move |_| add()>"Add group"</button>
            </div>
            <datalist id="group-options">
                {options.into_iter().map(|v| view! { <option value=v></option> }).collect_view()}
            </datalist>
            <p class="field-error" role="alert">{move || error.get()}</p>
        </div>
    }
}

/// Groups from the contact's integration: their members come from the source.
#[component]
fn SyncedGroups(names: Vec<String>, source: String) -> impl IntoView {
    let label = format!("Groups from {source}");
    view! {
        <div class="field">
            <span class="label" id="synced-groups-label">{label}</span>
            <p class="hint">
                "Kept in step with " {source.clone()} ": change these memberships there."
            </p>
            <ul class="chips" aria-labelledby="synced-groups-label">
                {names
                    .into_iter()
                    .map(|name| view! { <li class="chip synced">{name}</li> })
                    .collect_view()}
            </ul>
        </div>
    }
}
