//! A fake of Twilio's Programmable Messaging API, faithful to its wire
//! format: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` with HTTP
//! Basic auth (`AccountSid:AuthToken`), a form body, Twilio's JSON message
//! resource and its error bodies (`code`, `message`, `more_info`, `status`).
//! It keeps every message it accepts, can be told to refuse a number or rate
//! limit, and sends signed status callbacks (`sent`, then `delivered` or
//! `undelivered`) as Twilio does. [`Twilio::reply`] plays a person texting
//! back, to Muster's inbound webhook. `GET /messages` lists what it accepted.

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::json;
use sha1::Sha1;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const API_VERSION: &str = "2010-04-01";
/// The longest body Twilio takes, in characters.
const MAX_BODY: usize = 1600;
/// The account `muster fake-providers` serves: Account SID, auth token, and
/// its number (Twilio's own test number).
pub const DEMO: (&str, &str, &str) = (
    "AC00000000000000000000000000000001",
    "demo-twilio-auth-token-00000000",
    "+15005550006",
);

/// A message as accepted.
#[derive(Debug, Clone, Serialize)]
pub struct SmsMessage {
    /// `SM` and 32 hex digits.
    pub sid: String,
    /// None when sent through a Messaging Service without a From.
    pub from: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub to: String,
    pub body: String,
    pub status_callback: Option<String>,
    /// `queued` or `accepted`, then `sent`, then `delivered` or `undelivered`.
    pub status: String,
}

/// The fake's account and what it has seen.
pub struct Twilio {
    pub account_sid: String,
    pub auth_token: String,
    /// The account's own SMS-capable numbers (E.164).
    pub numbers: Vec<String>,
    pub sent: Mutex<Vec<SmsMessage>>,
    /// Answer this many sends with 429 before serving again.
    pub rate_limited: AtomicUsize,
    /// Status callbacks sent: (MessageSid, MessageStatus, HTTP status or 0
    /// when the request failed), so tests can see that Muster took them.
    pub callbacks: Mutex<Vec<(String, String, u16)>>,
    /// Recipient → (HTTP status, Twilio code, message, how many more times).
    refusals: Mutex<HashMap<String, (u16, u32, String, usize)>>,
    /// Recipient → the ErrorCode its messages end `undelivered` with.
    undeliverable: Mutex<HashMap<String, u32>>,
    /// While set, status callbacks are dropped instead of sent.
    held: AtomicBool,
    client: reqwest::Client,
}

impl Twilio {
    pub fn new(account_sid: &str, auth_token: &str, numbers: &[&str]) -> Arc<Twilio> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Arc::new(Twilio {
            account_sid: account_sid.to_string(),
            auth_token: auth_token.to_string(),
            numbers: numbers.iter().map(|n| n.to_string()).collect(),
            sent: Mutex::default(),
            rate_limited: AtomicUsize::new(0),
            callbacks: Mutex::default(),
            refusals: Mutex::default(),
            undeliverable: Mutex::default(),
            held: AtomicBool::new(false),
            client,
        })
    }

    /// Answer the next `times` sends to `to` with this error, e.g. 400/21610
    /// "Attempt to send to unsubscribed recipient" (permanent) or 503/20500
    /// "Internal Server Error" (temporary).
    pub fn refuse(&self, to: &str, status: u16, code: u32, message: &str, times: usize) {
        self.refusals
            .lock()
            .unwrap()
            .insert(to.to_string(), (status, code, message.to_string(), times));
    }

    /// Messages to `to` are accepted but end `undelivered` with `error_code`
    /// (e.g. 30003, unreachable handset).
    pub fn undeliverable(&self, to: &str, error_code: u32) {
        self.undeliverable
            .lock()
            .unwrap()
            .insert(to.to_string(), error_code);
    }

    /// Stop (or resume) sending status callbacks; held ones are never sent.
    pub fn hold_callbacks(&self, on: bool) {
        self.held.store(on, Ordering::SeqCst);
    }

    pub fn messages(&self) -> Vec<SmsMessage> {
        self.sent.lock().unwrap().clone()
    }

    /// The messages sent to `number`.
    pub fn to(&self, number: &str) -> Vec<SmsMessage> {
        self.messages()
            .into_iter()
            .filter(|m| m.to == number)
            .collect()
    }

    /// The status callbacks sent so far.
    pub fn callbacks(&self) -> Vec<(String, String, u16)> {
        self.callbacks.lock().unwrap().clone()
    }

    fn refusal(&self, to: &str) -> Option<(u16, u32, String)> {
        let mut r = self.refusals.lock().unwrap();
        let slot = r.get_mut(to)?;
        if slot.3 == 0 {
            return None;
        }
        slot.3 -= 1;
        Some((slot.0, slot.1, slot.2.clone()))
    }

    fn set_status(&self, sid: &str, status: &str) {
        if let Some(m) = self.sent.lock().unwrap().iter_mut().find(|m| m.sid == sid) {
            m.status = status.to_string();
        }
    }

    /// What Twilio does when a person texts `to` (one of the account's
    /// numbers): a signed form POST to the number's webhook. Returns the
    /// answer's HTTP status and body (TwiML).
    pub async fn reply(
        &self,
        from: &str,
        to: &str,
        body: &str,
        webhook_url: &str,
    ) -> (u16, String) {
        let sid = message_sid();
        let p = |k: &str, v: &str| (k.to_string(), v.to_string());
        let params = vec![
            p("ToCountry", country(to)),
            p("ToState", ""),
            p("SmsMessageSid", &sid),
            p("NumMedia", "0"),
            p("ToCity", ""),
            p("FromZip", ""),
            p("SmsSid", &sid),
            p("FromState", ""),
            p("SmsStatus", "received"),
            p("FromCity", ""),
            p("Body", body),
            p("FromCountry", country(from)),
            p("To", to),
            p("ToZip", ""),
            p("NumSegments", "1"),
            p("MessageSid", &sid),
            p("AccountSid", &self.account_sid),
            p("From", from),
            p("ApiVersion", API_VERSION),
        ];
        self.post_signed(webhook_url, &params, &self.auth_token)
            .await
    }

    /// POST `params` form-encoded to `url` as Twilio does, signed with
    /// `token` (another token than the account's forges the request).
    /// Returns the HTTP status (0 when the request failed) and the body.
    pub async fn post_signed(
        &self,
        url: &str,
        params: &[(String, String)],
        token: &str,
    ) -> (u16, String) {
        let sent = self
            .client
            .post(url)
            .header("X-Twilio-Signature", signature(token, url, params))
            .header("User-Agent", "TwilioProxy/1.1")
            .form(params)
            .send()
            .await;
        match sent {
            Ok(resp) => {
                let status = resp.status().as_u16();
                (status, resp.text().await.unwrap_or_default())
            }
            Err(e) => (0, e.to_string()),
        }
    }
}

