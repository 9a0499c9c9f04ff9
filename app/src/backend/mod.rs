//! Everything that runs only on the server.

pub mod audit;
pub mod auth;
pub mod connectors;
pub mod db;
pub mod demo;
pub mod directory;
pub mod domain;
pub mod import;
pub mod incidents;
pub mod integrations;
pub mod recipients;
pub mod scenarios;
pub mod scim;
pub mod sending;
pub mod sms;
pub mod state;
pub mod vault;
pub mod web;

pub use state::AppState;
