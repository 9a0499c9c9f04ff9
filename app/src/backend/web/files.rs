//! The routes that carry files rather than server function arguments: the
//! upload itself (streamed to disk, with the browser showing its progress),
//! the error report of an upload, and the export.

use crate::backend::auth::CurrentUser;
use crate::backend::import::export::{self, Export};
use crate::backend::import::job;
use crate::backend::AppState;
use crate::model::{AppError, ContactQuery};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::{header, Extensions, HeaderMap, HeaderValue};
use serde::Deserialize;

/// An error as the browser's upload code reads it: the status, and the
/// `AppError` as JSON, like a server function's.
fn failure(e: AppError) -> Response {
    (e.status(), Json(e)).into_response()
}

async fn caller(
    state: &AppState,
    extensions: &Extensions,
    headers: &HeaderMap,
) -> Result<CurrentUser, AppError> {
    state
        .session_user(extensions, headers)
        .await?
        .ok_or(AppError::Unauthenticated)
}

#[derive(Deserialize)]
pub struct UploadQuery {
    #[serde(default)]
    name: String,
}

/// `POST /imports?name=<file name>` with the file as the body: stores it,
/// checks it, and answers with its preview (or why it is refused).
pub async fn upload(
    State(state): State<AppState>,
    Query(q): Query<UploadQuery>,
    extensions: Extensions,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let user = match caller(&state, &extensions, &headers).await {
        Ok(u) => u,
        Err(e) => return failure(e),
    };
    let config = &state.imports;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let received = match declared {
        // Refused before a byte is stored.
        Some(n) if n > config.max_bytes => Err(AppError::TooLarge(
            crate::backend::import::stream::too_large(config.max_bytes),
        )),
        _ => match job::check_space(config, declared) {
            Ok(()) => job::store(&state.db, config, user.org, body.into_data_stream()).await,
            Err(e) => Err(e),
        },
    };
    match job::receive(&state.db, &user, config.max_waiting, &q.name, received).await {
        Ok(preview) => Json(preview).into_response(),
        Err(e) => failure(e),
    }
}

/// Problems read and written per step of the error report's stream.
const PROBLEMS_PAGE: u64 = 5000;

fn csv_download(name: &str, body: Body) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The cursor after a page of `rows`: the last one's id, or `None` when the
/// page was not full (it was the last).
fn next_page<T>(rows: &[T], id: impl Fn(&T) -> i64) -> Option<i64> {
    match rows.last() {
        Some(last) if rows.len() as u64 == PROBLEMS_PAGE => Some(id(last)),
        _ => None,
    }
}

