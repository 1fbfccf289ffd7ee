//! Vault's parsing of request values, so clients written against Vault send what they
//! always send: Go's `strconv.ParseBool` (`?list=`), and the weak decoding Vault's
//! request framework applies to typed fields (mapstructure `WeakDecode`): booleans from
//! `true`/`"t"`/`"1"`/`1`, integers from numbers or strings (`"1"`, `"0x10"`), integer
//! lists from arrays of either or a comma-separated string (`{"versions":["1"]}` is what
//! the `vault` CLI sends), and durations as seconds or Go duration strings.

use serde_json::Value;

/// Go's `strconv.ParseBool`: `1 t T TRUE true True` and `0 f F FALSE false False`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A boolean field: a JSON boolean, a string `ParseBool` accepts (the empty string is
/// false), or a number (non-zero is true).
pub fn weak_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.is_empty() => Some(false),
        Value::String(s) => parse_bool(s),
        Value::Number(n) => n.as_f64().map(|f| f != 0.0),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`: an optional sign, then decimal, `0x`, `0o`/`0`
/// or `0b` digits, with `_` between digits allowed after a base prefix or between
/// decimal digits.
pub fn parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    let magnitude = i128::from_str_radix(&clean, radix).ok()?;
    i64::try_from(if neg { -magnitude } else { magnitude }).ok()
}

/// An integer field: a JSON integer, a string [`parse_int`] accepts, or a boolean (1/0).
pub fn weak_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => parse_int(s.trim()),
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// A comma-separated integer list field (`versions`): an array of integers or integer
/// strings, a comma-separated string, or one integer.
pub fn weak_int_list(v: &Value) -> Option<Vec<i64>> {
    match v {
        Value::Array(items) => items.iter().map(weak_int).collect(),
        Value::String(s) if s.trim().is_empty() => Some(vec![]),
        Value::String(s) => s.split(',').map(|p| parse_int(p.trim())).collect(),
        Value::Null => Some(vec![]),
        other => weak_int(other).map(|n| vec![n]),
    }
}

/// A duration field in seconds: an integer (seconds) or a Go duration string such as
/// `30m`, `1h30m` or `768h` (fractions are truncated to whole seconds, as Vault does).
pub fn weak_duration_seconds(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => {
            let s = s.trim();
            if let Some(n) = parse_int(s) {
                return Some(n);
            }
            go_duration_seconds(s)
        }
        Value::Bool(_) | Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// Parses a Go duration (`time.ParseDuration`) to whole seconds.
fn go_duration_seconds(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    let mut nanos: f64 = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let number: f64 = rest[..end].parse().ok()?;
        rest = &rest[end..];
        let (unit, scale) = [
            ("ns", 1.0),
            ("us", 1e3),
            ("µs", 1e3),
            ("ms", 1e6),
            ("s", 1e9),
            ("m", 60e9),
            ("h", 3600e9),
        ]
        .into_iter()
        .find(|(u, _)| rest.starts_with(u))?;
        rest = &rest[unit.len()..];
        nanos += number * scale;
    }
    let secs = (nanos / 1e9).trunc();
    if !secs.is_finite() || secs > i64::MAX as f64 {
        return None;
    }
    Some(if neg { -(secs as i64) } else { secs as i64 })
}

/// Seconds as Go's `time.Duration.String()` prints them: `0s`, `30s`, `30m0s`,
/// `1h30m0s`, `768h0m0s`.
pub fn format_duration(secs: i64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let sign = if secs < 0 { "-" } else { "" };
    let s = secs.unsigned_abs();
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    if h > 0 {
        format!("{sign}{h}h{m}m{sec}s")
    } else if m > 0 {
        format!("{sign}{m}m{sec}s")
    } else {
        format!("{sign}{sec}s")
    }
}

/// The first value of `name` in a raw query string, percent-decoded (Go's
/// `url.Values.Get`).
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (percent_decode(k) == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(v) => {
                    out.push(v);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_parse_bool() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        for bad in ["", "yes", "tRUE", "2", " true"] {
            assert_eq!(parse_bool(bad), None, "{bad}");
        }
        assert_eq!(weak_bool(&json!("")), Some(false));
        assert_eq!(weak_bool(&json!(1)), Some(true));
        assert_eq!(weak_bool(&json!("cats")), None);
    }

    #[test]
    fn weak_integers_and_lists() {
        assert_eq!(weak_int(&json!("12")), Some(12));
        assert_eq!(weak_int(&json!(-1)), Some(-1));
        assert_eq!(weak_int(&json!("0x10")), Some(16));
        assert_eq!(weak_int(&json!("1_000")), Some(1000));
        assert_eq!(weak_int(&json!("1.5")), None);
        assert_eq!(weak_int(&json!(1.5)), None);
        assert_eq!(weak_int_list(&json!(["1", 2])), Some(vec![1, 2]));
        assert_eq!(weak_int_list(&json!("1,3")), Some(vec![1, 3]));
        assert_eq!(weak_int_list(&json!(4)), Some(vec![4]));
        assert_eq!(weak_int_list(&json!(["x"])), None);
    }

    #[test]
    fn durations_as_vault_prints_them() {
        let d = |v: Value| weak_duration_seconds(&v).map(format_duration);
        assert_eq!(d(json!("30m")).as_deref(), Some("30m0s"));
        assert_eq!(d(json!("30m0s")).as_deref(), Some("30m0s"));
        assert_eq!(d(json!("0s")).as_deref(), Some("0s"));
        assert_eq!(d(json!(90)).as_deref(), Some("1m30s"));
        assert_eq!(d(json!("768h")).as_deref(), Some("768h0m0s"));
        assert_eq!(d(json!("1.5h")).as_deref(), Some("1h30m0s"));
        assert_eq!(d(json!("1d")), None);
    }

    #[test]
    fn query_values_are_decoded() {
        assert_eq!(
            query_param(Some("list=True&x=1"), "list").as_deref(),
            Some("True")
        );
        assert_eq!(query_param(Some("a=%31"), "a").as_deref(), Some("1"));
        assert_eq!(query_param(None, "a"), None);
    }
}
