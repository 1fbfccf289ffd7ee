//! Checkpoints, proofs, bundles, key rotation and the forensics CLI, on a real ledger in
//! a temporary directory.
//!
//! The `indep` module is an independent verifier written from docs/FORMAT.md,
//! RFC 9162 §2.1 and the C2SP signed-note / tlog-checkpoint specs, with sha2,
//! ed25519-dalek and base64 only. It never calls credledger's merkle, note or replay code.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use credledger::bundle::{self, BundleError};
use credledger::domain::Caller;
use credledger::event::{
    rotation_message, Actor, Body, Event, PrincipalKind, RequestContext, Role, SignedEvent,
    EVENT_FORMAT,
};
use credledger::id::Id;
use credledger::ledger::{Config, CreateInput, Ledger, RequestCtx, ResolveTarget};
use credledger::store::sled::SledBackend as Store;
use credledger::store::{Append, Backend, LogStore};
use credledger::{projection, proof, replay};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::Value;
use std::process::Command;

mod support;

/// RFC 9162 / C2SP, from the specs, by hand.
mod indep {
    use super::B64;
    use base64::Engine;
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};
    use sha2::{Digest, Sha256};

    pub type H = [u8; 32];

    pub fn leaf(data: &[u8]) -> H {
        Sha256::new()
            .chain_update([0u8])
            .chain_update(data)
            .finalize()
            .into()
    }
    pub fn node(l: &H, r: &H) -> H {
        Sha256::new()
            .chain_update([1u8])
            .chain_update(l)
            .chain_update(r)
            .finalize()
            .into()
    }
    fn k(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }
    /// MTH(D[n]) of RFC 9162 §2.1.1, over leaf hashes.
    pub fn mth(d: &[H]) -> H {
        match d.len() {
            0 => Sha256::digest([]).into(),
            1 => d[0],
            n => node(&mth(&d[..k(n)]), &mth(&d[k(n)..])),
        }
    }
    /// PATH(m, D[n]) of §2.1.3.1.
    pub fn path(m: usize, d: &[H]) -> Vec<H> {
        let n = d.len();
        if n == 1 {
            return vec![];
        }
        let k = k(n);
        if m < k {
            [path(m, &d[..k]), vec![mth(&d[k..])]].concat()
        } else {
            [path(m - k, &d[k..]), vec![mth(&d[..k])]].concat()
        }
    }
    /// SUBPROOF(m, D[n], b) of §2.1.4.1.
    pub fn subproof(m: usize, d: &[H], b: bool) -> Vec<H> {
        let n = d.len();
        if m == n {
            return if b { vec![] } else { vec![mth(d)] };
        }
        let k = k(n);
        if m <= k {
            [subproof(m, &d[..k], b), vec![mth(&d[k..])]].concat()
        } else {
            [subproof(m - k, &d[k..], false), vec![mth(&d[..k])]].concat()
        }
    }
    /// §2.1.3.2.
    pub fn verify_inclusion(index: u64, size: u64, leaf_hash: &H, proof: &[H], root: &H) -> bool {
        if index >= size {
            return false;
        }
        let (mut fnn, mut sn, mut r) = (index, size - 1, *leaf_hash);
        for p in proof {
            if sn == 0 {
                return false;
            }
            if fnn % 2 == 1 || fnn == sn {
                r = node(p, &r);
                while fnn % 2 == 0 && fnn != 0 {
                    fnn >>= 1;
                    sn >>= 1;
                }
            } else {
                r = node(&r, p);
            }
            fnn >>= 1;
            sn >>= 1;
        }
        sn == 0 && r == *root
    }
    /// §2.1.4.2.
    pub fn verify_consistency(
        first: u64,
        second: u64,
        first_hash: &H,
        second_hash: &H,
        proof: &[H],
    ) -> bool {
        if first == second {
            return proof.is_empty() && first_hash == second_hash;
        }
        if first == 0 || first > second || proof.is_empty() {
            return false;
        }
        let mut path: Vec<H> = proof.to_vec();
        if first.is_power_of_two() {
            path.insert(0, *first_hash);
        }
        let (mut fnn, mut sn) = (first - 1, second - 1);
        while fnn % 2 == 1 {
            fnn >>= 1;
            sn >>= 1;
        }
        let (mut fr, mut sr) = (path[0], path[0]);
        for c in &path[1..] {
            if sn == 0 {
                return false;
            }
            if fnn % 2 == 1 || fnn == sn {
                fr = node(c, &fr);
                sr = node(c, &sr);
                while fnn % 2 == 0 && fnn != 0 {
                    fnn >>= 1;
                    sn >>= 1;
                }
            } else {
                sr = node(&sr, c);
            }
            fnn >>= 1;
            sn >>= 1;
        }
        sn == 0 && fr == *first_hash && sr == *second_hash
    }
    /// The C2SP key id: the first 4 bytes of SHA-256(name || "\n" || 0x01 || key).
    pub fn key_id(name: &str, key: &[u8; 32]) -> [u8; 4] {
        let d = Sha256::new()
            .chain_update(name.as_bytes())
            .chain_update(b"\n\x01")
            .chain_update(key)
            .finalize();
        d[..4].try_into().unwrap()
    }
    /// `name+hexid+base64(0x01||key)`.
    pub fn parse_vkey(s: &str) -> (String, [u8; 4], [u8; 32]) {
        let mut it = s.splitn(3, '+');
        let (name, id, key) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
        let raw = B64.decode(key).unwrap();
        assert_eq!(raw[0], 1, "ed25519 type byte");
        let key: [u8; 32] = raw[1..].try_into().unwrap();
        let id: [u8; 4] = hex::decode(id).unwrap().try_into().unwrap();
        assert_eq!(
            id,
            key_id(name, &key),
            "the key id is derived from name and key"
        );
        (name.to_string(), id, key)
    }
    /// Opens a checkpoint note with one verifier key: (origin, size, root).
    pub fn open_checkpoint(note: &str, vkey: &str) -> Result<(String, u64, H), String> {
        let (name, id, key) = parse_vkey(vkey);
        let (text, sigs) = note.split_once("\n\n").ok_or("no blank line")?;
        let text = format!("{text}\n");
        let vk = VerifyingKey::from_bytes(&key).unwrap();
        let mut ok = false;
        for line in sigs.lines() {
            let rest = line.strip_prefix("\u{2014} ").ok_or("bad signature line")?;
            let (n, b) = rest.split_once(' ').ok_or("bad signature line")?;
            let raw = B64.decode(b).map_err(|e| e.to_string())?;
            if n == name && raw[..4] == id {
                let sig = Signature::from_bytes(&raw[4..].try_into().map_err(|_| "sig length")?);
                vk.verify(text.as_bytes(), &sig)
                    .map_err(|_| "bad signature")?;
                ok = true;
            }
        }
        if !ok {
            return Err("no signature by the key".into());
        }
        let lines: Vec<&str> = text.lines().collect();
        if lines[0] != name {
            return Err("origin is not the key name".into());
        }
        let root: H = B64.decode(lines[2]).unwrap().try_into().unwrap();
        Ok((lines[0].to_string(), lines[1].parse().unwrap(), root))
    }
    pub fn b64_hashes(v: &serde_json::Value) -> Vec<H> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|h| B64.decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
            .collect()
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn system_caller(ledger: &Ledger) -> Caller {
    ledger.with_state(|s| {
        let (id, p) = s.principals.iter().find(|(_, p)| p.system_admin).unwrap();
        Caller {
            tenant: p.tenant,
            principal: *id,
            token: Id::NIL,
            role: p.role,
            kind: PrincipalKind::User,
            system_admin: true,
        }
    })
}

