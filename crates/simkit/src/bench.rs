//! `simkit bench download`: N complete eSIM downloads (SGP.22 §3.1.3) against an SM-DP+ over
//! loopback HTTP(S), with C concurrent LPAs, each driving its own virtual eUICC.
//!
//! Method:
//! * Setup (not timed): a fresh data directory (a temporary directory, removed afterwards), a
//!   minted RSP test PKI (NIST P-256 or brainpoolP256r1; the DPtls certificate is always P-256),
//!   N Profiles personalized from a TS.48 package and imported, N ES2+ orders confirmed and
//!   released, and N virtual eUICCs, each with its own minted eUICC certificate and EID (the
//!   SM-DP+ deduplicates Profile Installation Results on (EID, seqNumber), so cards sharing one
//!   identity would have all but their first PIR dropped as re-sends).
//! * The SM-DP+ runs as a separate process (`simkit serve`, this executable) on 127.0.0.1 with
//!   a free port, so its CPU time is exactly the utime + stime of that process in
//!   `/proc/<pid>/stat`, read before the first and after the last download. The client side
//!   (LPAs, virtual eUICCs, HTTP/TLS client) is this process, measured the same way through
//!   `/proc/self/stat`. Both share the machine's cores.
//! * Each download is the whole LPA flow: ES10b GetEuiccChallenge/GetEuiccInfo1,
//!   ES9+.InitiateAuthentication, ES10b.AuthenticateServer, ES9+.AuthenticateClient,
//!   ES10b.PrepareDownload, ES9+.GetBoundProfilePackage, ES10b.LoadBoundProfilePackage and
//!   ES9+.HandleNotification (PIR), then the PIR's removal from the eUICC. Each virtual device
//!   uses its own HTTPS client (one TLS handshake and connection per download, kept alive across
//!   its ES9+ calls) unless `--reuse-connections`.
//! * The crypto floor is timed in the same run, single-threaded, with the same curve and keys:
//!   every signature, verification, key generation and key agreement the SM-DP+ (and the eUICC)
//!   must perform per download, plus the BSP protection of the Profile package reported apart.
//!   It is timed just before and just after the downloads and the two are averaged (the
//!   machine's speed drifts within a run); each operation's time is the median of five batches.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use card::{Card, CardIdentity, CardState};
use lpa::{Es9Transport, HttpTransport, Lpa, LpaError, NotificationStatus};
use pki::mint::{CertifiedKey, TestPki, TestPkiConfig};
use pki::{Curve, PrivateKey};
use serde::Serialize;
use smdp::order::{ConfirmOrderInput, DownloadOrderInput, RequestedMatchingId};
use smdp::{Iccid, MatchingId, ProfileState, SmdpStore};

use crate::config::Config;
use crate::inventory::{import_with_config, ImportArgs, ProfileClassArg, StoreArgs};
use crate::serve::{now_millis, open_database};

/// The TS.48 v4 generic test profile of the GSMA reference material, if this build can see it.
const DEFAULT_PACKAGE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/reference/ts48-profiles/TS48V4-SAIP2-3-BERTLV-UNIQUE.der"
);
/// The Operator placing the benchmark's orders.
const OPERATOR: &str = "simkit-bench";
/// A TAC for the device info (8 BCD digits).
const TAC: [u8; 4] = [0x35, 0x29, 0x06, 0x11];
/// ICCID body (18 digits, Luhn digit appended) and IMSI of the first Profile.
const ICCID_BODY_START: &str = "894944999900000000";
const IMSI_START: &str = "001019900000000";

