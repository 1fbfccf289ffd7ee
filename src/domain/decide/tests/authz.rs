//! Given/when/then tests of the authorization rules: system administration, refusal
//! records, read visibility, key rotations, delegations, fallbacks and names.

use super::*;
use crate::event::{RefusalReason, Target};

/// A system admin (principal 20) and a system auditor (21) in the world's tenant.
fn with_system(w0: &World, more: Vec<Body>) -> World {
    let mut bodies = vec![
        Body::PrincipalCreated {
            tenant: w0.tenant,
            principal: id(20),
            name: "root".into(),
            kind: PrincipalKind::User,
            role: Role::Admin,
            system_admin: true,
        },
        Body::PrincipalCreated {
            tenant: w0.tenant,
            principal: id(21),
            name: "sysaudit".into(),
            kind: PrincipalKind::User,
            role: Role::Auditor,
            system_admin: true,
        },
        Body::TokenIssued {
            tenant: w0.tenant,
            principal: id(20),
            token: id(40),
            hash: [0; 32],
            expires_at_ms: None,
        },
    ];
    bodies.extend(more);
    World::given(bodies)
}

fn system(w: &World, principal: Id, role: Role) -> Caller {
    Caller {
        system_admin: true,
        ..caller(w, principal, role, PrincipalKind::User)
    }
}

/// The one refusal record in the caller's tenant, as (operation, target, reason).
fn refusal(r: &Rejection, tenant: Id) -> (String, Option<Target>, RefusalReason) {
    let found: Vec<_> = r
        .records
        .iter()
        .filter_map(|b| match b {
            Body::AccessDeniedV2 {
                tenant: t,
                operation,
                target,
                reason,
            } if *t == tenant => Some((operation.clone(), *target, *reason)),
            _ => None,
        })
        .collect();
    assert_eq!(found.len(), 1, "{:?}", r.records);
    found.into_iter().next().unwrap()
}

#[test]
fn given_a_tenant_admin_when_acting_on_a_system_admin_then_refused_and_recorded() {
    let w0 = World::given(vec![]);
    let w = with_system(&w0, vec![]);
    let admin = caller(&w, id(1), Role::Admin, PrincipalKind::User);
    let root = id(20);
    let r = issue_token(&w.state, &admin, root, id(41), [1; 32], None, 0).unwrap_err();
    assert!(matches!(r.error, DomainError::Forbidden(_)));
    assert_eq!(
        refusal(&r, w.tenant),
        (
            "token_issued".into(),
            Some(Target::Principal(root)),
            RefusalReason::SystemOnly
        )
    );
    let r = disable_principal(&w.state, &admin, root).unwrap_err();
    assert_eq!(refusal(&r, w.tenant).2, RefusalReason::SystemOnly);
    let r = revoke_token(&w.state, &admin, id(40)).unwrap_err();
    assert_eq!(
        refusal(&r, w.tenant),
        (
            "token_revoked".into(),
            Some(Target::Token(id(40))),
            RefusalReason::SystemOnly
        )
    );
    // The system auditor is a system principal too.
    let r = issue_token(&w.state, &admin, id(21), id(42), [1; 32], None, 0).unwrap_err();
    assert!(matches!(r.error, DomainError::Forbidden(_)));
    // A system admin may.
    let sys = system(&w, root, Role::Admin);
    assert!(issue_token(&w.state, &sys, id(21), id(42), [1; 32], None, 0).is_ok());
    assert!(revoke_token(&w.state, &sys, id(40)).is_ok());
}

#[test]
fn given_one_system_admin_when_disabling_it_then_refused_until_there_is_another() {
    let w0 = World::given(vec![]);
    let w = with_system(&w0, vec![]);
    let sys = system(&w, id(20), Role::Admin);
    // Another system admin disabling the only one: first create a second one.
    let second = system(&w, id(22), Role::Admin);
    let r = disable_principal(&w.state, &second, id(20)).unwrap_err();
    // id(22) does not exist yet, but the rule looks at the target: the last one stays.
    assert!(matches!(r.error, DomainError::Conflict(_)), "{r:?}");
    let events = create_principal(
        &w.state,
        &sys,
        id(22),
        "root2",
        PrincipalKind::User,
        Role::Admin,
        true,
    )
    .unwrap();
    let mut w = w;
    w.when_applied(events);
    assert!(disable_principal(&w.state, &second, id(20)).is_ok());
}

