//! The SCIM 2.0 service provider (RFC 7643/7644) that Entra ID and Okta push
//! users and groups into. `filter` holds its filter and PATCH-path grammar.

pub mod filter;
