//! Key rotations: who may rotate the master key and the signing key, and their events.

use super::access::system_admin_only;
use super::{Caller, Decision, DomainError};
use crate::event::Body;

/// Why the master key is rotated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MasterKeyRotation {
    /// Asked for by the caller: system admins only.
    Requested,
    /// The second half of a crypto-shred the caller was allowed to make (`destroy`,
    /// KV `destroy`): stale copies of the deleted data keys must become unreadable.
    AfterShred,
}

/// Master-key rotation: refused when the keys come from the environment (they must be
/// rotated there) and, when requested, to anyone but a system admin.
pub fn rotate_master_key(
    caller: &Caller,
    cause: MasterKeyRotation,
    keys_from_env: bool,
) -> Decision<()> {
    if cause == MasterKeyRotation::Requested {
        system_admin_only(
            caller,
            "master_key_rotated",
            None,
            "only a system admin can rotate the master key",
        )?;
    }
    if keys_from_env {
        return Err(DomainError::Conflict(
            "master keys come from the environment; rotate them there".into(),
        )
        .into());
    }
    Ok(())
}

/// The record of a master-key rotation.
pub fn master_key_rotated(old_key_id: u32, new_key_id: u32, rewrapped: u64) -> Body {
    Body::MasterKeyRotated {
        old_key_id,
        new_key_id,
        rewrapped,
    }
}

/// Signing-key rotation: system admins only.
pub fn rotate_signing_key(caller: &Caller) -> Decision<()> {
    system_admin_only(
        caller,
        "signing_key_rotated",
        None,
        "only a system admin can rotate the signing key",
    )
}

/// The record of a signing-key rotation (signed by the old key, with the new key's proof
/// of possession made by the shell).
pub fn signing_key_rotated(old_key: [u8; 32], new_key: [u8; 32], possession: Vec<u8>) -> Body {
    Body::SigningKeyRotated {
        old_key,
        new_key,
        possession,
    }
}