#[test]
fn given_non_system_callers_when_doing_system_administration_then_refused_and_recorded() {
    let w0 = World::given(vec![]);
    let w = with_system(&w0, vec![]);
    let admin = caller(&w, id(1), Role::Admin, PrincipalKind::User);
    let new = NewTenant {
        tenant: id(30),
        name: "beta",
        admin: id(31),
        token: id(32),
        token_hash: [0; 32],
    };
    let r = create_tenant(&w.state, &admin, new).unwrap_err();
    assert_eq!(
        refusal(&r, w.tenant),
        ("tenant_created".into(), None, RefusalReason::SystemOnly)
    );
    // The system auditor is not a system admin.
    let auditor = system(&w, id(21), Role::Auditor);
    assert!(create_tenant(&w.state, &auditor, new).is_err());
    let r = create_principal(
        &w.state,
        &admin,
        id(33),
        "sneaky",
        PrincipalKind::User,
        Role::Admin,
        true,
    )
    .unwrap_err();
    assert_eq!(refusal(&r, w.tenant).2, RefusalReason::SystemOnly);
    let sys = system(&w, id(20), Role::Admin);
    let events = create_tenant(&w.state, &sys, new).unwrap();
    assert!(matches!(
        events.as_slice(),
        [
            Body::TenantCreated { .. },
            Body::PrincipalCreated {
                system_admin: false,
                ..
            },
            Body::TokenIssued { .. }
        ]
    ));
    // Key rotations.
    let r = rotate_master_key(&admin, MasterKeyRotation::Requested, false).unwrap_err();
    assert_eq!(
        refusal(&r, w.tenant),
        ("master_key_rotated".into(), None, RefusalReason::SystemOnly)
    );
    assert!(rotate_master_key(&sys, MasterKeyRotation::Requested, false).is_ok());
    let editor = caller(&w, id(2), Role::Editor, PrincipalKind::User);
    assert!(rotate_master_key(&editor, MasterKeyRotation::AfterShred, false).is_ok());
    assert!(matches!(
        rotate_master_key(&sys, MasterKeyRotation::Requested, true)
            .unwrap_err()
            .error,
        DomainError::Conflict(_)
    ));
    assert_eq!(
        refusal(&rotate_signing_key(&admin).unwrap_err(), w.tenant).0,
        "signing_key_rotated"
    );
    assert!(rotate_signing_key(&sys).is_ok());
}

#[test]
fn given_an_editor_or_resolver_when_administering_then_every_refusal_is_recorded() {
    let w0 = World::given(vec![]);
    let w = World::given(vec![]);
    let editor = caller(&w, id(2), Role::Editor, PrincipalKind::User);
    let resolver = caller(&w, id(3), Role::Resolver, PrincipalKind::Service);
    let auditor = caller(&w, id(4), Role::Auditor, PrincipalKind::User);
    let r = create_principal(
        &w.state,
        &editor,
        id(34),
        "boss",
        PrincipalKind::User,
        Role::Admin,
        false,
    )
    .unwrap_err();
    assert_eq!(
        refusal(&r, w0.tenant),
        ("principal_created".into(), None, RefusalReason::Role)
    );
    let r = issue_token(&w.state, &editor, id(5), id(43), [2; 32], None, 0).unwrap_err();
    assert_eq!(refusal(&r, w.tenant).1, Some(Target::Principal(id(5))));
    let r = disable_principal(&w.state, &editor, id(5)).unwrap_err();
    assert_eq!(refusal(&r, w.tenant).0, "principal_disabled");
    for c in [&resolver, &auditor] {
        let r = check_create(&w.state, c, "x", "api_key", Owner::Tenant, false).unwrap_err();
        assert_eq!(
            refusal(&r, w.tenant),
            ("created".into(), None, RefusalReason::Role)
        );
    }
    // A principal that does not exist is a recorded "not found".
    let admin = caller(&w, id(1), Role::Admin, PrincipalKind::User);
    let r = issue_token(&w.state, &admin, id(99), id(44), [2; 32], None, 0).unwrap_err();
    assert_eq!(r.error, DomainError::NotFound("principal"));
    assert_eq!(refusal(&r, w.tenant).2, RefusalReason::NotFound);
    // One in another tenant looks the same.
    let r = disable_principal(&w.state, &admin, id(9)).unwrap_err();
    assert_eq!(refusal(&r, w.tenant).2, RefusalReason::NotFound);
}

