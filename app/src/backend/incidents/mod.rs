//! Incidents: launched from a scenario or from scratch, their recipients
//! resolved once into a frozen list, their messages put in the outbox
//! (`outbox`) in the same transaction, their answers collected through
//! signed response links (`links`). Every statement is scoped to the
//! organisation.

pub mod email;
pub mod links;
pub mod outbox;
pub mod sms_webhooks;

use crate::backend::audit;
use crate::backend::db::entities::{
    contact, delivery, incident, incident_message, incident_recipient, organisation, scenario,
};
use crate::backend::db::{begin_write_in_turn, from_ms, now_ms};
use crate::backend::domain::OrgId;
use crate::backend::recipients::{self, Resolution};
use crate::backend::vault::Vault;
use crate::model::{
    AppError, Audience, ChannelCounts, Channels, DeliveryStatus, FollowUp, Incident,
    IncidentProgress, IncidentRecipient, IncidentRecipientPage, IncidentStatus, IncidentSummary,
    LaunchPreview, LaunchRequest, MessageProgress, RecipientFilter, ResponseView, ScenarioDraft,
    Severity,
};
use outbox::Outbox;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use std::collections::HashMap;

const KIND: &str = "incident";
/// Recipients written per statement at launch.
const CHUNK: usize = 500;

pub const EMAIL: &str = "email";
pub const SMS: &str = "sms";

/// A launch's draft, checked, with recipients that reach someone.
fn checked(draft: &ScenarioDraft) -> Result<ScenarioDraft, AppError> {
    let d = draft.checked()?;
    if d.recipients.is_empty() {
        return Err(AppError::field(
            "recipients",
            "Choose who to notify: a group, a rule or people.",
        ));
    }
    Ok(d)
}

/// What launching `draft` would do now: whom it reaches, on which channels.
pub async fn preview(
    db: &impl ConnectionTrait,
    outbox: &Outbox,
    org: OrgId,
    draft: &ScenarioDraft,
) -> Result<LaunchPreview, AppError> {
    let d = checked(draft)?;
    let resolution = recipients::resolve(db, org, &d.recipients).await?;
    let reach = resolution.reach();
    Ok(LaunchPreview {
        emails: if d.channels.email {
            reach.people - reach.without_email
        } else {
            0
        },
        texts: if d.channels.sms {
            reach.people - reach.without_phone
        } else {
            0
        },
        email_unavailable: match d.channels.email {
            true => outbox.unavailable(db, org, EMAIL).await?,
            false => None,
        },
        sms_unavailable: match d.channels.sms {
            true => outbox.unavailable(db, org, SMS).await?,
            false => None,
        },
        reach,
    })
}