fn fields(v: &str) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("api_key".into(), Value::String(v.into()));
    m
}

fn ctx(addr: &str) -> RequestCtx {
    RequestCtx {
        request_id: None,
        remote_addr: Some(addr.into()),
    }
}

async fn create(ledger: &Ledger, caller: &Caller, name: &str) -> Id {
    let input = CreateInput {
        name: name.into(),
        template: "api_key".into(),
        fields: fields(&format!("sk-{name}")),
        ..Default::default()
    };
    ledger
        .create_credential(&ctx("10.0.0.1"), caller, input)
        .await
        .unwrap()
}

/// Every leaf (record) of the log.
fn leaves(store: &dyn Backend) -> Vec<Vec<u8>> {
    store.records(0).map(|r| r.unwrap().1).collect()
}

#[test]
fn checkpoints_and_proofs_verify_independently() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, _) = Ledger::open(Config::new(dir.path())).unwrap();
    let caller = system_caller(&ledger);
    let rt = rt();
    let mut checkpoints = vec![proof::checkpoint(&ledger).unwrap()];
    for i in 0..60 {
        rt.block_on(create(&ledger, &caller, &format!("c{i}")));
        if i % 9 == 0 {
            checkpoints.push(proof::checkpoint(&ledger).unwrap());
        }
    }
    checkpoints.push(proof::checkpoint(&ledger).unwrap());
    let store = ledger.store();
    let vkey = proof::verifier_key(&ledger).unwrap();
    let hashes: Vec<indep::H> = leaves(store).iter().map(|l| indep::leaf(l)).collect();
    let n = hashes.len() as u64;
    assert_eq!(n, 64);

    // Every stored checkpoint is signed by the ledger key and commits to MTH of its prefix.
    let stored = proof::stored_checkpoints(store).unwrap();
    assert_eq!(stored, checkpoints);
    for cp in &stored {
        let (origin, size, root) = indep::open_checkpoint(&cp.note, &vkey).unwrap();
        assert_eq!(Some(origin), ledger.with_state(|s| s.origin.clone()));
        assert_eq!(
            (size, root),
            (cp.tree_size, indep::mth(&hashes[..size as usize]))
        );
    }

    // Inclusion for every index of every size, against PATH computed the slow way.
    for size in 1..=n {
        let root = indep::mth(&hashes[..size as usize]);
        for index in 0..size {
            let p = serde_json::to_value(proof::inclusion(store, index, size).unwrap()).unwrap();
            assert_eq!(
                (p["leaf_index"].as_u64(), p["tree_size"].as_u64()),
                (Some(index), Some(size))
            );
            let path = indep::b64_hashes(&p["audit_path"]);
            assert_eq!(
                path,
                indep::path(index as usize, &hashes[..size as usize]),
                "PATH({index}, {size})"
            );
            assert!(indep::verify_inclusion(
                index,
                size,
                &hashes[index as usize],
                &path,
                &root
            ));
            assert!(!indep::verify_inclusion(
                index,
                size,
                &indep::leaf(b"other"),
                &path,
                &root
            ));
        }
    }

    // Consistency for every pair of sizes, and between every pair of stored checkpoints.
    for new in 1..=n {
        let new_root = indep::mth(&hashes[..new as usize]);
        for old in 1..=new {
            let p = serde_json::to_value(proof::consistency(store, old, new).unwrap()).unwrap();
            let c = indep::b64_hashes(&p["consistency"]);
            assert_eq!(
                c,
                indep::subproof(old as usize, &hashes[..new as usize], true),
                "PROOF({old}, {new})"
            );
            assert!(indep::verify_consistency(
                old,
                new,
                &indep::mth(&hashes[..old as usize]),
                &new_root,
                &c
            ));
        }
    }
    for a in &stored {
        for b in stored.iter().filter(|b| b.tree_size > a.tree_size) {
            let (_, s1, r1) = indep::open_checkpoint(&a.note, &vkey).unwrap();
            let (_, s2, r2) = indep::open_checkpoint(&b.note, &vkey).unwrap();
            let p = serde_json::to_value(proof::consistency(store, s1, s2).unwrap()).unwrap();
            assert!(indep::verify_consistency(
                s1,
                s2,
                &r1,
                &r2,
                &indep::b64_hashes(&p["consistency"])
            ));
        }
    }

    // "Prove this event": leaf bytes, path and checkpoint check out end to end.
    for seq in [0, 1, 31, 32, 63] {
        let p = serde_json::to_value(proof::prove_event(&ledger, seq).unwrap()).unwrap();
        let leaf = B64.decode(p["leaf"].as_str().unwrap()).unwrap();
        assert_eq!(SignedEvent::from_record(&leaf).unwrap().seq(), seq);
        let (_, size, root) =
            indep::open_checkpoint(p["checkpoint"].as_str().unwrap(), &vkey).unwrap();
        assert_eq!(p["tree_size"].as_u64(), Some(size));
        assert!(indep::verify_inclusion(
            seq,
            size,
            &indep::leaf(&leaf),
            &indep::b64_hashes(&p["audit_path"]),
            &root
        ));
    }
    ledger.shutdown();
}

