//! All Contacts: search as you type, filters, paging. The URL query holds the
//! state, so links, reloads, the back button and no-JavaScript browsers agree.

use crate::api::contacts::{contact_facets, list_contacts};
use crate::model::{ContactPage, ContactQuery, ContactStatus, Facets};
use crate::ui::components::{AppShell, ContactsTabs, ErrorNotice, EyeIcon, Loading};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::NavigateOptions;
use std::time::Duration;

const SEARCH_DEBOUNCE: Duration = Duration::from_millis(250);

#[component]
pub fn ContactsPage() -> impl IntoView {
    let params = use_query_map();
    let query = Memo::new(move |_| {
        let p = params.read();
        let get = |k: &str| p.get(k).unwrap_or_default();
        ContactQuery {
            q: get("q"),
            department: get("department"),
            role: get("role"),
            location: get("location"),
            status: get("status"),
            after: get("after"),
            before: get("before"),
        }
    });
    let page = Resource::new_serde_wb(move || query.get(), list_contacts);
    let facets = Resource::new_serde_wb(|| (), |_| contact_facets());

    view! {
        <Title text="Contacts · Muster"/>
        <AppShell>
            <div class="page-head">
                <h1>"Contacts"</h1>
                <div class="actions">
                    <a
                        class="btn"
                        href=move || export_link(&query.get())
                        download
                        rel="external"
                    >
                        "Export CSV"
                    </a>
                    <AddMenu/>
                </div>
            </div>
            <ContactsTabs integrations=false/>
            <Suspense fallback=|| view! { <Loading/> }>
                {move || Suspend::new(async move {
                    let facets = facets.await.unwrap_or_default();
                    view! { <Filters query facets/> }
                })}
            </Suspense>
            <Transition fallback=|| view! { <Loading label="Loading contacts…"/> }>
                {move || Suspend::new(async move {
                    match page.await {
                        Ok(result) => view! { <Results result query=query.get_untracked()/> }.into_any(),
                        Err(e) => view! { <ErrorNotice error=e/> }.into_any(),
                    }
                })}
            </Transition>
        </AppShell>
    }
}

/// The export of the list as filtered (search and filters, not the page).
fn export_link(query: &ContactQuery) -> String {
    match query.first_page().to_query_string() {
        q if q.is_empty() => "/contacts.csv".to_string(),
        q => format!("/contacts.csv?{q}"),
    }
}

/// Add Contact, with a menu for the other ways of adding contacts. A native
/// disclosure, so that it works with the keyboard and before hydration.
#[component]
fn AddMenu() -> impl IntoView {
    let menu = NodeRef::<leptos::html::Details>::new();
    let close = move || {
        if let Some(d) = menu.get_untracked() {
            d.set_open(false);
        }
    };
    view! {
        <div class="split-btn">
            <a class="btn primary" href="/contacts/new">"Add Contact"</a>
            <details
                class="menu"
                node_ref=menu
                on:keydown=move |ev| {
                    if ev.key() == "Escape" {
                        close();
                    }
                }
                on:focusout=move |ev| {
                    use wasm_bindgen::JsCast;
                    let inside = ev
                        .related_target()
                        .and_then(|t| t.dyn_into::<web_sys::Node>().ok())
                        .zip(menu.get_untracked())
                        .is_some_and(|(t, d)| d.contains(Some(&t)));
                    if !inside {
                        close();
                    }
                }
            >
                <summary class="btn primary" aria-label="More ways to add contacts">
                    <span aria-hidden="true">"▾"</span>
                </summary>
                <ul class="menu-list">
                    <li>
                        <a href="/contacts/upload">"Upload contacts"</a>
                    </li>
                    <li>
                        <a href="/contacts/imports">"Upload history"</a>
                    </li>
                </ul>
            </details>
        </div>
    }
}

