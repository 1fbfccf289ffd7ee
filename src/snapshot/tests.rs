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
    let head = header(3, &[7; 32]);
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
