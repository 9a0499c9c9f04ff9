//! Everything that runs only on the server.

pub mod auth;
pub mod db;
pub mod demo;
pub mod directory;
pub mod guard;
pub mod import;
pub mod state;

pub use state::AppState;