/// Launch an incident: resolve its recipients once, freeze them with why
/// they were targeted, and queue its messages, all in one transaction (one
/// snapshot of the directory); then wake the sender.
pub async fn launch(
    db: &DatabaseConnection,
    outbox: &Outbox,
    org: OrgId,
    actor: &str,
    request: &LaunchRequest,
) -> Result<Incident, AppError> {
    let d = checked(&request.draft)?;
    let (_turn, tx) = begin_write_in_turn(db).await?;
    if let Some(id) = request.scenario_id {
        scenario::Entity::find()
            .filter(scenario::Column::OrgId.eq(org.get()))
            .filter(scenario::Column::Id.eq(id))
            .one(&tx)
            .await?
            .ok_or(AppError::NotFound)?;
    }
    let resolution = recipients::resolve(&tx, org, &d.recipients).await?;
    if resolution.recipients.is_empty() {
        return Err(AppError::field(
            "recipients",
            "This selection reaches nobody: no active contact matches it.",
        ));
    }
    let now = now_ms();
    let incident_id = incident::Entity::insert(incident::ActiveModel {
        org_id: Set(org.get()),
        scenario_id: Set(request.scenario_id),
        name: Set(d.name.clone()),
        severity: Set(d.severity.as_str().to_string()),
        subject: Set(d.subject.clone()),
        body: Set(d.body.clone()),
        email: Set(d.channels.email),
        sms: Set(d.channels.sms),
        options: Set(serde_json::to_string(&d.options).map_err(AppError::internal)?),
        recipients: Set(serde_json::to_string(&d.recipients).map_err(AppError::internal)?),
        status: Set(IncidentStatus::Active.as_str().to_string()),
        nonce: Set(links::nonce()),
        launched_at: Set(now),
        launched_by: Set(actor.to_string()),
        recipient_count: Set(resolution.recipients.len() as i64),
        ..Default::default()
    })
    .exec(&tx)
    .await?
    .last_insert_id;
    let message = incident_message::Entity::insert(incident_message::ActiveModel {
        incident_id: Set(incident_id),
        org_id: Set(org.get()),
        kind: Set("launch".into()),
        subject: Set(d.subject.clone()),
        body: Set(d.body.clone()),
        sent_at: Set(now),
        sent_by: Set(actor.to_string()),
        ..Default::default()
    })
    .exec(&tx)
    .await?
    .last_insert_id;
    freeze(&tx, org, incident_id, &d, &resolution).await?;
    let target = Target {
        org,
        incident: incident_id,
        message,
        channels: d.channels,
        audience: Audience::Everyone,
    };
    queue(&tx, outbox, &target, now).await?;
    let summary = format!("{} ({} recipients)", d.name, resolution.recipients.len());
    audit::record(
        &tx,
        org,
        actor,
        "launched",
        KIND,
        Some(incident_id),
        &summary,
    )
    .await?;
    tx.commit().await?;
    outbox.wake();
    get(db, org, incident_id).await
}

/// Write the resolved recipients, with a copy of each one's name and
/// addresses as they are now, and why they were targeted.
async fn freeze(
    tx: &impl ConnectionTrait,
    org: OrgId,
    incident_id: i64,
    d: &ScenarioDraft,
    resolution: &Resolution,
) -> Result<(), AppError> {
    let names =
        recipients::group_names(tx, org, resolution.recipients.iter().map(|r| r.reason)).await?;
    for chunk in resolution.recipients.chunks(CHUNK) {
        let ids: Vec<i64> = chunk.iter().map(|r| r.contact_id).collect();
        let mut contacts: HashMap<i64, (String, String, Option<String>, Option<String>)> =
            contact::Entity::find()
                .select_only()
                .column(contact::Column::Id)
                .column(contact::Column::FirstName)
                .column(contact::Column::LastName)
                .column(contact::Column::Email)
                .column(contact::Column::Phone)
                .filter(contact::Column::OrgId.eq(org.get()))
                .filter(contact::Column::Id.is_in(ids))
                .into_tuple::<(i64, String, String, Option<String>, Option<String>)>()
                .all(tx)
                .await?
                .into_iter()
                .map(|(id, f, l, e, p)| (id, (f, l, e, p)))
                .collect();
        let rows: Vec<incident_recipient::ActiveModel> = chunk
            .iter()
            .filter_map(|r| {
                let (first, last, email, phone) = contacts.remove(&r.contact_id)?;
                Some(incident_recipient::ActiveModel {
                    incident_id: Set(incident_id),
                    org_id: Set(org.get()),
                    contact_id: Set(Some(r.contact_id)),
                    first_name: Set(first),
                    last_name: Set(last),
                    email: Set(email),
                    phone: Set(phone),
                    reason: Set(recipients::why(r.reason, &names, &d.recipients)),
                    ..Default::default()
                })
            })
            .collect();
        if !rows.is_empty() {
            incident_recipient::Entity::insert_many(rows)
                .exec(tx)
                .await?;
        }
    }
    Ok(())
}

/// A message of an incident, its channels, and who of the recipients it is for.
struct Target {
    org: OrgId,
    incident: i64,
    message: i64,
    channels: Channels,
    audience: Audience,
}