/// A ledger with `n` credentials (plus 4 bootstrap events), shut down.
fn small_ledger(dir: &std::path::Path, n: usize) -> Vec<Id> {
    let (ledger, _) = Ledger::open(Config::new(dir)).unwrap();
    let caller = system_caller(&ledger);
    let ids = rt().block_on(async {
        let mut ids = vec![];
        for i in 0..n {
            ids.push(create(&ledger, &caller, &format!("k{i}")).await);
        }
        ids
    });
    ledger.shutdown();
    ids
}

fn export(store: &dyn Backend, from: u64, to: Option<u64>, sk: &SigningKey) -> Vec<u8> {
    let cp = proof::checkpoint_with_key(store, sk).unwrap();
    let mut out = Vec::new();
    bundle::export(store, &cp, from, to, &mut out).unwrap();
    out
}

fn lines(b: &[u8]) -> Vec<String> {
    String::from_utf8(b.to_vec())
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn join(lines: &[String]) -> Vec<u8> {
    lines
        .iter()
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .into_bytes()
}

fn event_line(lines: &[String], seq: u64) -> usize {
    lines
        .iter()
        .position(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["type"] == "event" && v["seq"] == seq
        })
        .unwrap()
}

fn err(b: &[u8], key: &str) -> String {
    bundle::verify_bundle(b, key).unwrap_err().to_string()
}

