//! `simkit card pairing`: show and change which container answers the common AIDs on each
//! protocol of a card file, through the card's own READ/SET PAIRING DATA commands
//! (`80 3A 00 00`, `80 3A 01 00`; coding in [`card::pairing`]), and the card's
//! pairing-administration key file.
//!
//! # The key file
//!
//! `simkit card create` provisions every new card with a pairing-administration key (AES-128,
//! random unless `--pairing-key`/`--pairing-key-file` gives one) and writes it for the
//! administrator to `<state>.pairing.key`: the key in hex and a newline, mode 0600, like the
//! card file's own key file. Nothing prints it unless asked (`--show-pairing-key`). A key file
//! readable by group or others is refused. When `<state>.pairing.key` already exists (a
//! `create --force` over an existing card, for one), its key is used again, as the card file's
//! key is.
//!
//! Card files created before cards had a key hold none, and such a card refuses every SET
//! PAIRING DATA (`6982`). `simkit card pairing set-key` gives a card its *first* key (a
//! personalisation step on the card file, not an APDU: there is no command to set the key) and
//! refuses when the card has one already; a key, once set, is never replaced.
//!
//! # Changing the pairing
//!
//! `pairing set` reads the table and counter with READ PAIRING DATA, builds the new table from
//! `PROTOCOL=CONTAINER` entries (protocols not listed are unmapped), takes the next counter,
//! computes the AES-CMAC with the key and sends SET PAIRING DATA through the same APDU path as
//! `simkit card apdu` (saved atomically when the card accepts it). Refusals are reported in
//! words with the card's status word.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use apdu::{Command, Response, StatusWord};
use card::pairing::{self, PairingTable};
use card::{ContainerId, Protocol};
use clap::{Subcommand, ValueEnum};
use serde_json::json;
use zeroize::Zeroizing;

use crate::card_file::{self, PersistentCard};

/// Length of a generated pairing-administration key (AES-128).
pub const GENERATED_KEY_LEN: usize = 16;

/// `<state>.pairing.key`.
pub fn pairing_key_path(state: &Path) -> PathBuf {
    let mut p = state.as_os_str().to_owned();
    p.push(".pairing.key");
    PathBuf::from(p)
}

/// A protocol a command can arrive over, as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ProtocolArg {
    /// ISO/IEC 7816-3 T=0 (contacts).
    #[default]
    T0,
    /// ISO/IEC 7816-3 T=1 (contacts).
    T1,
    /// SWP contactless type A.
    SwpA,
    /// SWP contactless type B.
    SwpB,
    /// HCI APDU gate.
    Hci,
    /// SPI.
    Spi,
    /// A proprietary device interface.
    Proprietary,
}

impl From<ProtocolArg> for Protocol {
    fn from(p: ProtocolArg) -> Protocol {
        match p {
            ProtocolArg::T0 => Protocol::T0,
            ProtocolArg::T1 => Protocol::T1,
            ProtocolArg::SwpA => Protocol::SwpTypeA,
            ProtocolArg::SwpB => Protocol::SwpTypeB,
            ProtocolArg::Hci => Protocol::HciApduGate,
            ProtocolArg::Spi => Protocol::Spi,
            ProtocolArg::Proprietary => Protocol::Proprietary,
        }
    }
}

impl From<Protocol> for ProtocolArg {
    fn from(p: Protocol) -> ProtocolArg {
        match p {
            Protocol::T0 => ProtocolArg::T0,
            Protocol::T1 => ProtocolArg::T1,
            Protocol::SwpTypeA => ProtocolArg::SwpA,
            Protocol::SwpTypeB => ProtocolArg::SwpB,
            Protocol::HciApduGate => ProtocolArg::Hci,
            Protocol::Spi => ProtocolArg::Spi,
            Protocol::Proprietary => ProtocolArg::Proprietary,
        }
    }
}

impl ProtocolArg {
    /// The command-line name (`t0`, `swp-a`, ...).
    pub fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    }
}

