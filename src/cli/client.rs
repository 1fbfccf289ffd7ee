//! The HTTP client of the command line: a small typed wrapper over the server's API.
//!
//! Every failure becomes a [`CliError`] whose message says what happened in words a
//! person can act on, and whose exit code says the same to a script (see [`EXIT_CODES`]).
//!
//! **Invariant:** an error message comes from the server's error body (which never
//! carries a secret) or from our own text; request bodies and the token are never part
//! of one.

use super::config::{ConnArgs, Connection};
use super::error::{CliError, AUTH, NOT_FOUND, UNAVAILABLE};
use super::output::Out;
use serde_json::Value;
use std::time::Duration;

/// The exit code for an HTTP error status and the message to show.
pub fn classify(status: u16, body: &Value) -> CliError {
    let err = &body["error"];
    let message = err["message"].as_str().unwrap_or("").to_string();
    let code = err["code"].as_str().unwrap_or("");
    let mut text = if message.is_empty() {
        format!("the server answered HTTP {status}")
    } else {
        message
    };
    if let Some(field) = err["field"].as_str() {
        if !text.contains(field) {
            text = format!("{text} (field `{field}`)");
        }
    }
    match status {
        401 => CliError::new(
            AUTH,
            "the token was rejected (run `credledger login` or set CREDLEDGER_TOKEN)",
        ),
        403 => CliError::new(AUTH, format!("permission denied: {text}")),
        404 => CliError::new(NOT_FOUND, text),
        s if s >= 500 => CliError::new(UNAVAILABLE, format!("the server failed: {text}")),
        _ if code.is_empty() => CliError::failed(text),
        _ => CliError::failed(format!("{text} [{code}]")),
    }
}

/// A connection to one server with one token.
pub struct Client {
    http: reqwest::blocking::Client,
    addr: String,
    token: Option<zeroize::Zeroizing<String>>,
}

impl Client {
    pub fn new(conn: &Connection) -> Result<Self, CliError> {
        let http = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("credledger-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::failed(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client {
            http,
            addr: conn.addr.trim_end_matches('/').to_string(),
            token: conn.token.clone(),
        })
    }

    /// Resolves the connection from the real environment and builds a client over it;
    /// also returns the output style the options ask for.
    pub fn connect(args: &ConnArgs) -> Result<(Self, Out), CliError> {
        let conn = Connection::resolve(args, &|k| std::env::var(k).ok())?;
        Ok((Client::new(&conn)?, conn.out))
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn get(&self, path: &str) -> Result<Value, CliError> {
        self.json(self.http.get(self.url(path)))
    }

    pub fn get_query(&self, path: &str, query: &[(&str, String)]) -> Result<Value, CliError> {
        self.json(self.http.get(self.url(path)).query(query))
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<Value, CliError> {
        self.json(self.http.post(self.url(path)).json(body))
    }

    pub fn patch(&self, path: &str, body: &Value) -> Result<Value, CliError> {
        self.json(self.http.patch(self.url(path)).json(body))
    }

    pub fn put(&self, path: &str, body: &Value) -> Result<Value, CliError> {
        self.json(self.http.put(self.url(path)).json(body))
    }

    pub fn post_empty(&self, path: &str) -> Result<Value, CliError> {
        self.json(self.http.post(self.url(path)))
    }

    pub fn delete(&self, path: &str) -> Result<Value, CliError> {
        self.json(self.http.delete(self.url(path)))
    }

    /// A streamed GET (audit export): the response, checked for success.
    pub fn stream(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<reqwest::blocking::Response, CliError> {
        self.send(self.http.get(self.url(path)).query(query))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.addr)
    }

    fn unreachable(&self, e: &reqwest::Error) -> CliError {
        let mut cause: &dyn std::error::Error = e;
        while let Some(next) = cause.source() {
            cause = next;
        }
        let why = if e.is_timeout() {
            "timed out".to_string()
        } else {
            cause.to_string()
        };
        CliError::new(
            UNAVAILABLE,
            format!("cannot reach credledger at {}: {why}", self.addr),
        )
    }

    fn send(
        &self,
        rb: reqwest::blocking::RequestBuilder,
    ) -> Result<reqwest::blocking::Response, CliError> {
        let Some(token) = &self.token else {
            return Err(CliError::new(
                AUTH,
                "no token: run `credledger login`, set CREDLEDGER_TOKEN or pass --token",
            ));
        };
        let resp = rb
            .bearer_auth(token.as_str())
            .send()
            .map_err(|e| self.unreachable(&e))?;
        let status = resp.status().as_u16();
        if resp.status().is_success() {
            return Ok(resp);
        }
        let body: Value = resp.json().unwrap_or(Value::Null);
        Err(classify(status, &body))
    }

    fn json(&self, rb: reqwest::blocking::RequestBuilder) -> Result<Value, CliError> {
        let resp = self.send(rb)?;
        if resp.status().as_u16() == 204 {
            return Ok(Value::Null);
        }
        let text = resp.text().map_err(|e| self.unreachable(&e))?;
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|_| {
            CliError::new(
                UNAVAILABLE,
                format!(
                    "{} answered something that is not JSON; is it a credledger server?",
                    self.addr
                ),
            )
        })
    }
}

/// Percent-encodes one path segment (ids and names are plain, but be safe).
pub fn seg(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::error::FAILED;
    use serde_json::json;

    fn check(status: u16, body: Value, code: u8, message: &str) {
        let e = classify(status, &body);
        assert_eq!((e.code, e.message.as_str()), (code, message));
    }

    #[test]
    fn statuses_map_to_exit_codes_and_messages() {
        let body = |code: &str, msg: &str| json!({"error": {"code": code, "message": msg}});
        check(
            401,
            body("unauthenticated", "x"),
            AUTH,
            "the token was rejected (run `credledger login` or set CREDLEDGER_TOKEN)",
        );
        check(
            403,
            body("forbidden", "needs admin"),
            AUTH,
            "permission denied: needs admin",
        );
        check(
            404,
            body("not_found", "credential not found"),
            NOT_FOUND,
            "credential not found",
        );
        check(
            409,
            body("conflict", "name taken"),
            FAILED,
            "name taken [conflict]",
        );
        check(
            503,
            body("unavailable", "down"),
            UNAVAILABLE,
            "the server failed: down",
        );
        check(400, Value::Null, FAILED, "the server answered HTTP 400");
        check(
            422,
            json!({"error": {"code": "invalid_field", "message": "must be set", "field": "api_key"}}),
            FAILED,
            "must be set (field `api_key`) [invalid_field]",
        );
    }

    #[test]
    fn segments_are_escaped() {
        assert_eq!(seg("a b/c"), "a%20b%2Fc");
        assert_eq!(seg("openai-prod_1"), "openai-prod_1");
    }
}
