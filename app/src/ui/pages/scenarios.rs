//! Scenarios: the list (with search), and the editor that makes a new one or
//! changes, copies and deletes one.

use crate::api::recipients::recipient_contacts;
use crate::api::scenarios::{
    get_scenario, list_scenarios, scenario_history, CopyScenario, CreateScenario, DeleteScenario,
    UpdateScenario,
};
use crate::model::{
    fill, AppError, PickedContact, Scenario, ScenarioDraft, ScenarioSummary, Severity, PLACEHOLDERS,
};
use crate::ui::components::{
    AppShell, AuditTrail, ConfirmDialog, ErrorNotice, Field, Loading, RecipientsPicker,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};
use leptos_router::NavigateOptions;
use std::time::Duration;

const SEARCH_DEBOUNCE: Duration = Duration::from_millis(250);

#[component]
pub fn ScenariosPage() -> impl IntoView {
    let params = use_query_map();
    let q = Memo::new(move |_| params.read().get("q").unwrap_or_default());
    let list = Resource::new_serde_wb(move || q.get(), list_scenarios);
    let navigate = use_navigate();
    let text = RwSignal::new(q.get_untracked());
    let timer = StoredValue::new(None::<TimeoutHandle>);
    let on_input = move |ev| {
        text.set(event_target_value(&ev));
        if let Some(t) = timer.get_value() {
            t.clear();
        }
        let navigate = navigate.clone();
        let handle = set_timeout_with_handle(
            move || {
                let q = text.get_untracked();
                let href = match q.trim() {
                    "" => "/scenarios".to_string(),
                    q => format!("/scenarios?q={}", urlencoding::encode(q)),
                };
                navigate(
                    &href,
                    NavigateOptions {
                        replace: true,
                        scroll: false,
                        ..Default::default()
                    },
                );
            },
            SEARCH_DEBOUNCE,
        );
        timer.set_value(handle.ok());
    };
    view! {
        <Title text="Scenarios · Muster"/>
        <AppShell>
            <div class="page-head">
                <h1>"Scenarios"</h1>
                <div class="actions">
                    <a class="btn primary" href="/scenarios/new">"New scenario"</a>
                </div>
            </div>
            <p class="lead">
                "A scenario is an incident prepared in advance: its message, channels, answers and recipients, ready to launch."
            </p>
            <Form method="GET" action="/scenarios" attr:class="filters" attr:role="search">
                <div class="filter search">
                    <label for="scenario-search">"Search"</label>
                    <input
                        id="scenario-search"
                        name="q"
                        type="search"
                        placeholder="Search by name or description"
                        autocomplete="off"
                        value=q.get_untracked()
                        prop:value=move || text.get()
                        on:input=on_input
                    />
                </div>
            </Form>
            <Transition fallback=|| view! { <Loading label="Loading scenarios…"/> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Ok(rows) => view! { <ScenarioTable rows searched=!q.get_untracked().is_empty()/> }.into_any(),
                        Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                    }
                })}
            </Transition>
        </AppShell>
    }
}

