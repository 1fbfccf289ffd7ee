//! API tokens: their format, keyed hash and the constant-time check.

use super::{Ledger, LedgerError};
use crate::domain::auth_failures::{Failure, Verdict};
use crate::domain::Caller;
use crate::event::Hash32;
use crate::id::Id;
use crate::secret::SecretString;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

const TOKEN_PREFIX: &str = "clt";

impl Ledger {
    pub(super) fn token_hash(&self, token: &str) -> Hash32 {
        *blake3::keyed_hash(&self.token_key, token.as_bytes()).as_bytes()
    }

    pub(super) fn new_token_secret(&self, id: Id) -> (SecretString, Hash32) {
        let mut raw = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(raw.as_mut());
        let token = format!(
            "{TOKEN_PREFIX}_{}_{}",
            hex::encode(id.as_bytes()),
            B64URL.encode(raw.as_ref())
        );
        let hash = self.token_hash(&token);
        (SecretString::new(token), hash)
    }

    /// Authenticates a request's token from `source` (the remote address). A failure is
    /// counted: 401, or 429 (`LedgerError::Throttled`) while `source` or the token id has
    /// failed too often. A valid token is never slowed or refused by the count.
    pub fn authenticate_from(
        &self,
        token: &str,
        source: Option<&str>,
    ) -> Result<Caller, LedgerError> {
        match self.authenticate(token) {
            Ok(caller) => Ok(caller),
            Err(e) => {
                let failure = token_id(token).map_or(Failure::Malformed, Failure::Token);
                Err(match self.auth_failed(source, failure) {
                    Verdict::Unauthenticated => e,
                    Verdict::Throttled { retry_after_s } => {
                        LedgerError::Throttled { retry_after_s }
                    }
                })
            }
        }
    }

    /// Checks an API token (constant-time hash comparison) and returns its caller. Does
    /// not count failures (see [`Ledger::authenticate_from`]).
    pub fn authenticate(&self, token: &str) -> Result<Caller, LedgerError> {
        let id = token_id(token).ok_or(LedgerError::Unauthenticated)?;
        let hash = self.token_hash(token);
        let now = self.now();
        let w = self.lock();
        let t = w
            .state
            .tokens
            .get(&id)
            .ok_or(LedgerError::Unauthenticated)?;
        if !bool::from(t.hash.ct_eq(&hash))
            || t.revoked
            || t.expires_at_ms.is_some_and(|e| e <= now)
        {
            return Err(LedgerError::Unauthenticated);
        }
        let p = w
            .state
            .principals
            .get(&t.principal)
            .filter(|p| !p.disabled)
            .ok_or(LedgerError::Unauthenticated)?;
        Ok(Caller {
            tenant: t.tenant,
            principal: t.principal,
            token: id,
            role: p.role,
            kind: p.kind,
            system_admin: p.system_admin,
        })
    }
}

/// The id in a token's public prefix (`clt_<id hex>_<secret>`), if it parses.
fn token_id(token: &str) -> Option<Id> {
    let mut parts = token.splitn(3, '_');
    let (Some(TOKEN_PREFIX), Some(id_hex), Some(_)) = (parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let mut id = [0u8; 16];
    hex::decode_to_slice(id_hex, &mut id).ok()?;
    Some(Id(id))
}
