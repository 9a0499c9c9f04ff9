//! The outbox's sender: each server claims due deliveries in batches (a
//! lease, so that no other server takes them meanwhile), sends them, and
//! records each outcome: sent, failed for good, or queued again with a
//! backoff. A delivery whose server stopped while holding it is due again
//! when its lease ends; a server stopped gracefully finishes the messages it
//! has handed over and puts the rest of its batch back in the queue, untried.
//! (A crash between the mail server's acceptance and the record of it sends
//! that message again: its Message-ID is the same, so mail systems can tell.)

use super::email::EmailSender;
use super::{links, EMAIL, SMS};
use crate::backend::connectors::http::{Client, HttpConfig};
use crate::backend::db::entities::{
    delivery, incident, incident_message, incident_recipient, organisation,
};
use crate::backend::db::{begin_write, now_ms};
use crate::backend::domain::OrgId;
use crate::backend::sending::SendError;
use crate::backend::sms::{self, twilio, SmsAccount};
use crate::backend::vault::Vault;
use crate::model::AppError;
use crate::model::{fill, DeliveryStatus};
use futures_util::StreamExt;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SENDING: &str = "sending";
/// Seconds of one organisation's SMS rate that one batch sends at most: well
/// inside the lease, so that no other server takes what waits for its turn.
const SMS_SECONDS_A_BATCH: u32 = 60;
const NO_EMAIL: &str = "Email is not configured on this server: set MUSTER_SMTP_URL.";

/// How the sender works.
#[derive(Debug, Clone)]
pub struct OutboxSettings {
    /// Deliveries claimed at once.
    pub batch: usize,
    /// Messages being handed over at once.
    pub concurrency: usize,
    /// How long a claim holds: longer than any one send can take.
    pub lease: Duration,
    /// The waits before each new try of a temporary failure; as many tries
    /// again as values, then it has failed.
    pub retries: Vec<Duration>,
    /// How often to look for due deliveries when not woken.
    pub tick: Duration,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self {
            batch: 500,
            concurrency: 16,
            lease: Duration::from_secs(300),
            retries: [30, 120, 600, 1800].map(Duration::from_secs).to_vec(),
            tick: Duration::from_secs(1),
        }
    }
}

pub struct Outbox {
    email: Option<EmailSender>,
    /// Where response links point (`MUSTER_PUBLIC_URL`).
    public_url: String,
    settings: OutboxSettings,
    /// How SMS providers are reached (one try a request: the outbox retries).
    sms: Client,
    /// Each organisation's SMS rate, as its settings last said.
    sms_rates: Mutex<HashMap<i64, (u32, Arc<DefaultDirectRateLimiter>)>>,
    wake: tokio::sync::Notify,
    stop: tokio_util::sync::CancellationToken,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("email", &self.email)
            .field("public_url", &self.public_url)
            .finish()
    }
}

impl Default for Outbox {
    fn default() -> Self {
        Self::new(None, "http://127.0.0.1:3000", OutboxSettings::default())
    }
}

impl Outbox {
    pub fn new(email: Option<EmailSender>, public_url: &str, settings: OutboxSettings) -> Self {
        Self {
            email,
            public_url: public_url.trim_end_matches('/').to_string(),
            settings,
            sms: sms::sms_client(&HttpConfig::new(false, Duration::from_secs(30))),
            sms_rates: Mutex::default(),
            wake: tokio::sync::Notify::new(),
            stop: tokio_util::sync::CancellationToken::new(),
        }
    }

    /// SMS providers are reached as `http` says (which addresses it may
    /// reach, through which proxy).
    pub fn with_http(mut self, http: &HttpConfig) -> Self {
        self.sms = sms::sms_client(http);
        self
    }

    /// Where response links and webhooks point (`MUSTER_PUBLIC_URL`).
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// Why `org`'s messages cannot go out on `channel`, if they cannot.
    pub async fn unavailable(
        &self,
        db: &impl ConnectionTrait,
        org: OrgId,
        channel: &str,
    ) -> Result<Option<String>, AppError> {
        Ok(match channel {
            EMAIL if self.email.is_none() => Some(NO_EMAIL.into()),
            SMS => sms::unavailable(db, org).await?,
            _ => None,
        })
    }

