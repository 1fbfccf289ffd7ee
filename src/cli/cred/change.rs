//! The `cred` subcommands that write: add, rotate, update, use, delete, restore,
//! destroy, and the connection test of a stored credential.

use super::{done, uses_stdin, AddArgs, CredRef, DestroyArgs, RotateArgs, UpdateArgs};
use crate::cli::client::{seg, Client};
use crate::cli::error::{CliError, FAILED};
use crate::cli::fields::{prompt_missing, read_args};
use crate::cli::lookup::{self, id_of, lookup};
use crate::cli::output::{cell, Out};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

/// `cred add`.
pub(super) fn add(c: &Client, out: Out, a: AddArgs) -> anyhow::Result<ExitCode> {
    let AddArgs {
        template,
        name,
        fields,
        owner,
        service,
        description,
        rotate_every_days,
        expires_at,
        default,
        test,
    } = a;
    let def = lookup::template(c, &template);
    let t = def.as_ref();
    let mut values = read_args(t, &fields)?;
    if let Some(t) = t {
        prompt_missing(t, &mut values, None, false, uses_stdin(&fields))?;
    }
    if test {
        test_before_save(c, out, &template, &values)?;
    }
    let mut body =
        json!({"name": name, "template": template, "fields": values, "default": default});
    let opt = [
        ("owner", owner.map(Value::from)),
        ("service", service.map(Value::from)),
        ("description", description.map(Value::from)),
        ("rotate_every_days", rotate_every_days.map(Value::from)),
        ("expires_at", expires_at.map(Value::from)),
    ];
    for (k, v) in opt {
        if let Some(v) = v {
            body[k] = v;
        }
    }
    let v = c.post("/v1/credentials", &body)?;
    done(
        out,
        &v,
        &format!(
            "Created {} ({}) version {} from template {}",
            cell(&v["name"]),
            cell(&v["id"]),
            cell(&v["version"]),
            cell(&v["template"])
        ),
    );
    Ok(ExitCode::SUCCESS)
}

/// `cred rotate`.
pub(super) fn rotate(c: &Client, out: Out, a: RotateArgs) -> anyhow::Result<ExitCode> {
    let RotateArgs { r, fields } = a;
    let cur = lookup(c, &r.cred)?;
    let def = lookup::template(c, &cell(&cur["template"]));
    let t = def.as_ref();
    let mut values = read_args(t, &fields)?;
    if let Some(t) = t {
        let public: BTreeMap<String, String> = cur["fields"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), cell(v))).collect())
            .unwrap_or_default();
        prompt_missing(t, &mut values, Some(&public), true, uses_stdin(&fields))?;
    }
    if values.is_empty() {
        return Err(
            CliError::usage("no field values given (use --field NAME=- or NAME=@FILE)").into(),
        );
    }
    let id = cell(&cur["id"]);
    let v = c.post(
        &format!("/v1/credentials/{}/rotate", seg(&id)),
        &json!({"fields": values}),
    )?;
    done(
        out,
        &v,
        &format!(
            "Rotated {} ({id}) to version {}",
            cell(&cur["name"]),
            cell(&v["version"])
        ),
    );
    Ok(ExitCode::SUCCESS)
}

/// `cred delete`.
pub(super) fn delete(c: &Client, out: Out, r: &CredRef) -> anyhow::Result<ExitCode> {
    let id = id_of(c, &r.cred)?;
    let v = c.delete(&format!("/v1/credentials/{}", seg(&id)))?;
    done(
        out,
        &v,
        &format!(
            "Deleted {} ({id}); `credledger cred restore {id}` undoes it",
            cell(&v["name"])
        ),
    );
    Ok(ExitCode::SUCCESS)
}

/// `cred restore`.
pub(super) fn restore(c: &Client, out: Out, r: &CredRef) -> anyhow::Result<ExitCode> {
    let id = id_of(c, &r.cred)?;
    let v = c.post_empty(&format!("/v1/credentials/{}/restore", seg(&id)))?;
    done(out, &v, &format!("Restored {} ({id})", cell(&v["name"])));
    Ok(ExitCode::SUCCESS)
}

/// `cred destroy`.
pub(super) fn destroy(c: &Client, out: Out, a: DestroyArgs) -> anyhow::Result<ExitCode> {
    let DestroyArgs { r, yes } = a;
    let cur = lookup(c, &r.cred)?;
    let (id, name) = (cell(&cur["id"]), cell(&cur["name"]));
    if !yes {
        confirm_destroy(&name)?;
    }
    let v = c.post_empty(&format!("/v1/credentials/{}/destroy", seg(&id)))?;
    done(
        out,
        &v,
        &format!(
            "Destroyed {name} ({id}): every version is unrecoverable (shred: {})",
            cell(&v["shred"])
        ),
    );
    Ok(ExitCode::SUCCESS)
}

