//! The identity providers that push into Muster (SCIM sources) and their
//! bearer tokens: what the Provisioning panel manages, and the check of a
//! token on every SCIM request.
//!
//! A token is 32 random bytes in URL-safe base64 behind the prefix
//! `muster_scim_` (so secret scanners can recognise it). Only its SHA-256 is
//! stored, with its last four characters as a hint.

use crate::backend::auth::token_hash;
use crate::backend::db::entities::{
    contact, scim_group, scim_source, scim_token, ScimGroup, ScimSource, ScimToken,
};
use crate::backend::db::{begin_write, from_ms, is_unique_violation, now_ms};
use crate::backend::domain::{clean, OrgId};
use crate::model::{
    AppError, IssuedScimToken, ScimScope, ScimSource as Source, ScimSourceForm, ScimToken as Token,
    ScimTokenForm,
};
use base64::Engine;
use chrono::{NaiveDate, NaiveTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, Set,
};

/// What every token starts with.
pub const TOKEN_PREFIX: &str = "muster_scim_";
/// A token's last use is written at most this often.
const USED_EVERY_MS: i64 = 60_000;
/// Names of sources and tokens are at most this long.
const NAME_MAX: usize = 100;

/// The identity provider behind a SCIM request, from its token.
#[derive(Debug, Clone)]
pub struct Caller {
    pub org: OrgId,
    pub source_id: i64,
    /// The contacts' Source.
    pub source_name: String,
    pub scope: ScimScope,
    pub keep_deleted: bool,
    pub token_id: i64,
}

/// The caller a bearer token stands for, if it is a live token: known, not
/// revoked, not past its expiry. Using it records when (to the minute).
pub async fn authenticate(
    db: &impl ConnectionTrait,
    token: &str,
) -> Result<Option<Caller>, AppError> {
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 100 {
        return Ok(None);
    }
    let now = now_ms();
    let found = ScimToken::find()
        .find_also_related(ScimSource)
        .filter(scim_token::Column::TokenHash.eq(token_hash(token)))
        .filter(scim_token::Column::RevokedAt.is_null())
        .filter(
            scim_token::Column::ExpiresAt
                .is_null()
                .or(scim_token::Column::ExpiresAt.gt(now)),
        )
        .one(db)
        .await?;
    let Some((token, Some(source))) = found else {
        return Ok(None);
    };
    if token.last_used_at.is_none_or(|t| now - t >= USED_EVERY_MS) {
        ScimToken::update_many()
            .col_expr(scim_token::Column::LastUsedAt, Expr::value(now))
            .filter(scim_token::Column::Id.eq(token.id))
            .exec(db)
            .await?;
    }
    Ok(Some(Caller {
        org: OrgId::verified(source.org_id),
        source_id: source.id,
        source_name: source.name,
        scope: ScimScope::parse(&source.scope).unwrap_or(ScimScope::Own),
        keep_deleted: source.keep_deleted,
        token_id: token.id,
    }))
}

/// The organisation's sources with their tokens and counts, oldest first.
pub async fn list(db: &impl ConnectionTrait, org: OrgId) -> Result<Vec<Source>, AppError> {
    let rows = ScimSource::find()
        .filter(scim_source::Column::OrgId.eq(org.get()))
        .order_by_asc(scim_source::Column::Id)
        .find_with_related(ScimToken)
        .all(db)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for (s, mut tokens) in rows {
        tokens.sort_by_key(|t| t.id);
        let contacts = its_contacts(org, s.id).count(db).await?;
        let created = its_contacts(org, s.id)
            .filter(contact::Column::AdoptedSource.is_null())
            .count(db)
            .await?;
        let groups = ScimGroup::find()
            .filter(scim_group::Column::OrgId.eq(org.get()))
            .filter(scim_group::Column::SourceId.eq(s.id))
            .count(db)
            .await?;
        out.push(Source {
            id: s.id,
            name: s.name,
            scope: ScimScope::parse(&s.scope).unwrap_or(ScimScope::Own),
            keep_deleted: s.keep_deleted,
            created_at: from_ms(s.created_at),
            tokens: tokens.into_iter().map(token_of).collect(),
            contacts,
            created,
            groups,
        });
    }
    Ok(out)
}

fn its_contacts(org: OrgId, id: i64) -> sea_orm::Select<contact::Entity> {
    contact::Entity::find()
        .filter(contact::Column::OrgId.eq(org.get()))
        .filter(contact::Column::ScimSourceId.eq(id))
}