#[test]
fn bundles_verify_and_tampering_is_named() {
    let dir = tempfile::tempdir().unwrap();
    small_ledger(dir.path(), 26);
    let store = Store::open(dir.path()).unwrap();
    let sk = credledger::keys::read_signing_key(dir.path())
        .unwrap()
        .unwrap();
    let key = proof::genesis_verifier_key(&store).unwrap();
    let full = export(&store, 0, None, &sk);
    let r = bundle::verify_bundle(&full, &key).unwrap();
    assert_eq!((r.from, r.to, r.tree_size, r.events), (0, 30, 30, 30));

    // Partial ranges are tied to the same signed root.
    for (from, to) in [
        (5, Some(20)),
        (5, None),
        (0, Some(10)),
        (29, None),
        (16, Some(17)),
    ] {
        let b = export(&store, from, to, &sk);
        let r = bundle::verify_bundle(&b, &key).unwrap();
        assert_eq!((r.from, r.to), (from, to.unwrap_or(30)));
    }

    // The bundle's checkpoint and leaves check out with the independent verifier too.
    let ls = lines(&full);
    let note: Value = serde_json::from_str(&ls[1]).unwrap();
    let (_, size, root) = indep::open_checkpoint(note["note"].as_str().unwrap(), &key).unwrap();
    let hs: Vec<indep::H> = (0..size)
        .map(|s| {
            let v: Value = serde_json::from_str(&ls[event_line(&ls, s)]).unwrap();
            indep::leaf(&B64.decode(v["leaf"].as_str().unwrap()).unwrap())
        })
        .collect();
    assert_eq!(indep::mth(&hs), root);

    // A flipped byte in event 7 (its signature's last byte).
    let mut t = ls.clone();
    let i = event_line(&t, 7);
    let mut v: Value = serde_json::from_str(&t[i]).unwrap();
    let mut rec = B64.decode(v["leaf"].as_str().unwrap()).unwrap();
    *rec.last_mut().unwrap() ^= 1;
    v["leaf"] = B64.encode(&rec).into();
    t[i] = v.to_string();
    assert_eq!(err(&join(&t), &key), "event 7: bad signature");

    // A flipped byte of the file inside an event's base64 (not the last char of a line).
    let mut raw = full.clone();
    let at = join(&ls[..event_line(&ls, 12)]).len() + 60;
    raw[at] = if raw[at] == b'A' { b'B' } else { b'A' };
    let e = err(&raw, &key);
    assert!(
        e.starts_with("event 12: ") || e.starts_with("malformed bundle"),
        "{e}"
    );

    // A removed event.
    let mut t = ls.clone();
    t.remove(event_line(&t, 7));
    assert_eq!(
        err(&join(&t), &key),
        "event 7: event missing (gap: next stored event is 8)"
    );

    // Truncated mid-line and at a line boundary.
    let e = err(&full[..full.len() * 2 / 3], &key);
    assert!(e.starts_with("truncated bundle: line "), "{e}");
    let e = err(&join(&ls[..ls.len() - 1]), &key);
    assert!(
        e.starts_with("truncated bundle: the bundle ends after line"),
        "{e}"
    );
    let e = err(&join(&ls[..event_line(&ls, 20)]), &key);
    assert!(e.starts_with("truncated bundle"), "{e}");
    let e = err(&full[..0], &key);
    assert!(e.starts_with("truncated bundle"), "{e}");

    // A wrong key: another ledger's, and one with the right name but another key.
    let other = tempfile::tempdir().unwrap();
    small_ledger(other.path(), 0);
    let other_key = proof::genesis_verifier_key(&Store::open(other.path()).unwrap()).unwrap();
    assert!(
        err(&full, &other_key).starts_with("wrong key: the key is named"),
        "{}",
        err(&full, &other_key)
    );
    let origin = key.split('+').next().unwrap();
    let imposter =
        credledger::note::verifier_key(origin, &SigningKey::from_bytes(&[3; 32]).verifying_key())
            .unwrap();
    let e = err(&full, &imposter);
    assert!(
        e.starts_with("wrong key: ") && e.contains("is not a signing key of this ledger"),
        "{e}"
    );
    assert!(matches!(
        bundle::verify_bundle(&full, "not a key"),
        Err(BundleError::BadVerifierKey(_))
    ));

    // A forged checkpoint (root changed, signature kept).
    let mut t = ls.clone();
    let mut v: Value = serde_json::from_str(&t[1]).unwrap();
    let n = v["note"].as_str().unwrap().to_string();
    let root_line = n.lines().nth(2).unwrap().to_string();
    v["note"] = n.replace(&root_line, &B64.encode([7u8; 32])).into();
    t[1] = v.to_string();
    assert!(err(&join(&t), &key).starts_with("checkpoint signature invalid: "));

    // A partial bundle whose frontier lies.
    let part = lines(&export(&store, 5, Some(20), &sk));
    let mut t = part.clone();
    let i = t
        .iter()
        .position(|l| l.contains("\"type\":\"frontier\""))
        .unwrap();
    let mut v: Value = serde_json::from_str(&t[i]).unwrap();
    v["hashes"][0] = B64.encode([9u8; 32]).into();
    t[i] = v.to_string();
    assert!(
        err(&join(&t), &key).starts_with("Merkle root mismatch: "),
        "{}",
        err(&join(&t), &key)
    );
}

