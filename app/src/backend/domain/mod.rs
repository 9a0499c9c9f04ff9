//! Muster's validated values. Each type can hold only a valid value, made by its
//! `parse` constructor, so code that receives one needs no re-check. This module
//! imports nothing else of the backend; every other module may import it.

mod contact;
mod email;
mod org;
mod phone;
mod text;

pub use contact::{validate, validate_with, ValidContact};
pub use email::{Email, EmailError};
pub use org::OrgId;
pub use phone::{PhoneE164, PhoneError, Region, RegionError};
pub use text::{clean, Label, LabelError, Name, NameError, TEXT_MAX};
