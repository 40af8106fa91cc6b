//! `simkit bench tsm`: the central TSM's throughput, each figure beside its floor measured in
//! the same run.
//!
//! Setup (not timed): one MNO, one SP, one service; `--ses` virtual secure elements in memory
//! (the card crate's GP container, reached over SWP as a direct link), each registered with
//! its ISD keys and pre-personalized through the API (SSD with temporary keys, instance,
//! extradition). The store is `--database` (default: an SQLite file in a temporary directory;
//! the figures are on PostgreSQL).
//!
//! 1. **API requests per second**: `--requests` GetServiceState calls (authorization, MSI → SE,
//!    instance lookup, JSON both ways) from `-c` concurrent callers, twice: over HTTPS to the
//!    real server (`tsm_http::start`, mutual TLS, one kept-alive connection per caller: the SP
//!    authenticates once per connection), and in-process through `Tsm::handle`, the entry point
//!    the HTTPS route calls. No cryptography is inherent to one request once the connection is
//!    up: its floor is the TLS record protection (AES-GCM over a few hundred bytes), which is
//!    negligible, so the figure stands beside its database round trips.
//! 2. **ProcessScript round trips per second**: `-c` conversations on distinct SEs, each running
//!    scripts of one command (GET DATA 'E0' of the SP's SSD) until `--scripts` are done. Each
//!    script is: SELECT of the SSD, an SCP03 handshake with the SSD's keys (C-MAC + C-DEC +
//!    R-MAC), the wrapped command and its unwrapped answer, and one audit row per APDU. Floor:
//!    the same handshake and wrap/unwrap on both the host and the card side through the `gp`
//!    crate alone (no card OS, no store), single-threaded.
//! 3. **ProcessScript over SCP80/SMS** (`--ota-scripts`, 0 skips it): `-c` SEs linked
//!    `ota:MSISDN` under an MNO with bearer SCP80-SMS, each a virtual card behind a terminal
//!    simulator behind the built-in SMSC simulator; the TSM reaches them through the OTA server
//!    (`otasrv` over SMPP on loopback). Setup pre-personalizes them over the air. Each script (GET
//!    DATA 'E0' of the SP's SSD) is one SCP80 command packet (counter allocated in the database)
//!    and its PoR. Everything runs in this process (TSM, OTA server, SMSC, terminals, cards), so
//!    the CPU per script is the whole system's. Floor: the SCP80 crypto of one packet and its
//!    PoR on both sides (`bench_ota::card_floor`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use apdu::{CardTransport, Command, Response};
use card::gp::native::{GENERIC_MODULE_AID, GENERIC_PACKAGE_AID};
use card::routing::GP_ISD_AID;
use card::{Card, CardIdentity, CardState, Protocol};
use gp::{KeySet, Scp, SecurityLevel};
use pki::mint::{TestPki, TestPkiConfig};
use pki::Curve;
use serde_json::{json, Value};
use tsm::engine::SeChannel;
use tsm::model::{Bearer, CatalogueEntry, KeySetRecord, Mno, SdKind, Se, Sp};
use tsm::service::{SdRegistration, SeConnector, Tsm, TsmConfig};
use tsm::TsmStore;
use zeroize::Zeroizing;

#[derive(clap::Args, Debug, Clone)]
pub struct TsmBenchArgs {
    /// Secure elements (at least the concurrency).
    #[arg(long, default_value_t = 32)]
    pub ses: usize,
    /// Concurrent callers.
    #[arg(short = 'c', long, default_value_t = 8)]
    pub concurrency: usize,
    /// GetServiceState requests.
    #[arg(long, default_value_t = 20_000)]
    pub requests: usize,
    /// ProcessScript round trips.
    #[arg(long, default_value_t = 4_000)]
    pub scripts: usize,
    /// `sqlite://...` or `postgres://...` (default: SQLite in a temporary directory).
    #[arg(long)]
    pub database: Option<String>,
    /// ProcessScript round trips over SCP80/SMS (0: skip).
    #[arg(long, default_value_t = 1_000)]
    pub ota_scripts: usize,
}

/// The GP test key 40..4F (the virtual card's ISD keys and its SSDs' initial keys).
const TEST_KEY: [u8; 16] = card::gp::GP_TEST_KEY;

fn test_keys() -> KeySetRecord {
    KeySetRecord {
        scp: 3,
        kvn: card::gp::DEFAULT_KVN,
        enc: Zeroizing::new(TEST_KEY.to_vec()),
        mac: Zeroizing::new(TEST_KEY.to_vec()),
        dek: Zeroizing::new(TEST_KEY.to_vec()),
    }
}

