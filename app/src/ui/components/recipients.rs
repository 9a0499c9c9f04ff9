//! The Recipients selector: groups of every source, rules that follow the
//! directory, and people picked by name, with what the selection reaches,
//! live. Used by scenarios and incidents.

use crate::api::contacts::{contact_facets, list_contacts};
use crate::api::recipients::{
    recipient_groups, recipient_people, recipient_reach, recipient_sources,
};
use crate::model::{
    ContactQuery, Facets, PickedContact, ReachFilter, RecipientGroup, RecipientPage, Recipients,
    Rule,
};
use crate::ui::components::Loading;
use leptos::prelude::*;
use std::time::Duration;

const SEARCH_DEBOUNCE: Duration = Duration::from_millis(250);
/// Search results offered at once when picking people.
const PICK_RESULTS: usize = 8;
/// Groups listed at once; typing narrows them.
const GROUPS_SHOWN: usize = 200;

/// `value` is the selection; `people` the people picked by name as shown
/// (it and `value.contacts` are kept in step here).
#[component]
pub fn RecipientsPicker(
    value: RwSignal<Recipients>,
    people: RwSignal<Vec<PickedContact>>,
    #[prop(into)] error: Signal<Option<String>>,
) -> impl IntoView {
    let groups = Resource::new_serde_wb(|| (), |_| recipient_groups());
    let facets = Resource::new_serde_wb(|| (), |_| contact_facets());
    let sources = Resource::new_serde_wb(|| (), |_| recipient_sources());
    view! {
        <fieldset class="recipients" aria-describedby="recipients-error">
            <legend>"Recipients"</legend>
            <Reach value/>
            <Suspense fallback=|| view! { <Loading label="Loading groups…"/> }>
                {move || Suspend::new(async move {
                    let groups = groups.await.unwrap_or_default();
                    view! { <GroupChooser value groups/> }
                })}
            </Suspense>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let facets = facets.await.unwrap_or_default();
                    let sources = sources.await.unwrap_or_default();
                    view! { <RuleBuilder value facets sources/> }
                })}
            </Suspense>
            <PeoplePicker value people/>
            <p class="field-error" id="recipients-error" role="alert">{move || error.get()}</p>
        </fieldset>
    }
}

/// "Reaches 312 people · 4 without email · 20 without a mobile phone", each
/// count opening the list of those people.
#[component]
fn Reach(value: RwSignal<Recipients>) -> impl IntoView {
    let reach = Resource::new_serde_wb(move || value.get(), recipient_reach);
    let listing = RwSignal::new(None::<ReachFilter>);
    let toggle =
        move |f: ReachFilter| listing.update(|l| *l = if *l == Some(f) { None } else { Some(f) });
    let plural = |n: u64, one: &str, many: &str| match n {
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    };
    view! {
        <div class="reach" data-testid="reach" aria-live="polite">
            <Transition fallback=|| view! { <span class="muted">"Counting…"</span> }>
                {move || Suspend::new(async move {
                    match reach.await {
                        Ok(r) => {
                            let pressed = move |f| move || (listing.get() == Some(f)).to_string();
                            let (email_gap, phone_gap) = (r.without_email > 0, r.without_phone > 0);
                            view! {
                                <span class="reach-total">
                                    "Reaches "
                                    <button
                                        type="button"
                                        class="link"
                                        data-testid="reach-people"
                                        aria-pressed=pressed(ReachFilter::All)
                                        on:click=move |_| toggle(ReachFilter::All)
                                    >
                                        <strong>{plural(r.people, "person", "people")}</strong>
                                    </button>
                                </span>
                                {(r.people > 0).then(|| view! {
                                    <span class="reach-gap" class:warn=email_gap>
                                        <button
                                            type="button"
                                            class="link"
                                            data-testid="reach-without-email"
                                            aria-pressed=pressed(ReachFilter::WithoutEmail)
                                            on:click=move |_| toggle(ReachFilter::WithoutEmail)
                                        >
                                            {format!("{} without email", r.without_email)}
                                        </button>
                                    </span>
                                    <span class="reach-gap" class:warn=phone_gap>
                                        <button
                                            type="button"
                                            class="link"
                                            data-testid="reach-without-phone"
                                            aria-pressed=pressed(ReachFilter::WithoutPhone)
                                            on:click=move |_| toggle(ReachFilter::WithoutPhone)
                                        >
                                            {format!("{} without a mobile phone", r.without_phone)}
                                        </button>
                                    </span>
                                })}
                                {(!r.missing_groups.is_empty()).then(|| view! {
                                    <span class="reach-gap warn">
                                        {plural(r.missing_groups.len() as u64, "chosen group no longer exists", "chosen groups no longer exist")}
                                    </span>
                                })}
                            }
                            .into_any()
                        }
                        Err(e) => view! { <span class="reach-error">{e.to_string()}</span> }.into_any(),
                    }
                })}
            </Transition>
        </div>
        {move || listing.get().map(|filter| view! { <ReachList value filter/> })}
    }
}

