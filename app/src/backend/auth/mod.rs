//! Organisations, administrators, passwords and sessions.

mod device;
mod gate;
mod next;
mod setup_code;
mod shared_failures;
mod throttle;

pub use device::{DeviceKey, DEVICE_COOKIE, SECURE_DEVICE_COOKIE};
pub use gate::{HashGate, Lane, Ticket};
pub use next::{local_path, HOME};
pub use setup_code::{SetupCode, SetupCodeTooShort};
pub use throttle::{Attempt, LoginThrottle, PAIR_LOCK};

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

/// The session cookie over plain http (a local install).
pub const SESSION_COOKIE: &str = "muster_session";
/// The session cookie over https: the `__Host-` prefix makes the browser
/// refuse it unless it is `Secure`, for `/`, and set by this very host (no
/// sibling subdomain can plant or shadow it).
pub const SECURE_SESSION_COOKIE: &str = "__Host-muster_session";

/// How long sessions last: at most `lifetime` after signing in, and only while
/// used at least every `idle`.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    pub lifetime: std::time::Duration,
    pub idle: std::time::Duration,
}

impl Default for SessionPolicy {
    /// Seven days, and twelve hours idle.
    fn default() -> Self {
        Self {
            lifetime: std::time::Duration::from_secs(7 * 24 * 3600),
            idle: std::time::Duration::from_secs(12 * 3600),
        }
    }
}

/// A session's last use is written at most this often (not on every request),
/// or a quarter of the idle timeout if that is shorter.
const SEEN_EVERY_MS: i64 = 60_000;

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
pub const MIN_PASSWORD_LEN: usize = 12;
pub const ALREADY_SET_UP: &str = "Muster is already set up. Sign in instead.";

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
    insert_org_with_admin(db, org, email, password, false).await
}

/// Set Muster up: create the first organisation and its administrator,
/// exactly once however many setups arrive together (the others are told
/// it is already set up, and nothing of theirs is written).
pub async fn set_up(
    db: &DatabaseConnection,
    org: &NewOrganisation,
    email: &str,
    password: &str,
) -> Result<(OrgId, i64), AppError> {
    insert_org_with_admin(db, org, email, password, true).await
}

async fn insert_org_with_admin(
    db: &DatabaseConnection,
    org: &NewOrganisation,
    email: &str,
    password: &str,
    first: bool,
) -> Result<(OrgId, i64), AppError> {
    let org = validate_org(org)?;
    let email = validate_admin(email, password)?;
    let hash = hash_password(password)?;
    let tx = crate::backend::db::begin_write(db).await?;
    if first {
        // SQLite's write transaction already excludes every other writer;
        // PostgreSQL needs the table locked against concurrent inserts (a mode
        // that conflicts with itself) before counting, or two setups both count 0.
        if tx.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            tx.execute_unprepared("LOCK TABLE organisations IN SHARE ROW EXCLUSIVE MODE")
                .await?;
        }
        if Organisation::find().count(&tx).await? > 0 {
            return Err(AppError::Forbidden(ALREADY_SET_UP.into()));
        }
    }
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

/// A sign-in let through the throttle, holding a place at the hashing gate.
pub struct Admission {
    attempt: Attempt,
    ticket: Ticket,
}

/// The first step of a sign-in, before anything that costs: the throttle's
/// check and count, and a place in the gate's lane (the known browsers' one
/// when `device_cookie` is valid for `email`). `from` is the client's address.
pub async fn admit(
    throttle: &std::sync::Arc<LoginThrottle>,
    gate: &std::sync::Arc<HashGate>,
    devices: &DeviceKey,
    email: &str,
    from: std::net::IpAddr,
    device_cookie: Option<&str>,
) -> Result<Admission, AppError> {
    let device = device_cookie.and_then(|c| devices.verify(c, email));
    let attempt = throttle.begin(email, from, device)?.count_shared().await?;
    let lane = if attempt.from_known_device() {
        Lane::Known
    } else {
        Lane::Anyone
    };
    let ticket = gate.enter(lane)?;
    Ok(Admission { attempt, ticket })
}

/// An admission handed from the edge (which admits before it reads anything
/// else) to the `login` server function, in the request's extensions.
#[derive(Clone, Default)]
pub struct Admitted(std::sync::Arc<std::sync::Mutex<Option<Admission>>>);

impl Admitted {
    pub fn new(admission: Admission) -> Self {
        Self(std::sync::Arc::new(std::sync::Mutex::new(Some(admission))))
    }

    /// The admission, the first time it is asked for.
    pub fn take(&self) -> Option<Admission> {
        self.0.lock().ok()?.take()
    }
}

/// What a successful sign-in gives the browser.
pub struct SignedIn {
    /// The raw session token, for the session cookie.
    pub session: String,
    /// A fresh device cookie value for this browser and email.
    pub device: String,
}

