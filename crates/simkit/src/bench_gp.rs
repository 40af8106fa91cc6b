//! `simkit bench gp`: GlobalPlatform secure-channel APDUs per second, SCP03 and SCP02, next to
//! the symmetric-crypto floor measured in the same run.
//!
//! The workload is GET STATUS of the applications and security domains (`80 F2 40 02`, data
//! `4F 00`, 'E3' format: GP CS v2.3.1 §11.4), answered by the ISD with one entry (an SSD
//! installed during setup). It changes no persistent state, so a served card file is never
//! saved while it is measured. Each figure is one secure channel session (SELECT ISD,
//! INITIALIZE UPDATE, EXTERNAL AUTHENTICATE, not timed) and then `-n` secured commands, each
//! wrapped by the host's `gp::Session`, sent, unwrapped by the card's session, executed, the
//! response wrapped by the card and unwrapped by the host:
//!
//! | protocol | keys | levels |
//! |---|---|---|
//! | SCP03 i=70 (Amd D) | AES-128, KVN 30 (factory) | C-MAC; C-MAC + C-DEC + R-MAC + R-ENC |
//! | SCP02 i=15 (GP CS Annex E) | 2-key 3DES, KVN 20 (PUT KEY in setup) | C-MAC; C-MAC + C-DEC |
//!
//! SCP02 i=15 has no R-MAC (b6 = 0), and SCP02 never has R-ENC, so C-MAC + C-DEC is its
//! strongest level.
//!
//! Paths:
//! 1. in-process: the virtual card's `card::Card::process_on(Protocol::Spi, ..)` (SPI is
//!    paired with the GlobalPlatform container out of the factory), no I/O;
//! 2. with `--vpcd[=HOST:PORT]`: PC/SC, libpcsclite → pcscd → vsmartcard's vpcd → TCP → the
//!    same card state served from a card file in this process ([`ServedCard`], as
//!    `simkit card serve --vpcd` does), over T=0/T=1 paired with the GP container in setup.
//!
//! The floor is the same APDU through two `gp::Session`s alone, host and card, no card logic
//! and no transport: host wrap, card unwrap, card wrap (of the very response the card gave),
//! host unwrap. It is the symmetric cryptography the flow cannot avoid.

use std::cell::RefCell;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use apdu::{CardTransport, Command, Response, StatusWord, TransportError};
use card::{CardIdentity, CardState, Protocol};
use gp::commands::{GetStatus, StatusSubset};
use gp::{
    CardConfig, CardHandshake, HostHandshake, InitializeUpdate, KeySet, Scp, SecurityLevel,
    SequenceCounter, Session,
};
use pki::mint::{TestPki, TestPkiConfig};
use pki::Curve;
use reader::vpcd::{self, Mode, Options, Stop, VpcdCard};
use serde_json::{json, Value};

use crate::card_file::PersistentCard;
use crate::card_serve::ServedCard;
use crate::gp_cmd::link::{ChannelParams, GpLink, DEFAULT_KEY, ISD_AID};
use crate::gp_cmd::{self, GpCommand, Hex, InstallArgs, KeyArgs, PutKeyArgs};

/// KVN of the DES key set put for SCP02.
const DES_KVN: u8 = 0x20;
/// The SSD installed in setup so that GET STATUS has an entry to return (the card's built-in
/// SD package and module, crates/card/src/gp/native.rs).
const SSD_AID: [u8; 9] = [0xA0, 0x00, 0x00, 0x01, 0x51, 0x53, 0x50, 0x41, 0x01];
const SD_PACKAGE: [u8; 7] = [0xA0, 0x00, 0x00, 0x01, 0x51, 0x53, 0x50];
const SD_MODULE: [u8; 8] = [0xA0, 0x00, 0x00, 0x01, 0x51, 0x53, 0x50, 0x41];
/// The pairing-administration key of the bench card (only this process knows the card).
const PAIRING_KEY: [u8; 16] = [0x5A; 16];
/// Commands before each measurement (sessions, caches, branch predictors warm).
const WARM_UP: u32 = 200;