#[test]
fn given_read_rules_then_visibility_is_decided_once() {
    let w0 = World::given(vec![]);
    let w = World::given(vec![
        w0.cred(61, Owner::Principal(id(5)), "ssh", false),
        w0.cred(62, Owner::Tenant, "ssh", false),
    ]);
    let editor = caller(&w, id(2), Role::Editor, PrincipalKind::User);
    let owner = caller(&w, id(5), Role::Editor, PrincipalKind::User);
    let auditor = caller(&w, id(4), Role::Auditor, PrincipalKind::User);
    assert!(!can_see(&editor, Owner::Principal(id(5))));
    assert!(can_see(&editor, Owner::Tenant));
    assert!(can_see(&owner, Owner::Principal(id(5))));
    assert!(can_see(&auditor, Owner::Principal(id(5))));
    let r = see_credential(&w.state, &editor, id(61), "credential_read").unwrap_err();
    assert_eq!(r.error, DomainError::NotFound("credential"));
    assert_eq!(
        refusal(&r, w.tenant),
        (
            "credential_read".into(),
            Some(Target::Credential(id(61))),
            RefusalReason::NotGranted
        )
    );
    assert!(see_credential(&w.state, &editor, id(62), "credential_read").is_ok());
    // Reviewers.
    let r = require_reviewer(&editor, "audit_read", "the audit log").unwrap_err();
    assert_eq!(
        refusal(&r, w.tenant),
        ("audit_read".into(), None, RefusalReason::Role)
    );
    assert!(require_reviewer(&auditor, "audit_read", "the audit log").is_ok());
    // The system stream.
    assert_eq!(
        audit_stream(&auditor, AuditScope::Tenant, "audit_read").unwrap(),
        w.tenant
    );
    let r = audit_stream(&auditor, AuditScope::System, "audit_read").unwrap_err();
    assert_eq!(refusal(&r, w.tenant).2, RefusalReason::SystemOnly);
    let sys_auditor = Caller {
        system_admin: true,
        ..auditor
    };
    assert_eq!(
        audit_stream(&sys_auditor, AuditScope::System, "audit_read").unwrap(),
        Id::NIL
    );
    assert!(visible_to(&sys_auditor, None) && visible_to(&sys_auditor, Some(w.other_tenant)));
    assert!(visible_to(&auditor, Some(w.tenant)));
    assert!(!visible_to(&auditor, None) && !visible_to(&auditor, Some(w.other_tenant)));
    // Event proofs: an event of another tenant is a recorded 404 in both tenants.
    let r = see_event(&auditor, 7, Some(Some(w.other_tenant))).unwrap_err();
    assert_eq!(r.error, DomainError::NotFound("event"));
    assert_eq!(r.records.len(), 2);
    assert!(see_event(&auditor, 7, Some(Some(w.tenant))).is_ok());
    assert!(see_event(&auditor, 7, None).is_err());
    // A principal's usage: itself or a reviewer.
    assert!(see_principal_usage(&w.state, &editor, id(2)).is_ok());
    assert!(see_principal_usage(&w.state, &editor, id(5)).is_err());
    assert!(see_principal_usage(&w.state, &auditor, id(5)).is_ok());
}

