//! The wire format of the C2SP tlog-witness `add-checkpoint` call, both ways,
//! as pure encoders and parsers (no I/O).
//!
//! Request body (`POST <prefix>/add-checkpoint`), every line ending in `\n`:
//!
//! ```text
//! old <size of the witness's last checkpoint, decimal, no leading zeros>
//! <base64 consistency proof hash>        (zero to 63 lines)
//!                                        (an empty line)
//! <the signed checkpoint note>
//! ```
//!
//! Responses: 200 with one or more note signature lines (the cosignatures);
//! 409 with `<size>\n` and `Content-Type: text/x.tlog.size`; other statuses
//! with a one-line plain-text reason.
//!
//! **Invariant:** every parser here rejects what the spec does not allow
//! (leading zeros, non-canonical base64, more than 63 proof lines, trailing
//! bytes after a size) with a message, and never panics on any input.

use crate::merkle::Hash;
use crate::note::cosignature::CosignatureLine;
use crate::note::{SignatureLine, MAX_NOTE_BYTES};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

/// The path of the call under the witness's submission prefix.
pub const ADD_CHECKPOINT_PATH: &str = "/add-checkpoint";

/// The most consistency proof lines a request may carry.
pub const MAX_PROOF_LINES: usize = 63;

/// The content type of a 409 answer's body.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// The largest request body accepted: the old-size line, 63 proof lines of
/// 45 bytes, the empty line and the largest note this crate opens.
pub const MAX_REQUEST_BYTES: usize = 32 + MAX_PROOF_LINES * 45 + 1 + MAX_NOTE_BYTES;

/// An `add-checkpoint` request: the size the client believes the witness
/// holds, a consistency proof from that size to the checkpoint's, and the
/// signed checkpoint note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size of the latest checkpoint the witness cosigned for this
    /// origin (0 if none).
    pub old_size: u64,
    /// RFC 9162 consistency proof from `old_size` to the checkpoint's size
    /// (empty when `old_size` is 0 or equals the checkpoint's size).
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, as the log signed it.
    pub note: String,
}

impl AddCheckpoint {
    /// Encodes the request body.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(16 + self.proof.len() * 45 + 1 + self.note.len());
        out.push_str(&format!("old {}\n", self.old_size));
        for h in &self.proof {
            out.push_str(&B64.encode(h));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.note);
        out
    }

    /// Parses a request body. The note is only split off here; its format and
    /// signatures are checked by the witness.
    pub fn parse(body: &[u8]) -> Result<AddCheckpoint, &'static str> {
        if body.len() > MAX_REQUEST_BYTES {
            return Err("request body is too large");
        }
        let body = std::str::from_utf8(body).map_err(|_| "request body is not UTF-8")?;
        let Some((head, note)) = body.split_once("\n\n") else {
            return Err("no empty line between the proof and the checkpoint");
        };
        let mut lines = head.split('\n');
        let old = lines
            .next()
            .and_then(|l| l.strip_prefix("old "))
            .ok_or("the first line is not `old <size>`")?;
        let old_size =
            parse_decimal(old).ok_or("the old size is not a decimal without leading zeros")?;
        let mut proof = Vec::new();
        for line in lines {
            if proof.len() == MAX_PROOF_LINES {
                return Err("more than 63 consistency proof lines");
            }
            proof.push(parse_hash(line).ok_or("a proof line is not the base64 of 32 bytes")?);
        }
        if note.is_empty() {
            return Err("no checkpoint after the empty line");
        }
        Ok(AddCheckpoint {
            old_size,
            proof,
            note: note.to_owned(),
        })
    }

    /// The first line of the note: the checkpoint's origin, read before the
    /// note is verified so the witness can pick the log's keys.
    pub fn origin(&self) -> &str {
        self.note.split('\n').next().unwrap_or("")
    }
}

/// Parses a decimal `u64` without sign or leading zeros (`0` itself is fine).
pub fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// Parses the canonical standard base64 of a 32-byte hash.
pub fn parse_hash(s: &str) -> Option<Hash> {
    B64.decode(s).ok()?.try_into().ok()
}

/// Encodes a 409 answer's body: the size and a newline.
pub fn encode_size(size: u64) -> String {
    format!("{size}\n")
}

/// Parses a 409 answer's body, `<size>\n`.
pub fn parse_size(body: &str) -> Option<u64> {
    parse_decimal(body.strip_suffix('\n')?)
}

