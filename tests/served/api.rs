//! A blocking JSON client for a served binary's API: one call with a bearer token, and
//! the audit rows of a query (as the system admin).

use super::Served;
use serde_json::Value;

pub struct Api<'a> {
    pub s: &'a Served,
    pub c: reqwest::blocking::Client,
}

impl Api<'_> {
    /// `method path` with `token` and an optional JSON body: (status, JSON or null).
    pub fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self
            .c
            .request(method.parse().unwrap(), format!("{}{path}", self.s.addr))
            .bearer_auth(token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().unwrap();
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().unwrap_or(Value::Null))
    }

    /// The audit rows of `/v1/audit?{query}` (up to 1000), read by the admin.
    pub fn audit(&self, query: &str) -> Vec<Value> {
        let (st, v) = self.call(
            "GET",
            &format!("/v1/audit?{query}&limit=1000"),
            &self.s.admin,
            None,
        );
        assert_eq!(st, 200, "{v}");
        v["events"].as_array().cloned().unwrap_or_default()
    }
}
