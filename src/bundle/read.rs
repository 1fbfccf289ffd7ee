//! Reading a bundle: [`Lines`] reads one JSON line at a time and tells a clean end from
//! a cut-off last line; [`Events`] feeds the event lines to `replay` and hashes each
//! leaf into a [`Frontier`] as it passes, so the bundle is read once, in a stream.
//!
//! **Invariant:** a read error, a cut-off line or a line of the wrong type ends the
//! stream and is kept in [`Events::error`]; the verifier reports it instead of a result.

use super::format::Line;
use super::verify::BundleError;
use crate::merkle::{self, Hash, NodeReader};
use serde::Deserialize;
use std::io::BufRead;

/// Reads lines, telling a clean end from a cut-off last line.
pub(super) struct Lines<R> {
    r: R,
    line: u64,
    buf: Vec<u8>,
}

pub(super) enum Read {
    Line(String),
    Eof,
    Partial,
}

impl<R> Lines<R> {
    pub(super) fn new(r: R) -> Self {
        Lines {
            r,
            line: 0,
            buf: Vec::new(),
        }
    }
}

impl<R: BufRead> Lines<R> {
    pub(super) fn read(&mut self) -> Result<Read, BundleError> {
        self.buf.clear();
        let n = self.r.read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(Read::Eof);
        }
        self.line += 1;
        if self.buf.pop() != Some(b'\n') {
            return Ok(Read::Partial);
        }
        match std::str::from_utf8(&self.buf) {
            Ok(s) => Ok(Read::Line(s.to_owned())),
            Err(_) => Err(self.malformed("not UTF-8")),
        }
    }

    pub(super) fn malformed(&self, detail: impl Into<String>) -> BundleError {
        BundleError::Malformed {
            line: self.line,
            detail: detail.into(),
        }
    }

    /// The next line as JSON of type `T`; `what` names the expected record.
    pub(super) fn next<T: for<'de> Deserialize<'de>>(
        &mut self,
        what: &str,
    ) -> Result<T, BundleError> {
        match self.read()? {
            Read::Eof => Err(BundleError::Truncated(format!(
                "the bundle ends after line {} where the {what} should be",
                self.line
            ))),
            Read::Partial => Err(BundleError::Truncated(format!(
                "line {} (the {what}) is cut off",
                self.line
            ))),
            Read::Line(s) => serde_json::from_str(&s)
                .map_err(|e| self.malformed(format!("expected the {what}: {e}"))),
        }
    }
}

/// The perfect subtrees covering `[0, size)`: appends leaves and yields the root.
pub(crate) struct Frontier {
    pub(crate) size: u64,
    pub(crate) nodes: Vec<(u8, u64, Hash)>,
}

impl NodeReader for Frontier {
    type Error = ();
    fn node(&self, level: u8, index: u64) -> Result<Hash, ()> {
        self.nodes
            .iter()
            .find(|(l, i, _)| *l == level && *i == index)
            .map(|(_, _, h)| *h)
            .ok_or(())
    }
}

impl Frontier {
    pub(crate) fn push(&mut self, leaf: Hash) {
        let new = merkle::append(self.size, leaf, self)
            .expect("a frontier holds every node append reads");
        let top = *new.last().expect("append returns the leaf at least");
        self.nodes.retain(|(l, _, _)| *l > top.0);
        self.nodes.push(top);
        self.size += 1;
    }
    pub(crate) fn root(&self) -> Hash {
        merkle::root(self.size, self).expect("a frontier holds every node root reads")
    }
}

/// Feeds event lines to `replay`, hashing leaves into the frontier as they pass.
pub(super) struct Events<'a, R> {
    pub(super) lines: &'a mut Lines<R>,
    pub(super) frontier: Frontier,
    pub(super) peeked: Option<(u64, Vec<u8>)>,
    pub(super) limit: u64,
    pub(super) count: u64,
    pub(super) end: Option<u64>,
    pub(super) error: Option<BundleError>,
}

impl<R: BufRead> Events<'_, R> {
    pub(super) fn pull(&mut self) -> Option<(u64, Vec<u8>)> {
        if self.end.is_some() || self.error.is_some() {
            return None;
        }
        let line = match self.lines.read() {
            Ok(Read::Line(s)) => s,
            Ok(Read::Eof) => {
                self.error = Some(BundleError::Truncated(format!(
                    "the bundle ends after line {} with {} events and no end record",
                    self.lines.line, self.count
                )));
                return None;
            }
            Ok(Read::Partial) => {
                self.error = Some(BundleError::Truncated(format!(
                    "line {} is cut off",
                    self.lines.line
                )));
                return None;
            }
            Err(e) => {
                self.error = Some(e);
                return None;
            }
        };
        match serde_json::from_str::<Line>(&line) {
            Ok(Line::Event { seq, leaf }) => {
                if self.count >= self.limit {
                    self.error = Some(self.lines.malformed("more events than the header's range"));
                    return None;
                }
                self.frontier.push(merkle::leaf_hash(&leaf));
                self.count += 1;
                Some((seq, leaf))
            }
            Ok(Line::End { events }) => {
                self.end = Some(events);
                None
            }
            Ok(_) => {
                self.error = Some(self.lines.malformed("expected an event or the end record"));
                None
            }
            Err(e) => {
                self.error = Some(self.lines.malformed(format!("expected an event: {e}")));
                None
            }
        }
    }
}

impl<R: BufRead> Iterator for Events<'_, R> {
    type Item = Result<(u64, Vec<u8>), std::convert::Infallible>;
    fn next(&mut self) -> Option<Self::Item> {
        self.peeked.take().or_else(|| self.pull()).map(Ok)
    }
}