/// Twilio's request signature: the URL as called, then each POST parameter's
/// name and value with no separators, sorted by name (then value), signed
/// with HMAC-SHA1 keyed by the auth token, in padded base64.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut data = url.to_string();
    for (name, value) in sorted {
        data.push_str(name);
        data.push_str(value);
    }
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The fake's API, and its messages as JSON at `GET /messages`.
pub fn router(state: Arc<Twilio>) -> Router {
    Router::new()
        .route("/2010-04-01/Accounts/{sid}/Messages.json", post(send))
        .route(
            "/messages",
            get(|State(tw): State<Arc<Twilio>>| async move { Json(tw.messages()) }),
        )
        .fallback(not_found)
        .with_state(state)
}

/// Serve on 127.0.0.1 (`port` 0 for any free one).
pub async fn start(state: Arc<Twilio>, port: u16) -> std::io::Result<super::Running> {
    super::serve(state.clone(), router(state), Arc::default(), port).await
}

/// Twilio's error body, with `status` as the HTTP status too.
fn error(status: u16, code: u32, message: &str) -> Response {
    let http = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let body = json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": http.as_u16(),
    });
    (http, Json(body)).into_response()
}

async fn not_found(uri: Uri) -> Response {
    error(
        404,
        20404,
        &format!("The requested resource {} was not found", uri.path()),
    )
}

/// HTTP Basic `AccountSid:AuthToken`, for the account the path names.
fn authorized(tw: &Twilio, headers: &HeaderMap, path_sid: &str) -> bool {
    let Some(encoded) = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let expected = format!("{}:{}", tw.account_sid, tw.auth_token);
    decoded == expected.as_bytes() && path_sid == tw.account_sid
}

