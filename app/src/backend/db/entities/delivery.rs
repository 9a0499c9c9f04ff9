//! The outbox: one message to one recipient on one channel, and how its
//! sending goes.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deliveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub org_id: i64,
    pub incident_id: i64,
    pub recipient_id: i64,
    pub message_id: i64,
    /// "email" or "sms".
    pub channel: String,
    /// `model::DeliveryStatus` by its key, or "sending" while a sender
    /// holds it (until `lease_until`).
    pub status: String,
    pub attempts: i64,
    /// When it is due (its next try).
    pub next_at: i64,
    pub lease_until: Option<i64>,
    /// The mail server's or SMS provider's id for it.
    pub provider_ref: Option<String>,
    /// Why its last try failed.
    pub error: Option<String>,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