/// One delivery of the message on each chosen channel for each recipient
/// of the audience who has an address for it (one statement a channel):
/// queued, or failed at once when this server cannot send on the channel.
/// How many deliveries were made.
async fn queue(
    tx: &impl ConnectionTrait,
    outbox: &Outbox,
    target: &Target,
    now: i64,
) -> Result<u64, AppError> {
    use delivery::Column as D;
    use incident_recipient::Column as R;
    let mut made = 0;
    for (channel, chosen, address) in [
        (EMAIL, target.channels.email, R::Email),
        (SMS, target.channels.sms, R::Phone),
    ] {
        if !chosen {
            continue;
        }
        let unavailable = outbox.unavailable(tx, target.org, channel).await?;
        let status = match unavailable {
            None => DeliveryStatus::Queued,
            Some(_) => DeliveryStatus::Failed,
        };
        let mut select = Query::select()
            .column(R::OrgId)
            .column(R::IncidentId)
            .column(R::Id)
            .expr(Expr::val(target.message))
            .expr(Expr::val(channel))
            .expr(Expr::val(status.as_str()))
            .expr(Expr::val(0i64))
            .expr(Expr::val(now))
            .expr(Expr::val(unavailable))
            .expr(Expr::val(now))
            .from(incident_recipient::Entity)
            .and_where(R::IncidentId.eq(target.incident))
            .and_where(Expr::col(address).is_not_null())
            .to_owned();
        match target.audience {
            Audience::Everyone => {}
            Audience::Unanswered => {
                select.and_where(R::Response.is_null());
            }
            Audience::Answered(i) => {
                select.and_where(R::Response.eq(i as i64));
            }
        }
        let insert = Query::insert()
            .into_table(delivery::Entity)
            .columns([
                D::OrgId,
                D::IncidentId,
                D::RecipientId,
                D::MessageId,
                D::Channel,
                D::Status,
                D::Attempts,
                D::NextAt,
                D::Error,
                D::UpdatedAt,
            ])
            .select_from(select)
            .map_err(AppError::internal)?
            .to_owned();
        made += tx.execute(&insert).await?.rows_affected();
    }
    Ok(made)
}

/// Send a follow-up to some of an incident's recipients on its channels;
/// how many messages it queued.
pub async fn follow_up(
    db: &DatabaseConnection,
    outbox: &Outbox,
    org: OrgId,
    actor: &str,
    id: i64,
    follow_up: &FollowUp,
) -> Result<u64, AppError> {
    let (_turn, tx) = begin_write_in_turn(db).await?;
    let incident = get(&tx, org, id).await?;
    let f = follow_up.checked(incident.channels.sms)?;
    if let Audience::Answered(i) = f.audience {
        if i >= incident.options.len() {
            return Err(AppError::field(
                "audience",
                "This incident offers no such answer.",
            ));
        }
    }
    let now = now_ms();
    let message = incident_message::Entity::insert(incident_message::ActiveModel {
        incident_id: Set(id),
        org_id: Set(org.get()),
        kind: Set("follow-up".into()),
        subject: Set(f.subject.clone()),
        body: Set(f.body.clone()),
        sent_at: Set(now),
        sent_by: Set(actor.to_string()),
        ..Default::default()
    })
    .exec(&tx)
    .await?
    .last_insert_id;
    let target = Target {
        org,
        incident: id,
        message,
        channels: incident.channels,
        audience: f.audience,
    };
    let made = queue(&tx, outbox, &target, now).await?;
    if made == 0 {
        return Err(AppError::field(
            "audience",
            format!(
                "Nobody to send to: none of {} can be reached on this incident's channels.",
                f.audience.describe(&incident.options)
            ),
        ));
    }
    let summary = format!(
        "a follow-up to {}: {} ({made} messages)",
        f.audience.describe(&incident.options),
        f.subject
    );
    audit::record(&tx, org, actor, "sent", KIND, Some(id), &summary).await?;
    tx.commit().await?;
    outbox.wake();
    Ok(made)
}

/// A count as read (never negative).
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn of_org(org: OrgId) -> sea_orm::Select<incident::Entity> {
    incident::Entity::find().filter(incident::Column::OrgId.eq(org.get()))
}

