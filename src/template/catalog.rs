//! The builtin templates, embedded at compile time from `schemas/templates/`, and
//! [`Catalog`], a set of checked templates by name.
//!
//! **Invariant:** every template in a [`Catalog`] has passed [`Template::from_json`]'s
//! checks, and names are unique.

use super::error::sanitize;
use super::{Template, TemplateError};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The builtin templates by file stem. A unit test checks that every file in
/// `schemas/templates/` is listed here and that its `name` equals its stem.
pub(super) const BUILTIN: &[(&str, &str)] = &[
    (
        "anthropic",
        include_str!("../../schemas/templates/anthropic.json"),
    ),
    (
        "api_key",
        include_str!("../../schemas/templates/api_key.json"),
    ),
    ("aws", include_str!("../../schemas/templates/aws.json")),
    ("azure", include_str!("../../schemas/templates/azure.json")),
    (
        "bearer_token",
        include_str!("../../schemas/templates/bearer_token.json"),
    ),
    (
        "custom",
        include_str!("../../schemas/templates/custom.json"),
    ),
    (
        "db_dsn",
        include_str!("../../schemas/templates/db_dsn.json"),
    ),
    (
        "docker",
        include_str!("../../schemas/templates/docker.json"),
    ),
    ("gcp", include_str!("../../schemas/templates/gcp.json")),
    (
        "github",
        include_str!("../../schemas/templates/github.json"),
    ),
    (
        "grafana",
        include_str!("../../schemas/templates/grafana.json"),
    ),
    (
        "http_basic",
        include_str!("../../schemas/templates/http_basic.json"),
    ),
    (
        "hyperv",
        include_str!("../../schemas/templates/hyperv.json"),
    ),
    (
        "kubernetes",
        include_str!("../../schemas/templates/kubernetes.json"),
    ),
    (
        "langsmith",
        include_str!("../../schemas/templates/langsmith.json"),
    ),
    ("mysql", include_str!("../../schemas/templates/mysql.json")),
    (
        "openai",
        include_str!("../../schemas/templates/openai.json"),
    ),
    (
        "postgres",
        include_str!("../../schemas/templates/postgres.json"),
    ),
    (
        "prometheus",
        include_str!("../../schemas/templates/prometheus.json"),
    ),
    (
        "proxmox",
        include_str!("../../schemas/templates/proxmox.json"),
    ),
    ("ssh", include_str!("../../schemas/templates/ssh.json")),
    (
        "vmware",
        include_str!("../../schemas/templates/vmware.json"),
    ),
    ("vultr", include_str!("../../schemas/templates/vultr.json")),
];

/// A set of templates by name.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    templates: BTreeMap<String, Template>,
}

impl Catalog {
    /// The builtin templates, parsed and checked on first use.
    ///
    /// # Panics
    ///
    /// If a builtin template is invalid; the unit tests load every builtin, so this
    /// cannot happen in a tested build.
    pub fn builtin() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG.get_or_init(|| {
            Catalog::from_sources(BUILTIN.iter().map(|(_, src)| *src))
                .unwrap_or_else(|e| panic!("builtin templates: {e}"))
        })
    }

    /// A catalog of these template definitions; names must be unique.
    pub fn from_sources<'a>(
        sources: impl IntoIterator<Item = &'a str>,
    ) -> Result<Catalog, TemplateError> {
        let mut templates = BTreeMap::new();
        for src in sources {
            let t = Template::from_json(src)?;
            if templates.contains_key(&t.name) {
                return Err(TemplateError::InvalidTemplate {
                    template: t.name,
                    reason: "defined twice".into(),
                });
            }
            templates.insert(t.name.clone(), t);
        }
        Ok(Catalog { templates })
    }

    /// The template with this name.
    pub fn get(&self, name: &str) -> Result<&Template, TemplateError> {
        self.templates
            .get(name)
            .ok_or_else(|| TemplateError::UnknownTemplate {
                name: sanitize(name),
            })
    }

    /// Every template, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Template> {
        self.templates.values()
    }
}
