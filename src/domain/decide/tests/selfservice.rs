//! Given/when/then tests of the self-service and sharing rules: the member role, names
//! per owner, groups, grant levels, the atomic default switch, tenant templates, test
//! before save and the access review.

use super::*;
use crate::domain::decide::review::{review_access, AccessPath};
use crate::event::{GrantLevel, Grantee, MetadataChange, RefusalReason, Target};
use crate::template::Catalog;

const MEMBER: u8 = 6;
const MEMBER2: u8 = 7;
const GROUP: u8 = 40;

/// The world plus two members (6, 7) and a group "red" (40) holding member 6.
fn with_members(more: impl FnOnce(&World) -> Vec<Body>) -> World {
    let w0 = World::given(vec![]);
    let mut bodies = vec![];
    for (n, name) in [(MEMBER, "mia"), (MEMBER2, "max")] {
        bodies.push(Body::PrincipalCreated {
            tenant: w0.tenant,
            principal: id(n),
            name: name.into(),
            kind: PrincipalKind::User,
            role: Role::Member,
            system_admin: false,
        });
    }
    bodies.push(Body::GroupCreated {
        tenant: w0.tenant,
        group: id(GROUP),
        name: "red".into(),
    });
    bodies.push(Body::GroupMemberAdded {
        tenant: w0.tenant,
        group: id(GROUP),
        principal: id(MEMBER),
    });
    bodies.extend(more(&w0));
    World::given(bodies)
}

fn member(w: &World, n: u8) -> Caller {
    caller(w, id(n), Role::Member, PrincipalKind::User)
}

fn grant_body(w: &World, cred: u8, grantee: Grantee, level: GrantLevel) -> Body {
    Body::GrantAddedV2 {
        tenant: w.tenant,
        credential: id(cred),
        grantee,
        level,
    }
}

fn resolves_by_id(w: &World, who: &Caller, cred: u8) -> Result<(), DomainError> {
    resolve_by_id(&w.state, who, id(cred), None, Purpose::Resolve, 0)
        .map(|_| ())
        .map_err(|r| r.error)
}

fn refusal_reason(r: &Rejection) -> Option<RefusalReason> {
    r.records.iter().find_map(|b| match b {
        Body::AccessDeniedV2 { reason, .. } => Some(*reason),
        _ => None,
    })
}

#[test]
fn given_a_member_then_it_manages_and_resolves_only_its_own() {
    let w = with_members(|w0| {
        vec![
            w0.cred(60, Owner::Principal(id(MEMBER)), "openai", false),
            w0.cred(61, Owner::Principal(id(MEMBER2)), "openai", false),
            w0.cred(62, Owner::Tenant, "openai", false),
        ]
    });
    let mia = member(&w, MEMBER);
    // When creating: personal yes, shared or someone else's no (recorded).
    assert!(check_create(
        &w.state,
        &mia,
        "mine",
        "openai",
        Owner::Principal(id(MEMBER)),
        false
    )
    .is_ok());
    let r = check_create(&w.state, &mia, "team", "openai", Owner::Tenant, false).unwrap_err();
    assert!(matches!(r.error, DomainError::Forbidden(_)));
    assert_eq!(refusal_reason(&r), Some(RefusalReason::Role));
    let r = check_create(
        &w.state,
        &mia,
        "theirs",
        "openai",
        Owner::Principal(id(MEMBER2)),
        false,
    )
    .unwrap_err();
    assert_eq!(refusal_reason(&r), Some(RefusalReason::NotGranted));
    // Then its own: rotate, update, delete, destroy, resolve.
    assert!(check_rotate(&w.state, &mia, id(60)).is_ok());
    assert!(delete(&w.state, &mia, id(60)).is_ok());
    assert!(destroy(&w.state, &mia, id(60)).is_ok());
    assert_eq!(resolves_by_id(&w, &mia, 60), Ok(()));
    // Not another member's, not an ungranted shared one.
    for other in [61, 62] {
        let r = check_rotate(&w.state, &mia, id(other)).unwrap_err();
        assert_eq!(
            refusal_reason(&r),
            Some(RefusalReason::NotGranted),
            "{other}"
        );
        assert!(matches!(
            resolves_by_id(&w, &mia, other),
            Err(DomainError::Forbidden(_))
        ));
    }
    // By service it gets its own.
    let (r, _) = by_service(&w, &mia, "openai", None, false).unwrap();
    assert!(matches!(r, Resolved::Credential { id: i, source: Source::Own, .. } if i == id(60)));
}

