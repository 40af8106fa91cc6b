//! `simkit`: one binary for the whole system. Protocol logic lives in the library crates; this
//! crate is the edge: CLI, files, sockets, databases and the clock.

use simkit::{card_cmd, demo, inventory, lpa_cmd, pki_cmd, serve};

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "simkit", version, about = "Remote management of SIMs, eSIMs and secure elements")]
struct Cli {
    /// Machine-readable JSON output instead of human-readable text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The whole eSIM download on this machine: SM-DP+, operator order, virtual eUICC, LPA.
    Demo(demo::DemoArgs),
    /// RSP test PKI (SGP.22 §4.5): mint CI, EUM, eUICC, DPauth, DPpb and DPtls certificates.
    #[command(subcommand)]
    Pki(pki_cmd::PkiCommand),
    /// Virtual eUICC in a card file: create, show, send APDUs.
    #[command(subcommand)]
    Card(card_cmd::CardCommand),
    /// LPA over a card file: download, list, enable/disable/delete profiles, notifications.
    Lpa(lpa_cmd::LpaArgs),
    /// SM-DP+ server (ES2+, ES9+, /metrics, /healthz).
    Serve(serve::ServeArgs),
    /// SM-DP+ Profile inventory: import, status.
    #[command(subcommand)]
    Smdp(inventory::SmdpCommand),
    /// Benchmarks: complete eSIM downloads against an SM-DP+ over loopback HTTP(S).
    #[command(subcommand)]
    Bench(simkit::bench::BenchCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SIMKIT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Demo(args) => demo::cli(args, cli.json),
        Command::Pki(cmd) => pki_cmd::run(cmd, cli.json),
        Command::Card(cmd) => card_cmd::run(cmd, cli.json),
        // Exit codes 3/4 carry SGP.22 meaning: the command prints its own errors.
        Command::Lpa(args) => return lpa_cmd::cli(args, cli.json),
        Command::Serve(args) => serve::cli(args),
        Command::Smdp(cmd) => inventory::run(cmd, cli.json),
        Command::Bench(cmd) => simkit::bench::run(cmd, cli.json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