#[derive(clap::Subcommand, Debug)]
pub enum BenchCommand {
    /// N complete profile downloads against an SM-DP+ over loopback HTTP(S), with the crypto
    /// floor of each download beside the measured CPU time.
    Download(DownloadArgs),
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CurveArg {
    Nist,
    Brainpool,
}

impl From<CurveArg> for Curve {
    fn from(c: CurveArg) -> Curve {
        match c {
            CurveArg::Nist => Curve::NistP256,
            CurveArg::Brainpool => Curve::BrainpoolP256r1,
        }
    }
}

#[derive(clap::Args, Debug, Clone)]
pub struct DownloadArgs {
    /// Number of complete downloads.
    #[arg(short = 'n', long = "downloads", default_value_t = 1000)]
    pub downloads: usize,
    /// Concurrent LPAs (each with its own eUICC per download).
    #[arg(short = 'c', long, default_value_t = 32)]
    pub concurrency: usize,
    /// Curve of the RSP PKI (CI, EUM, eUICC, DPauth, DPpb).
    #[arg(long, value_enum, default_value = "nist")]
    pub curve: CurveArg,
    /// ES9+ over HTTPS (the default).
    #[arg(long, conflicts_with = "plain_http")]
    pub tls: bool,
    /// ES9+ over plain HTTP (lab use; shows the TLS share).
    #[arg(long)]
    pub plain_http: bool,
    /// Database URL for the SM-DP+ (`postgres://...`); default SQLite in the temporary data
    /// directory. A PostgreSQL run uses a fresh schema, dropped afterwards.
    #[arg(long)]
    pub database: Option<String>,
    /// Unprotected Profile Package to personalize (default: the TS.48 v4 test profile).
    #[arg(long)]
    pub package: Option<PathBuf>,
    /// One HTTP(S) client per concurrent LPA, kept across its downloads (default: a new
    /// client, hence a new connection and TLS handshake, per download).
    #[arg(long)]
    pub reuse_connections: bool,
    /// Iterations per operation when timing the crypto floor.
    #[arg(long, default_value_t = 200)]
    pub floor_iterations: u32,
    /// Keep the data directory (printed) instead of removing it.
    #[arg(long)]
    pub keep_data: bool,
}

pub fn run(cmd: BenchCommand, json: bool) -> Result<()> {
    match cmd {
        BenchCommand::Download(args) => {
            let report = download(&args)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.human());
            }
            if report.failed > 0 {
                bail!("{} of {} downloads failed", report.failed, report.downloads);
            }
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

/// Latency of one ES9+ function as the LPA sees it (request sent to response body read).
#[derive(Debug, Clone, Serialize)]
pub struct StepLatency {
    pub function: &'static str,
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// One timed operation of the crypto floor.
#[derive(Debug, Clone, Serialize)]
pub struct FloorOp {
    pub operation: &'static str,
    pub us: f64,
    /// Done on every download (in the floor's sum); `false` for work done once and remembered
    /// (the SM-DP+ verifies each EUM certificate's CI signature once), shown for reference.
    pub per_download: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CryptoFloor {
    /// Signatures, verifications, key generation and key agreement of one download, SM-DP+ side.
    pub server_ops: Vec<FloorOp>,
    pub server_ms: f64,
    /// BSP protection of the Profile package (session keys, encrypt + MAC), SM-DP+ side.
    pub server_bsp_ms: f64,
    /// The same for the eUICC.
    pub card_ops: Vec<FloorOp>,
    pub card_ms: f64,
    /// BSP verification and decryption of the Bound Profile Package, eUICC side.
    pub card_bsp_ms: f64,
    /// Profile package size (bytes) the BSP figures are for.
    pub package_bytes: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu_model: String,
    pub memory: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub downloads: usize,
    pub succeeded: usize,
    pub failed: usize,
    /// Profiles the SM-DP+ database shows as Installed afterwards.
    pub installed: u64,
    pub concurrency: usize,
    pub curve: &'static str,
    pub transport: &'static str,
    pub connections: &'static str,
    pub database: &'static str,
    pub wall_seconds: f64,
    pub downloads_per_second: f64,
    pub download_p50_ms: f64,
    pub download_p99_ms: f64,
    pub steps: Vec<StepLatency>,
    pub server_cpu_seconds: f64,
    pub server_cpu_per_download_ms: f64,
    pub client_cpu_per_download_ms: f64,
    pub cpu_method: &'static str,
    pub crypto_floor: CryptoFloor,
    /// The SM-DP+ floor as timed before and after the downloads (`crypto_floor` is their mean).
    pub server_floor_before_ms: f64,
    pub server_floor_after_ms: f64,
    /// Server CPU per download over its signature/key-agreement floor.
    pub server_cpu_over_floor: f64,
    /// Server CPU per download over its floor including BSP.
    pub server_cpu_over_floor_with_bsp: f64,
    /// Downloads per second the machine's cores could sustain if they did nothing but the
    /// server's and the eUICC's floor crypto (BSP included).
    pub crypto_bound_downloads_per_second: f64,
    pub machine: Machine,
    pub errors: Vec<String>,
}

impl Report {
    pub fn human(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let f = &self.crypto_floor;
        let _ = writeln!(
            s,
            "simkit bench download: {} downloads, {} concurrent LPAs, {}, {} ({}), {}",
            self.downloads,
            self.concurrency,
            self.curve,
            self.transport,
            self.connections,
            self.database
        );
        let _ = writeln!(
            s,
            "machine: {} cores, {}, {}",
            self.machine.nproc, self.machine.cpu_model, self.machine.memory
        );
        let _ = writeln!(
            s,
            "completed {} / failed {} (SM-DP+ shows {} Installed) in {:.2} s: {:.1} downloads/s",
            self.succeeded,
            self.failed,
            self.installed,
            self.wall_seconds,
            self.downloads_per_second
        );
        let _ = writeln!(
            s,
            "download latency p50 {:.1} ms, p99 {:.1} ms",
            self.download_p50_ms, self.download_p99_ms
        );
        let _ = writeln!(
            s,
            "\nES9+ function (client view)      count    p50 ms    p99 ms    max ms"
        );
        for st in &self.steps {
            let _ = writeln!(
                s,
                "  {:<30} {:>6} {:>9.2} {:>9.2} {:>9.2}",
                st.function, st.count, st.p50_ms, st.p99_ms, st.max_ms
            );
        }
        let _ = writeln!(s, "\nCPU per download ({})", self.cpu_method);
        let _ = writeln!(
            s,
            "  SM-DP+ process        {:>8.3} ms   floor {:.3} ms (+ BSP {:.3} ms)   ratio {:.2}x ({:.2}x with BSP)",
            self.server_cpu_per_download_ms,
            f.server_ms,
            f.server_bsp_ms,
            self.server_cpu_over_floor,
            self.server_cpu_over_floor_with_bsp
        );
        let _ = writeln!(
            s,
            "                                    (floor timed before the downloads {:.3} ms, after {:.3} ms)",
            self.server_floor_before_ms, self.server_floor_after_ms
        );
        let _ = writeln!(
            s,
            "  LPAs + eUICCs         {:>8.3} ms   floor {:.3} ms (+ BSP {:.3} ms)",
            self.client_cpu_per_download_ms, f.card_ms, f.card_bsp_ms
        );
        let _ = writeln!(
            s,
            "  crypto-bound ceiling  {:.0} downloads/s on {} cores (server + eUICC floor, BSP included)",
            self.crypto_bound_downloads_per_second, self.machine.nproc
        );
        let _ = writeln!(
            s,
            "\ncrypto floor, one download ({} B package)",
            f.package_bytes
        );
        let _ = writeln!(s, "  SM-DP+:");
        for op in &f.server_ops {
            let note = if op.per_download {
                ""
            } else {
                "  (not in the floor)"
            };
            let _ = writeln!(s, "    {:<44} {:>9.1} us{note}", op.operation, op.us);
        }
        let _ = writeln!(s, "  eUICC:");
        for op in &f.card_ops {
            let _ = writeln!(s, "    {:<44} {:>9.1} us", op.operation, op.us);
        }
        for e in &self.errors {
            let _ = writeln!(s, "error: {e}");
        }
        s
    }
}

// ---------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------

/// Runs the benchmark and returns its report (failed downloads are counted, not fatal).
pub fn download(args: &DownloadArgs) -> Result<Report> {
    if args.downloads == 0 {
        bail!("-n must be at least 1");
    }
    let concurrency = args.concurrency.clamp(1, args.downloads);
    let curve: Curve = args.curve.into();
    let package_path = args
        .package
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PACKAGE));
    let package = std::fs::read(&package_path)
        .with_context(|| format!("reading {} (give --package)", package_path.display()))?;

    let dir = DataDir::create(args.keep_data)?;
    let postgres = args
        .database
        .as_deref()
        .is_some_and(|u| u.starts_with("postgres"));
    let schema = postgres.then(|| format!("simkit_bench_{}_{}", std::process::id(), random_hex(4)));
    let mut cfg = Config {
        data_dir: dir.path.clone(),
        database_url: args.database.clone(),
        database_schema: schema.clone(),
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        plain_http: args.plain_http,
        ..Config::default()
    };
    cfg.pki.host = Some("localhost".into());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;

    // Setup: PKI, inventory, orders, cards.
    progress(&format!(
        "setup: minting the PKI and {} eUICCs",
        args.downloads
    ));
    let (pki, tls_ci) = mint_pkis(curve, &cfg.pki_dir())?;
    let cards = mint_cards(&pki, args.downloads)?;
    progress(&format!("setup: importing {} Profiles", args.downloads));
    let resolved = cfg.clone().resolve()?;
    let matching_ids = rt.block_on(prepare_inventory(&resolved, &package_path, args.downloads))?;

    // The SM-DP+ process.
    let config_file = dir.path.join("simkit.toml");
    std::fs::write(
        &config_file,
        toml::to_string(&cfg).context("configuration")?,
    )?;
    let server = ServerProcess::spawn(&config_file)?;
    let address = server.smdp_address.clone();
    let scheme = if args.plain_http { "http" } else { "https" };
    let jobs: Vec<Job> = cards
        .into_iter()
        .zip(matching_ids)
        .map(|(card, m)| Job {
            card: Box::new(card),
            activation_code: format!("LPA:1${address}${}", m.as_str()),
        })
        .collect();

    // The floor is timed just before and just after the downloads, and the two averaged: the
    // machine's speed drifts over a run (BENCHMARKS.md), and the ratio compares CPU times
    // taken at different moments.
    progress("timing the crypto floor (before)");
    let floor_before = crypto_floor(&pki, curve, &package, args.floor_iterations.max(10))?;
    progress(&format!(
        "running {} downloads, {} concurrent, against {scheme}://{address} (pid {})",
        args.downloads, concurrency, server.pid
    ));
    let roots = vec![tls_ci];
    let server_cpu_before = process_cpu(server.pid)?;
    let client_cpu_before = process_cpu_self()?;
    let started = Instant::now();
    let outcome = rt.block_on(run_downloads(
        jobs,
        concurrency,
        roots,
        args.plain_http,
        args.reuse_connections,
    ))?;
    let wall = started.elapsed();
    let server_cpu = process_cpu(server.pid)?.saturating_sub(server_cpu_before);
    let client_cpu = process_cpu_self()?.saturating_sub(client_cpu_before);
    progress("timing the crypto floor (after)");
    let floor_after = crypto_floor(&pki, curve, &package, args.floor_iterations.max(10))?;
    server.stop();

    // What the SM-DP+ recorded.
    let installed = rt.block_on(async {
        let db = open_database(&resolved).await?;
        let counts = db.profile_counts().await.map_err(|e| anyhow!("{e}"))?;
        db.close().await;
        Ok::<u64, anyhow::Error>(
            counts
                .iter()
                .filter(|c| c.state == ProfileState::Installed)
                .map(|c| c.count)
                .sum(),
        )
    })?;
    if let (Some(url), Some(schema)) = (&args.database, &schema) {
        rt.block_on(drop_schema(url, schema));
    }
    drop(rt);

    let floor = CryptoFloor::mean(&floor_before, &floor_after);

    let n = args.downloads as f64;
    let per_download = |d: Duration| d.as_secs_f64() * 1000.0 / n;
    let server_ms = per_download(server_cpu);
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let everything = floor.server_ms + floor.server_bsp_ms + floor.card_ms + floor.card_bsp_ms;
    let mut latencies = outcome.download_ns.clone();
    latencies.sort_unstable();
    let report = Report {
        downloads: args.downloads,
        succeeded: outcome.succeeded,
        failed: args.downloads - outcome.succeeded,
        installed,
        concurrency,
        curve: match curve {
            Curve::NistP256 => "NIST P-256",
            Curve::BrainpoolP256r1 => "brainpoolP256r1",
        },
        transport: if args.plain_http { "HTTP" } else { "HTTPS" },
        connections: if args.reuse_connections {
            "one client per LPA, reused across downloads"
        } else {
            "new client and connection per download"
        },
        database: if postgres { "PostgreSQL" } else { "SQLite" },
        wall_seconds: wall.as_secs_f64(),
        downloads_per_second: outcome.succeeded as f64 / wall.as_secs_f64(),
        download_p50_ms: percentile_ms(&latencies, 0.50),
        download_p99_ms: percentile_ms(&latencies, 0.99),
        steps: outcome.steps(),
        server_cpu_seconds: server_cpu.as_secs_f64(),
        server_cpu_per_download_ms: server_ms,
        client_cpu_per_download_ms: per_download(client_cpu),
        cpu_method: "utime+stime of the SM-DP+ process (/proc/<pid>/stat) and of this process (/proc/self/stat)",
        server_cpu_over_floor: server_ms / floor.server_ms,
        server_cpu_over_floor_with_bsp: server_ms / (floor.server_ms + floor.server_bsp_ms),
        crypto_bound_downloads_per_second: nproc as f64 * 1000.0 / everything,
        crypto_floor: floor,
        server_floor_before_ms: floor_before.server_ms,
        server_floor_after_ms: floor_after.server_ms,
        machine: machine(),
        errors: outcome.errors,
    };
    if args.keep_data {
        progress(&format!("data kept in {}", dir.path.display()));
    }
    Ok(report)
}

fn progress(msg: &str) {
    eprintln!("bench: {msg}");
}

fn random_hex(n: usize) -> String {
    use rand_core::Rng;
    let mut b = vec![0u8; n];
    crate::os_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// A temporary data directory, removed on drop unless kept.
struct DataDir {
    path: PathBuf,
    keep: bool,
}

impl DataDir {
    fn create(keep: bool) -> Result<Self> {
        let path = std::env::temp_dir().join(format!(
            "simkit-bench-{}-{}",
            std::process::id(),
            random_hex(4)
        ));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(DataDir { path, keep })
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Mints the benchmark PKI into `dir`: one for `curve`, plus a NIST one whose DPtls certificate
/// the server uses for TLS when `curve` is brainpool. Returns the `curve` PKI and the DER of the
/// CI the TLS certificate chains to.
fn mint_pkis(curve: Curve, dir: &Path) -> Result<(TestPki, Vec<u8>)> {
    let not_before = crate::unix_now().saturating_sub(3600);
    let mint = |curve| {
        let mut cfg = TestPkiConfig::new(curve, not_before);
        cfg.dp_tls_host = "localhost".into();
        TestPki::generate(&cfg, &mut crate::os_rng())
    };
    let pki = mint(curve)?;
    pki.write_to_dir(dir)
        .with_context(|| format!("writing {}", dir.display()))?;
    let tls_ci = if curve == Curve::NistP256 {
        pki.ci.cert.der().to_vec()
    } else {
        let nist = mint(Curve::NistP256)?;
        nist.write_to_dir(dir)
            .with_context(|| format!("writing {}", dir.display()))?;
        nist.ci.cert.der().to_vec()
    };
    Ok((pki, tls_ci))
}

/// An EID under the test EUM's prefix 89049032 with its check digits (GSMA SGP.29 §2.2: the
/// last two digits make the 32-digit number ≡ 1 mod 97, as in ISO 7064 MOD 97-10).
pub fn eid(index: u64) -> String {
    let body = format!("89049032{index:022}");
    let n: u128 = body.parse().unwrap_or(0);
    let check = 98 - (n * 100 % 97);
    format!("{body}{check:02}")
}

/// One virtual eUICC per download, each with its own eUICC certificate under the PKI's EUM.
fn mint_cards(pki: &TestPki, n: usize) -> Result<Vec<Card>> {
    let not_before = crate::unix_now().saturating_sub(3600);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let chunk = n.div_ceil(threads);
    let results: Vec<Result<Vec<Card>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let range = (t * chunk)..((t + 1) * chunk).min(n);
                    range
                        .map(|i| {
                            let mut serial = vec![0x01];
                            serial.extend_from_slice(&(i as u64).to_be_bytes());
                            let euicc = pki::mint::mint_euicc(
                                &pki.eum,
                                &eid(i as u64),
                                &serial,
                                not_before,
                                pki::mint::NO_EXPIRY,
                                &mut crate::os_rng(),
                            )?;
                            new_card(pki, euicc)
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("minting thread panicked")))
            })
            .collect()
    });
    let mut cards = Vec::with_capacity(n);
    for r in results {
        cards.extend(r?);
    }
    Ok(cards)
}

fn new_card(pki: &TestPki, euicc: CertifiedKey) -> Result<Card> {
    let identity = CardIdentity::new(
        euicc.cert.der(),
        pki.eum.cert.der(),
        euicc.key,
        &[pki.ci.cert.der()],
    )
    .map_err(|e| anyhow!("card identity: {e}"))?;
    let mut card = Card::new(identity, CardState::default(), Box::new(crate::os_rng()));
    card.set_time(Some(crate::unix_now()));
    Ok(card)
}

/// Imports `n` Profiles and places and releases one order for each; returns the matchingIds.
async fn prepare_inventory(cfg: &Config, package: &Path, n: usize) -> Result<Vec<MatchingId>> {
    let luhn = crate::inventory::luhn_check_digit(ICCID_BODY_START).context("ICCID")?;
    let iccid_start = format!("{ICCID_BODY_START}{luhn}");
    let import = ImportArgs {
        package: package.to_path_buf(),
        count: u32::try_from(n).context("-n")?,
        iccid_start: iccid_start.clone(),
        imsi_start: IMSI_START.into(),
        profile_type: Some("bench".into()),
        owner: None,
        service_provider_name: "simkit".into(),
        profile_name: Some("simkit bench".into()),
        profile_class: ProfileClassArg::Operational,
        keys_out: None,
        store: StoreArgs {
            config: None,
            data_dir: None,
            database: None,
        },
    };
    import_with_config(cfg, &import).await?;
    let iccids = crate::inventory::iccid_sequence(&iccid_start, import.count)?;
    let db = open_database(cfg).await?;
    let policy = cfg.policy.order_policy();
    let mut rng = crate::os_rng();
    let mut out = Vec::with_capacity(n);
    for iccid in &iccids {
        let iccid = Iccid::parse(iccid).map_err(|e| anyhow!("{e}"))?;
        let now = now_millis();
        db.download_order(
            DownloadOrderInput {
                requester: OPERATOR.into(),
                eid: None,
                iccid: Some(iccid.clone()),
                profile_type: None,
            },
            now,
            policy,
        )
        .await
        .map_err(|e| anyhow!("DownloadOrder {iccid}: {e}"))?;
        let confirmed = db
            .confirm_order(
                ConfirmOrderInput {
                    requester: OPERATOR.into(),
                    iccid: iccid.clone(),
                    eid: None,
                    matching_id: RequestedMatchingId::Generated(MatchingId::generate(&mut rng)),
                    cc_hash: None,
                    smds_address: None,
                    release: true,
                },
                now,
            )
            .await
            .map_err(|e| anyhow!("ConfirmOrder {iccid}: {e}"))?;
        out.push(
            confirmed
                .matching_id
                .ok_or_else(|| anyhow!("ConfirmOrder {iccid}: no matchingId"))?,
        );
    }
    db.close().await;
    Ok(out)
}

async fn drop_schema(url: &str, schema: &str) {
    use sqlx::Executor;
    sqlx::any::install_default_drivers();
    if let Ok(pool) = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
    {
        // The name is ours: simkit_bench_<digits>_<hex>.
        let _ = pool
            .execute(sqlx::raw_sql(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE"
            )))
            .await;
        pool.close().await;
    }
}