/// The command-line name of a container.
pub fn container_name(c: ContainerId) -> &'static str {
    match c {
        ContainerId::Telecom => "telecom",
        ContainerId::GlobalPlatform => "gp",
    }
}

fn parse_container(s: &str) -> Option<ContainerId> {
    match s.to_ascii_lowercase().as_str() {
        "telecom" => Some(ContainerId::Telecom),
        "gp" | "globalplatform" => Some(ContainerId::GlobalPlatform),
        _ => None,
    }
}

/// `PROTOCOL=CONTAINER` entries to a table; `PROTOCOL=none` (or leaving the protocol out)
/// leaves it unmapped.
pub fn parse_entries(entries: &[String]) -> Result<PairingTable> {
    apply_entries(
        &PairingTable::new([]).map_err(|e| anyhow::anyhow!("{e}"))?,
        entries,
    )
}

/// `base` with the protocols that `entries` name changed (`=none`: unmapped).
pub fn apply_entries(base: &PairingTable, entries: &[String]) -> Result<PairingTable> {
    let mut mapped: Vec<(Protocol, ContainerId)> = base.entries().collect();
    let mut seen = Vec::new();
    for e in entries {
        let Some((p, c)) = e.split_once('=') else {
            bail!("{e:?}: expected PROTOCOL=CONTAINER, e.g. spi=telecom");
        };
        let protocol = ProtocolArg::from_str(p.trim(), true).map_err(|_| {
            anyhow::anyhow!(
                "{e:?}: unknown protocol {p:?} (one of t0, t1, swp-a, swp-b, hci, spi, \
                 proprietary)"
            )
        })?;
        if seen.contains(&protocol) {
            bail!("{e:?}: protocol {} is listed twice", protocol.name());
        }
        seen.push(protocol);
        let protocol = Protocol::from(protocol);
        mapped.retain(|(p, _)| *p != protocol);
        let c = c.trim();
        if c.eq_ignore_ascii_case("none") {
            continue;
        }
        let container = parse_container(c)
            .with_context(|| format!("{e:?}: unknown container {c:?} (telecom, gp or none)"))?;
        mapped.push((protocol, container));
    }
    PairingTable::new(mapped).map_err(|e| anyhow::anyhow!("{e}"))
}

// ---------------------------------------------------------------------------------------------
// Key files

/// A 16- or 32-byte key in hex (spaces and colons ignored).
pub fn parse_key_hex(text: &str) -> Result<Zeroizing<Vec<u8>>> {
    let clean: Zeroizing<String> = Zeroizing::new(
        text.chars()
            .filter(|c| !matches!(c, ' ' | ':' | '\n' | '\r' | '\t'))
            .collect(),
    );
    let key = Zeroizing::new(
        hex::decode(clean.as_str())
            .map_err(|_| anyhow::anyhow!("the pairing-administration key is not hex"))?,
    );
    if key.len() != 16 && key.len() != 32 {
        bail!(
            "the pairing-administration key must be 16 or 32 bytes (AES-128 or AES-256), not {}",
            key.len()
        );
    }
    Ok(key)
}

/// Reads a pairing-key file; on Unix it must not be accessible by group or others.
pub fn load_key_file(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    let text = match fs::read_to_string(path) {
        Ok(t) => Zeroizing::new(t),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            bail!("pairing key file {} not found", path.display())
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path)
            .with_context(|| format!("reading {}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            bail!(
                "pairing key file {}: permissions {:04o} are too open (chmod 600 it)",
                path.display(),
                mode & 0o7777
            );
        }
    }
    parse_key_hex(&text).with_context(|| format!("pairing key file {}", path.display()))
}

fn key_text(key: &[u8]) -> Zeroizing<String> {
    let mut t = Zeroizing::new(hex::encode_upper(key));
    t.push('\n');
    t
}

