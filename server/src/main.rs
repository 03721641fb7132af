//! Entry point of the `switchboard` binary: parse the command line, set up logging, run the command.
//! Wiring only; the work happens in the library.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use switchboard::cli::{Cli, Command};
use switchboard::{db, serve};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&cli.log).unwrap_or_else(|_| EnvFilter::new("info")))
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();

    let outcome = match cli.command.unwrap_or(Command::Serve(cli.serve)) {
        Command::Serve(args) => serve::run(args).await,
        Command::Migrate(args) => match args.url() {
            Ok(url) => db::migrate_command(&url).await,
            Err(error) => Err(error.into()),
        },
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line, the whole cause chain: what failed and why, never a backtrace or a password.
            eprintln!("switchboard: {error:#}");
            ExitCode::FAILURE
        }
    }
}
