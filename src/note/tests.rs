//! The Ed25519 vectors come from golang.org/x/mod/sumdb/note
//! (note_test.go `TestSign`, `TestOpen` and `TestNewVerifier`, and the
//! package documentation's example): the "PeterNeumann" signer and
//! verifier keys with their signed note, and the "EnochRoot" verifier key
//! and signature over the same text. The C2SP signed-note and
//! tlog-checkpoint specs' own examples (`quasimodo.example/salvatore`,
//! `example.com/behind-the-sofa`) do not publish their public keys, so
//! they can only be checked for format, not verified.

use super::*;

const PETER_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

/// Decodes Go's `PRIVATE+KEY+<name>+<id>+<base64(0x01 || seed)>` format.
fn go_signer(skey: &str) -> (String, SigningKey) {
    let parts: Vec<&str> = skey.splitn(5, '+').collect();
    assert_eq!(&parts[..2], ["PRIVATE", "KEY"]);
    let raw = B64.decode(parts[4]).unwrap();
    assert_eq!(raw[0], ED25519_TYPE);
    let seed: [u8; 32] = raw[1..].try_into().unwrap();
    (parts[2].to_owned(), SigningKey::from_bytes(&seed))
}

fn trusted(vkeys: &[&str]) -> Vec<(String, VerifyingKey)> {
    vkeys
        .iter()
        .map(|k| {
            let (name, _, vk) = parse_verifier_key(k).unwrap();
            (name, vk)
        })
        .collect()
}

fn peter_note() -> String {
    format!("{TEXT}\n{PETER_SIG}")
}

fn new_key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

#[test]
fn go_vector_verifier_key_round_trips() {
    let (name, id, vk) = parse_verifier_key(PETER_VKEY).unwrap();
    assert_eq!((name.as_str(), id), ("PeterNeumann", 0xc74f20a3));
    assert_eq!(verifier_key(&name, &vk).unwrap(), PETER_VKEY);
    let (_, sk) = go_signer(PETER_SKEY);
    assert_eq!(sk.verifying_key(), vk);
    let (name, id, vk) = parse_verifier_key(ENOCH_VKEY).unwrap();
    assert_eq!((name.as_str(), id), ("EnochRoot", 0xaf0cfe78));
    assert_eq!(verifier_key(&name, &vk).unwrap(), ENOCH_VKEY);
}

#[test]
fn go_vector_signing_reproduces_the_published_note() {
    let (name, sk) = go_signer(PETER_SKEY);
    assert_eq!(sign_note(TEXT, &name, &sk).unwrap(), peter_note());
}

#[test]
fn go_vector_note_opens() {
    let (text, sigs) = open_note(&peter_note(), &trusted(&[PETER_VKEY])).unwrap();
    assert_eq!(text, TEXT);
    assert_eq!(
        sigs,
        vec![VerifiedSig {
            name: "PeterNeumann".into(),
            key_id: 0xc74f20a3
        }]
    );
}

#[test]
fn go_vector_two_signatures() {
    let note = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
    let peter = VerifiedSig {
        name: "PeterNeumann".into(),
        key_id: 0xc74f20a3,
    };
    let enoch = VerifiedSig {
        name: "EnochRoot".into(),
        key_id: 0xaf0cfe78,
    };
    // Only Peter trusted: Enoch's signature is ignored.
    let (_, sigs) = open_note(&note, &trusted(&[PETER_VKEY])).unwrap();
    assert_eq!(sigs, vec![peter.clone()]);
    // Only Enoch trusted: Peter's signature is ignored.
    let (_, sigs) = open_note(&note, &trusted(&[ENOCH_VKEY])).unwrap();
    assert_eq!(sigs, vec![enoch.clone()]);
    // Both trusted.
    let (_, sigs) = open_note(&note, &trusted(&[PETER_VKEY, ENOCH_VKEY])).unwrap();
    assert_eq!(sigs, vec![peter.clone(), enoch]);
    // Nobody trusted.
    assert_eq!(open_note(&note, &[]), Err(NoteError::NoVerifiedSignature));
    // Repeated signatures are reported once.
    let note = format!("{TEXT}\n{PETER_SIG}{PETER_SIG}{ENOCH_SIG}{ENOCH_SIG}");
    let (_, sigs) = open_note(&note, &trusted(&[PETER_VKEY])).unwrap();
    assert_eq!(sigs, vec![peter]);
    // Adding Enoch's line to Peter's note (without Enoch's private key)
    // is exactly what add_signature's output format must look like, so
    // check the reverse: Peter re-signing a two-signature note keeps
    // Enoch's line and replaces his own.
    let (name, sk) = go_signer(PETER_SKEY);
    let both = format!("{TEXT}\n{ENOCH_SIG}{PETER_SIG}");
    let resigned = add_signature(&format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}"), &name, &sk);
    assert_eq!(resigned.unwrap(), both);
}