fn to_incident(r: incident::Model) -> Result<Incident, AppError> {
    Ok(Incident {
        id: r.id,
        name: r.name,
        severity: Severity::parse(&r.severity).unwrap_or_default(),
        subject: r.subject,
        body: r.body,
        channels: Channels {
            email: r.email,
            sms: r.sms,
        },
        options: serde_json::from_str(&r.options).map_err(AppError::internal)?,
        status: IncidentStatus::parse(&r.status),
        scenario_id: r.scenario_id,
        launched_at: from_ms(r.launched_at),
        launched_by: r.launched_by,
        resolved_at: r.resolved_at.map(from_ms),
        resolved_by: r.resolved_by,
        recipients: count(r.recipient_count),
    })
}

pub async fn get(db: &impl ConnectionTrait, org: OrgId, id: i64) -> Result<Incident, AppError> {
    let row = of_org(org)
        .filter(incident::Column::Id.eq(id))
        .one(db)
        .await?
        .ok_or(AppError::NotFound)?;
    to_incident(row)
}

/// The organisation's incidents, newest first.
pub async fn list(db: &impl ConnectionTrait, org: OrgId) -> Result<Vec<IncidentSummary>, AppError> {
    let rows = of_org(org)
        .order_by_desc(incident::Column::Id)
        .limit(200)
        .all(db)
        .await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let answered: HashMap<i64, i64> = incident_recipient::Entity::find()
        .select_only()
        .column(incident_recipient::Column::IncidentId)
        .column_as(incident_recipient::Column::Id.count(), "n")
        .filter(incident_recipient::Column::IncidentId.is_in(ids))
        .filter(incident_recipient::Column::Response.is_not_null())
        .group_by(incident_recipient::Column::IncidentId)
        .into_tuple::<(i64, i64)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    rows.into_iter()
        .map(|r| {
            let answered = count(answered.get(&r.id).copied().unwrap_or(0));
            let i = to_incident(r)?;
            Ok(IncidentSummary {
                id: i.id,
                name: i.name,
                severity: i.severity,
                status: i.status,
                launched_at: i.launched_at,
                launched_by: i.launched_by,
                recipients: i.recipients,
                answered,
            })
        })
        .collect()
}

/// Deliveries by channel and status, and answers by option, now.
pub async fn progress(
    db: &impl ConnectionTrait,
    org: OrgId,
    id: i64,
) -> Result<IncidentProgress, AppError> {
    let incident = get(db, org, id).await?;
    let counts = delivery::Entity::find()
        .select_only()
        .column(delivery::Column::MessageId)
        .column(delivery::Column::Channel)
        .column(delivery::Column::Status)
        .column_as(delivery::Column::Id.count(), "n")
        .filter(delivery::Column::IncidentId.eq(id))
        .group_by(delivery::Column::MessageId)
        .group_by(delivery::Column::Channel)
        .group_by(delivery::Column::Status)
        .into_tuple::<(i64, String, String, i64)>()
        .all(db)
        .await?;
    let mut out = IncidentProgress {
        status: incident.status,
        tally: vec![0; incident.options.len()],
        messages: incident_message::Entity::find()
            .filter(incident_message::Column::IncidentId.eq(id))
            .order_by_asc(incident_message::Column::Id)
            .all(db)
            .await?
            .into_iter()
            .map(|m| MessageProgress {
                id: m.id,
                kind: m.kind,
                subject: m.subject,
                sent_at: from_ms(m.sent_at),
                sent_by: m.sent_by,
                email: ChannelCounts::default(),
                sms: ChannelCounts::default(),
            })
            .collect(),
        ..Default::default()
    };
    for (message, channel, status, n) in counts {
        let n = count(n);
        let of_message = out.messages.iter_mut().find(|m| m.id == message);
        let (total, mine) = match channel.as_str() {
            EMAIL => (&mut out.email, of_message.map(|m| &mut m.email)),
            _ => (&mut out.sms, of_message.map(|m| &mut m.sms)),
        };
        for c in std::iter::once(total).chain(mine) {
            let slot = match DeliveryStatus::parse(&status) {
                Some(DeliveryStatus::Sent) => &mut c.sent,
                Some(DeliveryStatus::Delivered) => &mut c.delivered,
                Some(DeliveryStatus::Failed) => &mut c.failed,
                // Queued, or being sent.
                _ => &mut c.queued,
            };
            *slot += n;
        }
    }
    let answers = incident_recipient::Entity::find()
        .select_only()
        .column(incident_recipient::Column::Response)
        .column_as(incident_recipient::Column::Id.count(), "n")
        .filter(incident_recipient::Column::IncidentId.eq(id))
        .group_by(incident_recipient::Column::Response)
        .into_tuple::<(Option<i64>, i64)>()
        .all(db)
        .await?;
    for (response, n) in answers {
        let n = count(n);
        match response.and_then(|r| out.tally.get_mut(r as usize)) {
            Some(slot) => *slot += n,
            None => out.unanswered += n,
        }
    }
    Ok(out)
}

