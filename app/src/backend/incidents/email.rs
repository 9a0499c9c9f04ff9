//! Email over SMTP with `lettre`, configured by one URL (`MUSTER_SMTP_URL`:
//! `smtps://` with TLS, `smtp://...?tls=required` with STARTTLS, user and
//! password in it; plain `smtp://` only to this machine),
//! at most so many messages a second.

use crate::backend::sending::SendError;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::num::NonZeroU32;
use std::time::Duration;

/// Connections to the SMTP server at once (and messages being handed over).
const CONNECTIONS: usize = 16;
const TIMEOUT: Duration = Duration::from_secs(30);

/// How messages reach the SMTP server.
enum Route {
    /// Connections of Muster's own, with `TCP_NODELAY`: lettre 0.11.23's
    /// transport leaves Nagle's algorithm on, and writes a message's end
    /// (`.`) apart from its body, so each message waits for the server's
    /// delayed ACK, 40 ms on Linux (lettre/lettre#1159, merged, not yet
    /// released): 22 messages a second a connection instead of hundreds.
    /// lettre's `AsyncSmtpConnection` still speaks the protocol (EHLO,
    /// STARTTLS, AUTH, MAIL, RCPT, DATA).
    Direct {
        host: String,
        port: u16,
        /// STARTTLS: `Some(true)` required, `Some(false)` when offered.
        starttls: Option<bool>,
        credentials: Option<Credentials>,
        hello: ClientId,
        idle: std::sync::Mutex<Vec<AsyncSmtpConnection>>,
        slots: tokio::sync::Semaphore,
    },
    /// lettre's pooled transport, for TLS from the first byte (`smtps://`).
    Transport(AsyncSmtpTransport<Tokio1Executor>),
}

pub struct EmailSender {
    route: Route,
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
        let route = if parsed.scheme() == "smtp" {
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            let starttls = match parsed
                .query_pairs()
                .find(|(k, _)| k == "tls")
                .map(|(_, v)| v.into_owned())
                .as_deref()
            {
                None => None,
                Some("required") => Some(true),
                Some("opportunistic") => Some(false),
                Some(other) => {
                    return Err(format!(
                        "MUSTER_SMTP_URL ({server}): tls={other} is not required or opportunistic"
                    ))
                }
            };
            Route::Direct {
                host: parsed.host_str().unwrap_or_default().to_string(),
                port: parsed.port().unwrap_or(587),
                starttls,
                credentials: (!parsed.username().is_empty()).then(|| {
                    Credentials::new(
                        decode(parsed.username()),
                        decode(parsed.password().unwrap_or_default()),
                    )
                }),
                hello: ClientId::default(),
                idle: std::sync::Mutex::new(Vec::new()),
                slots: tokio::sync::Semaphore::new(CONNECTIONS),
            }
        } else {
            Route::Transport(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| format!("MUSTER_SMTP_URL ({server}): {e}"))?
                    .timeout(Some(TIMEOUT))
                    .build(),
            )
        };
        let from: Mailbox = from
            .parse()
            .map_err(|e| format!("MUSTER_SMTP_FROM is not an address: {e}"))?;
        let limiter =
            NonZeroU32::new(per_second).map(|n| RateLimiter::direct(Quota::per_second(n)));
        Ok(Self {
            route,
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
        match &self.route {
            Route::Transport(transport) => transport
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| classify(&e)),
            Route::Direct { .. } => self.send_direct(&message).await,
        }
    }

    /// Send on an idle connection of our own, or a new one; a connection the
    /// server closed while idle is replaced once.
    async fn send_direct(&self, message: &Message) -> Result<(), SendError> {
        let Route::Direct { idle, slots, .. } = &self.route else {
            unreachable!("only for direct connections")
        };
        let _slot = slots
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let envelope = message.envelope();
        let bytes = message.formatted();
        let reused = idle.lock().expect("not poisoned").pop();
        let fresh = reused.is_none();
        let mut conn = match reused {
            Some(c) => c,
            None => self.connect().await?,
        };
        let mut result = tokio::time::timeout(TIMEOUT, conn.send(envelope, &bytes)).await;
        // An idle connection the server had closed fails without a reply:
        // try once on a new one.
        let closed = matches!(&result, Ok(Err(e)) if e.status().is_none());
        if !fresh && closed {
            conn = self.connect().await?;
            result = tokio::time::timeout(TIMEOUT, conn.send(envelope, &bytes)).await;
        }
        let result = match result {
            Ok(r) => r,
            Err(_) => {
                conn.abort().await;
                return Err(SendError::Temporary(
                    "the mail server did not answer within 30 s".into(),
                ));
            }
        };
        if !conn.has_broken() {
            idle.lock().expect("not poisoned").push(conn);
        }
        result.map(|_| ()).map_err(|e| classify(&e))
    }

    /// A new connection: TCP with `TCP_NODELAY`, the greeting and EHLO,
    /// STARTTLS when asked for, AUTH when the URL names a user.
    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let Route::Direct {
            host,
            port,
            starttls,
            credentials,
            hello,
            ..
        } = &self.route
        else {
            unreachable!("only for direct connections")
        };
        let unreachable =
            |e: String| SendError::Temporary(format!("the mail server could not be reached: {e}"));
        let tcp = tokio::time::timeout(
            TIMEOUT,
            tokio::net::TcpStream::connect((host.as_str(), *port)),
        )
        .await
        .map_err(|_| unreachable("no connection within 30 s".into()))?
        .map_err(|e| unreachable(e.to_string()))?;
        tcp.set_nodelay(true)
            .map_err(|e| unreachable(e.to_string()))?;
        let smtp = |e: lettre::transport::smtp::Error| classify(&e);
        let mut conn = AsyncSmtpConnection::connect_with_transport(Box::new(tcp), hello)
            .await
            .map_err(smtp)?;
        if let Some(required) = starttls {
            if *required || conn.can_starttls() {
                let tls = TlsParameters::new(host.clone()).map_err(smtp)?;
                conn.starttls(tls, hello).await.map_err(smtp)?;
            }
        }
        if let Some(credentials) = credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .map_err(smtp)?;
        }
        Ok(conn)
    }
}

/// Whether trying again may help, and why it failed in words.
fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    if e.is_permanent() {
        SendError::Permanent(describe(e))
    } else {
        SendError::Temporary(describe(e))
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
        // lettre's pooled transport needs a runtime, if only to be dropped.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _inside = runtime.enter();
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
        let err = EmailSender::new("smtp://mail.example.org?tls=maybe", from, 0).unwrap_err();
        assert!(err.contains("tls=maybe"), "{err}");
    }
}
