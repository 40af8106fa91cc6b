//! `simkit bench apdu`: APDUs per second through each card path.
//!
//! The workload is the cheapest complete ES10 call an LPA makes: ES10b.GetEUICCInfo1 (STORE
//! DATA `BF20 00` on a logical channel where the ISD-R is selected, plus GET RESPONSE when the
//! card answers `61xx`; SGP.22 §5.7.8, §5.7.2). The same card file answers through:
//!
//! 1. the in-process transport (the card file's `PersistentCard`, no I/O: the floor);
//! 2. vpcd framing over a loopback TCP socket, with this process playing vpcd (the cost of the
//!    socket and the protocol, without pcscd);
//! 3. PC/SC: libpcsclite → pcscd → vpcd → TCP → the card (the real path of every PC/SC tool),
//!    when pcscd with vsmartcard-vpcd is running and its reader is free.
//!
//! Each figure is the whole round trip as the host sees it, single-threaded. The card does not
//! change state, so no save happens.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use apdu::{CardTransport, TransportError};
use card::{CardIdentity, CardState};
use pki::mint::{TestPki, TestPkiConfig};
use pki::Curve;
use reader::vpcd::{self, Mode, Options, Stop, VpcdCard};
use serde_json::json;

use crate::card_file::PersistentCard;
use crate::card_serve::ServedCard;

/// ES10b.GetEUICCInfo1: `BF20` with no content (SGP.22 §5.7.8).
const GET_EUICC_INFO1: [u8; 3] = [0xBF, 0x20, 0x00];
/// The vpcd reader slot behind port 35963.
const VPCD_READER: &str = "Virtual PCD 00 00";

#[derive(clap::Args, Debug, Clone)]
pub struct ApduArgs {
    /// ES10 calls per measurement (each is one STORE DATA, plus GET RESPONSE if needed).
    #[arg(short = 'n', long, default_value_t = 2000)]
    pub calls: u32,
    /// Card file to answer (default: a fresh card in a temporary directory).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// vpcd's address for the PC/SC figure (pcscd's default vpcd configuration).
    #[arg(long, value_name = "HOST:PORT", default_value = vpcd::DEFAULT_ADDR)]
    pub vpcd: String,
    /// Skip the PC/SC figure.
    #[arg(long)]
    pub no_pcsc: bool,
}

/// Counts the APDUs a transport carries.
struct Counting<T> {
    inner: T,
    apdus: u64,
}

impl<T: CardTransport> CardTransport for Counting<T> {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.apdus += 1;
        self.inner.transmit(apdu)
    }
}

struct Figure {
    path: &'static str,
    calls: u32,
    apdus: u64,
    elapsed: Duration,
}

impl Figure {
    fn apdus_per_sec(&self) -> f64 {
        self.apdus as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    fn calls_per_sec(&self) -> f64 {
        f64::from(self.calls) / self.elapsed.as_secs_f64().max(1e-9)
    }
    fn json(&self) -> serde_json::Value {
        json!({
            "path": self.path,
            "es10Calls": self.calls,
            "apdus": self.apdus,
            "seconds": self.elapsed.as_secs_f64(),
            "apdusPerSecond": self.apdus_per_sec(),
            "es10CallsPerSecond": self.calls_per_sec(),
            "microsecondsPerApdu": self.elapsed.as_secs_f64() * 1e6 / (self.apdus.max(1) as f64),
        })
    }
}

/// Opens a channel, selects the ISD-R, warms up, then times `calls` GetEUICCInfo1 calls.
fn measure<T: CardTransport>(path: &'static str, t: T, calls: u32) -> Result<Figure> {
    let mut t = Counting { inner: t, apdus: 0 };
    let ch = apdu::open_channel(&mut t).context("MANAGE CHANNEL")?;
    apdu::select_aid(&mut t, ch, &apdu::ISD_R_AID).context("SELECT ISD-R")?;
    for _ in 0..calls.min(50) {
        apdu::es10_exchange(&mut t, ch, &GET_EUICC_INFO1)?;
    }
    t.apdus = 0;
    let start = Instant::now();
    for _ in 0..calls {
        apdu::es10_exchange(&mut t, ch, &GET_EUICC_INFO1)?;
    }
    let elapsed = start.elapsed();
    let apdus = t.apdus;
    apdu::close_channel(&mut t, ch)?;
    Ok(Figure {
        path,
        calls,
        apdus,
        elapsed,
    })
}

/// This process as vpcd: frames each APDU to the card over TCP (vpcd.c `vicc_transmit`).
struct FakeVpcd(TcpStream);

impl CardTransport for FakeVpcd {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        let io = |e: std::io::Error| TransportError::Other(e.to_string());
        let frame = vpcd::encode_frame(apdu).map_err(|e| TransportError::Other(e.to_string()))?;
        self.0.write_all(&frame).map_err(io)?;
        let mut hdr = [0u8; 2];
        self.0.read_exact(&mut hdr).map_err(io)?;
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(hdr))];
        self.0.read_exact(&mut body).map_err(io)?;
        Ok(body)
    }
}