// ---------------------------------------------------------------------------
// The SM-DP+ process
// ---------------------------------------------------------------------------

struct ServerProcess {
    child: std::process::Child,
    pid: u32,
    smdp_address: String,
}

impl ServerProcess {
    /// Starts `<this executable> serve --config FILE` and waits for its "listening" line.
    fn spawn(config: &Path) -> Result<Self> {
        use std::io::BufRead;
        let exe = std::env::current_exe().context("locating the simkit executable")?;
        let mut cmd = std::process::Command::new(exe);
        cmd.arg("serve").arg("--config").arg(config);
        // The configuration file alone decides: no SIMKIT_* overrides from this environment.
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().to_string();
            if k.starts_with("SIMKIT_") && k != "SIMKIT_LOG" {
                cmd.env_remove(&k);
            }
        }
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().context("starting the SM-DP+ process")?;
        let pid = child.id();
        let stderr = child.stderr.take().context("SM-DP+ stderr")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(|l| l.ok())
            {
                // "SM-DP+ <address> listening on <url> (<database>)"
                let found = line
                    .strip_prefix("SM-DP+ ")
                    .and_then(|rest| rest.split_once(" listening on "))
                    .map(|(addr, _)| addr.to_string());
                match (found, tx.as_ref()) {
                    (Some(addr), Some(t)) => {
                        let _ = t.send(addr);
                        tx = None;
                    }
                    _ => eprintln!("smdp: {line}"),
                }
            }
        });
        let mut server = ServerProcess {
            child,
            pid,
            smdp_address: String::new(),
        };
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => server.smdp_address = addr,
            Err(_) => {
                let status = server.child.try_wait().ok().flatten();
                bail!("the SM-DP+ process did not start (exit status {status:?})");
            }
        }
        Ok(server)
    }

    /// SIGTERM (graceful shutdown), then SIGKILL after 10 s.
    fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .stderr(std::process::Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Clock ticks per second of `/proc/*/stat` times (USER_HZ, 100 on Linux).
const USER_HZ: u64 = 100;

/// utime + stime of a process from `/proc/<pid>/stat` (all its threads, live and exited).
fn cpu_from_stat(stat: &str) -> Result<Duration> {
    // Fields after the parenthesized command name; utime and stime are fields 14 and 15.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("malformed stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .context("malformed stat")?
            .parse()
            .context("malformed stat")
    };
    // `rest` starts at field 3 (state), so field k is at index k - 3.
    let total = ticks(14 - 3)? + ticks(15 - 3)?;
    Ok(Duration::from_millis(total * 1000 / USER_HZ))
}