    /// Organisation `org`'s SMS rate limiter, at `per_second`.
    fn sms_rate(&self, org: i64, per_second: u32) -> Arc<DefaultDirectRateLimiter> {
        let mut rates = self.sms_rates.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = || {
            let n = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
            Arc::new(RateLimiter::direct(Quota::per_second(n)))
        };
        let entry = rates.entry(org).or_insert_with(|| (per_second, fresh()));
        if entry.0 != per_second {
            *entry = (per_second, fresh());
        }
        entry.1.clone()
    }

    /// Look for due deliveries now (after a launch).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stop sending: the messages being handed over are finished, the rest of
    /// the batch goes back to the queue (the task [`Outbox::spawn`] returned
    /// then ends).
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Send until [`Outbox::stop`].
    pub fn spawn(
        self: Arc<Self>,
        db: DatabaseConnection,
        vault: Arc<Vault>,
    ) -> tokio::task::JoinHandle<()> {
        let stop = self.stop.clone();
        tokio::spawn(async move {
            loop {
                let busy = match self.run_once(&db, &vault).await {
                    Ok(n) => n > 0,
                    Err(e) => {
                        tracing::warn!("the outbox could not be read: {e}");
                        false
                    }
                };
                if stop.is_cancelled() {
                    return;
                }
                if !busy {
                    tokio::select! {
                        _ = self.wake.notified() => {}
                        _ = tokio::time::sleep(self.settings.tick) => {}
                        _ = stop.cancelled() => return,
                    }
                }
            }
        })
    }

    /// Claim, send and record one batch; how many deliveries it held.
    pub async fn run_once(&self, db: &DatabaseConnection, vault: &Vault) -> Result<usize, DbErr> {
        let claimed = self.claim(db).await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let n = claimed.len();
        let (jobs, mut later) = self.prepare(db, vault, claimed).await?;
        let tried: Vec<(i64, i64, Option<Sent>)> = futures_util::stream::iter(jobs)
            .map(|job| async move {
                // Stopping: what is not handed over yet goes back to the queue.
                let outcome = if self.stop.is_cancelled() {
                    None
                } else {
                    self.send(&job).await
                };
                (job.delivery, job.attempts, outcome)
            })
            .buffer_unordered(self.settings.concurrency.max(1))
            .collect()
            .await;
        let mut outcomes = Vec::with_capacity(tried.len());
        for (delivery, attempts, outcome) in tried {
            match outcome {
                Some(sent) => outcomes.push((delivery, attempts, sent)),
                None => later.push(delivery),
            }
        }
        self.record(db, outcomes, later).await?;
        Ok(n)
    }

