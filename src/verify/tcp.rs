//! The `tcp` probe (a connect that passes when accepted) and [`connect`], the resolve
//! and connect step that the `sql` and `ssh` probes share.

use super::outcome::Failure;
use super::values::Values;
use super::{timed, VerifyOutcome};
use crate::template::TcpProbe;
use std::io;
use tokio::net::TcpStream;

pub(super) async fn run(p: &TcpProbe, values: &Values<'_>, timeout_ms: u64) -> VerifyOutcome {
    let target = values.render(&p.host).and_then(|host| {
        let port = values.render(&p.port)?;
        let port: u16 = port.trim().parse().map_err(|_| Failure::InvalidPort)?;
        Ok((host, port))
    });
    let (host, port) = match target {
        Ok(t) => t,
        Err(f) => return VerifyOutcome::failed(f, 0),
    };
    timed(timeout_ms, async {
        connect(&host, port).await?;
        Ok("TCP connect ok".to_string())
    })
    .await
}

/// Resolves `host` and connects to the first address that accepts. The caller bounds
/// the time.
pub(super) async fn connect(host: &str, port: u16) -> Result<TcpStream, Failure> {
    let addrs: Vec<_> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|_| Failure::Dns)?
        .collect();
    let mut failure = Failure::Dns;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => failure = Failure::Refused,
            Err(_) => failure = Failure::ConnectFailed,
        }
    }
    Err(failure)
}
