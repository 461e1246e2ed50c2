//! The `tenantry` binary: configuration, wiring, and the operator commands. No business
//! rules live here.

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;

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
