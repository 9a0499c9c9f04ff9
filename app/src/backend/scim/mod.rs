//! The SCIM 2.0 service provider (RFC 7643/7644) that Entra ID and Okta push
//! users and groups into, at `/scim/v2`.
//!
//! - `rate`: how fast one token may send requests (429 beyond);
//! - `sources`: the identity providers that push (SCIM sources) and their
//!   bearer tokens, managed in the Integrations tab;
//! - `http`: the protocol's edge: the router, the token check, SCIM errors
//!   and media type, and the discovery endpoints (`discovery/` holds their
//!   documents);
//! - `users`: Users, each a contact and the resource as written;
//! - `groups`: Groups, each a group of the source and the resource as
//!   written, its members being its memberships;
//! - `resource`: what Users and Groups share: list parameters, the
//!   attributes returned, `meta` and ETags;
//! - `patch`: PATCH operations applied to a resource as JSON;
//! - `filter`: the filter and PATCH-path grammar, matched against resources
//!   as JSON.

pub mod filter;
pub mod groups;
pub mod http;
mod patch;
pub mod rate;
mod resource;
pub mod sources;
pub mod users;
