//! The webhooks Twilio calls: a message's delivery report
//! (`/sms/twilio/{key}/status/{delivery}`, the status callback the outbox
//! gives with each message) and a reply someone texted
//! (`/sms/twilio/{key}/inbound`, set on the number in Twilio's console).
//! Each must carry Twilio's signature of its URL and parameters with the
//! organisation's auth token; the key in the path only says whose token.

use super::{answer, SMS};
use crate::backend::db::entities::{delivery, incident, incident_recipient};
use crate::backend::db::now_ms;
use crate::backend::domain::OrgId;
use crate::backend::sms::{self, inbound_url, status_url, twilio};
use crate::backend::AppState;
use crate::model::{AppError, DeliveryStatus, IncidentStatus};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Router};
use http::{header, HeaderMap, StatusCode};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

const SIGNATURE: &str = "x-twilio-signature";
/// The status a delivery has while a sender holds it.
const SENDING: &str = "sending";

type Params = Vec<(String, String)>;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sms/twilio/{key}/status/{delivery}", post(status))
        .route("/sms/twilio/{key}/inbound", post(inbound))
}

fn param<'a>(params: &'a Params, name: &str) -> &'a str {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// The organisation whose webhook `key` names, if the request is signed
/// with its auth token for `url`; else the answer to give.
async fn signed(
    state: &AppState,
    key: &str,
    url: &str,
    headers: &HeaderMap,
    params: &Params,
) -> Result<OrgId, Response> {
    let found = sms::by_webhook(&state.db, &state.vault, key)
        .await
        .map_err(|e| {
            tracing::error!("an SMS webhook could not be checked: {e}");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        })?;
    let Some((org, account)) = found else {
        return Err(StatusCode::NOT_FOUND.into_response());
    };
    let given = headers
        .get(SIGNATURE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !twilio::verify(account.token(), url, params, given) {
        tracing::warn!(
            org = org.get(),
            "an SMS webhook with a wrong signature was refused"
        );
        return Err((StatusCode::FORBIDDEN, "Invalid signature.").into_response());
    }
    Ok(org)
}

/// A delivery report: sent, delivered, or failed with Twilio's error code.
async fn status(
    State(state): State<AppState>,
    Path((key, id)): Path<(String, i64)>,
    headers: HeaderMap,
    Form(params): Form<Params>,
) -> Response {
    let url = status_url(state.outbox.public_url(), &key, id);
    let org = match signed(&state, &key, &url, &headers, &params).await {
        Ok(org) => org,
        Err(answer) => return answer,
    };
    match record_status(&state.db, org, id, &params).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => {
            tracing::error!("an SMS delivery report could not be recorded: {e}");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// Record what Twilio reports of delivery `id`. Reports may come in any
/// order, and before the sender has recorded its own outcome: a status only
/// moves forward (delivered is final; a failure does not undo a delivery).
async fn record_status(
    db: &impl ConnectionTrait,
    org: OrgId,
    id: i64,
    params: &Params,
) -> Result<(), AppError> {
    use DeliveryStatus as S;
    let code = param(params, "ErrorCode");
    let (to, error, from): (S, Option<String>, &[&str]) = match param(params, "MessageStatus") {
        "sent" => (S::Sent, None, &[SENDING, "queued"]),
        "delivered" | "read" => (S::Delivered, None, &[SENDING, "queued", "sent", "failed"]),
        "undelivered" | "failed" => {
            let why = match twilio::error_text(code) {
                Some(text) => format!("Twilio could not deliver it ({code}: {text})."),
                None if code.is_empty() => "Twilio could not deliver it.".to_string(),
                None => format!("Twilio could not deliver it (error {code})."),
            };
            (S::Failed, Some(why), &[SENDING, "queued", "sent"])
        }
        // queued, sending, accepted, scheduled: nothing new.
        _ => return Ok(()),
    };
    let sid = param(params, "MessageSid");
    let mut update = delivery::Entity::update_many()
        .col_expr(delivery::Column::Status, Expr::val(to.as_str()))
        .col_expr(delivery::Column::Error, Expr::val(error))
        .col_expr(delivery::Column::LeaseUntil, Expr::val(None::<i64>))
        .col_expr(delivery::Column::UpdatedAt, Expr::val(now_ms()));
    if !sid.is_empty() {
        update = update.col_expr(delivery::Column::ProviderRef, Expr::val(sid));
    }
    update
        .filter(delivery::Column::Id.eq(id))
        .filter(delivery::Column::OrgId.eq(org.get()))
        .filter(delivery::Column::Channel.eq(SMS))
        .filter(delivery::Column::Status.is_in(from.iter().copied()))
        .exec(db)
        .await?;
    Ok(())
}

/// A text someone sent to the organisation's number: an answer by number
/// ("1" for the first option) to the latest incident that texted them.
async fn inbound(
    State(state): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
    Form(params): Form<Params>,
) -> Response {
    let url = inbound_url(state.outbox.public_url(), &key);
    let org = match signed(&state, &key, &url, &headers, &params).await {
        Ok(org) => org,
        Err(answer) => return answer,
    };
    let from = param(&params, "From");
    let body = param(&params, "Body");
    match reply(&state.db, org, from, body).await {
        Ok(text) => (
            [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
            twilio::twiml(text.as_deref()),
        )
            .into_response(),
        Err(e) => {
            tracing::error!("an SMS reply could not be recorded: {e}");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// Record the answer in `body` from `from`; what to text back, if anything.
pub async fn reply(
    db: &impl ConnectionTrait,
    org: OrgId,
    from: &str,
    body: &str,
) -> Result<Option<String>, AppError> {
    if from.is_empty() || twilio::is_keyword(body) {
        // STOP, HELP and the like: Twilio answers those itself.
        return Ok(None);
    }
    // The latest incidents that had this number, newest first; the first
    // that texted it is the one being answered.
    let recipients = incident_recipient::Entity::find()
        .filter(incident_recipient::Column::OrgId.eq(org.get()))
        .filter(incident_recipient::Column::Phone.eq(from))
        .order_by_desc(incident_recipient::Column::IncidentId)
        .limit(20)
        .all(db)
        .await?;
    let mut found = None;
    for r in recipients {
        let texted = incident::Entity::find_by_id(r.incident_id)
            .filter(incident::Column::OrgId.eq(org.get()))
            .filter(incident::Column::Sms.eq(true))
            .one(db)
            .await?;
        if let Some(i) = texted {
            found = Some((r, i));
            break;
        }
    }
    // A number no incident texted: nothing to say to it.
    let Some((recipient, incident)) = found else {
        return Ok(None);
    };
    let options: Vec<String> = serde_json::from_str(&incident.options).unwrap_or_default();
    if options.is_empty() {
        return Ok(None);
    }
    if IncidentStatus::parse(&incident.status) == IncidentStatus::Resolved {
        return Ok(Some(format!(
            "\"{}\" is resolved: answers are closed. Thank you.",
            incident.name
        )));
    }
    let digits: String = body
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let chosen = digits
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=options.len()).contains(n));
    let Some(n) = chosen else {
        let list: Vec<String> = options
            .iter()
            .enumerate()
            .map(|(i, o)| format!("{} {o}", i + 1))
            .collect();
        return Ok(Some(format!(
            "Reply with the number of your answer: {}.",
            list.join(", ")
        )));
    };
    answer(db, &recipient, &incident, n - 1, "sms").await?;
    Ok(Some(format!("Thank you. Your answer: {}.", options[n - 1])))
}
