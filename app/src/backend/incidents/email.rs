//! Email over SMTP with `lettre`, configured by one URL (`MUSTER_SMTP_URL`:
//! `smtps://` with TLS, `smtp://...?tls=required` with STARTTLS, user and
//! password in it; plain `smtp://` only to this machine),
//! at most so many messages a second.

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use lettre::message::{header::ContentType, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::num::NonZeroU32;

/// Why a message could not be handed over, and whether trying again may help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The server said to try later, or could not be reached.
    Temporary(String),
    /// The server refused it for good (a bad address, say).
    Permanent(String),
}

pub struct EmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    limiter: Option<DefaultDirectRateLimiter>,
    /// The server, for messages (never its password).
    server: String,
}

impl std::fmt::Debug for EmailSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EmailSender({})", self.server)
    }
}

impl EmailSender {
    /// A sender through the SMTP server of `url`, from `from`, sending at
    /// most `per_second` messages a second (0: no bound).
    pub fn new(url: &str, from: &str, per_second: u32) -> Result<Self, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("MUSTER_SMTP_URL: {e}"))?;
        let server = format!(
            "{}://{}:{}",
            parsed.scheme(),
            parsed.host_str().unwrap_or(""),
            parsed.port_or_known_default().unwrap_or(0)
        );
        let tls = parsed.query_pairs().any(|(k, _)| k == "tls");
        let local = match parsed.host() {
            // Not a special scheme: the url crate leaves addresses as names.
            Some(url::Host::Domain(d)) => {
                d == "localhost"
                    || d.trim_matches(['[', ']'])
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        if parsed.scheme() == "smtp" && !tls && !local {
            return Err(format!(
                "MUSTER_SMTP_URL ({server}) would send mail and any password unencrypted: \
                 use smtps:// or add ?tls=required"
            ));
        }
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("MUSTER_SMTP_URL ({server}): {e}"))?
            .timeout(Some(std::time::Duration::from_secs(30)))
            .build();
        let from: Mailbox = from
            .parse()
            .map_err(|e| format!("MUSTER_SMTP_FROM is not an address: {e}"))?;
        let limiter =
            NonZeroU32::new(per_second).map(|n| RateLimiter::direct(Quota::per_second(n)));
        Ok(Self {
            transport,
            from,
            limiter,
            server,
        })
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    /// Hand one message to the SMTP server. `id` makes its Message-ID, so
    /// that a message sent again after a crash can be recognised as the same.
    pub async fn send(
        &self,
        id: i64,
        to: &str,
        subject: &str,
        body: String,
    ) -> Result<(), SendError> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| SendError::Permanent(format!("not an email address: {e}")))?;
        let domain = self.from.email.domain().to_string();
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(format!("<muster-delivery-{id}@{domain}>")))
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| SendError::Permanent(format!("the message could not be built: {e}")))?;
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(describe(&e))),
            Err(e) => Err(SendError::Temporary(describe(&e))),
        }
    }
}

/// An SMTP error in words, with the server's own reply where it gave one.
fn describe(e: &lettre::transport::smtp::Error) -> String {
    match e.status() {
        Some(code) => format!("the mail server answered {code}: {e}"),
        None => format!("the mail server could not be reached: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unencrypted_smtp_is_only_for_this_machine() {
        let from = "Muster <alerts@example.org>";
        assert!(EmailSender::new("smtp://127.0.0.1:2525", from, 0).is_ok());
        assert!(EmailSender::new("smtp://localhost:2525", from, 0).is_ok());
        let err = EmailSender::new("smtp://u:secret@mail.example.org:587", from, 0).unwrap_err();
        assert!(
            err.contains("unencrypted") && !err.contains("secret"),
            "{err}"
        );
        assert!(EmailSender::new("smtp://mail.example.org:587?tls=required", from, 0).is_ok());
        assert!(EmailSender::new("smtps://mail.example.org", from, 0).is_ok());
        assert!(EmailSender::new("smtps://mail.example.org", "not an address", 0).is_err());
    }
}
