//! The HTTP edge that is not a server function: request checks in front of
//! every route, and the routes that carry files. It may import any other
//! module of the backend; none imports it.

pub mod files;
pub mod guard;

pub use guard::guard;
