//! `credledger group …`: create and list groups, add and remove members. Groups and
//! principals may be named by id or by name; credentials are granted to a group with
//! `grant add CRED --group NAME`.
//!
//! **Invariant:** nothing here handles a secret.

use super::args::Group;
use super::client::{seg, Client};
use super::lookup::{group_id, principal_id};
use super::output::{cell, Out};
use clap::Subcommand;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::ExitCode;

#[derive(Subcommand, Debug)]
pub enum GroupCommand {
    /// Create a group (team) in your tenant (admins).
    Create { name: String },
    /// List the groups you may see, with their members.
    List,
    /// Add a principal to a group (admins); its next resolve sees the group's grants.
    AddMember {
        /// The group's id or name.
        group: String,
        /// The principal's id or name.
        principal: String,
    },
    /// Remove a principal from a group (admins).
    RemoveMember { group: String, principal: String },
}

fn done(out: Out, v: &Value, text: &str) {
    if out.json {
        out.print_json(v);
    } else {
        println!("{text}");
    }
}

pub fn run(g: Group<GroupCommand>) -> anyhow::Result<ExitCode> {
    let (c, out) = Client::connect(&g.conn)?;
    match g.cmd {
        GroupCommand::Create { name } => {
            let v = c.post("/v1/groups", &json!({"name": name}))?;
            done(
                out,
                &v,
                &format!("Created group {name} ({})", cell(&v["id"])),
            );
        }
        GroupCommand::List => list(&c, out)?,
        GroupCommand::AddMember { group, principal } => {
            let (gid, pid) = (group_id(&c, &group)?, principal_id(&c, &principal)?);
            c.post(
                &format!("/v1/groups/{}/members", seg(&gid)),
                &json!({"principal": pid}),
            )?;
            done(
                out,
                &json!({"group": gid, "principal": pid, "member": true}),
                &format!("Added {principal} to {group}"),
            );
        }
        GroupCommand::RemoveMember { group, principal } => {
            let (gid, pid) = (group_id(&c, &group)?, principal_id(&c, &principal)?);
            c.delete(&format!("/v1/groups/{}/members/{}", seg(&gid), seg(&pid)))?;
            done(
                out,
                &json!({"group": gid, "principal": pid, "member": false}),
                &format!("Removed {principal} from {group}"),
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `group list`: members by name when the caller may list principals, else by id.
fn list(c: &Client, out: Out) -> anyhow::Result<()> {
    let v = c.get("/v1/groups")?;
    if out.json {
        out.print_json(&v);
        return Ok(());
    }
    let names: BTreeMap<String, String> = c
        .get("/v1/principals")
        .ok()
        .and_then(|p| p["principals"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|p| (cell(&p["id"]), cell(&p["name"])))
        .collect();
    let rows = v["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            let members: Vec<String> = g["members"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| {
                    let id = cell(m);
                    names.get(&id).cloned().unwrap_or(id)
                })
                .collect();
            vec![cell(&g["name"]), cell(&g["id"]), members.join(", ")]
        })
        .collect();
    out.table(&["NAME", "ID", "MEMBERS"], rows);
    Ok(())
}
