//! What every channel's sender (email, SMS) reports of a message it could
//! not hand over. Its own module, so that the channels and the outbox that
//! drives them depend on it, not on each other.

/// Why a message could not be handed over, and whether trying again may help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The server said to try later, or could not be reached.
    Temporary(String),
    /// The server refused it for good (a bad address, say).
    Permanent(String),
}
