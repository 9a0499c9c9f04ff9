//! Incidents: the list, the launch (from a scenario or from scratch, after a
//! confirmation of whom and how), and each incident's page, live.

use super::scenarios::{DraftFields, DraftSignals, SeverityBadge};
use crate::api::incidents::{
    get_incident, get_progress, incident_history, incident_recipients, list_incidents,
    LaunchIncident, PreviewLaunch, ResolveIncident, SendFollowUp,
};
use crate::api::recipients::recipient_contacts;
use crate::api::scenarios::get_scenario;
use crate::model::{
    AppError, Audience, ChannelCounts, DeliveryStatus, FollowUp, Incident, IncidentProgress,
    IncidentRecipientPage, IncidentStatus, LaunchPreview, LaunchRequest, PickedContact,
    RecipientFilter, ScenarioDraft,
};
use crate::ui::components::{AppShell, AuditTrail, ConfirmDialog, ErrorNotice, Loading};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};
use std::time::Duration;

/// How often an active incident's page refreshes its counts.
const REFRESH: Duration = Duration::from_secs(2);

#[component]
fn StatusBadge(status: IncidentStatus) -> impl IntoView {
    let class = match status {
        IncidentStatus::Active => "badge busy",
        IncidentStatus::Resolved => "badge ok",
    };
    view! { <span class=class data-testid="incident-status">{status.label()}</span> }
}

