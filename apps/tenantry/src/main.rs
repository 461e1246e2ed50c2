//! The `tenantry` binary.

use std::process::ExitCode;

use clap::Parser;
use tenantry::cli::Cli;
use tenantry::commands;
use tenantry_telemetry::Telemetry;

/// jemalloc, not glibc's malloc: with the many threads of a busy server (SQLite's calls run
/// on tokio's blocking threads) glibc kept a heap per thread and peaked 50 MB higher during a
/// webhook fan-out (bench/README.md). It serves SQLite's own allocations too.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before the runtime: the trace exporter's HTTP client runs on its own thread.
    let telemetry = match Telemetry::init(&cli.telemetry()) {
        Ok(telemetry) => telemetry,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let result = actix_web::rt::System::new().block_on(commands::run(cli));
    // After it: the last spans and error reports are sent before the process ends.
    telemetry.shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
