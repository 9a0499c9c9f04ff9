//! The signed-in administrator's own account: change the password, sign out
//! everywhere.

use crate::api::auth::{ChangePassword, SignOutEverywhere};
use crate::model::AppError;
use crate::ui::components::{field_error, AppShell, Field};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn AccountPage() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let everywhere = ServerAction::<SignOutEverywhere>::new();
    let result = move || change.value().get();
    let general = move || match result() {
        Some(Err(AppError::Invalid(_))) | None | Some(Ok(_)) => None,
        Some(Err(e)) => Some(e.to_string()),
    };
    let done = move || match result() {
        Some(Ok(0)) => Some("Password changed. You had no other sessions.".to_string()),
        Some(Ok(1)) => Some("Password changed. Your one other session was signed out.".to_string()),
        Some(Ok(n)) => Some(format!(
            "Password changed. Your {n} other sessions were signed out."
        )),
        _ => None,
    };
    // No password stays typed in the form once it is changed.
    let (current, new, confirm) = (
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
    );
    Effect::new(move |_| {
        if let Some(Ok(_)) = change.value().get() {
            for field in [current, new, confirm] {
                field.set(String::new());
            }
        }
    });
    view! {
        <Title text="Your account · Muster"/>
        <AppShell>
            <div class="page-head">
                <h1>"Your account"</h1>
            </div>
            <section class="card account-card" aria-labelledby="password-title">
                <h2 id="password-title">"Change password"</h2>
                <p class="hint">
                    "Every other session of yours ends when the password changes; this one stays signed in."
                </p>
                <div class="notice success" role="status" hidden=move || done().is_none()>
                    {done}
                </div>
                <div class="notice error" role="alert" hidden=move || general().is_none()>
                    {general}
                </div>
                <ActionForm action=change>
                    <Field label="Current password" name="current_password" kind="password" value=current error=field_error(result, "current_password") required=true autocomplete="current-password"/>
                    <Field label="New password" name="new_password" kind="password" value=new error=field_error(result, "new_password") required=true autocomplete="new-password" hint="At least 12 characters."/>
                    <Field label="Confirm new password" name="confirm_password" kind="password" value=confirm error=field_error(result, "confirm_password") required=true autocomplete="new-password"/>
                    <div class="form-actions">
                        <button type="submit" class="btn primary" disabled=move || change.pending().get()>
                            {move || if change.pending().get() { "Changing…" } else { "Change password" }}
                        </button>
                    </div>
                </ActionForm>
            </section>
            <section class="card account-card" aria-labelledby="sessions-title">
                <h2 id="sessions-title">"Sessions"</h2>
                <p class="hint">
                    "Signed in on a computer you no longer use, or worried someone else is? This ends every session of yours, on every device, this one included."
                </p>
                <ActionForm action=everywhere>
                    <button type="submit" class="btn danger" disabled=move || everywhere.pending().get()>
                        "Sign out everywhere"
                    </button>
                </ActionForm>
            </section>
        </AppShell>
    }
}
