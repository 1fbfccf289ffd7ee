//! The add flow: a service picker (buttons by category), then a form generated from the
//! template — typed inputs, required marks, defaults, and conditional fields that follow
//! the select they depend on (htmx re-renders the fields from the server on change; a
//! "Show the fields for this choice" button does the same without script) — the
//! server's validation errors at their field with a summary, "Test connection", and
//! "Save".
//!
//! **Invariant:** a secret value is never written back into a page: after an error or a
//! refresh, secret inputs are empty and must be typed again. Which fields apply is the
//! template's rule (`Condition::holds`); validation is `Ledger::create_credential`'s.

use super::{html, see_other};
use crate::console::csrf::Posted;
use crate::console::error::ConsoleError;
use crate::console::form::Form;
use crate::console::layout::{Nav, Page};
use crate::console::signed::Signed;
use crate::console::view;
use crate::console::ConsoleState;
use crate::domain::DomainError;
use crate::event::Owner;
use crate::http::extract::Ctx;
use crate::ledger::{CreateInput, LedgerError, RequestCtx, TemplateRef};
use crate::template::{FieldType, Template as Tpl, TemplateError};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};

/// The form-field name of template field `name`.
pub fn input_name(name: &str) -> String {
    format!("f_{name}")
}

/// One input of a generated form.
pub struct Input {
    pub name: String,
    pub id: String,
    pub label: String,
    /// `text`, `password`, `radios`, `select`, `textarea` or `file`.
    pub kind: &'static str,
    pub required: bool,
    /// The value to show (never for a secret).
    pub value: String,
    pub options: Vec<(String, bool)>,
    pub help: String,
    pub placeholder: String,
    pub error: Option<String>,
    /// Whether a change re-renders the fields (a select others depend on).
    pub drives: bool,
}

/// An error of the summary: the anchor of its field and the message.
pub struct Problem {
    pub anchor: String,
    pub message: String,
}

/// The generated fields of a template for the values given so far.
pub struct Fields {
    pub template: String,
    pub inputs: Vec<Input>,
    pub multipart: bool,
}

/// The inputs of `t` for the submitted `values` (public values are kept; secrets never),
/// with `errors` by template field name. Conditional fields are shown only when their
/// condition holds for the selects chosen so far.
pub fn build_fields(
    t: &Tpl,
    values: &HashMap<String, String>,
    previous: &BTreeMap<String, String>,
    errors: &HashMap<String, String>,
) -> Fields {
    let drivers: Vec<&str> = t
        .fields
        .iter()
        .filter_map(|f| f.when.as_ref().map(|c| c.field.as_str()))
        .collect();
    let mut chosen: BTreeMap<String, String> = BTreeMap::new();
    let mut inputs = Vec::new();
    for f in &t.fields {
        if !f.when.as_ref().is_none_or(|c| c.holds(&chosen)) {
            continue;
        }
        let given = values
            .get(&f.name)
            .filter(|v| !v.is_empty())
            .cloned()
            .or_else(|| previous.get(&f.name).cloned())
            .or_else(|| f.default.clone())
            .unwrap_or_default();
        if f.field_type == FieldType::Select {
            chosen.insert(f.name.clone(), given.clone());
        }
        let kind = match f.field_type {
            _ if f.is_secret() && f.field_type == FieldType::File => "file",
            FieldType::Secret => "password",
            FieldType::Text => "text",
            FieldType::Select if f.options.len() <= 4 => "radios",
            FieldType::Select => "select",
            FieldType::Json => "textarea",
            FieldType::File => "textarea",
        };
        inputs.push(Input {
            name: input_name(&f.name),
            id: format!("field-{}", f.name),
            label: f.label().to_string(),
            kind,
            required: f.required,
            value: if f.is_secret() {
                String::new()
            } else {
                given.clone()
            },
            options: f.options.iter().map(|o| (o.clone(), *o == given)).collect(),
            help: f.help.clone().unwrap_or_default(),
            placeholder: f.placeholder.clone().unwrap_or_default(),
            error: errors.get(&f.name).map(|m| labelled(m, &f.name, f.label())),
            drives: drivers.contains(&f.name.as_str()),
        });
    }
    Fields {
        template: t.name.clone(),
        multipart: inputs.iter().any(|i| i.kind == "file"),
        inputs,
    }
}

/// The submitted values of the template's fields, by field name.
pub fn values(t: &Tpl, form: &Form) -> HashMap<String, String> {
    t.fields
        .iter()
        .filter_map(|f| {
            form.get(&input_name(&f.name))
                .map(|v| (f.name.clone(), v.to_string()))
        })
        .collect()
}

