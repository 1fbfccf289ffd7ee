//! Scheduled tests and webhooks: who may switch and configure them, which credentials a
//! round covers, and which notifications the log and the clock call for (once per
//! credential, version and state).

use super::*;
use crate::domain::decide::schedule::{scheduled_round, set_scheduled_verify};
use crate::domain::decide::webhooks::{
    check_webhook_input, delete_webhook, delivered, due_notifications, for_event, WebhookInput,
};
use crate::event::WebhookFormat;

const DAY: i64 = 86_400_000;

fn hook(w: &World, n: u8, events: &[&str], ledger_wide: bool) -> Body {
    Body::WebhookCreated {
        tenant: w.tenant,
        webhook: id(n),
        origin: "https://hooks.example.com".into(),
        events: events.iter().map(|e| e.to_string()).collect(),
        format: WebhookFormat::Json,
        expiring_within_days: 7,
        ledger_wide,
        sealed: sealed(),
    }
}

fn input(events: &[&str]) -> WebhookInput {
    WebhookInput {
        scheme: "https".into(),
        origin: "https://hooks.example.com".into(),
        host: "hooks.example.com".into(),
        allow_private: false,
        url_len: 30,
        events: events.iter().map(|e| e.to_string()).collect(),
        format: WebhookFormat::Json,
        expiring_within_days: None,
    }
}

#[test]
fn the_scheduled_test_switch_is_for_who_may_verify_and_changes_the_round() {
    let mut w = World::given(vec![]);
    w.when_applied(vec![
        w.cred(20, Owner::Tenant, "bearer_token", false),
        w.cred(21, Owner::Tenant, "bearer_token", false),
    ]);
    let admin = caller(&w, id(1), Role::Admin, PrincipalKind::User);
    let resolver = caller(&w, id(3), Role::Resolver, PrincipalKind::Service);
    let all = |_: &crate::domain::state::Credential| true;
    assert_eq!(scheduled_round(&w.state, all, 0), vec![id(20), id(21)]);
    let refused = set_scheduled_verify(&w.state, &resolver, id(20), false).unwrap_err();
    assert!(matches!(refused.error, DomainError::Forbidden(_)));
    assert_eq!(refused.records.len(), 1, "the refusal is recorded");
    let events = set_scheduled_verify(&w.state, &admin, id(20), false).unwrap();
    assert_eq!(events.len(), 1);
    w.when_applied(events);
    assert_eq!(scheduled_round(&w.state, all, 0), vec![id(21)]);
    assert!(set_scheduled_verify(&w.state, &admin, id(20), false)
        .unwrap()
        .is_empty());
    // No connection test: not scheduled.
    assert!(scheduled_round(&w.state, |_| false, 0).is_empty());
}

#[test]
fn webhooks_are_for_admins_of_their_tenant() {
    let mut w = World::given(vec![]);
    let admin = caller(&w, id(1), Role::Admin, PrincipalKind::User);
    let editor = caller(&w, id(2), Role::Editor, PrincipalKind::User);
    let r = check_webhook_input(&w.state, &editor, &input(&["destroyed"])).unwrap_err();
    assert!(matches!(r.error, DomainError::Forbidden(_)));
    assert_eq!(r.records.len(), 1);
    for (events, field) in [(vec!["nope"], "events"), (vec![], "events")] {
        let r = check_webhook_input(&w.state, &admin, &input(&events)).unwrap_err();
        assert!(
            matches!(&r.error, DomainError::Invalid { field: Some(f), .. } if f == field),
            "{:?}",
            r.error
        );
        assert!(r.records.is_empty());
    }
    let mut private = input(&["destroyed"]);
    private.host = "169.254.169.254".into();
    assert!(check_webhook_input(&w.state, &admin, &private).is_err());
    private.allow_private = true;
    assert!(check_webhook_input(&w.state, &admin, &private).is_ok());
    w.when_applied(vec![hook(&w, 50, &["destroyed"], false)]);
    let outsider = Caller {
        tenant: w.other_tenant,
        ..caller(&w, id(9), Role::Admin, PrincipalKind::User)
    };
    let r = delete_webhook(&w.state, &outsider, id(50)).unwrap_err();
    assert!(matches!(r.error, DomainError::NotFound(_)));
    assert_eq!(r.records.len(), 1);
    assert_eq!(delete_webhook(&w.state, &admin, id(50)).unwrap().len(), 1);
}

#[test]
fn expiring_is_notified_once_per_credential_version() {
    let mut w = World::given(vec![]);
    let mut c = w.cred(20, Owner::Tenant, "api_key", false);
    if let Body::CredentialCreated { expires_at_ms, .. } = &mut c {
        *expires_at_ms = Some(1000 + 3 * DAY);
    }
    w.when_applied(vec![c, hook(&w, 50, &["expiring"], false)]);
    let due = due_notifications(&w.state, 1000);
    assert_eq!(due.len(), 1, "{due:?}");
    assert_eq!((due[0].event, due[0].version), ("expiring", Some(1)));
    w.when_applied(vec![delivered(
        &due[0],
        id(60),
        false,
        6,
        Some(503),
        "HTTP 503".into(),
    )]);
    assert!(
        due_notifications(&w.state, 1000).is_empty(),
        "a final failure counts too"
    );
    w.when_applied(vec![Body::CredentialRotated {
        tenant: w.tenant,
        credential: id(20),
        version: 2,
        public: BTreeMap::new(),
        sealed: sealed(),
        retired: vec![],
    }]);
    let again = due_notifications(&w.state, 1000);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].version, Some(2));
}

#[test]
fn log_events_reach_the_webhooks_of_their_tenant_and_ledger_wide_ones() {
    let mut w = World::given(vec![]);
    w.when_applied(vec![
        hook(&w, 50, &["verify_failed", "access_denied_burst"], false),
        hook(&w, 51, &["access_denied_burst"], true),
    ]);
    let event = |body| Event {
        format: EVENT_FORMAT,
        seq: 77,
        at_ms: 1000,
        prev: [0; 32],
        actor: Actor::default(),
        context: RequestContext::default(),
        body,
    };
    let failed = |tenant| {
        event(Body::CredentialVerified {
            tenant,
            credential: id(20),
            version: 1,
            ok: false,
            reason: "connection refused".into(),
            latency_ms: 1,
        })
    };
    let h50 = &w.state.webhooks[&id(50)];
    let h51 = &w.state.webhooks[&id(51)];
    let n = for_event(id(50), h50, &failed(w.tenant)).unwrap();
    assert_eq!((n.event, n.trigger_seq), ("verify_failed", Some(77)));
    assert!(for_event(id(50), h50, &failed(w.other_tenant)).is_none());
    let burst = event(Body::AuthFailures {
        source: Some("192.0.2.1".into()),
        first_ms: 0,
        last_ms: 1,
        count: 20,
        malformed: 0,
        tokens: vec![],
    });
    assert!(for_event(id(50), h50, &burst).is_none(), "not ledger-wide");
    assert!(for_event(id(51), h51, &burst).is_some());
}
