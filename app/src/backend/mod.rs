//! Everything that runs only on the server.

pub mod auth;
pub mod connectors;
pub mod db;
pub mod demo;
pub mod directory;
pub mod guard;
pub mod import;
pub mod integrations;
pub mod state;
pub mod vault;

pub use state::AppState;
