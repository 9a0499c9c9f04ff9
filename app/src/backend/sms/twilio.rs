//! Twilio's Programmable Messaging API, the part Muster uses: create a
//! Message (a form-encoded POST to `/2010-04-01/Accounts/{AccountSid}/Messages.json`
//! with HTTP Basic auth, answered in JSON), the `X-Twilio-Signature` that
//! Twilio puts on its webhooks (HMAC-SHA1 with the auth token over the URL and
//! the sorted form parameters), and TwiML to answer an incoming message.

use crate::backend::connectors::http::{Client, HttpError};
use crate::backend::sending::SendError;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// Where and as whom messages are sent: all of it sealed together.
#[derive(Clone)]
pub struct Account {
    pub account_sid: String,
    pub auth_token: SecretString,
    pub base_url: String,
    /// A number (E.164) or a Messaging Service SID (`MG…`).
    pub sender: String,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("account_sid", &self.account_sid)
            .field("base_url", &self.base_url)
            .field("sender", &self.sender)
            .finish_non_exhaustive()
    }
}

/// Twilio's error body.
#[derive(Debug, Deserialize)]
struct ApiError {
    code: Option<u32>,
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Created {
    sid: String,
}

/// Send `body` to `to`; Twilio's id of the message (`SM…`). Twilio reports
/// what became of it to `status_callback`.
pub async fn send(
    client: &Client,
    account: &Account,
    to: &str,
    body: &str,
    status_callback: Option<&str>,
) -> Result<String, SendError> {
    let url = format!(
        "{}/2010-04-01/Accounts/{}/Messages.json",
        account.base_url, account.account_sid
    );
    let mut form: Vec<(&str, &str)> = vec![("To", to), ("Body", body)];
    if crate::model::is_sid(&account.sender, "MG") {
        form.push(("MessagingServiceSid", &account.sender));
    } else {
        form.push(("From", &account.sender));
    }
    if let Some(cb) = status_callback {
        form.push(("StatusCallback", cb));
    }
    let answer = client
        .send(|c| {
            c.post(&url)
                .basic_auth(
                    &account.account_sid,
                    Some(account.auth_token.expose_secret()),
                )
                .form(&form)
        })
        .await;
    match answer {
        Ok(resp) => serde_json::from_slice::<Created>(&resp.body)
            .map(|c| c.sid)
            .map_err(|_| {
                SendError::Temporary("Twilio's answer could not be read (no message sid).".into())
            }),
        Err(e) => Err(refusal(&e)),
    }
}

/// What a failed request means for the message.
fn refusal(e: &HttpError) -> SendError {
    let HttpError::Status { status, body, .. } = e else {
        let why = e.network_message("Twilio");
        return if e.may_pass() {
            SendError::Temporary(why)
        } else {
            SendError::Permanent(why)
        };
    };
    let api: Option<ApiError> = serde_json::from_str(body).ok();
    let code = api.as_ref().and_then(|a| a.code);
    let message = api
        .and_then(|a| a.message)
        .unwrap_or_else(|| format!("HTTP {status}"));
    let why = match (status.as_u16(), code) {
        (401, _) | (_, Some(20003)) => format!(
            "Twilio refused the Account SID and auth token ({}): check Settings → SMS.",
            code.unwrap_or(20003)
        ),
        (_, Some(code)) => format!("Twilio refused it ({code}): {message}"),
        (_, None) => format!("Twilio refused it: {message}"),
    };
    if e.may_pass() {
        SendError::Temporary(why)
    } else {
        SendError::Permanent(why)
    }
}

/// Twilio's signature of a request to `url` with form `params`: the URL,
/// then each parameter's name and value in name order, HMAC-SHA1 with the
/// auth token, in base64.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    B64.encode(mac(auth_token, url, params).finalize().into_bytes())
}

/// Whether `header` is Twilio's signature of this request (compared in
/// constant time).
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], header: &str) -> bool {
    let Ok(given) = B64.decode(header.trim()) else {
        return false;
    };
    mac(auth_token, url, params).verify_slice(&given).is_ok()
}

fn mac(auth_token: &str, url: &str, params: &[(String, String)]) -> Hmac<sha1::Sha1> {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(auth_token.as_bytes())
        .expect("HMAC takes any key");
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    mac
}

/// A TwiML answer to an incoming message: `reply` texted back, or nothing.
/// (Text content: only `&`, `<` and `>` need escaping.)
pub fn twiml(reply: Option<&str>) -> String {
    let mut out = String::from(r#"<?xml version="1.0" encoding="UTF-8"?><Response>"#);
    if let Some(text) = reply {
        out.push_str("<Message>");
        for c in text.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                c => out.push(c),
            }
        }
        out.push_str("</Message>");
    }
    out.push_str("</Response>");
    out
}

/// What a delivery error code of Twilio's means, for the common ones
/// (<https://www.twilio.com/docs/api/errors>).
pub fn error_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "30001" => "Queue overflow",
        "30002" => "Account suspended",
        "30003" => "Unreachable destination handset",
        "30004" => "Message blocked",
        "30005" => "Unknown destination handset",
        "30006" => "Landline or unreachable carrier",
        "30007" => "Message filtered by the carrier",
        "30008" => "Unknown error",
        "21610" => "The recipient has replied STOP",
        _ => return None,
    })
}

/// Words Twilio's own opt-out handling answers (and that are no answer).
pub fn is_keyword(body: &str) -> bool {
    const WORDS: [&str; 13] = [
        "STOP",
        "STOPALL",
        "UNSUBSCRIBE",
        "CANCEL",
        "END",
        "QUIT",
        "START",
        "YES",
        "UNSTOP",
        "HELP",
        "INFO",
        "OPTOUT",
        "REVOKE",
    ];
    let word = body.trim().to_ascii_uppercase();
    WORDS.contains(&word.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Twilio's own example (https://www.twilio.com/docs/usage/security).
    #[test]
    fn the_signature_matches_twilios_example() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let p = params(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]);
        assert_eq!(signature("12345", url, &p), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        assert!(verify("12345", url, &p, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
        assert!(!verify("12346", url, &p, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
        assert!(!verify(
            "12345",
            "https://mycompany.com/other",
            &p,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
        let mut changed = p.clone();
        changed[2].1 = "1235".into();
        assert!(!verify(
            "12345",
            url,
            &changed,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
        assert!(!verify("12345", url, &p, "not base64!"));
    }

    #[test]
    fn twiml_escapes_the_reply() {
        assert_eq!(
            twiml(Some("1 <safe> & \"I'm ok\"")),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Message>1 &lt;safe&gt; &amp; "I'm ok"</Message></Response>"#
        );
        assert!(twiml(None).ends_with("<Response></Response>"));
    }

    #[test]
    fn opt_out_words_are_not_answers() {
        assert!(is_keyword(" stop "));
        assert!(is_keyword("HELP"));
        assert!(!is_keyword("1"));
    }
}
