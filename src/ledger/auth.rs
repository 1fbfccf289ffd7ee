//! API tokens: their format, keyed hash and the constant-time check.

use super::{Ledger, LedgerError};
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

    /// Checks an API token (constant-time hash comparison) and returns its caller.
    pub fn authenticate(&self, token: &str) -> Result<Caller, LedgerError> {
        let mut parts = token.splitn(3, '_');
        let (Some(TOKEN_PREFIX), Some(id_hex), Some(_)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(LedgerError::Unauthenticated);
        };
        let mut id = [0u8; 16];
        hex::decode_to_slice(id_hex, &mut id).map_err(|_| LedgerError::Unauthenticated)?;
        let id = Id(id);
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