#[test]
fn go_vector_malformed_notes() {
    let v = trusted(&[PETER_VKEY]);
    let truncated = &PETER_SIG[..PETER_SIG.len() - 1];
    let bad = [
        TEXT.to_owned(),
        format!("{TEXT}\n"),
        format!("{TEXT}\n{truncated}"),
        format!("\x01{TEXT}\n{PETER_SIG}"),
        format!("{TEXT}\n\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="),
        format!("{TEXT}\n{PETER_SIG}Unexpected line.\n"),
        format!("{TEXT}\n\u{2014} PeterNeumann\n"),
        format!("{TEXT}\n\u{2014} PeterNeumann \n"),
        format!("{TEXT}\n\u{2014} PeterNeumann AAAA\n"),
        format!("{TEXT}\n\u{2014} PeterNeumann x08go/ZJk!\n"),
        format!("{TEXT}\n- PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"),
        format!("{TEXT}\n{PETER_SIG}\n"),
        format!("{TEXT}\r\n{PETER_SIG}"),
    ];
    for note in &bad {
        assert!(
            matches!(open_note(note, &v), Err(NoteError::MalformedNote(_))),
            "accepted or misclassified {note:?}: {:?}",
            open_note(note, &v)
        );
    }
    let mut invalid_utf8 = b"\xff".to_vec();
    invalid_utf8.extend_from_slice(peter_note().as_bytes());
    assert_eq!(open_note_bytes(&invalid_utf8, &v), Err(NoteError::NotUtf8));
    assert!(open_note_bytes(peter_note().as_bytes(), &v).is_ok());
}

#[test]
fn go_vector_limits() {
    let v = trusted(&[PETER_VKEY]);
    let many = format!("{TEXT}\n{}", PETER_SIG.repeat(MAX_SIGNATURES + 1));
    assert_eq!(
        open_note(&many, &v),
        Err(NoteError::TooManySignatures {
            max: MAX_SIGNATURES
        })
    );
    // The spec requires accepting at least 16 signatures.
    let sixteen = format!("{TEXT}\n{}", PETER_SIG.repeat(16));
    assert!(open_note(&sixteen, &v).is_ok());
    let long = format!("{}\n{PETER_SIG}", "a\n".repeat(MAX_NOTE_BYTES / 2));
    assert!(matches!(
        open_note(&long, &v),
        Err(NoteError::NoteTooLarge { .. })
    ));
    let (name, sk) = go_signer(PETER_SKEY);
    assert!(matches!(
        sign_note(&"a\n".repeat(MAX_NOTE_BYTES / 2), &name, &sk),
        Err(NoteError::NoteTooLarge { .. })
    ));
}

