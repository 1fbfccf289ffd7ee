//! Small view helpers shared by the pages: times, ages, ids, a tenant's templates (the
//! builtin ones and its own) as the console groups them.
//!
//! **Invariant:** nothing here decides anything; it formats what the ledger returned.

use crate::id::Id;
use crate::ledger::{Ledger, TemplateRef};
use crate::template::{Category, Template};
use std::collections::HashMap;

/// The templates a tenant may use (the builtin ones and its own, `Ledger::templates`),
/// looked up by name.
pub struct Templates {
    list: Vec<TemplateRef>,
    index: HashMap<String, usize>,
}

impl Templates {
    /// Tenant `tenant`'s templates.
    pub fn of(ledger: &Ledger, tenant: Id) -> Templates {
        let list = ledger.templates(tenant);
        let index = list
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        Templates { list, index }
    }

    /// Template `name`, if the tenant has it.
    pub fn get(&self, name: &str) -> Option<&Template> {
        self.index.get(name).map(|&i| &*self.list[i])
    }

    /// Every template, builtin ones first.
    pub fn iter(&self) -> impl Iterator<Item = &Template> {
        self.list.iter().map(|t| &**t)
    }

    /// The title of template `name` (its name when unknown).
    pub fn title(&self, name: &str) -> String {
        self.get(name)
            .map_or_else(|| name.to_string(), |t| t.title.clone())
    }
}

/// `2026-03-01 14:05 UTC`.
pub fn time(ms: i64) -> String {
    let s = crate::time::rfc3339(ms);
    // 2026-03-01T14:05:07.123Z
    match (s.get(..10), s.get(11..16)) {
        (Some(d), Some(t)) => format!("{d} {t} UTC"),
        _ => s,
    }
}

/// An optional time, or "—".
pub fn time_or_dash(ms: Option<i64>) -> String {
    ms.map_or_else(|| "—".to_string(), time)
}

/// "3 days ago", "in 5 days", "just now".
pub fn relative(ms: i64, now_ms: i64) -> String {
    let d = now_ms - ms;
    let (n, unit) = match d.unsigned_abs() {
        x if x < 60_000 => return "just now".into(),
        x if x < 3_600_000 => (x / 60_000, "minute"),
        x if x < 86_400_000 => (x / 3_600_000, "hour"),
        x => (x / 86_400_000, "day"),
    };
    let plural = if n == 1 { "" } else { "s" };
    if d >= 0 {
        format!("{n} {unit}{plural} ago")
    } else {
        format!("in {n} {unit}{plural}")
    }
}

/// A category's heading.
pub fn category_title(c: &str) -> &'static str {
    match c {
        "virtualization" => "Virtualization platforms",
        "cloud" => "Cloud providers",
        "ai" => "AI services",
        "containers" => "Container orchestration",
        "databases" => "Databases",
        "monitoring" => "Monitoring",
        _ => "Generic",
    }
}

/// The position of a category in the console's order (`Category::ALL`).
pub fn category_rank(c: &str) -> usize {
    Category::ALL
        .iter()
        .position(|x| x.as_str() == c)
        .unwrap_or(Category::ALL.len())
}

/// The category of template `name` (the template data's `category`; `generic` for an
/// unknown template).
pub fn category_of(templates: &Templates, name: &str) -> &'static str {
    templates
        .get(name)
        .map_or(Category::Generic.as_str(), |t| t.category.as_str())
}

/// The templates grouped by category, in console order.
pub fn by_category(templates: &Templates) -> Vec<(&'static str, Vec<&Template>)> {
    Category::ALL
        .iter()
        .map(|c| {
            (
                category_title(c.as_str()),
                templates
                    .iter()
                    .filter(|t| t.category == *c)
                    .collect::<Vec<_>>(),
            )
        })
        .filter(|(_, ts)| !ts.is_empty())
        .collect()
}

/// A short form of an id for tables (the full id is in the link or title).
pub fn short_id(id: &str) -> String {
    id.chars().take(8).collect()
}