fn process_cpu(pid: u32) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .context("reading the SM-DP+ CPU time")?;
    cpu_from_stat(&stat)
}

// Never inlined: `valgrind --tool=callgrind --dump-before='*process_cpu_self*'` splits a profile
// of the bench process at these calls, so the second dump holds just the timed downloads.
#[inline(never)]
pub(crate) fn process_cpu_self() -> Result<Duration> {
    cpu_from_stat(&std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?)
}

pub(crate) fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| format!("{:.1} GiB RAM", kb as f64 / 1024.0 / 1024.0))
        .unwrap_or_else(|| "unknown RAM".into());
    Machine {
        nproc: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        cpu_model,
        memory,
    }
}

// ---------------------------------------------------------------------------
// The downloads
// ---------------------------------------------------------------------------

struct Job {
    /// Boxed: a `Card` is tens of kilobytes, and a job moves from the queue into its task.
    card: Box<Card>,
    activation_code: String,
}

/// The ES9+ functions of a download, in order.
const STEPS: [(&str, &str); 5] = [
    (
        rsp::es9p::path::INITIATE_AUTHENTICATION,
        "initiateAuthentication",
    ),
    (rsp::es9p::path::AUTHENTICATE_CLIENT, "authenticateClient"),
    (
        rsp::es9p::path::GET_BOUND_PROFILE_PACKAGE,
        "getBoundProfilePackage",
    ),
    (rsp::es9p::path::HANDLE_NOTIFICATION, "handleNotification"),
    (rsp::es9p::path::CANCEL_SESSION, "cancelSession"),
];