#[test]
fn key_rotation_verifies_through_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, _) = Ledger::open(Config::new(dir.path())).unwrap();
    let caller = system_caller(&ledger);
    let genesis = proof::verifier_key(&ledger).unwrap();
    let rt = rt();
    let before = proof::checkpoint(&ledger).unwrap();
    rt.block_on(async {
        create(&ledger, &caller, "a").await;
        ledger
            .rotate_signing_key(&RequestCtx::default(), &caller)
            .await
            .unwrap();
        create(&ledger, &caller, "b").await;
        ledger
            .rotate_signing_key(&RequestCtx::default(), &caller)
            .await
            .unwrap();
        create(&ledger, &caller, "c").await;
    });
    let cp = proof::checkpoint(&ledger).unwrap();
    let current = proof::verifier_key(&ledger).unwrap();
    assert_ne!(current, genesis);
    // The checkpoint is signed by the current key under the same name, not the old one.
    indep::open_checkpoint(&cp.note, &current).unwrap();
    assert!(indep::open_checkpoint(&cp.note, &genesis).is_err());
    indep::open_checkpoint(&before.note, &genesis).unwrap();
    let store = ledger.store();
    let report = replay::verify(store.records(0), None, |_| {});
    assert!(report.ok() && report.keys.len() == 3, "{report:?}");

    let mut full = Vec::new();
    bundle::export(store, &cp, 0, None, &mut full).unwrap();
    let r = bundle::verify_bundle(&full, &genesis).unwrap();
    assert_eq!(r.keys.len(), 3);
    bundle::verify_bundle(&full, &current).unwrap();
    // Partial ranges before, between and after the rotations carry them as anchors.
    for (from, to) in [(1, Some(5)), (5, Some(7)), (8, None), (6, None)] {
        let mut b = Vec::new();
        bundle::export(store, &cp, from, to, &mut b).unwrap();
        bundle::verify_bundle(&b, &genesis).unwrap_or_else(|e| panic!("[{from}, {to:?}): {e}"));
    }
    ledger.shutdown();
}

fn seal_all(bodies: Vec<(Body, &SigningKey)>) -> Vec<(u64, Vec<u8>)> {
    let mut prev = [0u8; 32];
    let mut out = vec![];
    for (seq, (body, key)) in bodies.into_iter().enumerate() {
        let e = Event {
            format: EVENT_FORMAT,
            seq: seq as u64,
            at_ms: 1_700_000_000_000,
            prev,
            actor: Actor::default(),
            context: RequestContext::default(),
            body,
        };
        let s = SignedEvent::seal(e, key).unwrap();
        prev = *s.hash();
        out.push((seq as u64, s.to_record()));
    }
    out
}