/// The JSON input of the fields that apply (the template's conditions over the selects
/// chosen), non-empty values only.
pub fn input(t: &Tpl, values: &HashMap<String, String>) -> Map<String, Value> {
    let mut chosen: BTreeMap<String, String> = BTreeMap::new();
    let mut out = Map::new();
    for f in &t.fields {
        if !f.when.as_ref().is_none_or(|c| c.holds(&chosen)) {
            continue;
        }
        let v = values.get(&f.name).cloned().unwrap_or_default();
        if f.field_type == FieldType::Select {
            chosen.insert(
                f.name.clone(),
                if v.is_empty() {
                    f.default.clone().unwrap_or_default()
                } else {
                    v.clone()
                },
            );
        }
        if !v.is_empty() {
            out.insert(f.name.clone(), Value::String(v));
        }
    }
    out
}

/// The field a ledger refusal is about (template field name, or a `meta-` form field),
/// and its message; `None` when it is not about a field.
#[allow(
    clippy::wildcard_enum_match_arm,
    reason = "only these ledger errors belong to a field; every other one is shown in the error summary"
)]
pub fn problem(e: &LedgerError) -> Option<(String, String)> {
    match e {
        LedgerError::Template(t) => match t {
            TemplateError::UnknownTemplate { .. } | TemplateError::InvalidTemplate { .. } => None,
            TemplateError::UnknownField { .. }
            | TemplateError::Missing { .. }
            | TemplateError::NotApplicable { .. }
            | TemplateError::WrongType { .. }
            | TemplateError::NotAnOption { .. }
            | TemplateError::Empty { .. }
            | TemplateError::TooLong { .. }
            | TemplateError::InvalidJson { .. }
            | TemplateError::InvalidFieldName { .. }
            | TemplateError::TooManyFields { .. }
            | TemplateError::PublicFieldNotSupplied { .. }
            | TemplateError::NoFields => {
                Some((t.field().unwrap_or("fields").to_string(), t.to_string()))
            }
        },
        LedgerError::Domain(DomainError::Invalid { field, message }) => Some((
            format!("meta-{}", field.as_deref().unwrap_or("name")),
            sentence(message),
        )),
        LedgerError::Domain(DomainError::Conflict(m)) => {
            Some(("meta-name".to_string(), sentence(m)))
        }
        _ => None,
    }
}

/// A template error's message about field `name` in the words of the form: the field's
/// label instead of its name, and without the condition (the field is shown because it
/// holds).
fn labelled(message: &str, name: &str, label: &str) -> String {
    let m = match message.strip_prefix(name) {
        Some(rest) => format!("{label}{rest}"),
        None => message.to_string(),
    };
    let m = match m.split_once(" when ") {
        Some((head, _)) => head.to_string(),
        None => m,
    };
    sentence(&m)
}

