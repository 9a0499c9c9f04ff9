//! Upload contacts: choose a CSV file, watch it upload, check the mapping and
//! the first rows, and confirm. The import then runs on its own page.

use crate::api::imports::{cancel_import, import_limit, remap_import, start_import};
use crate::model::{field_label, AppError, ImportPreview, IMPORT_FIELDS};
use crate::ui::components::{AppShell, ContactsTabs, ErrorNotice, ProgressBar};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_navigate;

/// Where the upload is.
#[derive(Clone, PartialEq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
enum Step {
    Choose,
    /// Bytes sent and the file's size.
    Uploading {
        name: String,
        sent: f64,
        size: f64,
    },
    Preview(ImportPreview),
}

#[component]
pub fn UploadPage() -> impl IntoView {
    let step = RwSignal::new(Step::Choose);
    let error = RwSignal::new(None::<AppError>);
    let limit = Resource::new_serde_wb(|| (), |_| import_limit());
    view! {
        <Title text="Upload contacts · Muster"/>
        <AppShell>
            <nav class="breadcrumbs" aria-label="Breadcrumbs">
                <a href="/contacts">"Contacts"</a>
                " / Upload contacts"
            </nav>
            <div class="page-head">
                <h1>"Upload contacts"</h1>
                <div class="actions">
                    <a class="btn" href="/contacts/imports">"Upload history"</a>
                </div>
            </div>
            <ContactsTabs integrations=false/>
            {move || error.get().map(|e| view! { <ErrorNotice error=e/> })}
            {move || match step.get() {
                Step::Choose => {
                    view! {
                        <Suspense fallback=|| ()>
                            {move || Suspend::new(async move {
                                let max = limit.await.unwrap_or(100 * 1024 * 1024);
                                view! { <ChooseFile max step error/> }
                            })}
                        </Suspense>
                    }
                        .into_any()
                }
                Step::Uploading { name, sent, size } => {
                    let done = size > 0.0 && sent >= size;
                    let label = if done {
                        format!("Checking {name}…")
                    } else {
                        format!("Uploading {name}: {} of {}", megabytes(sent), megabytes(size))
                    };
                    view! {
                        <section class="card panel" aria-labelledby="upload-title">
                            <h2 id="upload-title">"Uploading"</h2>
                            <ProgressBar
                                label=label
                                value={if size > 0.0 { sent / size } else { 0.0 }}
                                busy=done
                            />
                            <p class="hint">
                                "The file is checked once it has arrived. Nothing is imported before you confirm."
                            </p>
                        </section>
                    }
                        .into_any()
                }
                Step::Preview(p) => view! { <PreviewPanel preview=p step error/> }.into_any(),
            }}
        </AppShell>
    }
}

fn megabytes(bytes: f64) -> String {
    if bytes < 1024.0 * 1024.0 {
        format!("{:.0} KB", (bytes / 1024.0).ceil())
    } else {
        format!("{:.1} MB", bytes / (1024.0 * 1024.0))
    }
}

#[component]
fn ChooseFile(max: u64, step: RwSignal<Step>, error: RwSignal<Option<AppError>>) -> impl IntoView {
    let input = NodeRef::<leptos::html::Input>::new();
    let chosen = RwSignal::new(None::<String>);
    let on_change = move |_| {
        error.set(None);
        chosen.set(selected_file(input).map(|(name, _)| name));
    };
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        let Some((name, size)) = selected_file(input) else {
            error.set(Some(AppError::BadRequest(
                "Choose a CSV file first.".into(),
            )));
            return;
        };
        if size > max as f64 {
            error.set(Some(AppError::TooLarge(format!(
                "{name} is {}; the limit is {}.",
                megabytes(size),
                megabytes(max as f64)
            ))));
            return;
        }
        upload(input, name, size, step, error);
    };
    view! {
        <form class="card panel upload-form" on:submit=on_submit>
            <h2>"Choose a CSV file"</h2>
            <p class="hint">
                "The first line names the columns. Muster needs First Name, Last Name, and Email or Mobile Phone; "
                "Department, Role, Location and Groups (several separated by “;”) are read too. "
                "A row updates the contact with the same email, or else the same mobile phone; blank cells never erase anything. "
                "CSV files from Excel, Google Sheets or an HR system work as they are (UTF-8 or UTF-16, comma, semicolon or tab)."
            </p>
            <label class="dropzone" for="upload-file">
                <span class="dropzone-title">
                    {move || chosen.get().unwrap_or_else(|| "Choose a file, or drop it here".into())}
                </span>
                <span class="hint">{format!("CSV, up to {}", megabytes(max as f64))}</span>
                <input
                    id="upload-file"
                    name="file"
                    type="file"
                    accept=".csv,.txt,.tsv,text/csv,text/plain"
                    node_ref=input
                    on:change=on_change
                />
            </label>
            <div class="form-actions">
                <button type="submit" class="btn primary">"Upload"</button>
                <a class="btn" href="/contacts">"Cancel"</a>
            </div>
        </form>
    }
}