#[component]
pub fn IncidentsPage() -> impl IntoView {
    let list = Resource::new_serde_wb(|| (), |_| list_incidents());
    let navigate = use_navigate();
    view! {
        <Title text="Incidents · Muster"/>
        <AppShell>
            <div class="page-head">
                <h1>"Incidents"</h1>
                <div class="actions">
                    <a class="btn" href="/scenarios">"Launch from a scenario"</a>
                    <a class="btn primary" href="/incidents/new">"New incident"</a>
                </div>
            </div>
            <Suspense fallback=|| view! { <Loading label="Loading incidents…"/> }>
                {move || {
                    let navigate = navigate.clone();
                    Suspend::new(async move {
                        match list.await {
                            Ok(rows) if rows.is_empty() => view! {
                                <div class="empty-state card">
                                    <h2>"No incidents yet"</h2>
                                    <p>"Launch one from a prepared scenario, or write one now."</p>
                                    <a class="btn primary" href="/incidents/new">"New incident"</a>
                                </div>
                            }
                            .into_any(),
                            Ok(rows) => view! {
                                <div class="table-wrap card">
                                    <table class="contacts incidents">
                                        <thead>
                                            <tr>
                                                <th scope="col">"Incident"</th>
                                                <th scope="col">"Severity"</th>
                                                <th scope="col">"Status"</th>
                                                <th scope="col">"Launched"</th>
                                                <th scope="col">"Answered"</th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {rows.into_iter().map(|i| {
                                                let href = format!("/incidents/{}", i.id);
                                                let open = {
                                                    let (navigate, href) = (navigate.clone(), href.clone());
                                                    move || navigate(&href, Default::default())
                                                };
                                                view! {
                                                    <tr class="row-link" on:click=move |_| open()>
                                                        <td class="name"><a href=href on:click=|ev| ev.stop_propagation()>{i.name}</a></td>
                                                        <td><SeverityBadge severity=i.severity/></td>
                                                        <td><StatusBadge status=i.status/></td>
                                                        <td class="muted">
                                                            {i.launched_at.format("%Y-%m-%d %H:%M UTC").to_string()}
                                                            <div class="row-sub">{i.launched_by}</div>
                                                        </td>
                                                        <td>{format!("{} of {}", i.answered, i.recipients)}</td>
                                                    </tr>
                                                }
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                            }
                            .into_any(),
                            Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                        }
                    })
                }}
            </Suspense>
        </AppShell>
    }
}

/// A new incident, from the scenario of `?scenario=` or from scratch.
#[component]
pub fn LaunchPage() -> impl IntoView {
    let query = use_query_map();
    let scenario = Memo::new(move |_| {
        query
            .read()
            .get("scenario")
            .and_then(|s| s.parse::<i64>().ok())
    });
    let loaded = Resource::new_serde_wb(
        move || scenario.get(),
        |id| async move {
            let Some(id) = id else {
                return Ok::<_, AppError>((None, ScenarioDraft::new_blank(), Vec::new()));
            };
            let s = get_scenario(id).await?;
            let people = recipient_contacts(s.draft.recipients.contacts.clone()).await?;
            Ok((Some(id), s.draft, people))
        },
    );
    view! {
        <Title text="Launch an incident · Muster"/>
        <AppShell>
            <nav class="breadcrumbs" aria-label="Breadcrumb">
                <a href="/incidents">"Incidents"</a>
                <span aria-hidden="true">" / "</span>
                <span aria-current="page">"Launch"</span>
            </nav>
            <Suspense fallback=|| view! { <Loading/> }>
                {move || Suspend::new(async move {
                    match loaded.await {
                        Ok((scenario_id, draft, people)) => {
                            view! { <LaunchEditor scenario_id draft people/> }.into_any()
                        }
                        Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                    }
                })}
            </Suspense>
        </AppShell>
    }
}

#[component]
fn LaunchEditor(
    scenario_id: Option<i64>,
    draft: ScenarioDraft,
    people: Vec<PickedContact>,
) -> impl IntoView {
    let from = (!draft.name.is_empty()).then(|| draft.name.clone());
    let fields = DraftSignals::new(draft, people);
    let preview = ServerAction::<PreviewLaunch>::new();
    let launch = ServerAction::<LaunchIncident>::new();
    let confirming = RwSignal::new(None::<LaunchPreview>);
    Effect::new(move |_| {
        if let Some(Ok(p)) = preview.value().get() {
            confirming.set(Some(p));
        }
    });
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(i)) = launch.value().get() {
            navigate(&format!("/incidents/{}", i.id), Default::default());
        }
    });
    let error = Signal::derive(move || {
        launch
            .value()
            .get()
            .and_then(|r| r.err())
            .or_else(|| preview.value().get().and_then(|r| r.err()))
    });
    let general_error = move || match error.get() {
        Some(AppError::Invalid(_)) | None => None,
        Some(e) => Some(e.to_string()),
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        launch.clear();
        preview.dispatch(PreviewLaunch {
            draft: fields.draft(),
        });
    };
    let confirm = move |_| {
        confirming.set(None);
        launch.dispatch(LaunchIncident {
            request: LaunchRequest {
                scenario_id,
                draft: fields.draft(),
            },
        });
    };
    view! {
        <div class="page-head">
            <h1>"Launch an incident"</h1>
        </div>
        {from.map(|name| view! { <p class="meta">"From the scenario " <strong>{name}</strong> ". Changes here are for this incident only."</p> })}
        <form class="card form scenario-form" on:submit=submit novalidate>
            <div class="notice error" role="alert" hidden=move || general_error().is_none()>
                {general_error}
            </div>
            <DraftFields fields error/>
            <div class="form-actions">
                <button
                    type="submit"
                    class="btn primary"
                    disabled=move || preview.pending().get() || launch.pending().get()
                >
                    {move || if launch.pending().get() { "Launching…" } else { "Review and launch" }}
                </button>
                <a class="btn" href="/incidents">"Cancel"</a>
            </div>
        </form>
        {move || confirming.get().map(|p| {
            let plural = |n: u64, one: &str, many: &str| match n {
                1 => format!("1 {one}"),
                n => format!("{n} {many}"),
            };
            view! {
                <div class="modal-backdrop">
                    <div
                        class="modal card"
                        role="alertdialog"
                        aria-modal="true"
                        aria-labelledby="launch-title"
                        aria-describedby="launch-desc"
                        on:keydown=move |ev| {
                            if ev.key() == "Escape" {
                                confirming.set(None)
                            }
                        }
                    >
                        <h2 id="launch-title">{format!("Notify {}?", plural(p.reach.people, "person", "people"))}</h2>
                        <ul id="launch-desc" class="plain launch-summary" data-testid="launch-summary">
                            {fields.draft().channels.email.then(|| match p.email_unavailable.clone() {
                                None => view! { <li>{format!("Email to {}", plural(p.emails, "person", "people"))}
                                    {(p.reach.without_email > 0).then(|| format!(" ({} without an email address)", p.reach.without_email))}</li> }.into_any(),
                                Some(why) => view! { <li class="warn-text">{why}</li> }.into_any(),
                            })}
                            {fields.draft().channels.sms.then(|| match p.sms_unavailable.clone() {
                                None => view! { <li>{format!("SMS to {}", plural(p.texts, "person", "people"))}
                                    {(p.reach.without_phone > 0).then(|| format!(" ({} without a mobile phone)", p.reach.without_phone))}</li> }.into_any(),
                                Some(why) => view! { <li class="warn-text">{why} " " <a href="/settings">"Open Settings"</a></li> }.into_any(),
                            })}
                        </ul>
                        <p class="hint">"The recipients are fixed now: later changes to the directory do not change them."</p>
                        <div class="form-actions">
                            <button type="button" class="btn" on:click=move |_| confirming.set(None)>"Cancel"</button>
                            <button type="button" class="btn primary" autofocus on:click=confirm>
                                "Launch now"
                            </button>
                        </div>
                    </div>
                </div>
            }
        })}
    }
}