/// In-memory virtual cards by link name, over SWP (the interface paired with the GP
/// container by default).
#[derive(Default)]
struct MemoryCards(Mutex<HashMap<String, Arc<Mutex<Card>>>>);

struct OnSwp(Arc<Mutex<Card>>);

impl CardTransport for OnSwp {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, apdu::TransportError> {
        let mut card = self
            .0
            .lock()
            .map_err(|_| apdu::TransportError::Other("card poisoned".into()))?;
        Ok(card.process_on(Protocol::SwpTypeA, apdu))
    }
}

impl SeConnector for MemoryCards {
    fn connect(&self, se: &Se) -> tsm::Result<Option<SeChannel>> {
        let cards = self
            .0
            .lock()
            .map_err(|_| tsm::TsmError::Internal("card table poisoned".into()))?;
        Ok(cards
            .get(&se.link)
            .map(|c| SeChannel::Direct(Box::new(OnSwp(c.clone())))))
    }
}

/// A card with the generic applet package preloaded (associated with the ISD).
fn new_card(identity: &CardIdentity) -> Card {
    let mut state = CardState::new();
    state
        .gp
        .load_files
        .push(card::testing::preloaded_generic_package(2000));
    Card::new(identity.clone(), state, Box::new(crate::os_rng()))
}

struct Latencies {
    ns: Vec<u64>,
    wall: Duration,
    cpu: Duration,
}

impl Latencies {
    fn per_second(&self) -> f64 {
        self.ns.len() as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    fn json(&self) -> Value {
        let mut s = self.ns.clone();
        s.sort_unstable();
        let n = s.len().max(1) as f64;
        json!({
            "count": self.ns.len(),
            "seconds": self.wall.as_secs_f64(),
            "perSecond": self.per_second(),
            "p50Ms": crate::bench::percentile_ms(&s, 0.50),
            "p99Ms": crate::bench::percentile_ms(&s, 0.99),
            "cpuMsEach": self.cpu.as_secs_f64() * 1e3 / n,
        })
    }
}

/// Runs `total` calls of `f(i)` from `concurrency` tasks; each call's latency.
async fn drive<F, Fut>(total: usize, concurrency: usize, f: F) -> Result<Latencies>
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let f = Arc::new(f);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let cpu0 = crate::bench::process_cpu_self()?;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (f, next) = (f.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut ns = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    return Ok::<_, anyhow::Error>(ns);
                }
                let t = Instant::now();
                f(worker, i).await?;
                ns.push(t.elapsed().as_nanos() as u64);
            }
        }));
    }
    let mut ns = Vec::with_capacity(total);
    for t in tasks {
        ns.extend(t.await??);
    }
    let wall = start.elapsed();
    let cpu = crate::bench::process_cpu_self()?.saturating_sub(cpu0);
    Ok(Latencies { ns, wall, cpu })
}

/// The floor of one script: an SCP03 handshake (both sides) and one command's wrap/unwrap.
fn script_floor(n: u32) -> Result<Duration> {
    let keys = KeySet::aes(card::gp::DEFAULT_KVN, &TEST_KEY, &TEST_KEY, &TEST_KEY)?;
    let scp = Scp::scp03(0x70)?;
    let level = SecurityLevel::C_DEC_C_MAC_R_MAC;
    let cmd = Command::new(0x80, 0xCA, 0x00, 0xE0).le(256);
    let rsp = Response::parse(&[0xE0, 0x00, 0x90, 0x00])?;
    let start = Instant::now();
    for _ in 0..n {
        let (mut host, mut card) = crate::bench_gp::session_pair_with(&keys, scp, level)?;
        std::hint::black_box(crate::bench_gp::floor_once(
            &mut host, &mut card, &cmd, &rsp,
        )?);
    }
    Ok(start.elapsed() / n.max(1))
}

