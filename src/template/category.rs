//! The group a template belongs to, for a console that lists credentials by kind of
//! service: virtualization, cloud, ai, containers, databases, monitoring or generic.
//!
//! A fallback by builtin name, until template data carries a `category` of its own.

use super::Template;

/// The template's category (`generic` for templates not listed here).
pub fn category(t: &Template) -> &'static str {
    match t.name.as_str() {
        "proxmox" | "vmware" | "hyperv" => "virtualization",
        "aws" | "azure" | "gcp" | "vultr" => "cloud",
        "openai" | "anthropic" | "langsmith" => "ai",
        "kubernetes" | "docker" => "containers",
        "postgres" | "mysql" | "db_dsn" => "databases",
        "prometheus" | "grafana" => "monitoring",
        _ => "generic",
    }
}
