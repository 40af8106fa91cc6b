//! The `simkit` edge: CLI subcommands, files, sockets, databases and the clock, composed from
//! the sans-I/O library crates. `main.rs` only parses the command line.

pub mod bench;
pub mod bench_apdu;
pub mod bench_gp;
pub mod bench_ota;
pub mod bench_tsm;
pub mod card_cmd;
pub mod card_file;
pub mod card_serve;
pub mod demo;
pub mod gp_cmd;
pub mod lpa_cmd;
pub mod ota_cmd;
pub mod pairing_cmd;
pub mod pcsc_cmd;
pub mod pki_cmd;
pub mod tls;

// SM-DP+ server composition (`simkit serve`, `simkit smdp`).
pub mod config;
pub mod inventory;
pub mod metrics;
pub mod outbox;
pub mod serve;
pub mod server_pki;

// Central TSM composition (`simkit tsm`).
pub mod tsm_cmd;
pub mod tsm_http;
pub mod tsm_ota;

/// Seconds since the Unix epoch, the clock every sans-I/O crate receives from here.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The operating system's CSPRNG, handed to the sans-I/O crates.
pub fn os_rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}