pub fn run(args: TsmBenchArgs, json_out: bool) -> Result<()> {
    if args.concurrency == 0 || args.ses < args.concurrency {
        bail!("--ses must be at least --concurrency (one conversation per SE at a time)");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(bench(&args))?;
    if json_out {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        render(&report);
    }
    Ok(())
}

async fn bench(args: &TsmBenchArgs) -> Result<Value> {
    let dir = tempfile::tempdir()?;
    let url = args
        .database
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", dir.path().join("tsm.db").display()));
    let db = store::Database::connect(&url)
        .await
        .context("opening the database")?;
    let cards = Arc::new(MemoryCards::default());
    let mut master = [0u8; 32];
    rand_core::Rng::fill_bytes(&mut crate::os_rng(), &mut master);
    let keys: Arc<seal::SoftwareKeyStore> = Arc::new(seal::SoftwareKeyStore::new(&master)?);
    let cfg = TsmConfig {
        max_scripts: u32::MAX,
        conversation_duration: Duration::from_secs(3600),
        ..TsmConfig::default()
    };
    let tsm = Arc::new(Tsm::new(
        db.clone(),
        keys.clone(),
        cards.clone(),
        Arc::new(|| Box::new(crate::os_rng())),
        Arc::new(|| crate::unix_now() as i64 * 1000),
        cfg,
    ));

    // Setup: unique ids per run, so a shared PostgreSQL database can be reused.
    let run = format!("b{}", crate::unix_now());
    let pki = TestPki::generate(
        &TestPkiConfig::new(Curve::NistP256, crate::unix_now().saturating_sub(3600)),
        &mut crate::os_rng(),
    )?;
    let identity = CardIdentity::new(
        pki.euicc.cert.der(),
        pki.eum.cert.der(),
        pki.euicc.key,
        &[pki.ci.cert.der()],
    )?;
    let mno = format!("{run}-mno");
    db.put_mno(Mno {
        id: mno.clone(),
        name: "Bench operator".into(),
        bearer: Bearer::Direct,
    })
    .await?;
    let sp = Sp {
        id: format!("{run}-sp"),
        name: "Bench provider".into(),
        cert_subject: format!("{run}.sp.bench"),
    };
    db.put_sp(sp.clone()).await?;
    let mut instance = vec![0xF0, 0xBE, 0x4C];
    instance.extend_from_slice(&(crate::unix_now() as u32).to_be_bytes());
    tsm.register_service(CatalogueEntry {
        sp_id: sp.id.clone(),
        service_id: "pay".into(),
        version: "1".into(),
        package_aid: GENERIC_PACKAGE_AID.to_vec(),
        module_aid: GENERIC_MODULE_AID.to_vec(),
        instance_aid: instance,
        memory: 256,
        privileges: vec![0x00],
        install_params: vec![0xC9, 0x00],
    })
    .await?;
    let msi = |i: usize| format!("+{run}{i:05}").replace('b', "");
    for i in 0..args.ses {
        let link = format!("mem:{i}");
        cards
            .0
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .insert(link.clone(), Arc::new(Mutex::new(new_card(&identity))));
        let se = bench_se(format!("{run}-se{i}"), &mno, "eSE", link);
        prepare_se(&tsm, &sp, se, &msi(i)).await?;
    }

    // 1. API requests: GetServiceState, over HTTPS (mutual TLS) and in-process.
    let https = https_requests(args, &tsm, &sp, dir.path(), &msi(0)).await?;
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..args.ses)
            .map(|i| {
                json!({"msi": msi(i), "serviceId": "pay", "serviceQualifier": "main"})
                    .to_string()
                    .into_bytes()
            })
            .collect(),
    );
    let (t, s, b) = (tsm.clone(), sp.clone(), bodies.clone());
    let api = drive(args.requests, args.concurrency, move |_, i| {
        let (t, s, b) = (t.clone(), s.clone(), b.clone());
        async move {
            let (status, out) = t.handle(&s, "GetServiceState", &b[i % b.len()], None).await;
            if status != 200 {
                bail!("GetServiceState: {status} {out}");
            }
            Ok(())
        }
    })
    .await?;

    // 2. ProcessScript round trips: one conversation per worker, on its own SEs.
    let mut conversations = Vec::new();
    for i in 0..args.concurrency {
        conversations.push(script_body(&tsm, &sp, &format!("{run}-se{i}"), &msi(i)).await?);
    }
    let scripts = run_scripts(&tsm, &sp, conversations, args.scripts).await?;
    let ota = if args.ota_scripts > 0 {
        ota_scripts(args, &db, keys.clone(), &run, &sp, &identity).await?
    } else {
        Value::Null
    };
    let floor = script_floor(200)?;
    let machine = crate::bench::machine();
    let ceiling = machine.nproc as f64 / floor.as_secs_f64().max(1e-12);
    db.close().await;
    Ok(json!({
        "database": if url.starts_with("postgres") { "postgres" } else { "sqlite" },
        "ses": args.ses,
        "concurrency": args.concurrency,
        "machine": serde_json::to_value(&machine)?,
        "api": {
            "operation": "GetServiceState",
            "https": https.json(),
            "figures": api.json(),
            "floor": "no asymmetric cryptography per request: the SP authenticates once per TLS connection; only TLS record protection remains",
        },
        "processScript": {
            "commandsPerScript": 1,
            "apdusPerScript": 5,
            "figures": scripts.json(),
            "floorMsEach": floor.as_secs_f64() * 1e3,
            "cpuOverFloor": scripts.cpu.as_secs_f64() / scripts.ns.len().max(1) as f64 / floor.as_secs_f64().max(1e-12),
            "cryptoBoundCeilingPerSecond": ceiling,
        },
        "processScriptOverSms": ota,
    }))
}

