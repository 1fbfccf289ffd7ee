//! [`Signed`]: the extractor of every page behind sign-in. It finds the request's
//! session, re-authenticates its API token with the ledger (so a revoked token, an
//! expired one or a disabled principal ends the session at once), and records a session
//! that just ended by timeout or by its token.

use super::error::ConsoleError;
use super::session::{Lookup, COOKIE};
use super::ConsoleState;
use crate::domain::Caller;
use crate::event::SessionEnd;
use crate::http::extract::Ctx;
use crate::id::Id;
use crate::ledger::Capabilities;
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

/// The signed-in caller of a console request.
pub struct Signed {
    pub caller: Caller,
    /// The session's public id (as recorded in the sign-in event).
    pub session: Id,
    /// The session's CSRF token, for the forms of the page.
    pub csrf: String,
    /// The caller's principal name.
    pub name: String,
    pub caps: Capabilities,
    /// The cookie value, to end the session on sign-out.
    pub cookie: String,
}

/// The value of cookie `name` in the request headers.
pub fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl FromRequestParts<ConsoleState> for Signed {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        st: &ConsoleState,
    ) -> Result<Self, Self::Rejection> {
        let value = cookie(parts, COOKIE)
            .ok_or(ConsoleError::SignIn)?
            .to_string();
        let ledger = &st.app.ledger;
        let Ctx(ctx) = Ctx::from_request_parts(parts, st)
            .await
            .unwrap_or_else(|e| match e {});
        match st.sessions.lookup(&value, ledger.now_ms()) {
            Lookup::Missing => Err(ConsoleError::SignIn),
            Lookup::Expired {
                public_id,
                caller,
                reason,
            } => {
                let _ = ledger
                    .console_sign_out(&ctx, &caller, public_id, reason)
                    .await;
                Err(ConsoleError::SignIn)
            }
            Lookup::Live(live) => match ledger.authenticate(live.token.expose()) {
                Ok(caller) => Ok(Signed {
                    caller,
                    session: live.public_id,
                    csrf: live.csrf,
                    name: ledger.reads().own_name(&caller),
                    caps: ledger.reads().capabilities(&caller),
                    cookie: value,
                }),
                Err(_) => {
                    st.sessions.close(&value);
                    let _ = ledger
                        .console_sign_out(
                            &ctx,
                            &live.caller,
                            live.public_id,
                            SessionEnd::TokenInvalid,
                        )
                        .await;
                    Err(ConsoleError::SignIn)
                }
            },
        }
    }
}