/// Writes `key` to `path` (0600), atomically; `replace` allows overwriting another key.
fn write_key_file(path: &Path, key: &[u8], replace: bool) -> Result<()> {
    let text = key_text(key);
    if replace {
        return card_file::write_atomic(path, text.as_bytes())
            .with_context(|| format!("writing {}", path.display()));
    }
    let tmp = card_file::stage(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    // A hard link never replaces an existing file, unlike rename.
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            card_file::sync_parent(path).with_context(|| format!("writing {}", path.display()))
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            bail!("{} already exists", path.display())
        }
        Err(e) => Err(e).with_context(|| format!("writing {}", path.display())),
    }
}

/// Where a pairing-administration key comes from.
#[derive(Debug, Clone, Default)]
pub enum KeySource {
    /// `<state>.pairing.key` if it exists, else a fresh random AES-128 key.
    #[default]
    Default,
    Hex(String),
    File(PathBuf),
}

impl KeySource {
    pub fn from_args(hex_key: Option<String>, file: Option<PathBuf>) -> KeySource {
        match (hex_key, file) {
            (Some(h), _) => KeySource::Hex(h),
            (None, Some(f)) => KeySource::File(f),
            (None, None) => KeySource::Default,
        }
    }
}

/// Resolves the key for the card at `state` and makes sure `<state>.pairing.key` holds it.
/// Returns the key and that path.
pub fn provision_key_file(
    state: &Path,
    source: &KeySource,
) -> Result<(Zeroizing<Vec<u8>>, PathBuf)> {
    let path = pairing_key_path(state);
    let existing = || -> Result<Option<Zeroizing<Vec<u8>>>> {
        if path.exists() {
            load_key_file(&path).map(Some)
        } else {
            Ok(None)
        }
    };
    let key = match source {
        KeySource::Default => match existing()? {
            Some(k) => k,
            None => {
                let mut k = Zeroizing::new(vec![0u8; GENERATED_KEY_LEN]);
                let mut rng = crate::os_rng();
                let rng: &mut dyn rand_core::CryptoRng = &mut rng;
                rng.fill_bytes(&mut k[..]);
                write_key_file(&path, &k, false)?;
                return Ok((k, path));
            }
        },
        KeySource::Hex(h) => parse_key_hex(h)?,
        KeySource::File(f) => load_key_file(f)?,
    };
    // An explicit key replaces another one in the file; the same key is left alone.
    match existing() {
        Ok(Some(old)) if old[..] == key[..] => {}
        _ => write_key_file(&path, &key, true)?,
    }
    Ok((key, path))
}

// ---------------------------------------------------------------------------------------------
// The command

#[derive(Subcommand)]
pub enum PairingCommand {
    /// Show which container serves each protocol, read with the card's READ PAIRING DATA.
    Show {
        /// Card file.
        #[arg(long, visible_alias = "card")]
        state: PathBuf,
        /// Interface to send the command on (the pairing commands work on every interface).
        #[arg(long, value_enum, default_value_t)]
        protocol: ProtocolArg,
    },
    /// Change the pairing with an authenticated SET PAIRING DATA:
    /// `set --state F t0=telecom t1=telecom swp-a=gp spi=telecom`. The entries are the whole
    /// new table: protocols not listed are unmapped (common AIDs do not route on them), unless
    /// --merge.
    Set {
        /// Card file.
        #[arg(long, visible_alias = "card")]
        state: PathBuf,
        /// Pairing-administration key file (default `<state>.pairing.key`).
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// Administration counter to use (default: the card's last accepted one plus one).
        #[arg(long)]
        counter: Option<u32>,
        /// Send this table coding (hex, `'A0' { '80' 02 protocol container }*`) as is, instead
        /// of entries.
        #[arg(long, conflicts_with_all = ["entries", "merge"])]
        table: Option<String>,
        /// Start from the card's current table: the entries change only the protocols they
        /// name (`PROTOCOL=none` unmaps one).
        #[arg(long)]
        merge: bool,
        /// Interface to send the command on.
        #[arg(long, value_enum, default_value_t)]
        protocol: ProtocolArg,
        /// PROTOCOL=CONTAINER entries: protocol t0, t1, swp-a, swp-b, hci, spi or proprietary;
        /// container telecom, gp or none.
        #[arg(required_unless_present = "table")]
        entries: Vec<String>,
    },
    /// Give a card that has no pairing-administration key its first one (card files created
    /// before cards were provisioned with a key). Refused when the card has a key: it is
    /// never replaced. Writes `<state>.pairing.key`.
    SetKey {
        /// Card file.
        #[arg(long, visible_alias = "card")]
        state: PathBuf,
        /// The key in hex (AES-128 or AES-256). Default: `<state>.pairing.key` if it exists,
        /// else a random AES-128 key.
        #[arg(long, conflicts_with = "pairing_key_file")]
        pairing_key: Option<String>,
        /// Read the key from this file (hex).
        #[arg(long)]
        pairing_key_file: Option<PathBuf>,
        /// Print the key.
        #[arg(long)]
        show_pairing_key: bool,
    },
}

