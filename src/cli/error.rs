//! The failure of a client command: [`CliError`], a message for a person and an exit
//! code for a script (see [`EXIT_CODES`]).
//!
//! **Invariant:** this module is a leaf: it imports nothing from the rest of the CLI, so
//! every layer (config, client, fields, the commands) can use it.

use std::fmt;

/// The exit codes of the client commands, as shown in `--help` and the README.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  ok
  1  the operation failed (the server refused it: invalid input, conflict, gone; a
     failed connection test; `due --check` found overdue credentials; an import with
     failures)
  2  usage error (bad arguments, unreadable input file)
  3  not found (credential, principal, template, nothing configured for a service)
  4  authentication or permission (no token, token rejected, role not allowed)
  5  server unreachable or unavailable (connection failed, 5xx)
  `exec` exits with the command's own status (128+N when killed by signal N; 126 when
  it cannot be run, 127 when it is not found).

Connection: --addr / CREDLEDGER_ADDR, --token / CREDLEDGER_TOKEN, else the config file
written by `credledger login` (CREDLEDGER_CONFIG overrides its path).";

pub const FAILED: u8 = 1;
pub const USAGE: u8 = 2;
pub const NOT_FOUND: u8 = 3;
pub const AUTH: u8 = 4;
pub const UNAVAILABLE: u8 = 5;

/// A failure of a client command with its exit code.
#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        CliError {
            code,
            message: message.into(),
        }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(USAGE, message)
    }
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(FAILED, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(NOT_FOUND, message)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}
