//! Given/when/then tests of the rules: a state built from events, a command, the
//! expected events or rejection.

use super::*;
use crate::domain::state::State;
use crate::event::{Actor, Event, RequestContext, EVENT_FORMAT};
use crate::event::{
    Body, DenyReason, Owner, PrincipalKind, Purpose, RefusalReason, Role, Sealed, Source,
};
use crate::id::Id;
use std::collections::BTreeMap;

struct World {
    state: State,
    tenant: Id,
    other_tenant: Id,
}

mod authz;
mod notify;
mod selfservice;

fn caller(w: &World, principal: Id, role: Role, kind: PrincipalKind) -> Caller {
    Caller {
        tenant: w.tenant,
        principal,
        token: Id::NIL,
        role,
        kind,
        system_admin: false,
    }
}

fn id(n: u8) -> Id {
    Id([n; 16])
}

fn sealed() -> Sealed {
    Sealed {
        nonce: [0; 24],
        ciphertext: vec![1, 2, 3],
    }
}

impl World {
    fn given(bodies: Vec<Body>) -> World {
        let mut w = World {
            state: State::default(),
            tenant: id(100),
            other_tenant: id(101),
        };
        let mut all = vec![
            Body::TenantCreated {
                tenant: w.tenant,
                name: "default".into(),
            },
            Body::TenantCreated {
                tenant: w.other_tenant,
                name: "other".into(),
            },
        ];
        for (n, role, kind) in [
            (1, Role::Admin, PrincipalKind::User),
            (2, Role::Editor, PrincipalKind::User),
            (3, Role::Resolver, PrincipalKind::Service),
            (4, Role::Auditor, PrincipalKind::User),
            (5, Role::Editor, PrincipalKind::User),
        ] {
            all.push(Body::PrincipalCreated {
                tenant: w.tenant,
                principal: id(n),
                name: format!("p{n}"),
                kind,
                role,
                system_admin: false,
            });
        }
        all.push(Body::PrincipalCreated {
            tenant: w.other_tenant,
            principal: id(9),
            name: "x".into(),
            kind: PrincipalKind::User,
            role: Role::Admin,
            system_admin: false,
        });
        all.extend(bodies);
        w.when_applied(all);
        w
    }

    fn when_applied(&mut self, bodies: Vec<Body>) {
        for body in bodies {
            let seq = self.state.len;
            self.state.apply(&Event {
                format: EVENT_FORMAT,
                seq,
                at_ms: 1000,
                prev: [0; 32],
                actor: Actor::default(),
                context: RequestContext::default(),
                body,
            });
        }
    }

    fn cred(&self, n: u8, owner: Owner, service: &str, is_default: bool) -> Body {
        Body::CredentialCreated {
            tenant: self.tenant,
            credential: id(n),
            name: format!("c{n}"),
            template: service.into(),
            service: service.into(),
            owner,
            description: String::new(),
            public: BTreeMap::new(),
            sealed: sealed(),
            rotate_every_days: None,
            expires_at_ms: None,
            is_default,
        }
    }
}

/// What a resolve released, without the borrowed credential.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    Credential {
        id: Id,
        version: u32,
        source: Source,
    },
    Env,
}

fn source_of(d: Decision<(Resolved<'_>, Body)>) -> Result<Got, DomainError> {
    d.map(|(r, _)| match r {
        Resolved::Credential {
            id,
            version,
            source,
            ..
        } => Got::Credential {
            id,
            version,
            source,
        },
        Resolved::Env => Got::Env,
    })
    .map_err(|r| r.error)
}

/// A resolve by service for the caller (purpose `Resolve`).
fn by_service<'s>(
    w: &'s World,
    me: &Caller,
    service: &str,
    for_user: Option<Id>,
    env: bool,
) -> Decision<(Resolved<'s>, Body)> {
    resolve_service(&w.state, me, service, for_user, Purpose::Resolve, env, 0)
}

