//! The `tally` binary: parse the command line, load settings, run the command.

use clap::Parser;

use tally::cli::{Cli, Command};
use tally::config::Settings;
use tally::telemetry::init_tracing;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let quiet = !matches!(cli.command, None | Some(Command::Serve));
    init_tracing(if quiet { "warn" } else { "info,sqlx=warn" });
    let result = match Settings::load() {
        Ok(settings) => tally::cli::run(cli, settings).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
