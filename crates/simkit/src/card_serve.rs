//! `simkit card serve` and `simkit card bridge`: the virtual eUICC of a card file behind a
//! real reader interface.
//!
//! * `serve --vpcd HOST:PORT` puts the card into vsmartcard's virtual reader (pcscd with the
//!   `vpcd` driver), so every PC/SC application sees it as a card in "Virtual PCD 00 00";
//!   `--vpcd-listen ADDR` waits for vpcd instead (its reversed mode, the one that keeps every
//!   socket on loopback). See [`reader::vpcd`].
//! * `bridge -- lpac ...` runs lpac with its `stdio` APDU driver and answers its APDUs from
//!   the card ([`reader::lpac`]).
//!
//! Either way the state is saved after every APDU that changed it ([`PersistentCard`]), and a
//! power cycle or reset reloads the card from its file: volatile state (logical channels,
//! selections, a half-loaded profile package) is gone, persistent state stays, as on a real
//! card. Do not drive the same card file from two processes at once.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};

use anyhow::{bail, Context, Result};
use apdu::CardTransport;
use clap::Args;
use reader::vpcd::{self, Event, Mode, Options, Stop, VpcdCard};
use reader::{CardFault, VirtualCard};
use serde_json::json;

use crate::card_file::PersistentCard;

/// The ATR of the virtual card. The only use of the card OS's API in this module: everything
/// else goes through the card file's transport.
fn card_atr() -> Vec<u8> {
    card::os::atr()
}

/// A card file as a card in a reader.
pub struct ServedCard {
    path: PathBuf,
    card: PersistentCard,
    /// No APDU since the last (re)load: a further reset has nothing to clear.
    fresh: bool,
}

impl ServedCard {
    pub fn open(path: &Path) -> Result<Self> {
        let card = PersistentCard::open(path)?;
        Ok(ServedCard {
            path: path.to_path_buf(),
            card,
            fresh: true,
        })
    }

    pub fn eid(&self) -> String {
        self.card.card().identity().eid_string()
    }

    /// Drops all volatile state by reloading the card from its file (which holds every
    /// persistent change already: each is saved before its response leaves the card).
    fn reload(&mut self) -> Result<(), CardFault> {
        if !self.fresh {
            self.card = PersistentCard::open(&self.path).map_err(|e| CardFault(e.to_string()))?;
            self.fresh = true;
        }
        Ok(())
    }
}

impl VirtualCard for ServedCard {
    fn power_on(&mut self) -> Result<Vec<u8>, CardFault> {
        self.reload()?;
        Ok(card_atr())
    }

    fn power_off(&mut self) -> Result<(), CardFault> {
        self.reload()
    }

    fn reset(&mut self) -> Result<Vec<u8>, CardFault> {
        self.reload()?;
        Ok(card_atr())
    }

    fn atr(&self) -> Vec<u8> {
        card_atr()
    }

    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardFault> {
        self.fresh = false;
        self.card
            .transmit(apdu)
            .map_err(|e| CardFault(e.to_string()))
    }
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Card file (see `simkit card create`).
    #[arg(long)]
    pub state: PathBuf,
    /// Connect to vpcd at HOST:PORT (pcscd's default vpcd configuration, where vpcd listens
    /// on port 35963). Default 127.0.0.1:35963.
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "vpcd_listen")]
    pub vpcd: Option<String>,
    /// Listen on ADDR for vpcd in reversed mode (`DEVICENAME 127.0.0.1:0x8C7B` in pcscd's
    /// vpcd reader configuration), e.g. 127.0.0.1:35963.
    #[arg(long, value_name = "ADDR")]
    pub vpcd_listen: Option<String>,
    /// Serve one reader connection, then exit (by default the card waits for the reader
    /// again when pcscd restarts).
    #[arg(long)]
    pub once: bool,
}

impl ServeArgs {
    pub fn mode(&self) -> Mode {
        match (&self.vpcd_listen, &self.vpcd) {
            (Some(l), _) => Mode::Listen(l.clone()),
            (None, Some(c)) => Mode::Connect(c.clone()),
            (None, None) => Mode::Connect(vpcd::DEFAULT_ADDR.to_string()),
        }
    }
}

/// `simkit card serve`: runs until interrupted (or, with `--once`, until the reader closes).
pub fn serve(args: ServeArgs, json: bool) -> Result<()> {
    let card = ServedCard::open(&args.state)?;
    let eid = card.eid();
    let mode = args.mode();
    let mut card = VpcdCard::new(card);
    let opts = Options {
        reconnect: !args.once,
        ..Options::default()
    };
    let state = args.state.display().to_string();
    let mut report = |e: Event| {
        let (event, addr, error) = match &e {
            Event::Waiting(a) => ("waiting", a, None),
            Event::Connected(a) => ("connected", a, None),
            Event::Disconnected { addr, error } => ("disconnected", addr, error.clone()),
        };
        if json {
            println!(
                "{}",
                json!({ "event": event, "vpcd": addr, "eid": eid, "state": state, "error": error })
            );
        } else {
            match e {
                Event::Waiting(a) => match &mode {
                    Mode::Connect(_) => {
                        eprintln!("card {eid}: waiting for vpcd at {a} (is pcscd running?)")
                    }
                    Mode::Listen(_) => eprintln!("card {eid}: listening for vpcd on {a}"),
                },
                Event::Connected(a) => eprintln!("card {eid}: in the vpcd reader at {a}"),
                Event::Disconnected { addr, error } => match error {
                    Some(err) => eprintln!("card {eid}: left the reader at {addr}: {err}"),
                    None => eprintln!("card {eid}: left the reader at {addr}"),
                },
            }
        }
    };
    vpcd::run(&mode, &mut card, &opts, &Stop::new(), &mut report)
        .with_context(|| format!("serving card {} to vpcd", args.state.display()))
}

