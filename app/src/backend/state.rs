//! Shared state handed to every request and server function.

use crate::backend::auth::{self, CurrentUser, LoginThrottle};
use crate::backend::connectors::HttpConfig;
use crate::backend::import::job::ImportConfig;
use crate::backend::vault::Vault;
use crate::model::AppError;
use axum::extract::FromRef;
use leptos::prelude::{use_context, LeptosOptions};
use sea_orm::DatabaseConnection;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub leptos_options: LeptosOptions,
    pub throttle: Arc<LoginThrottle>,
    /// Mark the session cookie `Secure` (when Muster is served over https).
    pub secure_cookies: bool,
    /// Where uploads go, how large they may be.
    pub imports: Arc<ImportConfig>,
    /// Seals integration credentials. `new` makes a throwaway key; the server
    /// sets the real one with [`AppState::with_vault`].
    pub vault: Arc<Vault>,
    /// How connectors reach HR and identity systems.
    pub providers: HttpConfig,
    set_up: Arc<AtomicBool>,
}

impl AppState {
    pub fn new(
        db: DatabaseConnection,
        leptos_options: LeptosOptions,
        secure_cookies: bool,
    ) -> Self {
        Self {
            db,
            leptos_options,
            throttle: Arc::default(),
            secure_cookies,
            imports: Arc::default(),
            vault: Arc::new(Vault::ephemeral()),
            providers: HttpConfig::new(false, std::time::Duration::from_secs(30)),
            set_up: Arc::default(),
        }
    }

    pub fn with_imports(mut self, imports: ImportConfig) -> Self {
        self.imports = Arc::new(imports);
        self
    }

    pub fn with_vault(mut self, vault: Vault) -> Self {
        self.vault = Arc::new(vault);
        self
    }

    pub fn with_providers(mut self, providers: HttpConfig) -> Self {
        self.providers = providers;
        self
    }

    /// Whether an organisation exists yet. Once true it stays true, so it is cached.
    pub async fn is_set_up(&self) -> Result<bool, AppError> {
        if self.set_up.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let done = auth::org_count(&self.db).await? > 0;
        if done {
            self.set_up.store(true, Ordering::Relaxed);
        }
        Ok(done)
    }

    /// The state provided to server functions and server-side rendering.
    pub fn from_context() -> Result<Self, AppError> {
        use_context::<Self>().ok_or_else(|| AppError::internal("AppState missing from context"))
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// The administrator behind the current server function call or page render.
pub async fn current_user() -> Result<CurrentUser, AppError> {
    let state = AppState::from_context()?;
    let parts = use_context::<http::request::Parts>().ok_or(AppError::Unauthenticated)?;
    let token = auth::token_from_headers(&parts.headers).ok_or(AppError::Unauthenticated)?;
    auth::user_for_token(&state.db, &token)
        .await?
        .ok_or(AppError::Unauthenticated)
}
