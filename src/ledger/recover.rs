//! Break-glass recovery of system administration, offline (`credledger admin recover`):
//! the bootstrap token was lost, every system admin's token revoked or their principals
//! disabled. Whoever can open the data directory with its key files can already read
//! every secret, so this grants nothing new; it makes the recovery a signed event pair
//! instead of a silent edit.

use super::pipeline::{wait_blocking, Staged};
use super::{Bootstrap, Ledger, LedgerError, RequestCtx};
use crate::domain::decide;
use crate::event::Actor;
use crate::id::Id;

/// The request id the recovery's events carry, so the audit names the path they took.
pub const RECOVERY_REQUEST_ID: &str = "credledger-admin-recover";

impl Ledger {
    /// A new system-admin principal `name` with a token, appended durably with no actor
    /// principal and [`RECOVERY_REQUEST_ID`]. Returns the token (shown once).
    pub fn recover_admin(&self, name: &str) -> Result<Bootstrap, LedgerError> {
        let (admin, token) = (Id::random(), Id::random());
        let (secret, hash) = self.new_token_secret(token);
        let ctx = RequestCtx {
            request_id: Some(RECOVERY_REQUEST_ID.into()),
            remote_addr: None,
        };
        let (tenant, rx) = {
            let mut w = self.lock();
            self.writable()?;
            let bodies = decide::recover_admin(&w.state, admin, name, token, hash)?;
            let tenant = bodies[0].tenant().unwrap_or(Id::NIL);
            let rx = self.stage(
                &mut w,
                &ctx,
                Actor::default(),
                Staged {
                    bodies,
                    keyring: vec![],
                },
            )?;
            (tenant, rx)
        };
        wait_blocking(rx)?;
        Ok(Bootstrap {
            tenant,
            admin,
            token: secret,
        })
    }
}
