//! A fake Workday tenant serving one custom report as JSON (Report-as-a-Service,
//! reference/providers.md §4, with the exact keys of seed 000) at
//! `/ccx/service/customreport2/{tenant}/{owner}/{report}`, behind HTTP Basic
//! auth. Workday's own error bodies are not documented in the sources; the
//! fake answers 401 with a `WWW-Authenticate` challenge and a short JSON body.

use super::org::Status;
use super::{FakeOrg, Faults};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub struct FakeWorkday {
    pub org: FakeOrg,
    pub username: String,
    pub password: String,
    /// Serve a report whose keys do not match the required ones (Last_Name
    /// spelled last_name, no Contact_Number), as a misconfigured report would.
    pub wrong_keys: AtomicBool,
    pub faults: Arc<Faults>,
}

impl FakeWorkday {
    pub fn new(org: FakeOrg, username: &str, password: &str) -> Self {
        Self {
            org,
            username: username.into(),
            password: password.into(),
            wrong_keys: AtomicBool::new(false),
            faults: Arc::default(),
        }
    }

    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route(
                "/ccx/service/customreport2/{tenant}/{owner}/{report}",
                get(report),
            )
            .with_state(self)
    }

    pub async fn start(self, port: u16) -> std::io::Result<super::Running> {
        let faults = self.faults.clone();
        let state = Arc::new(self);
        super::serve(state.clone(), state.router(), faults, port).await
    }

    /// The report's path for the tenant `acme`.
    pub fn report_path() -> &'static str {
        "/ccx/service/customreport2/acme/ISU_Muster/Muster_Workers?format=json"
    }
}

fn authorised(fake: &FakeWorkday, headers: &HeaderMap) -> bool {
    let Some(encoded) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    String::from_utf8_lossy(&decoded) == format!("{}:{}", fake.username, fake.password)
}

async fn report(
    State(fake): State<Arc<FakeWorkday>>,
    headers: HeaderMap,
    Path((tenant, _owner, _report)): Path<(String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    fake.faults.delay().await;
    if !authorised(&fake, &headers) {
        let mut resp = (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({ "error": "Invalid username or password" })),
        )
            .into_response();
        resp.headers_mut().insert(
            "www-authenticate",
            HeaderValue::from_str(&format!("Basic realm=\"{tenant}\"")).unwrap(),
        );
        return resp;
    }
    if fake.faults.take_rate_limit() {
        return (StatusCode::TOO_MANY_REQUESTS, "Too many requests").into_response();
    }
    if q.get("format").map(String::as_str) != Some("json") {
        return (
            StatusCode::OK,
            [("content-type", "application/xml")],
            "<wd:Report_Data xmlns:wd=\"urn:com.workday.report/Muster_Workers\"/>",
        )
            .into_response();
    }
    let wrong = fake.wrong_keys.load(Ordering::Relaxed);
    let mut groups_of: Vec<Vec<&str>> = vec![Vec::new(); fake.org.people.len()];
    for g in &fake.org.groups {
        for i in &g.members {
            groups_of[*i].push(&g.name);
        }
    }
    let entries: Vec<Value> = fake
        .org
        .people
        .iter()
        .enumerate()
        .filter(|(_, p)| p.status != Status::Deprovisioned)
        .map(|(i, p)| {
            let groups = groups_of[i].join("; ");
            let mut entry = json!({
                "Employee_ID": p.id,
                "First_Name": p.first_name,
                "Email_Address": p.email,
                "Department": p.department,
                "Job_Title": p.title,
                "Location": p.city,
                "Groups": groups,
                "Active": if p.status == Status::Active { "1" } else { "0" },
            });
            let map = entry.as_object_mut().unwrap();
            if wrong {
                map.insert("last_name".into(), json!(p.last_name));
            } else {
                map.insert("Last_Name".into(), json!(p.last_name));
                map.insert(
                    "Contact_Number".into(),
                    json!(p.mobile.clone().unwrap_or_default()),
                );
            }
            entry
        })
        .collect();
    axum::Json(json!({ "Report_Entry": entries })).into_response()
}