/// Remove identity provider `id`: its tokens stop working, its groups go,
/// the contacts it created are deleted and those it took over go back to
/// their earlier source. Returns how many contacts were deleted.
pub async fn remove(db: &DatabaseConnection, org: OrgId, id: i64) -> Result<u64, AppError> {
    let tx = begin_write(db).await?;
    ScimSource::find_by_id(id)
        .filter(scim_source::Column::OrgId.eq(org.get()))
        .one(&tx)
        .await?
        .ok_or(AppError::NotFound)?;
    let ours = Condition::all()
        .add(contact::Column::OrgId.eq(org.get()))
        .add(contact::Column::ScimSourceId.eq(id));
    contact::Entity::update_many()
        .col_expr(
            contact::Column::Source,
            Expr::col(contact::Column::AdoptedSource),
        )
        .col_expr(contact::Column::AdoptedSource, Expr::value(None::<String>))
        .col_expr(contact::Column::ScimSourceId, Expr::value(None::<i64>))
        .col_expr(contact::Column::Active, Expr::value(true))
        .col_expr(
            contact::Column::Version,
            Expr::col(contact::Column::Version).add(1),
        )
        .col_expr(contact::Column::UpdatedAt, Expr::value(now_ms()))
        .filter(ours.clone())
        .filter(contact::Column::AdoptedSource.is_not_null())
        .exec(&tx)
        .await?;
    // Memberships go with the contacts and groups (cascades), the users' and
    // groups' resources and the tokens with the source.
    let deleted = contact::Entity::delete_many()
        .filter(ours)
        .exec(&tx)
        .await?
        .rows_affected;
    ScimSource::delete_many()
        .filter(scim_source::Column::Id.eq(id))
        .filter(scim_source::Column::OrgId.eq(org.get()))
        .exec(&tx)
        .await?;
    tx.commit().await?;
    Ok(deleted)
}

fn token_of(t: scim_token::Model) -> Token {
    Token {
        id: t.id,
        name: t.name,
        hint: t.hint,
        created_at: from_ms(t.created_at),
        last_used_at: t.last_used_at.map(from_ms),
        // Stored as the first moment it is no longer accepted.
        expires_on: t
            .expires_at
            .map(|ms| (from_ms(ms) - chrono::Duration::days(1)).date_naive()),
        revoked_at: t.revoked_at.map(from_ms),
    }
}

/// A name of a source or token: whitespace collapsed, 1 to 100 characters.
fn name(field: &str, raw: &str) -> Result<String, AppError> {
    let name = clean(raw).ok_or_else(|| AppError::field(field, "Enter a name."))?;
    if name.chars().count() > NAME_MAX {
        return Err(AppError::field(
            field,
            format!("At most {NAME_MAX} characters."),
        ));
    }
    Ok(name)
}

/// The expiry typed, as the first moment the token is refused (midnight UTC
/// after its last day); it must be a day to come.
fn expires_at(raw: &str, today: NaiveDate) -> Result<Option<i64>, AppError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| AppError::field("expires_on", "Enter a date as YYYY-MM-DD."))?;
    if day < today {
        return Err(AppError::field(
            "expires_on",
            "Choose today or a later day.",
        ));
    }
    let end = day
        .succ_opt()
        .ok_or_else(|| AppError::field("expires_on", "Choose an earlier day."))?;
    Ok(Some(
        end.and_time(NaiveTime::MIN).and_utc().timestamp_millis(),
    ))
}

fn new_secret() -> Result<String, AppError> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(AppError::internal)?;
    Ok(format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    ))
}

fn hint(secret: &str) -> String {
    secret[secret.len() - 4..].to_string()
}

const DUPLICATE_NAME: &str = "Another identity provider already has this name.";