/// A message as a sentence (capital first letter).
fn sentence(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

pub struct Pick {
    pub name: String,
    pub title: String,
}

#[derive(Template)]
#[template(path = "console/picker.html")]
struct Picker {
    page: Page,
    groups: Vec<(&'static str, Vec<Pick>)>,
}

#[derive(Template)]
#[template(path = "console/add.html")]
struct AddPage {
    page: Page,
    title: String,
    description: String,
    fields: Fields,
    problems: Vec<Problem>,
    meta: Meta,
    verifiable: bool,
    test: Option<TestResult>,
}

/// The credential's own fields (not the template's).
#[derive(Default)]
pub struct Meta {
    pub name: String,
    pub owner: String,
    pub rotate_every_days: String,
    pub expires_at: String,
    pub description: String,
    pub default: bool,
    pub errors: HashMap<String, String>,
}

impl Meta {
    fn from_form(form: &Form) -> Meta {
        Meta {
            name: form.get("name").unwrap_or_default().to_string(),
            owner: form.get("owner").unwrap_or("tenant").to_string(),
            rotate_every_days: form
                .get("rotate_every_days")
                .unwrap_or_default()
                .to_string(),
            expires_at: form.get("expires_at").unwrap_or_default().to_string(),
            description: form.get("description").unwrap_or_default().to_string(),
            default: form.get("default").is_some(),
            errors: HashMap::new(),
        }
    }

    /// The error of meta field `name`.
    pub fn error(&self, name: &str) -> Option<&String> {
        self.errors.get(name)
    }
}

/// The outcome of a connection test, for the form.
pub struct TestResult {
    pub ok: bool,
    pub message: String,
}

#[derive(Template)]
#[template(path = "console/add_fields.html")]
struct FieldsFragment {
    fields: Fields,
}

#[derive(Template)]
#[template(path = "console/test_result.html")]
struct TestFragment {
    test: TestResult,
}

/// Template `name` as the caller's tenant sees it (a builtin one or the tenant's own).
fn template(st: &ConsoleState, signed: &Signed, name: &str) -> Result<TemplateRef, ConsoleError> {
    Ok(st.ledger().template(signed.caller.tenant, name)?)
}

/// `GET /ui/credentials/new`: the service picker.
pub async fn picker(
    State(st): State<ConsoleState>,
    signed: Signed,
) -> Result<Response, ConsoleError> {
    let templates = view::Templates::of(st.ledger(), signed.caller.tenant);
    let groups = view::by_category(&templates)
        .into_iter()
        .map(|(title, ts)| {
            (
                title,
                ts.into_iter()
                    .map(|t| Pick {
                        name: t.name.clone(),
                        title: t.title.clone(),
                    })
                    .collect(),
            )
        })
        .collect();
    html(Picker {
        page: Page::new(&signed, "Add a credential", Nav::Add),
        groups,
    })
}

fn add_page(
    signed: &Signed,
    t: &Tpl,
    values: &HashMap<String, String>,
    meta: Meta,
    field_errors: HashMap<String, String>,
    test: Option<TestResult>,
) -> AddPage {
    let fields = build_fields(t, values, &BTreeMap::new(), &field_errors);
    let mut problems: Vec<Problem> = fields
        .inputs
        .iter()
        .filter_map(|i| {
            i.error.as_ref().map(|m| Problem {
                anchor: i.id.clone(),
                message: m.clone(),
            })
        })
        .collect();
    for (k, m) in &meta.errors {
        problems.push(Problem {
            anchor: k.clone(),
            message: m.clone(),
        });
    }
    for (k, m) in &field_errors {
        if !fields.inputs.iter().any(|i| i.id == format!("field-{k}")) {
            problems.push(Problem {
                anchor: "template-fields".into(),
                message: m.clone(),
            });
        }
    }
    AddPage {
        page: Page::new(signed, format!("Add {}", t.title), Nav::Add),
        title: t.title.clone(),
        description: t.description.clone(),
        fields,
        problems,
        meta,
        verifiable: t.verify.is_some(),
        test,
    }
}

/// `GET /ui/credentials/new/{template}`: the form (`?f_auth_method=…` picks a branch).
pub async fn form(
    State(st): State<ConsoleState>,
    signed: Signed,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ConsoleError> {
    let t = template(&st, &signed, &name)?;
    let t = &*t;
    let form = Form::from_pairs(q.into_iter().collect());
    let values = values(t, &form);
    // Members add personal credentials only (the ledger refuses a shared one).
    let meta = Meta {
        owner: if signed.caps.create_shared {
            "tenant"
        } else {
            "me"
        }
        .into(),
        ..Meta::default()
    };
    html(add_page(&signed, t, &values, meta, HashMap::new(), None))
}

/// The fields fragment for the choices so far (htmx, on change of a select).
async fn fields_fragment_inner(
    st: &ConsoleState,
    signed: &Signed,
    name: &str,
    form: &Form,
) -> Result<Response, ConsoleError> {
    let t = template(st, signed, name)?;
    let t = &*t;
    html(FieldsFragment {
        fields: build_fields(t, &values(t, form), &BTreeMap::new(), &HashMap::new()),
    })
}

/// `POST /ui/credentials/new/{template}/fields`.
pub async fn fields_fragment(
    State(st): State<ConsoleState>,
    Path(name): Path<String>,
    posted: Posted,
) -> Result<Response, ConsoleError> {
    fields_fragment_inner(&st, &posted.signed, &name, &posted.form).await
}

/// The connection test of unsaved input: the ledger's test-before-save call
/// (`Ledger::verify_input`, recorded as a `verified` event without a credential). A
/// field error is shown at its field, like Save's.
async fn run_test(
    st: &ConsoleState,
    ctx: &RequestCtx,
    signed: &Signed,
    t: &Tpl,
    values: &HashMap<String, String>,
) -> Result<(TestResult, HashMap<String, String>), ConsoleError> {
    let fields = input(t, values);
    match st
        .ledger()
        .verify_input(ctx, &signed.caller, &t.name, &fields)
        .await
    {
        Ok(out) => Ok((
            TestResult {
                ok: out.ok,
                message: if out.ok {
                    format!(
                        "Connection works ({} ms). Nothing is saved yet.",
                        out.latency_ms
                    )
                } else {
                    format!("Connection failed: {}.", out.reason)
                },
            },
            HashMap::new(),
        )),
        Err(e) => match problem(&e) {
            Some((field, message)) if !field.starts_with("meta-") => Ok((
                TestResult {
                    ok: false,
                    message: "Not tested: correct the fields first.".into(),
                },
                HashMap::from([(field, message)]),
            )),
            _ => Err(e.into()),
        },
    }
}

/// `POST /ui/credentials/new/{template}/test`: Test connection (htmx fragment; a field
/// error re-renders the whole form, so it shows at its field).
pub async fn test(
    State(st): State<ConsoleState>,
    Ctx(ctx): Ctx,
    Path(name): Path<String>,
    posted: Posted,
) -> Result<Response, ConsoleError> {
    let Posted { signed, form } = posted;
    let t = template(&st, &signed, &name)?;
    let t = &*t;
    let values = values(t, &form);
    let (test, errors) = run_test(&st, &ctx, &signed, t, &values).await?;
    if errors.is_empty() {
        return html(TestFragment { test });
    }
    let mut r = html(add_page(
        &signed,
        t,
        &values,
        Meta::from_form(&form),
        errors,
        Some(test),
    ))?;
    // htmx swaps the whole page in (HX-Retarget/Reswap): the errors sit at their fields.
    r.headers_mut()
        .insert("hx-retarget", axum::http::HeaderValue::from_static("body"));
    r.headers_mut().insert(
        "hx-reswap",
        axum::http::HeaderValue::from_static("innerHTML"),
    );
    Ok(r)
}

/// `POST /ui/credentials/new/{template}`: Save (or, without script, refresh the fields
/// or test the connection).
pub async fn submit(
    State(st): State<ConsoleState>,
    Ctx(ctx): Ctx,
    Path(name): Path<String>,
    posted: Posted,
) -> Result<Response, ConsoleError> {
    let Posted { signed, form } = posted;
    let t = template(&st, &signed, &name)?;
    let t = &*t;
    let values = values(t, &form);
    let mut meta = Meta::from_form(&form);
    match form.get("_action") {
        Some("refresh") => {
            return html(add_page(&signed, t, &values, meta, HashMap::new(), None));
        }
        Some("test") => {
            let (result, errors) = run_test(&st, &ctx, &signed, t, &values).await?;
            return html(add_page(&signed, t, &values, meta, errors, Some(result)));
        }
        _ => {}
    }
    let invalid = |meta: Meta, errors| -> Result<Response, ConsoleError> {
        let mut r = html(add_page(&signed, t, &values, meta, errors, None))?;
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        Ok(r)
    };
    if meta.name.trim().is_empty() {
        meta.errors
            .insert("meta-name".into(), "Enter a name for the credential".into());
    }
    let rotate_every_days = match meta.rotate_every_days.trim() {
        "" => None,
        s => match s.parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                meta.errors.insert(
                    "meta-rotate_every_days".into(),
                    "Enter the rotation schedule as a whole number of days".into(),
                );
                None
            }
        },
    };
    let expires_at_ms = match meta.expires_at.trim() {
        "" => None,
        s => match crate::time::parse_rfc3339(&format!("{s}T00:00:00Z")) {
            Some(ms) => Some(ms),
            None => {
                meta.errors.insert(
                    "meta-expires_at".into(),
                    "Enter the expiry as a date, for example 2027-01-31".into(),
                );
                None
            }
        },
    };
    if !meta.errors.is_empty() {
        return invalid(meta, HashMap::new());
    }
    let input = CreateInput {
        name: meta.name.trim().to_string(),
        template: t.name.clone(),
        service: None,
        owner: Some(match meta.owner.as_str() {
            "me" => Owner::Principal(signed.caller.principal),
            _ => Owner::Tenant,
        }),
        description: meta.description.clone(),
        fields: input(t, &values),
        rotate_every_days,
        expires_at_ms,
        is_default: meta.default,
    };
    match st
        .ledger()
        .create_credential(&ctx, &signed.caller, input)
        .await
    {
        Ok(id) => Ok(see_other(&format!("/ui/credentials/{id}?notice=created"))),
        Err(e) => match problem(&e) {
            Some((field, message)) if field.starts_with("meta-") => {
                meta.errors.insert(field, message);
                invalid(meta, HashMap::new())
            }
            Some((field, message)) => invalid(meta, HashMap::from([(field, message)])),
            None => Err(e.into()),
        },
    }
}