#[component]
pub fn IncidentPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| {
        params
            .read()
            .get("id")
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0)
    });
    let incident = Resource::new_serde_wb(move || id.get(), get_incident);
    view! {
        <Title text="Incident · Muster"/>
        <AppShell>
            <nav class="breadcrumbs" aria-label="Breadcrumb">
                <a href="/incidents">"Incidents"</a>
                <span aria-hidden="true">" / "</span>
                <span aria-current="page">"Incident"</span>
            </nav>
            <Suspense fallback=|| view! { <Loading/> }>
                {move || Suspend::new(async move {
                    match incident.await {
                        Ok(i) => view! { <IncidentView incident=i/> }.into_any(),
                        Err(AppError::NotFound) => view! {
                            <div class="notice" role="alert">
                                "This incident does not exist. " <a href="/incidents">"Back to incidents"</a>
                            </div>
                        }
                        .into_any(),
                        Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                    }
                })}
            </Suspense>
        </AppShell>
    }
}

#[component]
fn IncidentView(incident: Incident) -> impl IntoView {
    let id = incident.id;
    let status = RwSignal::new(incident.status);
    let resolved_line = RwSignal::new(resolved_text(&incident));
    let tick = RwSignal::new(0u64);
    // Refresh while the incident is active (answers may still come).
    Effect::new(move |_| {
        if let Ok(handle) = set_interval_with_handle(
            move || {
                if status.get_untracked() == IncidentStatus::Active {
                    tick.update(|t| *t += 1)
                }
            },
            REFRESH,
        ) {
            on_cleanup(move || handle.clear());
        }
    });
    let progress = Resource::new_serde_wb(move || (id, tick.get()), |(id, _)| get_progress(id));
    let resolve = ServerAction::<ResolveIncident>::new();
    let confirming = RwSignal::new(false);
    Effect::new(move |_| {
        if let Some(Ok(i)) = resolve.value().get() {
            status.set(i.status);
            resolved_line.set(resolved_text(&i));
            tick.update(|t| *t += 1);
        }
    });
    let options = StoredValue::new(incident.options.clone());
    let following = RwSignal::new(false);
    let subject = StoredValue::new(incident.subject.clone());
    let meta = format!(
        "Launched {} by {} · {} recipients · {}",
        incident.launched_at.format("%Y-%m-%d %H:%M UTC"),
        incident.launched_by,
        incident.recipients,
        incident.channels.label(),
    );
    view! {
        <div class="page-head">
            <h1>{incident.name.clone()}</h1>
            <div class="actions">
                <SeverityBadge severity=incident.severity/>
                {move || view! { <StatusBadge status=status.get()/> }}
                <button type="button" class="btn" on:click=move |_| following.set(true)>
                    "Send a follow-up"
                </button>
                <button
                    type="button"
                    class="btn danger"
                    hidden=move || status.get() == IncidentStatus::Resolved
                    on:click=move |_| confirming.set(true)
                >
                    "Resolve"
                </button>
            </div>
        </div>
        <p class="meta">{meta} {move || resolved_line.get()}</p>
        {move || resolve.value().get().and_then(|r| r.err()).map(|e| view! { <ErrorNotice error=e/> })}
        <Show when=move || following.get()>
            <FollowUpForm id subject=subject.get_value() options=options.get_value() open=following tick/>
        </Show>
        <section class="card panel message-card" aria-label="Message">
            <p class="hint">"The message, with each recipient's own name in place of the placeholders:"</p>
            <h2>{incident.subject.clone()}</h2>
            <p class="message-body">{incident.body.clone()}</p>
        </section>
        <Transition fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                match progress.await {
                    Ok(p) => view! { <Progress progress=p options=options.get_value()/> }.into_any(),
                    Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                }
            })}
        </Transition>
        <Recipients id options=options.get_value() channels=incident.channels tick/>
        <AuditTrail trail=Resource::new_serde_wb(move || tick.get(), move |_| incident_history(id)) testid="incident-history"/>
        <ConfirmDialog
            open=confirming
            title="Resolve this incident?".to_string()
            message="Answers close, and the recipients' links say so. Messages already queued are still sent."
            action="Resolve"
            pending=resolve.pending()
            on_confirm=Callback::new(move |()| {
                resolve.dispatch(ResolveIncident { id });
            })
        />
    }
}

