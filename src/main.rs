//! The `credledger` binary: the server, forensics and tools.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
