//! `simkit`: one binary for the whole system. Protocol logic lives in the library crates; this
//! crate is the edge: CLI, files, sockets, databases and the clock.

/// mimalloc instead of glibc's malloc: the SM-DP+ allocates and frees a few 12-16 KiB buffers
/// per download (package, BPP, response body), which glibc serves with chunk consolidation;
/// with mimalloc the SM-DP+ spends 4% less CPU per download (BENCHMARKS.md, session 5).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use simkit::{card_cmd, demo, gp_cmd, inventory, lpa_cmd, ota_cmd, pki_cmd, serve, tsm_cmd};

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "simkit",
    version,
    about = "Remote management of SIMs, eSIMs and secure elements"
)]
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
    /// GlobalPlatform card manager: info, list, install, delete, store-data, lock/unlock,
    /// put-key, APDUs in a secure channel (SCP02/SCP03).
    Gp(gp_cmd::GpArgs),
    /// SM-DP+ server (ES2+, ES9+, /metrics, /healthz).
    Serve(serve::ServeArgs),
    /// SM-DP+ Profile inventory: import, status.
    #[command(subcommand)]
    Smdp(inventory::SmdpCommand),
    /// OTA server (SCP80 over SMS-PP/SMPP): cards and key sets, catalogue, campaigns, HTTP API.
    Ota(ota_cmd::OtaArgs),
    /// Central TSM: operators, service providers, secure elements, the service catalogue, the
    /// audit log, and the SP API over mutual TLS.
    Tsm(tsm_cmd::TsmArgs),
    /// Benchmarks: complete eSIM downloads against an SM-DP+ over loopback HTTP(S); APDUs per
    /// second through each card path.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Subcommand)]
enum BenchCommand {
    #[command(flatten)]
    Download(simkit::bench::BenchCommand),
    /// APDUs per second through the in-process card, vpcd over loopback TCP, and PC/SC.
    Apdu(simkit::bench_apdu::ApduArgs),
    /// GlobalPlatform secure-channel APDUs per second (SCP03, SCP02) next to their crypto floor.
    Gp(simkit::bench_gp::GpBenchArgs),
    /// OTA secured packets per second (AES, 3DES) and campaign cards per second, beside their
    /// crypto floor.
    Ota(simkit::bench_ota::OtaBenchArgs),
    /// Central TSM: API requests per second and ProcessScript round trips per second (with
    /// the SCP03 floor of a script).
    Tsm(simkit::bench_tsm::TsmBenchArgs),
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
        // The bridge exits with lpac's own exit code.
        Command::Card(card_cmd::CardCommand::Bridge(args)) => {
            return simkit::card_serve::bridge_cli(args)
        }
        Command::Card(cmd) => card_cmd::run(cmd, cli.json),
        // Exit codes 3/4 carry SGP.22 meaning: the command prints its own errors.
        Command::Lpa(args) => return lpa_cmd::cli(args, cli.json),
        // Exit codes 3/4: the card refused / the secure channel failed (gp_cmd::exit).
        Command::Gp(args) => return gp_cmd::cli(args, cli.json),
        Command::Serve(args) => serve::cli(args),
        Command::Smdp(cmd) => inventory::run(cmd, cli.json),
        Command::Ota(args) => ota_cmd::run(args, cli.json),
        Command::Tsm(args) => tsm_cmd::run(args, cli.json),
        Command::Bench(BenchCommand::Download(cmd)) => simkit::bench::run(cmd, cli.json),
        Command::Bench(BenchCommand::Apdu(args)) => simkit::bench_apdu::run(args, cli.json),
        Command::Bench(BenchCommand::Gp(args)) => simkit::bench_gp::run(args, cli.json),
        Command::Bench(BenchCommand::Ota(args)) => simkit::bench_ota::run(args, cli.json),
        Command::Bench(BenchCommand::Tsm(args)) => simkit::bench_tsm::run(args, cli.json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
