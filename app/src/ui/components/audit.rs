//! The History section of a scenario or an incident: its audit trail.

use super::{ErrorNotice, Loading};
use crate::model::{AppError, AuditEntry};
use leptos::prelude::*;
use leptos::server::codee::string::JsonSerdeWasmCodec;

#[component]
pub fn AuditTrail(
    trail: Resource<Result<Vec<AuditEntry>, AppError>, JsonSerdeWasmCodec>,
    testid: &'static str,
) -> impl IntoView {
    view! {
        <section class="section history-section">
            <h2>"History"</h2>
            <Transition fallback=|| view! { <Loading/> }>
                {move || Suspend::new(async move {
                    match trail.await {
                        Ok(entries) => view! {
                            <ul class="plain audit" data-testid=testid>
                                {entries.into_iter().map(|e| view! {
                                    <li>
                                        <span class="mono">{e.at.format("%Y-%m-%d %H:%M UTC").to_string()}</span>
                                        " · " {e.actor} " " {e.action} " " <em>{e.summary}</em>
                                    </li>
                                }).collect_view()}
                            </ul>
                        }
                        .into_any(),
                        Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