/// Search box, the Department, Role and Location filters, and the Status
/// filter when some contacts are deactivated (or it is set).
#[component]
fn Filters(query: Memo<ContactQuery>, facets: Facets) -> impl IntoView {
    let navigate = use_navigate();
    let apply = navigate.clone();
    // The text in the search box. It follows the URL when the URL changes from
    // elsewhere (Reset, back button), but never overwrites what is being typed.
    let text = RwSignal::new(query.get_untracked().q);
    let sent = StoredValue::new(query.get_untracked().q);
    Effect::new(move |_| {
        let q = query.get().q;
        if q != sent.get_value() {
            sent.set_value(q.clone());
            text.set(q);
        }
    });
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
                sent.set_value(q.clone());
                let next = ContactQuery {
                    q,
                    ..query.get_untracked().first_page()
                };
                navigate(
                    &format!("/contacts?{}", next.to_query_string()),
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
    let select = move |label: &'static str,
                       name: &'static str,
                       all: &'static str,
                       values: Vec<(String, String)>,
                       current: fn(&ContactQuery) -> &String| {
        let id = format!("filter-{name}");
        // The value chosen, applied or not. Like the search box, it follows the
        // URL only when the URL's value for it changes (Apply, Reset, the back
        // button): a search typed meanwhile must not undo a choice not yet applied.
        let chosen = RwSignal::new(current(&query.get_untracked()).clone());
        let seen = StoredValue::new(chosen.get_untracked());
        Effect::new(move |_| {
            let value = current(&query.get()).clone();
            if value != seen.get_value() {
                seen.set_value(value.clone());
                chosen.set(value);
            }
        });
        view! {
            <div class="filter">
                <label for=id.clone()>{label}</label>
                <select
                    id=id
                    name=name
                    prop:value=move || chosen.get()
                    on:change=move |ev| chosen.set(event_target_value(&ev))
                >
                    <option value="" selected=move || chosen.get().is_empty()>{all}</option>
                    {values
                        .into_iter()
                        .map(|(value, label)| {
                            let is = value.clone();
                            view! {
                                <option value=value selected=move || chosen.get() == is>{label}</option>
                            }
                        })
                        .collect_view()}
                </select>
            </div>
        }
    };
    view! {
        // A plain GET form: without JavaScript the browser submits it; with
        // it, Apply navigates within the app. (The router's `Form` does the
        // same, but brought `str::to_lowercase` and its Unicode tables into the
        // first load: server/README, "First load".) Apply sends the search box
        // too: a search still waiting for its debounce must not fire
        // afterwards and replace the applied URL.
        <form
            method="GET"
            action="/contacts"
            class="filters"
            role="search"
            on:submit=move |ev| {
                if let Some(t) = timer.get_value() {
                    t.clear();
                }
                // (Should the form's fields not be readable, the browser submits it.)
                if let Some(next) = submitted(&ev) {
                    ev.prevent_default();
                    sent.set_value(next.q.clone());
                    apply(&format!("/contacts?{}", next.to_query_string()), Default::default());
                }
            }
        >
            <div class="filter search">
                <label for="contact-search">"Search"</label>
                <input
                    id="contact-search"
                    name="q"
                    type="search"
                    placeholder="Search by name or email"
                    autocomplete="off"
                    maxlength=ContactQuery::MAX_TEXT.to_string()
                    value=query.get_untracked().q
                    prop:value=move || text.get()
                    on:input=on_input
                />
            </div>
            {select("Department", "department", "All departments", labelled(facets.departments), |q| &q.department)}
            {select("Role", "role", "All roles", labelled(facets.roles), |q| &q.role)}
            {select("Location", "location", "All locations", labelled(facets.locations), |q| &q.location)}
            {(facets.deactivated > 0 || !query.get_untracked().status.is_empty())
                .then(|| {
                    let others = [ContactStatus::Deactivated, ContactStatus::All]
                        .map(|s| (s.as_str().to_string(), s.label().to_string()))
                        .to_vec();
                    select("Status", "status", ContactStatus::Active.label(), others, |q| &q.status)
                })}
            <div class="filter-actions">
                <button type="submit" class="btn primary">"Apply"</button>
                <a class="btn" href="/contacts">"Reset"</a>
            </div>
        </form>
    }
}

/// The query a submitted filter form asks for, from the form's own fields.
fn submitted(ev: &leptos::ev::SubmitEvent) -> Option<ContactQuery> {
    use wasm_bindgen::JsCast;
    let form = ev.target()?.dyn_into::<web_sys::HtmlFormElement>().ok()?;
    let data = web_sys::FormData::new_with_form(&form).ok()?;
    let value = |name: &str| data.get(name).as_string().unwrap_or_default();
    Some(ContactQuery {
        q: value("q"),
        department: value("department"),
        role: value("role"),
        location: value("location"),
        status: value("status"),
        ..Default::default()
    })
}

/// Filter values offered as they are named.
fn labelled(values: Vec<String>) -> Vec<(String, String)> {
    values.into_iter().map(|v| (v.clone(), v)).collect()
}

/// "1 contact", "N contacts".
fn contacts(n: u64) -> String {
    match n {
        1 => "1 contact".to_string(),
        n => format!("{n} contacts"),
    }
}

#[component]
fn Results(result: ContactPage, query: ContactQuery) -> impl IntoView {
    let navigate = use_navigate();
    let ContactPage {
        rows,
        total,
        next,
        prev,
        unsearched,
    } = result;
    let count = contacts(total);
    // A search misses an upload's contacts until they are indexed: say so,
    // rather than let "No contacts match" be read as "they are not there".
    let catching_up = (unsearched > 0).then(|| {
        let waiting = contacts(unsearched);
        view! {
            <p class="notice info" role="status" data-testid="search-catching-up">
                "Search is catching up with a recent upload: " {waiting}
                " cannot be found by a search yet (or only as they were before it). \
                 The list and the filters show them already."
            </p>
        }
    });
    let filtered = query.has_filters();
    let link = |after: Option<String>, before: Option<String>| {
        let q = ContactQuery {
            after: after.unwrap_or_default(),
            before: before.unwrap_or_default(),
            ..query.first_page()
        };
        format!("/contacts?{}", q.to_query_string())
    };
    let prev_link = prev.map(|c| link(None, Some(c)));
    let next_link = next.map(|c| link(Some(c), None));
    if rows.is_empty() {
        return view! {
            <p class="count" data-testid="contact-count" aria-live="polite">{count}</p>
            {catching_up}
            <div class="empty-state card">
                {if filtered {
                    view! {
                        <h2>"No contacts match"</h2>
                        <p>"Try another search, or " <a href="/contacts">"reset the filters"</a> "."</p>
                    }
                    .into_any()
                } else {
                    view! {
                        <h2>"No contacts yet"</h2>
                        <p>
                            "Add your first contact, "
                            <a href="/contacts/upload">"upload a CSV file"</a>
                            ", or connect an HR system in "
                            <a href="/contacts/integrations">"Integrations"</a>
                            " to import your people automatically."
                        </p>
                        <a class="btn primary" href="/contacts/new">"Add Contact"</a>
                    }
                    .into_any()
                }}
            </div>
        }
        .into_any();
    }
    view! {
        <p class="count" data-testid="contact-count" aria-live="polite">{count}</p>
        {catching_up}
        <div class="table-wrap card">
            <table class="contacts">
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Email"</th>
                        <th scope="col">"Mobile Phone"</th>
                        <th scope="col">"Source"</th>
                        <th scope="col" class="actions-col">"Actions"</th>
                    </tr>
                </thead>
                <tbody>
                    {rows
                        .into_iter()
                        .map(|row| {
                            let href = format!("/contacts/{}", row.id);
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
                                        {row.name.clone()}
                                        {row.deactivated.then(|| view! {
                                            " " <span class="badge warn" data-testid="deactivated-badge">"Deactivated"</span>
                                        })}
                                    </td>
                                    <td data-label="Email">{row.email.unwrap_or_else(|| "–".into())}</td>
                                    <td data-label="Mobile Phone">{row.phone.unwrap_or_else(|| "–".into())}</td>
                                    <td data-label="Source"><span class="badge">{row.source}</span></td>
                                    <td class="actions-col">
                                        <a
                                            class="icon-btn"
                                            href=href
                                            aria-label="View"
                                            title=format!("View {}", row.name)
                                            on:click=|ev| ev.stop_propagation()
                                        >
                                            <EyeIcon/>
                                        </a>
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
        <nav class="pager" aria-label="Pages">
            {match prev_link {
                Some(href) => view! { <a class="btn" href=href rel="prev">"← Previous"</a> }.into_any(),
                None => view! { <span class="btn disabled" aria-disabled="true">"← Previous"</span> }.into_any(),
            }}
            {match next_link {
                Some(href) => view! { <a class="btn" href=href rel="next">"Next →"</a> }.into_any(),
                None => view! { <span class="btn disabled" aria-disabled="true">"Next →"</span> }.into_any(),
            }}
        </nav>
    }
    .into_any()
}
