//! Service templates: what fields a credential of a given kind has, and the validation of
//! user input against them.
//!
//! A template is JSON data in `schemas/templates/<name>.json`, embedded at compile time
//! and parsed once into the [`Catalog`]. Each one lists typed fields (text, secret, select,
//! json, file), which may be required, have a default, depend on a select (`when`) and map
//! to an environment variable (`env`), and optionally a connection test (`verify`, run by
//! [`crate::verify`]: HTTP, TCP, AWS STS, Google service-account token, SQL or SSH). Each
//! template names the [`Category`] a console groups it under. The `custom` template is
//! free-form (see [`Template::validate`]). `docs/TEMPLATES.md` describes the format.
//!
//! **Invariants:**
//! - Template definitions are checked when loaded: conditions name an earlier select field
//!   and one of its options, defaults are valid, `{{field}}` placeholders in connection
//!   tests name existing fields that are present whenever the test runs. A template that
//!   fails these checks is never in a catalog.
//! - [`Template::validate`] splits a valid input into public and secret values. Secret
//!   values only ever live in [`zeroize::Zeroizing`] strings inside [`Validated`], whose
//!   `Debug` prints `[REDACTED]` for them.
//! - No error of this module contains a supplied value: errors name fields, conditions and
//!   a template's own options only. Field and template names taken from input are
//!   truncated to 64 characters and stripped of control characters before they appear in
//!   an error.
//!
//! The files: `spec` holds the definition types, `probe` the connection tests, `check`
//! the load-time checks of a definition, `validate` the checks of user input, `catalog`
//! the builtin set and `error` the one error type.

mod catalog;
mod check;
mod error;
mod probe;
mod spec;
mod validate;

#[cfg(test)]
mod tests;

pub use catalog::Catalog;
pub use error::TemplateError;
pub(crate) use probe::{segments, Segment};
pub use probe::{
    AuthPlacement, AwsStsProbe, GcpTokenProbe, HttpMethod, HttpProbe, Probe, SqlEngine, SqlProbe,
    SshProbe, TcpProbe, VerifySpec, GCP_DEFAULT_SCOPE,
};
pub use spec::{Category, Condition, EnvMode, FieldSpec, FieldType, Template};
pub use validate::{check_kv_data, Validated, MAX_KV_KEYS, MAX_KV_KEY_BYTES};

/// The longest accepted value of one field, in bytes (after JSON compaction for json
/// fields).
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// The most fields a free-form (`custom`) credential may have.
pub const MAX_FREE_FORM_FIELDS: usize = 64;

/// The key of a free-form input that lists which of its fields are public.
pub const PUBLIC_FIELDS_KEY: &str = "public_fields";