/// The chosen file's name and size.
fn selected_file(input: NodeRef<leptos::html::Input>) -> Option<(String, f64)> {
    let file = input.get_untracked()?.files()?.get(0)?;
    Some((file.name(), file.size()))
}

/// Send the chosen file with its progress shown, then show its preview.
#[cfg(feature = "hydrate")]
fn upload(
    input: NodeRef<leptos::html::Input>,
    name: String,
    size: f64,
    step: RwSignal<Step>,
    error: RwSignal<Option<AppError>>,
) {
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    let Some(file) = input
        .get_untracked()
        .and_then(|i| i.files())
        .and_then(|f| f.get(0))
    else {
        return;
    };
    let fail = move |message: String| {
        error.set(Some(AppError::Transport(message)));
        step.set(Step::Choose);
    };
    let Ok(xhr) = web_sys::XmlHttpRequest::new() else {
        return fail("This browser cannot upload files.".into());
    };
    if xhr
        .open(
            "POST",
            &format!("/imports?name={}", urlencoding::encode(&name)),
        )
        .is_err()
    {
        return fail("The upload could not start.".into());
    }
    let _ = xhr.set_request_header("Content-Type", "text/csv");
    step.set(Step::Uploading {
        name: name.clone(),
        sent: 0.0,
        size,
    });
    let progress_name = name.clone();
    let on_progress =
        Closure::<dyn Fn(web_sys::ProgressEvent)>::new(move |ev: web_sys::ProgressEvent| {
            step.set(Step::Uploading {
                name: progress_name.clone(),
                sent: ev.loaded(),
                size: if ev.length_computable() {
                    ev.total()
                } else {
                    size
                },
            });
        });
    if let Ok(upload) = xhr.upload() {
        upload.set_onprogress(Some(on_progress.as_ref().unchecked_ref()));
    }
    let answered = xhr.clone();
    let on_end = Closure::<dyn Fn()>::new(move || {
        let status = answered.status().unwrap_or(0);
        let body = answered.response_text().ok().flatten().unwrap_or_default();
        if status == 200 {
            match crate::model::from_json::<ImportPreview>(&body) {
                Ok(p) => {
                    error.set(None);
                    step.set(Step::Preview(p));
                }
                Err(e) => fail(format!("The server's answer could not be read: {e}")),
            }
        } else if status == 0 {
            fail(
                "The connection was lost during the upload. Check your connection and try again."
                    .into(),
            );
        } else {
            match crate::model::from_json::<AppError>(&body) {
                Ok(e) => {
                    error.set(Some(e));
                    step.set(Step::Choose);
                }
                Err(_) => fail(format!("The upload failed (HTTP {status}).")),
            }
        }
    });
    xhr.set_onloadend(Some(on_end.as_ref().unchecked_ref()));
    // The request holds on to them until it ends; they are small, and one upload's worth.
    on_progress.forget();
    on_end.forget();
    if xhr.send_with_opt_blob(Some(&file)).is_err() {
        fail("The upload could not start.".into());
    }
}

#[cfg(not(feature = "hydrate"))]
fn upload(
    _: NodeRef<leptos::html::Input>,
    _: String,
    _: f64,
    _: RwSignal<Step>,
    _: RwSignal<Option<AppError>>,
) {
}