/// An ES9+ transport that records how long each call took. Over plain HTTP it reaches the
/// SM-DP+ address (`localhost:port`, as the LPA announces it) at `http://localhost:port`.
struct Timed<T> {
    inner: T,
    plain_http: bool,
    samples: Mutex<Vec<(usize, u64)>>,
}

impl<T: Es9Transport> Es9Transport for Timed<T> {
    async fn post(
        &self,
        smdp_address: &str,
        path: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), LpaError> {
        let started = Instant::now();
        let result = if self.plain_http {
            self.inner
                .post(&format!("http://{smdp_address}"), path, body)
                .await
        } else {
            self.inner.post(smdp_address, path, body).await
        };
        let ns = started.elapsed().as_nanos() as u64;
        if let Some(step) = STEPS.iter().position(|(p, _)| *p == path) {
            if let Ok(mut s) = self.samples.lock() {
                s.push((step, ns));
            }
        }
        result
    }
}

#[derive(Default)]
struct Outcome {
    succeeded: usize,
    download_ns: Vec<u64>,
    step_ns: Vec<Vec<u64>>,
    errors: Vec<String>,
}

impl Outcome {
    fn steps(&self) -> Vec<StepLatency> {
        STEPS
            .iter()
            .zip(&self.step_ns)
            .filter(|(_, v)| !v.is_empty())
            .map(|((_, name), v)| {
                let mut v = v.clone();
                v.sort_unstable();
                StepLatency {
                    function: name,
                    count: v.len(),
                    p50_ms: percentile_ms(&v, 0.50),
                    p99_ms: percentile_ms(&v, 0.99),
                    max_ms: v.last().map(|&x| x as f64 / 1e6).unwrap_or(0.0),
                }
            })
            .collect()
    }
}

