//! `simkit demo`: the whole eSIM download on one machine, with zero configuration, narrated.
//!
//! 1. an SM-DP+ on loopback HTTPS over an embedded SQLite database (or `--database`);
//! 2. its profile inventory, personalized from a TS.48 test package;
//! 3. a virtual eUICC in a sealed card file, certified by the same test PKI;
//! 4. the operator's ES2+ downloadOrder + confirmOrder, giving an activation code;
//! 5. the LPA's download with that code (ES9+ over HTTPS, ES10 over APDUs);
//! 6. enabling the profile and delivering the notifications back to the SM-DP+.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use card::CardIdentity;
use lpa::http::HttpTransport;
use lpa::{Es9Transport, Lpa, LpaError, NotificationStatus};
use pki::mint::{TestPki, TestPkiConfig};
use pki::Curve;
use rsp::es10c::ProfileIdentifier;
use serde::de::DeserializeOwned;
use serde::Serialize;
use smdp::es2p::{self, RequestHeader};
use smdp::SmdpStore;

use crate::card_file::PersistentCard;
use crate::config::Config;
use crate::inventory::{self, ImportArgs};
use crate::pki_cmd::{load_certificate, load_key, CurveArg};

/// The TS.48 test profile the demo loads, relative to the repository root (`../shared`).
const PACKAGE: &str = "../shared/reference/ts48-profiles/TS48V2-SAIP2-1-BERTLV-UNIQUE.der";
/// The same file located from the source tree, for runs from another directory.
const PACKAGE_FROM_SOURCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/reference/ts48-profiles/TS48V2-SAIP2-1-BERTLV-UNIQUE.der"
);
/// The operator placing the order (ES2+ functionRequesterIdentifier).
const OPERATOR: &str = "demo-operator";
/// Type Allocation Code of the demo device (DeviceInfo, SGP.22 §5.7.13).
const TAC: [u8; 4] = [0x35, 0x29, 0x06, 0x11];

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Keep the SM-DP+ database, PKI, master key and card file here (default: a fresh
    /// temporary directory, removed at the end).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Database URL instead of the embedded SQLite file (e.g. postgres://...).
    #[arg(long)]
    pub database: Option<String>,
    /// PostgreSQL schema to create and use (keeps demo tables apart).
    #[arg(long)]
    pub database_schema: Option<String>,
    /// Curve of the RSP keys (DPauth, DPpb, eUICC); TLS stays on NIST P-256.
    #[arg(long, value_enum, default_value = "nist")]
    pub curve: CurveArg,
    /// Unprotected profile package for the inventory (default: the TS.48 V2 test profile).
    #[arg(long)]
    pub package: Option<PathBuf>,
}

/// What the demo did, for `--json` and for tests.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DemoReport {
    pub smdp_address: String,
    pub database: String,
    pub curve: String,
    pub eid: String,
    pub iccid: String,
    pub imsi: String,
    pub activation_code: String,
    pub isdp_aid: String,
    pub smdp_profile_state: String,
    pub card_profile_state: String,
    /// ICCID and IMSI of the profile on the card, read back from the reopened card file.
    pub installed_iccid: String,
    pub installed_imsi: String,
    pub notifications_delivered: usize,
    pub es9_calls: Vec<Es9Call>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Es9Call {
    pub function: String,
    pub status: u16,
    pub millis: f64,
}

pub fn cli(args: DemoArgs, json: bool) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(run(args, !json))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}

/// Prints a step when narrating.
struct Narrator {
    on: bool,
    step: u32,
}

impl Narrator {
    fn step(&mut self, title: &str) {
        if self.on {
            self.step += 1;
            println!("\n[{}] {title}", self.step);
        }
    }
    fn say(&self, line: impl AsRef<str>) {
        if self.on {
            println!("    {}", line.as_ref());
        }
    }
}