#[derive(Args, Debug)]
pub struct BridgeArgs {
    /// Card file (see `simkit card create`).
    #[arg(long)]
    pub state: PathBuf,
    /// The lpac command line, after `--`: e.g. `-- lpac chip info`.
    #[arg(required = true, last = true, value_name = "LPAC COMMAND")]
    pub command: Vec<String>,
}

/// `simkit card bridge`: runs lpac with `LPAC_APDU=stdio` and answers its APDU requests from
/// the card. lpac's other output goes to our stdout, its stderr stays its own; the exit code
/// is lpac's.
pub fn bridge_cli(args: BridgeArgs) -> ExitCode {
    match bridge(args) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the bridge; returns lpac's exit code (1 when it died of a signal).
pub fn bridge(args: BridgeArgs) -> Result<i32> {
    let card = ServedCard::open(&args.state)?;
    let Some((program, rest)) = args.command.split_first() else {
        bail!("no lpac command given (after `--`)");
    };
    let mut cmd = std::process::Command::new(program);
    cmd.args(rest)
        .env("LPAC_APDU", "stdio")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    // HTTP stays with lpac's own backend (curl): the bridge answers APDUs only.
    if std::env::var("LPAC_HTTP").is_ok_and(|v| v == "stdio") {
        cmd.env_remove("LPAC_HTTP");
    }
    let mut child = cmd.spawn().with_context(|| format!("starting {program}"))?;
    let (Some(to_lpac), Some(from_lpac)) = (child.stdin.take(), child.stdout.take()) else {
        bail!("{program}: no pipes to the child");
    };
    let mut bridge = reader::lpac::Bridge::new(card);
    let served = bridge.run(BufReader::new(from_lpac), to_lpac, std::io::stdout());
    if served.is_err() {
        let _ = child.kill();
    }
    let status = child
        .wait()
        .with_context(|| format!("waiting for {program}"))?;
    served.with_context(|| format!("bridging {program}"))?;
    Ok(status.code().unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use card::CardState;

    /// The SGP.26 test eUICC (NIST), shared/reference/sgp26.
    fn card_file(dir: &Path) -> PathBuf {
        const REF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/reference");
        let read = |rel: &str| std::fs::read(format!("{REF}/{rel}")).unwrap();
        let sk = pki::PrivateKey::from_pem(
            &String::from_utf8(read("sgp26/eUICC/SK_EUICC_ECDSA_NIST.pem")).unwrap(),
        )
        .unwrap();
        let ci = read("sgp26/CertificateIssuer/CERT_CI_ECDSA_NIST.der");
        let identity = card::CardIdentity::new(
            &read("sgp26/eUICC/CERT_EUICC_ECDSA_NIST.der"),
            &read("sgp26/EUM/CERT_EUM_ECDSA_NIST.der"),
            sk,
            &[&ci],
        )
        .unwrap();
        let path = dir.join("card");
        PersistentCard::create(&path, identity, CardState::new(), false).unwrap();
        path
    }

    fn es10(card: &mut ServedCard, ch: u8, req: &[u8]) -> Vec<u8> {
        let mut t = reader::AsTransport(card);
        apdu::es10_exchange(&mut t, ch, req).unwrap()
    }

    #[test]
    fn power_cycle_keeps_state_and_drops_channels() {
        let dir = tempfile::tempdir().unwrap();
        let path = card_file(dir.path());
        let mut card = ServedCard::open(&path).unwrap();
        assert_eq!(card.power_on().unwrap(), card::os::atr());
        let ch = {
            let mut t = reader::AsTransport(&mut card);
            let ch = apdu::open_channel(&mut t).unwrap();
            apdu::select_aid(&mut t, ch, &apdu::ISD_R_AID).unwrap();
            ch
        };
        // ES10a.SetDefaultDpAddress 'BF3F' { '80' "smdp.example.com" } (SGP.22 §5.7.4).
        let mut req = vec![0xBF, 0x3F, 0x12, 0x80, 0x10];
        req.extend_from_slice(b"smdp.example.com");
        assert_eq!(
            es10(&mut card, ch, &req),
            [0xBF, 0x3F, 0x03, 0x80, 0x01, 0x00]
        );
        // A warm reset closes the channel: STORE DATA on it is refused...
        card.reset().unwrap();
        let sd = apdu::store_data_blocks(ch, &[0xBF, 0x3C, 0x00]).unwrap();
        let resp = card.transmit(&sd[0].encode().unwrap()).unwrap();
        assert_ne!(resp[resp.len() - 2..], [0x90, 0x00]);
        // ...while the address survived the reset and a power cycle.
        card.power_off().unwrap();
        card.power_on().unwrap();
        let ch = {
            let mut t = reader::AsTransport(&mut card);
            let ch = apdu::open_channel(&mut t).unwrap();
            apdu::select_aid(&mut t, ch, &apdu::ISD_R_AID).unwrap();
            ch
        };
        // ES10a.GetEuiccConfiguredAddresses 'BF3C' (SGP.22 §5.7.3).
        let out = es10(&mut card, ch, &[0xBF, 0x3C, 0x00]);
        assert!(out.windows(16).any(|w| w == b"smdp.example.com"));
    }
}