/// Nearest-rank percentile of sorted nanoseconds, in milliseconds.
pub(crate) fn percentile_ms(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1e6
}

async fn run_downloads(
    jobs: Vec<Job>,
    concurrency: usize,
    roots: Vec<Vec<u8>>,
    plain_http: bool,
    reuse: bool,
) -> Result<Outcome> {
    let total = jobs.len();
    let queue = Arc::new(Mutex::new(jobs));
    let done = Arc::new(AtomicUsize::new(0));
    // One TLS configuration, parsed once (a phone has its trust store loaded already). Each
    // download is a different device: no TLS session is resumed across downloads, every new
    // client makes a full handshake. The SM-DP+ host name resolves to the loopback address
    // without a DNS lookup per connection (the bench's own overhead, not a download's).
    let mut tls = lpa::http::tls_config(&roots).map_err(|e| anyhow!("{e}"))?;
    tls.resumption = rustls::client::Resumption::disabled();
    let pinned = vec![(
        "localhost".to_string(),
        vec![std::net::SocketAddr::from(([127, 0, 0, 1], 0))],
    )];
    let new_transport =
        Arc::new(move || HttpTransport::with_tls_config(tls.clone(), plain_http, &pinned));
    let device = Arc::new(lpa::default_device_info(TAC, None));
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let queue = queue.clone();
        let done = done.clone();
        let new_transport = new_transport.clone();
        let device = device.clone();
        workers.push(tokio::spawn(async move {
            let mut out = Outcome {
                step_ns: vec![Vec::new(); STEPS.len()],
                ..Default::default()
            };
            let mut shared: Option<HttpTransport> = None;
            loop {
                let Some(mut job) = queue.lock().ok().and_then(|mut q| q.pop()) else {
                    break;
                };
                let transport = match (&shared, reuse) {
                    (Some(t), true) => t.clone(),
                    _ => {
                        let t = new_transport();
                        if reuse {
                            shared = Some(t.clone());
                        }
                        t
                    }
                };
                let es9 = Timed {
                    inner: transport,
                    plain_http,
                    samples: Mutex::new(Vec::with_capacity(5)),
                };
                let started = Instant::now();
                let result = {
                    let mut lpa = Lpa::new(&mut *job.card);
                    lpa.download(&es9, &job.activation_code, None, &device, |_| true)
                        .await
                };
                let elapsed = started.elapsed().as_nanos() as u64;
                for (step, ns) in es9.samples.into_inner().unwrap_or_default() {
                    out.step_ns[step].push(ns);
                }
                match result {
                    Ok(r) if matches!(r.pir_notification, NotificationStatus::Removed) => {
                        out.succeeded += 1;
                        out.download_ns.push(elapsed);
                    }
                    Ok(r) => out
                        .errors
                        .push(format!("PIR not delivered: {:?}", r.pir_notification)),
                    Err(e) => out.errors.push(e.to_string()),
                }
                let k = done.fetch_add(1, Ordering::Relaxed) + 1;
                if total >= 10 && k.is_multiple_of(total / 10) {
                    progress(&format!("{k}/{total}"));
                }
            }
            out
        }));
    }
    let mut all = Outcome {
        step_ns: vec![Vec::new(); STEPS.len()],
        ..Default::default()
    };
    for w in workers {
        let out = w.await.context("download task")?;
        all.succeeded += out.succeeded;
        all.download_ns.extend(out.download_ns);
        for (a, b) in all.step_ns.iter_mut().zip(out.step_ns) {
            a.extend(b);
        }
        for e in out.errors {
            if all.errors.len() < 10 {
                all.errors.push(e);
            }
        }
    }
    Ok(all)
}

// ---------------------------------------------------------------------------
// The crypto floor
// ---------------------------------------------------------------------------

/// Batches [`time_us`] splits its iterations into.
const FLOOR_BATCHES: u32 = 5;

