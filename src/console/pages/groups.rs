//! The group forms of the administration page: create a group, add a principal to it,
//! remove one. Who may is the ledger's rule (`decide::groups`); a refusal is its error.

use super::{parse_id, see_other};
use crate::console::csrf::Posted;
use crate::console::error::ConsoleError;
use crate::console::ConsoleState;
use crate::http::extract::Ctx;
use axum::extract::{Path, State};
use axum::response::Response;

/// `POST /ui/admin/groups`: a new group.
pub async fn create(
    State(st): State<ConsoleState>,
    Ctx(ctx): Ctx,
    posted: Posted,
) -> Result<Response, ConsoleError> {
    let name = posted
        .form
        .text("name")
        .ok_or_else(|| ConsoleError::BadRequest("Enter a name for the group.".into()))?;
    st.ledger()
        .create_group(&ctx, &posted.signed.caller, name)
        .await?;
    Ok(see_other("/ui/admin#groups"))
}

/// `POST /ui/admin/groups/{id}/members`: add the principal `principal`.
pub async fn add_member(
    State(st): State<ConsoleState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, ConsoleError> {
    let group = parse_id(&id)?;
    let principal = posted
        .form
        .text("principal")
        .ok_or_else(|| ConsoleError::BadRequest("Choose whom to add.".into()))
        .and_then(parse_id)?;
    st.ledger()
        .add_group_member(&ctx, &posted.signed.caller, group, principal)
        .await?;
    Ok(see_other("/ui/admin#groups"))
}

/// `POST /ui/admin/groups/{id}/members/{principal}/remove`.
pub async fn remove_member(
    State(st): State<ConsoleState>,
    Ctx(ctx): Ctx,
    Path((id, principal)): Path<(String, String)>,
    posted: Posted,
) -> Result<Response, ConsoleError> {
    let group = parse_id(&id)?;
    let principal = parse_id(&principal)?;
    st.ledger()
        .remove_group_member(&ctx, &posted.signed.caller, group, principal)
        .await?;
    Ok(see_other("/ui/admin#groups"))
}