#[test]
fn given_an_editor_when_resolving_an_ungranted_shared_secret_then_refused_and_recorded() {
    let mut w = with_members(|w0| vec![w0.cred(63, Owner::Tenant, "aws", false)]);
    let editor = caller(&w, id(2), Role::Editor, PrincipalKind::User);
    // The editor manages it...
    assert!(check_rotate(&w.state, &editor, id(63)).is_ok());
    // ...but does not resolve it.
    let rej = resolve_by_id(&w.state, &editor, id(63), None, Purpose::Resolve, 0).unwrap_err();
    assert!(matches!(rej.error, DomainError::Forbidden(_)));
    assert!(matches!(
        rej.records.as_slice(),
        [Body::UseDenied {
            reason: DenyReason::NotGranted,
            ..
        }]
    ));
    assert_eq!(
        source_of(by_service(&w, &editor, "aws", None, false)),
        Err(DomainError::NotConfigured("aws".into()))
    );
    // Granted (at any level), it resolves.
    let g = grant_body(&w, 63, Grantee::Principal(id(2)), GrantLevel::Use);
    w.when_applied(vec![g]);
    assert_eq!(resolves_by_id(&w, &editor, 63), Ok(()));
    // An admin resolves every shared credential.
    let admin = caller(&w, id(1), Role::Admin, PrincipalKind::User);
    assert_eq!(resolves_by_id(&w, &admin, 64).map_err(|_| ()), Err(()));
    assert_eq!(resolves_by_id(&w, &admin, 63), Ok(()));
}

#[test]
fn given_a_group_grant_then_members_resolve_until_they_leave() {
    let mut w = with_members(|w0| vec![w0.cred(65, Owner::Tenant, "proxmox", false)]);
    let (mia, max) = (member(&w, MEMBER), member(&w, MEMBER2));
    let admin = caller(&w, id(1), Role::Admin, PrincipalKind::User);
    let events = grant(
        &w.state,
        &admin,
        id(65),
        Grantee::Group(id(GROUP)),
        GrantLevel::Use,
    )
    .unwrap();
    w.when_applied(events);
    // Mia is in the group: she resolves it, by service as "granted".
    assert_eq!(
        source_of(by_service(&w, &mia, "proxmox", None, false)),
        Ok(Got::Credential {
            id: id(65),
            version: 1,
            source: Source::Granted
        })
    );
    assert_eq!(resolves_by_id(&w, &mia, 65), Ok(()));
    assert!(resolves_by_id(&w, &max, 65).is_err());
    // When max joins, the next resolve sees it.
    let events = add_member(&w.state, &admin, id(GROUP), id(MEMBER2)).unwrap();
    w.when_applied(events);
    assert_eq!(resolves_by_id(&w, &max, 65), Ok(()));
    // When mia leaves, the next resolve no longer finds it.
    let events = remove_member(&w.state, &admin, id(GROUP), id(MEMBER)).unwrap();
    w.when_applied(events);
    assert_eq!(
        source_of(by_service(&w, &mia, "proxmox", None, false)),
        Err(DomainError::NotConfigured("proxmox".into()))
    );
    assert!(resolves_by_id(&w, &mia, 65).is_err());
    // Only admins change groups; a missing group is a recorded "not found".
    let r = add_member(&w.state, &mia, id(GROUP), id(MEMBER)).unwrap_err();
    assert_eq!(refusal_reason(&r), Some(RefusalReason::Role));
    let r = add_member(&w.state, &admin, id(41), id(MEMBER)).unwrap_err();
    assert!(matches!(
        r.records.as_slice(),
        [Body::AccessDeniedV2 { target: Some(Target::Group(g)), reason: RefusalReason::NotFound, .. }] if *g == id(41)
    ));
    assert!(matches!(
        create_group(&w.state, &admin, id(42), "RED")
            .unwrap_err()
            .error,
        DomainError::Conflict(_)
    ));
    // A direct grant wins over a group grant of the same step.
    let w = with_members(|w0| {
        vec![
            w0.cred(66, Owner::Tenant, "vultr", false),
            w0.cred(67, Owner::Tenant, "vultr", false),
            grant_body(w0, 66, Grantee::Principal(id(MEMBER)), GrantLevel::Use),
            grant_body(w0, 67, Grantee::Group(id(GROUP)), GrantLevel::Use),
        ]
    });
    assert_eq!(
        source_of(by_service(&w, &member(&w, MEMBER), "vultr", None, false)),
        Ok(Got::Credential {
            id: id(66),
            version: 1,
            source: Source::Granted
        })
    );
}

