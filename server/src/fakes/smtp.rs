//! A local SMTP sink for tests and trying Muster out: it speaks enough of
//! RFC 5321 (EHLO/HELO, MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP,
//! QUIT) for `lettre`, keeps every message it accepts, and can be told to
//! answer a recipient with an error (temporary 4xx or permanent 5xx) a
//! number of times. Its messages can be read over HTTP too, as JSON.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A message as accepted.
#[derive(Debug, Clone, Serialize)]
pub struct SinkMessage {
    pub from: String,
    pub to: Vec<String>,
    /// Headers and body, as sent (CRLF line ends, dots unstuffed).
    pub data: String,
}

impl SinkMessage {
    /// The value of header `name` (first line only).
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    /// The body with quoted-printable soft line breaks joined and `=XX`
    /// escapes decoded, as a reader would see it.
    pub fn body(&self) -> String {
        let body = self.data.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let qp = self
            .header("Content-Transfer-Encoding")
            .is_some_and(|e| e.eq_ignore_ascii_case("quoted-printable"));
        if !qp {
            return body.replace("\r\n", "\n");
        }
        let joined = body.replace("=\r\n", "");
        let bytes = joined.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'=' && i + 2 < bytes.len() {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    out.push(b);
                    i += 3;
                    continue;
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).replace("\r\n", "\n")
    }

    /// The first response link in the body.
    pub fn link(&self) -> Option<String> {
        let body = self.body();
        let start = body.find("http")?;
        let rest = &body[start..];
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        Some(rest[..end].to_string())
    }
}

#[derive(Default)]
pub struct Sink {
    pub messages: Mutex<Vec<SinkMessage>>,
    /// Recipient address → (reply code, how many more times).
    refusals: Mutex<HashMap<String, (u16, usize)>>,
}

impl Sink {
    /// Answer RCPT for `address` with `code` the next `times` times.
    pub fn refuse(&self, address: &str, code: u16, times: usize) {
        self.refusals
            .lock()
            .unwrap()
            .insert(address.to_lowercase(), (code, times));
    }

    pub fn messages(&self) -> Vec<SinkMessage> {
        self.messages.lock().unwrap().clone()
    }

    /// The messages sent to `address`.
    pub fn to(&self, address: &str) -> Vec<SinkMessage> {
        self.messages()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(address)))
            .collect()
    }

    fn refusal(&self, address: &str) -> Option<u16> {
        let mut r = self.refusals.lock().unwrap();
        let slot = r.get_mut(&address.to_lowercase())?;
        if slot.1 == 0 {
            return None;
        }
        slot.1 -= 1;
        Some(slot.0)
    }
}

/// A running sink: its SMTP address, and its messages.
pub struct RunningSink {
    pub addr: SocketAddr,
    pub sink: Arc<Sink>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningSink {
    /// The URL Muster sends to (`MUSTER_SMTP_URL`): plain SMTP on this machine.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }
}

impl Drop for RunningSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Start a sink on 127.0.0.1 (`port` 0: any free port).
pub async fn start(port: u16) -> std::io::Result<RunningSink> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let sink = Arc::new(Sink::default());
    let shared = sink.clone();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let sink = shared.clone();
            tokio::spawn(async move {
                let _ = session(stream, &sink).await;
            });
        }
    });
    Ok(RunningSink { addr, sink, task })
}

/// The sink's messages over HTTP: `GET /messages` as JSON.
pub fn router(sink: Arc<Sink>) -> Router {
    Router::new()
        .route(
            "/messages",
            get(|State(sink): State<Arc<Sink>>| async move {
                Json(
                    sink.messages()
                        .into_iter()
                        .map(|m| {
                            serde_json::json!({
                                "from": m.from, "to": m.to,
                                "subject": m.header("Subject"),
                                "body": m.body(), "link": m.link(),
                            })
                        })
                        .collect::<Vec<_>>(),
                )
            }),
        )
        .with_state(sink)
}

async fn session(stream: tokio::net::TcpStream, sink: &Sink) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 muster-sink ESMTP\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::<String>::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_string();
        let upper = command.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") {
            "250-muster-sink\r\n250-8BITMIME\r\n250 SMTPUTF8".into()
        } else if upper.starts_with("HELO") {
            "250 muster-sink".into()
        } else if upper.starts_with("MAIL FROM:") {
            from = address(&command[10..]);
            to.clear();
            "250 OK".into()
        } else if upper.starts_with("RCPT TO:") {
            let rcpt = address(&command[8..]);
            match sink.refusal(&rcpt) {
                Some(code) if code < 500 => format!("{code} 4.2.0 Try again later"),
                Some(code) => format!("{code} 5.1.1 No such user"),
                None => {
                    to.push(rcpt);
                    "250 OK".into()
                }
            }
        } else if upper == "DATA" {
            if to.is_empty() {
                "554 No valid recipients".into()
            } else {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    let l = line.strip_prefix('.').unwrap_or(&line);
                    data.push_str(l);
                }
                let n = {
                    let mut m = sink.messages.lock().unwrap();
                    m.push(SinkMessage {
                        from: from.clone(),
                        to: std::mem::take(&mut to),
                        data,
                    });
                    m.len()
                };
                format!("250 OK queued as {n}")
            }
        } else if upper == "RSET" {
            to.clear();
            "250 OK".into()
        } else if upper == "NOOP" {
            "250 OK".into()
        } else if upper == "QUIT" {
            write.write_all(b"221 Bye\r\n").await?;
            return Ok(());
        } else {
            "502 Command not implemented".into()
        };
        write.write_all(format!("{reply}\r\n").as_bytes()).await?;
    }
}

/// `<a@b>` (with any parameters after it) as `a@b`.
fn address(arg: &str) -> String {
    let arg = arg.trim();
    let inner = arg
        .strip_prefix('<')
        .and_then(|a| a.split('>').next())
        .unwrap_or(arg.split_whitespace().next().unwrap_or(""));
    inner.to_string()
}
