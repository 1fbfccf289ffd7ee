//! The access review tables of the Reviews page: for each active credential, who can
//! resolve it and why (owner, role, grant, group grant, tenant default, delegation) and
//! when each last did, and the grants unused for 90 days. The paths are the ledger's
//! (`Reads::access_review`, which refuses and records non-reviewers); which grant counts
//! as unused is `ledger::unused_grant`. Here they are only put into rows.

use super::reviews::{Line, Table};
use crate::console::error::ConsoleError;
use crate::console::signed::Signed;
use crate::console::view;
use crate::console::ConsoleState;
use crate::id::Id;
use crate::ledger::{unused_grant, AccessPath, AccessReview, RequestCtx, UNUSED_GRANT_DAYS};
use crate::projection::CredentialView;

/// Credentials reviewed per page of the access review (the CSV export takes them all,
/// up to [`EXPORT_CAP`]).
pub const PER_PAGE: usize = 25;
/// The most credentials one export reviews.
pub const EXPORT_CAP: usize = 2_000;

/// Why: one access path in words.
fn why(path: &AccessPath, groups: &[(Id, String)]) -> String {
    match path {
        AccessPath::Owner => "owner".into(),
        AccessPath::Role(r) => format!("role {}", r.as_str()),
        AccessPath::Grant(l) => format!("grant ({})", l.as_str()),
        AccessPath::GroupGrant { group, level } => {
            let name = groups
                .iter()
                .find(|(g, _)| g == group)
                .map_or_else(|| view::short_id(&group.to_string()), |(_, n)| n.clone());
            format!("group {name} ({})", level.as_str())
        }
        AccessPath::TenantDefault(r) => format!("tenant default ({})", r.as_str()),
        AccessPath::Delegation { for_users } => {
            format!("delegation for {} user(s)", for_users.len())
        }
    }
}

/// The two access tables over `creds` (in that order).
pub async fn tables(
    st: &ConsoleState,
    ctx: &RequestCtx,
    signed: &Signed,
    creds: &[&CredentialView],
) -> Result<(Table, Table), ConsoleError> {
    let ledger = st.ledger();
    let reads = ledger.reads();
    let now = ledger.now_ms();
    let mut access = Vec::new();
    let mut unused = Vec::new();
    for v in creds {
        let AccessReview {
            principals, groups, ..
        } = reads.access_review(ctx, &signed.caller, v.id).await?;
        for line in principals {
            let reasons: Vec<String> = line.entry.paths.iter().map(|p| why(p, &groups)).collect();
            let last = line
                .usage
                .last_used_at_ms
                .map_or_else(|| "never".into(), |t| view::relative(t, now));
            let stale = unused_grant(
                &line.entry,
                line.usage.last_used_at_ms,
                now,
                UNUSED_GRANT_DAYS,
            );
            let row = |class| Line {
                id: v.id.to_string(),
                name: v.name.clone(),
                cells: vec![
                    line.name.clone(),
                    format!("{} {}", line.kind.as_str(), line.role.as_str()),
                    reasons.join("; "),
                    last.clone(),
                    line.usage.uses.to_string(),
                ],
                class,
            };
            if stale {
                unused.push(row("warn"));
            }
            access.push(row(if stale { "warn" } else { "" }));
        }
    }
    let columns = vec!["Principal", "Kind and role", "Why", "Last use", "Uses"];
    Ok((
        Table {
            key: "access",
            title: "Access review: who can resolve each credential, and why",
            columns: columns.clone(),
            lines: access,
            empty: "No active credential.",
            more: 0,
        },
        Table {
            key: "unused-grants",
            title: "Grants unused for 90 days",
            columns,
            lines: unused,
            empty: "Every grant was used within 90 days.",
            more: 0,
        },
    ))
}
