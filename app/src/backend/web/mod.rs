//! The HTTP edge that is not a server function: request checks in front of
//! every route, and the routes that carry files. It may import any other
//! module of the backend; none imports it.

pub mod files;
pub mod guard;
pub mod headers;
pub mod sign_in;

pub use guard::{finish_what_starts, guard};
pub use headers::{security_headers, set_page_policy};
pub use sign_in::admit_sign_in;