pub async fn run(args: DemoArgs, narrate: bool) -> Result<DemoReport> {
    let mut n = Narrator {
        on: narrate,
        step: 0,
    };
    let curve = Curve::from(args.curve);
    let package = match &args.package {
        Some(p) => p.clone(),
        None => [PACKAGE, PACKAGE_FROM_SOURCE]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .with_context(|| format!("no profile package at {PACKAGE}: pass --package FILE"))?,
    };
    let temp;
    let data_dir = match &args.data_dir {
        Some(d) => d.clone(),
        None => {
            temp = tempfile::tempdir().context("temporary directory")?;
            temp.path().to_path_buf()
        }
    };

    // 1. The SM-DP+.
    n.step("Starting an SM-DP+ on loopback (HTTPS, test PKI minted on first start)");
    let mut config = Config {
        data_dir: data_dir.clone(),
        database_url: args.database.clone(),
        database_schema: args.database_schema.clone(),
        listen: "127.0.0.1:0".parse()?,
        ..Config::default()
    };
    config.outbox.enabled = false;
    let pki_dir = config.pki_dir();
    prepare_pki(&config, &pki_dir, curve)?;
    let server = crate::serve::start(config.clone()).await?;
    let database = redact(&server.config.database_url());
    n.say(format!("SM-DP+ address   {}", server.smdp_address));
    n.say(format!("listening on     {}", server.base_url));
    n.say(format!("database         {database}"));
    n.say(format!(
        "RSP keys         {curve} (DPauth, DPpb), TLS on NIST P-256, PKI in {}",
        pki_dir.display()
    ));

    let result = download_story(&mut n, &server, &data_dir, &pki_dir, curve, &package).await;
    server.shutdown().await;
    let mut report = result?;
    report.database = database;
    n.step("Done");
    n.say("The SM-DP+ ran the whole SGP.22 flow; the card file keeps the installed profile.");
    Ok(report)
}

/// Mints the SM-DP+ PKI before the server starts; for brainpool, a second PKI on that curve
/// beside the NIST one (which still provides the TLS certificate).
fn prepare_pki(config: &Config, dir: &Path, curve: Curve) -> Result<()> {
    let nist_present = dir.join("CERT_S_SM_DPauth_ECDSA_NIST.der").exists();
    if !nist_present {
        crate::server_pki::mint_into(config, dir)?;
    }
    let tag = curve.sgp26_tag();
    if curve != Curve::NistP256
        && !dir
            .join(format!("CERT_S_SM_DPauth_ECDSA_{tag}.der"))
            .exists()
    {
        let mut cfg = TestPkiConfig::new(curve, crate::unix_now().saturating_sub(3600));
        cfg.dp_tls_host = "localhost".into();
        TestPki::generate(&cfg, &mut crate::os_rng())?.write_to_dir(dir)?;
    }
    Ok(())
}

