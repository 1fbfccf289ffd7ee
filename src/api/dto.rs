//! The API's request and response bodies (the only serde types of the HTTP layer).
//!
//! **Invariant:** no response type here carries a secret value or a ciphertext, except
//! [`ResolveResponse`] (and the once-shown token fields of token and tenant creation).

use crate::audit::rfc3339;
use crate::domain::rotation::{self, RotationStatus};
use crate::event::{Grantee, Owner};
use crate::id::Id;
use crate::projection::{CredentialView, UsageView};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct TenantCreated {
    pub id: String,
    pub admin_principal: String,
    pub admin_token_id: String,
    /// Shown once.
    pub admin_token: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePrincipal {
    pub name: String,
    /// `user` or `service`.
    pub kind: String,
    /// `admin`, `editor`, `member`, `resolver` or `auditor`.
    pub role: String,
    /// A system principal (system admins only): with role `admin` a system admin, with
    /// role `auditor` a system auditor (reads the system stream).
    #[serde(default)]
    pub system: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Delegation {
    /// Every user of the tenant (system principals excepted).
    #[serde(default)]
    pub all_users: bool,
    /// Users by id (the only way to include a system principal; system admins only).
    #[serde(default)]
    pub users: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Created {
    pub id: String,
}

/// `GET /v1/principals`.
#[derive(Serialize, ToSchema)]
pub struct PrincipalList {
    pub principals: Vec<PrincipalDto>,
}

#[derive(Serialize, ToSchema)]
pub struct PrincipalDto {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub role: String,
    pub system: bool,
    pub disabled: bool,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct IssueToken {
    /// RFC 3339 expiry; none = does not expire.
    pub expires_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenIssued {
    pub id: String,
    /// Shown once; stored only as a keyed hash.
    pub token: String,
    pub principal: String,
    pub expires_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct WhoAmI {
    pub tenant: String,
    pub principal: String,
    pub token: String,
    pub name: String,
    pub role: String,
    pub kind: String,
    /// A system principal with the admin role.
    pub system_admin: bool,
    /// A system principal (system admin or system auditor).
    pub system: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCredential {
    pub name: String,
    pub template: String,
    /// Field values per the template; secret fields are sealed, never echoed.
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
    /// `tenant` (shared, the default), `me`, or a principal id (personal).
    pub owner: Option<String>,
    /// The service this credential answers for in `/v1/resolve` (default: the template).
    pub service: Option<String>,
    pub description: Option<String>,
    pub rotate_every_days: Option<u32>,
    /// RFC 3339.
    pub expires_at: Option<String>,
    /// Make this shared credential the tenant default for its service.
    #[serde(default)]
    pub default: bool,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct UpdateCredential {
    /// Fields to change (a partial rotation to a new version): the others, public and
    /// secret, keep their values; `null` clears a field.
    #[schema(value_type = Option<Object>)]
    pub fields: Option<Map<String, Value>>,
    pub name: Option<String>,
    pub description: Option<String>,
    /// A number of days, or null to remove the schedule.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<u32>)]
    pub rotate_every_days: Option<Option<u32>>,
    /// RFC 3339, or null to remove the expiry.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub expires_at: Option<Option<String>>,
    pub default: Option<bool>,
    /// Whether scheduled connection tests (`serve --verify-every`) include it (a
    /// `scheduled_verify_set` event when it changes).
    pub scheduled_verify: Option<bool>,
}

fn double_option<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateCredential {
    /// The fields that change; the others, public and secret, keep their values
    /// (`null` clears a field).
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    /// A principal id (or give `group`).
    pub principal: Option<String>,
    /// A group id (or give `principal`).
    pub group: Option<String>,
    /// `use` (default: resolve), `manage` (also rotate, update, verify) or `admin`
    /// (also grant, delete, destroy).
    pub level: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct GrantDto {
    pub principal: Option<String>,
    pub group: Option<String>,
    /// `use`, `manage` or `admin`.
    pub level: &'static str,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    pub name: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupMember {
    /// A principal id.
    pub principal: String,
}

#[derive(Serialize, ToSchema)]
pub struct GroupDto {
    pub id: String,
    pub name: String,
    pub members: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct GroupList {
    pub groups: Vec<GroupDto>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyInput {
    /// A builtin or tenant template.
    pub template: String,
    /// The unsaved field values; nothing is stored.
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
}

#[derive(Serialize, ToSchema)]
pub struct VerifyInputDto {
    pub ok: bool,
    pub reason: String,
    pub latency_ms: u64,
}

#[derive(Serialize, ToSchema)]
pub struct SummaryGroupDto {
    /// The template or service name.
    pub key: String,
    /// Active credentials.
    pub count: u64,
    pub uses: u64,
    pub last_used_at: Option<String>,
    pub failed_verifies: u64,
    pub overdue_rotations: u64,
}

#[derive(Serialize, ToSchema)]
pub struct UsageSummary {
    /// `template` or `service`.
    pub by: &'static str,
    pub groups: Vec<SummaryGroupDto>,
}

#[derive(Serialize, ToSchema)]
pub struct AccessPathDto {
    /// `owner`, `role`, `grant`, `group_grant`, `tenant_default` or `delegation`.
    pub kind: &'static str,
    /// The grant's level (`grant`, `group_grant`).
    pub level: Option<&'static str>,
    /// The group (`group_grant`).
    pub group: Option<String>,
    pub group_name: Option<String>,
    /// The principal's role (`role`, `tenant_default`).
    pub role: Option<&'static str>,
    /// The users a delegated service resolves it for (`delegation`).
    pub for_users: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
pub struct AccessPrincipalDto {
    pub principal: String,
    pub name: String,
    pub kind: &'static str,
    pub role: &'static str,
    pub via: Vec<AccessPathDto>,
    /// This principal's resolves of the credential.
    pub uses: u64,
    pub last_used_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AccessReviewDto {
    pub credential_id: String,
    pub name: String,
    pub owner: String,
    /// `active`, `deleted` or `destroyed` (who *could* resolve it when active).
    pub status: String,
    pub principals: Vec<AccessPrincipalDto>,
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ResolveById {
    /// A retained older version; default the current one.
    pub version: Option<u32>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveService {
    pub service: String,
    /// Resolve on behalf of this user (resolver services and admins only).
    pub for_user: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ResolveResponse {
    pub credential_id: Option<String>,
    pub version: Option<u32>,
    /// `direct`, `own`, `granted`, `tenant_default` or `env`.
    pub source: &'static str,
    pub template: Option<String>,
    /// Every field, secret ones in plaintext: a string, or for a typed value of Vault KV
    /// data (a number, boolean, null, array or object) that JSON value, byte for byte.
    #[schema(value_type = Object)]
    pub fields: BTreeMap<String, Box<serde_json::value::RawValue>>,
}

#[derive(Serialize, ToSchema)]
pub struct VerifyDto {
    pub at: Option<String>,
    pub version: u32,
    pub ok: bool,
    pub reason: String,
    pub latency_ms: u64,
}

#[derive(Serialize, ToSchema)]
pub struct VersionDto {
    pub version: u32,
    pub created_at: String,
    pub created_by: Option<String>,
    /// `live`, `retired` (past retention; its data key was shredded) or `destroyed`.
    pub state: String,
}

#[derive(Serialize, ToSchema)]
pub struct CredentialDto {
    pub id: String,
    pub name: String,
    pub template: String,
    pub service: String,
    /// `tenant` or the owning principal's id.
    pub owner: String,
    pub description: String,
    /// `active`, `deleted` or `destroyed`.
    pub status: String,
    pub version: u32,
    /// Non-secret fields of the current version.
    #[schema(value_type = Object)]
    pub fields: BTreeMap<String, String>,
    /// Names of the secret fields (never their values).
    pub secret_fields: Vec<String>,
    pub created_at: String,
    pub created_by: Option<String>,
    pub updated_at: String,
    pub rotated_at: String,
    pub rotate_every_days: Option<u32>,
    pub rotation_due_at: Option<String>,
    /// `none`, `ok`, `due` (within 7 days) or `overdue`.
    pub rotation_status: &'static str,
    pub expires_at: Option<String>,
    pub expired: bool,
    /// Shared: the tenant default of its service; personal: the owner's selected profile.
    pub default: bool,
    /// Principals granted it directly (at any level).
    pub grants: Vec<String>,
    /// Every grant, to principals and groups, with its level.
    pub grantees: Vec<GrantDto>,
    pub last_verified: Option<VerifyDto>,
    /// Whether scheduled connection tests (`serve --verify-every`) include it.
    pub scheduled_verify: bool,
}

pub fn owner_str(o: Owner) -> String {
    match o {
        Owner::Tenant => "tenant".into(),
        Owner::Principal(p) => p.to_string(),
    }
}

impl CredentialDto {
    /// The DTO of a view at `now_ms` (for the rotation status), and that status.
    pub fn from_view(
        v: CredentialView,
        secret_fields: Vec<String>,
        now_ms: i64,
    ) -> (Self, RotationStatus) {
        let due = rotation::due_at(v.rotated_at_ms, v.rotate_every_days);
        let status = rotation::status(due, now_ms);
        let rotation_status = status.as_str();
        let dto = CredentialDto {
            id: v.id.to_string(),
            name: v.name,
            template: v.template,
            service: v.service,
            owner: owner_str(v.owner),
            description: v.description,
            status: v.status,
            version: v.current_version,
            fields: v.public,
            secret_fields,
            created_at: rfc3339(v.created_at_ms),
            created_by: v.created_by.map(|p| p.to_string()),
            updated_at: rfc3339(v.updated_at_ms),
            rotated_at: rfc3339(v.rotated_at_ms),
            rotate_every_days: v.rotate_every_days,
            rotation_due_at: due.map(rfc3339),
            rotation_status,
            expires_at: v.expires_at_ms.map(rfc3339),
            expired: v.expires_at_ms.is_some_and(|e| e <= now_ms),
            default: v.is_default,
            grants: v.grants.iter().map(Id::to_string).collect(),
            grantees: v
                .grantees
                .iter()
                .map(|g| {
                    let (principal, group) = match g.grantee {
                        Grantee::Principal(p) => (Some(p.to_string()), None),
                        Grantee::Group(x) => (None, Some(x.to_string())),
                    };
                    GrantDto {
                        principal,
                        group,
                        level: g.level.as_str(),
                    }
                })
                .collect(),
            last_verified: v.last_verified.map(|l| VerifyDto {
                at: Some(rfc3339(l.at_ms)),
                version: l.version,
                ok: l.ok,
                reason: l.reason,
                latency_ms: l.latency_ms,
            }),
            scheduled_verify: true,
        };
        (dto, status)
    }
}

#[derive(Serialize, ToSchema)]
pub struct CredentialList {
    pub credentials: Vec<CredentialDto>,
}

#[derive(Serialize, ToSchema)]
pub struct VersionList {
    pub credential_id: String,
    pub current: u32,
    pub versions: Vec<VersionDto>,
}

#[derive(Serialize, ToSchema)]
pub struct RotateResponse {
    pub id: String,
    pub version: u32,
}

#[derive(Serialize, ToSchema)]
pub struct DestroyResponse {
    pub id: String,
    pub status: &'static str,
    /// `complete`: the data keys are deleted and the master key was rotated, so stale
    /// copies are unreadable; `pending_master_key_rotation` when the master key comes from
    /// the environment and must be rotated there.
    pub shred: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct UsageDto {
    pub uses: u64,
    pub denied: u64,
    pub verifies: u64,
    pub last_used_at: Option<String>,
    /// For a credential: the last principal that used it; for a principal: the last
    /// credential it used.
    pub last_used_with: Option<String>,
    pub last_remote_addr: Option<String>,
    pub last_source: Option<&'static str>,
}

impl From<UsageView> for UsageDto {
    fn from(u: UsageView) -> Self {
        UsageDto {
            uses: u.uses,
            denied: u.denied,
            verifies: u.verifies,
            last_used_at: u.last_used_at_ms.map(rfc3339),
            last_used_with: u.last_other.map(|i| i.to_string()),
            last_remote_addr: u.last_remote_addr,
            last_source: u.last_source.map(crate::audit::source_str),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CredentialUsage {
    pub credential_id: String,
    pub name: String,
    pub service: String,
    #[serde(flatten)]
    pub usage: UsageDto,
}

#[derive(Serialize, ToSchema)]
pub struct UsageList {
    pub credentials: Vec<CredentialUsage>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<crate::audit::AuditEntry>,
    /// Pass as `cursor` to get the next page; null at the end.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RotationCompliance {
    pub checked_at: String,
    pub overdue: Vec<CredentialDto>,
    pub due: Vec<CredentialDto>,
    /// Active credentials with no rotation schedule.
    pub unscheduled: Vec<String>,
}
