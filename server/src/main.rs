//! Entry point of the `switchboard` binary: parse the command line, set up logging, run the command.
//! Wiring only; the work happens in the library.

use std::process::ExitCode;

use clap::Parser;

use switchboard::cli::{Cli, Command};
use switchboard::{bench, db, seed, serve, telemetry};

/// mimalloc instead of the system allocator: under load the engine, the JSON encoding and the database
/// driver allocate from many threads at once, and glibc's arenas spent a quarter of the benchmark's
/// time in malloc and free (measured with `perf record` on `switchboard bench`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // The benchmark prints figures; request logs would drown them unless asked for.
    let quiet_bench = matches!(cli.command, Some(Command::Bench(_))) && std::env::var_os("SWITCHBOARD_LOG").is_none();
    let filter = if quiet_bench { "warn" } else { cli.log.as_str() };
    let otlp = match &cli.command {
        None => cli.serve.otlp_endpoint.clone(),
        Some(Command::Serve(args)) => args.otlp_endpoint.clone(),
        Some(_) => None,
    };
    // Held to the end: dropping it flushes the spans still queued for the collector.
    let _traces = match telemetry::traces::init(filter, otlp.as_deref()) {
        Ok(traces) => traces,
        Err(error) => {
            eprintln!("switchboard: {error:#}");
            return ExitCode::FAILURE;
        }
    };

    let outcome = match cli.command.unwrap_or(Command::Serve(cli.serve)) {
        Command::Serve(args) => match args.config() {
            Ok(config) => serve::run(config).await,
            Err(error) => Err(error.into()),
        },
        Command::Migrate(args) => match args.url() {
            Ok(url) => db::migrate_command(&url).await,
            Err(error) => Err(error.into()),
        },
        Command::Bench(args) => bench::run(args.into()).await,
        Command::Seed(args) => match args.config() {
            Ok(config) => seed::run(config).await,
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