async fn download_story(
    n: &mut Narrator,
    server: &crate::serve::RunningServer,
    data_dir: &Path,
    pki_dir: &Path,
    curve: Curve,
    package: &Path,
) -> Result<DemoReport> {
    // 2. Inventory.
    n.step("Loading the profile inventory");
    // Fresh numbers each run, so a kept data directory or a shared database takes another demo.
    let serial = random_digits(10);
    let iccid_body = format!("89440000{serial}");
    let check = inventory::luhn_check_digit(&iccid_body).context("ICCID body")?;
    let iccid_start = format!("{iccid_body}{check}");
    let imsi_start = format!("00101{serial}");
    let import = inventory::import_with_config(
        &server.config,
        &ImportArgs::single(package.to_path_buf(), iccid_start, imsi_start),
    )
    .await?;
    n.say(format!(
        "{} personalized with ICCID {} and IMSI {} (fresh K/OPc, sealed at rest)",
        package.display(),
        import.first_iccid,
        import.first_imsi
    ));

    // 3. The virtual eUICC.
    n.step("Creating a virtual eUICC (sealed card file)");
    let card_path = data_dir.join("euicc.card");
    let identity = card_identity(pki_dir, curve)?;
    let eid = identity.eid_string();
    let mut card = PersistentCard::create(&card_path, identity, card::CardState::default(), true)?;
    n.say(format!(
        "EID {eid}, certified by the test EUM; card file {}",
        card_path.display()
    ));

    // 4. The operator's order.
    n.step("Operator: ES2+ downloadOrder and confirmOrder");
    let http = HttpTransport::new(&server.trusted_ci_der, false)?;
    let ordered: es2p::DownloadOrderResponse = es2(
        &http,
        &server.smdp_address,
        es2p::PATH_DOWNLOAD_ORDER,
        &es2p::DownloadOrderRequest {
            header: header("1"),
            eid: None,
            iccid: Some(import.first_iccid.clone()),
            profile_type: None,
        },
    )
    .await?;
    let iccid = ordered.iccid.context("downloadOrder returned no ICCID")?;
    let confirmed: es2p::ConfirmOrderResponse = es2(
        &http,
        &server.smdp_address,
        es2p::PATH_CONFIRM_ORDER,
        &es2p::ConfirmOrderRequest {
            header: header("2"),
            iccid: iccid.clone(),
            eid: None,
            matching_id: None,
            confirmation_code: None,
            smds_address: None,
            release_flag: true,
        },
    )
    .await?;
    let matching_id = confirmed
        .matching_id
        .context("confirmOrder returned no matchingId")?;
    let address = confirmed
        .smdp_address
        .unwrap_or_else(|| server.smdp_address.clone());
    let activation_code = format!("LPA:1${address}${matching_id}");
    n.say(format!(
        "order for ICCID {iccid} released; matchingId {matching_id}"
    ));
    n.say(format!("activation code  {activation_code}"));

    // 5. The download.
    n.step("LPA: profile download with the activation code");
    let traced = Traced {
        inner: http.clone(),
        narrate: n.on,
        calls: Default::default(),
    };
    let device = lpa::default_device_info(TAC, None);
    let result = Lpa::new(&mut card)
        .download(&traced, &activation_code, None, &device, |md| {
            if n.on {
                println!(
                    "    confirm: \"{}\" from \"{}\" (ICCID {}) -> accepted",
                    md.profile_name, md.service_provider_name, md.iccid
                );
            }
            true
        })
        .await
        .map_err(lpa_error)?;
    let pir = match &result.pir_notification {
        NotificationStatus::Removed => {
            "delivered to the SM-DP+ and removed from the eUICC".to_string()
        }
        other => format!("{other:?}"),
    };
    n.say(format!(
        "installed ICCID {} in ISD-P {}",
        result.iccid,
        hex::encode_upper(&result.isdp_aid)
    ));
    n.say(format!("installation result: {pir}"));
    let smdp_iccid = smdp::Iccid::parse(&iccid).map_err(|e| anyhow::anyhow!("{e}"))?;
    let smdp_state = server
        .database
        .get_profile(&smdp_iccid)
        .await?
        .map(|p| p.state);
    n.say(format!(
        "SM-DP+ profile state: {}",
        smdp_state.map(|s| s.as_str()).unwrap_or("unknown")
    ));

    // 6. Enable and notify.
    n.step("LPA: enable the profile and deliver the notifications");
    let mut lpa = Lpa::new(&mut card);
    lpa.enable(ProfileIdentifier::Iccid(result.iccid), false)
        .map_err(lpa_error)?;
    let profiles = lpa.profiles().map_err(lpa_error)?;
    for p in &profiles {
        n.say(format!(
            "profile {} \"{}\" is {}",
            p.iccid.map(|i| i.to_string()).unwrap_or_default(),
            p.profile_name.clone().unwrap_or_default(),
            p.profile_state.and_then(|s| s.name()).unwrap_or("?")
        ));
    }
    let outcomes = lpa
        .process_notifications(&traced)
        .await
        .map_err(lpa_error)?;
    let delivered = outcomes
        .iter()
        .filter(|o| matches!(o.status, NotificationStatus::Removed))
        .count();
    for o in &outcomes {
        n.say(format!(
            "notification #{} {:?} -> {}: {:?}",
            o.seq_number, o.event, o.address, o.status
        ));
    }
    drop(lpa);

    // The card file survives a restart.
    drop(card);
    let reopened = PersistentCard::open(&card_path)?;
    let installed = reopened
        .card()
        .state()
        .profiles
        .first()
        .context("no profile after reopening the card")?;
    let card_state = format!("{:?}", installed.state);
    n.say(format!(
        "card file reopened: the profile with IMSI {} is still {card_state}",
        installed.imsi.clone().unwrap_or_default()
    ));
    let smdp_state = server
        .database
        .get_profile(&smdp_iccid)
        .await?
        .map(|p| p.state.as_str().to_string());

    let calls = traced.calls.lock().map(|c| c.clone()).unwrap_or_default();
    Ok(DemoReport {
        smdp_address: address,
        database: String::new(),
        curve: curve.to_string(),
        eid,
        iccid,
        imsi: import.first_imsi,
        activation_code,
        isdp_aid: hex::encode_upper(&result.isdp_aid),
        smdp_profile_state: smdp_state.unwrap_or_default(),
        card_profile_state: card_state,
        installed_iccid: saip::ProfilePackage::parse(&installed.package)
            .map(|p| p.iccid().to_string())
            .unwrap_or_default(),
        installed_imsi: installed.imsi.clone().unwrap_or_default(),
        notifications_delivered: delivered,
        es9_calls: calls,
    })
}

