//! Organisations, administrators, passwords and sessions.

mod throttle;

pub use throttle::LoginThrottle;

use crate::backend::db::{now_ms, Sql};
use crate::backend::state::AppState;
use crate::model::AppError;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use sea_orm::{ConnectionTrait, DatabaseConnection, FromQueryResult};
use sha2::{Digest, Sha256};

pub const SESSION_COOKIE: &str = "muster_session";
const SESSION_TTL_MS: i64 = 7 * 24 * 3600 * 1000;
pub const MIN_PASSWORD_LEN: usize = 12;

/// An organisation id. Only this module makes one, from a verified session or a
/// new organisation, so a query scoped by `OrgId` is scoped to the caller's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrgId(i64);

impl OrgId {
    pub fn get(self) -> i64 {
        self.0
    }

    /// For the command line and tests, which act as the operator of the instance.
    pub fn trusted(id: i64) -> Self {
        Self(id)
    }
}

/// The administrator behind a request.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user_id: i64,
    pub org: OrgId,
    pub email: String,
    pub org_name: String,
    pub default_region: String,
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct OrgRow {
    pub id: i64,
    pub name: String,
    pub default_region: String,
    pub time_zone: String,
}

pub async fn org_count(db: &impl ConnectionTrait) -> Result<i64, AppError> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT COUNT(*) FROM organisations");
    Ok(sql.scalar_i64(db).await?.unwrap_or(0))
}

pub async fn org_by_name(
    db: &impl ConnectionTrait,
    name: &str,
) -> Result<Option<OrgRow>, AppError> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT id, name, default_region, time_zone FROM organisations WHERE name = ")
        .bind(name)
        .push(" ORDER BY id LIMIT 1");
    Ok(sql.one(db).await?)
}

pub async fn org(db: &impl ConnectionTrait, org: OrgId) -> Result<OrgRow, AppError> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT id, name, default_region, time_zone FROM organisations WHERE id = ")
        .bind(org.0);
    sql.one(db).await?.ok_or(AppError::NotFound)
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
            "Enter the organisation's name (up to 100 characters).",
        ));
    }
    let region = org.default_region.trim().to_ascii_uppercase();
    if region.parse::<phonenumber::country::Id>().is_err() {
        errors.push((
            "default_region",
            "Choose a country for phone numbers without a country code.",
        ));
    }
    let tz = org.time_zone.trim();
    if tz.is_empty() || tz.len() > 64 {
        errors.push(("time_zone", "Choose a time zone."));
    }
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    Ok(NewOrganisation {
        name: name.to_string(),
        default_region: region,
        time_zone: tz.to_string(),
    })
}

fn invalid(errors: Vec<(&str, &str)>) -> AppError {
    AppError::Invalid(
        errors
            .into_iter()
            .map(|(f, m)| crate::model::FieldError {
                field: f.to_string(),
                message: m.to_string(),
            })
            .collect(),
    )
}

pub fn validate_admin(email: &str, password: &str) -> Result<String, AppError> {
    let mut errors = Vec::new();
    let email = email.trim();
    if crate::backend::directory::parse_email(email).is_err() {
        errors.push((
            "email",
            "Enter a valid email address, like name@example.com.",
        ));
    }
    if password.chars().count() < MIN_PASSWORD_LEN {
        errors.push(("password", "Use a password of at least 12 characters."));
    }
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    Ok(email.to_string())
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
    let now = now_ms();
    let mut sql = Sql::new(tx.get_database_backend());
    sql.push("INSERT INTO organisations (name, default_region, time_zone, created_at) VALUES (")
        .bind(org.name.as_str())
        .push(", ")
        .bind(org.default_region.as_str())
        .push(", ")
        .bind(org.time_zone.as_str())
        .push(", ")
        .bind(now)
        .push(") RETURNING id");
    let org_id = sql
        .scalar_i64(&tx)
        .await?
        .ok_or_else(|| AppError::internal("no id"))?;
    let user_id = insert_user(&tx, OrgId(org_id), &email, &hash).await?;
    tx.commit().await?;
    Ok((OrgId(org_id), user_id))
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
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT COUNT(*) FROM users WHERE email_lower = ")
        .bind(email.to_lowercase());
    Ok(sql.scalar_i64(db).await?.unwrap_or(0) > 0)
}

async fn insert_user(
    db: &impl ConnectionTrait,
    org: OrgId,
    email: &str,
    hash: &str,
) -> Result<i64, AppError> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("INSERT INTO users (org_id, email, email_lower, password_hash, created_at) VALUES (")
        .bind(org.0)
        .push(", ")
        .bind(email)
        .push(", ")
        .bind(email.to_lowercase())
        .push(", ")
        .bind(hash)
        .push(", ")
        .bind(now_ms())
        .push(") RETURNING id");
    sql.scalar_i64(db)
        .await?
        .ok_or_else(|| AppError::internal("no user id"))
}

#[derive(FromQueryResult)]
struct UserLogin {
    id: i64,
    org_id: i64,
    password_hash: String,
}

/// Check a password and open a session. Returns the raw session token for the cookie.
pub async fn sign_in(state: &AppState, email: &str, password: &str) -> Result<String, AppError> {
    let key = email.trim().to_lowercase();
    state.throttle.check(&key)?;
    let db = &state.db;
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT id, org_id, password_hash FROM users WHERE email_lower = ")
        .bind(key.as_str());
    let user: Option<UserLogin> = sql.one(db).await?;
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let password = password.to_string();
    let ok = tokio::task::spawn_blocking(move || {
        verify_password(&password, hash.as_deref().unwrap_or_else(|| dummy_hash()))
    })
    .await
    .map_err(AppError::internal)?;
    match user {
        Some(user) if ok => {
            state.throttle.succeeded(&key);
            create_session(db, user.id, OrgId(user.org_id)).await
        }
        _ => {
            let delay = state.throttle.failed(&key);
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
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("INSERT INTO sessions (token_hash, user_id, org_id, created_at, expires_at) VALUES (")
        .bind(token_hash(&token))
        .push(", ")
        .bind(user_id)
        .push(", ")
        .bind(org.0)
        .push(", ")
        .bind(now)
        .push(", ")
        .bind(now + SESSION_TTL_MS)
        .push(")");
    sql.execute(db).await?;
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
    let mut sql = Sql::new(db.get_database_backend());
    sql.push(
        "SELECT u.id AS user_id, u.org_id, u.email, o.name AS org_name, o.default_region \
         FROM sessions s JOIN users u ON u.id = s.user_id JOIN organisations o ON o.id = u.org_id \
         WHERE s.token_hash = ",
    )
    .bind(token_hash(token))
    .push(" AND s.expires_at > ")
    .bind(now_ms());
    let row: Option<SessionUser> = sql.one(db).await?;
    Ok(row.map(|r| CurrentUser {
        user_id: r.user_id,
        org: OrgId(r.org_id),
        email: r.email,
        org_name: r.org_name,
        default_region: r.default_region,
    }))
}

pub async fn end_session(db: &impl ConnectionTrait, token: &str) -> Result<(), AppError> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("DELETE FROM sessions WHERE token_hash = ")
        .bind(token_hash(token));
    sql.execute(db).await?;
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