#[derive(clap::Args, Debug, Clone)]
pub struct GpBenchArgs {
    /// Secured APDUs per figure.
    #[arg(short = 'n', long, default_value_t = 2000)]
    pub apdus: u32,
    /// Also measure through PC/SC: the card is put into vsmartcard's vpcd at HOST:PORT
    /// (default 127.0.0.1:35963, reader "Virtual PCD 00 00") and reached through pcscd.
    #[arg(
        long,
        value_name = "HOST:PORT",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = vpcd::DEFAULT_ADDR
    )]
    pub vpcd: Option<String>,
    /// The PC/SC reader vpcd shows at that address (default "Virtual PCD 00 0k" for port
    /// 35963 + k, vpcd's slot k).
    #[arg(long, requires = "vpcd", value_name = "NAME")]
    pub reader: Option<String>,
}

/// One protocol and security level.
#[derive(Debug, Clone, Copy)]
struct Config {
    scp: Scp,
    level: SecurityLevel,
    level_name: &'static str,
}

fn configs() -> Result<[Config; 4]> {
    let scp03 = Scp::scp03(0x70)?;
    let scp02 = Scp::scp02(0x15)?;
    Ok([
        Config {
            scp: scp03,
            level: SecurityLevel::C_MAC,
            level_name: "C-MAC",
        },
        Config {
            scp: scp03,
            level: SecurityLevel::C_DEC_R_ENC_C_MAC_R_MAC,
            level_name: "C-MAC+C-DEC+R-MAC+R-ENC",
        },
        Config {
            scp: scp02,
            level: SecurityLevel::C_MAC,
            level_name: "C-MAC",
        },
        Config {
            scp: scp02,
            level: SecurityLevel::C_DEC_C_MAC,
            level_name: "C-MAC+C-DEC",
        },
    ])
}

impl Config {
    fn is_scp02(&self) -> bool {
        matches!(self.scp, Scp::Scp02(_))
    }

    fn keys_name(&self) -> &'static str {
        if self.is_scp02() {
            "3DES (2-key)"
        } else {
            "AES-128"
        }
    }

    /// The host's key set for this protocol (the GP test key; KVN 30 AES, KVN 20 DES).
    fn key_set(&self) -> Result<KeySet> {
        Ok(if self.is_scp02() {
            KeySet::des(DES_KVN, &DEFAULT_KEY, &DEFAULT_KEY, &DEFAULT_KEY)?
        } else {
            KeySet::aes(
                card::gp::DEFAULT_KVN,
                &DEFAULT_KEY,
                &DEFAULT_KEY,
                &DEFAULT_KEY,
            )?
        })
    }

    fn channel_params(&self) -> ChannelParams {
        ChannelParams {
            enc: DEFAULT_KEY.to_vec(),
            mac: DEFAULT_KEY.to_vec(),
            dek: DEFAULT_KEY.to_vec(),
            kvn: if self.is_scp02() {
                DES_KVN
            } else {
                card::gp::DEFAULT_KVN
            },
            scp: Some(self.scp.id()),
            scp_i: Some(self.scp.i()),
            level: self.level,
            diversification: gp::Diversification::None,
        }
    }
}

/// Counts the transport exchanges (a T=0 answer `61xx` costs a GET RESPONSE more).
struct Counting<T> {
    inner: T,
    exchanges: Rc<RefCell<u64>>,
}

impl<T: CardTransport> CardTransport for Counting<T> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        *self.exchanges.borrow_mut() += 1;
        self.inner.transmit(apdu)
    }
}

/// The in-process card reached over SPI, shared with the setup code.
struct SpiCard(Rc<RefCell<PersistentCard>>);

impl CardTransport for SpiCard {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        Ok(self
            .0
            .borrow_mut()
            .card_mut()
            .process_on(Protocol::Spi, apdu))
    }
}

/// A timed run: `apdus` secured commands in `elapsed`.
#[derive(Debug, Clone)]
struct Timing {
    apdus: u32,
    exchanges: u64,
    elapsed: Duration,
}

impl Timing {
    fn us_per_apdu(&self) -> f64 {
        self.elapsed.as_secs_f64() * 1e6 / f64::from(self.apdus.max(1))
    }

