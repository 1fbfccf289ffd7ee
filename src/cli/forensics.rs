//! `credledger replay diff` and `replay report`: what changed between two sequence
//! numbers, and one credential's whole story with every use, actor and remote address.
//!
//! Both fold the log once (it is the truth; no projection is read) and render audit rows
//! (`audit::entry`), so they never show a secret value, a ciphertext or a public field
//! value. Names of credentials and principals come from the state at the last event read.

use credledger::audit::{self, AuditEntry};
use credledger::domain::State;
use credledger::event::{Body, Event, Grantee};
use credledger::id::Id;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

fn principal_name(state: &State, id: Option<&str>) -> Value {
    id.and_then(|s| s.parse::<Id>().ok())
        .and_then(|p| state.principals.get(&p))
        .map(|p| p.name.clone().into())
        .unwrap_or(Value::Null)
}

fn credential_name(state: &State, id: Option<&str>) -> Value {
    id.and_then(|s| s.parse::<Id>().ok())
        .and_then(|c| state.credentials.get(&c))
        .map(|c| c.name.clone().into())
        .unwrap_or(Value::Null)
}

/// An audit row with the actor's and credential's names added.
fn row(state: &State, e: &AuditEntry) -> Value {
    let mut v = serde_json::to_value(e).expect("audit rows serialize");
    v["actor_name"] = principal_name(state, e.actor.as_deref());
    v["credential_name"] = credential_name(state, e.credential_id.as_deref());
    if let Some(p) = e.details.get("principal").and_then(Value::as_str) {
        v["principal_name"] = principal_name(state, Some(p));
    }
    v
}

/// Which section of a diff an action belongs to.
fn section(action: &str) -> Option<(&'static str, &'static str)> {
    Some(match action {
        "created" => ("credentials", "created"),
        "updated" => ("credentials", "updated"),
        "rotated" => ("credentials", "rotated"),
        "deleted" => ("credentials", "deleted"),
        "restored" => ("credentials", "restored"),
        "destroyed" => ("credentials", "destroyed"),
        "verified" => ("credentials", "verified"),
        "granted" => ("grants", "added"),
        "grant_revoked" => ("grants", "revoked"),
        "tenant_created" => ("principals", "tenants_created"),
        "principal_created" => ("principals", "created"),
        "principal_disabled" => ("principals", "disabled"),
        "token_issued" => ("tokens", "issued"),
        "token_revoked" => ("tokens", "revoked"),
        "access_denied" => ("denied", "actions"),
        "use_denied" => ("denied", "uses"),
        "master_key_rotated" | "signing_key_rotated" | "ledger_initialized" => ("keys", "events"),
        _ => return None,
    })
}

#[derive(Default)]
struct UseCount {
    uses: u64,
    denied: u64,
    verifies: u64,
    first_seq: u64,
    last_seq: u64,
    remote_addrs: BTreeSet<String>,
}

/// Key of the "who used what" table: (credential or `service:NAME`, actor).
fn use_key(e: &Event) -> Option<(String, String)> {
    let (credential, service) = match &e.body {
        Body::CredentialUsed {
            credential,
            service,
            ..
        }
        | Body::UseDenied {
            credential,
            service,
            ..
        } => (*credential, service.clone()),
        _ => return None,
    };
    let what = credential
        .map(|c| c.to_string())
        .or_else(|| service.map(|s| format!("service:{s}")))
        .unwrap_or_default();
    Some((
        what,
        e.actor
            .principal
            .map(|p| p.to_string())
            .unwrap_or_else(|| "-".into()),
    ))
}

fn count_use(table: &mut BTreeMap<(String, String), UseCount>, e: &Event) {
    let Some(key) = use_key(e) else { return };
    let c = table.entry(key).or_insert_with(|| UseCount {
        first_seq: e.seq,
        ..Default::default()
    });
    match &e.body {
        Body::CredentialUsed {
            purpose: credledger::event::Purpose::Verify,
            ..
        } => c.verifies += 1,
        Body::CredentialUsed { .. } => c.uses += 1,
        _ => c.denied += 1,
    }
    c.last_seq = e.seq;
    if let Some(a) = &e.context.remote_addr {
        c.remote_addrs.insert(a.clone());
    }
}

fn uses_json(state: &State, table: BTreeMap<(String, String), UseCount>) -> Vec<Value> {
    table
        .into_iter()
        .map(|((what, actor), c)| {
            json!({
                "credential": what, "credential_name": credential_name(state, Some(&what)),
                "actor": actor, "actor_name": principal_name(state, Some(&actor)),
                "uses": c.uses, "denied": c.denied, "verifies": c.verifies,
                "first_seq": c.first_seq, "last_seq": c.last_seq, "remote_addrs": c.remote_addrs,
            })
        })
        .collect()
}

/// The changes of events `from_seq < seq <= to_seq`: `state --at-seq to_seq` minus
/// `state --at-seq from_seq`, event by event.
pub fn diff<E>(
    events: impl Iterator<Item = Result<Event, E>>,
    from_seq: u64,
    to_seq: u64,
) -> Result<Value, E> {
    let mut state = State::default();
    let mut rows: Vec<(&'static str, &'static str, AuditEntry)> = Vec::new();
    let mut actions: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut uses = BTreeMap::new();
    let mut count = 0u64;
    for e in events {
        let e = e?;
        if e.seq > to_seq {
            break;
        }
        state.apply(&e);
        if e.seq <= from_seq {
            continue;
        }
        count += 1;
        *actions.entry(e.body.action()).or_default() += 1;
        count_use(&mut uses, &e);
        if let Some((s, k)) = section(e.body.action()) {
            rows.push((s, k, audit::entry(&e)));
        }
    }
    let mut out = json!({
        "from_seq": from_seq, "to_seq": to_seq, "events": count, "actions": actions,
        "credentials": {}, "grants": {}, "principals": {}, "tokens": {}, "denied": {}, "keys": {},
    });
    for (s, k, r) in &rows {
        let list = &mut out[*s][*k];
        if list.is_null() {
            *list = json!([]);
        }
        list.as_array_mut().expect("an array").push(row(&state, r));
    }
    out["uses"] = uses_json(&state, uses).into();
    Ok(out)
}

