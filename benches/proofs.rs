//! Proof benchmark: builds a ledger of real signed events in a real store (default one
//! million; `PROOF_BENCH_EVENTS=N` to change), then prints inclusion and consistency proof
//! generation time, checkpoint signing time, and bundle export and verification speed.
//!
//! Run: `PROOF_BENCH_EVENTS=1000000 cargo bench --bench proofs`. CI never runs benches.
//! The events are sealed with the ledger's codec and signing (`SignedEvent::seal`),
//! written with `LogStore::append_durable` and projected (Merkle tree included) by
//! `projection::catch_up`, which is the committer's path without the per-request locking.

use credledger::event::{
    event_hash, Actor, Body, Event, Purpose, RequestContext, SignedEvent, Source, EVENT_FORMAT,
};
use credledger::id::Id;
use credledger::store::sled::SledBackend as Store;
use credledger::store::{Append, LogStore};
use credledger::{bundle, codec, note, projection, proof};
use ed25519_dalek::SigningKey;
use rand::{rngs::OsRng, Rng};
use rayon::prelude::*;
use std::time::{Duration, Instant};

fn body(seq: u64, key: &SigningKey, tenant: Id, cred: Id) -> Body {
    match seq {
        0 => Body::LedgerInitialized {
            origin: "bench.credledger.local/proofs".into(),
            signing_key: key.verifying_key().to_bytes(),
        },
        1 => Body::TenantCreated {
            tenant,
            name: "default".into(),
        },
        _ => Body::CredentialUsed {
            tenant,
            credential: Some(cred),
            version: Some(1),
            service: Some("openai".into()),
            subject: None,
            source: Source::Direct,
            purpose: Purpose::Resolve,
        },
    }
}

fn build(store: &Store, n: u64, key: &SigningKey) {
    let (tenant, cred, principal) = (Id::random(), Id::random(), Id::random());
    let mut prev = [0u8; 32];
    let batch = 50_000u64;
    let mut start = 0;
    while start < n {
        let end = (start + batch).min(n);
        // Hash links are sequential and cheap; signatures are parallel.
        let events: Vec<Event> = (start..end)
            .map(|seq| {
                let e = Event {
                    format: EVENT_FORMAT,
                    seq,
                    at_ms: 1_760_000_000_000 + seq as i64,
                    prev,
                    actor: Actor {
                        tenant: Some(tenant),
                        principal: Some(principal),
                        token: None,
                    },
                    context: RequestContext {
                        request_id: None,
                        remote_addr: Some("192.0.2.10".into()),
                    },
                    body: body(seq, key, tenant, cred),
                };
                prev = event_hash(&codec::encode(&e).expect("encodes"));
                e
            })
            .collect();
        let records: Vec<(u64, Vec<u8>)> = events
            .into_par_iter()
            .map(|e| (e.seq, SignedEvent::seal(e, key).expect("seals").to_record()))
            .collect();
        let borrowed: Vec<(u64, &[u8])> = records.iter().map(|(s, r)| (*s, r.as_slice())).collect();
        store
            .append_durable(Append {
                keyring: &[],
                records: &borrowed,
            })
            .expect("durable write");
        start = end;
    }
    projection::catch_up(store, |_| {}).expect("projection");
}

fn mean(total: Duration, n: usize) -> String {
    format!("{:.1} µs", total.as_secs_f64() * 1e6 / n as f64)
}

fn main() {
    let n: u64 = std::env::var("PROOF_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let key = SigningKey::generate(&mut OsRng);
    let t = Instant::now();
    build(&store, n, &key);
    println!(
        "built {n} signed events (sealed, durable, projected) in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let mut rng = rand::thread_rng();

    let samples = 10_000;
    let t = Instant::now();
    for _ in 0..samples {
        let i = rng.gen_range(0..n);
        proof::inclusion(&store, i, n).expect("inclusion");
    }
    println!(
        "inclusion proof at size {n}: {} mean over {samples} random indices",
        mean(t.elapsed(), samples)
    );
    let t = Instant::now();
    for _ in 0..samples {
        let old = rng.gen_range(1..n);
        proof::consistency(&store, old, n).expect("consistency");
    }
    println!(
        "consistency proof old→{n}: {} mean over {samples} random old sizes",
        mean(t.elapsed(), samples)
    );
    let t = Instant::now();
    for _ in 0..samples {
        let new = rng.gen_range(2..=n);
        let old = rng.gen_range(1..new);
        proof::consistency(&store, old, new).expect("consistency");
    }
    println!(
        "consistency proof random old→new: {} mean over {samples} pairs",
        mean(t.elapsed(), samples)
    );

    let t = Instant::now();
    let cp = proof::checkpoint_with_key(&store, &key).expect("checkpoint");
    println!(
        "first checkpoint at size {n} (root, sign, store, fdatasync): {:.2} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let reps = 1_000;
    let t = Instant::now();
    for _ in 0..reps {
        let root = proof::root(&store, n).expect("root");
        let c = note::Checkpoint {
            origin: "bench.credledger.local/proofs".into(),
            size: n,
            root,
            extensions: vec![],
        };
        note::sign_checkpoint(&c, &c.origin.clone(), &key).expect("sign");
    }
    println!(
        "checkpoint root + signature (no store): {} mean over {reps}",
        mean(t.elapsed(), reps)
    );
    let t = Instant::now();
    for _ in 0..samples {
        proof::prove_event_at(&store, &cp, rng.gen_range(0..n)).expect("prove");
    }
    println!(
        "prove_event (leaf + inclusion proof): {} mean over {samples}",
        mean(t.elapsed(), samples)
    );

    let path = dir.path().join("bundle.jsonl");
    let t = Instant::now();
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).expect("bundle file"));
    bundle::export(&store, &cp, 0, None, &mut out).expect("export");
    drop(out);
    let secs = t.elapsed().as_secs_f64();
    let size = std::fs::metadata(&path).expect("bundle").len();
    println!(
        "export of {n} events: {secs:.1} s ({:.0} events/s), {:.1} MB",
        n as f64 / secs,
        size as f64 / 1e6
    );
    let vkey = proof::genesis_verifier_key(&store).expect("key");
    let t = Instant::now();
    let file =
        std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&path).expect("bundle"));
    let r = bundle::verify_bundle_reader(file, &vkey).expect("the bundle verifies");
    let secs = t.elapsed().as_secs_f64();
    println!(
        "verify-bundle of {} events: {secs:.1} s ({:.0} events/s)",
        r.events,
        r.events as f64 / secs
    );
    let from = n.saturating_sub(10_000);
    let mut part = Vec::new();
    bundle::export(&store, &cp, from, None, &mut part).expect("export");
    let t = Instant::now();
    bundle::verify_bundle(&part, &vkey).expect("the partial bundle verifies");
    println!(
        "verify-bundle of the last {} events (partial, with frontier): {:.1} ms",
        n - from,
        t.elapsed().as_secs_f64() * 1e3
    );
}