#[component]
fn ScenarioTable(rows: Vec<ScenarioSummary>, searched: bool) -> impl IntoView {
    let navigate = use_navigate();
    if rows.is_empty() {
        return if searched {
            view! {
                <div class="empty-state card">
                    <h2>"No scenarios match"</h2>
                    <p>"Try another search, or " <a href="/scenarios">"show them all"</a> "."</p>
                </div>
            }
            .into_any()
        } else {
            view! {
                <div class="empty-state card">
                    <h2>"No scenarios yet"</h2>
                    <p>
                        "Prepare the incidents you expect (a fire drill, an IT outage, severe weather) so that, when one happens, "
                        "the message and the people to reach are ready."
                    </p>
                    <a class="btn primary" href="/scenarios/new">"New scenario"</a>
                </div>
            }
            .into_any()
        };
    }
    let count = match rows.len() {
        1 => "1 scenario".to_string(),
        n => format!("{n} scenarios"),
    };
    view! {
        <p class="count" data-testid="scenario-count">{count}</p>
        <div class="table-wrap card">
            <table class="contacts scenarios">
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Severity"</th>
                        <th scope="col">"Channels"</th>
                        <th scope="col">"Recipients"</th>
                        <th scope="col">"Last changed"</th>
                    </tr>
                </thead>
                <tbody>
                    {rows
                        .into_iter()
                        .map(|s| {
                            let href = format!("/scenarios/{}", s.id);
                            let open = {
                                let (navigate, href) = (navigate.clone(), href.clone());
                                move || navigate(&href, Default::default())
                            };
                            let open_key = open.clone();
                            view! {
                                <tr
                                    class="row-link"
                                    tabindex="0"
                                    on:click=move |_| open()
                                    on:keydown=move |ev| {
                                        if ev.key() == "Enter" {
                                            open_key()
                                        }
                                    }
                                >
                                    <td class="name" data-label="Name">
                                        <a href=href on:click=|ev| ev.stop_propagation()>{s.name}</a>
                                        {(!s.description.is_empty()).then(|| view! {
                                            <div class="row-sub">{s.description}</div>
                                        })}
                                    </td>
                                    <td data-label="Severity"><SeverityBadge severity=s.severity/></td>
                                    <td data-label="Channels">{s.channels.label()}</td>
                                    <td data-label="Recipients">{s.recipients}</td>
                                    <td data-label="Last changed" class="muted">
                                        {s.updated_at.format("%Y-%m-%d %H:%M UTC").to_string()}
                                        <div class="row-sub">{s.updated_by}</div>
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
pub fn SeverityBadge(severity: Severity) -> impl IntoView {
    view! {
        <span class=format!("badge severity-{}", severity.as_str())>{severity.label()}</span>
    }
}

/// The editor's starting point: a scenario as stored (`None` for a new
/// one), and the people it picked by name, as shown.
type Loaded = (Option<Scenario>, Vec<PickedContact>);

#[component]
pub fn ScenarioPage() -> impl IntoView {
    let params = use_params_map();
    // "new", or a scenario's id.
    let key = Memo::new(move |_| params.read().get("id").unwrap_or_default());
    let loaded = Resource::new_serde_wb(
        move || key.get(),
        |key| async move {
            if key == "new" {
                return Ok::<Loaded, AppError>((None, Vec::new()));
            }
            let id = key.parse::<i64>().map_err(|_| AppError::NotFound)?;
            let s = get_scenario(id).await?;
            let people = recipient_contacts(s.draft.recipients.contacts.clone()).await?;
            Ok((Some(s), people))
        },
    );
    view! {
        <Title text="Scenario · Muster"/>
        <AppShell>
            <nav class="breadcrumbs" aria-label="Breadcrumb">
                <a href="/scenarios">"Scenarios"</a>
                <span aria-hidden="true">" / "</span>
                <span aria-current="page">
                    {move || if key.get() == "new" { "New scenario" } else { "Scenario" }}
                </span>
            </nav>
            <Suspense fallback=|| view! { <Loading/> }>
                {move || Suspend::new(async move {
                    match loaded.await {
                        Ok((scenario, people)) => view! { <ScenarioEditor scenario people/> }.into_any(),
                        Err(AppError::NotFound) => view! {
                            <div class="notice" role="alert">
                                "This scenario does not exist, or it was deleted. "
                                <a href="/scenarios">"Back to scenarios"</a>
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
fn ScenarioEditor(scenario: Option<Scenario>, people: Vec<PickedContact>) -> impl IntoView {
    let id = scenario.as_ref().map(|s| s.id);
    let initial = scenario
        .as_ref()
        .map(|s| s.draft.clone())
        .unwrap_or_else(ScenarioDraft::new_blank);
    let version = RwSignal::new(scenario.as_ref().map_or(0, |s| s.version));
    let title = RwSignal::new(
        scenario
            .as_ref()
            .map_or_else(|| "New scenario".to_string(), |s| s.draft.name.clone()),
    );
    let fields = DraftSignals::new(initial, people);
    let draft = move || fields.draft();

    let create = ServerAction::<CreateScenario>::new();
    let update = ServerAction::<UpdateScenario>::new();
    let copy = ServerAction::<CopyScenario>::new();
    let delete = ServerAction::<DeleteScenario>::new();
    let saved = RwSignal::new(false);
    let confirming = RwSignal::new(false);
    let navigate = use_navigate();
    {
        let navigate = navigate.clone();
        Effect::new(move |_| {
            if let Some(Ok(s)) = create.value().get() {
                navigate(&format!("/scenarios/{}", s.id), Default::default());
            }
        });
    }
    Effect::new(move |_| {
        if let Some(Ok(s)) = update.value().get() {
            version.set(s.version);
            title.set(s.draft.name.clone());
            saved.set(true);
        }
    });
    {
        let navigate = navigate.clone();
        Effect::new(move |_| {
            if let Some(Ok(s)) = copy.value().get() {
                navigate(&format!("/scenarios/{}", s.id), Default::default());
            }
        });
    }
    Effect::new(move |_| {
        if let Some(Ok(())) = delete.value().get() {
            navigate("/scenarios", Default::default());
        }
    });
    let error = Signal::derive(move || {
        let result = if id.is_some() {
            update.value().get().map(|r| r.map(|_| ()))
        } else {
            create.value().get().map(|r| r.map(|_| ()))
        };
        result.and_then(|r| r.err())
    });
    let pending = Signal::derive(move || create.pending().get() || update.pending().get());
    let general_error = move || match error.get() {
        Some(AppError::Invalid(_)) | None => None,
        Some(e) => Some(e.to_string()),
    };
    let other_error = move || {
        copy.value()
            .get()
            .and_then(|r| r.err())
            .or_else(|| delete.value().get().and_then(|r| r.err()))
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        saved.set(false);
        match id {
            Some(id) => {
                update.dispatch(UpdateScenario {
                    id,
                    version: version.get_untracked(),
                    draft: draft(),
                });
            }
            None => {
                create.dispatch(CreateScenario { draft: draft() });
            }
        }
    };
    let meta = scenario.as_ref().map(|s| {
        format!(
            "Made {} · Last changed {} by {}",
            s.created_at.format("%Y-%m-%d %H:%M UTC"),
            s.updated_at.format("%Y-%m-%d %H:%M UTC"),
            s.updated_by
        )
    });
    view! {
        <div class="page-head">
            <h1>{move || title.get()}</h1>
            {id.map(|id| view! {
                <div class="actions">
                    <a class="btn primary" href=format!("/incidents/new?scenario={id}")>"Launch"</a>
                    <button
                        type="button"
                        class="btn"
                        disabled=move || copy.pending().get()
                        on:click=move |_| { copy.dispatch(CopyScenario { id }); }
                    >
                        "Copy"
                    </button>
                    <button type="button" class="btn danger" on:click=move |_| confirming.set(true)>
                        "Delete"
                    </button>
                </div>
            })}
        </div>
        {meta.map(|m| view! { <p class="meta">{m}</p> })}
        <div class="notice success" role="status" hidden=move || !saved.get()>
            "Changes saved."
        </div>
        {move || other_error().map(|e| view! { <ErrorNotice error=e/> })}
        <form class="card form scenario-form" on:submit=submit novalidate>
            <div class="notice error" role="alert" hidden=move || general_error().is_none()>
                {general_error}
            </div>
            <DraftFields fields error/>
            <div class="form-actions">
                <button type="submit" class="btn primary" disabled=move || pending.get()>
                    {move || match (pending.get(), id.is_some()) {
                        (true, _) => "Saving…",
                        (false, true) => "Save changes",
                        (false, false) => "Save scenario",
                    }}
                </button>
                <a class="btn" href="/scenarios">"Cancel"</a>
            </div>
        </form>
        {id.map(|id| view! { <History id version/> })}
        <ConfirmDialog
            open=confirming
            title=Signal::derive(move || format!("Delete {}?", title.get()))
            message="The scenario is removed. Incidents launched from it are kept. This cannot be undone."
            action="Delete"
            pending=delete.pending()
            on_confirm=Callback::new(move |()| {
                if let Some(id) = id {
                    delete.dispatch(DeleteScenario { id });
                }
            })
        />
    }
}

/// The fields of a scenario, or of an incident about to be launched, as
/// signals.
#[derive(Clone, Copy)]
pub(crate) struct DraftSignals {
    name: RwSignal<String>,
    description: RwSignal<String>,
    severity: RwSignal<Severity>,
    subject: RwSignal<String>,
    body: RwSignal<String>,
    email: RwSignal<bool>,
    sms: RwSignal<bool>,
    options: RwSignal<Vec<String>>,
    recipients: RwSignal<crate::model::Recipients>,
    people: RwSignal<Vec<PickedContact>>,
}

impl DraftSignals {
    pub(crate) fn new(d: ScenarioDraft, people: Vec<PickedContact>) -> Self {
        Self {
            name: RwSignal::new(d.name),
            description: RwSignal::new(d.description),
            severity: RwSignal::new(d.severity),
            subject: RwSignal::new(d.subject),
            body: RwSignal::new(d.body),
            email: RwSignal::new(d.channels.email),
            sms: RwSignal::new(d.channels.sms),
            options: RwSignal::new(d.options),
            recipients: RwSignal::new(d.recipients),
            people: RwSignal::new(people),
        }
    }

    pub(crate) fn draft(&self) -> ScenarioDraft {
        ScenarioDraft {
            name: self.name.get_untracked(),
            description: self.description.get_untracked(),
            severity: self.severity.get_untracked(),
            subject: self.subject.get_untracked(),
            body: self.body.get_untracked(),
            channels: crate::model::Channels {
                email: self.email.get_untracked(),
                sms: self.sms.get_untracked(),
            },
            options: self.options.get_untracked(),
            recipients: self.recipients.get_untracked(),
        }
    }
}

/// Name, severity, description, channels, message, answers and recipients,
/// each with its error.
#[component]
pub(crate) fn DraftFields(
    fields: DraftSignals,
    #[prop(into)] error: Signal<Option<AppError>>,
) -> impl IntoView {
    let DraftSignals {
        name,
        description,
        severity,
        subject,
        body,
        email,
        sms,
        options,
        recipients,
        people,
    } = fields;
    let err = move |field: &'static str| {
        Signal::derive(move || error.get().and_then(|e| e.field_message(field)))
    };
    let placeholders = PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ");
    let preview = move || fill(&body.get(), "Alex", "Morgan");
    view! {
            <div class="grid-2">
                <Field label="Name" name="name" value=name error=err("name") required=true autocomplete="off"/>
                <div class="field">
                    <label for="field-severity">"Severity"</label>
                    <select
                        id="field-severity"
                        prop:value=move || severity.get().as_str()
                        on:change=move |ev| {
                            if let Some(s) = Severity::parse(&event_target_value(&ev)) {
                                severity.set(s);
                            }
                        }
                    >
                        {Severity::ALL.into_iter().map(|s| view! {
                            <option value=s.as_str() selected=move || severity.get() == s>{s.label()}</option>
                        }).collect_view()}
                    </select>
                </div>
            </div>
            <TextArea label="Description" name="description" value=description error=err("description") rows=2
                hint="For the people who launch it: when to use this scenario."/>
            <fieldset class="field" aria-describedby="field-channels-error">
                <legend class="label">"Channels"</legend>
                <div class="check-line">
                    <label class="check-row">
                        <input type="checkbox" name="email" prop:checked=move || email.get()
                            on:change=move |ev| email.set(event_target_checked(&ev))/>
                        "Email"
                    </label>
                    <label class="check-row">
                        <input type="checkbox" name="sms" prop:checked=move || sms.get()
                            on:change=move |ev| sms.set(event_target_checked(&ev))/>
                        "SMS"
                    </label>
                </div>
                <p class="field-error" id="field-channels-error" role="alert">{move || err("channels").get()}</p>
            </fieldset>
            <Field label="Subject" name="subject" value=subject error=err("subject") required=true autocomplete="off"
                hint="The email's subject and the incident's title."/>
            <TextArea label="Message" name="body" value=body error=err("body") rows=6 required=true
                hint_text=format!("Placeholders: {placeholders}. Each recipient also gets a link to answer.")/>
            <p class="preview-line" hidden=move || body.get().trim().is_empty()>
                <span class="muted">"Preview for Alex Morgan: "</span>
                <span data-testid="message-preview">{preview}</span>
            </p>
            <OptionsEditor options error=err("options")/>
            <RecipientsPicker value=recipients people error=err("recipients")/>
    }
}

/// A labelled multi-line field with its error.
#[component]
fn TextArea(
    label: &'static str,
    name: &'static str,
    value: RwSignal<String>,
    #[prop(into)] error: Signal<Option<String>>,
    rows: u32,
    #[prop(optional)] hint: Option<&'static str>,
    #[prop(optional, into)] hint_text: Option<String>,
    #[prop(optional)] required: bool,
) -> impl IntoView {
    let id = format!("field-{name}");
    let hint = hint.map(str::to_string).or(hint_text);
    let described = format!("field-{name}-hint field-{name}-error");
    view! {
        <div class="field" class:has-error=move || error.get().is_some()>
            <div class="label-row">
                <label for=id.clone()>{label}</label>
                {required.then(|| view! { <span class="required" aria-hidden="true">"*"</span> })}
            </div>
            {hint.map(|h| view! { <p class="hint" id=format!("field-{name}-hint")>{h}</p> })}
            <textarea
                id=id
                name=name
                rows=rows
                required=required
                aria-invalid=move || error.get().is_some().then_some("true")
                aria-describedby=described
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))
            >
                {value.get_untracked()}
            </textarea>
            <p class="field-error" id=format!("field-{name}-error") role="alert">{move || error.get()}</p>
        </div>
    }
}

/// The answers a recipient can give, in order: "1" answers the first by SMS.
#[component]
fn OptionsEditor(options: RwSignal<Vec<String>>, error: Signal<Option<String>>) -> impl IntoView {
    let count = move || options.with(|o| o.len());
    let full = move || count() >= ScenarioDraft::MAX_OPTIONS;
    view! {
        <fieldset class="field" aria-describedby="field-options-hint field-options-error">
            <legend class="label">"Response options"</legend>
            <p class="hint" id="field-options-hint">
                "What recipients can answer, by the link in their email or by replying to the SMS with the option's number. None: the message asks nothing."
            </p>
            <ol class="options">
                <For each=move || 0..count() key=|i| *i let:i>
                    <li class="inline-input">
                        <label class="sr-only" for=format!("option-{i}")>{format!("Option {}", i + 1)}</label>
                        <input
                            id=format!("option-{i}")
                            autocomplete="off"
                            maxlength=crate::model::ScenarioDraft::MAX_OPTION.to_string()
                            prop:value=move || options.with(|o| o.get(i).cloned().unwrap_or_default())
                            on:input=move |ev| {
                                let v = event_target_value(&ev);
                                options.update(|o| {
                                    if let Some(x) = o.get_mut(i) {
                                        *x = v;
                                    }
                                })
                            }
                        />
                        <button
                            type="button"
                            class="btn small"
                            aria-label=format!("Remove option {}", i + 1)
                            on:click=move |_| options.update(|o| {
                                if i < o.len() {
                                    o.remove(i);
                                }
                            })
                        >
                            "Remove"
                        </button>
                    </li>
                </For>
            </ol>
            <button
                type="button"
                class="btn small"
                disabled=full
                on:click=move |_| options.update(|o| o.push(String::new()))
            >
                "Add option"
            </button>
            <p class="field-error" id="field-options-error" role="alert">{move || error.get()}</p>
        </fieldset>
    }
}

/// Who made, changed and copied the scenario, newest first.
#[component]
fn History(id: i64, version: RwSignal<i64>) -> impl IntoView {
    let trail = Resource::new_serde_wb(move || (id, version.get()), |(id, _)| scenario_history(id));
    view! { <AuditTrail trail testid="scenario-history"/> }
}