/// A page of an incident's recipients, filtered by delivery status (on
/// either channel) and by answer.
pub async fn recipients_page(
    db: &impl ConnectionTrait,
    org: OrgId,
    id: i64,
    filter: &RecipientFilter,
) -> Result<IncidentRecipientPage, AppError> {
    use incident_recipient::Column as R;
    let incident = get(db, org, id).await?;
    let mut select = incident_recipient::Entity::find()
        .filter(R::OrgId.eq(org.get()))
        .filter(R::IncidentId.eq(id));
    match filter.response {
        None => {}
        Some(None) => select = select.filter(R::Response.is_null()),
        Some(Some(i)) => select = select.filter(R::Response.eq(i as i64)),
    }
    if let Some(status) = filter.status {
        let statuses: Vec<&str> = match status {
            DeliveryStatus::Queued => vec!["queued", "sending"],
            s => vec![s.as_str()],
        };
        let with = Query::select()
            .column(delivery::Column::RecipientId)
            .from(delivery::Entity)
            .and_where(delivery::Column::IncidentId.eq(id))
            .and_where(delivery::Column::Status.is_in(statuses))
            .to_owned();
        select = select.filter(R::Id.in_subquery(with));
    }
    let total = select.clone().count(db).await?;
    let rows = select
        .order_by_asc(R::Id)
        .offset(filter.offset as u64)
        .limit(IncidentRecipientPage::PAGE_SIZE as u64)
        .all(db)
        .await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    // Each recipient's latest delivery on each channel.
    let mut latest: HashMap<(i64, String), delivery::Model> = HashMap::new();
    for d in delivery::Entity::find()
        .filter(delivery::Column::IncidentId.eq(id))
        .filter(delivery::Column::RecipientId.is_in(ids))
        .order_by_asc(delivery::Column::Id)
        .all(db)
        .await?
    {
        latest.insert((d.recipient_id, d.channel.clone()), d);
    }
    let status_of = |d: Option<&delivery::Model>| {
        d.map(|d| DeliveryStatus::parse(&d.status).unwrap_or(DeliveryStatus::Queued))
    };
    let rows = rows
        .into_iter()
        .map(|r| {
            let email = latest.get(&(r.id, EMAIL.to_string()));
            let sms = latest.get(&(r.id, SMS.to_string()));
            let error = [email, sms]
                .into_iter()
                .flatten()
                .filter(|d| d.status == DeliveryStatus::Failed.as_str())
                .find_map(|d| d.error.clone());
            IncidentRecipient {
                id: r.id,
                name: format!("{} {}", r.first_name, r.last_name),
                email: r.email.clone(),
                phone: r.phone.clone(),
                why: r.reason.clone(),
                email_status: status_of(email),
                sms_status: status_of(sms),
                error,
                response: r
                    .response
                    .and_then(|i| incident.options.get(i as usize).cloned()),
                responded_at: r.responded_at.map(from_ms),
            }
        })
        .collect();
    Ok(IncidentRecipientPage { rows, total })
}