/// A further message to everyone, to those who have not answered, or to
/// those who answered an option.
#[component]
fn FollowUpForm(
    id: i64,
    subject: String,
    options: Vec<String>,
    open: RwSignal<bool>,
    tick: RwSignal<u64>,
) -> impl IntoView {
    let send = ServerAction::<SendFollowUp>::new();
    let audience = RwSignal::new(String::from("unanswered"));
    let subject = RwSignal::new(format!("Update: {subject}"));
    let body = RwSignal::new(String::new());
    let queued = RwSignal::new(None::<u64>);
    Effect::new(move |_| {
        if let Some(Ok(n)) = send.value().get() {
            queued.set(Some(n));
            body.set(String::new());
            tick.update(|t| *t += 1);
        }
    });
    let error = Signal::derive(move || send.value().get().and_then(|r| r.err()));
    let err = move |field: &'static str| {
        Signal::derive(move || error.get().and_then(|e| e.field_message(field)))
    };
    let general = move || match error.get() {
        Some(AppError::Invalid(_)) | None => None,
        Some(e) => Some(e.to_string()),
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        queued.set(None);
        let audience = match audience.get_untracked().as_str() {
            "everyone" => Audience::Everyone,
            "unanswered" => Audience::Unanswered,
            n => n.parse().map(Audience::Answered).unwrap_or_default(),
        };
        send.dispatch(SendFollowUp {
            id,
            follow_up: FollowUp {
                audience,
                subject: subject.get_untracked(),
                body: body.get_untracked(),
            },
        });
    };
    view! {
        <form class="card form follow-up" on:submit=submit novalidate aria-labelledby="follow-up-title">
            <h2 id="follow-up-title">"Send a follow-up"</h2>
            <div class="notice error" role="alert" hidden=move || general().is_none()>{general}</div>
            <p class="notice success" role="status" hidden=move || queued.get().is_none() data-testid="follow-up-queued">
                {move || queued.get().map(|n| format!("Follow-up queued: {n} messages."))}
            </p>
            <div class="field">
                <label for="follow-up-audience">"To"</label>
                <select id="follow-up-audience" on:change=move |ev| audience.set(event_target_value(&ev))>
                    <option value="unanswered" selected>"Those who have not answered"</option>
                    <option value="everyone">"Everyone"</option>
                    {options.into_iter().enumerate().map(|(i, o)| view! {
                        <option value=i.to_string()>{format!("Those who answered “{o}”")}</option>
                    }).collect_view()}
                </select>
                <p class="field-error" role="alert">{move || err("audience").get()}</p>
            </div>
            <crate::ui::components::Field label="Subject" name="follow-up-subject" value=subject error=err("subject") required=true autocomplete="off"/>
            <div class="field">
                <label for="follow-up-body">"Message"</label>
                <textarea id="follow-up-body" rows="4" prop:value=move || body.get()
                    on:input=move |ev| body.set(event_target_value(&ev))></textarea>
                <p class="field-error" role="alert">{move || err("body").get()}</p>
            </div>
            <div class="form-actions">
                <button type="submit" class="btn primary" disabled=move || send.pending().get()>
                    {move || if send.pending().get() { "Sending…" } else { "Send" }}
                </button>
                <button type="button" class="btn" on:click=move |_| open.set(false)>"Close"</button>
            </div>
        </form>
    }
}