/// Check a password and open a session, for an attempt [`admit`] let through.
pub async fn sign_in(
    db: &DatabaseConnection,
    policy: &SessionPolicy,
    devices: &DeviceKey,
    admission: Admission,
    email: &str,
    password: &str,
) -> Result<SignedIn, AppError> {
    let Admission { attempt, ticket } = admission;
    let key = email.trim().to_lowercase();
    let user = User::find()
        .filter(user::Column::EmailLower.eq(key.as_str()))
        .one(db)
        .await?;
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let password = password.to_string();
    let ok = ticket
        .run(move || verify_password(&password, hash.as_deref().unwrap_or_else(|| dummy_hash())))
        .await?;
    match user {
        Some(user) if ok => {
            attempt.succeeded().await;
            Ok(SignedIn {
                session: create_session(db, policy, user.id, OrgId::verified(user.org_id)).await?,
                device: devices.issue(&user.email),
            })
        }
        _ => {
            tokio::time::sleep(attempt.delay_if_failed).await;
            Err(AppError::BadRequest(
                "That email and password do not match an administrator.".into(),
            ))
        }
    }
}

pub async fn create_session(
    db: &impl ConnectionTrait,
    policy: &SessionPolicy,
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
        expires_at: Set(now.saturating_add(ms(policy.lifetime))),
        last_seen_at: Set(now),
    })
    .exec_without_returning(db)
    .await?;
    Ok(token)
}

/// The SHA-256 of a bearer token, in hex: what is stored of it.
pub(in crate::backend) fn token_hash(token: &str) -> String {
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
    last_seen_at: i64,
}

/// Write that session `hash` was used at `now`. The request that used it
/// does not wait for this: on SQLite the write waits its turn behind the
/// writers ahead (an upload's batches and its indexing hold the lock for
/// seconds at a time), and a progress poll would wait with it.
async fn touch(db: DatabaseConnection, hash: String, now: i64) {
    let written = async {
        let (_turn, tx) = crate::backend::db::begin_write_in_turn(&db).await?;
        Session::update_many()
            .col_expr(
                session::Column::LastSeenAt,
                sea_orm::sea_query::Expr::value(now),
            )
            .filter(session::Column::TokenHash.eq(hash))
            .filter(session::Column::LastSeenAt.lt(now))
            .exec(&tx)
            .await?;
        tx.commit().await
    };
    if let Err(e) = written.await {
        tracing::warn!("writing a session's last use: {e}");
    }
}