/// Resolve an active incident: answers close, and its links stop working.
pub async fn resolve(
    db: &DatabaseConnection,
    org: OrgId,
    actor: &str,
    id: i64,
) -> Result<Incident, AppError> {
    let (_turn, tx) = begin_write_in_turn(db).await?;
    let incident = get(&tx, org, id).await?;
    if incident.status == IncidentStatus::Resolved {
        return Err(AppError::Conflict(
            "This incident is already resolved.".into(),
        ));
    }
    incident::Entity::update_many()
        .col_expr(
            incident::Column::Status,
            Expr::val(IncidentStatus::Resolved.as_str()),
        )
        .col_expr(incident::Column::ResolvedAt, Expr::val(now_ms()))
        .col_expr(incident::Column::ResolvedBy, Expr::val(actor))
        .filter(incident::Column::OrgId.eq(org.get()))
        .filter(incident::Column::Id.eq(id))
        .exec(&tx)
        .await?;
    audit::record(&tx, org, actor, "resolved", KIND, Some(id), &incident.name).await?;
    tx.commit().await?;
    get(db, org, id).await
}

/// The recipient and incident a response link names, if its signature holds.
async fn by_token(
    db: &impl ConnectionTrait,
    vault: &Vault,
    token: &str,
) -> Result<(incident_recipient::Model, incident::Model), AppError> {
    let (recipient_id, signature) = links::parse(token).ok_or(AppError::NotFound)?;
    let recipient = incident_recipient::Entity::find_by_id(recipient_id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound)?;
    let incident = incident::Entity::find_by_id(recipient.incident_id)
        .filter(incident::Column::OrgId.eq(recipient.org_id))
        .one(db)
        .await?
        .ok_or(AppError::NotFound)?;
    if !links::verify(vault, &incident.nonce, recipient_id, &signature) {
        return Err(AppError::NotFound);
    }
    Ok((recipient, incident))
}

/// What the recipient of a response link sees.
pub async fn response_view(
    db: &impl ConnectionTrait,
    vault: &Vault,
    token: &str,
) -> Result<ResponseView, AppError> {
    let (recipient, incident) = by_token(db, vault, token).await?;
    let org_name = organisation::Entity::find_by_id(incident.org_id)
        .one(db)
        .await?
        .map(|o| o.name)
        .unwrap_or_default();
    let incident_status = IncidentStatus::parse(&incident.status);
    let i = to_incident(incident)?;
    Ok(ResponseView {
        org_name,
        subject: crate::model::fill(&i.subject, &recipient.first_name, &recipient.last_name),
        body: crate::model::fill(&i.body, &recipient.first_name, &recipient.last_name),
        severity: i.severity,
        answer: recipient.response.and_then(|r| usize::try_from(r).ok()),
        options: i.options,
        closed: incident_status == IncidentStatus::Resolved,
    })
}

/// Record the answer of a response link's recipient (the last one counts).
pub async fn respond(
    db: &DatabaseConnection,
    vault: &Vault,
    token: &str,
    option: usize,
    via: &str,
) -> Result<ResponseView, AppError> {
    let (recipient, incident) = by_token(db, vault, token).await?;
    answer(db, &recipient, &incident, option, via).await?;
    response_view(db, vault, token).await
}

/// Record `option` as the answer of `recipient`, if the incident still takes
/// answers and offers it.
pub async fn answer(
    db: &impl ConnectionTrait,
    recipient: &incident_recipient::Model,
    incident: &incident::Model,
    option: usize,
    via: &str,
) -> Result<(), AppError> {
    if IncidentStatus::parse(&incident.status) == IncidentStatus::Resolved {
        return Err(AppError::Conflict(
            "This incident is resolved: answers are closed.".into(),
        ));
    }
    let options: Vec<String> =
        serde_json::from_str(&incident.options).map_err(AppError::internal)?;
    if option >= options.len() {
        return Err(AppError::BadRequest("There is no such answer.".into()));
    }
    incident_recipient::Entity::update_many()
        .col_expr(
            incident_recipient::Column::Response,
            Expr::val(option as i64),
        )
        .col_expr(incident_recipient::Column::RespondedAt, Expr::val(now_ms()))
        .col_expr(incident_recipient::Column::ResponseVia, Expr::val(via))
        .filter(incident_recipient::Column::Id.eq(recipient.id))
        .filter(incident_recipient::Column::OrgId.eq(incident.org_id))
        .exec(db)
        .await?;
    Ok(())
}