/// Time of `f` in microseconds: `iterations` runs (after a short warm-up) in
/// [`FLOOR_BATCHES`] batches, the median of the batches' means, so that one batch the machine
/// slowed down (another tenant, a timer) does not move the floor. Stops early after a second.
fn time_us(iterations: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..3 {
        f();
    }
    let per_batch = (iterations / FLOOR_BATCHES).max(2);
    let started = Instant::now();
    let mut means = Vec::with_capacity(FLOOR_BATCHES as usize);
    for _ in 0..FLOOR_BATCHES {
        let batch = Instant::now();
        for _ in 0..per_batch {
            f();
        }
        means.push(batch.elapsed().as_secs_f64() * 1e6 / f64::from(per_batch));
        if started.elapsed() > Duration::from_secs(1) {
            break;
        }
    }
    means.sort_by(f64::total_cmp);
    means[means.len() / 2]
}

fn op(operation: &'static str, us: f64) -> FloorOp {
    FloorOp {
        operation,
        us,
        per_download: true,
    }
}

/// An operation the flow does once and remembers, not on every download (not in the floor).
fn once(operation: &'static str, us: f64) -> FloorOp {
    FloorOp {
        operation,
        us,
        per_download: false,
    }
}

/// Times the asymmetric operations of one download on both sides, with the PKI's own keys and
/// messages of the real sizes, and the BSP protection of `package`.
fn crypto_floor(
    pki: &TestPki,
    curve: Curve,
    package: &[u8],
    iterations: u32,
) -> Result<CryptoFloor> {
    let mut rng = crate::os_rng();
    let euicc = &pki.euicc;
    let euicc_pk = euicc.key.public_key();
    let dpauth_pk = pki.dp_auth.key.public_key();
    let dppb_pk = pki.dp_pb.key.public_key();
    // Typical sizes of the signed structures: serverSigned1 ~ 90 B, euiccSigned1 ~ 200 B,
    // smdpSigned2 + euiccSignature1 ~ 90 B, euiccSigned2 + smdpSignature2 ~ 160 B,
    // InitialiseSecureChannel signed data ~ 170 B, ProfileInstallationResultData ~ 90 B.
    let m1 = vec![0x30u8; 90];
    let m2 = vec![0x31u8; 200];
    let m3 = vec![0x32u8; 90];
    let m4 = vec![0x33u8; 160];
    let m5 = vec![0x34u8; 170];
    let m6 = vec![0x35u8; 90];
    let s1 = pki.dp_auth.key.sign(&m1);
    let s2 = euicc.key.sign(&m2);
    let s3 = pki.dp_pb.key.sign(&m3);
    let s4 = euicc.key.sign(&m4);
    let s5 = pki.dp_pb.key.sign(&m5);
    let s6 = euicc.key.sign(&m6);
    let ot_euicc = PrivateKey::generate(curve, &mut rng);
    let ot_dp = PrivateKey::generate(curve, &mut rng);
    let ot_euicc_pk = ot_euicc.public_key();
    let ot_dp_pk = ot_dp.public_key();
    let check = |r: pki::Result<()>| {
        if r.is_err() {
            eprintln!("bench: a floor verification failed");
        }
    };
    let ci_pk = pki.ci.cert.public_key().clone();
    let eum_pk = pki.eum.cert.public_key().clone();

    let server_ops = vec![
        op(
            "sign serverSigned1 (DPauth)",
            time_us(iterations, || {
                std::hint::black_box(pki.dp_auth.key.sign(&m1));
            }),
        ),
        once(
            "verify CERT.EUM (CI), once per EUM (cached)",
            time_us(iterations, || check(pki.eum.cert.verify_signed_by(&ci_pk))),
        ),
        op(
            "verify CERT.EUICC (EUM)",
            time_us(iterations, || check(euicc.cert.verify_signed_by(&eum_pk))),
        ),
        op(
            "verify euiccSignature1",
            time_us(iterations, || check(euicc_pk.verify(&m2, &s2))),
        ),
        op(
            "sign smdpSigned2 (DPpb)",
            time_us(iterations, || {
                std::hint::black_box(pki.dp_pb.key.sign(&m3));
            }),
        ),
        op(
            "verify euiccSignature2",
            time_us(iterations, || check(euicc_pk.verify(&m4, &s4))),
        ),
        op(
            "generate otSK.DP.ECKA / otPK.DP.ECKA",
            time_us(iterations, || {
                let k = PrivateKey::generate(curve, &mut crate::os_rng());
                std::hint::black_box(k.public_key().to_uncompressed());
            }),
        ),
        op(
            "ECKA (otSK.DP, otPK.EUICC)",
            time_us(iterations, || {
                std::hint::black_box(ot_dp.ecka(&ot_euicc_pk).ok());
            }),
        ),
        op(
            "sign InitialiseSecureChannel (DPpb)",
            time_us(iterations, || {
                std::hint::black_box(pki.dp_pb.key.sign(&m5));
            }),
        ),
        op(
            "verify euiccSignPIR",
            time_us(iterations, || check(euicc_pk.verify(&m6, &s6))),
        ),
    ];
    let card_ops = vec![
        op(
            "verify CERT.DPauth (CI)",
            time_us(iterations, || {
                check(pki.dp_auth.cert.verify_signed_by(&ci_pk))
            }),
        ),
        op(
            "verify serverSignature1",
            time_us(iterations, || check(dpauth_pk.verify(&m1, &s1))),
        ),
        op(
            "sign euiccSigned1",
            time_us(iterations, || {
                std::hint::black_box(euicc.key.sign(&m2));
            }),
        ),
        op(
            "verify CERT.DPpb (CI)",
            time_us(iterations, || {
                check(pki.dp_pb.cert.verify_signed_by(&ci_pk))
            }),
        ),
        op(
            "verify smdpSignature2",
            time_us(iterations, || check(dppb_pk.verify(&m3, &s3))),
        ),
        op(
            "generate otSK.EUICC.ECKA / otPK.EUICC.ECKA",
            time_us(iterations, || {
                let k = PrivateKey::generate(curve, &mut crate::os_rng());
                std::hint::black_box(k.public_key().to_uncompressed());
            }),
        ),
        op(
            "sign euiccSigned2",
            time_us(iterations, || {
                std::hint::black_box(euicc.key.sign(&m4));
            }),
        ),
        op(
            "verify InitialiseSecureChannel signature",
            time_us(iterations, || check(dppb_pk.verify(&m5, &s5))),
        ),
        op(
            "ECKA (otSK.EUICC, otPK.DP)",
            time_us(iterations, || {
                std::hint::black_box(ot_euicc.ecka(&ot_dp_pk).ok());
            }),
        ),
        op(
            "sign ProfileInstallationResultData",
            time_us(iterations, || {
                std::hint::black_box(euicc.key.sign(&m6));
            }),
        ),
    ];

    // BSP (SGP.22 §2.5.4, Annex G): session keys from ShS, then ConfigureISDP and the package
    // encrypted and MACed, the metadata MACed; the eUICC verifies and decrypts every segment.
    let shared = ot_dp.ecka(&ot_euicc_pk).map_err(|e| anyhow!("{e}"))?;
    let eid = [0x89u8; 16];
    let metadata = vec![0x5Au8; 120];
    let configure = vec![0xBFu8, 0x24, 0x00];
    let protect = || -> Result<Vec<Vec<u8>>> {
        let keys = bsp::derive_session_keys(
            shared.as_ref(),
            bsp::KEY_TYPE_AES,
            bsp::KEY_LENGTH_AES128,
            b"SIMKIT-SMDP",
            &eid,
        )
        .map_err(|e| anyhow!("{e}"))?;
        let mut b = bsp::Bsp::new(&keys);
        let mut segments = b
            .encrypt_and_mac(bsp::TAG_ENCRYPTED, &configure)
            .map_err(|e| anyhow!("{e}"))?;
        segments.extend(
            b.mac_only(bsp::TAG_MAC_ONLY, &metadata)
                .map_err(|e| anyhow!("{e}"))?,
        );
        segments.extend(
            b.encrypt_and_mac(bsp::TAG_PPP_SEGMENT, package)
                .map_err(|e| anyhow!("{e}"))?,
        );
        Ok(segments)
    };
    let segments = protect()?;
    let server_bsp_us = time_us(iterations, || {
        std::hint::black_box(protect().ok());
    });
    let card_bsp_us = time_us(iterations, || {
        let Ok(keys) = bsp::derive_session_keys(
            shared.as_ref(),
            bsp::KEY_TYPE_AES,
            bsp::KEY_LENGTH_AES128,
            b"SIMKIT-SMDP",
            &eid,
        ) else {
            return;
        };
        let mut b = bsp::Bsp::new(&keys);
        for s in &segments {
            if b.open(s).is_err() {
                eprintln!("bench: BSP open failed");
                return;
            }
        }
    });

    Ok(CryptoFloor::new(
        server_ops,
        card_ops,
        server_bsp_us / 1000.0,
        card_bsp_us / 1000.0,
        package.len(),
    ))
}

