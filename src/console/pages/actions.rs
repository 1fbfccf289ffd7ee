//! The lifecycle buttons of a credential's page: make default (the ledger's atomic
//! default switch), delete, restore, destroy (after the name was typed), verify now, and
//! grants to principals and groups at a level. Each is one ledger call; a refusal is the
//! ledger's error page.

use super::detail::load;
use super::{parse_id, see_other};
use crate::console::csrf::Posted;
use crate::console::error::ConsoleError;
use crate::console::ConsoleState;
use crate::event::{GrantLevel, Grantee, MetadataChange};
use crate::http::extract::Ctx;
use axum::extract::{Path, State};
use axum::response::Response;

/// `POST /ui/credentials/{id}/default`: make it the default of its service for its
/// owner (the ledger's atomic switch unsets the previous one in the same batch), or
/// with `unset` stop it being the default.
pub async fn make_default(
    State(st): State<ConsoleState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, ConsoleError> {
    let id = parse_id(&id)?;
    let caller = posted.signed.caller;
    if posted.form.get("unset").is_some() {
        let change = MetadataChange {
            is_default: Some(false),
            ..MetadataChange::default()
        };
        st.ledger().update(&ctx, &caller, id, change).await?;
    } else {
        st.ledger().set_default(&ctx, &caller, id).await?;
    }
    Ok(see_other(&format!("/ui/credentials/{id}?notice=default")))
}

/// `POST /ui/credentials/{id}/delete`.
pub async fn delete(
    State(st): State<ConsoleState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, ConsoleError> {
    let id = parse_id(&id)?;
    st.ledger().delete(&ctx, &posted.signed.caller, id).await?;
    Ok(see_other(&format!("/ui/credentials/{id}?notice=deleted")))
}

/// `POST /ui/credentials/{id}/restore`.
pub async fn restore(
    State(st): State<ConsoleState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, ConsoleError> {
    let id = parse_id(&id)?;
    st.ledger().restore(&ctx, &posted.signed.caller, id).await?;
    Ok(see_other(&format!("/ui/credentials/{id}?notice=restored")))
}

/// `POST /ui/credentials/{id}/destroy`: crypto-shred, after the name was typed.
pub async fn destroy(
    State(st): State<ConsoleState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, ConsoleError> {
    let id = parse_id(&id)?;
    let (v, _) = load(&st, &ctx, &posted.signed, id).await?;
    if posted.form.get("confirm_name").map(str::trim) != Some(v.name.as_str()) {
        return Err(ConsoleError::BadRequest(
            "Type the credential's name exactly to confirm that it is destroyed; nothing was done."
                .into(),
        ));
    }
    st.ledger().destroy(&ctx, &posted.signed.caller, id).await?;
    Ok(see_other("/ui/?status=destroyed"))
}

/// `POST /ui/credentials/{id}/verify`: run the connection test now.
pub async fn verify(
    State(st): State<ConsoleState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, ConsoleError> {
    let id = parse_id(&id)?;
    st.ledger().verify(&ctx, &posted.signed.caller, id).await?;
    Ok(see_other(&format!("/ui/credentials/{id}?notice=verified")))
}

/// `POST /ui/credentials/{id}/grants`: grant it to a principal or a group
/// (`grantee` = `principal:ID` or `group:ID`; `principal` = ID also works) at a level
/// (`use`, `manage` or `admin`; `use` when none is chosen). Granting again changes the
/// level.
pub async fn grant(
    State(st): State<ConsoleState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    posted: Posted,
) -> Result<Response, ConsoleError> {
    let id = parse_id(&id)?;
    let form = &posted.form;
    let grantee = match (form.text("grantee"), form.text("principal")) {
        (Some(g), _) => match g.split_once(':') {
            Some(("principal", p)) => Grantee::Principal(parse_id(p)?),
            Some(("group", g)) => Grantee::Group(parse_id(g)?),
            _ => {
                return Err(ConsoleError::BadRequest(
                    "Choose whom to grant it to.".into(),
                ))
            }
        },
        (None, Some(p)) => Grantee::Principal(parse_id(p)?),
        (None, None) => {
            return Err(ConsoleError::BadRequest(
                "Choose whom to grant it to.".into(),
            ))
        }
    };
    let level = match form.text("level") {
        None => GrantLevel::Use,
        Some(l) => GrantLevel::parse(l).ok_or_else(|| {
            ConsoleError::BadRequest("Choose a level: use, manage or admin.".into())
        })?,
    };
    st.ledger()
        .grant_to(&ctx, &posted.signed.caller, id, grantee, level)
        .await?;
    Ok(see_other(&format!("/ui/credentials/{id}?notice=granted")))
}

/// `POST /ui/credentials/{id}/grants/{grantee}/revoke`: withdraw the grant to a
/// principal or a group.
pub async fn revoke_grant(
    State(st): State<ConsoleState>,
    Ctx(ctx): Ctx,
    Path((id, principal)): Path<(String, String)>,
    posted: Posted,
) -> Result<Response, ConsoleError> {
    let id = parse_id(&id)?;
    let principal = parse_id(&principal)?;
    st.ledger()
        .revoke_grant(&ctx, &posted.signed.caller, id, principal)
        .await?;
    Ok(see_other(&format!("/ui/credentials/{id}?notice=revoked")))
}