    fn per_second(&self) -> f64 {
        f64::from(self.apdus) / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn json(&self) -> Value {
        json!({
            "apdus": self.apdus,
            "transportExchanges": self.exchanges,
            "seconds": self.elapsed.as_secs_f64(),
            "apdusPerSecond": self.per_second(),
            "microsecondsPerApdu": self.us_per_apdu(),
        })
    }
}

/// GET STATUS of the applications and SDs, 'E3' format (GP CS v2.3.1 §11.4.2).
fn workload() -> Command {
    GetStatus::all(StatusSubset::Applications).command()
}

/// Opens a session on `link` per `cfg`, warms up, times `n` GET STATUS. Returns the timing
/// and the plain response (for the floor).
fn measure(
    link: &mut GpLink,
    exchanges: &Rc<RefCell<u64>>,
    cfg: &Config,
    n: u32,
) -> Result<(Timing, Response)> {
    link.select(&ISD_AID)?;
    let info = link.open(&cfg.channel_params(), &mut crate::os_rng())?;
    if info.scp != cfg.scp {
        bail!("the card opened {:?}, not {:?}", info.scp, cfg.scp);
    }
    let cmd = workload();
    let mut last = Response::status(StatusWord::OK);
    for _ in 0..n.min(WARM_UP) {
        last = link.send(&cmd)?;
    }
    if last.sw != StatusWord::OK || last.data.is_empty() {
        bail!(
            "GET STATUS answered {} ({} bytes)",
            last.sw,
            last.data.len()
        );
    }
    *exchanges.borrow_mut() = 0;
    let start = Instant::now();
    let mut bad = None;
    for _ in 0..n {
        let r = link.send(&cmd)?;
        if r.sw != StatusWord::OK {
            bad = Some(r.sw);
        }
    }
    let elapsed = start.elapsed();
    if let Some(sw) = bad {
        bail!("GET STATUS answered {sw} during the measurement");
    }
    link.close();
    let timing = Timing {
        apdus: n,
        exchanges: *exchanges.borrow(),
        elapsed,
    };
    Ok((timing, last))
}

/// A host session and a card session that agree, made by a handshake between the two halves
/// of the `gp` crate (GP CS v2.3.1 Annex E.5, Amd D §7.1), no card around them.
fn session_pair(cfg: &Config) -> Result<(Session, Session)> {
    session_pair_with(&cfg.key_set()?, cfg.scp, cfg.level)
}

/// [`session_pair`] for any key set, protocol and security level.
pub(crate) fn session_pair_with(
    keys: &KeySet,
    scp: Scp,
    level: SecurityLevel,
) -> Result<(Session, Session)> {
    let mut rng = crate::os_rng();
    let mut host = HostHandshake::random(keys.clone(), false, &mut rng)?;
    if let Scp::Scp02(p) = scp {
        host = host.scp02_i(p.0)?;
    }
    let req = InitializeUpdate::parse(&host.initialize_update())?;
    let mut counter = if matches!(scp, Scp::Scp02(_)) {
        SequenceCounter::scp02(1)
    } else {
        SequenceCounter::scp03(0)?
    };
    let config = CardConfig {
        aid: ISD_AID.to_vec(),
        kdd: card::gp::GpConfig::default().kdd,
        scp,
    };
    let (card_hs, iu) =
        CardHandshake::initialize_update(&req, keys, &mut counter, &config, &mut rng)?;
    let (host_session, ext_auth, _) = host.authenticate(&iu, level)?;
    let (card_session, _) = card_hs.external_authenticate(&ext_auth, &mut counter)?;
    Ok((host_session, card_session))
}

/// One APDU's unavoidable cryptography: host wrap, card unwrap, card wrap, host unwrap.
pub(crate) fn floor_once(
    host: &mut Session,
    card: &mut Session,
    cmd: &Command,
    rsp: &Response,
) -> Result<(Command, Response)> {
    let wrapped = host.wrap_command(cmd)?;
    let seen = card.unwrap_command(&wrapped)?;
    let protected = card.wrap_response(rsp)?;
    let back = host.unwrap_response(&protected)?;
    Ok((seen, back))
}

/// The floor for `cfg`: `n` round trips of the workload and `rsp` through two sessions.
fn floor(cfg: &Config, rsp: &Response, n: u32) -> Result<Timing> {
    let (mut host, mut card) = session_pair(cfg)?;
    let cmd = workload();
    for _ in 0..n.min(WARM_UP) {
        let (seen, back) = floor_once(&mut host, &mut card, &cmd, rsp)?;
        // Both sides agree: the card sees the plain command, the host the plain response.
        if seen != cmd || back != *rsp {
            bail!("the floor sessions do not round-trip the APDU");
        }
    }
    let start = Instant::now();
    for _ in 0..n {
        black_box(floor_once(
            &mut host,
            &mut card,
            black_box(&cmd),
            black_box(rsp),
        )?);
    }
    Ok(Timing {
        apdus: n,
        exchanges: 0,
        elapsed: start.elapsed(),
    })
}

/// SET PAIRING DATA (crates/card/src/pairing.rs): `entries` changed in the card's table.
fn set_pairing(pc: &Rc<RefCell<PersistentCard>>, entries: &[&str]) -> Result<()> {
    let mut pc = pc.borrow_mut();
    let store = &pc.card().state().pairing;
    let table = store.table().map_err(|e| anyhow!("pairing table: {e}"))?;
    let counter = store.admin_counter().saturating_add(1);
    let entries: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
    let table = crate::pairing_cmd::apply_entries(&table, &entries)?;
    let data = card::pairing::set_command_data(&PAIRING_KEY, &table.encode(), counter)?;
    let cmd = Command::with_data(
        0x80,
        card::pairing::INS_PAIRING_DATA,
        card::pairing::P1_SET,
        0x00,
        data,
    )
    .encode()?;
    let r = Response::parse(&pc.card_mut().process_on(Protocol::Spi, &cmd))?;
    if r.sw != StatusWord::OK {
        bail!("SET PAIRING DATA answered {}", r.sw);
    }
    Ok(())
}

fn key_args(level: SecurityLevel) -> KeyArgs {
    KeyArgs {
        key: None,
        key_enc: None,
        key_mac: None,
        key_dek: None,
        kvn: 0,
        scp: Some(0x03),
        scp_i: None,
        sec_level: level,
        emv: false,
        visa2: false,
        kdf3: false,
    }
}

/// A fresh card file in `dir`, set up for the bench: T=0/T=1 paired with the GP container,
/// an SSD installed (one GET STATUS entry), a DES key set (KVN 20) put for SCP02.
fn bench_card(dir: &Path) -> Result<(PathBuf, Rc<RefCell<PersistentCard>>)> {
    let cfg = TestPkiConfig::new(Curve::NistP256, crate::unix_now().saturating_sub(3600));
    let pki = TestPki::generate(&cfg, &mut crate::os_rng())?;
    let identity = CardIdentity::new(
        pki.euicc.cert.der(),
        pki.eum.cert.der(),
        pki.euicc.key,
        &[pki.ci.cert.der()],
    )?;
    let path = dir.join("bench-gp-card");
    let state = CardState::with_pairing_admin_key(&PAIRING_KEY)?;
    let pc = Rc::new(RefCell::new(PersistentCard::create(
        &path, identity, state, true,
    )?));
    set_pairing(&pc, &["t0=gp", "t1=gp"])?;
    let mut link = GpLink::new(Box::new(SpiCard(pc.clone())));
    let install = GpCommand::Install(InstallArgs {
        load: None,
        skip_descriptor: false,
        hash: false,
        block_size: None,
        install: false,
        create: Some(Hex(SSD_AID.to_vec())),
        package: Some(Hex(SD_PACKAGE.to_vec())),
        applet: Some(Hex(SD_MODULE.to_vec())),
        params: None,
        privs: Some(gp_cmd::names::parse_privileges("SecurityDomain").map_err(|e| anyhow!("{e}"))?),
        to: None,
    });
    gp_cmd::run_on(
        &mut link,
        &ISD_AID,
        &key_args(SecurityLevel::C_MAC),
        install,
    )
    .context("INSTALL of the SSD")?;
    let put_key = GpCommand::PutKey(PutKeyArgs {
        new_key: Some(Hex(DEFAULT_KEY.to_vec())),
        new_key_enc: None,
        new_key_mac: None,
        new_key_dek: None,
        new_kvn: Some(DES_KVN),
        replace: None,
        new_type: Some("des".into()),
        rotate: false,
    });
    gp_cmd::run_on(
        &mut link,
        &ISD_AID,
        &key_args(SecurityLevel::C_DEC_C_MAC),
        put_key,
    )
    .context("PUT KEY of the DES key set")?;
    pc.borrow_mut().save_if_changed()?;
    Ok((path, pc))
}

/// vpcd's reader name for slot `port - 35963` ("Virtual PCD 00 0k": pcsc-lite names a
/// reader "NAME RR SS", reader and slot numbers in hex; vpcd gives slot k port 35963 + k).
pub fn vpcd_reader_name(addr: &str) -> Option<String> {
    let port: u16 = addr.rsplit_once(':')?.1.parse().ok()?;
    let slot = port.checked_sub(vpcd::DEFAULT_PORT)?;
    (slot < 16).then(|| format!("Virtual PCD 00 {slot:02X}"))
}

/// The PC/SC figures: the card file served to vpcd at `addr` on a thread, measured through
/// pcscd with the same configurations.
fn pcsc_figures(
    state: &Path,
    addr: &str,
    reader_name: &str,
    cfgs: &[Config],
    n: u32,
) -> Result<Vec<Timing>> {
    let ctx = reader::pcsc::Context::establish()?;
    match ctx.reader_states()?.iter().find(|r| r.name == reader_name) {
        None => bail!("pcscd has no reader {reader_name:?} (is vsmartcard-vpcd installed?)"),
        Some(r) if r.card_present => {
            bail!("{reader_name} already holds a card (another `simkit card serve`?)")
        }
        Some(_) => {}
    }
    let card = ServedCard::open(state)?;
    let stop = Stop::new();
    let s2 = stop.clone();
    let mode = Mode::Connect(addr.to_string());
    let handle = std::thread::spawn(move || {
        let mut card = VpcdCard::new(card);
        let opts = Options {
            reconnect: false,
            retry_interval: Duration::from_millis(20),
        };
        vpcd::run(&mode, &mut card, &opts, &s2, &mut |_| {})
    });
    let result = (|| {
        let name = ctx.wait_for_card(Some(reader_name), Duration::from_secs(10))?;
        let card = ctx.connect(&name, reader::pcsc::Share::Exclusive)?;
        let exchanges = Rc::new(RefCell::new(0));
        let mut link = GpLink::new(Box::new(Counting {
            inner: card,
            exchanges: exchanges.clone(),
        }));
        cfgs.iter()
            .map(|cfg| Ok(measure(&mut link, &exchanges, cfg, n)?.0))
            .collect::<Result<Vec<_>>>()
    })();
    stop.stop();
    let served = handle.join();
    let timings = result?;
    match served {
        Ok(Err(e)) => bail!("serving the card to vpcd: {e}"),
        Err(_) => bail!("the vpcd thread panicked"),
        Ok(Ok(())) => Ok(timings),
    }
}

struct Figure {
    cfg: Config,
    in_process: Timing,
    floor: Timing,
    pcsc: Option<Timing>,
    response_len: usize,
}

impl Figure {
    fn over_floor(&self) -> f64 {
        self.in_process.us_per_apdu() / self.floor.us_per_apdu().max(1e-9)
    }

