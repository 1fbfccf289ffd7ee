//! The web console's questions to the rule book: the sign-in and sign-out records, what a
//! caller's role lets the console offer (pages, buttons), and which credentials a
//! caller's list shows.
//!
//! **Invariant:** these answers only decide what the console *shows*. Every action a
//! page offers is decided again by the command's own rule when it is sent (the button
//! that is not shown is refused by the ledger, and the refusal recorded), so a wrong
//! answer here can hide a button but never grant anything.

use super::access::{admin_only, refused, system_admin_only};
use super::permissions::{can_manage, can_resolve, may_create, may_create_any, Access};
use super::resolve::resolvable;
use super::{require_reviewer, Caller, Decision, DomainError};
use crate::domain::state::State;
use crate::event::{Body, Owner, RefusalReason, Role, SessionEnd, Target};
use crate::id::Id;

/// The record of a sign-in: the caller's token was just authenticated.
pub fn sign_in(state: &State, caller: &Caller, session: Id) -> Decision {
    if !state.is_principal_of(caller.principal, caller.tenant) {
        return Err(DomainError::NotFound("principal").into());
    }
    Ok(vec![Body::ConsoleSignedIn {
        tenant: caller.tenant,
        principal: caller.principal,
        session,
    }])
}

/// The record of the end of a session.
pub fn sign_out(caller: &Caller, session: Id, reason: SessionEnd) -> Decision {
    Ok(vec![Body::ConsoleSignedOut {
        tenant: caller.tenant,
        principal: caller.principal,
        session,
        reason,
    }])
}

/// Listing the tenant's API tokens (ids, owners, expiry; never a secret): admins, who
/// administer them.
pub fn list_tokens(caller: &Caller) -> Decision<()> {
    admin_only(caller, "tokens_listed", None)
}

/// Listing every tenant: system admins.
pub fn list_tenants(caller: &Caller) -> Decision<()> {
    system_admin_only(
        caller,
        "tenants_listed",
        None,
        "listing tenants needs a system admin",
    )
}

/// A proof bundle of the events of credential `id`'s range: reviewers, when every event
/// of the range is theirs to see (`whole`: the range holds only the caller's tenant's
/// events) or when they review the whole ledger (system reviewers). A bundle holds the
/// events themselves, so it must not carry another tenant's or the system stream's.
pub fn see_bundle(caller: &Caller, id: Id, whole: bool) -> Decision<()> {
    const OP: &str = "bundle_exported";
    require_reviewer(caller, OP, "a proof bundle")?;
    if whole || caller.is_system_reviewer() {
        return Ok(());
    }
    Err(refused(
        caller,
        OP,
        Some(Target::Credential(id)),
        RefusalReason::SystemOnly,
        DomainError::Forbidden(
            "the events of this credential are interleaved with events of other tenants or of \
             the system stream, which a bundle would reveal; download each event's proof from \
             the audit log, or ask a system auditor for the bundle"
                .into(),
        ),
    ))
}

/// What the console offers a caller (menus and page-level buttons).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// Add credentials (`check_create`'s roles: members add personal ones).
    pub create: bool,
    /// Add shared (tenant-owned) credentials (admins and editors).
    pub create_shared: bool,
    /// The audit log, usage, reviews and proofs (`require_reviewer`).
    pub review: bool,
    /// Principals and their tokens (the admin role).
    pub administer: bool,
    /// Tenants and system principals (system admins).
    pub system_admin: bool,
    /// The system stream (system admins and system auditors).
    pub system_review: bool,
}

/// What the console offers `caller`.
pub fn capabilities(caller: &Caller) -> Capabilities {
    Capabilities {
        create: may_create_any(caller),
        create_shared: may_create(caller, Owner::Tenant).is_ok(),
        review: require_reviewer(caller, "", "").is_ok(),
        administer: caller.role == Role::Admin,
        system_admin: caller.is_system_admin(),
        system_review: caller.is_system_reviewer(),
    }
}

/// What the console offers on one credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CredentialActions {
    /// Reveal (a resolve with the console purpose) and verify (a connection test sends
    /// the secret to the service).
    pub reveal: bool,
    /// Rotate, edit, make default, verify (grant level `manage`).
    pub manage: bool,
    /// Grants, delete, restore (grant level `admin`, editors by role).
    pub administer: bool,
    /// Destroy.
    pub destroy: bool,
}

impl CredentialActions {
    /// Whether any action is offered.
    pub fn any(&self) -> bool {
        self.reveal || self.manage || self.administer || self.destroy
    }
}

/// What the console offers `caller` on credential `id` at `now_ms` (nothing for a
/// credential of another tenant or none at all).
pub fn credential_actions(
    state: &State,
    caller: &Caller,
    id: Id,
    now_ms: i64,
) -> CredentialActions {
    let Some(cred) = state
        .credentials
        .get(&id)
        .filter(|c| c.tenant == caller.tenant)
    else {
        return CredentialActions::default();
    };
    CredentialActions {
        reveal: can_resolve(state, caller, cred).is_ok() && resolvable(cred, now_ms).is_ok(),
        manage: can_manage(state, caller, cred, Access::Manage).is_ok(),
        administer: can_manage(state, caller, cred, Access::Administer).is_ok(),
        destroy: can_manage(state, caller, cred, Access::Destroy).is_ok(),
    }
}

