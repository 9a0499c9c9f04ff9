//! First run: create the organisation and its first administrator.

use crate::api::auth::Setup;
use crate::ui::components::{field_error, Field};
use leptos::prelude::*;
use leptos_meta::Title;

/// Countries offered as the default phone region (ISO 3166 code, name).
const REGIONS: &[(&str, &str)] = &[
    ("AR", "Argentina"),
    ("AU", "Australia"),
    ("AT", "Austria"),
    ("BE", "Belgium"),
    ("BR", "Brazil"),
    ("CA", "Canada"),
    ("CL", "Chile"),
    ("CN", "China"),
    ("CO", "Colombia"),
    ("CZ", "Czechia"),
    ("DK", "Denmark"),
    ("EG", "Egypt"),
    ("FI", "Finland"),
    ("FR", "France"),
    ("DE", "Germany"),
    ("GR", "Greece"),
    ("HK", "Hong Kong"),
    ("HU", "Hungary"),
    ("IN", "India"),
    ("ID", "Indonesia"),
    ("IE", "Ireland"),
    ("IL", "Israel"),
    ("IT", "Italy"),
    ("JP", "Japan"),
    ("KE", "Kenya"),
    ("MY", "Malaysia"),
    ("MX", "Mexico"),
    ("NL", "Netherlands"),
    ("NZ", "New Zealand"),
    ("NG", "Nigeria"),
    ("NO", "Norway"),
    ("PH", "Philippines"),
    ("PL", "Poland"),
    ("PT", "Portugal"),
    ("RO", "Romania"),
    ("SA", "Saudi Arabia"),
    ("SG", "Singapore"),
    ("ZA", "South Africa"),
    ("KR", "South Korea"),
    ("ES", "Spain"),
    ("SE", "Sweden"),
    ("CH", "Switzerland"),
    ("TW", "Taiwan"),
    ("TH", "Thailand"),
    ("TR", "Türkiye"),
    ("AE", "United Arab Emirates"),
    ("GB", "United Kingdom"),
    ("US", "United States"),
    ("VN", "Vietnam"),
];

const TIME_ZONES: &[&str] = &[
    "UTC",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Lisbon",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Amsterdam",
    "Europe/Madrid",
    "Europe/Rome",
    "Europe/Stockholm",
    "Europe/Warsaw",
    "Europe/Athens",
    "Europe/Istanbul",
    "Africa/Johannesburg",
    "Africa/Lagos",
    "Africa/Nairobi",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Hong_Kong",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Australia/Perth",
    "Australia/Sydney",
    "Pacific/Auckland",
    "America/Sao_Paulo",
    "America/Mexico_City",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "America/Toronto",
    "America/Vancouver",
    "Pacific/Honolulu",
];

#[component]
pub fn SetupPage() -> impl IntoView {
    let action = ServerAction::<Setup>::new();
    let result = move || action.value().get();
    let general = move || match result() {
        Some(Err(crate::model::AppError::Invalid(_))) | None | Some(Ok(())) => None,
        Some(Err(e)) => Some(e.to_string()),
    };
    let region_error = field_error(result, "default_region");
    let tz_error = field_error(result, "time_zone");
    view! {
        <Title text="Set up Muster"/>
        <main class="auth-page">
            <div class="card auth-card wide">
                <h1>"Set up Muster"</h1>
                <p class="lead">
                    "Create your organisation and its first administrator. You can invite more administrators later."
                </p>
                <ActionForm action=action>
                    <div class="notice error" role="alert" hidden=move || general().is_none()>
                        {general}
                    </div>
                    <Field
                        label="Setup code"
                        name="setup_code"
                        value=RwSignal::new(String::new())
                        error=field_error(result, "setup_code")
                        required=true
                        autocomplete="off"
                        hint="Muster printed it in its log when it started (the line with “setup code”), unless MUSTER_SETUP_CODE set it. It shows that you run this server."
                    />
                    <fieldset>
                        <legend>"Organisation"</legend>
                        <Field label="Organisation name" name="org_name" value=RwSignal::new(String::new()) error=field_error(result, "org_name") required=true autocomplete="organization"/>
                        <div class="field" class:has-error=move || region_error.get().is_some()>
                            <label for="field-default_region">"Default phone region"</label>
                            <p class="hint" id="field-default_region-hint">
                                "Phone numbers typed without a country code are read as numbers of this country."
                            </p>
                            <select id="field-default_region" name="default_region" aria-describedby="field-default_region-hint">
                                {REGIONS
                                    .iter()
                                    .map(|(code, name)| {
                                        view! { <option value=*code selected=*code == "US">{*name}</option> }
                                    })
                                    .collect_view()}
                            </select>
                            <p class="field-error" role="alert">{move || region_error.get()}</p>
                        </div>
                        <div class="field" class:has-error=move || tz_error.get().is_some()>
                            <label for="field-time_zone">"Time zone"</label>
                            <select id="field-time_zone" name="time_zone">
                                {TIME_ZONES
                                    .iter()
                                    .map(|tz| view! { <option value=*tz>{*tz}</option> })
                                    .collect_view()}
                            </select>
                            <p class="field-error" role="alert">{move || tz_error.get()}</p>
                        </div>
                    </fieldset>
                    <fieldset>
                        <legend>"First administrator"</legend>
                        <Field label="Email" name="email" kind="email" value=RwSignal::new(String::new()) error=field_error(result, "email") required=true autocomplete="username"/>
                        <Field
                            label="Password"
                            name="password"
                            kind="password"
                            value=RwSignal::new(String::new())
                            error=field_error(result, "password")
                            required=true
                            autocomplete="new-password"
                            hint="At least 12 characters."
                        />
                    </fieldset>
                    <button type="submit" class="btn primary block" disabled=move || action.pending().get()>
                        {move || if action.pending().get() { "Creating…" } else { "Create organisation" }}
                    </button>
                </ActionForm>
            </div>
        </main>
    }
}
