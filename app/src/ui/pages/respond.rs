//! The page a recipient's response link opens: no sign-in, the message as
//! sent to them, and the answers to pick (the last pick counts).

use crate::api::incidents::{open_response, Respond};
use crate::model::{AppError, ResponseView};
use crate::ui::components::Loading;
use leptos::prelude::*;
use leptos_meta::{Meta, Title};
use leptos_router::hooks::use_params_map;

#[component]
pub fn ResponsePage() -> impl IntoView {
    let params = use_params_map();
    let token = Memo::new(move |_| params.read().get("token").unwrap_or_default());
    let view = Resource::new_serde_wb(move || token.get(), open_response);
    view! {
        <Title text="Your answer · Muster"/>
        // The link is the recipient's key: keep it out of other sites' logs.
        <Meta name="referrer" content="no-referrer"/>
        <main class="auth-page">
            <div class="card auth-card wide response-card">
                <Suspense fallback=|| view! { <Loading/> }>
                    {move || Suspend::new(async move {
                        match view.await {
                            Ok(v) => view! { <Answer view=v token=token.get_untracked()/> }.into_any(),
                            Err(AppError::NotFound) => view! {
                                <h1>"This link does not work"</h1>
                                <p class="lead">"Check that it was copied whole, or ask whoever sent it."</p>
                            }
                            .into_any(),
                            Err(e) => view! { <div class="notice error" role="alert">{e.to_string()}</div> }.into_any(),
                        }
                    })}
                </Suspense>
            </div>
        </main>
    }
}

#[component]
fn Answer(view: ResponseView, token: String) -> impl IntoView {
    let respond = ServerAction::<Respond>::new();
    let answer = RwSignal::new(view.answer);
    let closed = RwSignal::new(view.closed);
    Effect::new(move |_| match respond.value().get() {
        Some(Ok(v)) => {
            answer.set(v.answer);
            closed.set(v.closed);
        }
        Some(Err(AppError::Conflict(_))) => closed.set(true),
        _ => {}
    });
    let error = move || match respond.value().get() {
        Some(Err(AppError::Conflict(_))) | Some(Ok(_)) | None => None,
        Some(Err(e)) => Some(e.to_string()),
    };
    let options = StoredValue::new(view.options.clone());
    let chosen = move || {
        answer
            .get()
            .and_then(|i| options.with_value(|o| o.get(i).cloned()))
    };
    view! {
        <p class="muted">{view.org_name.clone()} " · " {view.severity.label()} " severity"</p>
        <h1>{view.subject.clone()}</h1>
        <p class="message-body">{view.body.clone()}</p>
        <div class="notice error" role="alert" hidden=move || error().is_none()>{error}</div>
        <p class="notice success" role="status" data-testid="your-answer" hidden=move || chosen().is_none()>
            "Your answer: " <strong>{chosen}</strong>
            {move || (!closed.get()).then_some(". You can change it below.")}
        </p>
        <p class="notice" hidden=move || !closed.get()>"This incident is resolved: answers are closed."</p>
        {(!view.options.is_empty()).then(|| view! {
            <div class="answer-options" role="group" aria-label="Your answer" hidden=move || closed.get()>
                {view.options.iter().enumerate().map(|(i, o)| {
                    let token = token.clone();
                    view! {
                        <button
                            type="button"
                            class="btn block answer"
                            aria-pressed=move || (answer.get() == Some(i)).to_string()
                            disabled=move || respond.pending().get()
                            on:click=move |_| { respond.dispatch(Respond { token: token.clone(), option: i }); }
                        >
                            {o.clone()}
                        </button>
                    }
                }).collect_view()}
            </div>
        })}
    }
}