/// Whether the console's credential list shows a credential the caller may see, given
/// what the caller may do with it: reviewers and those who manage it see it; resolvers
/// see only what they may resolve.
pub fn console_lists(caller: &Caller, actions: CredentialActions) -> bool {
    capabilities(caller).review || actions.manage || actions.reveal
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Actor, Event, Owner, PrincipalKind, RequestContext, Sealed, EVENT_FORMAT};

    const TENANT: Id = Id([1; 16]);

    fn who(n: u8, role: Role) -> Caller {
        Caller {
            tenant: TENANT,
            principal: Id([n; 16]),
            token: Id::NIL,
            role,
            kind: PrincipalKind::User,
            system_admin: false,
        }
    }

    /// A tenant with an admin (1), an editor (2), a resolver (3) and an auditor (4), and
    /// a shared credential (50), after `more`.
    fn given(more: Vec<Body>) -> State {
        let mut bodies = vec![Body::TenantCreated {
            tenant: TENANT,
            name: "t".into(),
        }];
        for (n, role) in [
            (1, Role::Admin),
            (2, Role::Editor),
            (3, Role::Resolver),
            (4, Role::Auditor),
        ] {
            bodies.push(Body::PrincipalCreated {
                tenant: TENANT,
                principal: Id([n; 16]),
                name: format!("p{n}"),
                kind: PrincipalKind::User,
                role,
                system_admin: false,
            });
        }
        bodies.push(Body::CredentialCreated {
            tenant: TENANT,
            credential: Id([50; 16]),
            name: "shared".into(),
            template: "api_key".into(),
            service: "api_key".into(),
            owner: Owner::Tenant,
            description: String::new(),
            public: Default::default(),
            sealed: Sealed {
                nonce: [0; 24],
                ciphertext: vec![1],
            },
            rotate_every_days: None,
            expires_at_ms: None,
            is_default: false,
        });
        bodies.extend(more);
        let mut state = State::default();
        for (seq, body) in bodies.into_iter().enumerate() {
            state.apply(&Event {
                format: EVENT_FORMAT,
                seq: seq as u64,
                at_ms: 0,
                prev: [0; 32],
                actor: Actor::default(),
                context: RequestContext::default(),
                body,
            });
        }
        state
    }

    #[test]
    fn given_roles_when_asked_then_capabilities_follow_the_rules() {
        for (role, create, shared, review, administer) in [
            (Role::Admin, true, true, true, true),
            (Role::Editor, true, true, false, false),
            (Role::Member, true, false, false, false),
            (Role::Resolver, false, false, false, false),
            (Role::Auditor, false, false, true, false),
        ] {
            let caps = capabilities(&who(1, role));
            assert_eq!(
                (
                    caps.create,
                    caps.create_shared,
                    caps.review,
                    caps.administer,
                    caps.system_admin
                ),
                (create, shared, review, administer, false),
                "{role:?}"
            );
        }
    }

    #[test]
    fn given_a_shared_credential_when_a_resolver_lists_then_only_granted_ones_show() {
        let cred = Id([50; 16]);
        let state = given(vec![]);
        let resolver = who(3, Role::Resolver);
        let none = credential_actions(&state, &resolver, cred, 0);
        assert_eq!(none, CredentialActions::default());
        assert!(!console_lists(&resolver, none));
        let auditor = who(4, Role::Auditor);
        let audit = credential_actions(&state, &auditor, cred, 0);
        assert!(!audit.any() && console_lists(&auditor, audit));
        let editor = credential_actions(&state, &who(2, Role::Editor), cred, 0);
        assert!(editor.manage && editor.administer && !editor.destroy);
        let state = given(vec![Body::GrantAdded {
            tenant: TENANT,
            credential: cred,
            principal: resolver.principal,
        }]);
        let granted = credential_actions(&state, &resolver, cred, 0);
        assert!(granted.reveal && !granted.manage && !granted.destroy);
        let group = Id([60; 16]);
        let state = given(vec![
            Body::GroupCreated {
                tenant: TENANT,
                group,
                name: "ops".into(),
            },
            Body::GroupMemberAdded {
                tenant: TENANT,
                group,
                principal: resolver.principal,
            },
            Body::GrantAddedV2 {
                tenant: TENANT,
                credential: cred,
                grantee: crate::event::Grantee::Group(group),
                level: crate::event::GrantLevel::Manage,
            },
        ]);
        let via_group = credential_actions(&state, &resolver, cred, 0);
        assert!(
            via_group.reveal && via_group.manage && !via_group.administer && !via_group.destroy,
            "a group grant at manage: {via_group:?}"
        );
        assert!(console_lists(&resolver, granted));
        let all = credential_actions(&state, &who(1, Role::Admin), cred, 0);
        assert!(all.reveal && all.manage && all.destroy);
        let state = given(vec![Body::CredentialDeleted {
            tenant: TENANT,
            credential: cred,
        }]);
        let deleted = credential_actions(&state, &who(1, Role::Admin), cred, 0);
        assert!(
            !deleted.reveal && deleted.manage,
            "a deleted credential is not revealed"
        );
    }

    #[test]
    fn given_a_session_when_signing_in_and_out_then_the_records_name_it() {
        let state = given(vec![]);
        let me = who(3, Role::Resolver);
        let session = Id([9; 16]);
        assert_eq!(
            sign_in(&state, &me, session).unwrap(),
            vec![Body::ConsoleSignedIn {
                tenant: TENANT,
                principal: me.principal,
                session
            }]
        );
        assert!(sign_in(&state, &who(77, Role::Admin), session).is_err());
        assert!(matches!(
            sign_out(&me, session, SessionEnd::IdleTimeout).unwrap()[0],
            Body::ConsoleSignedOut {
                reason: SessionEnd::IdleTimeout,
                ..
            }
        ));
    }
}