/// `+` then 8 to 15 digits.
fn is_e164(number: &str) -> bool {
    number
        .strip_prefix('+')
        .is_some_and(|d| (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

/// Segments Twilio bills: 160 characters in one (GSM-7), 153 each when
/// concatenated; 70 and 67 when any character needs UCS-2 (here: non-ASCII).
fn segments(body: &str) -> usize {
    let (single, part) = if body.is_ascii() {
        (160, 153)
    } else {
        (70, 67)
    };
    let n = body.chars().count();
    if n <= single {
        1
    } else {
        n.div_ceil(part)
    }
}

/// `SM` and 32 random lowercase hex digits.
fn message_sid() -> String {
    format!("SM{:032x}", rand::random::<u128>())
}

/// The country Twilio names for a number, for the few prefixes tests use.
fn country(number: &str) -> &'static str {
    if number.starts_with("+1") {
        "US"
    } else if number.starts_with("+44") {
        "GB"
    } else {
        ""
    }
}

async fn send(
    State(tw): State<Arc<Twilio>>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    if !authorized(&tw, &headers, &sid) {
        let mut resp = error(401, 20003, "Authenticate");
        resp.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"Twilio API\""),
        );
        return resp;
    }
    if super::Faults::take_one(&tw.rate_limited) {
        return error(429, 20429, "Too Many Requests");
    }
    let Ok(Form(form)) = form else {
        return error(400, 20001, "The request body is not a valid form.");
    };
    // The first non-empty value of a parameter, as Twilio reads a form.
    let param = |name: &str| {
        form.iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.clone())
    };
    let Some(to) = param("To") else {
        return error(400, 21604, "A 'To' phone number is required.");
    };
    if !is_e164(&to) {
        return error(400, 21211, &format!("Invalid 'To' Phone Number: {to}"));
    }
    let service = param("MessagingServiceSid");
    let from = param("From");
    match (&from, &service) {
        (None, None) => return error(400, 21603, "A 'From' phone number is required."),
        (Some(f), None) if !tw.numbers.contains(f) => {
            let message = format!(
                "The From phone number {f} is not a valid, SMS-capable inbound phone \
                 number or short code for your account."
            );
            return error(400, 21606, &message);
        }
        _ => {}
    }
    let Some(body) = param("Body") else {
        return error(400, 21602, "Message body is required.");
    };
    if body.chars().count() > MAX_BODY {
        return error(
            400,
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        );
    }
    if let Some((status, code, message)) = tw.refusal(&to) {
        return error(status, code, &message);
    }

    let status = if service.is_some() {
        "accepted"
    } else {
        "queued"
    };
    let message = SmsMessage {
        sid: message_sid(),
        from,
        messaging_service_sid: service,
        to,
        body,
        status_callback: param("StatusCallback"),
        status: status.to_string(),
    };
    tw.sent.lock().unwrap().push(message.clone());
    tokio::spawn(progress(tw.clone(), message.clone()));

    let now = chrono::Utc::now().to_rfc2822();
    let uri = format!(
        "/{API_VERSION}/Accounts/{}/Messages/{}",
        tw.account_sid, message.sid
    );
    let body = json!({
        "account_sid": tw.account_sid,
        "api_version": API_VERSION,
        "body": message.body,
        "date_created": now,
        "date_sent": null,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "from": message.from,
        "messaging_service_sid": message.messaging_service_sid,
        "num_media": "0",
        "num_segments": segments(&message.body).to_string(),
        "price": null,
        "price_unit": "USD",
        "sid": message.sid,
        "status": message.status,
        "subresource_uris": { "media": format!("{uri}/Media.json") },
        "to": message.to,
        "uri": format!("{uri}.json"),
    });
    (StatusCode::CREATED, Json(body)).into_response()
}

/// The message goes `sent`, then `delivered` (or `undelivered` for a number
/// set so), each step a little after the last so that Muster has the answer
/// to its send before the first callback, and a signed callback when asked.
async fn progress(tw: Arc<Twilio>, m: SmsMessage) {
    let failure = tw.undeliverable.lock().unwrap().get(&m.to).copied();
    let last = if failure.is_some() {
        "undelivered"
    } else {
        "delivered"
    };
    for status in ["sent", last] {
        tokio::time::sleep(Duration::from_millis(50)).await;
        tw.set_status(&m.sid, status);
        let Some(url) = &m.status_callback else {
            continue;
        };
        if tw.held.load(Ordering::SeqCst) {
            continue;
        }
        let from = m
            .from
            .clone()
            .unwrap_or_else(|| tw.numbers.first().cloned().unwrap_or_default());
        let p = |k: &str, v: &str| (k.to_string(), v.to_string());
        let mut params = vec![
            p("AccountSid", &tw.account_sid),
            p("ApiVersion", API_VERSION),
            p("From", &from),
            p("MessageSid", &m.sid),
            p("MessageStatus", status),
            p("SmsSid", &m.sid),
            p("SmsStatus", status),
            p("To", &m.to),
        ];
        if let Some(service) = &m.messaging_service_sid {
            params.push(p("MessagingServiceSid", service));
        }
        if let (Some(code), "undelivered") = (failure, status) {
            params.push(p("ErrorCode", &code.to_string()));
        }
        let (http, _) = tw.post_signed(url, &params, &tw.auth_token).await;
        tw.callbacks
            .lock()
            .unwrap()
            .push((m.sid.clone(), status.to_string(), http));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_twilios_documented_example() {
        let params: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(
            signature("12345", url, &params),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
        // The order the parameters come in does not matter.
        let reversed: Vec<_> = params.iter().rev().cloned().collect();
        assert_eq!(
            signature("12345", url, &reversed),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
    }

    #[test]
    fn segments_and_numbers() {
        assert_eq!(segments(&"a".repeat(160)), 1);
        assert_eq!(segments(&"a".repeat(161)), 2);
        assert_eq!(segments(&"é".repeat(70)), 1);
        assert_eq!(segments(&"é".repeat(71)), 2);
        assert!(is_e164("+447700900123"));
        assert!(!is_e164("07700900123"));
        assert!(!is_e164("+1234"));
    }
}