/// The eUICC identity minted into the SM-DP+'s PKI directory for `curve`; it trusts every CI
/// found there.
fn card_identity(dir: &Path, curve: Curve) -> Result<CardIdentity> {
    let tag = curve.sgp26_tag();
    let euicc = load_certificate(&dir.join(format!("CERT_EUICC_ECDSA_{tag}.der")))?;
    let key = load_key(&dir.join(format!("SK_EUICC_ECDSA_{tag}.pem")))?;
    let eum = load_certificate(&dir.join(format!("CERT_EUM_ECDSA_{tag}.der")))?;
    let mut cis = Vec::new();
    for t in [
        tag,
        Curve::NistP256.sgp26_tag(),
        Curve::BrainpoolP256r1.sgp26_tag(),
    ] {
        let path = dir.join(format!("CERT_CI_ECDSA_{t}.der"));
        if path.exists()
            && !cis
                .iter()
                .any(|c: &pki::Certificate| c.der() == std::fs::read(&path).unwrap_or_default())
        {
            cis.push(load_certificate(&path)?);
        }
    }
    let ci_der: Vec<&[u8]> = cis.iter().map(|c| c.der()).collect();
    CardIdentity::new(euicc.der(), eum.der(), key, &ci_der)
        .map_err(|e| anyhow::anyhow!("card identity: {e}"))
}

/// `n` random decimal digits from the OS CSPRNG.
fn random_digits(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand_core::Rng::fill_bytes(&mut crate::os_rng(), &mut bytes);
    bytes.iter().map(|b| char::from(b'0' + b % 10)).collect()
}

fn header(call: &str) -> RequestHeader {
    RequestHeader {
        function_requester_identifier: OPERATOR.into(),
        function_call_identifier: format!("demo-{call}"),
    }
}

/// One ES2+ call; a `Failed` execution status becomes an error with its SGP.22 code.
async fn es2<Req: Serialize, Resp: DeserializeOwned + HasHeader>(
    http: &HttpTransport,
    address: &str,
    path: &str,
    request: &Req,
) -> Result<Resp> {
    let (status, body) = http
        .post(address, path, serde_json::to_vec(request)?)
        .await
        .map_err(lpa_error)?;
    if status != 200 {
        bail!("ES2+ {path}: HTTP {status}");
    }
    let response: Resp =
        serde_json::from_slice(&body).with_context(|| format!("ES2+ {path}: response"))?;
    if let Some(code) = response.failure() {
        bail!("ES2+ {path} failed: {code}");
    }
    Ok(response)
}

trait HasHeader {
    fn failure(&self) -> Option<String>;
}

macro_rules! has_header {
    ($($t:ty),*) => {$(
        impl HasHeader for $t {
            fn failure(&self) -> Option<String> {
                let status = &self.header.function_execution_status;
                status.status_code_data.as_ref().map(|d| format!("{}/{} {}", d.subject_code, d.reason_code, d.message.clone().unwrap_or_default()))
            }
        }
    )*};
}
has_header!(es2p::DownloadOrderResponse, es2p::ConfirmOrderResponse);

fn lpa_error(e: LpaError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Hides a password in a database URL.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// An ES9+ link that narrates each call and records its latency.
#[derive(Clone)]
struct Traced {
    inner: HttpTransport,
    narrate: bool,
    calls: std::sync::Arc<std::sync::Mutex<Vec<Es9Call>>>,
}

impl Es9Transport for Traced {
    async fn post(
        &self,
        address: &str,
        path: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), LpaError> {
        let started = Instant::now();
        let result = self.inner.post(address, path, body).await;
        let millis = started.elapsed().as_secs_f64() * 1000.0;
        let function = path.rsplit('/').next().unwrap_or(path).to_string();
        if let Ok((status, _)) = &result {
            if self.narrate {
                println!("    ES9+ {function:<24} HTTP {status}  {millis:6.1} ms");
            }
            if let Ok(mut calls) = self.calls.lock() {
                calls.push(Es9Call {
                    function,
                    status: *status,
                    millis,
                });
            }
        }
        result
    }
}
