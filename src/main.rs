//! The `credledger` binary: the server, forensics and tools.

mod cli;

// The server allocates many small buffers per request (HTTP, sled nodes); mimalloc cuts
// the allocator's share of CPU noticeably (see docs/PERFORMANCE.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