#[test]
fn given_grant_levels_then_use_resolves_manage_rotates_admin_administers() {
    let w = with_members(|w0| {
        vec![
            w0.cred(70, Owner::Tenant, "ssh", false),
            grant_body(w0, 70, Grantee::Principal(id(MEMBER)), GrantLevel::Use),
            grant_body(w0, 70, Grantee::Principal(id(MEMBER2)), GrantLevel::Manage),
            grant_body(w0, 70, Grantee::Principal(id(3)), GrantLevel::Admin),
            grant_body(w0, 70, Grantee::Group(id(GROUP)), GrantLevel::Manage),
        ]
    });
    let max = member(&w, MEMBER2);
    let service = caller(&w, id(3), Role::Resolver, PrincipalKind::Service);
    // Mia: use directly, manage through the group: the higher level wins.
    let mia = member(&w, MEMBER);
    assert_eq!(
        grant_level(&w.state, id(MEMBER), &w.state.credentials[&id(70)]),
        Some(GrantLevel::Manage)
    );
    assert!(check_rotate(&w.state, &mia, id(70)).is_ok());
    // Manage: resolve, rotate, update, verify; not grant, delete or destroy.
    assert_eq!(resolves_by_id(&w, &max, 70), Ok(()));
    assert!(check_rotate(&w.state, &max, id(70)).is_ok());
    assert!(update(
        &w.state,
        &max,
        id(70),
        MetadataChange {
            description: Some("d".into()),
            ..Default::default()
        },
        0
    )
    .is_ok());
    assert!(verify(&w.state, &max, id(70), true).is_ok());
    for r in [
        grant(
            &w.state,
            &max,
            id(70),
            Grantee::Principal(id(2)),
            GrantLevel::Use,
        )
        .unwrap_err(),
        delete(&w.state, &max, id(70)).unwrap_err(),
        destroy(&w.state, &max, id(70)).unwrap_err(),
    ] {
        assert!(
            matches!(&r.error, DomainError::Forbidden(m) if m.contains("manage") && m.contains("admin")),
            "{r:?}"
        );
        assert_eq!(refusal_reason(&r), Some(RefusalReason::NotGranted));
    }
    // Admin level: everything, including destroy.
    assert!(grant(
        &w.state,
        &service,
        id(70),
        Grantee::Principal(id(2)),
        GrantLevel::Use
    )
    .is_ok());
    assert!(delete(&w.state, &service, id(70)).is_ok());
    assert!(destroy(&w.state, &service, id(70)).is_ok());
    // An editor manages shared credentials by role but destroys them only with an admin
    // grant; an auditor does nothing whatever it is granted.
    let editor = caller(&w, id(2), Role::Editor, PrincipalKind::User);
    assert!(delete(&w.state, &editor, id(70)).is_ok());
    assert!(destroy(&w.state, &editor, id(70)).is_err());
    let auditor = caller(&w, id(4), Role::Auditor, PrincipalKind::User);
    assert!(check_rotate(&w.state, &auditor, id(70)).is_err());
    // A level change replaces the grant; the same level again is a conflict.
    let admin = caller(&w, id(1), Role::Admin, PrincipalKind::User);
    assert!(matches!(
        grant(
            &w.state,
            &admin,
            id(70),
            Grantee::Principal(id(MEMBER2)),
            GrantLevel::Manage
        )
        .unwrap_err()
        .error,
        DomainError::Conflict(_)
    ));
    assert!(grant(
        &w.state,
        &admin,
        id(70),
        Grantee::Principal(id(MEMBER2)),
        GrantLevel::Use
    )
    .is_ok());
    // Only shared credentials are granted, to principals and groups of the tenant.
    let w2 = with_members(|w0| vec![w0.cred(71, Owner::Principal(id(MEMBER)), "ssh", false)]);
    let e = grant(
        &w2.state,
        &member(&w2, MEMBER),
        id(71),
        Grantee::Group(id(GROUP)),
        GrantLevel::Use,
    )
    .unwrap_err();
    assert!(matches!(e.error, DomainError::Invalid { field: Some(f), .. } if f == "group"));
    let e = grant(
        &w.state,
        &admin,
        id(70),
        Grantee::Group(id(99)),
        GrantLevel::Use,
    )
    .unwrap_err();
    assert!(matches!(e.error, DomainError::Invalid { field: Some(f), .. } if f == "group"));
    // Revoking a group's grant by the group's id.
    let events = revoke_grant(&w.state, &admin, id(70), id(GROUP)).unwrap();
    assert!(
        matches!(events.as_slice(), [Body::GrantRevokedV2 { grantee: Grantee::Group(g), .. }] if *g == id(GROUP))
    );
}

