//! SMS: each organisation's provider account (Twilio), sealed by the vault,
//! and how a message goes out through it. The outbox sends incidents' texts
//! with it; the webhooks by which the provider reports deliveries and passes
//! on replies are incidents' (`incidents::sms_webhooks`).

pub mod twilio;

use crate::backend::audit;
use crate::backend::connectors::http::HttpConfig;
use crate::backend::connectors::url_guard;
use crate::backend::db::entities::sms_setting;
use crate::backend::db::{begin_write, from_ms, now_ms};
use crate::backend::domain::OrgId;
use crate::backend::sending::SendError;
use crate::backend::vault::Vault;
use crate::model::{AppError, SmsSettings, SmsSettingsForm};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, IntoActiveModel, QueryFilter,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

const TWILIO: &str = "twilio";
/// Why an organisation without an SMS provider cannot send texts.
pub const NOT_SET_UP: &str = "SMS is not set up: an administrator can connect Twilio in Settings.";
/// Audit trail kind of settings changes.
const KIND: &str = "settings";

/// What is sealed: everything that decides where the auth token goes, with it.
#[derive(Serialize, Deserialize)]
struct Sealed {
    account_sid: String,
    auth_token: String,
    base_url: String,
}

/// An organisation's provider account, opened, ready to send.
#[derive(Debug, Clone)]
pub struct SmsAccount {
    pub account: twilio::Account,
    pub per_second: u32,
    /// Names the organisation in its webhooks' URLs.
    pub webhook_key: String,
}

fn find(org: OrgId) -> sea_orm::Select<sms_setting::Entity> {
    sms_setting::Entity::find().filter(sms_setting::Column::OrgId.eq(org.get()))
}

/// The URL Twilio posts replies to.
pub fn inbound_url(public_url: &str, key: &str) -> String {
    format!(
        "{}/sms/twilio/{key}/inbound",
        public_url.trim_end_matches('/')
    )
}

/// The URL Twilio reports delivery `delivery`'s fate to.
pub fn status_url(public_url: &str, key: &str, delivery: i64) -> String {
    format!(
        "{}/sms/twilio/{key}/status/{delivery}",
        public_url.trim_end_matches('/')
    )
}

fn to_view(row: sms_setting::Model, public_url: &str) -> SmsSettings {
    SmsSettings {
        inbound_url: inbound_url(public_url, &row.webhook_key),
        account_sid: row.account_sid,
        sender: row.sender,
        base_url: row.base_url,
        token_hint: row.token_hint,
        per_second: u32::try_from(row.per_second).unwrap_or(1),
        updated_at: from_ms(row.updated_at),
        updated_by: row.updated_by,
    }
}

/// The organisation's SMS provider, if it has one.
pub async fn settings(
    db: &impl ConnectionTrait,
    org: OrgId,
    public_url: &str,
) -> Result<Option<SmsSettings>, AppError> {
    Ok(find(org).one(db).await?.map(|r| to_view(r, public_url)))
}

/// Save the SMS provider from `form`. The auth token left empty keeps the
/// stored one, unless the account or the base URL changed: then it must be
/// typed again, so that a stored token never follows a changed address.
pub async fn save(
    db: &DatabaseConnection,
    vault: &Vault,
    http: &HttpConfig,
    org: OrgId,
    actor: &str,
    form: &SmsSettingsForm,
    public_url: &str,
) -> Result<SmsSettings, AppError> {
    let c = form.checked().map_err(AppError::Invalid)?;
    url_guard::check_user_url(&c.base_url, http.allow_insecure, "base_url")?;
    let tx = begin_write(db).await?;
    let stored = find(org).one(&tx).await?;
    let had_token = stored.is_some();
    let auth_token = match (&stored, c.auth_token.is_empty()) {
        (_, false) => c.auth_token.clone(),
        (None, true) => return Err(AppError::field("auth_token", "Enter the auth token.")),
        (Some(row), true) => {
            let old = open(vault, org, &row.secrets)?;
            if old.account_sid != c.account_sid || old.base_url != c.base_url {
                return Err(AppError::field(
                    "auth_token",
                    "The Account SID or the base URL changed: type the auth token again (a stored token is only sent where it was given for).",
                ));
            }
            old.auth_token
        }
    };
    let sealed = vault.seal_sms(
        org,
        serde_json::to_string(&Sealed {
            account_sid: c.account_sid.clone(),
            auth_token: auth_token.clone(),
            base_url: c.base_url.clone(),
        })
        .map_err(AppError::internal)?
        .as_bytes(),
    );
    let hint: String = {
        let chars: Vec<char> = auth_token.chars().collect();
        chars[chars.len().saturating_sub(4)..].iter().collect()
    };
    let now = now_ms();
    let mut row = match stored {
        Some(row) => row.into_active_model(),
        None => sms_setting::ActiveModel {
            org_id: Set(org.get()),
            provider: Set(TWILIO.into()),
            webhook_key: Set(webhook_key()),
            ..Default::default()
        },
    };
    row.account_sid = Set(c.account_sid.clone());
    row.sender = Set(c.sender.clone());
    row.base_url = Set(c.base_url.clone());
    row.secrets = Set(sealed);
    row.token_hint = Set(hint);
    row.per_second = Set(i64::from(c.per_second));
    row.updated_at = Set(now);
    row.updated_by = Set(actor.to_string());
    let token_change = match (c.auth_token.is_empty(), had_token) {
        (true, _) => "",
        (false, false) => ", auth token set",
        (false, true) => ", auth token replaced",
    };
    let summary = format!(
        "Twilio account {}, sending as {}{token_change}",
        c.account_sid, c.sender
    );
    let row = row.save(&tx).await?;
    audit::record(
        &tx,
        org,
        actor,
        "changed SMS settings",
        KIND,
        None,
        &summary,
    )
    .await?;
    tx.commit().await?;
    let id = row.id.unwrap();
    let saved = sms_setting::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(to_view(saved, public_url))
}