/// Encodes a 200 answer's body: the cosignature lines.
pub fn encode_cosignatures(lines: &[CosignatureLine]) -> String {
    lines.iter().map(CosignatureLine::to_line).collect()
}

/// Parses a 200 answer's body: one or more note signature lines, each ending
/// in a newline. Lines are checked for format only, not verified.
pub fn parse_signature_lines(body: &str) -> Result<Vec<SignatureLine>, &'static str> {
    let Some(body) = body.strip_suffix('\n') else {
        return Err("the response does not end with a newline");
    };
    body.split('\n')
        .map(|l| SignatureLine::parse(l).map_err(|_| "a response line is not a note signature"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC_REQUEST: &str = "old 20852014\n\
PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n\
jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n\
5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n\
/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n\
\n\
example.com/behind-the-sofa\n\
20852163\n\
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\
\n\
\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n\
\u{2014} example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n";

    #[test]
    fn the_spec_example_request_round_trips() {
        let req = AddCheckpoint::parse(SPEC_REQUEST.as_bytes()).unwrap();
        assert_eq!(req.old_size, 20_852_014);
        assert_eq!(req.proof.len(), 4);
        assert_eq!(req.origin(), "example.com/behind-the-sofa");
        assert!(req
            .note
            .starts_with("example.com/behind-the-sofa\n20852163\n"));
        assert_eq!(req.encode(), SPEC_REQUEST);
    }

    #[test]
    fn a_first_request_has_no_proof_lines() {
        let req = AddCheckpoint {
            old_size: 0,
            proof: vec![],
            note: "o\n1\nAAAA\n\n\u{2014} o AAAA\n".into(),
        };
        let body = req.encode();
        assert!(body.starts_with("old 0\n\no\n1\n"));
        assert_eq!(AddCheckpoint::parse(body.as_bytes()).unwrap(), req);
    }

    #[test]
    fn malformed_requests_are_refused_with_a_reason() {
        let note = "o\n1\nAAAA\n\n\u{2014} o AAAA\n";
        let hash = B64.encode([7u8; 32]);
        let too_many: String = (0..64).map(|_| format!("{hash}\n")).collect();
        for (body, why) in [
            (String::new(), "empty"),
            (format!("old 1\n{note}"), "no empty line"),
            (format!("new 1\n\n{note}"), "not old"),
            (format!("old  1\n\n{note}"), "two spaces"),
            (format!("old 01\n\n{note}"), "leading zero"),
            (format!("old -1\n\n{note}"), "negative"),
            (format!("old 18446744073709551616\n\n{note}"), "overflow"),
            (format!("old 1\nAAAA\n\n{note}"), "short hash"),
            (format!("old 1\n{hash} \n\n{note}"), "trailing space"),
            (format!("old 1\n{too_many}\n{note}"), "64 lines"),
            ("old 1\n\n".to_string(), "no note"),
        ] {
            assert!(AddCheckpoint::parse(body.as_bytes()).is_err(), "{why}");
        }
        assert!(AddCheckpoint::parse(&[0xff, 0xfe, b'\n', b'\n']).is_err());
        let big = vec![b'a'; MAX_REQUEST_BYTES + 1];
        assert_eq!(AddCheckpoint::parse(&big), Err("request body is too large"));
        let sixty_three: String = (0..63).map(|_| format!("{hash}\n")).collect();
        let ok = format!("old 1\n{sixty_three}\n{note}");
        assert_eq!(AddCheckpoint::parse(ok.as_bytes()).unwrap().proof.len(), 63);
        // No panic on any prefix of a valid request.
        for end in 0..SPEC_REQUEST.len() {
            let _ = AddCheckpoint::parse(&SPEC_REQUEST.as_bytes()[..end]);
        }
    }

    #[test]
    fn sizes_and_signature_lines() {
        assert_eq!(encode_size(0), "0\n");
        assert_eq!(parse_size("20852014\n"), Some(20_852_014));
        for bad in ["", "\n", "1", "01\n", "1 \n", "1\n\n", "x\n"] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
        let line = "\u{2014} w AAAAAAA=\n";
        assert_eq!(parse_signature_lines(line).unwrap().len(), 1);
        assert_eq!(
            parse_signature_lines(&format!("{line}{line}"))
                .unwrap()
                .len(),
            2
        );
        for bad in [
            "",
            "\n",
            line.trim_end(),
            "hello\n",
            "\u{2014} w AAAAAAA=\n\n",
        ] {
            assert!(parse_signature_lines(bad).is_err(), "{bad:?}");
        }
    }
}