/// The detected mapping, which can be corrected, and the first rows checked.
#[component]
fn PreviewPanel(
    preview: ImportPreview,
    step: RwSignal<Step>,
    error: RwSignal<Option<AppError>>,
) -> impl IntoView {
    let navigate = use_navigate();
    let id = preview.job_id;
    let fields: Vec<String> = preview
        .columns
        .iter()
        .map(|c| c.field.clone().unwrap_or_default())
        .collect();
    let busy = RwSignal::new(false);
    let remap = move |column: usize, key: String| {
        let mut fields: Vec<String> = match step.get_untracked() {
            Step::Preview(p) => p
                .columns
                .iter()
                .map(|c| c.field.clone().unwrap_or_default())
                .collect(),
            _ => return,
        };
        fields[column] = key;
        busy.set(true);
        leptos::task::spawn_local(async move {
            match remap_import(id, fields).await {
                Ok(p) => {
                    error.set(None);
                    step.set(Step::Preview(p));
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    let confirm = {
        let fields = fields.clone();
        move |_| {
            busy.set(true);
            let (fields, navigate) = (fields.clone(), navigate.clone());
            leptos::task::spawn_local(async move {
                match start_import(id, fields).await {
                    Ok(job) => {
                        navigate(&format!("/contacts/imports/{}", job.id), Default::default())
                    }
                    Err(e) => {
                        error.set(Some(e));
                        busy.set(false);
                    }
                }
            });
        }
    };
    let discard = move |_| {
        busy.set(true);
        leptos::task::spawn_local(async move {
            let _ = cancel_import(id).await;
            error.set(None);
            step.set(Step::Choose);
            busy.set(false);
        });
    };
    let ImportPreview {
        file_name,
        file_bytes,
        encoding,
        delimiter,
        total_rows,
        columns,
        rows,
        mapping_error,
        ..
    } = preview;
    let can_import = mapping_error.is_none() && total_rows > 0;
    let ignored: Vec<String> = columns
        .iter()
        .filter(|c| c.field.is_none())
        .map(|c| c.header.clone())
        .collect();
    let headers: Vec<String> = columns.iter().map(|c| c.header.clone()).collect();
    let rows_label = match total_rows {
        1 => "1 row".to_string(),
        n => format!("{n} rows"),
    };
    view! {
        <section class="card panel" aria-labelledby="preview-title">
            <h2 id="preview-title">"Check the columns"</h2>
            <p class="meta-line" data-testid="preview-summary">
                <strong>{file_name}</strong>
                {format!(" · {} · {rows_label} · {encoding}, {delimiter}-separated", megabytes(file_bytes as f64))}
            </p>
            {mapping_error
                .clone()
                .map(|m| view! { <div class="notice error" role="alert">{m}</div> })}
            <table class="mapping">
                <thead>
                    <tr>
                        <th scope="col">"Column in the file"</th>
                        <th scope="col">"Imported as"</th>
                    </tr>
                </thead>
                <tbody>
                    {columns
                        .into_iter()
                        .enumerate()
                        .map(|(i, c)| {
                            let select_id = format!("map-{i}");
                            let current = c.field.clone().unwrap_or_default();
                            view! {
                                <tr>
                                    <th scope="row">
                                        <label for=select_id.clone()>{c.header.clone()}</label>
                                    </th>
                                    <td>
                                        <select
                                            id=select_id
                                            disabled=move || busy.get()
                                            on:change=move |ev| remap(i, event_target_value(&ev))
                                        >
                                            <option value="" selected=current.is_empty()>
                                                "Ignore this column"
                                            </option>
                                            {IMPORT_FIELDS
                                                .iter()
                                                .map(|(key, label)| {
                                                    view! {
                                                        <option value=*key selected=current == *key>
                                                            {*label}
                                                        </option>
                                                    }
                                                })
                                                .collect_view()}
                                        </select>
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
            {(!ignored.is_empty())
                .then(|| {
                    view! {
                        <p class="hint" data-testid="ignored-columns">
                            {format!("Ignored: {}.", ignored.join(", "))}
                        </p>
                    }
                })}
            <h3>"First rows"</h3>
            <div class="table-wrap">
                <table class="contacts preview-rows">
                    <thead>
                        <tr>
                            <th scope="col">"Line"</th>
                            {headers.iter().map(|h| view! { <th scope="col">{h.clone()}</th> }).collect_view()}
                            <th scope="col">"Check"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {rows
                            .into_iter()
                            .map(|r| {
                                let ok = r.errors.is_empty();
                                let check = if ok {
                                    "OK".to_string()
                                } else {
                                    r.errors
                                        .iter()
                                        .map(|e| format!("{}: {}", field_label(&e.field), e.message))
                                        .collect::<Vec<_>>()
                                        .join(" ")
                                };
                                view! {
                                    <tr class:invalid=!ok>
                                        <td>{r.line}</td>
                                        {r.cells.into_iter().map(|c| view! { <td>{c}</td> }).collect_view()}
                                        <td class={if ok { "check ok" } else { "check bad" }}>{check}</td>
                                    </tr>
                                }
                            })
                            .collect_view()}
                    </tbody>
                </table>
            </div>
            <div class="form-actions">
                <button
                    type="button"
                    class="btn primary"
                    disabled=move || busy.get() || !can_import
                    on:click=confirm
                >
                    {format!("Import {rows_label}")}
                </button>
                <button type="button" class="btn" disabled=move || busy.get() on:click=discard>
                    "Cancel"
                </button>
            </div>
        </section>
    }
}