/// Writes hand-made events to a real store and returns the bundle's verdict.
fn forged_verdict(possession_by: &SigningKey, rotation_signed_by: &SigningKey) -> String {
    let (k0, k1) = (
        SigningKey::from_bytes(&[10; 32]),
        SigningKey::from_bytes(&[11; 32]),
    );
    let (p0, p1) = (k0.verifying_key().to_bytes(), k1.verifying_key().to_bytes());
    let possession = possession_by
        .sign(&rotation_message(&p0, &p1, 2))
        .to_bytes()
        .to_vec();
    let records = seal_all(vec![
        (
            Body::LedgerInitialized {
                origin: "forge.example/log".into(),
                signing_key: p0,
            },
            &k0,
        ),
        (
            Body::TenantCreated {
                tenant: Id([1; 16]),
                name: "t".into(),
            },
            &k0,
        ),
        (
            Body::SigningKeyRotated {
                old_key: p0,
                new_key: p1,
                possession,
            },
            rotation_signed_by,
        ),
        (
            Body::TenantCreated {
                tenant: Id([2; 16]),
                name: "u".into(),
            },
            &k1,
        ),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let borrowed: Vec<(u64, &[u8])> = records.iter().map(|(s, r)| (*s, r.as_slice())).collect();
    store
        .append_durable(Append {
            keyring: &[],
            records: &borrowed,
        })
        .unwrap();
    projection::catch_up(&store, |_| {}).unwrap();
    let report = replay::verify(
        records.clone().into_iter().map(Ok::<_, String>),
        None,
        |_| {},
    );
    let f = report.failure.expect("replay rejects the forgery");
    let b = export(&store, 0, None, &k1);
    let key = proof::genesis_verifier_key(&store).unwrap();
    let e = err(&b, &key);
    assert_eq!(
        e,
        format!("event {}: {}", f.seq, f.problem),
        "the bundle and replay agree"
    );
    e
}

#[test]
fn forged_rotations_fail_naming_the_event() {
    let (k0, k1, k9) = (
        SigningKey::from_bytes(&[10; 32]),
        SigningKey::from_bytes(&[11; 32]),
        SigningKey::from_bytes(&[19; 32]),
    );
    assert_eq!(
        forged_verdict(&k9, &k0),
        "event 2: bad signing-key rotation (the new key's proof of possession does not verify)"
    );
    assert_eq!(forged_verdict(&k1, &k1), "event 2: bad signature");
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_credledger"))
}

fn run(cmd: &mut Command) -> (i32, String) {
    let o = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.code().unwrap_or(-1), text)
}

#[test]
fn cli_export_verify_diff_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, _) = Ledger::open(Config::new(dir.path())).unwrap();
    let caller = system_caller(&ledger);
    let cred = rt().block_on(async {
        let a = create(&ledger, &caller, "openai-prod").await;
        create(&ledger, &caller, "other").await;
        let bob = ledger
            .create_principal(
                &ctx("10.0.0.1"),
                &caller,
                "bob",
                PrincipalKind::Service,
                Role::Resolver,
            )
            .await
            .unwrap();
        ledger
            .grant(&ctx("10.0.0.1"), &caller, a, bob)
            .await
            .unwrap();
        ledger
            .resolve(
                &ctx("192.0.2.7"),
                &caller,
                ResolveTarget::Id {
                    id: a,
                    version: None,
                },
            )
            .await
            .unwrap();
        ledger
            .rotate(&ctx("10.0.0.1"), &caller, a, fields("sk-new"))
            .await
            .unwrap();
        ledger
            .resolve(
                &ctx("192.0.2.8"),
                &caller,
                ResolveTarget::Id {
                    id: a,
                    version: None,
                },
            )
            .await
            .unwrap();
        ledger.destroy(&ctx("10.0.0.1"), &caller, a).await.unwrap();
        a
    });
    ledger.shutdown();
    drop(ledger);
    let n = Store::open(dir.path()).unwrap().next_seq().unwrap();
    let last = (n - 1).to_string();
    let data = dir.path().to_str().unwrap();
    let out = dir.path().join("bundle.jsonl");

    let (code, text) = run(bin().args(["export", "--data", data, "--out", out.to_str().unwrap()]));
    assert_eq!(code, 0, "{text}");
    let key = text
        .lines()
        .find_map(|l| l.strip_prefix("verifier key: "))
        .unwrap()
        .to_string();
    let (code, text) = run(bin().args(["verify-bundle", out.to_str().unwrap(), "--key", &key]));
    assert_eq!(code, 0, "{text}");
    assert!(text.starts_with("ok: events [0, "), "{text}");
    let (code, text) = run(bin().args([
        "verify-bundle",
        out.to_str().unwrap(),
        "--key",
        &key,
        "--json",
    ]));
    assert_eq!(code, 0, "{text}");
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["ok"], true);

    // Tampered: event 5's signature.
    let mut ls = lines(&std::fs::read(&out).unwrap());
    let i = event_line(&ls, 5);
    let mut v: Value = serde_json::from_str(&ls[i]).unwrap();
    let mut rec = B64.decode(v["leaf"].as_str().unwrap()).unwrap();
    *rec.last_mut().unwrap() ^= 0x40;
    v["leaf"] = B64.encode(&rec).into();
    ls[i] = v.to_string();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, join(&ls)).unwrap();
    let (code, text) = run(bin().args(["verify-bundle", bad.to_str().unwrap(), "--key", &key]));
    assert_eq!((code, text.trim()), (1, "FAILED: event 5: bad signature"));
    let (code, text) = run(bin().args([
        "verify-bundle",
        bad.to_str().unwrap(),
        "--key",
        &key,
        "--json",
    ]));
    assert_eq!(code, 1);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["error"],
        "event 5: bad signature"
    );
    // Usage errors exit 2.
    let (code, _) = run(bin().args(["verify-bundle", bad.to_str().unwrap(), "--key", "nonsense"]));
    assert_eq!(code, 2);
    let (code, _) = run(bin().args(["verify-bundle", "/nonexistent/bundle", "--key", &key]));
    assert_eq!(code, 2);
    let (code, text) = run(bin().args([
        "export",
        "--data",
        data,
        "--out",
        out.to_str().unwrap(),
        "--from",
        "3",
        "--to",
        "9",
    ]));
    assert_eq!(code, 0, "{text}");
    let (code, text) = run(bin().args(["verify-bundle", out.to_str().unwrap(), "--key", &key]));
    assert_eq!(
        text.lines().next().unwrap(),
        format!("ok: events [3, 9) of {n} verified (6 events)"),
        "{text}"
    );
    assert_eq!(code, 0);

    // replay diff: after bootstrap (event 3) to the end.
    let (code, text) = run(bin().args([
        "replay",
        "diff",
        "--data",
        data,
        "--from-seq",
        "3",
        "--to-seq",
        &last,
        "--json",
    ]));
    assert_eq!(code, 0, "{text}");
    let d: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(d["events"].as_u64(), Some(n - 4));
    assert_eq!(d["credentials"]["created"].as_array().unwrap().len(), 2);
    assert_eq!(
        d["credentials"]["rotated"][0]["credential_name"],
        "openai-prod"
    );
    assert_eq!(
        d["credentials"]["destroyed"][0]["credential_id"],
        cred.to_string()
    );
    assert_eq!(d["grants"]["added"][0]["principal_name"], "bob");
    let used = &d["uses"][0];
    assert_eq!(
        (used["uses"].as_u64(), used["actor_name"].as_str()),
        (Some(2), Some("admin"))
    );
    assert_eq!(
        used["remote_addrs"],
        serde_json::json!(["192.0.2.7", "192.0.2.8"])
    );
    let (code, text) = run(bin().args([
        "replay",
        "diff",
        "--data",
        data,
        "--from-seq",
        "3",
        "--to-seq",
        &last,
    ]));
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("credentials destroyed:") && text.contains("2 uses"),
        "{text}"
    );
    let (code, _) = run(bin().args([
        "replay",
        "diff",
        "--data",
        data,
        "--from-seq",
        "9",
        "--to-seq",
        "3",
    ]));
    assert_eq!(code, 2);

    // replay report: every use with actor and address.
    let (code, text) = run(bin().args([
        "replay",
        "report",
        "--data",
        data,
        "--credential",
        &cred.to_string(),
        "--json",
    ]));
    assert_eq!(code, 0, "{text}");
    let r: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(r["credential"]["status"], "destroyed");
    assert_eq!(r["summary"]["uses"], 2);
    let used: Vec<&Value> = r["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "used")
        .collect();
    assert_eq!(used.len(), 2);
    assert_eq!(
        (
            used[1]["remote_addr"].as_str(),
            used[1]["actor_name"].as_str()
        ),
        (Some("192.0.2.8"), Some("admin"))
    );
    let (code, text) = run(bin().args([
        "replay",
        "report",
        "--data",
        data,
        "--credential",
        &cred.to_string(),
    ]));
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("from=192.0.2.7") && text.contains("openai-prod"),
        "{text}"
    );
    assert!(!text.contains("sk-new"), "no secret in a report");
}

