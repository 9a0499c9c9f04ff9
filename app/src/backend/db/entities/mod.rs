//! SeaORM entities: one per table of plain records. Timestamps are
//! milliseconds since the Unix epoch (`db::now_ms`). The search index
//! (`contacts.search_text`, `search_key` and SQLite's `contacts_fts`) is kept
//! by `directory`, with SQL of its own.

pub mod audit_event;
pub mod contact;
pub mod contact_group;
pub mod delivery;
pub mod group_member;
pub mod import_job;
pub mod import_problem;
pub mod incident;
pub mod incident_message;
pub mod incident_recipient;
pub mod integration;
pub mod organisation;
pub mod scenario;
pub mod scim_group;
pub mod scim_source;
pub mod scim_token;
pub mod scim_user;
pub mod session;
pub mod sign_in_failure;
pub mod sms_setting;
pub mod sync_change;
pub mod sync_run;
pub mod upload_chunk;
pub mod user;

pub use audit_event::Entity as AuditEvent;
pub use contact::Entity as Contact;
pub use contact_group::Entity as ContactGroup;
pub use group_member::Entity as GroupMember;
pub use import_job::Entity as ImportJob;
pub use import_problem::Entity as ImportProblem;
pub use incident::Entity as Incident;
pub use integration::Entity as Integration;
pub use organisation::Entity as Organisation;
pub use scenario::Entity as Scenario;
pub use scim_group::Entity as ScimGroup;
pub use scim_source::Entity as ScimSource;
pub use scim_token::Entity as ScimToken;
pub use scim_user::Entity as ScimUser;
pub use session::Entity as Session;
pub use sync_change::Entity as SyncChange;
pub use sync_run::Entity as SyncRun;
pub use user::Entity as User;