    fn json(&self) -> Value {
        json!({
            "scp": format!("{:02X}", self.cfg.scp.id()),
            "i": format!("{:02X}", self.cfg.scp.i()),
            "keys": self.cfg.keys_name(),
            "securityLevel": format!("{:02X}", self.cfg.level.p1()),
            "levelName": self.cfg.level_name,
            "responseDataBytes": self.response_len,
            "inProcess": self.in_process.json(),
            "pcsc": self.pcsc.as_ref().map(Timing::json),
            "floor": self.floor.json(),
            "inProcessOverFloor": self.over_floor(),
            "pcscOverFloor": self.pcsc.as_ref().map(|p| p.us_per_apdu() / self.floor.us_per_apdu().max(1e-9)),
        })
    }
}

pub fn run(args: GpBenchArgs, json_out: bool) -> Result<()> {
    if args.apdus == 0 {
        bail!("-n must be at least 1");
    }
    let n = args.apdus;
    let pcsc_target = match &args.vpcd {
        None => None,
        Some(addr) => {
            let name = match &args.reader {
                Some(r) => r.clone(),
                None => vpcd_reader_name(addr).ok_or_else(|| {
                    anyhow!("no vpcd slot at {addr:?}: give the reader with --reader")
                })?,
            };
            Some((addr.clone(), name))
        }
    };
    let tmp = tempfile::tempdir()?;
    let (state, pc) = bench_card(tmp.path())?;
    let cfgs = configs()?;

    let exchanges = Rc::new(RefCell::new(0));
    let mut link = GpLink::new(Box::new(Counting {
        inner: SpiCard(pc.clone()),
        exchanges: exchanges.clone(),
    }));
    let mut figures = Vec::new();
    for cfg in cfgs {
        let (in_process, rsp) = measure(&mut link, &exchanges, &cfg, n)
            .with_context(|| format!("in-process, SCP{:02X} {}", cfg.scp.id(), cfg.level_name))?;
        let floor = floor(&cfg, &rsp, n)?;
        figures.push(Figure {
            cfg,
            in_process,
            floor,
            pcsc: None,
            response_len: rsp.data.len(),
        });
    }
    drop(link);
    drop(pc);

    let pcsc_skipped = match &pcsc_target {
        None => Some("not requested (--vpcd)".to_string()),
        Some((addr, name)) => match pcsc_figures(&state, addr, name, &cfgs, n) {
            Ok(timings) => {
                for (f, t) in figures.iter_mut().zip(timings) {
                    f.pcsc = Some(t);
                }
                None
            }
            Err(e) => Some(format!("{e:#}")),
        },
    };

    let workload_name = format!(
        "GET STATUS {} (applications and SDs, 'E3' format; one entry)",
        hex::encode_upper(workload().encode()?)
    );
    if json_out {
        println!(
            "{}",
            json!({
                "workload": workload_name,
                "apdusPerFigure": n,
                "figures": figures.iter().map(Figure::json).collect::<Vec<_>>(),
                "pcscReader": pcsc_target.as_ref().map(|(_, r)| r.clone()),
                "pcscSkipped": pcsc_skipped,
            })
        );
        return Ok(());
    }
    println!("GlobalPlatform secure channel: {workload_name}, {n} per figure, one session each");
    println!(
        "  {:<12} {:<24} {:>22} {:>22} {:>22} {:>8}",
        "protocol", "level", "in-process", "PC/SC (vpcd)", "floor (crypto only)", "x floor"
    );
    let cell = |t: &Timing| format!("{:>9.0}/s {:>7.1} us", t.per_second(), t.us_per_apdu());
    for f in &figures {
        println!(
            "  {:<12} {:<24} {:>22} {:>22} {:>22} {:>8.1}",
            format!("SCP{:02X} i={:02X}", f.cfg.scp.id(), f.cfg.scp.i()),
            f.cfg.level_name,
            cell(&f.in_process),
            f.pcsc.as_ref().map(cell).unwrap_or_else(|| "-".into()),
            cell(&f.floor),
            f.over_floor(),
        );
    }
    if let Some(why) = pcsc_skipped {
        println!("  PC/SC figures skipped: {why}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_names_of_vpcd_slots() {
        assert_eq!(
            vpcd_reader_name("127.0.0.1:35963").as_deref(),
            Some("Virtual PCD 00 00")
        );
        assert_eq!(
            vpcd_reader_name("localhost:35964").as_deref(),
            Some("Virtual PCD 00 01")
        );
        assert_eq!(vpcd_reader_name("127.0.0.1:80"), None);
        assert_eq!(vpcd_reader_name("no-port"), None);
    }

    /// The floor's two sessions really protect the APDU at each level: the wire form differs
    /// from the plain one, each side recovers the other's plain APDU, and an altered command
    /// is refused by the card session (GP CS v2.3.1 §10.2.3: `6982`).
    #[test]
    fn floor_sessions_round_trip_at_every_level() {
        let rsp = Response::ok(vec![0xE3, 0x03, 0x4F, 0x01, 0xAA]);
        let cmd = workload();
        for cfg in configs().unwrap() {
            let (mut host, mut card) = session_pair(&cfg).unwrap();
            let wrapped = host.wrap_command(&cmd).unwrap();
            assert_ne!(wrapped.data, cmd.data, "{cfg:?}");
            assert_eq!(card.unwrap_command(&wrapped).unwrap(), cmd, "{cfg:?}");
            let protected = card.wrap_response(&rsp).unwrap();
            if cfg.level.r_encryption() {
                assert_ne!(protected.data, rsp.data, "{cfg:?}");
            }
            assert_eq!(host.unwrap_response(&protected).unwrap(), rsp, "{cfg:?}");
            let (seen, back) = floor_once(&mut host, &mut card, &cmd, &rsp).unwrap();
            assert_eq!((seen, back), (cmd.clone(), rsp.clone()));

            let mut bad = host.wrap_command(&cmd).unwrap();
            if let Some(b) = bad.data.last_mut() {
                *b ^= 0x01;
            }
            let e = card.unwrap_command(&bad).unwrap_err();
            assert_eq!(e.status_word(), StatusWord::SECURITY_STATUS_NOT_SATISFIED);

            assert!(floor(&cfg, &rsp, 5).is_ok(), "{cfg:?}");
        }
    }
}