    /// Take the due deliveries (queued and due, or held by a claim that has
    /// run out), oldest first, for this server.
    async fn claim(&self, db: &DatabaseConnection) -> Result<Vec<delivery::Model>, DbErr> {
        use delivery::Column as D;
        let now = now_ms();
        let tx = begin_write(db).await?;
        let postgres = db.get_database_backend() == DbBackend::Postgres;
        let mut due = delivery::Entity::find()
            .filter(D::Status.eq(DeliveryStatus::Queued.as_str()))
            .filter(D::NextAt.lte(now))
            .order_by_asc(D::NextAt)
            .order_by_asc(D::Id)
            .limit(self.settings.batch as u64);
        let mut stale = delivery::Entity::find()
            .filter(D::Status.eq(SENDING))
            .filter(D::LeaseUntil.lt(now))
            .limit(self.settings.batch as u64);
        if postgres {
            // Servers sharing the database skip each other's claims.
            due = due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
            stale = stale.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let mut rows = stale.all(&tx).await?;
        rows.extend(due.all(&tx).await?);
        rows.truncate(self.settings.batch);
        if rows.is_empty() {
            return Ok(rows);
        }
        let lease = now + self.settings.lease.as_millis() as i64;
        for chunk in rows.chunks(500) {
            delivery::Entity::update_many()
                .col_expr(D::Status, Expr::val(SENDING))
                .col_expr(D::LeaseUntil, Expr::val(lease))
                .col_expr(D::Attempts, Expr::col(D::Attempts).add(1))
                .col_expr(D::UpdatedAt, Expr::val(now))
                .filter(D::Id.is_in(chunk.iter().map(|d| d.id)))
                .exec(&tx)
                .await?;
        }
        tx.commit().await?;
        for r in &mut rows {
            r.attempts += 1;
        }
        Ok(rows)
    }

    /// Each claimed delivery with what to send and where.
    async fn prepare(
        &self,
        db: &impl ConnectionTrait,
        vault: &Vault,
        claimed: Vec<delivery::Model>,
    ) -> Result<(Vec<Job>, Vec<i64>), DbErr> {
        let mut recipients: HashMap<i64, incident_recipient::Model> = HashMap::new();
        for chunk in claimed.chunks(500) {
            recipients.extend(
                incident_recipient::Entity::find()
                    .filter(
                        incident_recipient::Column::Id.is_in(chunk.iter().map(|d| d.recipient_id)),
                    )
                    .all(db)
                    .await?
                    .into_iter()
                    .map(|r| (r.id, r)),
            );
        }
        let ids = |f: fn(&delivery::Model) -> i64| {
            let mut v: Vec<i64> = claimed.iter().map(f).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let messages: HashMap<i64, incident_message::Model> = incident_message::Entity::find()
            .filter(incident_message::Column::Id.is_in(ids(|d| d.message_id)))
            .all(db)
            .await?
            .into_iter()
            .map(|m| (m.id, m))
            .collect();
        // Each incident with its answer options, read once for the batch.
        let incidents: HashMap<i64, (incident::Model, Vec<String>)> = incident::Entity::find()
            .filter(incident::Column::Id.is_in(ids(|d| d.incident_id)))
            .all(db)
            .await?
            .into_iter()
            .map(|i| {
                let options = serde_json::from_str(&i.options).unwrap_or_default();
                (i.id, (i, options))
            })
            .collect();
        let orgs: HashMap<i64, String> = organisation::Entity::find()
            .filter(organisation::Column::Id.is_in(ids(|d| d.org_id)))
            .all(db)
            .await?
            .into_iter()
            .map(|o| (o.id, o.name))
            .collect();
        // Each organisation's SMS account, opened once for the batch, and
        // how many of its texts this batch may send (the rest wait).
        let mut sms_orgs = ids(|d| if d.channel == SMS { d.org_id } else { 0 });
        sms_orgs.retain(|o| *o != 0);
        let accounts: HashMap<i64, Arc<Result<SmsAccount, String>>> = if sms_orgs.is_empty() {
            HashMap::new()
        } else {
            sms::accounts(db, vault, sms_orgs)
                .await?
                .into_iter()
                .map(|(org, a)| (org, Arc::new(a)))
                .collect()
        };
        let mut room: HashMap<i64, u32> = accounts
            .iter()
            .map(|(org, a)| {
                let rate = a.as_ref().as_ref().map_or(u32::MAX, |a| a.per_second);
                (*org, rate.saturating_mul(SMS_SECONDS_A_BATCH))
            })
            .collect();
        let mut later = Vec::new();
        let mut jobs = Vec::with_capacity(claimed.len());
        for d in claimed {
            let sms = match d.channel.as_str() {
                SMS => match room.get_mut(&d.org_id) {
                    Some(0) => {
                        later.push(d.id);
                        continue;
                    }
                    Some(left) => {
                        *left -= 1;
                        accounts.get(&d.org_id).cloned()
                    }
                    None => None,
                },
                _ => None,
            };
            let parts = (
                recipients.get(&d.recipient_id),
                messages.get(&d.message_id),
                incidents.get(&d.incident_id),
            );
            let content = match parts {
                (Some(r), Some(m), Some((i, options))) => Some(compose(
                    &self.public_url,
                    vault,
                    &d.channel,
                    r,
                    m,
                    (i, options),
                    orgs.get(&d.org_id).map_or("", String::as_str),
                )),
                _ => None,
            };
            jobs.push(Job {
                delivery: d.id,
                org: d.org_id,
                attempts: d.attempts,
                channel: d.channel,
                content,
                sms,
            });
        }
        Ok((jobs, later))
    }

    /// Send one message; `None` if the server began stopping before it was
    /// handed over (it goes back to the queue, untried).
    async fn send(&self, job: &Job) -> Option<Sent> {
        let Some(content) = &job.content else {
            return Some(Err(SendError::Permanent(
                "its incident or recipient no longer exists".into(),
            )));
        };
        Some(match job.channel.as_str() {
            EMAIL => match &self.email {
                Some(sender) => sender
                    .send(
                        job.delivery,
                        &content.to,
                        &content.subject,
                        content.body.clone(),
                    )
                    .await
                    .map(|()| None),
                None => Err(SendError::Permanent(NO_EMAIL.into())),
            },
            SMS => {
                let account = match job.sms.as_deref() {
                    Some(Ok(account)) => account,
                    Some(Err(why)) => return Some(Err(SendError::Permanent(why.clone()))),
                    None => return Some(Err(SendError::Permanent(sms::NOT_SET_UP.into()))),
                };
                // A text waiting for its turn is not held past a stop.
                let rate = self.sms_rate(job.org, account.per_second);
                tokio::select! {
                    () = rate.until_ready() => {}
                    () = self.stop.cancelled() => return None,
                }
                let callback =
                    sms::status_url(&self.public_url, &account.webhook_key, job.delivery);
                twilio::send(
                    &self.sms,
                    &account.account,
                    &content.to,
                    &content.body,
                    Some(&callback),
                )
                .await
                .map(Some)
            }
            other => Err(SendError::Permanent(format!("unknown channel {other}"))),
        })
    }

    /// Write each outcome: sent ones in one statement (those with the
    /// provider's id each with it), the others each with its reason (and
    /// next try); `later`, not tried, wait for the next batch. A delivery
    /// no longer "sending" (a provider's report came first) is left as is.
    async fn record(
        &self,
        db: &DatabaseConnection,
        outcomes: Vec<(i64, i64, Sent)>,
        later: Vec<i64>,
    ) -> Result<(), DbErr> {
        use delivery::Column as D;
        let now = now_ms();
        let tx = db.begin().await?;
        for chunk in later.chunks(500) {
            delivery::Entity::update_many()
                .col_expr(D::Status, Expr::val(DeliveryStatus::Queued.as_str()))
                .col_expr(D::LeaseUntil, Expr::val(None::<i64>))
                .col_expr(D::Attempts, Expr::col(D::Attempts).sub(1))
                .col_expr(D::UpdatedAt, Expr::val(now))
                .filter(D::Id.is_in(chunk.iter().copied()))
                .filter(D::Status.eq(SENDING))
                .exec(&tx)
                .await?;
        }
        for (id, _, outcome) in &outcomes {
            if let Ok(Some(reference)) = outcome {
                delivery::Entity::update_many()
                    .col_expr(D::Status, Expr::val(DeliveryStatus::Sent.as_str()))
                    .col_expr(D::LeaseUntil, Expr::val(None::<i64>))
                    .col_expr(D::Error, Expr::val(None::<String>))
                    .col_expr(D::ProviderRef, Expr::val(reference.as_str()))
                    .col_expr(D::UpdatedAt, Expr::val(now))
                    .filter(D::Id.eq(*id))
                    .filter(D::Status.eq(SENDING))
                    .exec(&tx)
                    .await?;
            }
        }
        let sent: Vec<i64> = outcomes
            .iter()
            .filter(|(_, _, o)| matches!(o, Ok(None)))
            .map(|(id, ..)| *id)
            .collect();
        for chunk in sent.chunks(500) {
            delivery::Entity::update_many()
                .col_expr(D::Status, Expr::val(DeliveryStatus::Sent.as_str()))
                .col_expr(D::LeaseUntil, Expr::val(None::<i64>))
                .col_expr(D::Error, Expr::val(None::<String>))
                .col_expr(D::UpdatedAt, Expr::val(now))
                .filter(D::Id.is_in(chunk.iter().copied()))
                .filter(D::Status.eq(SENDING))
                .exec(&tx)
                .await?;
        }
        for (id, attempts, outcome) in outcomes {
            let (status, error, next_at) = match outcome {
                Ok(_) => continue,
                Err(SendError::Permanent(e)) => (DeliveryStatus::Failed, e, now),
                Err(SendError::Temporary(e)) => {
                    match self
                        .settings
                        .retries
                        .get(usize::try_from(attempts - 1).unwrap_or(0))
                    {
                        Some(wait) => (DeliveryStatus::Queued, e, now + wait.as_millis() as i64),
                        None => (
                            DeliveryStatus::Failed,
                            format!("{e} (after {attempts} tries)"),
                            now,
                        ),
                    }
                }
            };
            delivery::Entity::update_many()
                .col_expr(D::Status, Expr::val(status.as_str()))
                .col_expr(D::LeaseUntil, Expr::val(None::<i64>))
                .col_expr(D::Error, Expr::val(error))
                .col_expr(D::NextAt, Expr::val(next_at))
                .col_expr(D::UpdatedAt, Expr::val(now))
                .filter(D::Id.eq(id))
                .filter(D::Status.eq(SENDING))
                .exec(&tx)
                .await?;
        }
        tx.commit().await
    }
}

/// What became of one message: handed over (with the provider's id for
/// it, if it gives one), or why not.
type Sent = Result<Option<String>, SendError>;

/// One claimed delivery, ready to send.
struct Job {
    delivery: i64,
    org: i64,
    attempts: i64,
    channel: String,
    /// `None` when its incident or recipient is gone.
    content: Option<Content>,
    /// Its organisation's SMS account (SMS only; `None` when it has none).
    sms: Option<Arc<Result<SmsAccount, String>>>,
}

struct Content {
    to: String,
    subject: String,
    body: String,
}

/// The message for one recipient: placeholders filled, and (when the
/// incident asks something) the answers and their personal link.
fn compose(
    public_url: &str,
    vault: &Vault,
    channel: &str,
    r: &incident_recipient::Model,
    m: &incident_message::Model,
    (i, options): (&incident::Model, &[String]),
    org_name: &str,
) -> Content {
    let subject = fill(&m.subject, &r.first_name, &r.last_name);
    let mut body = fill(&m.body, &r.first_name, &r.last_name);
    if channel == SMS {
        if !options.is_empty() {
            let link = links::url(public_url, &links::token(vault, &i.nonce, r.id));
            body.push_str("\n\nReply with a number:");
            for (n, o) in options.iter().enumerate() {
                body.push_str(&format!("\n{} {o}", n + 1));
            }
            body.push_str(&format!("\nor answer at {link}"));
        }
        let to = r.phone.clone().unwrap_or_default();
        return Content { to, subject, body };
    }
    if !options.is_empty() {
        let link = links::url(public_url, &links::token(vault, &i.nonce, r.id));
        body.push_str("\n\nPlease answer:\n");
        for (n, o) in options.iter().enumerate() {
            body.push_str(&format!("  {}. {o}\n", n + 1));
        }
        body.push_str(&format!("\nAnswer here: {link}\n"));
    }
    if channel == EMAIL {
        body.push_str(&format!("\n--\nSent by {org_name} with Muster.\n"));
    }
    let to = match channel {
        EMAIL => r.email.clone(),
        _ => r.phone.clone(),
    }
    .unwrap_or_default();
    Content { to, subject, body }
}