#[test]
fn resolution_order_is_own_then_granted_then_default_then_env() {
    let w0 = World::given(vec![]);
    let (t, editor) = (w0.tenant, id(2));
    let mut w = World::given(vec![
        w0.cred(50, Owner::Tenant, "openai", true),
        w0.cred(51, Owner::Tenant, "openai", false),
    ]);
    let me = caller(&w, editor, Role::Editor, PrincipalKind::User);
    assert_eq!(
        source_of(by_service(&w, &me, "openai", None, true)),
        Ok(Got::Credential {
            id: id(50),
            version: 1,
            source: Source::TenantDefault
        })
    );
    w.when_applied(vec![Body::GrantAdded {
        tenant: t,
        credential: id(51),
        principal: editor,
    }]);
    assert_eq!(
        source_of(by_service(&w, &me, "openai", None, true)),
        Ok(Got::Credential {
            id: id(51),
            version: 1,
            source: Source::Granted
        })
    );
    let own = w.cred(52, Owner::Principal(editor), "openai", false);
    w.when_applied(vec![own]);
    assert_eq!(
        source_of(by_service(&w, &me, "openai", None, true)),
        Ok(Got::Credential {
            id: id(52),
            version: 1,
            source: Source::Own
        })
    );
    assert_eq!(
        source_of(by_service(&w, &me, "anthropic", None, true)),
        Ok(Got::Env)
    );
    assert_eq!(
        source_of(by_service(&w, &me, "anthropic", None, false)),
        Err(DomainError::NotConfigured("anthropic".into()))
    );
}

#[test]
fn delegated_service_resolves_for_user_but_auditor_never_resolves() {
    let w0 = World::given(vec![]);
    let w = World::given(vec![
        w0.cred(60, Owner::Principal(id(5)), "openai", false),
        Body::DelegationGranted {
            tenant: w0.tenant,
            principal: id(3),
            all_users: true,
            users: vec![],
        },
    ]);
    let svc = caller(&w, id(3), Role::Resolver, PrincipalKind::Service);
    assert_eq!(
        source_of(by_service(&w, &svc, "openai", Some(id(5)), false)),
        Ok(Got::Credential {
            id: id(60),
            version: 1,
            source: Source::Own
        })
    );
    let auditor = caller(&w, id(4), Role::Auditor, PrincipalKind::User);
    let rej = resolve_by_id(&w.state, &auditor, id(60), None, Purpose::Resolve, 0).unwrap_err();
    assert!(matches!(rej.error, DomainError::Forbidden(_)));
    assert!(matches!(
        rej.records.as_slice(),
        [Body::UseDenied {
            reason: DenyReason::Role,
            ..
        }]
    ));
    let editor = caller(&w, id(2), Role::Editor, PrincipalKind::User);
    assert!(by_service(&w, &editor, "openai", Some(id(5)), false).is_err());
}

#[test]
fn other_tenants_credentials_are_not_found_and_the_attempt_is_recorded_for_the_owner() {
    let w0 = World::given(vec![]);
    let w = World::given(vec![w0.cred(70, Owner::Tenant, "aws", false)]);
    let outsider = Caller {
        tenant: w.other_tenant,
        principal: id(9),
        token: Id::NIL,
        role: Role::Admin,
        kind: PrincipalKind::User,
        system_admin: false,
    };
    let rej = resolve_by_id(&w.state, &outsider, id(70), None, Purpose::Resolve, 0).unwrap_err();
    assert_eq!(rej.error, DomainError::NotFound("credential"));
    // Recorded in the caller's tenant as "not found" (like an id that exists nowhere),
    // and in the owning tenant as a cross-tenant attempt.
    assert!(
        matches!(
            rej.records.as_slice(),
            [Body::AccessDeniedV2 { tenant: mine, reason: RefusalReason::NotFound, .. },
             Body::UseDenied { tenant: owner, reason: DenyReason::OtherTenant, .. }]
                if *mine == w.other_tenant && *owner == w.tenant
        ),
        "{:?}",
        rej.records
    );
    let rej = destroy(&w.state, &outsider, id(70)).unwrap_err();
    assert_eq!(rej.error, DomainError::NotFound("credential"));
    assert_eq!(rej.records.len(), 2);
    // An id that exists nowhere leaves the same record in the caller's tenant only.
    let rej = destroy(&w.state, &outsider, id(77)).unwrap_err();
    assert!(matches!(
        rej.records.as_slice(),
        [Body::AccessDeniedV2 { tenant, reason: RefusalReason::NotFound, .. }] if *tenant == w.other_tenant
    ));
}

