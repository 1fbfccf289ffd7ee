//! Architecture invariants as tests, in the manner of rust-analyzer's `tidy`: each one
//! from `docs/ARCHITECTURE.md` that a reader could break without noticing fails here.
//!
//! - every source file opens with a `//!` comment saying what it owns;
//! - no file outgrows the house style (600 lines; exceptions are named here with why);
//! - the HTTP dialects (`api`, `console`) hold no rule: they never import
//!   `domain::decide`, and never name the store, sled or the projection key layout;
//! - `api` and `console` never import each other;
//! - event bodies are built only in `domain` (and `event` itself): no `Body::X {`
//!   constructor elsewhere in the library;
//! - sled is named only inside `src/store/`.

use std::path::{Path, PathBuf};

const MAX_LINES: usize = 600;

/// Files allowed past `MAX_LINES`, with the reason.
const LONG_FILES: &[(&str, &str)] = &[
    (
        "src/note.rs",
        "one format (C2SP signed notes) with its parser and signer",
    ),
    (
        "src/merkle.rs",
        "one algorithm family (RFC 9162 tree, proofs, verification)",
    ),
];

fn sources(dir: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn rel(p: &Path) -> String {
    p.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// The file without comments (line comments and doc comments), so prose may name things.
fn code(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_test_file(p: &str) -> bool {
    p.ends_with("/tests.rs") || p.contains("/tests/")
}

#[test]
fn every_source_file_says_what_it_owns() {
    let missing: Vec<String> = sources("src")
        .iter()
        .filter(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            !text.trim_start().starts_with("//!")
        })
        .map(|p| rel(p))
        .collect();
    assert!(
        missing.is_empty(),
        "files without a `//!` opening comment: {missing:?}"
    );
}

#[test]
fn no_file_outgrows_the_house_style() {
    let long: Vec<String> = sources("src")
        .iter()
        .map(|p| (rel(p), std::fs::read_to_string(p).unwrap().lines().count()))
        .filter(|(p, n)| {
            *n > MAX_LINES && !is_test_file(p) && !LONG_FILES.iter().any(|(f, _)| f == p)
        })
        .map(|(p, n)| format!("{p} ({n} lines)"))
        .collect();
    assert!(
        long.is_empty(),
        "split these by concern (or justify them in LONG_FILES): {long:?}"
    );
}

#[test]
fn http_dialects_hold_no_rule_and_no_store() {
    let mut offences = Vec::new();
    for dir in ["src/api", "src/console"] {
        for p in sources(dir) {
            let r = rel(&p);
            if is_test_file(&r) {
                continue;
            }
            let c = code(&p);
            for needle in ["domain::decide", "crate::store", "sled::", ".store()"] {
                if c.contains(needle) {
                    offences.push(format!("{r} uses {needle}"));
                }
            }
            // Projection *views* are the read models handlers render; anything else of
            // `projection` (its functions, its key layout) is the store's business.
            for (at, _) in c.match_indices("projection::") {
                let rest = &c[at + "projection::".len()..];
                let names: Vec<&str> = match rest.strip_prefix('{') {
                    Some(list) => list.split('}').next().unwrap_or("").split(',').collect(),
                    None => vec![rest
                        .split(|ch: char| !ch.is_alphanumeric() && ch != '_')
                        .next()
                        .unwrap_or("")],
                };
                for n in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
                    if !n.ends_with("View") {
                        offences.push(format!("{r} uses projection::{n}"));
                    }
                }
            }
        }
    }
    assert!(offences.is_empty(), "{offences:#?}");
}

#[test]
fn api_and_console_never_import_each_other() {
    let mut offences = Vec::new();
    for (dir, other) in [("src/api", "crate::console"), ("src/console", "crate::api")] {
        for p in sources(dir) {
            if code(&p).contains(other) {
                offences.push(format!("{} uses {other}", rel(&p)));
            }
        }
    }
    assert!(offences.is_empty(), "{offences:#?}");
}

/// The `Body::Name { … }` struct expressions of `code` that are constructors, not
/// patterns: a pattern has `..` inside its braces or is followed by `=>`, `|`, `=` (a
/// `let` pattern) or `if` (a match guard).
fn body_constructors(code: &str) -> Vec<String> {
    let bytes = code.as_bytes();
    let mut found = Vec::new();
    for (at, _) in code.match_indices("Body::") {
        let rest = &code[at + 6..];
        let name_len = rest
            .find(|c: char| !c.is_alphanumeric() && c != '_')
            .unwrap_or(rest.len());
        let name = &rest[..name_len];
        let after = rest[name_len..].trim_start();
        if name.is_empty() || !after.starts_with('{') {
            continue;
        }
        let open = at + 6 + name_len + (rest[name_len..].len() - after.len());
        let (mut depth, mut close) = (0usize, None);
        for (k, &b) in bytes.iter().enumerate().skip(open) {
            match b {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(k);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(close) = close else { continue };
        let inside = &code[open..close];
        let next = code[close + 1..].trim_start();
        let pattern = inside.contains("..")
            || next.starts_with("=>")
            || next.starts_with('|')
            || (next.starts_with('=') && !next.starts_with("=="))
            || next.starts_with("if ");
        if !pattern {
            let line = code[..at].matches('\n').count() + 1;
            found.push(format!("line {line}: Body::{name}"));
        }
    }
    found
}

#[test]
fn event_bodies_are_built_only_in_domain() {
    let probe = "fn f() { let b = Body::TenantCreated {\n tenant, name };\n \
                 match e { Body::TokenRevoked { tenant, .. } => 1, Body::X { a } | Body::Y { a } => 2 }\n \
                 stage(Body::TokenRevoked { tenant, token }); }";
    assert_eq!(
        body_constructors(probe),
        ["line 1: Body::TenantCreated", "line 4: Body::TokenRevoked"],
        "the detector itself"
    );
    let mut offences = Vec::new();
    for p in sources("src") {
        let r = rel(&p);
        if r.starts_with("src/domain/") || r.starts_with("src/event/") || is_test_file(&r) {
            continue;
        }
        let c = code(&p);
        // Inline unit tests build events to test with.
        let c = c
            .split("#[cfg(test)]\nmod tests")
            .next()
            .unwrap_or_default();
        for f in body_constructors(c) {
            offences.push(format!("{r} {f}"));
        }
    }
    assert!(
        offences.is_empty(),
        "event bodies built outside domain: {offences:#?}"
    );
}

/// Whether `code` names the `sled` crate (`sled::…`, `::sled::…`, `use sled`), as
/// opposed to our own `store::sled` module that selects the backend.
fn names_sled_crate(code: &str) -> bool {
    code.contains("use sled")
        || code.match_indices("sled::").any(|(at, _)| {
            let before = &code[..at];
            !before.ends_with("store::")
                && !before.ends_with(|c: char| c.is_alphanumeric() || c == '_')
        })
}

#[test]
fn sled_is_named_only_in_the_store() {
    assert!(names_sled_crate("let t: sled::Tree;") && names_sled_crate("x(::sled::Db)"));
    assert!(!names_sled_crate(
        "use credledger::store::sled::SledBackend;"
    ));
    let offences: Vec<String> = sources("src")
        .iter()
        .filter(|p| !rel(p).starts_with("src/store/"))
        .filter(|p| names_sled_crate(&code(p)))
        .map(|p| rel(p))
        .collect();
    assert!(offences.is_empty(), "sled outside src/store/: {offences:?}");
}