#[test]
fn go_vector_invalid_signature_from_trusted_key() {
    // As in TestOpen: four extra base64 characters in Peter's signature.
    let sig = format!("{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
    let note = format!("{TEXT}\n{sig}");
    assert_eq!(
        open_note(&note, &trusted(&[PETER_VKEY])),
        Err(NoteError::InvalidSignature {
            name: "PeterNeumann".into(),
            key_id: 0xc74f20a3
        })
    );
    // The same bad line from an untrusted key is ignored.
    let note = format!("{TEXT}\n{sig}{ENOCH_SIG}");
    assert!(open_note(&note, &trusted(&[ENOCH_VKEY])).is_ok());
}

#[test]
fn go_vector_mangled_verifier_keys_are_rejected() {
    // As in TestNewVerifier: every proper substring and every single
    // byte increment of the key must fail to parse.
    let b = PETER_VKEY.as_bytes();
    for i in 0..=b.len() {
        for j in i + 1..=b.len() {
            if i != 0 || j != b.len() {
                let s = std::str::from_utf8(&b[i..j]).unwrap();
                assert!(parse_verifier_key(s).is_err(), "accepted {s:?}");
            }
        }
    }
    for i in 0..b.len() {
        let mut m = b.to_vec();
        m[i] += 1;
        let s = String::from_utf8(m).unwrap();
        assert!(parse_verifier_key(&s).is_err(), "accepted {s:?}");
    }
    // Wrong-length key and unknown algorithm, each with an adjusted key ID.
    assert!(parse_verifier_key(
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
    )
    .is_err());
    assert_eq!(
        parse_verifier_key("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
        Err(NoteError::UnsupportedKeyType(0x65))
    );
}

#[test]
fn verifier_key_checks() {
    let vk = new_key(1).verifying_key();
    for bad in ["", "a b", "a+b", "a\u{a0}b", "a\tb", "a\u{2003}b"] {
        assert_eq!(
            verifier_key(bad, &vk),
            Err(NoteError::InvalidKeyName(bad.to_owned()))
        );
    }
    let s = verifier_key("example.com/log", &vk).unwrap();
    let (name, id, parsed) = parse_verifier_key(&s).unwrap();
    assert_eq!(
        (name.as_str(), id, parsed),
        ("example.com/log", key_id("example.com/log", &vk), vk)
    );
    // The key ID covers the name: the same key under another name fails.
    let renamed = s.replacen("example.com/log", "example.com/lag", 1);
    assert!(matches!(
        parse_verifier_key(&renamed),
        Err(NoteError::KeyIdMismatch { .. })
    ));
    // Uppercase hex is accepted, as Go accepts it.
    let upper = format!(
        "example.com/log+{:08X}+{}",
        id,
        &s[s.rfind('+').unwrap() + 1..]
    );
    assert!(parse_verifier_key(&upper).is_ok());
    // A small-order public key is refused.
    let weak = {
        let identity = {
            let mut b = [0u8; 32];
            b[0] = 1;
            b
        };
        let vk = VerifyingKey::from_bytes(&identity).unwrap();
        verifier_key("w", &vk).unwrap()
    };
    assert_eq!(parse_verifier_key(&weak), Err(NoteError::InvalidPublicKey));
}

#[test]
fn sign_note_rejects_bad_input() {
    let sk = new_key(2);
    assert_eq!(
        sign_note("no newline", "n", &sk),
        Err(NoteError::InvalidText("text must end with a newline"))
    );
    assert!(matches!(
        sign_note("tab\there\n", "n", &sk),
        Err(NoteError::InvalidText(_))
    ));
    assert_eq!(
        sign_note("ok\n", "bad name", &sk),
        Err(NoteError::InvalidKeyName("bad name".into()))
    );
    assert!(sign_note_multi("ok\n", &[]).is_err());
}

#[test]
fn round_trip_and_tampering() {
    let sk = new_key(3);
    let name = "example.com/ledger";
    let vk = sk.verifying_key();
    let v = vec![(name.to_owned(), vk)];
    // Text with an inner blank line and a trailing blank line still round-trips.
    for text in [
        "hello\n",
        "a\n\nb\n",
        "x\n\n",
        "\u{2014} looks like a signature\n",
    ] {
        let note = sign_note(text, name, &sk).unwrap();
        let (got, sigs) = open_note(&note, &v).unwrap();
        assert_eq!(got, text);
        assert_eq!(sigs[0].key_id, key_id(name, &vk));
    }

    let note = sign_note("hello\nworld\n", name, &sk).unwrap();
    // A flipped body byte breaks the signature.
    let body_flip = note.replacen("world", "worle", 1);
    assert!(matches!(
        open_note(&body_flip, &v),
        Err(NoteError::InvalidSignature { .. })
    ));
    // A flipped signature byte (past the key ID) breaks the signature.
    let line_start = note.rfind(SIG_PREFIX).unwrap();
    let b64_start = note[line_start..].rfind(' ').unwrap() + line_start + 1;
    let mut bytes = note.clone().into_bytes();
    let pos = b64_start + 20;
    bytes[pos] = if bytes[pos] == b'A' { b'B' } else { b'A' };
    let sig_flip = String::from_utf8(bytes).unwrap();
    assert!(matches!(
        open_note(&sig_flip, &v),
        Err(NoteError::InvalidSignature { .. })
    ));
    // A different key under the same name has another key ID, so the
    // signature is unknown and ignored, leaving nothing verified.
    let other = vec![(name.to_owned(), new_key(4).verifying_key())];
    assert_eq!(
        open_note(&note, &other),
        Err(NoteError::NoVerifiedSignature)
    );
    // The right key under a wrong name is not trusted either.
    let renamed = vec![("example.com/other".to_owned(), vk)];
    assert_eq!(
        open_note(&note, &renamed),
        Err(NoteError::NoVerifiedSignature)
    );
    // Removing the blank line makes the note malformed.
    let no_blank = note.replacen("world\n\n", "world\n", 1);
    assert!(matches!(
        open_note(&no_blank, &v),
        Err(NoteError::MalformedNote(_))
    ));
    // Two different trusted keys with the same name and ID are ambiguous;
    // we cannot build a real collision, so list the same name twice with
    // the same key (harmless) and check that it still verifies.
    let dup = vec![(name.to_owned(), vk), (name.to_owned(), vk)];
    assert!(open_note(&note, &dup).is_ok());
}

fn checkpoint() -> Checkpoint {
    Checkpoint {
        origin: "example.com/ledger".into(),
        size: 20852163,
        root: B64
            .decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
            .unwrap()
            .try_into()
            .unwrap(),
        extensions: vec![],
    }
}

#[test]
fn checkpoint_body_matches_spec_example() {
    // The body of c2sp.org/tlog-checkpoint's example, with our origin.
    assert_eq!(
        checkpoint().body(),
        "example.com/ledger\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    );
    let spec = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";
    // Without the spec's public key it can only be parsed, not verified.
    assert_eq!(open_note(spec, &[]), Err(NoteError::NoVerifiedSignature));
    let (text, _) = split_note(spec).unwrap();
    let cp = Checkpoint::parse_body(text).unwrap();
    assert_eq!(
        (cp.origin.as_str(), cp.size),
        ("example.com/behind-the-sofa", 20852163)
    );
}

#[test]
fn checkpoint_round_trip() {
    let sk = new_key(5);
    let mut cp = checkpoint();
    cp.extensions = vec!["ext one".into(), "ext-two".into()];
    let note = sign_checkpoint(&cp, &cp.origin, &sk).unwrap();
    let vkey = verifier_key(&cp.origin, &sk.verifying_key()).unwrap();
    assert_eq!(verify_checkpoint(&note, &vkey).unwrap(), cp);
    let empty = Checkpoint {
        size: 0,
        root: [0u8; 32],
        extensions: vec![],
        ..checkpoint()
    };
    let note = sign_checkpoint(&empty, &empty.origin, &sk).unwrap();
    assert_eq!(verify_checkpoint(&note, &vkey).unwrap(), empty);
}

#[test]
fn checkpoint_origin_must_be_key_name() {
    let sk = new_key(6);
    let cp = checkpoint();
    assert!(matches!(
        sign_checkpoint(&cp, "example.com/other", &sk),
        Err(NoteError::OriginMismatch { .. })
    ));
    // A checkpoint body signed as a plain note under another name is
    // refused by the checkpoint verifier.
    let note = sign_note(&cp.body(), "example.com/other", &sk).unwrap();
    let vkey = verifier_key("example.com/other", &sk.verifying_key()).unwrap();
    assert!(open_note(&note, &trusted(&[&vkey])).is_ok());
    assert!(matches!(
        verify_checkpoint(&note, &vkey),
        Err(NoteError::OriginMismatch { .. })
    ));
    let bad = Checkpoint {
        origin: "has space".into(),
        ..checkpoint()
    };
    assert!(matches!(
        sign_checkpoint(&bad, "has space", &sk),
        Err(NoteError::MalformedCheckpoint(_))
    ));
    let bad = Checkpoint {
        extensions: vec![String::new()],
        ..checkpoint()
    };
    assert!(matches!(
        sign_checkpoint(&bad, &bad.origin, &sk),
        Err(NoteError::MalformedCheckpoint(_))
    ));
}

#[test]
fn checkpoint_key_rotation() {
    let old = new_key(7);
    let new = new_key(8);
    let cp = checkpoint();
    let old_vkey = verifier_key(&cp.origin, &old.verifying_key()).unwrap();
    let new_vkey = verifier_key(&cp.origin, &new.verifying_key()).unwrap();
    let both = sign_checkpoint_multi(&cp, &[(&cp.origin, &old), (&cp.origin, &new)]).unwrap();
    assert_eq!(verify_checkpoint(&both, &old_vkey).unwrap(), cp);
    assert_eq!(verify_checkpoint(&both, &new_vkey).unwrap(), cp);
    // Adding the new key's signature to an old-key checkpoint is equivalent.
    let old_only = sign_checkpoint(&cp, &cp.origin, &old).unwrap();
    assert_eq!(add_signature(&old_only, &cp.origin, &new).unwrap(), both);
    // A verifier trusting both keys sees both signatures.
    let (_, sigs) = open_note(&both, &trusted(&[&old_vkey, &new_vkey])).unwrap();
    assert_eq!(sigs.len(), 2);
    assert_eq!(
        verify_checkpoint_with(&both, &trusted(&[&old_vkey, &new_vkey])).unwrap(),
        cp
    );
    // A stranger's key verifies nothing.
    let stranger = verifier_key(&cp.origin, &new_key(9).verifying_key()).unwrap();
    assert_eq!(
        verify_checkpoint(&both, &stranger),
        Err(NoteError::NoVerifiedSignature)
    );
}

#[test]
fn checkpoint_body_parsing_rejects_bad_bodies() {
    let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
    let bad = [
        format!("o\n1\n{root}"),
        "o\n1\n".to_owned(),
        format!("o\n{root}\n"),
        format!("\n1\n{root}\n"),
        format!("o\n\n{root}\n"),
        format!("o\n01\n{root}\n"),
        format!("o\n+1\n{root}\n"),
        format!("o\n-1\n{root}\n"),
        format!("o\n1 \n{root}\n"),
        format!("o\n18446744073709551616\n{root}\n"),
        format!("o\n1\n{root}\n\n"),
        format!("o\n1\n{root}\next\n\n"),
        "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2=\n".to_owned(),
        "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n".to_owned(),
        "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jx\n".to_owned(),
        format!("o\n1\n{root}\nt\tab\n"),
    ];
    for body in &bad {
        assert!(
            matches!(
                Checkpoint::parse_body(body),
                Err(NoteError::MalformedCheckpoint(_))
            ),
            "accepted {body:?}"
        );
    }
    let ok = Checkpoint::parse_body(&format!("o\n18446744073709551615\n{root}\nx\n")).unwrap();
    assert_eq!(ok.size, u64::MAX);
    assert_eq!(ok.extensions, vec!["x".to_owned()]);
    assert_eq!(
        Checkpoint::parse_body(&format!("o\n0\n{root}\n"))
            .unwrap()
            .size,
        0
    );
}