/// 3. ProcessScript round trips over SCP80/SMS (module documentation).
async fn ota_scripts(
    args: &TsmBenchArgs,
    db: &store::Database,
    keys: Arc<seal::SoftwareKeyStore>,
    run: &str,
    sp: &Sp,
    identity: &CardIdentity,
) -> Result<Value> {
    use modem::net::{Modem, ModemConfig, Subscribers};
    use modem::{Terminal, TerminalConfig};
    use otasrv::OtaStore;

    const SYSTEM_ID: &str = "bench-tsm";
    let n = args.concurrency;
    let msisdn = |i: usize| format!("4999{i:08}");
    let mut subscribers = Subscribers::default();
    let incoming: Vec<_> = (0..n).map(|i| subscribers.add(&msisdn(i))).collect();
    let smsc = smpp::smsc::start(
        smpp::smsc::SmscConfig::new(SYSTEM_ID, ""),
        0,
        Arc::new(subscribers),
    )
    .await?;
    let mut modems = Vec::new();
    for (i, rx) in incoming.into_iter().enumerate() {
        modems.push(Modem::spawn(
            Terminal::new(new_card(identity), TerminalConfig::default()),
            smsc.clone(),
            rx,
            ModemConfig {
                msisdn: smpp::SmeAddress::new(1, 1, &msisdn(i)),
                esme: Some(SYSTEM_ID.into()),
                scts: Box::new(|| ota::ts23040::Scts::new([26, 11, 22, 12, 0, 0], 4)),
                retry_interval: Duration::from_millis(50),
            },
        )?);
    }
    let card_keys = otasrv::KeySet::aes(1, &card::ota::DEFAULT_KIC, &card::ota::DEFAULT_KID)?;
    db.import_cards(
        (0..n)
            .map(|i| otasrv::CardImport {
                address: msisdn(i),
                iccid: None,
                keys: Some(card_keys.clone()),
                counters: Default::default(),
            })
            .collect(),
    )
    .await?;
    let mut esme = smpp::EsmeConfig::new(smpp::BindMode::Transceiver, SYSTEM_ID, "");
    esme.window = (2 * n).max(8);
    let service = otasrv::service::OtaService::start(
        db.clone(),
        otasrv::service::ServiceConfig::new(smsc.local_addr(), esme),
    );
    let connector = Arc::new(crate::tsm_http::LinkConnector::default());
    connector.set_ota(Arc::new(crate::tsm_ota::OtaPlatform::new(
        service,
        tokio::runtime::Handle::current(),
        Duration::from_secs(30),
    )));
    let tsm = Arc::new(Tsm::new(
        db.clone(),
        keys,
        connector,
        Arc::new(|| Box::new(crate::os_rng())),
        Arc::new(|| crate::unix_now() as i64 * 1000),
        TsmConfig {
            max_scripts: u32::MAX,
            conversation_duration: Duration::from_secs(3600),
            ..TsmConfig::default()
        },
    ));
    let mno = format!("{run}-mno-sms");
    db.put_mno(Mno {
        id: mno.clone(),
        name: "Bench operator (SMS)".into(),
        bearer: Bearer::Scp80Sms,
    })
    .await?;
    let mut conversations = Vec::new();
    for i in 0..n {
        let msi = format!("{run}-ota{i}");
        let se = bench_se(
            format!("{run}-ota-se{i}"),
            &mno,
            "UICC",
            format!("ota:{}", msisdn(i)),
        );
        let se_id = se.se_id.clone();
        prepare_se(&tsm, &sp, se, &msi).await?;
        conversations.push(script_body(&tsm, &sp, &se_id, &msi).await?);
    }
    let figures = run_scripts(&tsm, &sp, conversations, args.ota_scripts).await?;
    for m in &modems {
        m.abort();
    }
    smsc.stop();
    let floor = 1.0 / crate::bench_ota::card_floor(500)?.max(1e-9);
    let cpu_each = figures.cpu.as_secs_f64() / figures.ns.len().max(1) as f64;
    Ok(json!({
        "ses": n,
        "packetsPerScript": 1,
        "figures": figures.json(),
        "floorMsEach": floor * 1e3,
        "cpuOverFloor": cpu_each / floor.max(1e-12),
        "floor": "SCP80 command packet and PoR, built and opened on both sides (AES-CBC + AES-CMAC)",
    }))
}

