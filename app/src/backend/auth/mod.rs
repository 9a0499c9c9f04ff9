//! Organisations, administrators, passwords and sessions.

mod throttle;

pub use throttle::LoginThrottle;

use crate::backend::db::entities::{organisation, session, user, Organisation, Session, User};
use crate::backend::db::now_ms;
use crate::backend::domain::{Email, OrgId, Region};
use crate::model::AppError;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    FromQueryResult, JoinType, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, RelationTrait,
    Set,
};
use sha2::{Digest, Sha256};

pub const SESSION_COOKIE: &str = "muster_session";
const SESSION_TTL_MS: i64 = 7 * 24 * 3600 * 1000;
pub const MIN_PASSWORD_LEN: usize = 12;

/// The administrator behind a request.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user_id: i64,
    pub org: OrgId,
    pub email: String,
    pub org_name: String,
    pub default_region: String,
}

/// An organisation as stored.
pub type OrgRow = organisation::Model;

pub async fn org_count(db: &impl ConnectionTrait) -> Result<u64, AppError> {
    Ok(Organisation::find().count(db).await?)
}

pub async fn org_by_name(
    db: &impl ConnectionTrait,
    name: &str,
) -> Result<Option<OrgRow>, AppError> {
    Ok(Organisation::find()
        .filter(organisation::Column::Name.eq(name))
        .order_by_asc(organisation::Column::Id)
        .one(db)
        .await?)
}

pub async fn org(db: &impl ConnectionTrait, org: OrgId) -> Result<OrgRow, AppError> {
    Organisation::find_by_id(org.get())
        .one(db)
        .await?
        .ok_or(AppError::NotFound)
}

/// What the setup page and `muster admin create` send.
#[derive(Debug, Clone)]
pub struct NewOrganisation {
    pub name: String,
    pub default_region: String,
    pub time_zone: String,
}

pub fn validate_org(org: &NewOrganisation) -> Result<NewOrganisation, AppError> {
    let mut errors = Vec::new();
    let name = org.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        errors.push((
            "org_name",
            "Enter the organisation's name (up to 100 characters).".into(),
        ));
    }
    let region = Region::parse(&org.default_region);
    if let Err(e) = &region {
        errors.push(("default_region", e.to_string()));
    }
    let tz = org.time_zone.trim();
    if tz.is_empty() || tz.len() > 64 {
        errors.push(("time_zone", "Choose a time zone.".into()));
    }
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    let region = region.map_err(|_| AppError::internal("region checked above"))?;
    Ok(NewOrganisation {
        name: name.to_string(),
        default_region: region.code().to_string(),
        time_zone: tz.to_string(),
    })
}

fn invalid(errors: Vec<(&str, String)>) -> AppError {
    AppError::Invalid(
        errors
            .into_iter()
            .map(|(f, m)| crate::model::FieldError {
                field: f.to_string(),
                message: m,
            })
            .collect(),
    )
}

pub fn validate_admin(email: &str, password: &str) -> Result<String, AppError> {
    let mut errors = Vec::new();
    let email = Email::parse(email);
    if let Err(e) = &email {
        errors.push(("email", e.to_string()));
    }
    if password.chars().count() < MIN_PASSWORD_LEN {
        errors.push((
            "password",
            "Use a password of at least 12 characters.".into(),
        ));
    }
    match email {
        Ok(email) if errors.is_empty() => Ok(email.to_string()),
        _ => Err(invalid(errors)),
    }
}

pub fn hash_password(password: &str) -> Result<String, AppError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(AppError::internal)?;
    let salt = SaltString::encode_b64(&salt).map_err(AppError::internal)?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(AppError::internal)?
        .to_string())
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash of a password nobody knows, checked when the email is unknown so that
/// timing does not tell which emails have accounts.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password("not a real password, never matches").unwrap_or_default())
}

/// Create an organisation and its first administrator in one transaction.
pub async fn create_org_with_admin(
    db: &DatabaseConnection,
    org: &NewOrganisation,
    email: &str,
    password: &str,
) -> Result<(OrgId, i64), AppError> {
    let org = validate_org(org)?;
    let email = validate_admin(email, password)?;
    let hash = hash_password(password)?;
    let tx = crate::backend::db::begin_write(db).await?;
    if user_exists(&tx, &email).await? {
        return Err(AppError::field(
            "email",
            "An administrator with this email already exists.",
        ));
    }
    let org_id = organisation::ActiveModel {
        name: Set(org.name),
        default_region: Set(org.default_region),
        time_zone: Set(org.time_zone),
        created_at: Set(now_ms()),
        ..Default::default()
    }
    .insert(&tx)
    .await?
    .id;
    let user_id = insert_user(&tx, OrgId::verified(org_id), &email, &hash).await?;
    tx.commit().await?;
    Ok((OrgId::verified(org_id), user_id))
}

