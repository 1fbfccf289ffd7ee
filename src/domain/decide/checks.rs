//! Input rules that need no state: names, service names, expiry, rotation schedules.

use super::DomainError;
use crate::domain::names;

/// Checks a tenant or principal name: 1–64 characters of `[A-Za-z0-9._@-]`.
pub fn check_simple_name(field: &str, name: &str) -> Result<(), DomainError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid(
            field,
            format!("{field} must be 1-64 characters of letters, digits, '.', '_', '-', '@'"),
        ))
    }
}

/// Checks a credential name and returns its stored (NFC) form: 1–128 bytes of visible
/// characters (no control, bidi-control or zero-width character), without '?', '#',
/// empty path segments or a leading/trailing '/'.
pub fn check_credential_name(name: &str) -> Result<String, DomainError> {
    let name = names::nfc(name);
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('/')
        && !name.ends_with('/')
        && !name.contains("//")
        && name
            .chars()
            .all(|c| names::allowed_char(c) && c != '?' && c != '#');
    if ok {
        Ok(name)
    } else {
        Err(DomainError::invalid("name", "name must be 1-128 visible characters (no control, bidi-control or zero-width characters) without '?', '#', empty path segments or a leading/trailing '/'"))
    }
}

/// Checks a service name (what `/v1/resolve` and environment fallbacks are keyed by):
/// 1–64 characters of `a-z`, `0-9`, `_` and `-`.
pub fn check_service(service: &str) -> Result<(), DomainError> {
    let ok = !service.is_empty()
        && service.len() <= 64
        && service
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "service",
            "service must be 1-64 characters of a-z, 0-9, '_' or '-'",
        ))
    }
}

pub(crate) fn check_expiry(expires_at_ms: Option<i64>, now_ms: i64) -> Result<(), DomainError> {
    if expires_at_ms.is_some_and(|e| e <= now_ms) {
        return Err(DomainError::invalid(
            "expires_at",
            "expires_at must be in the future",
        ));
    }
    Ok(())
}

pub(crate) fn check_rotate_days(days: Option<u32>) -> Result<(), DomainError> {
    if days.is_some_and(|d| d == 0 || d > 3650) {
        return Err(DomainError::invalid(
            "rotate_every_days",
            "rotate_every_days must be between 1 and 3650",
        ));
    }
    Ok(())
}
