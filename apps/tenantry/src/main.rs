//! The `tenantry` binary.

use std::process::ExitCode;

use clap::Parser;
use tenantry::cli::Cli;
use tenantry::commands;

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = cli.init_logging() {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    match commands::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