#[test]
fn given_no_connection_test_when_verifying_then_authorization_comes_first() {
    let w0 = World::given(vec![]);
    let w = World::given(vec![w0.cred(63, Owner::Tenant, "api_key", false)]);
    let admin = caller(&w, id(1), Role::Admin, PrincipalKind::User);
    let resolver = caller(&w, id(3), Role::Resolver, PrincipalKind::Service);
    assert!(matches!(
        verify(&w.state, &admin, id(63), false).unwrap_err().error,
        DomainError::Conflict(_)
    ));
    let r = verify(&w.state, &resolver, id(63), false).unwrap_err();
    assert!(matches!(r.error, DomainError::Forbidden(_)));
    assert_eq!(refusal(&r, w.tenant).0, "verified");
    let (_, version, body) = verify(&w.state, &admin, id(63), true).unwrap();
    assert!(matches!(
        body,
        Body::CredentialUsed {
            purpose: Purpose::Verify,
            ..
        }
    ));
    let outcome = VerifyOutcome {
        ok: true,
        reason: "200".into(),
        latency_ms: 3,
    };
    assert!(matches!(
        verified(&w.state, id(63), version, outcome)
            .unwrap()
            .as_slice(),
        [Body::CredentialVerified {
            ok: true,
            version: 1,
            ..
        }]
    ));
}

#[test]
fn given_delegations_then_for_user_resolves_follow_them() {
    let w0 = World::given(vec![]);
    let mut w = with_system(
        &w0,
        vec![
            w0.cred(64, Owner::Principal(id(5)), "openai", false),
            w0.cred(65, Owner::Principal(id(20)), "openai", false),
        ],
    );
    let svc = caller(&w, id(3), Role::Resolver, PrincipalKind::Service);
    let admin = caller(&w, id(1), Role::Admin, PrincipalKind::User);
    // No delegation: refused, recorded as use_denied naming the user.
    let r = by_service(&w, &svc, "openai", Some(id(5)), false).unwrap_err();
    assert!(matches!(r.error, DomainError::Forbidden(_)));
    assert!(matches!(
        r.records.as_slice(),
        [Body::UseDenied { subject: Some(u), reason: DenyReason::NotGranted, .. }] if *u == id(5)
    ));
    // Admins are users: they resolve for nobody.
    assert!(by_service(&w, &admin, "openai", Some(id(5)), false).is_err());
    // A delegation is for services only, and a system principal must be listed by a
    // system admin.
    assert!(matches!(
        grant_delegation(&w.state, &admin, id(2), true, &[])
            .unwrap_err()
            .error,
        DomainError::Invalid { .. }
    ));
    let r = grant_delegation(&w.state, &admin, id(3), false, &[id(20)]).unwrap_err();
    assert_eq!(refusal(&r, w.tenant).2, RefusalReason::SystemOnly);
    let editor = caller(&w, id(2), Role::Editor, PrincipalKind::User);
    assert_eq!(
        refusal(
            &grant_delegation(&w.state, &editor, id(3), true, &[]).unwrap_err(),
            w.tenant
        )
        .0,
        "delegation_granted"
    );
    let events = grant_delegation(&w.state, &admin, id(3), true, &[]).unwrap();
    w.when_applied(events);
    let (_, used) = by_service(&w, &svc, "openai", Some(id(5)), false).unwrap();
    assert!(matches!(used, Body::CredentialUsed { subject: Some(u), .. } if u == id(5)));
    // all_users never covers a system principal.
    assert!(by_service(&w, &svc, "openai", Some(id(20)), false).is_err());
    let sys = system(&w, id(20), Role::Admin);
    let events = grant_delegation(&w.state, &sys, id(3), false, &[id(20)]).unwrap();
    w.when_applied(events);
    assert!(by_service(&w, &svc, "openai", Some(id(20)), false).is_ok());
    assert!(by_service(&w, &svc, "openai", Some(id(5)), false).is_err());
    let events = revoke_delegation(&w.state, &admin, id(3)).unwrap();
    w.when_applied(events);
    assert!(by_service(&w, &svc, "openai", Some(id(20)), false).is_err());
    assert_eq!(
        revoke_delegation(&w.state, &admin, id(3))
            .unwrap_err()
            .error,
        DomainError::NotFound("delegation")
    );
}