pub fn run(cmd: PairingCommand, json_out: bool) -> Result<()> {
    match cmd {
        PairingCommand::Show { state, protocol } => {
            let mut pc = PersistentCard::open(&state)?;
            let read = read_pairing(&mut pc, protocol.into())?;
            let has_key = pc.card().state().pairing.has_admin_key();
            if json_out {
                println!("{}", read_json(&read, has_key));
            } else {
                print_table(&read);
                println!(
                    "  administration key {}",
                    if has_key {
                        "provisioned"
                    } else {
                        "none (updates refused)"
                    }
                );
            }
            Ok(())
        }
        PairingCommand::Set {
            state,
            key_file,
            counter,
            table,
            merge,
            protocol,
            entries,
        } => {
            let key_file = key_file.unwrap_or_else(|| pairing_key_path(&state));
            let key = load_key_file(&key_file)?;
            let mut pc = PersistentCard::open(&state)?;
            let protocol: Protocol = protocol.into();
            // The current table and counter, as the card reports them (not needed when both
            // the table and the counter are given).
            let current = if merge || counter.is_none() {
                Some(
                    read_pairing(&mut pc, protocol)
                        .context("reading the current pairing data (give --counter)")?,
                )
            } else {
                None
            };
            let table = match (table, &current) {
                (Some(h), _) => {
                    let clean: String = h.chars().filter(|c| !matches!(c, ' ' | ':')).collect();
                    hex::decode(&clean).with_context(|| format!("--table {h:?} is not hex"))?
                }
                (None, Some(cur)) if merge => apply_entries(&cur.table, &entries)?.encode(),
                (None, _) => parse_entries(&entries)?.encode(),
            };
            let counter = match (counter, &current) {
                (Some(c), _) => c,
                (None, Some(cur)) => cur
                    .counter
                    .checked_add(1)
                    .context("the administration counter is exhausted")?,
                (None, None) => bail!("no administration counter (give --counter)"),
            };
            let data = pairing::set_command_data(&key, &table, counter)?;
            let apdu =
                Command::with_data(0x80, pairing::INS_PAIRING_DATA, pairing::P1_SET, 0x00, data)
                    .encode()
                    .map_err(|e| anyhow::anyhow!("SET PAIRING DATA: {e}"))?;
            let resp = exchange(&mut pc, protocol, &apdu)?;
            if resp.sw != StatusWord::OK {
                let has_key = pc.card().state().pairing.has_admin_key();
                bail!(
                    "the card refused SET PAIRING DATA: {:04X} {}",
                    resp.sw.0,
                    describe_set_sw(resp.sw, has_key, counter)
                );
            }
            let read = read_pairing(&mut pc, protocol)?;
            if json_out {
                let mut v = read_json(&read, true);
                v["sw"] = json!("9000");
                println!("{v}");
            } else {
                println!("Pairing updated (9000).");
                print_table(&read);
            }
            Ok(())
        }
        PairingCommand::SetKey {
            state,
            pairing_key,
            pairing_key_file,
            show_pairing_key,
        } => {
            let mut pc = PersistentCard::open(&state)?;
            if pc.card().state().pairing.has_admin_key() {
                bail!(
                    "{} already has a pairing-administration key; it is never replaced",
                    state.display()
                );
            }
            let source = KeySource::from_args(pairing_key, pairing_key_file);
            let (key, path) = provision_key_file(&state, &source)?;
            let mut st = pc.card().state().clone();
            st.pairing.set_admin_key(&key)?;
            pc.card_mut().load_state(st);
            pc.save_if_changed()?;
            if json_out {
                let mut v = json!({ "state": state, "pairingKeyFile": path });
                if show_pairing_key {
                    v["pairingKey"] = json!(hex::encode_upper(&key[..]));
                }
                println!("{v}");
            } else {
                println!(
                    "Pairing-administration key provisioned; written to {}",
                    path.display()
                );
                if show_pairing_key {
                    println!("  key {}", hex::encode_upper(&key[..]));
                }
            }
            Ok(())
        }
    }
}