/// Forget the organisation's SMS provider (its auth token with it).
pub async fn remove(db: &DatabaseConnection, org: OrgId, actor: &str) -> Result<(), AppError> {
    let tx = begin_write(db).await?;
    let gone = sms_setting::Entity::delete_many()
        .filter(sms_setting::Column::OrgId.eq(org.get()))
        .exec(&tx)
        .await?;
    if gone.rows_affected == 0 {
        return Err(AppError::NotFound);
    }
    audit::record(
        &tx,
        org,
        actor,
        "removed SMS settings",
        KIND,
        None,
        "Twilio",
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

fn open(vault: &Vault, org: OrgId, sealed: &str) -> Result<Sealed, AppError> {
    let plain = vault
        .open_sms(org, sealed)
        .map_err(|e| AppError::internal(format!("SMS settings: {e}")))?;
    serde_json::from_slice(&plain).map_err(AppError::internal)
}

fn to_account(vault: &Vault, row: sms_setting::Model) -> Result<SmsAccount, AppError> {
    let s = open(vault, OrgId::verified(row.org_id), &row.secrets)?;
    Ok(SmsAccount {
        account: twilio::Account {
            account_sid: s.account_sid,
            auth_token: SecretString::from(s.auth_token),
            base_url: s.base_url,
            sender: row.sender,
        },
        per_second: u32::try_from(row.per_second).unwrap_or(1).max(1),
        webhook_key: row.webhook_key,
    })
}

/// The provider accounts of `orgs`, opened: for the outbox's batch. An
/// organisation without one is absent; one whose account does not open
/// says why.
pub async fn accounts(
    db: &impl ConnectionTrait,
    vault: &Vault,
    orgs: impl IntoIterator<Item = i64>,
) -> Result<HashMap<i64, Result<SmsAccount, String>>, sea_orm::DbErr> {
    let rows = sms_setting::Entity::find()
        .filter(sms_setting::Column::OrgId.is_in(orgs))
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let org = row.org_id;
            let account = to_account(vault, row).map_err(|e| {
                tracing::error!(org, "SMS settings do not open: {e}");
                "The SMS settings could not be opened with this server's master key.".to_string()
            });
            (org, account)
        })
        .collect())
}

/// The provider account named by webhook key `key`, with its organisation.
pub async fn by_webhook(
    db: &impl ConnectionTrait,
    vault: &Vault,
    key: &str,
) -> Result<Option<(OrgId, SmsAccount)>, AppError> {
    let Some(row) = sms_setting::Entity::find()
        .filter(sms_setting::Column::WebhookKey.eq(key))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let org = OrgId::verified(row.org_id);
    Ok(Some((org, to_account(vault, row)?)))
}

/// Whether `org` can send SMS: why not, if it cannot.
pub async fn unavailable(
    db: &impl ConnectionTrait,
    org: OrgId,
) -> Result<Option<String>, AppError> {
    Ok(match find(org).one(db).await? {
        Some(_) => None,
        None => Some(NOT_SET_UP.into()),
    })
}

/// Send one test message to `to` with the stored settings: Twilio's id of it.
pub async fn send_test(
    db: &impl ConnectionTrait,
    vault: &Vault,
    http: &HttpConfig,
    org: OrgId,
    to: &str,
) -> Result<String, AppError> {
    let stored = crate::backend::auth::org(db, org).await?;
    let to = crate::backend::domain::PhoneE164::parse(to, &stored.default_region)
        .map_err(|e| AppError::field("to", e.to_string()))?;
    let row = find(org).one(db).await?.ok_or(AppError::NotFound)?;
    let account = to_account(vault, row)?;
    let body = format!(
        "This is a test message from Muster for {}. SMS works.",
        stored.name
    );
    twilio::send(
        &sms_client(http),
        &account.account,
        to.as_str(),
        &body,
        None,
    )
    .await
    .map_err(|e| match e {
        SendError::Temporary(m) | SendError::Permanent(m) => AppError::field("to", m),
    })
}

/// The client messages go out with: one try per request (the outbox retries
/// with its own backoff; a POST tried again at once could send twice).
pub fn sms_client(http: &HttpConfig) -> crate::backend::connectors::http::Client {
    let mut one_try = http.clone();
    one_try.max_attempts = 1;
    one_try.client()
}

fn webhook_key() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl SmsAccount {
    pub fn token(&self) -> &str {
        self.account.auth_token.expose_secret()
    }
}