/// A CSV download streamed a page at a time: a UTF-8 byte order mark (for
/// spreadsheets) and `header`, then the lines `page(after)` gives for the
/// rows after id `after`, with the cursor of the next page, until there is
/// none. Every cell is made formula-safe.
fn paged_csv<F, Fut>(name: String, header: Vec<String>, page: F) -> Response
where
    F: Fn(i64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(Vec<Vec<String>>, Option<i64>), AppError>> + Send,
{
    let (page, header) = (std::sync::Arc::new(page), std::sync::Arc::new(header));
    let stream = futures_util::stream::unfold(Some(0i64), move |after| {
        let (page, header) = (page.clone(), header.clone());
        async move {
            let after = after?;
            let mut out = csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(if after == 0 {
                    b"\xEF\xBB\xBF".to_vec()
                } else {
                    Vec::new()
                });
            if after == 0 {
                let _ = out.write_record(header.iter());
            }
            let (lines, next) = match page(after).await {
                Ok(p) => p,
                Err(e) => return Some((Err(std::io::Error::other(e.to_string())), None)),
            };
            for line in lines {
                let _ = out.write_record(
                    line.iter()
                        .map(|v| crate::backend::import::cells::escape(v).into_owned()),
                );
            }
            Some((
                Ok::<_, std::io::Error>(out.into_inner().unwrap_or_default()),
                next,
            ))
        }
    });
    csv_download(&name, Body::from_stream(stream))
}

/// `GET /imports/{id}/problems.csv`: the rows an upload could not apply, and
/// those applied with a warning, a line each: its line in the file, what was
/// wrong (each problem with its column), and for a row that failed its own
/// cells under the upload's own headers, so that the rows can be corrected in
/// a spreadsheet and the report uploaded again (its first three columns are
/// not imported).
pub async fn problems(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    extensions: Extensions,
    headers: HeaderMap,
) -> Response {
    let user = match caller(&state, &extensions, &headers).await {
        Ok(u) => u,
        Err(e) => return failure(e),
    };
    let columns = match job::headers(&state.db, user.org, id).await {
        Ok(Some(columns)) => columns,
        Ok(None) => return failure(AppError::NotFound),
        Err(e) => return failure(e),
    };
    let (db, org) = (state.db.clone(), user.org);
    let mut header = vec!["Line".to_string(), "Problem".into(), "Severity".into()];
    let width = columns.len();
    header.extend(columns);
    paged_csv(format!("upload-{id}-problems.csv"), header, move |after| {
        let db = db.clone();
        async move {
            let mut rows = job::problems(&db, org, id, after, PROBLEMS_PAGE).await?;
            // A row's problems are written together: a full page keeps its
            // last row's for the next page, where the rest of them may be.
            let next = next_page(&rows, |p| p.id).and_then(|_| {
                let last = rows.last().map(|p| p.line)?;
                let keep = rows.iter().position(|p| p.line == last)?;
                (keep > 0).then(|| {
                    rows.truncate(keep);
                    rows[keep - 1].id
                })
            });
            let next = next.or_else(|| next_page(&rows, |p| p.id));
            Ok((problem_lines(&rows, width), next))
        }
    })
}

/// The report's lines for `rows` (problems in file order): one per line of
/// the file, with the row's cells padded to `width` columns.
fn problem_lines(rows: &[job::ProblemRow], width: usize) -> Vec<Vec<String>> {
    rows.chunk_by(|a, b| a.line == b.line)
        .map(|problems| {
            let what: Vec<String> = problems
                .iter()
                .map(|p| match p.column_name.as_str() {
                    "" => p.message.clone(),
                    column => format!("{column}: {}", p.message),
                })
                .collect();
            let failed = problems.iter().any(|p| !p.warning);
            let mut line = vec![
                problems[0].line.to_string(),
                what.join("; "),
                if failed { "Error" } else { "Warning" }.to_string(),
            ];
            let cells: Vec<String> = problems
                .iter()
                .find_map(|p| p.row_values.as_deref())
                .and_then(|v| serde_json::from_str(v).ok())
                .unwrap_or_default();
            line.extend(
                cells
                    .into_iter()
                    .chain(std::iter::repeat(String::new()))
                    .take(width),
            );
            line
        })
        .collect()
}

/// `GET /integrations/{id}/syncs/{run}/changes.csv`: what one sync did, a line
/// per contact added, deleted, skipped or held, and per field updated.
pub async fn sync_changes(
    State(state): State<AppState>,
    Path((integration, run)): Path<(i64, i64)>,
    extensions: Extensions,
    headers: HeaderMap,
) -> Response {
    use crate::backend::integrations::history;
    let user = match caller(&state, &extensions, &headers).await {
        Ok(u) => u,
        Err(e) => return failure(e),
    };
    match history::exists(&state.db, user.org, integration, run).await {
        Ok(true) => {}
        Ok(false) => return failure(AppError::NotFound),
        Err(e) => return failure(e),
    }
    let (db, org) = (state.db.clone(), user.org);
    paged_csv(
        format!("sync-{run}-changes.csv"),
        [
            "Action",
            "External ID",
            "Name",
            "Email",
            "Field",
            "Before",
            "After",
            "Reason",
        ]
        .map(String::from)
        .to_vec(),
        move |after| {
            let db = db.clone();
            async move {
                let rows = history::changes(&db, org, run, after, PROBLEMS_PAGE).await?;
                let lines = rows
                    .iter()
                    .flat_map(history::export_lines)
                    .map(Vec::from)
                    .collect();
                Ok((lines, next_page(&rows, |c| c.id)))
            }
        },
    )
}

/// `GET /contacts.csv?q=&department=&role=&location=`: the list as filtered on
/// the page, streamed.
pub async fn export(
    State(state): State<AppState>,
    Query(query): Query<ContactQuery>,
    extensions: Extensions,
    headers: HeaderMap,
) -> Response {
    let user = match caller(&state, &extensions, &headers).await {
        Ok(u) => u,
        Err(e) => return failure(e),
    };
    if let Err(e) = query.check() {
        return failure(e);
    }
    let export = Export::new(state.db.clone(), user.org, query);
    let stream = futures_util::stream::unfold(Some(export), |export| async move {
        let mut export = export?;
        match export.next_chunk().await {
            Ok(Some(bytes)) => Some((Ok(bytes), Some(export))),
            Ok(None) => None,
            Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
        }
    });
    csv_download(&export::file_name(), Body::from_stream(stream))
}