/// The administrator a session token belongs to, if the session is neither
/// past its lifetime nor idle for longer than the policy allows. Using it
/// keeps it alive (written at most once a minute, beside the request: see
/// [`touch`]).
pub async fn user_for_token(
    db: &DatabaseConnection,
    policy: &SessionPolicy,
    token: &str,
) -> Result<Option<CurrentUser>, AppError> {
    if token.is_empty() || token.len() > 100 {
        return Ok(None);
    }
    let now = now_ms();
    let hash = token_hash(token);
    let row = Session::find()
        .select_only()
        .column_as(user::Column::Id, "user_id")
        .column(user::Column::OrgId)
        .column(user::Column::Email)
        .column_as(organisation::Column::Name, "org_name")
        .column(organisation::Column::DefaultRegion)
        .column(session::Column::LastSeenAt)
        .join(JoinType::InnerJoin, session::Relation::User.def())
        .join(JoinType::InnerJoin, user::Relation::Organisation.def())
        .filter(session::Column::TokenHash.eq(hash.as_str()))
        .filter(session::Column::ExpiresAt.gt(now))
        .filter(session::Column::LastSeenAt.gt(now.saturating_sub(ms(policy.idle))))
        .into_model::<SessionUser>()
        .one(db)
        .await?;
    let Some(r) = row else { return Ok(None) };
    if now - r.last_seen_at >= (ms(policy.idle) / 4).min(SEEN_EVERY_MS) {
        tokio::spawn(touch(db.clone(), hash, now));
    }
    Ok(Some(CurrentUser {
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

/// End every session of `user` but the one of `keep` (a token), if given.
/// Returns how many ended.
pub async fn end_sessions_of(
    db: &impl ConnectionTrait,
    user: &CurrentUser,
    keep: Option<&str>,
) -> Result<u64, AppError> {
    let mut delete = Session::delete_many()
        .filter(session::Column::UserId.eq(user.user_id))
        .filter(session::Column::OrgId.eq(user.org.get()));
    if let Some(token) = keep {
        delete = delete.filter(session::Column::TokenHash.ne(token_hash(token)));
    }
    Ok(delete.exec(db).await?.rows_affected)
}

/// Delete the sessions past their lifetime or idle for too long.
pub async fn sweep_sessions(
    db: &impl ConnectionTrait,
    policy: &SessionPolicy,
) -> Result<u64, AppError> {
    let now = now_ms();
    Ok(Session::delete_many()
        .filter(
            sea_orm::Condition::any()
                .add(session::Column::ExpiresAt.lte(now))
                .add(session::Column::LastSeenAt.lte(now.saturating_sub(ms(policy.idle)))),
        )
        .exec(db)
        .await?
        .rows_affected)
}

/// Sweep ended sessions every few minutes, for as long as the server runs.
pub fn spawn_session_sweeper(db: DatabaseConnection, policy: SessionPolicy) {
    crate::backend::db::every(
        std::time::Duration::from_secs(300),
        "sweeping sessions",
        move || {
            let db = db.clone();
            async move {
                let n = sweep_sessions(&db, &policy).await?;
                if n > 0 {
                    tracing::debug!(sessions = n, "ended sessions deleted");
                }
                Ok(())
            }
        },
    );
}

/// Change `user`'s password: the current one must be right; every other
/// session of theirs ends (the one of `keep` stays signed in).
pub async fn change_password(
    db: &DatabaseConnection,
    gate: &std::sync::Arc<HashGate>,
    user: &CurrentUser,
    current: &str,
    new: &str,
    keep: Option<&str>,
) -> Result<u64, AppError> {
    let row = User::find_by_id(user.user_id)
        .filter(user::Column::OrgId.eq(user.org.get()))
        .one(db)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let stored = row.password_hash.clone();
    let current = current.to_string();
    if !gate.run(move || verify_password(&current, &stored)).await? {
        return Err(AppError::field(
            "current_password",
            "That is not your current password.",
        ));
    }
    if new.chars().count() < MIN_PASSWORD_LEN {
        return Err(AppError::field(
            "new_password",
            "Use a password of at least 12 characters.",
        ));
    }
    let new = new.to_string();
    let hash = gate.run(move || hash_password(&new)).await??;
    let tx = crate::backend::db::begin_write(db).await?;
    let mut active: user::ActiveModel = row.into();
    active.password_hash = Set(hash);
    active.update(&tx).await?;
    let ended = end_sessions_of(&tx, user, keep).await?;
    tx.commit().await?;
    Ok(ended)
}

/// The session cookie's name: the `__Host-` one when served over https.
pub fn cookie_name(https: bool) -> &'static str {
    if https {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

/// The device cookie's name: the `__Host-` one when served over https.
pub fn device_cookie_name(https: bool) -> &'static str {
    if https {
        SECURE_DEVICE_COOKIE
    } else {
        DEVICE_COOKIE
    }
}

/// The value of cookie `name` among a request's cookies.
pub fn cookie_value(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_string())
}

/// The session token in a request's cookies (the cookie of the scheme the
/// request came by: over https, only the `__Host-` one counts).
pub fn token_from_headers(headers: &http::HeaderMap, https: bool) -> Option<String> {
    cookie_value(headers, cookie_name(https))
}

/// A `Set-Cookie` value: never readable by scripts, for the whole site, and
/// `Secure` over https (the `__Host-` names require it).
fn cookie(name: &str, value: &str, max_age: u64, same_site: &str, https: bool) -> String {
    format!(
        "{name}={value}; Path=/; HttpOnly; SameSite={same_site}; Max-Age={max_age}{}",
        if https { "; Secure" } else { "" }
    )
}

pub fn session_cookie(token: &str, policy: &SessionPolicy, https: bool) -> String {
    cookie(
        cookie_name(https),
        token,
        policy.lifetime.as_secs(),
        "Lax",
        https,
    )
}

pub fn clear_session_cookie(https: bool) -> String {
    cookie(cookie_name(https), "", 0, "Lax", https)
}

/// The device cookie: sent only with Muster's own requests (`Strict`).
pub fn device_cookie(value: &str, https: bool) -> String {
    cookie(
        device_cookie_name(https),
        value,
        device::DEVICE_MAX_AGE.as_secs(),
        "Strict",
        https,
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
        assert_eq!(token_from_headers(&h, false).as_deref(), Some("tok"));
        // Over https only the __Host- cookie counts: a plain one could have
        // been planted by a sibling subdomain.
        assert_eq!(token_from_headers(&h, true), None);
        h.insert(
            http::header::COOKIE,
            "muster_session=planted; __Host-muster_session=real"
                .parse()
                .unwrap(),
        );
        assert_eq!(token_from_headers(&h, true).as_deref(), Some("real"));
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
        let policy = SessionPolicy::default();
        let c = session_cookie("t", &policy, true);
        assert!(c.starts_with("__Host-muster_session=t; Path=/;"), "{c}");
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.ends_with("Secure"));
        assert!(!c.contains("Domain"));
        let plain = session_cookie("t", &policy, false);
        assert!(plain.starts_with("muster_session=t;") && !plain.contains("Secure"));
        assert!(clear_session_cookie(true).starts_with("__Host-muster_session=;"));
    }
}