fn resolved_text(i: &Incident) -> String {
    match (&i.resolved_at, &i.resolved_by) {
        (Some(at), Some(by)) => format!(" · Resolved {} by {by}", at.format("%Y-%m-%d %H:%M UTC")),
        _ => String::new(),
    }
}

/// Deliveries per channel and answers per option.
#[component]
fn Progress(progress: IncidentProgress, options: Vec<String>) -> impl IntoView {
    let answered: u64 = progress.tally.iter().sum();
    let total = answered + progress.unanswered;
    let channel = |label: &'static str, c: ChannelCounts| {
        (c.total() > 0).then(|| {
            view! {
                <div class="channel" data-testid=format!("channel-{}", label.to_lowercase())>
                    <h3>{label}</h3>
                    <dl class="counts">
                        <div class="count-cell"><dt>"Queued"</dt><dd>{c.queued}</dd></div>
                        <div class="count-cell created"><dt>"Sent"</dt><dd>{c.sent}</dd></div>
                        <div class="count-cell"><dt>"Delivered"</dt><dd>{c.delivered}</dd></div>
                        <div class="count-cell failed"><dt>"Failed"</dt><dd>{c.failed}</dd></div>
                    </dl>
                </div>
            }
        })
    };
    view! {
        <section class="card panel" aria-label="Progress">
            <h2>"Deliveries"</h2>
            {
                let several = progress.messages.len() > 1;
                progress.messages.iter().map(|m| {
                    let heading = match m.kind.as_str() {
                        "launch" => "Launch".to_string(),
                        _ => format!("Follow-up: {}", m.subject),
                    };
                    let when = format!(" · {} by {}", m.sent_at.format("%H:%M UTC"), m.sent_by);
                    view! {
                        <div class="message-progress" data-testid="message-progress">
                            {several.then(|| view! { <h3 class="message-heading">{heading} <span class="muted">{when}</span></h3> })}
                            <div class="channels">
                                {channel("Email", m.email.clone())}
                                {channel("SMS", m.sms.clone())}
                            </div>
                        </div>
                    }
                }).collect_view()
            }
            <h2>"Answers"</h2>
            {if options.is_empty() {
                view! { <p class="muted">"This incident asks nothing."</p> }.into_any()
            } else {
                view! {
                    <ul class="tally" data-testid="tally">
                        {options.into_iter().zip(progress.tally.clone()).map(|(o, n)| {
                            view! {
                                <li>
                                    <span class="tally-label">{o}</span>
                                    // A progress element, not a styled width: the page's
                                    // content security policy allows no inline styles.
                                    <progress class="progress" max=total.max(1).to_string() value=n.to_string() aria-hidden="true"></progress>
                                    <strong class="tally-count">{n}</strong>
                                </li>
                            }
                        }).collect_view()}
                        <li class="muted">
                            <span class="tally-label">"No answer yet"</span>
                            <progress class="progress quiet" max=total.max(1).to_string() value=progress.unanswered.to_string() aria-hidden="true"></progress>
                            <strong class="tally-count">{progress.unanswered}</strong>
                        </li>
                    </ul>
                }
                .into_any()
            }}
        </section>
    }
}