/// Serves `state` to vpcd at `mode` on a thread until the returned [`Stop`] is used.
fn serve_in_thread(
    state: PathBuf,
    mode: Mode,
) -> Result<(Stop, std::thread::JoinHandle<Result<(), vpcd::VpcdError>>)> {
    let card = ServedCard::open(&state)?;
    let stop = Stop::new();
    let s2 = stop.clone();
    let handle = std::thread::spawn(move || {
        let mut card = VpcdCard::new(card);
        let opts = Options {
            reconnect: false,
            retry_interval: Duration::from_millis(20),
        };
        vpcd::run(&mode, &mut card, &opts, &s2, &mut |_| {})
    });
    Ok((stop, handle))
}

fn loopback_figure(state: &std::path::Path, calls: u32) -> Result<Figure> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?.to_string();
    let (stop, handle) = serve_in_thread(state.to_path_buf(), Mode::Connect(addr))?;
    let (stream, _) = listener.accept()?;
    stream.set_nodelay(true)?;
    let mut host = FakeVpcd(stream);
    // pcscd's sequence on insertion: power on (no answer), then the ATR.
    host.0.write_all(&vpcd::encode_frame(&[vpcd::CTRL_ON])?)?;
    let fig = measure("vpcd protocol over loopback TCP (no pcscd)", host, calls);
    stop.stop();
    let _ = handle.join();
    fig
}

fn pcsc_figure(state: &std::path::Path, addr: &str, calls: u32) -> Result<Figure> {
    let ctx = reader::pcsc::Context::establish()?;
    match ctx.reader_states()?.iter().find(|r| r.name == VPCD_READER) {
        None => bail!("pcscd has no reader {VPCD_READER:?} (is vsmartcard-vpcd installed?)"),
        Some(r) if r.card_present => {
            bail!("{VPCD_READER} already holds a card (another `simkit card serve`?)")
        }
        Some(_) => {}
    }
    let (stop, handle) = serve_in_thread(state.to_path_buf(), Mode::Connect(addr.to_string()))?;
    let result = (|| {
        let name = ctx.wait_for_card(Some(VPCD_READER), Duration::from_secs(10))?;
        let card = ctx.connect(&name, reader::pcsc::Share::Exclusive)?;
        measure("PC/SC: libpcsclite -> pcscd -> vpcd -> card", card, calls)
    })();
    stop.stop();
    let _ = handle.join();
    result
}

/// A fresh card (NIST test PKI) in `dir`.
fn fresh_card(dir: &std::path::Path) -> Result<PathBuf> {
    let cfg = TestPkiConfig::new(Curve::NistP256, crate::unix_now().saturating_sub(3600));
    let pki = TestPki::generate(&cfg, &mut crate::os_rng())?;
    let identity = CardIdentity::new(
        pki.euicc.cert.der(),
        pki.eum.cert.der(),
        pki.euicc.key,
        &[pki.ci.cert.der()],
    )?;
    let path = dir.join("bench-card");
    PersistentCard::create(&path, identity, CardState::new(), true)?;
    Ok(path)
}

pub fn run(args: ApduArgs, json: bool) -> Result<()> {
    if args.calls == 0 {
        bail!("-n must be at least 1");
    }
    let tmp = tempfile::tempdir()?;
    let state = match &args.state {
        Some(s) => s.clone(),
        None => fresh_card(tmp.path())?,
    };
    let mut figures = vec![measure(
        "in-process (card file transport)",
        PersistentCard::open(&state)?,
        args.calls,
    )?];
    figures.push(loopback_figure(&state, args.calls)?);
    let mut pcsc_skipped = None;
    if args.no_pcsc {
        pcsc_skipped = Some("--no-pcsc".to_string());
    } else {
        match pcsc_figure(&state, &args.vpcd, args.calls) {
            Ok(f) => figures.push(f),
            Err(e) => pcsc_skipped = Some(format!("{e:#}")),
        }
    }
    if json {
        println!(
            "{}",
            json!({
                "workload": "ES10b.GetEUICCInfo1 (STORE DATA BF2000 [+ GET RESPONSE])",
                "figures": figures.iter().map(Figure::json).collect::<Vec<_>>(),
                "pcscSkipped": pcsc_skipped,
            })
        );
        return Ok(());
    }
    println!(
        "ES10b.GetEUICCInfo1 x {} (STORE DATA BF2000, plus GET RESPONSE when the card answers 61xx)",
        args.calls
    );
    for f in &figures {
        println!(
            "  {:<48} {:>9.0} APDU/s  {:>8.1} us/APDU  ({} APDUs, {:.0} calls/s)",
            f.path,
            f.apdus_per_sec(),
            f.elapsed.as_secs_f64() * 1e6 / (f.apdus.max(1) as f64),
            f.apdus,
            f.calls_per_sec()
        );
    }
    if let Some(why) = pcsc_skipped {
        println!("  PC/SC figure skipped: {why}");
    }
    Ok(())
}