fn bench_se(se_id: String, mno: &str, se_type: &str, link: String) -> Se {
    Se {
        se_id,
        mno_id: mno.to_string(),
        se_type: se_type.into(),
        profile_id: "bench".into(),
        gp_version: "2.3.1".into(),
        jc_version: "3.0.5".into(),
        cert_level: "EAL5+".into(),
        cert_expiry: "2031-12-31".into(),
        isd_aid: GP_ISD_AID.to_vec(),
        link,
        ssd_initial_keys: None,
    }
}

/// One API call that must answer 200; its JSON.
async fn call_ok<S: TsmStore + 'static>(
    tsm: &Tsm<S>,
    sp: &Sp,
    op: &str,
    body: Value,
) -> Result<Value> {
    let (status, out) = tsm.handle(sp, op, body.to_string().as_bytes(), None).await;
    if status != 200 {
        bail!("{op}: {status} {out}");
    }
    Ok(serde_json::from_str(&out)?)
}

/// Registers `se` (ISD keys, the SSDs' initial keys) under `msi` and pre-personalizes the
/// service on it.
async fn prepare_se<S: TsmStore + 'static>(tsm: &Tsm<S>, sp: &Sp, se: Se, msi: &str) -> Result<()> {
    let isd = SdRegistration {
        aid: GP_ISD_AID.to_vec(),
        kind: SdKind::Isd,
        sp_id: None,
        keys: Some(test_keys()),
    };
    tsm.register_se(se, Some(test_keys()), vec![msi.to_string()], vec![isd])
        .await?;
    let body = json!({"msi": msi, "serviceId": "pay", "serviceQualifier": "main"});
    call_ok(tsm, sp, "PrePersonalize", body).await.map(drop)
}

/// A conversation with the SP's SSD on the SE; the body of its one-command script (GET DATA
/// 'E0').
async fn script_body<S: TsmStore + 'static>(
    tsm: &Tsm<S>,
    sp: &Sp,
    se_id: &str,
    msi: &str,
) -> Result<Vec<u8>> {
    let body = json!({"action": "start", "seId": se_id, "msi": msi});
    let v = call_ok(tsm, sp, "ManageCommunication", body).await?;
    let id = v["conversationId"].as_str().context("conversationId")?;
    Ok(json!({"conversationId": id, "commands": ["80CA00E000"]})
        .to_string()
        .into_bytes())
}

/// `total` ProcessScript round trips, one worker per conversation.
async fn run_scripts<S: TsmStore + 'static>(
    tsm: &Arc<Tsm<S>>,
    sp: &Sp,
    conversations: Vec<Vec<u8>>,
    total: usize,
) -> Result<Latencies> {
    let workers = conversations.len();
    let convs = Arc::new(conversations);
    let (t, s) = (tsm.clone(), sp.clone());
    drive(total, workers, move |worker, _| {
        let (t, s, c) = (t.clone(), s.clone(), convs.clone());
        async move {
            let (status, out) = t.handle(&s, "ProcessScript", &c[worker], None).await;
            if status != 200 || !out.contains("9000\"]") {
                bail!("ProcessScript: {status} {out}");
            }
            Ok(())
        }
    })
    .await
}

