//! Helpers for the benchmarks that keep a ledger and drive a real `credledger serve`
//! process on it: build and grow the kept ledger (`build`); start and stop the server on
//! a free loopback port with a kill-on-drop guard (`server`); load it over HTTP with wrk
//! or an in-process client, and time audit queries (`load`).

pub mod build;
pub mod load;
pub mod server;