/// `cred verify`: exit 1 when the connection test fails.
pub(super) fn verify(c: &Client, out: Out, r: &CredRef) -> anyhow::Result<ExitCode> {
    let cur = lookup(c, &r.cred)?;
    let id = cell(&cur["id"]);
    let v = c.post_empty(&format!("/v1/credentials/{}/verify", seg(&id)))?;
    let ok = v["ok"].as_bool() == Some(true);
    if out.json {
        out.print_json(&v);
    } else {
        println!(
            "Connection test of {} v{}: {} ({}, {} ms)",
            cell(&cur["name"]),
            cell(&v["version"]),
            if ok { "ok" } else { "FAILED" },
            cell(&v["reason"]),
            cell(&v["latency_ms"])
        );
    }
    if !ok {
        return Ok(ExitCode::from(FAILED));
    }
    Ok(ExitCode::SUCCESS)
}

fn confirm_destroy(name: &str) -> Result<(), CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::usage(
            "destroy is irreversible; pass --yes to confirm",
        ));
    }
    eprint!("Destroy '{name}' and every version of it, irreversibly? Type its name to confirm: ");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).ok();
    if line.trim() == name {
        Ok(())
    } else {
        Err(CliError::usage("not confirmed; nothing destroyed"))
    }
}

/// `cred add --test`: the connection test of the unsaved values (nothing is stored);
/// refuses to go on when it fails.
fn test_before_save(
    c: &Client,
    out: Out,
    template: &str,
    values: &Map<String, Value>,
) -> Result<(), CliError> {
    let v = c.post(
        "/v1/verify",
        &json!({"template": template, "fields": values}),
    )?;
    if !out.json {
        eprintln!(
            "Connection test: {} ({}, {} ms)",
            if v["ok"] == true { "ok" } else { "FAILED" },
            cell(&v["reason"]),
            cell(&v["latency_ms"])
        );
    }
    if v["ok"] != true {
        return Err(CliError::failed(
            "the connection test failed; nothing was saved",
        ));
    }
    Ok(())
}

/// `cred update`: a partial rotation of the fields given (the others keep their values)
/// and the metadata given, in one request.
pub(super) fn update(c: &Client, out: Out, a: UpdateArgs) -> anyhow::Result<ExitCode> {
    let UpdateArgs {
        r,
        fields,
        name,
        description,
        rotate_every_days,
        expires_at,
        scheduled_verify,
    } = a;
    let cur = lookup(c, &r.cred)?;
    let def = lookup::template(c, &cell(&cur["template"]));
    let mut values = read_args(def.as_ref(), &fields)?;
    // NAME= (empty) clears the field.
    for v in values.values_mut() {
        if v.as_str() == Some("") {
            *v = Value::Null;
        }
    }
    let mut body = Map::new();
    if !values.is_empty() {
        body.insert("fields".into(), Value::Object(values));
    }
    if let Some(n) = name {
        body.insert("name".into(), n.into());
    }
    if let Some(d) = description {
        body.insert("description".into(), d.into());
    }
    let none_or = |v: String, parse: fn(&str) -> Option<Value>, what: &str| {
        if v == "none" {
            Ok(Value::Null)
        } else {
            parse(&v).ok_or_else(|| CliError::usage(format!("{what}: expected a value or `none`")))
        }
    };
    if let Some(d) = rotate_every_days {
        let days = none_or(
            d,
            |s| s.parse::<u32>().ok().map(Value::from),
            "--rotate-every-days",
        )?;
        body.insert("rotate_every_days".into(), days);
    }
    if let Some(e) = expires_at {
        body.insert(
            "expires_at".into(),
            none_or(e, |s| Some(Value::from(s)), "--expires-at")?,
        );
    }
    if let Some(on) = scheduled_verify {
        body.insert("scheduled_verify".into(), on.into());
    }
    if body.is_empty() {
        return Err(CliError::usage(
            "nothing to update: give --field NAME=VALUE, --name, --description, --rotate-every-days, --expires-at or --scheduled-verify",
        )
        .into());
    }
    let id = cell(&cur["id"]);
    let v = c.patch(
        &format!("/v1/credentials/{}", seg(&id)),
        &Value::Object(body),
    )?;
    let version = if v["version"] != cur["version"] {
        format!(", now version {}", cell(&v["version"]))
    } else {
        String::new()
    };
    done(
        out,
        &v,
        &format!("Updated {} ({id}){version}", cell(&v["name"])),
    );
    Ok(ExitCode::SUCCESS)
}

/// `cred use`: make it the default of its service (tenant default or selected profile).
pub(super) fn use_default(c: &Client, out: Out, r: &CredRef) -> anyhow::Result<ExitCode> {
    let id = id_of(c, &r.cred)?;
    let v = c.post_empty(&format!("/v1/credentials/{}/default", seg(&id)))?;
    let what = if v["owner"] == "tenant" {
        "the tenant default"
    } else {
        "your selected profile"
    };
    done(
        out,
        &v,
        &format!(
            "{} ({id}) is now {what} for service {}",
            cell(&v["name"]),
            cell(&v["service"])
        ),
    );
    Ok(ExitCode::SUCCESS)
}