/// Add an identity provider with its first token.
pub async fn create(
    db: &impl ConnectionTrait,
    org: OrgId,
    form: &ScimSourceForm,
    token: &ScimTokenForm,
) -> Result<IssuedScimToken, AppError> {
    let source_name = name("name", &form.name)?;
    let token_name = name("token_name", &token.name)?;
    let expires = expires_at(&token.expires_on, Utc::now().date_naive())?;
    let now = now_ms();
    let inserted = scim_source::ActiveModel {
        org_id: Set(org.get()),
        name_lower: Set(source_name.to_lowercase()),
        name: Set(source_name),
        scope: Set(form.scope.key().into()),
        keep_deleted: Set(form.keep_deleted),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await;
    let source = match inserted {
        Ok(s) => s,
        Err(e) if is_unique_violation(&e) => return Err(AppError::field("name", DUPLICATE_NAME)),
        Err(e) => return Err(e.into()),
    };
    insert_token(db, org, source.id, token_name, expires).await
}

/// Change an identity provider's name and settings; its tokens stay as they are.
pub async fn update(
    db: &impl ConnectionTrait,
    org: OrgId,
    id: i64,
    form: &ScimSourceForm,
) -> Result<(), AppError> {
    let source_name = name("name", &form.name)?;
    let updated = ScimSource::update_many()
        .col_expr(
            scim_source::Column::NameLower,
            Expr::value(source_name.to_lowercase()),
        )
        .col_expr(scim_source::Column::Name, Expr::value(source_name))
        .col_expr(scim_source::Column::Scope, Expr::value(form.scope.key()))
        .col_expr(
            scim_source::Column::KeepDeleted,
            Expr::value(form.keep_deleted),
        )
        .col_expr(scim_source::Column::UpdatedAt, Expr::value(now_ms()))
        .filter(scim_source::Column::Id.eq(id))
        .filter(scim_source::Column::OrgId.eq(org.get()))
        .exec(db)
        .await;
    match updated {
        Ok(r) if r.rows_affected == 0 => Err(AppError::NotFound),
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(AppError::field("name", DUPLICATE_NAME)),
        Err(e) => Err(e.into()),
    }
}

/// Add a token to an identity provider (for example, a second one while the
/// first is being replaced in the provider's settings).
pub async fn add_token(
    db: &impl ConnectionTrait,
    org: OrgId,
    source_id: i64,
    form: &ScimTokenForm,
) -> Result<IssuedScimToken, AppError> {
    let token_name = name("token_name", &form.name)?;
    let expires = expires_at(&form.expires_on, Utc::now().date_naive())?;
    ScimSource::find_by_id(source_id)
        .filter(scim_source::Column::OrgId.eq(org.get()))
        .one(db)
        .await?
        .ok_or(AppError::NotFound)?;
    insert_token(db, org, source_id, token_name, expires).await
}

async fn insert_token(
    db: &impl ConnectionTrait,
    org: OrgId,
    source_id: i64,
    name: String,
    expires_at: Option<i64>,
) -> Result<IssuedScimToken, AppError> {
    let secret = new_secret()?;
    let token = scim_token::ActiveModel {
        org_id: Set(org.get()),
        source_id: Set(source_id),
        name: Set(name),
        token_hash: Set(token_hash(&secret)),
        hint: Set(hint(&secret)),
        created_at: Set(now_ms()),
        last_used_at: Set(None),
        expires_at: Set(expires_at),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(IssuedScimToken {
        source_id,
        token: token_of(token),
        secret,
    })
}

async fn find_token(
    db: &impl ConnectionTrait,
    org: OrgId,
    id: i64,
) -> Result<scim_token::Model, AppError> {
    ScimToken::find_by_id(id)
        .filter(scim_token::Column::OrgId.eq(org.get()))
        .one(db)
        .await?
        .ok_or(AppError::NotFound)
}

/// Give a token a new value: the old one is refused from now on; its name,
/// expiry and identity provider stay. A revoked token comes back to life.
pub async fn regenerate(
    db: &impl ConnectionTrait,
    org: OrgId,
    id: i64,
) -> Result<IssuedScimToken, AppError> {
    let old = find_token(db, org, id).await?;
    if old.expires_at.is_some_and(|t| t <= now_ms()) {
        return Err(AppError::BadRequest(
            "This token has expired: add a new token instead.".into(),
        ));
    }
    let secret = new_secret()?;
    let source_id = old.source_id;
    let mut token: scim_token::ActiveModel = old.into();
    token.token_hash = Set(token_hash(&secret));
    token.hint = Set(hint(&secret));
    token.created_at = Set(now_ms());
    token.last_used_at = Set(None);
    token.revoked_at = Set(None);
    let token = token.update(db).await?;
    Ok(IssuedScimToken {
        source_id,
        token: token_of(token),
        secret,
    })
}

/// Refuse a token from now on; nothing else changes.
pub async fn revoke(db: &impl ConnectionTrait, org: OrgId, id: i64) -> Result<Token, AppError> {
    let token = find_token(db, org, id).await?;
    if token.revoked_at.is_some() {
        return Ok(token_of(token));
    }
    let mut token: scim_token::ActiveModel = token.into();
    token.revoked_at = Set(Some(now_ms()));
    Ok(token_of(token.update(db).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expiry_is_a_day_to_come_and_lasts_through_it() {
        let today: NaiveDate = "2026-12-02".parse().unwrap();
        assert_eq!(expires_at(" ", today).unwrap(), None);
        let end = expires_at("2026-12-02", today).unwrap().unwrap();
        assert_eq!(from_ms(end).to_rfc3339(), "2026-12-03T00:00:00+00:00");
        let model = scim_token::Model {
            id: 1,
            org_id: 1,
            source_id: 1,
            name: "t".into(),
            token_hash: String::new(),
            hint: String::new(),
            created_at: 0,
            last_used_at: None,
            expires_at: Some(end),
            revoked_at: None,
        };
        assert_eq!(token_of(model).expires_on, Some(today));
        for bad in ["2026-12-01", "tomorrow", "2026-13-01"] {
            let e = expires_at(bad, today).unwrap_err();
            assert!(e.field_message("expires_on").is_some(), "{bad}");
        }
    }

    #[test]
    fn secrets_are_long_random_and_prefixed() {
        let a = new_secret().unwrap();
        let b = new_secret().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 43);
        assert_eq!(hint(&a), a[a.len() - 4..]);
    }

    #[test]
    fn names_are_required_and_bounded() {
        assert_eq!(name("name", "  Entra   ID ").unwrap(), "Entra ID");
        assert!(name("name", " ").is_err());
        assert!(name("name", &"x".repeat(101)).is_err());
    }
}