#[test]
fn given_names_then_they_are_unique_per_owner_without_revealing_other_owners() {
    let w = with_members(|w0| {
        let mut mine = w0.cred(72, Owner::Principal(id(MEMBER)), "openai", false);
        if let Body::CredentialCreated { name, .. } = &mut mine {
            *name = "my-openai".into();
        }
        vec![mine, w0.cred(73, Owner::Tenant, "openai", false)]
    });
    let (mia, max) = (member(&w, MEMBER), member(&w, MEMBER2));
    // Another member's "my-openai" is fine, and so is a personal "c73" next to the shared one.
    assert!(check_create(
        &w.state,
        &max,
        "my-openai",
        "openai",
        Owner::Principal(id(MEMBER2)),
        false
    )
    .is_ok());
    assert!(check_create(
        &w.state,
        &mia,
        "c73",
        "openai",
        Owner::Principal(id(MEMBER)),
        false
    )
    .is_ok());
    // The same owner twice (without case) is a conflict that names its own credential.
    let e = check_create(
        &w.state,
        &mia,
        "My-OpenAI",
        "openai",
        Owner::Principal(id(MEMBER)),
        false,
    )
    .unwrap_err();
    assert!(
        matches!(&e.error, DomainError::Conflict(m) if m.starts_with("you already have")),
        "{e:?}"
    );
    assert!(e.records.is_empty(), "a conflict writes nothing");
    let admin = caller(&w, id(1), Role::Admin, PrincipalKind::User);
    assert!(matches!(
        check_create(&w.state, &admin, "C73", "openai", Owner::Tenant, false).unwrap_err().error,
        DomainError::Conflict(m) if m.starts_with("a shared credential")
    ));
    // Renames follow the same rule.
    let e = update(
        &w.state,
        &admin,
        id(73),
        MetadataChange {
            name: Some("my-openai".into()),
            ..Default::default()
        },
        0,
    );
    assert!(
        e.is_ok(),
        "a shared credential may take a personal credential's name"
    );
}