/// The incident's recipients, filtered by delivery status and answer.
#[component]
fn Recipients(
    id: i64,
    options: Vec<String>,
    channels: crate::model::Channels,
    tick: RwSignal<u64>,
) -> impl IntoView {
    let status = RwSignal::new(String::new());
    let response = RwSignal::new(String::new());
    let offset = RwSignal::new(0usize);
    let filter = move || RecipientFilter {
        status: DeliveryStatus::parse(&status.get()),
        response: match response.get().as_str() {
            "" => None,
            "none" => Some(None),
            n => n.parse::<usize>().ok().map(Some),
        },
        offset: offset.get(),
    };
    let page = Resource::new_serde_wb(
        move || (filter(), tick.get()),
        move |(filter, _)| incident_recipients(id, filter),
    );
    let answer_options = options.clone();
    view! {
        <section class="section">
            <h2>"Recipients"</h2>
            <div class="filters">
                <div class="filter">
                    <label for="recipient-status">"Delivery"</label>
                    <select id="recipient-status" on:change=move |ev| { status.set(event_target_value(&ev)); offset.set(0); }>
                        <option value="">"Any"</option>
                        {DeliveryStatus::ALL.into_iter().map(|s| view! { <option value=s.as_str()>{s.label()}</option> }).collect_view()}
                    </select>
                </div>
                <div class="filter">
                    <label for="recipient-answer">"Answer"</label>
                    <select id="recipient-answer" on:change=move |ev| { response.set(event_target_value(&ev)); offset.set(0); }>
                        <option value="">"Any"</option>
                        <option value="none">"No answer yet"</option>
                        {answer_options.into_iter().enumerate().map(|(i, o)| view! { <option value=i.to_string()>{o}</option> }).collect_view()}
                    </select>
                </div>
            </div>
            <Transition fallback=|| view! { <Loading/> }>
                {move || Suspend::new(async move {
                    match page.await {
                        Ok(IncidentRecipientPage { rows, total }) => {
                            let from = offset.get_untracked();
                            let more = from + rows.len() < total as usize;
                            let shown = rows.len();
                            view! {
                                <p class="count" data-testid="recipient-count">
                                    {if total == 0 { "Nobody.".to_string() } else { format!("{}–{} of {total}", from + 1, from + shown) }}
                                </p>
                                <div class="table-wrap card">
                                    <table class="contacts compact">
                                        <thead>
                                            <tr>
                                                <th scope="col">"Name"</th>
                                                <th scope="col">"Why"</th>
                                                {channels.email.then(|| view! { <th scope="col">"Email"</th> })}
                                                {channels.sms.then(|| view! { <th scope="col">"SMS"</th> })}
                                                <th scope="col">"Answer"</th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {rows.into_iter().map(|r| {
                                                let cell = |address: Option<String>, s: Option<DeliveryStatus>| match (address, s) {
                                                    (None, _) => view! { <span class="muted">"No address"</span> }.into_any(),
                                                    (Some(a), None) => view! { <span title=a>"–"</span> }.into_any(),
                                                    (Some(a), Some(s)) => view! {
                                                        <span class=format!("badge delivery-{}", s.as_str()) title=a>{s.label()}</span>
                                                    }.into_any(),
                                                };
                                                view! {
                                                    <tr>
                                                        <td class="name">{r.name}</td>
                                                        <td class="muted">{r.why}</td>
                                                        {channels.email.then(|| view! { <td>{cell(r.email, r.email_status)}</td> })}
                                                        {channels.sms.then(|| view! { <td>{cell(r.phone, r.sms_status)}</td> })}
                                                        <td>
                                                            {r.response.unwrap_or_else(|| "–".into())}
                                                            {r.error.map(|e| view! { <div class="row-sub error-text">{e}</div> })}
                                                        </td>
                                                    </tr>
                                                }
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                                <div class="pager">
                                    <button type="button" class="btn small" disabled=from == 0
                                        on:click=move |_| offset.update(|o| *o = o.saturating_sub(IncidentRecipientPage::PAGE_SIZE))>
                                        "← Previous"
                                    </button>
                                    <button type="button" class="btn small" disabled=!more
                                        on:click=move |_| offset.update(|o| *o += IncidentRecipientPage::PAGE_SIZE)>
                                        "Next →"
                                    </button>
                                </div>
                            }
                            .into_any()
                        }
                        Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
