//! An organisation's SMS provider (one per organisation).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sms_settings")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub org_id: i64,
    /// "twilio".
    pub provider: String,
    /// As typed, for display; the sealed copy in `secrets` is the one used.
    pub account_sid: String,
    /// The number messages come from, or a Messaging Service SID (`MG…`).
    pub sender: String,
    /// As typed, for display; the sealed copy is the one used.
    pub base_url: String,
    /// The account SID, auth token and base URL, sealed together by the vault.
    pub secrets: String,
    /// The auth token's last 4 characters.
    pub token_hint: String,
    /// Messages sent per second at most.
    pub per_second: i64,
    /// Names this organisation in its webhooks' URLs (random; their
    /// signature is what authenticates them).
    pub webhook_key: String,
    pub updated_at: i64,
    pub updated_by: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
