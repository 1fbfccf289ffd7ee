//! Unit tests of the snapshot bytes: a round trip, and every refusal of `decode`.

use super::*;
use crate::domain::state::Tenant;

fn state() -> State {
    let mut s = State {
        len: 3,
        origin: Some("example.test/log".into()),
        ..State::default()
    };
    for i in 0..20u8 {
        s.tenants.insert(
            Id([i; 16]),
            Tenant {
                name: format!("tenant-{i}"),
            },
        );
    }
    s
}

fn key(b: u8) -> MacKey {
    MacKey::derive(&[b; 32])
}

#[test]
fn a_snapshot_reads_back_as_the_state_written_and_encodes_deterministically() {
    let s = state();
    let bytes = encode(&s, &[7; 32], Some((2, Id([9; 16]))), &key(1)).unwrap();
    let back = decode(&bytes, &key(1)).unwrap();
    assert_eq!(back.covers, 3);
    assert_eq!(back.hash, [7; 32]);
    assert_eq!(back.pending_shred, Some((2, Id([9; 16]))));
    let again = encode(&back.state, &[7; 32], Some((2, Id([9; 16]))), &key(1)).unwrap();
    assert_eq!(again, bytes, "equal states encode to equal bytes");
    assert_eq!(peek(&bytes), Some((3, [7; 32])));
}

#[test]
fn every_damaged_or_foreign_snapshot_is_refused() {
    let bytes = encode(&state(), &[7; 32], None, &key(1)).unwrap();
    assert_eq!(decode(&bytes, &key(2)).unwrap_err(), Refused::Mac);
    for at in [9, 12, 30, 60, bytes.len() - 1] {
        let mut b = bytes.clone();
        b[at] ^= 1;
        let err = decode(&b, &key(1)).unwrap_err();
        let expected = if at == 9 {
            Refused::Version { found: VERSION ^ 1 }
        } else {
            Refused::Mac
        };
        assert_eq!(err, expected, "byte {at}");
    }
    assert!(matches!(
        decode(&bytes[..40], &key(1)),
        Err(Refused::NotASnapshot(40))
    ));
    assert!(matches!(
        decode(&bytes[..bytes.len() - 1], &key(1)),
        Err(Refused::Mac)
    ));
    let mut other = bytes.clone();
    other[0] = b'X';
    assert!(matches!(
        decode(&other, &key(1)),
        Err(Refused::NotASnapshot(_))
    ));
    assert!(encode(&State::default(), &[0; 32], None, &key(1)).is_none());
}

#[test]
fn a_body_that_does_not_decode_is_refused_even_under_the_right_key() {
    let k = key(1);
    let head = header(VERSION, 3, &[7; 32]);
    let body = [0xffu8; 16];
    let mut b = head.to_vec();
    b.extend_from_slice(k.mac(&head, &body).as_bytes());
    b.extend_from_slice(&body);
    assert!(matches!(decode(&b, &k), Err(Refused::Undecodable(_))));
    // A state that says it folded another number of events than the header.
    let mut s = state();
    s.len = 4;
    let mut forged = encode(&s, &[7; 32], None, &k).unwrap();
    forged[10..18].copy_from_slice(&3u64.to_be_bytes());
    let (h, rest) = forged.split_at(HEADER);
    let body = rest[MAC_LEN..].to_vec();
    let mac = k.mac(h, &body);
    forged[HEADER..HEADER + MAC_LEN].copy_from_slice(mac.as_bytes());
    assert_eq!(
        decode(&forged, &k).unwrap_err(),
        Refused::Inconsistent { covers: 3, len: 4 }
    );
}

#[test]
fn a_version_1_snapshot_with_its_body_uncompressed_is_still_read() {
    let s = state();
    let raw = bincode::serde::encode_to_vec(
        BodyRef {
            pending_shred: None,
            state: &s,
        },
        body_config(),
    )
    .unwrap();
    let v1 = seal(header(UNCOMPRESSED, 3, &[7; 32]), &raw, &key(1));
    let back = decode(&v1, &key(1)).unwrap();
    let v2 = encode(&back.state, &[7; 32], None, &key(1)).unwrap();
    assert_eq!(v2, encode(&s, &[7; 32], None, &key(1)).unwrap());
    assert_eq!(u16::from_be_bytes([v2[8], v2[9]]), VERSION);
    assert!(v2.len() < v1.len(), "{} >= {}", v2.len(), v1.len());
    assert_eq!(body_size(&v1), Some(raw.len() as u64));
    assert_eq!(
        body_size(&v2),
        Some(raw.len() as u64),
        "the frame's content size"
    );
    assert_eq!(body_size(&v2[..40]), None);
    // The same uncompressed body under the version 2 header is not a zstd frame.
    let mislabelled = seal(header(VERSION, 3, &[7; 32]), &raw, &key(1));
    assert!(matches!(
        decode(&mislabelled, &key(1)),
        Err(Refused::Undecodable(_))
    ));
}

#[test]
fn a_body_is_decompressed_up_to_its_limit_only() {
    let frame = zstd::bulk::compress(&[0u8; 10_000], 3).unwrap();
    assert!(frame.len() < 100, "zeros compress: {}", frame.len());
    assert_eq!(decompress(&frame, 10_000).unwrap().len(), 10_000);
    match decompress(&frame, 9_999) {
        Err(Refused::Undecodable(m)) => assert!(m.contains("larger than 9999 bytes"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        decompress(&frame[..frame.len() - 1], 10_000),
        Err(Refused::Undecodable(_))
    ));
}
