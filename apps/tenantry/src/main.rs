//! The `tenantry` binary.

use std::process::ExitCode;

use clap::Parser;
use tenantry::cli::Cli;
use tenantry::commands;
use tenantry_telemetry::Telemetry;

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