#[test]
fn given_a_default_when_switching_then_one_batch_unsets_the_old_and_sets_the_new() {
    let mut w = with_members(|w0| {
        vec![
            w0.cred(74, Owner::Tenant, "openai", true),
            w0.cred(75, Owner::Tenant, "openai", false),
        ]
    });
    let editor = caller(&w, id(2), Role::Editor, PrincipalKind::User);
    let events = set_default(&w.state, &editor, id(75), 0).unwrap();
    let changes: Vec<(Id, Option<bool>)> = events
        .iter()
        .map(|b| match b {
            Body::CredentialUpdated {
                credential, change, ..
            } => (*credential, change.is_default),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(changes, vec![(id(74), Some(false)), (id(75), Some(true))]);
    w.when_applied(events);
    assert_eq!(w.state.default_for(w.tenant, "openai"), Some(id(75)));
    let svc = caller(&w, id(3), Role::Resolver, PrincipalKind::Service);
    assert_eq!(
        source_of(by_service(&w, &svc, "openai", None, false)),
        Ok(Got::Credential {
            id: id(75),
            version: 1,
            source: Source::TenantDefault
        })
    );
    // Again: nothing to do, no event.
    assert_eq!(set_default(&w.state, &editor, id(75), 0).unwrap(), vec![]);
    // A member cannot move the tenant default.
    let r = set_default(&w.state, &member(&w, MEMBER), id(74), 0).unwrap_err();
    assert!(matches!(r.error, DomainError::Forbidden(_)));
}

#[test]
fn given_personal_profiles_then_the_selected_one_answers_for_its_owner() {
    let mut w = with_members(|w0| {
        vec![
            w0.cred(76, Owner::Principal(id(MEMBER)), "anthropic", false),
            w0.cred(77, Owner::Principal(id(MEMBER)), "anthropic", false),
        ]
    });
    let mia = member(&w, MEMBER);
    // Without a selection the most recent answers.
    assert_eq!(
        source_of(by_service(&w, &mia, "anthropic", None, false)),
        Ok(Got::Credential {
            id: id(77),
            version: 1,
            source: Source::Own
        })
    );
    let events = set_default(&w.state, &mia, id(76), 0).unwrap();
    w.when_applied(events);
    assert_eq!(
        source_of(by_service(&w, &mia, "anthropic", None, false)),
        Ok(Got::Credential {
            id: id(76),
            version: 1,
            source: Source::Own
        })
    );
    // A personal selection is not a tenant default.
    assert_eq!(w.state.default_for(w.tenant, "anthropic"), None);
    assert_eq!(
        source_of(by_service(
            &w,
            &member(&w, MEMBER2),
            "anthropic",
            None,
            false
        )),
        Err(DomainError::NotConfigured("anthropic".into()))
    );
    // Switching back moves the mark in one batch.
    let events = set_default(&w.state, &mia, id(77), 0).unwrap();
    assert_eq!(events.len(), 2);
    // Someone else cannot select it.
    assert!(set_default(&w.state, &member(&w, MEMBER2), id(77), 0).is_err());
}

const BENCHMARKER: &str = r#"{"name":"benchmarker","title":"Benchmarker IoT Platform","description":"API URL and key of a Benchmarker instance.","fields":[{"name":"api_url","type":"text","required":true,"env":"BENCHMARKER_API_URL"},{"name":"api_key","type":"secret","required":true,"env":"BENCHMARKER_API_KEY"}]}"#;

#[test]
fn given_tenant_templates_then_admins_define_them_per_tenant_without_shadowing_builtins() {
    let mut w = with_members(|_| vec![]);
    let admin = caller(&w, id(1), Role::Admin, PrincipalKind::User);
    let builtin = Catalog::builtin();
    let r = define_template(
        &w.state,
        &member(&w, MEMBER),
        None,
        BENCHMARKER,
        builtin,
        false,
    )
    .unwrap_err();
    assert_eq!(refusal_reason(&r), Some(RefusalReason::Role));
    let events = define_template(&w.state, &admin, None, BENCHMARKER, builtin, false).unwrap();
    w.when_applied(events);
    let t = w.state.tenant_template(w.tenant, "benchmarker").unwrap();
    assert!(t.template.as_ref().is_some_and(|t| t.fields.len() == 2));
    assert!(w
        .state
        .tenant_template(w.other_tenant, "benchmarker")
        .is_none());
    // Defining it again is a conflict; PUT (replace) redefines it.
    assert!(matches!(
        define_template(&w.state, &admin, None, BENCHMARKER, builtin, false)
            .unwrap_err()
            .error,
        DomainError::Conflict(_)
    ));
    assert!(define_template(
        &w.state,
        &admin,
        Some("benchmarker"),
        BENCHMARKER,
        builtin,
        true
    )
    .is_ok());
    let e =
        define_template(&w.state, &admin, Some("other"), BENCHMARKER, builtin, true).unwrap_err();
    assert!(matches!(e.error, DomainError::Invalid { field: Some(f), .. } if f == "name"));
    // A builtin name cannot be taken.
    let shadow = BENCHMARKER.replace("\"benchmarker\"", "\"openai\"");
    assert!(matches!(
        define_template(&w.state, &admin, None, &shadow, builtin, true).unwrap_err().error,
        DomainError::Conflict(m) if m.contains("builtin")
    ));
    // Checked like the builtins: a bad definition names the part.
    let bad = BENCHMARKER.replace("\"type\":\"text\"", "\"type\":\"select\"");
    let e = define_template(&w.state, &admin, None, &bad, builtin, true).unwrap_err();
    assert!(
        matches!(&e.error, DomainError::Invalid { field: Some(f), .. } if f == "fields.api_url"),
        "{e:?}"
    );
    // In use, it cannot be deleted.
    let mut cred = w.cred(78, Owner::Principal(id(MEMBER)), "benchmarker", false);
    if let Body::CredentialCreated { template, .. } = &mut cred {
        *template = "benchmarker".into();
    }
    w.when_applied(vec![cred]);
    assert!(matches!(
        delete_template(&w.state, &admin, "benchmarker")
            .unwrap_err()
            .error,
        DomainError::Conflict(_)
    ));
    assert!(matches!(
        delete_template(&w.state, &admin, "nope").unwrap_err().error,
        DomainError::NotFound(_)
    ));
}

#[test]
fn given_roles_when_testing_unsaved_input_then_only_creators_may() {
    let w = with_members(|_| vec![]);
    for (n, role, kind, ok) in [
        (1, Role::Admin, PrincipalKind::User, true),
        (2, Role::Editor, PrincipalKind::User, true),
        (MEMBER, Role::Member, PrincipalKind::User, true),
        (3, Role::Resolver, PrincipalKind::Service, false),
        (4, Role::Auditor, PrincipalKind::User, false),
    ] {
        let c = caller(&w, id(n), role, kind);
        let d = check_verify_input(&c);
        assert_eq!(d.is_ok(), ok, "{role:?}");
        if let Err(r) = d {
            assert_eq!(refusal_reason(&r), Some(RefusalReason::Role));
        }
    }
    let body = input_verified(
        &member(&w, MEMBER),
        "bearer_token",
        VerifyOutcome {
            ok: false,
            reason: "HTTP 401".into(),
            latency_ms: 3,
        },
    );
    assert!(matches!(body, Body::CredentialVerifiedV2 { ok: false, .. }));
    assert_eq!(body.action(), "verified");
    assert_eq!(body.credential(), None);
}

#[test]
fn given_grants_groups_defaults_and_delegations_then_the_review_says_who_and_why() {
    let w = with_members(|w0| {
        vec![
            w0.cred(80, Owner::Tenant, "aws", true),
            grant_body(w0, 80, Grantee::Principal(id(MEMBER2)), GrantLevel::Manage),
            grant_body(w0, 80, Grantee::Group(id(GROUP)), GrantLevel::Use),
            w0.cred(81, Owner::Principal(id(MEMBER)), "openai", false),
            Body::DelegationGranted {
                tenant: w0.tenant,
                principal: id(3),
                all_users: false,
                users: vec![id(MEMBER)],
            },
        ]
    });
    let auditor = caller(&w, id(4), Role::Auditor, PrincipalKind::User);
    let paths = |cred: u8| -> Vec<(Id, Vec<AccessPath>)> {
        review_access(&w.state, &auditor, id(cred))
            .unwrap()
            .into_iter()
            .map(|e| (e.principal, e.paths))
            .collect()
    };
    let shared = paths(80);
    let of = |p: u8| {
        shared
            .iter()
            .find(|(i, _)| *i == id(p))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        of(1),
        Some(vec![
            AccessPath::Role(Role::Admin),
            AccessPath::TenantDefault(Role::Admin)
        ])
    );
    assert_eq!(
        of(MEMBER),
        Some(vec![
            AccessPath::GroupGrant {
                group: id(GROUP),
                level: GrantLevel::Use
            },
            AccessPath::TenantDefault(Role::Member)
        ])
    );
    assert_eq!(
        of(MEMBER2),
        Some(vec![
            AccessPath::Grant(GrantLevel::Manage),
            AccessPath::TenantDefault(Role::Member)
        ])
    );
    assert!(of(3).unwrap().contains(&AccessPath::Delegation {
        for_users: vec![id(MEMBER)]
    }));
    assert_eq!(of(4), None, "auditors never resolve");
    // The review agrees with the resolve rule for every principal.
    for (pid, p) in &w.state.principals {
        if p.tenant != w.tenant {
            continue;
        }
        let c = caller(&w, *pid, p.role, p.kind);
        let direct = shared.iter().any(|(i, v)| {
            i == pid
                && v.iter()
                    .any(|x| !matches!(x, AccessPath::Delegation { .. }))
        });
        assert_eq!(resolves_by_id(&w, &c, 80).is_ok(), direct, "{}", p.name);
    }
    // A personal credential: its owner, and the service delegated for the owner.
    assert_eq!(
        paths(81),
        vec![
            (id(MEMBER), vec![AccessPath::Owner]),
            (
                id(3),
                vec![AccessPath::Delegation {
                    for_users: vec![id(MEMBER)]
                }]
            ),
        ]
    );
    // Reviewers only, recorded.
    let r = review_access(&w.state, &member(&w, MEMBER), id(80)).unwrap_err();
    assert_eq!(refusal_reason(&r), Some(RefusalReason::Role));
}