impl CryptoFloor {
    fn new(
        server_ops: Vec<FloorOp>,
        card_ops: Vec<FloorOp>,
        server_bsp_ms: f64,
        card_bsp_ms: f64,
        package_bytes: usize,
    ) -> Self {
        let sum = |ops: &[FloorOp]| {
            ops.iter()
                .filter(|o| o.per_download)
                .map(|o| o.us)
                .sum::<f64>()
                / 1000.0
        };
        CryptoFloor {
            server_ms: sum(&server_ops),
            card_ms: sum(&card_ops),
            server_ops,
            card_ops,
            server_bsp_ms,
            card_bsp_ms,
            package_bytes,
        }
    }

    /// Operation by operation, the mean of two timings of the same floor.
    fn mean(a: &CryptoFloor, b: &CryptoFloor) -> CryptoFloor {
        let ops = |x: &[FloorOp], y: &[FloorOp]| -> Vec<FloorOp> {
            x.iter()
                .zip(y)
                .map(|(p, q)| FloorOp {
                    us: (p.us + q.us) / 2.0,
                    ..p.clone()
                })
                .collect()
        };
        CryptoFloor::new(
            ops(&a.server_ops, &b.server_ops),
            ops(&a.card_ops, &b.card_ops),
            (a.server_bsp_ms + b.server_bsp_ms) / 2.0,
            (a.card_bsp_ms + b.card_bsp_ms) / 2.0,
            a.package_bytes,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eid_check_digits() {
        // SGP.26 test eUICC EID (shared/reference), 89049032123451234512345678901235: its check
        // digits follow the same rule.
        let n: u128 = "890490321234512345123456789012".parse().unwrap();
        assert_eq!(98 - (n * 100 % 97), 35);
        for i in [0u64, 1, 12345, 999_999] {
            let e = eid(i);
            assert_eq!(e.len(), 32);
            assert!(e.starts_with("89049032"));
            assert_eq!(e.parse::<u128>().unwrap() % 97, 1, "{e}");
        }
    }

    #[test]
    fn stat_parsing() {
        // A /proc/<pid>/stat line whose command name holds spaces and parentheses.
        let line =
            "1234 (simkit (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 100 0 0";
        assert_eq!(cpu_from_stat(line).unwrap(), Duration::from_millis(3000));
        assert!(cpu_from_stat("garbage").is_err());
    }

    #[test]
    fn percentiles() {
        let v: Vec<u64> = (1..=100).map(|i| i * 1_000_000).collect();
        assert_eq!(percentile_ms(&v, 0.5), 50.0);
        assert_eq!(percentile_ms(&v, 0.99), 99.0);
        assert_eq!(percentile_ms(&[], 0.5), 0.0);
        assert_eq!(percentile_ms(&[7_000_000], 0.99), 7.0);
    }
}
