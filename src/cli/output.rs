//! How client commands print: tables for people, JSON for scripts.
//!
//! **Invariant:** nothing here knows about secrets; callers pass only what may be shown.

use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use serde_json::Value;
use std::io::IsTerminal;

/// The output mode of one command run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Out {
    pub json: bool,
}

impl Out {
    /// Prints a value as pretty JSON on stdout.
    pub fn print_json(&self, v: &Value) {
        println!(
            "{}",
            serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
        );
    }

    /// Prints a table with a header row (plain columns when stdout is not a terminal).
    pub fn table(&self, header: &[&str], rows: Vec<Vec<String>>) {
        let mut t = Table::new();
        if std::io::stdout().is_terminal() {
            t.load_preset(UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Dynamic);
        } else {
            t.load_preset(comfy_table::presets::NOTHING);
        }
        t.set_header(header.iter().copied());
        for r in rows {
            t.add_row(r);
        }
        println!("{}", tidy(&t));
    }

    /// Prints key/value pairs as a two-column table.
    pub fn kv(&self, pairs: &[(&str, String)]) {
        let mut t = Table::new();
        t.load_preset(comfy_table::presets::NOTHING);
        for (k, v) in pairs {
            t.add_row(vec![format!("{k}:"), v.clone()]);
        }
        println!("{}", tidy(&t));
    }
}

/// The table's text without the padding a borderless table leaves at line ends.
fn tidy(t: &Table) -> String {
    t.lines()
        .map(|l| {
            let l = l.trim_end();
            l.strip_prefix(' ').unwrap_or(l).to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A JSON value as table text: strings bare, null empty.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
