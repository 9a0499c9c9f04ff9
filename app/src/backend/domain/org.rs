//! The organisation every query is scoped to.

/// An organisation id. Outside tests and the command line, only a verified
/// session, a SCIM token or a new organisation makes one, so a query scoped by `OrgId` is
/// scoped to the caller's own organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrgId(i64);

impl OrgId {
    pub fn get(self) -> i64 {
        self.0
    }

    /// An organisation that a session, a SCIM token or a new organisation's
    /// row vouches for (`auth` and `scim` only).
    pub(in crate::backend) fn verified(id: i64) -> Self {
        Self(id)
    }

    /// For the command line, tests and background work, which act as the
    /// operator of the instance on an id read from the database.
    pub fn trusted(id: i64) -> Self {
        Self(id)
    }
}

impl std::fmt::Display for OrgId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
