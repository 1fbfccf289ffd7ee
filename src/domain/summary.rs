//! The usage summary rule: credentials grouped by template or service, with their
//! count, uses, last use, failed connection tests and overdue rotations (the "by
//! provider" view of a dashboard).
//!
//! **Invariant:** one rule for every reader (API, CLI, console): only active
//! credentials count, a rotation counts as overdue per [`super::rotation`], and groups
//! come sorted by key.

use super::rotation::RotationStatus;
use std::collections::BTreeMap;

/// What credentials are grouped by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SummaryBy {
    Template,
    Service,
}

impl SummaryBy {
    /// Parses `template` or `service`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "template" => Some(SummaryBy::Template),
            "service" => Some(SummaryBy::Service),
            _ => None,
        }
    }

    /// The API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            SummaryBy::Template => "template",
            SummaryBy::Service => "service",
        }
    }
}

/// One credential as the summary sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SummaryItem {
    pub template: String,
    pub service: String,
    pub active: bool,
    pub uses: u64,
    pub last_used_at_ms: Option<i64>,
    pub failed_verifies: u64,
    pub rotation: RotationStatus,
}

/// One group of the summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SummaryGroup {
    /// The template or service name.
    pub key: String,
    /// Active credentials.
    pub count: u64,
    pub uses: u64,
    pub last_used_at_ms: Option<i64>,
    pub failed_verifies: u64,
    pub overdue_rotations: u64,
}

/// Groups the active items by template or service, sorted by key.
pub fn summarize(items: impl IntoIterator<Item = SummaryItem>, by: SummaryBy) -> Vec<SummaryGroup> {
    let mut groups: BTreeMap<String, SummaryGroup> = BTreeMap::new();
    for item in items.into_iter().filter(|i| i.active) {
        let key = match by {
            SummaryBy::Template => item.template,
            SummaryBy::Service => item.service,
        };
        let g = groups.entry(key.clone()).or_insert_with(|| SummaryGroup {
            key,
            ..SummaryGroup::default()
        });
        g.count += 1;
        g.uses += item.uses;
        g.last_used_at_ms = g.last_used_at_ms.max(item.last_used_at_ms);
        g.failed_verifies += item.failed_verifies;
        if item.rotation == RotationStatus::Overdue {
            g.overdue_rotations += 1;
        }
    }
    groups.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(template: &str, service: &str, uses: u64, last: Option<i64>) -> SummaryItem {
        SummaryItem {
            template: template.into(),
            service: service.into(),
            active: true,
            uses,
            last_used_at_ms: last,
            failed_verifies: 0,
            rotation: RotationStatus::Ok,
        }
    }

    #[test]
    fn given_credentials_when_summarized_by_template_then_groups_add_up() {
        let mut overdue = item("openai", "openai", 2, Some(5));
        overdue.rotation = RotationStatus::Overdue;
        overdue.failed_verifies = 3;
        let mut gone = item("openai", "openai", 100, Some(99));
        gone.active = false;
        let items = vec![
            item("openai", "openai", 1, Some(9)),
            overdue,
            gone,
            item("api_key", "benchmarker", 4, None),
        ];
        let by_template = summarize(items.clone(), SummaryBy::Template);
        assert_eq!(
            by_template,
            vec![
                SummaryGroup {
                    key: "api_key".into(),
                    count: 1,
                    uses: 4,
                    last_used_at_ms: None,
                    failed_verifies: 0,
                    overdue_rotations: 0
                },
                SummaryGroup {
                    key: "openai".into(),
                    count: 2,
                    uses: 3,
                    last_used_at_ms: Some(9),
                    failed_verifies: 3,
                    overdue_rotations: 1
                },
            ]
        );
        let by_service = summarize(items, SummaryBy::Service);
        assert_eq!(by_service[0].key, "benchmarker");
        assert_eq!(SummaryBy::parse("service"), Some(SummaryBy::Service));
        assert_eq!(SummaryBy::parse("provider"), None);
    }
}