/// What READ PAIRING DATA returned.
#[derive(Debug)]
pub struct PairingRead {
    pub table: PairingTable,
    pub raw: Vec<u8>,
    pub counter: u32,
}

fn exchange(pc: &mut PersistentCard, protocol: Protocol, apdu: &[u8]) -> Result<Response> {
    let raw = pc.transmit_on(protocol, apdu)?;
    Response::parse(&raw).map_err(|e| anyhow::anyhow!("card response: {e}"))
}

/// READ PAIRING DATA (`80 3A 00 00 00`) on `protocol`.
pub fn read_pairing(pc: &mut PersistentCard, protocol: Protocol) -> Result<PairingRead> {
    let apdu = [
        0x80,
        pairing::INS_PAIRING_DATA,
        pairing::P1_READ,
        0x00,
        0x00,
    ];
    let resp = exchange(pc, protocol, &apdu)?;
    if resp.sw != StatusWord::OK {
        bail!(
            "the card refused READ PAIRING DATA: {:04X} {}",
            resp.sw.0,
            describe_common_sw(resp.sw)
        );
    }
    let Some((raw, ctr)) = resp.data.split_last_chunk::<{ pairing::COUNTER_LEN }>() else {
        bail!("READ PAIRING DATA: response too short");
    };
    let table = PairingTable::decode(raw).map_err(|e| anyhow::anyhow!("READ PAIRING DATA: {e}"))?;
    Ok(PairingRead {
        table,
        raw: raw.to_vec(),
        counter: u32::from_be_bytes(*ctr),
    })
}

/// A SET PAIRING DATA status word in words (see [`card::pairing`]'s table).
pub fn describe_set_sw(sw: StatusWord, has_key: bool, counter: u32) -> String {
    match sw {
        StatusWord::SECURITY_STATUS_NOT_SATISFIED if has_key => {
            "security status not satisfied: wrong pairing-administration key (the MAC does not \
             verify)"
                .to_string()
        }
        StatusWord::SECURITY_STATUS_NOT_SATISFIED => {
            "security status not satisfied: the card has no pairing-administration key \
             (provision one with `simkit card pairing set-key`)"
                .to_string()
        }
        StatusWord::CONDITIONS_NOT_SATISFIED => format!(
            "conditions not satisfied: counter {counter} is not greater than the last accepted \
             one (replay)"
        ),
        StatusWord::INCORRECT_DATA => {
            "incorrect data: the pairing table is malformed or invalid".to_string()
        }
        other => describe_common_sw(other).to_string(),
    }
}

fn describe_common_sw(sw: StatusWord) -> &'static str {
    match sw {
        StatusWord::OK => "success",
        StatusWord::MEMORY_FAILURE => {
            "memory failure: no stored copy of the pairing data passes its integrity check"
        }
        StatusWord::WRONG_LENGTH => "wrong length",
        StatusWord::INCORRECT_P1_P2 => "incorrect P1/P2",
        StatusWord::CLA_NOT_SUPPORTED => "class not supported",
        StatusWord::INS_NOT_SUPPORTED => "instruction not supported (no pairing commands)",
        StatusWord::SECURITY_STATUS_NOT_SATISFIED => "security status not satisfied",
        StatusWord::CONDITIONS_NOT_SATISFIED => "conditions of use not satisfied",
        StatusWord::INCORRECT_DATA => "incorrect data",
        _ => "unexpected status",
    }
}

