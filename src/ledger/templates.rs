//! The template catalog of a tenant: the builtin templates and the tenant's own, defined
//! at run time (`template_defined` events, folded into the state like everything else).
//!
//! **Invariant:** every lookup of a template by name for a credential (create, rotate,
//! verify, test before save, the secret field names of a view) goes through
//! [`Ledger::template`], so a tenant's templates are seen by its own credentials only and
//! a builtin name always means the builtin template.

use super::{Ledger, LedgerError, RequestCtx};
use crate::domain::decide;
use crate::domain::State;
use crate::domain::{Caller, DomainError};
use crate::id::Id;
use crate::template::{Catalog, Template, TemplateError};
use std::ops::Deref;
use std::sync::Arc;

/// A template as a tenant sees it: a builtin one or one of its own.
#[derive(Clone, Debug)]
pub enum TemplateRef {
    Builtin(&'static Template),
    Tenant(Arc<Template>),
}

impl TemplateRef {
    /// Whether it is one of the builtin templates.
    pub fn is_builtin(&self) -> bool {
        matches!(self, TemplateRef::Builtin(_))
    }
}

impl Deref for TemplateRef {
    type Target = Template;
    fn deref(&self) -> &Template {
        match self {
            TemplateRef::Builtin(t) => t,
            TemplateRef::Tenant(t) => t,
        }
    }
}

impl Ledger {
    /// The template `name` as tenant `tenant` sees it: a builtin one, else the tenant's.
    /// A tenant template whose recorded definition no longer passes this build's checks
    /// is a conflict (redefine it).
    pub fn template(&self, tenant: Id, name: &str) -> Result<TemplateRef, LedgerError> {
        if let Ok(t) = self.catalog.get(name) {
            return Ok(TemplateRef::Builtin(t));
        }
        self.with_state(|s| template_in(self.catalog, s, tenant, name))
    }

    /// Every template tenant `tenant` may use: the builtin ones, then its own (usable
    /// ones only), by name within each.
    pub fn templates(&self, tenant: Id) -> Vec<TemplateRef> {
        let mut out: Vec<TemplateRef> = self.catalog.iter().map(TemplateRef::Builtin).collect();
        self.with_state(|s| {
            if let Some(own) = s.templates.get(&tenant) {
                out.extend(
                    own.values()
                        .filter_map(|t| t.template.clone())
                        .map(TemplateRef::Tenant),
                );
            }
        });
        out
    }

    /// Defines a tenant template (admins); `replace` allows redefining one
    /// (`PUT /v1/templates/{name}`), otherwise a defined name is a conflict.
    pub async fn define_template(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        path_name: Option<&str>,
        definition: &str,
        replace: bool,
    ) -> Result<String, LedgerError> {
        let catalog = self.catalog;
        self.execute(ctx, caller, |w, _| {
            let bodies =
                decide::define_template(&w.state, caller, path_name, definition, catalog, replace)?;
            let name = match bodies.first() {
                Some(crate::event::Body::TemplateDefined { name, .. }) => name.clone(),
                _ => String::new(),
            };
            Ok((super::Staged::events(bodies), name))
        })
        .await
    }

    /// Deletes a tenant template no credential uses (admins).
    pub async fn delete_template(
        &self,
        ctx: &RequestCtx,
        caller: &Caller,
        name: &str,
    ) -> Result<(), LedgerError> {
        self.execute(ctx, caller, |w, _| {
            Self::events_only(decide::delete_template(&w.state, caller, name))
        })
        .await
    }
}

/// [`Ledger::template`] on a state the caller holds (under the writer lock).
pub(super) fn template_in(
    catalog: &'static Catalog,
    state: &State,
    tenant: Id,
    name: &str,
) -> Result<TemplateRef, LedgerError> {
    if let Ok(t) = catalog.get(name) {
        return Ok(TemplateRef::Builtin(t));
    }
    match state
        .tenant_template(tenant, name)
        .map(|t| t.template.clone())
    {
        Some(Some(t)) => Ok(TemplateRef::Tenant(t)),
        Some(None) => Err(DomainError::Conflict(format!(
            "the tenant template '{name}' no longer passes this version's checks; redefine it"
        ))
        .into()),
        None => Err(unknown(name)),
    }
}

/// "No template has this name", for a name that is neither builtin nor the tenant's.
pub(super) fn unknown(name: &str) -> LedgerError {
    TemplateError::UnknownTemplate {
        name: name.chars().take(64).filter(|c| !c.is_control()).collect(),
    }
    .into()
}