#[test]
fn given_a_purpose_then_resolve_by_service_records_it() {
    let w0 = World::given(vec![]);
    let w = World::given(vec![w0.cred(66, Owner::Tenant, "openai", true)]);
    let me = caller(&w, id(2), Role::Editor, PrincipalKind::User);
    let (_, body) =
        resolve_service(&w.state, &me, "openai", None, Purpose::VaultRead, false, 0).unwrap();
    assert!(matches!(
        body,
        Body::CredentialUsed {
            purpose: Purpose::VaultRead,
            ..
        }
    ));
}

#[test]
fn given_fallback_tenants_then_fallbacks_apply_to_those_only() {
    let w = World::given(vec![]);
    let named = ["DEFAULT".to_string()];
    assert!(fallback_applies(&w.state, w.tenant, &named));
    assert!(!fallback_applies(&w.state, w.other_tenant, &named));
    assert!(!fallback_applies(&w.state, w.tenant, &[]));
}

#[test]
fn given_names_then_they_are_normalised_visible_and_unique_without_case() {
    let w0 = World::given(vec![]);
    let w = World::given(vec![w0.cred(67, Owner::Tenant, "ssh", false)]);
    let admin = caller(&w, id(1), Role::Admin, PrincipalKind::User);
    for bad in [
        "evil\u{202E}gpj",
        "zero\u{200B}width",
        "bell\u{7}",
        "bom\u{FEFF}",
    ] {
        assert!(matches!(
            check_credential_name(bad),
            Err(DomainError::Invalid { .. })
        ));
    }
    assert_eq!(check_credential_name("cafe\u{301}").unwrap(), "caf\u{e9}");
    // c67 exists: C67 is the same name.
    assert!(matches!(
        check_create(&w.state, &admin, "C67", "ssh", Owner::Tenant, false)
            .unwrap_err()
            .error,
        DomainError::Conflict(_)
    ));
    assert_eq!(
        check_create(&w.state, &admin, "cafe\u{301}", "ssh", Owner::Tenant, false).unwrap(),
        "caf\u{e9}"
    );
    // Principals and tenants too.
    assert!(matches!(
        create_principal(
            &w.state,
            &admin,
            id(35),
            "P2",
            PrincipalKind::User,
            Role::Editor,
            false
        )
        .unwrap_err()
        .error,
        DomainError::Conflict(_)
    ));
    let sys = system(&w, id(20), Role::Admin);
    let new = NewTenant {
        tenant: id(36),
        name: "Default",
        admin: id(37),
        token: id(38),
        token_hash: [0; 32],
    };
    assert!(matches!(
        create_tenant(&w.state, &sys, new).unwrap_err().error,
        DomainError::Conflict(_)
    ));
    assert!(check_service("my-svc_1").is_ok());
    assert!(check_service("Bad Service!").is_err());
}

#[test]
fn given_a_new_ledger_then_bootstrap_makes_the_first_system_admin() {
    let bodies = bootstrap("o".into(), [1; 32], id(1), id(2), id(3), [4; 32]);
    assert!(matches!(
        bodies.as_slice(),
        [
            Body::LedgerInitialized { .. },
            Body::TenantCreated { name, .. },
            Body::PrincipalCreated { system_admin: true, role: Role::Admin, .. },
            Body::TokenIssued { .. }
        ] if name == "default"
    ));
    let w0 = World::given(vec![]);
    let w = World::given(vec![w0.cred(68, Owner::Tenant, "ssh", false)]);
    let cred = &w.state.credentials[&id(68)];
    assert!(matches!(
        unopenable(cred, id(68)).records.as_slice(),
        [Body::UseDenied {
            reason: DenyReason::Unavailable,
            ..
        }]
    ));
}