fn read_json(read: &PairingRead, has_key: bool) -> serde_json::Value {
    let mut pairing = serde_json::Map::new();
    for p in Protocol::ALL {
        pairing.insert(
            ProtocolArg::from(p).name(),
            read.table
                .container_for(p)
                .map_or(serde_json::Value::Null, |c| json!(container_name(c))),
        );
    }
    json!({
        "pairing": pairing,
        "counter": read.counter,
        "table": hex::encode_upper(&read.raw),
        "adminKey": has_key,
    })
}

fn print_table(read: &PairingRead) {
    println!("Pairing (administration counter {})", read.counter);
    for p in Protocol::ALL {
        let c = read
            .table
            .container_for(p)
            .map_or("(unmapped)", container_name);
        println!(
            "  {:<12} {:<14} {}",
            ProtocolArg::from(p).name(),
            p.to_string(),
            c
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_build_tables() {
        let e = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let t = parse_entries(&e(&["T0=telecom", "t1=Telecom", "swp-a=gp", "spi=none"])).unwrap();
        assert_eq!(t.container_for(Protocol::T0), Some(ContainerId::Telecom));
        assert_eq!(t.container_for(Protocol::T1), Some(ContainerId::Telecom));
        assert_eq!(
            t.container_for(Protocol::SwpTypeA),
            Some(ContainerId::GlobalPlatform)
        );
        assert_eq!(t.container_for(Protocol::Spi), None);
        assert_eq!(t.container_for(Protocol::HciApduGate), None);
        // The coding of pairing.rs: entries in protocol-code order.
        assert_eq!(
            hex::encode_upper(t.encode()),
            "A00C800201018002020180020302"
        );
        for bad in [
            &["t0"][..],
            &["t9=telecom"],
            &["t0=sim"],
            &["t0=telecom", "T0=gp"],
        ] {
            assert!(parse_entries(&e(bad)).is_err(), "{bad:?}");
        }
        assert!(parse_entries(&[]).unwrap().entries().next().is_none());
        // --merge: only the named protocols change.
        let t = apply_entries(&PairingTable::default(), &e(&["spi=telecom", "hci=none"])).unwrap();
        assert_eq!(t.container_for(Protocol::Spi), Some(ContainerId::Telecom));
        assert_eq!(t.container_for(Protocol::HciApduGate), None);
        assert_eq!(t.container_for(Protocol::T0), Some(ContainerId::Telecom));
        assert_eq!(
            t.container_for(Protocol::Proprietary),
            Some(ContainerId::GlobalPlatform)
        );
    }

    #[test]
    fn protocol_names_round_trip() {
        for p in Protocol::ALL {
            let arg = ProtocolArg::from(p);
            assert_eq!(Protocol::from(arg), p);
            assert_eq!(ProtocolArg::from_str(&arg.name(), true).unwrap(), arg);
        }
        assert_eq!(ProtocolArg::SwpA.name(), "swp-a");
    }

    #[test]
    fn key_hex_lengths() {
        assert_eq!(
            parse_key_hex("00112233445566778899AABBCCDDEEFF\n")
                .unwrap()
                .len(),
            16
        );
        assert_eq!(parse_key_hex(&"ab".repeat(32)).unwrap().len(), 32);
        assert!(parse_key_hex(&"ab".repeat(24)).is_err());
        assert!(parse_key_hex("zz").is_err());
    }

    #[test]
    fn status_words_in_words() {
        let s = describe_set_sw(StatusWord(0x6982), true, 1);
        assert!(s.contains("wrong pairing-administration key"), "{s}");
        let s = describe_set_sw(StatusWord(0x6982), false, 1);
        assert!(s.contains("no pairing-administration key"), "{s}");
        assert!(describe_set_sw(StatusWord(0x6985), true, 7).contains("replay"));
        assert!(describe_set_sw(StatusWord(0x6A80), true, 7).contains("invalid"));
    }
}