/// The people the selection reaches (or those of them who cannot be emailed
/// or texted), 50 at a time, each with why.
#[component]
fn ReachList(value: RwSignal<Recipients>, filter: ReachFilter) -> impl IntoView {
    let offset = RwSignal::new(0usize);
    let page = Resource::new_serde_wb(
        move || (value.get(), offset.get()),
        move |(selection, offset)| recipient_people(selection, filter, offset),
    );
    let title = match filter {
        ReachFilter::All => "Everyone reached",
        ReachFilter::WithoutEmail => "Reached, but without an email address",
        ReachFilter::WithoutPhone => "Reached, but without a mobile phone",
    };
    view! {
        <section class="reach-list" aria-label=title data-testid="reach-list">
            <h3>{title}</h3>
            <Transition fallback=|| view! { <Loading/> }>
                {move || Suspend::new(async move {
                    match page.await {
                        Ok(RecipientPage { rows, total }) => {
                            let from = offset.get_untracked();
                            let shown = rows.len();
                            let range = if total == 0 {
                                "Nobody.".to_string()
                            } else {
                                format!("{}–{} of {total}", from + 1, from + shown)
                            };
                            let more = (from + shown) < total as usize;
                            view! {
                                <p class="muted">{range}</p>
                                {(shown > 0).then(|| view! {
                                    <table class="contacts compact">
                                        <thead>
                                            <tr>
                                                <th scope="col">"Name"</th>
                                                <th scope="col">"Email"</th>
                                                <th scope="col">"Mobile Phone"</th>
                                                <th scope="col">"Why"</th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {rows.into_iter().map(|r| view! {
                                                <tr>
                                                    <td><a href=format!("/contacts/{}", r.contact_id)>{r.name}</a></td>
                                                    <td>{r.email.unwrap_or_else(|| "–".into())}</td>
                                                    <td>{r.phone.unwrap_or_else(|| "–".into())}</td>
                                                    <td class="muted">{r.why}</td>
                                                </tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                })}
                                <div class="pager">
                                    <button
                                        type="button"
                                        class="btn small"
                                        disabled=from == 0
                                        on:click=move |_| offset.update(|o| *o = o.saturating_sub(RecipientPage::PAGE_SIZE))
                                    >
                                        "← Previous"
                                    </button>
                                    <button
                                        type="button"
                                        class="btn small"
                                        disabled=!more
                                        on:click=move |_| offset.update(|o| *o += RecipientPage::PAGE_SIZE)
                                    >
                                        "Next →"
                                    </button>
                                </div>
                            }
                            .into_any()
                        }
                        Err(e) => view! { <p class="reach-error">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// The groups chosen as chips, and every group to choose from, by source,
/// narrowed by typing.
#[component]
fn GroupChooser(value: RwSignal<Recipients>, groups: Vec<RecipientGroup>) -> impl IntoView {
    let groups = StoredValue::new(groups);
    let filter = RwSignal::new(String::new());
    let name_of = move |id: i64| {
        groups.with_value(|gs| {
            gs.iter()
                .find(|g| g.id == id)
                .map(|g| match g.source.as_str() {
                    "" => g.name.clone(),
                    source => format!("{} ({source})", g.name),
                })
        })
    };
    let toggle = move |id: i64, on: bool| {
        value.update(|v| {
            v.groups.retain(|g| *g != id);
            if on {
                v.groups.push(id);
            }
        })
    };
    // The groups that match the filter, by source, at most GROUPS_SHOWN.
    let shown = move || {
        let f = filter.get().trim().to_lowercase();
        groups.with_value(|gs| {
            let matching: Vec<RecipientGroup> = gs
                .iter()
                .filter(|g| f.is_empty() || g.name.to_lowercase().contains(&f))
                .cloned()
                .collect();
            let total = matching.len();
            let mut by_source: Vec<(String, Vec<RecipientGroup>)> = Vec::new();
            for g in matching.into_iter().take(GROUPS_SHOWN) {
                match by_source.last_mut() {
                    Some((s, list)) if *s == g.source => list.push(g),
                    _ => by_source.push((g.source.clone(), vec![g])),
                }
            }
            (by_source, total)
        })
    };
    let empty = groups.with_value(|gs| gs.is_empty());
    view! {
        <div class="recipient-part">
            <h3 id="groups-heading">"Groups"</h3>
            <ul class="chips" aria-label="Chosen groups">
                {move || value.with(|v| v.groups.clone()).into_iter().map(|id| {
                    let (label, missing) = match name_of(id) {
                        Some(name) => (name, false),
                        None => ("A removed group".to_string(), true),
                    };
                    view! {
                        <li class="chip" class:missing=missing>
                            <span>{label.clone()}</span>
                            <button
                                type="button"
                                class="chip-remove"
                                aria-label=format!("Remove {label}")
                                on:click=move |_| toggle(id, false)
                            >
                                "×"
                            </button>
                        </li>
                    }
                }).collect_view()}
            </ul>
            {if empty {
                view! {
                    <p class="hint">
                        "No groups yet: make them on a contact, or connect an HR system in "
                        <a href="/contacts/integrations">"Integrations"</a> "."
                    </p>
                }
                .into_any()
            } else {
                view! {
                    <details class="group-chooser">
                        <summary class="btn small">"Choose groups"</summary>
                        <div class="group-chooser-body">
                            <label class="sr-only" for="group-filter">"Find a group"</label>
                            <input
                                id="group-filter"
                                type="search"
                                placeholder="Find a group"
                                autocomplete="off"
                                prop:value=move || filter.get()
                                on:input=move |ev| filter.set(event_target_value(&ev))
                                on:keydown=|ev| {
                                    if ev.key() == "Enter" {
                                        ev.prevent_default();
                                    }
                                }
                            />
                            {move || {
                                let (by_source, total) = shown();
                                let more = total.saturating_sub(GROUPS_SHOWN);
                                view! {
                                    {by_source.into_iter().map(|(source, list)| {
                                        let heading = if source.is_empty() {
                                            "Your groups".to_string()
                                        } else {
                                            format!("Groups from {source}")
                                        };
                                        view! {
                                            <fieldset class="group-source">
                                                <legend>{heading}</legend>
                                                {list.into_iter().map(|g| {
                                                    let id = g.id;
                                                    let checked = move || value.with(|v| v.groups.contains(&id));
                                                    view! {
                                                        <label class="check-row">
                                                            <input
                                                                type="checkbox"
                                                                prop:checked=checked
                                                                on:change=move |ev| toggle(id, event_target_checked(&ev))
                                                            />
                                                            <span>{g.name}</span>
                                                            <span class="muted">{format!("{} active", g.members)}</span>
                                                        </label>
                                                    }
                                                }).collect_view()}
                                            </fieldset>
                                        }
                                    }).collect_view()}
                                    {(total == 0).then(|| view! { <p class="muted">"No group matches."</p> })}
                                    {(more > 0).then(|| view! {
                                        <p class="muted">{format!("{more} more: type to narrow the list.")}</p>
                                    })}
                                }
                            }}
                        </div>
                    </details>
                }
                .into_any()
            }}
        </div>
    }
}

/// Rules: each selects the contacts whose department, role, location and
/// source are those given (any of them may be left as "Any").
#[component]
fn RuleBuilder(value: RwSignal<Recipients>, facets: Facets, sources: Vec<String>) -> impl IntoView {
    let options = StoredValue::new([facets.departments, facets.roles, facets.locations, sources]);
    let count = move || value.with(|v| v.rules.len());
    let full = move || count() >= Recipients::MAX_RULES;
    view! {
        <div class="recipient-part">
            <h3>"Rules"</h3>
            <p class="hint">
                "A rule reaches everyone who matches it when the incident is sent, so it follows the directory."
            </p>
            <ol class="rules">
                <For each=move || 0..count() key=|i| *i let:i>
                    <li class="rule" data-testid="rule">
                        {[("Department", 0usize), ("Role", 1), ("Location", 2), ("Source", 3)]
                            .into_iter()
                            .map(|(label, field)| {
                                let get = move || {
                                    value.with(|v| v.rules.get(i).map(|r| rule_field(r, field).clone()).unwrap_or_default())
                                };
                                let id = format!("rule-{i}-{}", label.to_lowercase());
                                view! {
                                    <div class="filter">
                                        <label for=id.clone()>{label}</label>
                                        <select
                                            id=id
                                            prop:value=get
                                            on:change=move |ev| {
                                                let chosen = event_target_value(&ev);
                                                value.update(|v| {
                                                    if let Some(r) = v.rules.get_mut(i) {
                                                        *rule_field_mut(r, field) = chosen;
                                                    }
                                                })
                                            }
                                        >
                                            <option value="">"Any"</option>
                                            {move || {
                                                // The rule's own value stays offered even if
                                                // no contact has it any more.
                                                let current = get();
                                                let mut values = options.with_value(|o| o[field].clone());
                                                if !current.is_empty() && !values.contains(&current) {
                                                    values.insert(0, current.clone());
                                                }
                                                values.into_iter().map(|v| {
                                                    let selected = v == current;
                                                    let label = v.clone();
                                                    view! { <option value=v selected=selected>{label}</option> }
                                                }).collect_view()
                                            }}
                                        </select>
                                    </div>
                                }
                            })
                            .collect_view()}
                        <button
                            type="button"
                            class="btn small danger"
                            aria-label=format!("Remove rule {}", i + 1)
                            on:click=move |_| value.update(|v| {
                                if i < v.rules.len() {
                                    v.rules.remove(i);
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
                on:click=move |_| value.update(|v| v.rules.push(Rule::default()))
            >
                "Add rule"
            </button>
        </div>
    }
}

fn rule_field(r: &Rule, field: usize) -> &String {
    match field {
        0 => &r.department,
        1 => &r.role,
        2 => &r.location,
        _ => &r.source,
    }
}

fn rule_field_mut(r: &mut Rule, field: usize) -> &mut String {
    match field {
        0 => &mut r.department,
        1 => &mut r.role,
        2 => &mut r.location,
        _ => &mut r.source,
    }
}

/// People picked by name: search as you type, add, remove.
#[component]
fn PeoplePicker(
    value: RwSignal<Recipients>,
    people: RwSignal<Vec<PickedContact>>,
) -> impl IntoView {
    let text = RwSignal::new(String::new());
    let query = RwSignal::new(String::new());
    let timer = StoredValue::new(None::<TimeoutHandle>);
    let results = Resource::new_serde_wb(
        move || query.get(),
        |q| async move {
            if q.trim().is_empty() {
                return Ok(Default::default());
            }
            list_contacts(ContactQuery {
                q,
                ..Default::default()
            })
            .await
        },
    );
    let sync = move || {
        let ids: Vec<i64> = people.with(|p| p.iter().map(|c| c.id).collect());
        value.update(|v| v.contacts = ids);
    };
    let add = move |c: PickedContact| {
        people.update(|p| {
            if !p.iter().any(|x| x.id == c.id) {
                p.push(c);
            }
        });
        sync();
    };
    let remove = move |id: i64| {
        people.update(|p| p.retain(|c| c.id != id));
        sync();
    };
    view! {
        <div class="recipient-part">
            <h3>"People"</h3>
            <ul class="chips" aria-label="Chosen people">
                <For each=move || people.get() key=|c| c.id let:c>
                    <li class="chip" class:missing=!c.active>
                        <span>
                            {c.name.clone()}
                            {(!c.active).then_some(" (deactivated: not reached)")}
                        </span>
                        <button
                            type="button"
                            class="chip-remove"
                            aria-label=format!("Remove {}", c.name)
                            on:click=move |_| remove(c.id)
                        >
                            "×"
                        </button>
                    </li>
                </For>
            </ul>
            <label for="people-search" class="sr-only">"Find a person"</label>
            <input
                id="people-search"
                type="search"
                placeholder="Find a person by name or email"
                autocomplete="off"
                prop:value=move || text.get()
                on:keydown=|ev| {
                    if ev.key() == "Enter" {
                        ev.prevent_default();
                    }
                }
                on:input=move |ev| {
                    text.set(event_target_value(&ev));
                    if let Some(t) = timer.get_value() {
                        t.clear();
                    }
                    let handle = set_timeout_with_handle(
                        move || query.set(text.get_untracked()),
                        SEARCH_DEBOUNCE,
                    );
                    timer.set_value(handle.ok());
                }
            />
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let page = results.await.unwrap_or_default();
                    let searched = !query.get_untracked().trim().is_empty();
                    view! {
                        {(searched && page.rows.is_empty()).then(|| view! { <p class="muted">"Nobody matches."</p> })}
                        <ul class="pick-results" aria-label="People found">
                            {page.rows.into_iter().filter(|r| !r.deactivated).take(PICK_RESULTS).map(|r| {
                                let picked = PickedContact {
                                    id: r.id,
                                    name: r.name.clone(),
                                    email: r.email.clone(),
                                    active: true,
                                };
                                let id = r.id;
                                let chosen = move || people.with(|p| p.iter().any(|c| c.id == id));
                                view! {
                                    <li>
                                        <button
                                            type="button"
                                            class="pick"
                                            disabled=chosen
                                            on:click=move |_| add(picked.clone())
                                        >
                                            <span class="pick-name">{r.name}</span>
                                            <span class="muted">{r.email.or(r.phone).unwrap_or_default()}</span>
                                            <span class="pick-action">{move || if chosen() { "Added" } else { "Add" }}</span>
                                        </button>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }
                })}
            </Transition>
        </div>
    }
}