/// One credential's report, or `None` if no event mentions it.
pub fn report<E>(
    events: impl Iterator<Item = Result<Event, E>>,
    credential: Id,
) -> Result<Option<Value>, E> {
    let mut state = State::default();
    let mut timeline = Vec::new();
    let mut uses = BTreeMap::new();
    for e in events {
        let e = e?;
        state.apply(&e);
        if e.body.credential() == Some(credential) {
            count_use(&mut uses, &e);
            timeline.push(audit::entry(&e));
        }
    }
    if timeline.is_empty() {
        return Ok(None);
    }
    let cred = state.credentials.get(&credential).map(|c| {
        json!({
            "id": credential.to_string(), "name": c.name, "template": c.template, "service": c.service,
            "tenant": c.tenant.to_string(), "status": c.status.as_str(), "current_version": c.current,
            "live_versions": c.versions.keys().collect::<Vec<_>>(),
            "grants": c.grants.iter().map(|(g, level)| match g {
                Grantee::Principal(p) => json!({"principal": p.to_string(), "name": principal_name(&state, Some(&p.to_string())), "level": level.as_str()}),
                Grantee::Group(g) => json!({"group": g.to_string(), "name": state.groups.get(g).map(|x| x.name.clone()), "level": level.as_str()}),
            }).collect::<Vec<_>>(),
            "created_seq": c.created_seq, "rotate_every_days": c.rotate_every_days,
        })
    });
    let mut totals = json!({"events": timeline.len(), "uses": 0, "denied": 0, "verifies": 0});
    let mut addrs = BTreeSet::new();
    for c in uses.values() {
        for (k, n) in [
            ("uses", c.uses),
            ("denied", c.denied),
            ("verifies", c.verifies),
        ] {
            totals[k] = (totals[k].as_u64().unwrap_or(0) + n).into();
        }
        addrs.extend(c.remote_addrs.iter().cloned());
    }
    totals["remote_addrs"] = json!(addrs);
    totals["first_at"] = timeline.first().map(|r| r.at.clone()).into();
    totals["last_at"] = timeline.last().map(|r| r.at.clone()).into();
    let rows: Vec<Value> = timeline.iter().map(|r| row(&state, r)).collect();
    Ok(Some(json!({
        "credential": cred.unwrap_or_else(|| json!({"id": credential.to_string()})),
        "summary": totals,
        "by_actor": uses_json(&state, uses),
        "timeline": rows,
    })))
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("-")
}

fn print_row(r: &Value) {
    let name = if r["credential_name"].is_string() {
        format!(" {}", s(&r["credential_name"]))
    } else {
        String::new()
    };
    let actor = if r["actor_name"].is_string() {
        format!("{} ({})", s(&r["actor_name"]), s(&r["actor"]))
    } else {
        s(&r["actor"]).to_string()
    };
    println!(
        "  {:>8}  {}  {:<14} {:<7}{} actor={} from={} {}",
        r["seq"],
        s(&r["at"]),
        s(&r["action"]),
        s(&r["outcome"]),
        name,
        actor,
        s(&r["remote_addr"]),
        r["details"]
    );
}

fn print_uses(uses: &Value) {
    for u in uses.as_array().into_iter().flatten() {
        println!(
            "  {} {} used by {} {}: {} uses, {} denied, {} connection tests (events {}..={}) from {}",
            s(&u["credential"]),
            s(&u["credential_name"]),
            s(&u["actor"]),
            s(&u["actor_name"]),
            u["uses"],
            u["denied"],
            u["verifies"],
            u["first_seq"],
            u["last_seq"],
            u["remote_addrs"].as_array().map(|a| a.iter().map(|x| s(x).to_string()).collect::<Vec<_>>().join(", ")).filter(|x| !x.is_empty()).unwrap_or_else(|| "-".into())
        );
    }
}

/// Prints a diff for people.
pub fn print_diff(v: &Value) {
    println!(
        "changes after event {} up to and including event {} ({} events)",
        v["from_seq"], v["to_seq"], v["events"]
    );
    for section in [
        "credentials",
        "grants",
        "principals",
        "tokens",
        "denied",
        "keys",
    ] {
        for (kind, rows) in v[section].as_object().into_iter().flatten() {
            println!("{section} {kind}:");
            rows.as_array().into_iter().flatten().for_each(print_row);
        }
    }
    println!("who used what:");
    print_uses(&v["uses"]);
}

/// Prints a credential report for people.
pub fn print_report(v: &Value) {
    let c = &v["credential"];
    println!(
        "credential {} {} (template {}, service {})",
        s(&c["id"]),
        s(&c["name"]),
        s(&c["template"]),
        s(&c["service"])
    );
    println!(
        "  status {} version {} tenant {}",
        s(&c["status"]),
        c["current_version"],
        s(&c["tenant"])
    );
    let t = &v["summary"];
    println!(
        "  {} events from {} to {}: {} uses, {} denied, {} connection tests",
        t["events"],
        s(&t["first_at"]),
        s(&t["last_at"]),
        t["uses"],
        t["denied"],
        t["verifies"]
    );
    println!("by actor:");
    print_uses(&v["by_actor"]);
    println!("timeline:");
    v["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .for_each(print_row);
}