#[test]
fn editors_cannot_touch_someone_elses_personal_credential() {
    let w0 = World::given(vec![]);
    let w = World::given(vec![w0.cred(80, Owner::Principal(id(5)), "ssh", false)]);
    let other_editor = caller(&w, id(2), Role::Editor, PrincipalKind::User);
    let rej = rotate(
        &w.state,
        &other_editor,
        id(80),
        2,
        BTreeMap::new(),
        sealed(),
        5,
    )
    .unwrap_err();
    assert!(matches!(
        rej.records.as_slice(),
        [Body::AccessDeniedV2 {
            reason: RefusalReason::NotGranted,
            ..
        }]
    ));
    let owner = caller(&w, id(5), Role::Editor, PrincipalKind::User);
    assert!(rotate(&w.state, &owner, id(80), 2, BTreeMap::new(), sealed(), 5).is_ok());
}

#[test]
fn rotation_retires_versions_beyond_retention() {
    let w0 = World::given(vec![]);
    let mut w = World::given(vec![w0.cred(90, Owner::Tenant, "api_key", false)]);
    let admin = caller(&w, id(1), Role::Admin, PrincipalKind::User);
    for v in 2..=4 {
        let events = rotate(&w.state, &admin, id(90), v, BTreeMap::new(), sealed(), 2).unwrap();
        w.when_applied(events);
    }
    assert_eq!(
        w.state.credentials[&id(90)]
            .versions
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        vec![3, 4]
    );
    let rej = resolve_by_id(&w.state, &admin, id(90), Some(1), Purpose::Resolve, 0).unwrap_err();
    assert!(matches!(rej.error, DomainError::Gone(_)));
}

#[test]
fn lifecycle_transitions_are_checked() {
    let w0 = World::given(vec![]);
    let mut w = World::given(vec![w0.cred(91, Owner::Tenant, "api_key", false)]);
    let admin = caller(&w, id(1), Role::Admin, PrincipalKind::User);
    assert!(matches!(
        restore(&w.state, &admin, id(91)).unwrap_err().error,
        DomainError::Conflict(_)
    ));
    let ev = delete(&w.state, &admin, id(91)).unwrap();
    w.when_applied(ev);
    assert!(matches!(
        resolve_by_id(&w.state, &admin, id(91), None, Purpose::Resolve, 0)
            .unwrap_err()
            .error,
        DomainError::Conflict(_)
    ));
    let ev = destroy(&w.state, &admin, id(91)).unwrap();
    w.when_applied(ev);
    assert!(matches!(
        restore(&w.state, &admin, id(91)).unwrap_err().error,
        DomainError::Gone(_)
    ));
    // The name is free again after destroy.
    assert!(check_create(&w.state, &admin, "c91", "api_key", Owner::Tenant, false).is_ok());
}

#[test]
fn only_one_default_per_service() {
    let w0 = World::given(vec![]);
    let w = World::given(vec![w0.cred(92, Owner::Tenant, "openai", true)]);
    let admin = caller(&w, id(1), Role::Admin, PrincipalKind::User);
    assert!(matches!(
        check_create(&w.state, &admin, "new", "openai", Owner::Tenant, true).map_err(|r| r.error),
        Err(DomainError::Conflict(_))
    ));
    assert!(check_create(&w.state, &admin, "new", "anthropic", Owner::Tenant, true).is_ok());
}

#[test]
fn regression_resolve_by_service_released_a_version_deleted_through_kv() {
    let w0 = World::given(vec![]);
    let (t, editor) = (w0.tenant, id(2));
    let mut w = World::given(vec![
        w0.cred(93, Owner::Tenant, "openai", true),
        w0.cred(94, Owner::Principal(editor), "openai", false),
    ]);
    let me = caller(&w, editor, Role::Editor, PrincipalKind::User);
    assert_eq!(
        source_of(by_service(&w, &me, "openai", None, false)),
        Ok(Got::Credential {
            id: id(94),
            version: 1,
            source: Source::Own
        })
    );
    // Given the own credential's current version was deleted through the KV API,
    // when resolving by service, then the tenant default answers instead.
    w.when_applied(vec![Body::VersionsDeleted {
        tenant: t,
        credential: id(94),
        versions: vec![1],
    }]);
    assert_eq!(
        source_of(by_service(&w, &me, "openai", None, false)),
        Ok(Got::Credential {
            id: id(93),
            version: 1,
            source: Source::TenantDefault
        })
    );
}