fn render(r: &Value) {
    let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or(0.0);
    println!(
        "simkit bench tsm: {} SEs, concurrency {}, database {}",
        r["ses"],
        r["concurrency"],
        r["database"].as_str().unwrap_or("?")
    );
    let https = &r["api"]["https"];
    println!(
        "  API over HTTPS (mTLS)    {:>9.0} req/s   p50 {:.2} ms  p99 {:.2} ms  CPU {:.3} ms each (server and client)",
        f(https, "perSecond"),
        f(https, "p50Ms"),
        f(https, "p99Ms"),
        f(https, "cpuMsEach"),
    );
    let api = &r["api"]["figures"];
    println!(
        "  API in-process (handle)  {:>9.0} req/s   p50 {:.2} ms  p99 {:.2} ms  CPU {:.3} ms each   floor: {}",
        f(api, "perSecond"),
        f(api, "p50Ms"),
        f(api, "p99Ms"),
        f(api, "cpuMsEach"),
        r["api"]["floor"].as_str().unwrap_or("")
    );
    let ps = &r["processScript"];
    let fig = &ps["figures"];
    println!(
        "  ProcessScript round trip {:>9.0} /s      p50 {:.2} ms  p99 {:.2} ms  CPU {:.3} ms each   floor {:.3} ms ({:.1}x; crypto-bound ceiling {:.0}/s)",
        f(fig, "perSecond"),
        f(fig, "p50Ms"),
        f(fig, "p99Ms"),
        f(fig, "cpuMsEach"),
        f(ps, "floorMsEach"),
        f(ps, "cpuOverFloor"),
        f(ps, "cryptoBoundCeilingPerSecond"),
    );
    let sms = &r["processScriptOverSms"];
    if sms.is_object() {
        let fig = &sms["figures"];
        println!(
            "  ProcessScript over SMS   {:>9.0} /s      p50 {:.2} ms  p99 {:.2} ms  CPU {:.3} ms each (whole system)   floor {:.3} ms ({:.1}x)",
            f(fig, "perSecond"),
            f(fig, "p50Ms"),
            f(fig, "p99Ms"),
            f(fig, "cpuMsEach"),
            f(sms, "floorMsEach"),
            f(sms, "cpuOverFloor"),
        );
    }
}

/// GetServiceState over HTTPS: the SP API server on 127.0.0.1 with a minted TLS certificate,
/// an SP client certificate, one pooled keep-alive connection per caller.
async fn https_requests<S: TsmStore + 'static>(
    args: &TsmBenchArgs,
    tsm: &Arc<Tsm<S>>,
    sp: &Sp,
    dir: &std::path::Path,
    msi: &str,
) -> Result<Latencies> {
    let cfg = crate::config::Config {
        data_dir: dir.join("server"),
        ..Default::default()
    }
    .resolve()?;
    let server_pki = crate::server_pki::load_or_mint(&cfg)?;
    let files = crate::server_pki::mint_sp(&dir.join("sps"), &sp.cert_subject)?;
    let server = crate::tsm_http::start(
        tsm.clone(),
        crate::tsm_http::TsmServerOptions {
            listen: "127.0.0.1:0".parse()?,
            tls_chain: server_pki.tls_chain.clone(),
            tls_key_pkcs8: server_pki.tls_key_pkcs8.clone(),
            sp_cas: crate::server_pki::load_chain(&files.ca_cert)?,
            delivery_interval: Duration::from_secs(3600),
            connector: None,
        },
    )
    .await?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::CertificateDer::from(
        server_pki.trusted_cis[0].der().to_vec(),
    ))?;
    let identity = crate::outbox::ClientIdentity {
        chain: crate::server_pki::load_chain(&files.client_cert)?,
        key_pkcs8: crate::server_pki::load_pkcs8(&files.client_key)?,
    };
    let clients: Arc<Vec<crate::outbox::HttpClient>> = Arc::new(
        (0..args.concurrency)
            .map(|_| crate::outbox::mtls_client(roots.clone(), &identity))
            .collect::<Result<_>>()?,
    );
    let url: Arc<str> = format!("{}/tsm/v1/GetServiceState", server.base_url).into();
    let body = hyper::body::Bytes::from(
        json!({"msi": msi, "serviceId": "pay", "serviceQualifier": "main"}).to_string(),
    );
    let figures = drive(args.requests, args.concurrency, move |worker, _| {
        let (clients, url, body) = (clients.clone(), url.clone(), body.clone());
        async move {
            let req = hyper::Request::post(&*url)
                .header("content-type", "application/json")
                .body(http_body_util::Full::new(body))?;
            let rsp = clients[worker].request(req).await?;
            let status = rsp.status();
            let bytes = http_body_util::BodyExt::collect(rsp.into_body())
                .await?
                .to_bytes();
            if status != 200 {
                bail!(
                    "GetServiceState over HTTPS: {status} {}",
                    String::from_utf8_lossy(&bytes)
                );
            }
            Ok(())
        }
    })
    .await?;
    server.shutdown().await;
    Ok(figures)
}