/// Add an administrator to an existing organisation.
pub async fn create_admin(
    db: &DatabaseConnection,
    org: OrgId,
    email: &str,
    password: &str,
) -> Result<i64, AppError> {
    let email = validate_admin(email, password)?;
    let hash = hash_password(password)?;
    if user_exists(db, &email).await? {
        return Err(AppError::field(
            "email",
            "An administrator with this email already exists.",
        ));
    }
    insert_user(db, org, &email, &hash).await
}

async fn user_exists(db: &impl ConnectionTrait, email: &str) -> Result<bool, AppError> {
    Ok(User::find()
        .filter(user::Column::EmailLower.eq(email.to_lowercase()))
        .count(db)
        .await?
        > 0)
}

async fn insert_user(
    db: &impl ConnectionTrait,
    org: OrgId,
    email: &str,
    hash: &str,
) -> Result<i64, AppError> {
    let user = user::ActiveModel {
        org_id: Set(org.get()),
        email: Set(email.to_string()),
        email_lower: Set(email.to_lowercase()),
        password_hash: Set(hash.to_string()),
        created_at: Set(now_ms()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(user.id)
}

/// Check a password and open a session. Returns the raw session token for the cookie.
pub async fn sign_in(
    db: &DatabaseConnection,
    throttle: &LoginThrottle,
    email: &str,
    password: &str,
) -> Result<String, AppError> {
    let key = email.trim().to_lowercase();
    throttle.check(&key)?;
    let user = User::find()
        .filter(user::Column::EmailLower.eq(key.as_str()))
        .one(db)
        .await?;
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let password = password.to_string();
    let ok = tokio::task::spawn_blocking(move || {
        verify_password(&password, hash.as_deref().unwrap_or_else(|| dummy_hash()))
    })
    .await
    .map_err(AppError::internal)?;
    match user {
        Some(user) if ok => {
            throttle.succeeded(&key);
            create_session(db, user.id, OrgId::verified(user.org_id)).await
        }
        _ => {
            let delay = throttle.failed(&key);
            tokio::time::sleep(delay).await;
            Err(AppError::BadRequest(
                "That email and password do not match an administrator.".into(),
            ))
        }
    }
}

pub async fn create_session(
    db: &impl ConnectionTrait,
    user_id: i64,
    org: OrgId,
) -> Result<String, AppError> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(AppError::internal)?;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let now = now_ms();
    Session::insert(session::ActiveModel {
        token_hash: Set(token_hash(&token)),
        user_id: Set(user_id),
        org_id: Set(org.get()),
        created_at: Set(now),
        expires_at: Set(now + SESSION_TTL_MS),
    })
    .exec_without_returning(db)
    .await?;
    Ok(token)
}

fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(FromQueryResult)]
struct SessionUser {
    user_id: i64,
    org_id: i64,
    email: String,
    org_name: String,
    default_region: String,
}

/// The administrator a session token belongs to, if it is valid and unexpired.
pub async fn user_for_token(
    db: &impl ConnectionTrait,
    token: &str,
) -> Result<Option<CurrentUser>, AppError> {
    if token.is_empty() || token.len() > 100 {
        return Ok(None);
    }
    let row = Session::find()
        .select_only()
        .column_as(user::Column::Id, "user_id")
        .column(user::Column::OrgId)
        .column(user::Column::Email)
        .column_as(organisation::Column::Name, "org_name")
        .column(organisation::Column::DefaultRegion)
        .join(JoinType::InnerJoin, session::Relation::User.def())
        .join(JoinType::InnerJoin, user::Relation::Organisation.def())
        .filter(session::Column::TokenHash.eq(token_hash(token)))
        .filter(session::Column::ExpiresAt.gt(now_ms()))
        .into_model::<SessionUser>()
        .one(db)
        .await?;
    Ok(row.map(|r| CurrentUser {
        user_id: r.user_id,
        org: OrgId::verified(r.org_id),
        email: r.email,
        org_name: r.org_name,
        default_region: r.default_region,
    }))
}

pub async fn end_session(db: &impl ConnectionTrait, token: &str) -> Result<(), AppError> {
    Session::delete_many()
        .filter(session::Column::TokenHash.eq(token_hash(token)))
        .exec(db)
        .await?;
    Ok(())
}

/// The session token in a request's cookies.
pub fn token_from_headers(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_string())
}

pub fn session_cookie(token: &str, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        SESSION_TTL_MS / 1000,
        if secure { "; Secure" } else { "" }
    )
}

pub fn clear_session_cookie(secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterY", &hash));
    }

    #[test]
    fn cookie_is_found_among_others() {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::COOKIE,
            "a=1; muster_session=tok; b=2".parse().unwrap(),
        );
        assert_eq!(token_from_headers(&h).as_deref(), Some("tok"));
    }

    #[test]
    fn short_passwords_and_bad_emails_are_refused() {
        let err = validate_admin("nope", "short").unwrap_err();
        assert!(err.field_message("email").is_some());
        assert!(err.field_message("password").is_some());
        assert!(validate_admin("a@example.com", "twelve chars!").is_ok());
    }

    #[test]
    fn session_cookie_flags() {
        let c = session_cookie("t", true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.ends_with("Secure"));
        assert!(!session_cookie("t", false).contains("Secure"));
    }
}