/// The tenant log over HTTP, as a tenant reviewer and as a system admin, checked by `indep`.
#[tokio::test]
async fn tenant_logs_are_private_and_their_proofs_verify_independently() {
    use axum::http::StatusCode;
    use serde_json::json;
    let app = support::TestApp::new().await;
    let root = app.admin.clone();
    let api = |name: &str| json!({"name": name, "template": "api_key", "fields": {"api_key": "sk-tenant-9Qw"}});
    let (s, v) = app
        .call(
            "POST",
            "/v1/credentials",
            Some(&root),
            Some(api("root-key")),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, t) = app
        .call(
            "POST",
            "/v1/tenants",
            Some(&root),
            Some(json!({"name": "beta"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let beta = t["admin_token"].as_str().unwrap().to_string();
    let beta_id = t["id"].as_str().unwrap().to_string();
    let (_, c) = app
        .call(
            "POST",
            "/v1/credentials",
            Some(&beta),
            Some(api("beta-key")),
        )
        .await;
    let cred = c["id"].as_str().unwrap().to_string();
    let resolve = format!("/v1/credentials/{cred}/resolve");
    let (s, _) = app.call("POST", &resolve, Some(&beta), None).await;
    assert_eq!(s, StatusCode::OK);
    let text = |path: String, token: String| {
        let app = &app;
        async move {
            let (s, body) = app.call_raw("GET", &path, Some(&token), None, "").await;
            (s, body)
        }
    };

    // Beta's checkpoint verifies with beta's verifier key, under beta's origin.
    let (s, note1) = text("/v1/ledger/tenant/checkpoint".into(), beta.clone()).await;
    assert_eq!(s, StatusCode::OK, "{note1}");
    let (_, vkey) = text("/v1/ledger/tenant/publickey".into(), beta.clone()).await;
    let (origin, size1, root1) = indep::open_checkpoint(&note1, vkey.trim()).unwrap();
    assert!(origin.ends_with(&format!("/tenant/{beta_id}")), "{origin}");
    let (_, global_vkey) = text("/v1/ledger/publickey".into(), root.clone()).await;
    assert_eq!(
        origin,
        format!(
            "{}/tenant/{beta_id}",
            global_vkey.split('+').next().unwrap()
        ),
        "the tenant origin is the ledger origin, /tenant/, the tenant id"
    );

    // Its leaves are exactly the events beta's reviewers see in the global log.
    let (s, page) = app
        .call(
            "GET",
            "/v1/ledger/tenant/leaves?limit=1000",
            Some(&beta),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let leaves = page["leaves"].as_array().unwrap().clone();
    assert_eq!(leaves.len() as u64, size1);
    let (_, events) = app
        .call("GET", "/v1/ledger/events?limit=1000", Some(&beta), None)
        .await;
    let visible: Vec<u64> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .filter(|seq| *seq < leaves.last().unwrap()["seq"].as_u64().unwrap() + 1)
        .collect();
    let seqs: Vec<u64> = leaves.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, visible);
    let hashes: Vec<indep::H> = leaves
        .iter()
        .map(|l| indep::leaf(&B64.decode(l["leaf"].as_str().unwrap()).unwrap()))
        .collect();
    assert_eq!(
        indep::mth(&hashes),
        root1,
        "the tenant root is MTH of its leaves"
    );
    for (i, h) in hashes.iter().enumerate() {
        let (s, p) = app
            .call(
                "GET",
                &format!("/v1/ledger/tenant/proof/inclusion?index={i}&size={size1}"),
                Some(&beta),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{p}");
        let path = indep::b64_hashes(&p["audit_path"]);
        assert_eq!(path, indep::path(i, &hashes), "leaf {i}");
        assert!(
            indep::verify_inclusion(i as u64, size1, h, &path, &root1),
            "leaf {i}"
        );
    }
    // The tenant leaf is the global leaf: the system admin proves the same bytes in the
    // global tree.
    let (_, gnote) = text("/v1/ledger/checkpoint".into(), root.clone()).await;
    let (_, gsize, groot) = indep::open_checkpoint(&gnote, global_vkey.trim()).unwrap();
    let seq = seqs[1];
    let (_, p) = app
        .call(
            "GET",
            &format!("/v1/ledger/proof/inclusion?index={seq}&size={gsize}"),
            Some(&root),
            None,
        )
        .await;
    assert!(indep::verify_inclusion(
        seq,
        gsize,
        &hashes[1],
        &indep::b64_hashes(&p["audit_path"]),
        &groot
    ));

    // The tree grows; consistency from the first checkpoint verifies.
    let (s, _) = app.call("POST", &resolve, Some(&beta), None).await;
    assert_eq!(s, StatusCode::OK);
    let (_, note2) = text("/v1/ledger/tenant/checkpoint".into(), beta.clone()).await;
    let (_, size2, root2) = indep::open_checkpoint(&note2, vkey.trim()).unwrap();
    assert!(size2 > size1);
    let (s, p) = app
        .call(
            "GET",
            &format!("/v1/ledger/tenant/proof/consistency?old={size1}&new={size2}"),
            Some(&beta),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let proof = indep::b64_hashes(&p["consistency"]);
    assert!(indep::verify_consistency(
        size1, size2, &root1, &root2, &proof
    ));
    let (_, list) = app
        .call("GET", "/v1/ledger/tenant/checkpoints", Some(&beta), None)
        .await;
    let sizes: Vec<u64> = list["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["tree_size"].as_u64().unwrap())
        .collect();
    assert!(
        sizes.contains(&size1) && sizes.contains(&size2),
        "{sizes:?}"
    );

    // Privacy: beta cannot read the root tenant's log; a system admin reads beta's.
    let root_tenant = app.ledger.with_state(|s| {
        s.principals
            .values()
            .find(|p| p.system_admin)
            .unwrap()
            .tenant
    });
    let before = app.events();
    for path in [
        format!("/v1/ledger/tenant/checkpoint?tenant={root_tenant}"),
        format!("/v1/ledger/tenant/leaves?tenant={root_tenant}"),
        format!("/v1/ledger/tenant/proof/inclusion?tenant={root_tenant}&index=0"),
        format!("/v1/ledger/tenant/checkpoints?tenant={root_tenant}"),
    ] {
        let (s, v) = app.call("GET", &path, Some(&beta), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {v}");
    }
    assert_eq!(
        app.events(),
        before + 8,
        "each refusal is recorded in both tenants"
    );
    let (s, v) = app
        .call(
            "GET",
            &format!("/v1/ledger/tenant/checkpoints?tenant={beta_id}"),
            Some(&root),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // A member of beta is not a reviewer.
    let (s, m) = app
        .call(
            "POST",
            "/v1/principals",
            Some(&beta),
            Some(json!({"name": "m", "kind": "user", "role": "member"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let (_, tok) = app
        .call(
            "POST",
            &format!("/v1/principals/{}/tokens", m["id"].as_str().unwrap()),
            Some(&beta),
            None,
        )
        .await;
    let member = tok["token"].as_str().unwrap().to_string();
    let (s, _) = app
        .call("GET", "/v1/ledger/tenant/checkpoint", Some(&member), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}
