//! `simkit gp`: a GlobalPlatform card manager in the spirit of GlobalPlatformPro, over any card
//! transport: a card file (`--card F`, [`crate::card_file::PersistentCard`]) or a card in a
//! PC/SC reader (`--pcsc[=READER]`, which also reaches a vpcd virtual reader).
//!
//! Every command selects the security domain (`--sdaid`, default the ISD A000000151000000)
//! and, except `info`, opens a secure channel: SCP02 or SCP03 as the card announces it (its
//! Security Domain Management Data '64', else its INITIALIZE UPDATE answer), or as `--scp`
//! forces; keys from `--key`/`--key-enc`/`--key-mac`/`--key-dek` (default the GlobalPlatform
//! test keys 404142..4F), optionally diversified (`--emv`, `--visa2`, `--kdf3`).
//!
//! Exit codes ([`exit`]): 0 ok, 1 error (files, transport), 2 usage, 3 the card refused a
//! command (its status word is reported), 4 the secure channel failed (keys, cryptograms,
//! response MACs, key check values). With `--json` every command prints one JSON document on
//! stdout, an `{"error": ...}` document when it fails.

pub mod cap;
pub mod dm;
pub mod link;
pub mod names;
pub mod zip;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use apdu::{CardTransport, Command, StatusWord};
use clap::{ArgGroup, Args, Subcommand};
use gp::commands::{
    self, put_key_command, Delete, Install, InstallParameters, KeyInformation, RegistryEntry,
    SetStatus, StatusSubset,
};
use gp::{Diversification, KeySet, KeyType, KeyUsage, PutKeyData, Scp, SecurityLevel};
use serde_json::{json, Value};

use crate::card_file::PersistentCard;
#[cfg(test)]
use link::ISD_AID;
use link::{ChannelInfo, ChannelParams, GpLink, DEFAULT_KEY};
use names::EntryKind;

/// Process exit codes of `simkit gp`.
pub mod exit {
    pub const OK: u8 = 0;
    /// Files, card transport, malformed card answers.
    pub const ERROR: u8 = 1;
    /// Bad command line.
    pub const USAGE: u8 = 2;
    /// The card answered a command with an error status word.
    pub const CARD_REFUSED: u8 = 3;
    /// Secure channel failure: no such key set, wrong keys (card cryptogram), EXTERNAL
    /// AUTHENTICATE refused, a bad response MAC, or key check values that do not match.
    pub const AUTH: u8 = 4;
}

/// Failures with a meaning for the exit code.
#[derive(Debug, thiserror::Error)]
pub enum GpCliError {
    #[error("{0}")]
    Usage(String),
    #[error("{what}: the card answered {sw}{}", sw_meaning(*sw))]
    Card { what: String, sw: StatusWord },
    #[error("secure channel: {0}")]
    Auth(String),
}

/// Short meanings of the status words GP card content management returns (GP CS v2.3.1
/// §11.1.3 and the command tables of §11).
fn sw_meaning(sw: StatusWord) -> &'static str {
    match sw.0 {
        0x6581 => " (memory failure)",
        0x6700 => " (wrong length)",
        0x6982 => " (security status not satisfied)",
        0x6983 => " (authentication method blocked)",
        0x6985 => " (conditions of use not satisfied)",
        0x6A80 => " (incorrect values in the command data)",
        0x6A81 => " (function not supported)",
        0x6A82 => " (application not found)",
        0x6A84 => " (not enough memory space)",
        0x6A86 => " (incorrect P1 P2)",
        0x6A88 => " (referenced data not found)",
        0x6D00 => " (instruction not supported)",
        0x6E00 => " (class not supported)",
        0x6310 => " (more data available)",
        0x6300 => " (authentication failed)",
        _ => "",
    }
}

// ---------------------------------------------------------------------------------------------
// Command line

/// A hex byte string (spaces and ':' allowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hex(pub Vec<u8>);

pub fn parse_hex(s: &str) -> std::result::Result<Hex, String> {
    let clean: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    let clean = clean
        .strip_prefix("0x")
        .or_else(|| clean.strip_prefix("0X"))
        .unwrap_or(&clean);
    hex::decode(clean)
        .map(Hex)
        .map_err(|e| format!("{s:?} is not hex: {e}"))
}

/// An AID: 5 to 16 bytes in hex (ISO/IEC 7816-5).
pub fn parse_aid(s: &str) -> std::result::Result<Hex, String> {
    let h = parse_hex(s)?;
    if (5..=16).contains(&h.0.len()) {
        Ok(h)
    } else {
        Err(format!("an AID is 5 to 16 bytes, {s:?} has {}", h.0.len()))
    }
}

/// A key: 16, 24 or 32 bytes in hex.
pub fn parse_key(s: &str) -> std::result::Result<Hex, String> {
    let h = parse_hex(s)?;
    if matches!(h.0.len(), 16 | 24 | 32) {
        Ok(h)
    } else {
        Err(format!("a key is 16, 24 or 32 bytes, not {}", h.0.len()))
    }
}

/// A key version number, in hex as GlobalPlatform writes it ('30', '01'..'7F').
pub fn parse_kvn(s: &str) -> std::result::Result<u8, String> {
    let t = s.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    match u8::from_str_radix(t, 16) {
        Ok(v) if v <= 0x7F => Ok(v),
        _ => Err(format!("KVN {s:?}: one byte in hex, 00..7F")),
    }
}

/// `--scp 02|03` (also `2`, `3`, `SCP03`).
pub fn parse_scp(s: &str) -> std::result::Result<u8, String> {
    let t = s.trim().to_ascii_lowercase();
    match t.trim_start_matches("scp").trim_start_matches('0') {
        "2" => Ok(0x02),
        "3" => Ok(0x03),
        _ => Err(format!("--scp {s:?}: 02 or 03")),
    }
}

fn parse_i(s: &str) -> std::result::Result<u8, String> {
    u8::from_str_radix(s.trim().trim_start_matches("0x"), 16)
        .map_err(|_| format!("--scp-i {s:?}: one byte in hex, e.g. 15, 55, 70"))
}

/// Key options, as GlobalPlatformPro names them.
#[derive(Args, Debug, Clone)]
#[command(group(ArgGroup::new("div").multiple(false)))]
pub struct KeyArgs {
    /// One key for ENC, MAC and DEK (hex; default the GlobalPlatform test key 404142..4F).
    #[arg(long, value_parser = parse_key, value_name = "HEX", global = true)]
    pub key: Option<Hex>,
    /// Key-ENC (overrides --key).
    #[arg(long, value_parser = parse_key, value_name = "HEX", global = true)]
    pub key_enc: Option<Hex>,
    /// Key-MAC (overrides --key).
    #[arg(long, value_parser = parse_key, value_name = "HEX", global = true)]
    pub key_mac: Option<Hex>,
    /// Key-DEK (overrides --key).
    #[arg(long, value_parser = parse_key, value_name = "HEX", global = true)]
    pub key_dek: Option<Hex>,
    /// Key version number to ask for in INITIALIZE UPDATE, in hex (00: the card's default).
    #[arg(long, visible_alias = "key-ver", value_parser = parse_kvn, default_value = "00", value_name = "KVN", global = true)]
    pub kvn: u8,
    /// Secure channel protocol: 02 or 03 (default: what the card announces).
    #[arg(long, value_parser = parse_scp, value_name = "02|03", global = true)]
    pub scp: Option<u8>,
    /// The protocol's "i" parameter in hex (SCP02: 15, 55, ...; SCP03: 00, 10, 60, 70, ...).
    #[arg(long, value_parser = parse_i, value_name = "HEX", global = true)]
    pub scp_i: Option<u8>,
    /// Security level: mac, mac-enc (or enc), mac-rmac, mac-enc-rmac, mac-enc-rmac-renc (or
    /// renc), or the P1 byte in hex.
    #[arg(long, value_parser = link::parse_level, default_value = "mac", value_name = "LEVEL", global = true)]
    pub sec_level: SecurityLevel,
    /// EMV CPS 1.1 diversification of the (DES) master keys.
    #[arg(long, group = "div", global = true)]
    pub emv: bool,
    /// VISA2 diversification of the (DES) master keys.
    #[arg(long, group = "div", global = true)]
    pub visa2: bool,
    /// KDF3 diversification of the (AES) master keys.
    #[arg(long, group = "div", global = true)]
    pub kdf3: bool,
}

impl KeyArgs {
    pub fn channel_params(&self) -> ChannelParams {
        let base = self
            .key
            .as_ref()
            .map(|h| h.0.clone())
            .unwrap_or_else(|| DEFAULT_KEY.to_vec());
        let pick = |o: &Option<Hex>| o.as_ref().map(|h| h.0.clone()).unwrap_or(base.clone());
        ChannelParams {
            enc: pick(&self.key_enc),
            mac: pick(&self.key_mac),
            dek: pick(&self.key_dek),
            kvn: self.kvn,
            scp: self.scp,
            scp_i: self.scp_i,
            level: self.sec_level,
            diversification: self.diversification(),
        }
    }

    pub fn diversification(&self) -> Diversification {
        if self.emv {
            Diversification::EmvCps11
        } else if self.visa2 {
            Diversification::Visa2
        } else if self.kdf3 {
            Diversification::Kdf3
        } else {
            Diversification::None
        }
    }
}

/// `simkit gp` options.
#[derive(Args, Debug)]
pub struct GpArgs {
    /// The card file (see `simkit card create`); saved after every state change.
    #[arg(long, conflicts_with = "pcsc", global = true)]
    pub card: Option<PathBuf>,
    /// The card in a PC/SC reader instead (vpcd included): `--pcsc` for the first reader
    /// holding a card, or `--pcsc=READER` for a reader name or a unique part of one.
    #[arg(
        long,
        value_name = "READER",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "",
        global = true
    )]
    pub pcsc: Option<String>,
    /// With --card: the interface the commands arrive on (ignored with --pcsc). Common AIDs such
    /// as the ISD's route by the card's pairing of that protocol. The default, SPI (an embedded
    /// SE's host interface), is paired with the GlobalPlatform container out of the factory;
    /// the contact protocols reach the telecom container.
    #[arg(long, value_enum, default_value = "spi", global = true)]
    pub protocol: crate::pairing_cmd::ProtocolArg,
    /// The security domain to talk to.
    #[arg(long, value_parser = parse_aid, default_value = "A000000151000000", value_name = "AID", global = true)]
    pub sdaid: Hex,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Delegated Management: the card issuer's token key (PEM, NIST P-256 private key). Signs
    /// the Load, Install, Extradition and Delete Tokens an SSD with Delegated Management needs
    /// (GP CS v2.3.1 §9.2.1.4-5); `put-dm-keys` loads its public key into the ISD.
    #[arg(long, value_name = "FILE", global = true)]
    pub token_key: Option<PathBuf>,
    /// Delegated Management: the AES Receipt key; receipts in the responses are verified with
    /// it (GP CS §9.2.1.6); `put-dm-keys` loads it into the ISD.
    #[arg(long, value_parser = parse_key, value_name = "HEX", global = true)]
    pub receipt_key: Option<Hex>,
    #[command(subcommand)]
    pub command: GpCommand,
}

#[derive(Subcommand, Debug)]
pub enum GpCommand {
    /// CPLC, card data, key information and IIN/CIN (GET DATA, no secure channel).
    Info,
    /// The registry: ISD, applications and security domains, load files (GET STATUS).
    List,
    /// Load a CAP file and/or install an applet instance (INSTALL, LOAD).
    Install(InstallArgs),
    /// Delete an application, security domain or load file (DELETE).
    Delete {
        #[arg(value_parser = parse_aid)]
        aid: Hex,
        /// Also delete related objects (a load file with its instances; P2 '80').
        #[arg(long)]
        deps: bool,
    },
    /// Personalize an application: INSTALL [for personalization], then STORE DATA.
    StoreData(StoreDataArgs),
    /// Lock an application or security domain (SET STATUS).
    Lock {
        #[arg(value_parser = parse_aid)]
        aid: Hex,
    },
    /// Unlock an application or security domain (SET STATUS).
    Unlock {
        #[arg(value_parser = parse_aid)]
        aid: Hex,
    },
    /// Lock the card: SECURED → CARD_LOCKED (SET STATUS of the ISD).
    LockCard,
    /// Unlock the card: CARD_LOCKED → SECURED.
    UnlockCard,
    /// Add or replace a secure channel key set (PUT KEY), checking the card's key check values.
    PutKey(PutKeyArgs),
    /// Load the Delegated Management keys into the ISD (PUT KEY): the public part of
    /// --token-key (KVN 70) and/or --receipt-key (KVN 71); --replace replaces them.
    PutDmKeys {
        #[arg(long)]
        replace: bool,
    },
    /// Send APDUs (hex) through the secure channel.
    Apdu {
        #[arg(value_parser = parse_hex, required = true, value_name = "HEX")]
        apdus: Vec<Hex>,
    },
}

#[derive(Args, Debug)]
pub struct InstallArgs {
    /// Load file: a CAP file (ZIP of *.cap components), a directory of extracted components,
    /// or a raw Load File Data Block (.ijc).
    #[arg(long, value_name = "CAP")]
    pub load: Option<PathBuf>,
    /// Leave the Descriptor component out of the Load File Data Block.
    #[arg(long, requires = "load")]
    pub skip_descriptor: bool,
    /// Send the SHA-256 hash of the Load File Data Block in INSTALL [for load].
    #[arg(long, requires = "load")]
    pub hash: bool,
    /// LOAD block size (default: the most the secure channel allows).
    #[arg(long, value_parser = clap::value_parser!(u8).range(16..), value_name = "N")]
    pub block_size: Option<u8>,
    /// Install an instance of the (first) applet of the CAP file.
    #[arg(long)]
    pub install: bool,
    /// Instance AID to create (installs an instance; default the applet AID).
    #[arg(long, value_parser = parse_aid, value_name = "AID")]
    pub create: Option<Hex>,
    /// Executable load file (package) AID (default from the CAP file).
    #[arg(long, value_parser = parse_aid, value_name = "AID")]
    pub package: Option<Hex>,
    /// Executable module (applet) AID (default the CAP file's first applet).
    #[arg(long, value_parser = parse_aid, value_name = "AID")]
    pub applet: Option<Hex>,
    /// Application specific install parameters (the value of 'C9'), hex.
    #[arg(long, value_parser = parse_hex, value_name = "HEX")]
    pub params: Option<Hex>,
    /// Privileges: names separated by ',' (SecurityDomain, CardReset, ...) or hex.
    #[arg(long, value_parser = names::parse_privileges, value_name = "LIST")]
    pub privs: Option<std::vec::Vec<u8>>,
    /// Associate the load file with, and extradite the new instance to, this security domain.
    #[arg(long, value_parser = parse_aid, value_name = "SD")]
    pub to: Option<Hex>,
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("format").multiple(false)))]
pub struct StoreDataArgs {
    /// The application to personalize.
    #[arg(long, value_parser = parse_aid)]
    pub aid: Hex,
    /// Data (hex); repeat for several STORE DATA payloads sent in order.
    #[arg(long, value_parser = parse_hex, required = true, value_name = "HEX")]
    pub data: Vec<Hex>,
    /// The data are DGIs (P1 b5-b4 = 01).
    #[arg(long, group = "format")]
    pub dgi: bool,
    /// The data are BER-TLV objects (P1 b5-b4 = 10; the default).
    #[arg(long, group = "format")]
    pub ber: bool,
}

#[derive(Args, Debug)]
pub struct PutKeyArgs {
    /// One new key for ENC, MAC and DEK.
    #[arg(long, value_parser = parse_key, value_name = "HEX")]
    pub new_key: Option<Hex>,
    #[arg(long, value_parser = parse_key, value_name = "HEX")]
    pub new_key_enc: Option<Hex>,
    #[arg(long, value_parser = parse_key, value_name = "HEX")]
    pub new_key_mac: Option<Hex>,
    #[arg(long, value_parser = parse_key, value_name = "HEX")]
    pub new_key_dek: Option<Hex>,
    /// KVN of the new key set (hex; default the replaced set's).
    #[arg(long, value_parser = parse_kvn, value_name = "KVN")]
    pub new_kvn: Option<u8>,
    /// Replace a key set (hex KVN; without a value the set the channel was opened with)
    /// instead of adding one.
    #[arg(long, value_parser = parse_kvn, num_args = 0..=1, require_equals = true, default_missing_value = "00", value_name = "KVN")]
    pub replace: Option<u8>,
    /// Key type of the new set: aes or des (default that of the open channel).
    #[arg(long, value_parser = ["aes", "des"])]
    pub new_type: Option<String>,
    /// Afterwards prove the new keys: open a secure channel with them.
    #[arg(long)]
    pub rotate: bool,
}

// ---------------------------------------------------------------------------------------------
// Running

/// A card file reached over one interface ([`PersistentCard::transmit_on`]).
pub(crate) struct CardFileOn(pub(crate) PersistentCard, pub(crate) card::Protocol);

impl CardTransport for CardFileOn {
    fn transmit(&mut self, apdu: &[u8]) -> std::result::Result<Vec<u8>, apdu::TransportError> {
        self.0.transmit_on(self.1, apdu)
    }
}

/// The card: a card file (over `protocol`) or a card in a PC/SC reader (the selection
/// `simkit lpa` makes).
pub fn open_transport(
    card: Option<&std::path::Path>,
    pcsc: Option<&str>,
    protocol: card::Protocol,
) -> Result<Box<dyn CardTransport>> {
    match (card, pcsc) {
        (Some(path), _) => Ok(Box::new(CardFileOn(PersistentCard::open(path)?, protocol))),
        (None, Some(reader)) => Ok(Box::new(crate::pcsc_cmd::open(reader)?)),
        (None, None) => {
            Err(GpCliError::Usage("give the card: --card FILE or --pcsc[=READER]".into()).into())
        }
    }
}

/// The exit code for an error.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if let Some(g) = cause.downcast_ref::<GpCliError>() {
            return match g {
                GpCliError::Usage(_) => exit::USAGE,
                GpCliError::Card { .. } => exit::CARD_REFUSED,
                GpCliError::Auth(_) => exit::AUTH,
            };
        }
    }
    exit::ERROR
}

/// `simkit gp`: runs the command, prints its result or its error, returns the exit code.
pub fn cli(args: GpArgs, as_json: bool) -> ExitCode {
    match run(args) {
        Ok((doc, render)) => {
            if as_json {
                println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            } else {
                render(&doc);
            }
            ExitCode::from(exit::OK)
        }
        Err(e) => {
            let code = exit_code(&e);
            if as_json {
                let mut doc = json!({ "error": format!("{e:#}") });
                for cause in e.chain() {
                    if let Some(GpCliError::Card { sw, .. }) = cause.downcast_ref::<GpCliError>() {
                        doc["sw"] = json!(format!("{:04X}", sw.0));
                    }
                }
                println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            }
            eprintln!("error: {e:#}");
            ExitCode::from(code)
        }
    }
}

type Render = fn(&Value);

/// Runs one `simkit gp` command; returns its JSON document and its human renderer.
pub fn run(args: GpArgs) -> Result<(Value, Render)> {
    let card = open_transport(
        args.card.as_deref(),
        args.pcsc.as_deref(),
        args.protocol.into(),
    )?;
    let mut link = GpLink::new(card);
    let dm = dm::DmOptions::load(args.token_key.as_deref(), args.receipt_key.as_ref())?;
    run_on_dm(&mut link, &args.sdaid.0, &args.keys, &dm, args.command)
}

/// Runs a command on an already connected card.
pub fn run_on(
    link: &mut GpLink,
    sd: &[u8],
    keys: &KeyArgs,
    command: GpCommand,
) -> Result<(Value, Render)> {
    run_on_dm(link, sd, keys, &dm::DmOptions::default(), command)
}

/// [`run_on`] with Delegated Management tokens and receipt verification.
pub fn run_on_dm(
    link: &mut GpLink,
    sd: &[u8],
    keys: &KeyArgs,
    dm: &dm::DmOptions,
    command: GpCommand,
) -> Result<(Value, Render)> {
    let mut rng = crate::os_rng();
    link.select(sd)?;
    let params = keys.channel_params();
    // Everything but `info` works through a secure channel.
    let chan = match command {
        GpCommand::Info => None,
        _ => Some(link.open(&params, &mut rng)?),
    };
    let (doc, render): (Value, Render) = match command {
        GpCommand::Info => (info(link)?, render_info),
        GpCommand::List => (list(link)?, render_list),
        GpCommand::Install(a) => (install(link, sd, &a, dm)?, render_done),
        GpCommand::Delete { aid, deps } => {
            let mut cmd = Delete {
                aid: aid.0.clone(),
                related_objects: deps,
            }
            .command();
            dm.sign_delete(&mut cmd)?;
            let r = link.send_ok(&cmd, &format!("DELETE {}", hex::encode_upper(&aid.0)))?;
            let mut doc =
                json!({ "operation": "delete", "aid": hex::encode_upper(&aid.0), "deps": deps });
            if let Some(rc) = dm.receipt("delete", &r, &[&aid.0])? {
                doc["receipts"] = json!([rc]);
            }
            (doc, render_done)
        }
        GpCommand::PutDmKeys { replace } => {
            (put_dm_keys(link, dm, replace, &mut rng)?, render_done)
        }
        GpCommand::StoreData(a) => (store_data(link, &a)?, render_done),
        GpCommand::Lock { aid } => (set_status(link, 0x40, 0x80, &aid.0, "lock")?, render_done),
        GpCommand::Unlock { aid } => (set_status(link, 0x40, 0x00, &aid.0, "unlock")?, render_done),
        // Card life cycle (GP CS v2.3.1 §5.1.1, Table 11-2): CARD_LOCKED '7F', SECURED '0F'.
        GpCommand::LockCard => (set_status(link, 0x80, 0x7F, &[], "lock-card")?, render_done),
        GpCommand::UnlockCard => (
            set_status(link, 0x80, 0x0F, &[], "unlock-card")?,
            render_done,
        ),
        GpCommand::PutKey(a) => {
            let chan = chan
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("no secure channel"))?;
            (put_key(link, sd, &params, chan, &a, &mut rng)?, render_done)
        }
        GpCommand::Apdu { apdus } => {
            let mut out = Vec::new();
            for raw in apdus {
                let cmd = Command::parse(&raw.0).map_err(|e| {
                    GpCliError::Usage(format!("APDU {}: {e}", hex::encode_upper(&raw.0)))
                })?;
                let r = link.send(&cmd)?;
                out.push(json!({
                    "command": hex::encode_upper(&raw.0),
                    "response": hex::encode_upper(&r.data),
                    "sw": format!("{:04X}", r.sw.0),
                }));
            }
            (
                json!({ "operation": "apdu", "responses": out }),
                render_done,
            )
        }
    };
    let doc = match &chan {
        Some(c) => with_channel(doc, c),
        None => doc,
    };
    Ok((doc, render))
}

fn scp_json(scp: Scp) -> Value {
    json!({ "scp": format!("{:02X}", scp.id()), "i": format!("{:02X}", scp.i()) })
}

fn with_channel(mut doc: Value, chan: &ChannelInfo) -> Value {
    doc["channel"] = json!({
        "scp": format!("{:02X}", chan.scp.id()),
        "i": format!("{:02X}", chan.scp.i()),
        "kvn": format!("{:02X}", chan.kvn),
        "securityLevel": format!("{:02X}", chan.level.p1()),
        "kdd": hex::encode_upper(chan.kdd),
    });
    doc
}

fn set_status(link: &mut GpLink, p1: u8, p2: u8, aid: &[u8], op: &str) -> Result<Value> {
    let cmd = SetStatus {
        status_type: p1,
        state: p2,
        aid: aid.to_vec(),
    }
    .command();
    link.send_ok(&cmd, &format!("SET STATUS {p1:02X} {p2:02X}"))?;
    let mut doc = json!({ "operation": op });
    if !aid.is_empty() {
        doc["aid"] = json!(hex::encode_upper(aid));
    }
    Ok(doc)
}

fn render_done(v: &Value) {
    let op = v["operation"].as_str().unwrap_or("?");
    match op {
        "apdu" => {
            for r in v["responses"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                let data = r["response"].as_str().unwrap_or("");
                let sw = r["sw"].as_str().unwrap_or("");
                println!(
                    "{} -> {data}{}{sw}",
                    r["command"].as_str().unwrap_or(""),
                    if data.is_empty() { "" } else { " " }
                );
            }
        }
        "install" => {
            if let Some(lf) = v.get("loaded") {
                println!(
                    "Loaded {} ({} bytes, {} LOAD blocks)",
                    lf["packageAid"].as_str().unwrap_or("?"),
                    lf["size"],
                    lf["blocks"]
                );
            }
            if let Some(i) = v.get("installed") {
                println!(
                    "Installed {} (module {} of {})",
                    i["aid"].as_str().unwrap_or("?"),
                    i["module"].as_str().unwrap_or("?"),
                    i["package"].as_str().unwrap_or("?")
                );
            }
            if let Some(to) = v["extraditedTo"].as_str() {
                println!("Extradited to {to}");
            }
        }
        "put-key" => {
            println!(
                "Key set {} {} ({}), KCVs verified: ENC {} MAC {} DEK {}",
                v["newKvn"].as_str().unwrap_or("?"),
                if v["replaced"].is_null() {
                    "added"
                } else {
                    "replaced"
                },
                v["keyType"].as_str().unwrap_or("?"),
                v["kcv"]["enc"].as_str().unwrap_or("?"),
                v["kcv"]["mac"].as_str().unwrap_or("?"),
                v["kcv"]["dek"].as_str().unwrap_or("?"),
            );
            if v["rotated"] == true {
                println!("New keys open a secure channel");
            }
        }
        "store-data" => println!(
            "Personalized {} ({} STORE DATA blocks)",
            v["aid"].as_str().unwrap_or("?"),
            v["blocks"]
        ),
        _ => match v["aid"].as_str() {
            Some(aid) => println!("{op} {aid}: done"),
            None => println!("{op}: done"),
        },
    }
    for r in v["receipts"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        println!(
            "Receipt for {}: counter {}, {} ({})",
            r["operation"].as_str().unwrap_or("?"),
            r["confirmationCounter"],
            r["receipt"].as_str().unwrap_or("?"),
            if r["verified"] == true {
                "verified"
            } else {
                "not verified: no --receipt-key"
            }
        );
    }
}

// ---------------------------------------------------------------------------------------------
// info

fn info(link: &mut GpLink) -> Result<Value> {
    let mut doc = json!({ "sd": hex::encode_upper(link.sd_aid()) });
    if let Some(scp) = link::scp_from_recognition_data(link.fci()) {
        doc["fciScp"] = scp_json(scp);
    }
    if let Some(cplc) = link.get_data(commands::tags::CPLC)? {
        doc["cplc"] = match names::decode_cplc(&cplc) {
            Some(fields) => {
                let mut m = serde_json::Map::new();
                for (k, v) in fields {
                    m.insert(k.to_string(), json!(v));
                }
                m.insert("raw".into(), json!(hex::encode_upper(&cplc)));
                Value::Object(m)
            }
            None => json!({ "raw": hex::encode_upper(&cplc) }),
        };
    }
    if let Some(cd) = link.get_data(commands::tags::CARD_DATA)? {
        doc["cardData"] = decode_card_data(&cd);
    }
    if let Some(kit) = link.get_data(commands::tags::KEY_INFORMATION_TEMPLATE)? {
        doc["keys"] = match commands::parse_key_information(&kit) {
            Ok(keys) => Value::Array(keys.iter().map(key_json).collect()),
            Err(e) => json!({ "raw": hex::encode_upper(&kit), "error": e.to_string() }),
        };
    }
    for (tag, name) in [
        (commands::tags::ISSUER_IDENTIFICATION_NUMBER, "iin"),
        (commands::tags::CARD_IMAGE_NUMBER, "cin"),
    ] {
        if let Some(v) = link.get_data(tag)? {
            // The answer is the data object itself ('42'/'45' TLV).
            let value = tlv::Tlv::parse_expecting(&v, tlv::Tag(u32::from(tag)))
                .map(|t| t.value.to_vec())
                .unwrap_or(v);
            doc[name] = json!(hex::encode_upper(value));
        }
    }
    Ok(doc)
}

fn key_json(k: &KeyInformation) -> Value {
    json!({
        "kvn": format!("{:02X}", k.kvn),
        "id": format!("{:02X}", k.key_id),
        "components": k.components.iter().map(|(t, l)| json!({
            "type": names::key_type_name(*t),
            "typeCode": format!("{t:02X}"),
            "length": l,
        })).collect::<Vec<_>>(),
    })
}

/// Card Data ('66' { '73' { '06' gp 1, '60' { '06' gp 2 version }, '63', '64' { '06' gp 4
/// scp i } ... } }), GP CS v2.3.1 Annex H.2.
fn decode_card_data(cd: &[u8]) -> Value {
    let mut doc = json!({ "raw": hex::encode_upper(cd) });
    let Some(crd) = link::find_path(cd, &[0x66, 0x73]).or_else(|| link::find_path(cd, &[0x73]))
    else {
        return doc;
    };
    const GP_OID: [u8; 6] = [0x2A, 0x86, 0x48, 0x86, 0xFC, 0x6B];
    let mut scps = Vec::new();
    for t in tlv::iter(crd).flatten() {
        let oid = tlv::find(t.value, tlv::Tag(0x06))
            .ok()
            .flatten()
            .map(|o| o.value);
        match (t.tag.0, oid.and_then(|o| o.strip_prefix(&GP_OID[..]))) {
            (0x60, Some([0x02, v @ ..])) => {
                doc["gpVersion"] = json!(v.iter().map(u8::to_string).collect::<Vec<_>>().join("."));
            }
            (0x64, Some(_)) => {
                if let Some(scp) = oid.and_then(|o| Scp::from_oid(o).ok()) {
                    scps.push(scp_json(scp));
                }
            }
            _ => {}
        }
    }
    doc["scp"] = Value::Array(scps);
    doc
}

fn render_info(v: &Value) {
    println!("Security domain {}", v["sd"].as_str().unwrap_or("?"));
    match v.get("cplc").and_then(Value::as_object) {
        Some(m) => {
            println!("CPLC:");
            // In the order of the data object, not the JSON map's.
            for (k, _) in names::CPLC_FIELDS {
                if let Some(val) = m.get(k).and_then(Value::as_str) {
                    println!("  {k:<36} {val}");
                }
            }
        }
        None => println!("CPLC: none"),
    }
    if let Some(cd) = v.get("cardData") {
        if let Some(ver) = cd["gpVersion"].as_str() {
            println!("GlobalPlatform version {ver}");
        }
        for s in cd["scp"].as_array().map(Vec::as_slice).unwrap_or_default() {
            println!(
                "Supports SCP{} i={}",
                s["scp"].as_str().unwrap_or("?"),
                s["i"].as_str().unwrap_or("?")
            );
        }
    }
    match v.get("keys").and_then(Value::as_array) {
        Some(keys) => {
            println!("Key information:");
            for k in keys {
                let comps: Vec<String> = k["components"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .map(|c| {
                        format!(
                            "{} {} bytes",
                            c["type"].as_str().unwrap_or("?"),
                            c["length"]
                        )
                    })
                    .collect();
                println!(
                    "  KVN {} id {}: {}",
                    k["kvn"].as_str().unwrap_or("?"),
                    k["id"].as_str().unwrap_or("?"),
                    comps.join(", ")
                );
            }
        }
        None => println!("Key information: none"),
    }
    for (k, label) in [("iin", "IIN"), ("cin", "CIN")] {
        if let Some(x) = v[k].as_str() {
            println!("{label} {x}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// list

/// All entries of one GET STATUS subset (GP CS v2.3.1 §11.4): the 'E3' format first, the
/// legacy format when the card refuses it (`6A86`), `6310` continued with P2 b1 "next",
/// `6A88` as no entries.
pub fn get_status(link: &mut GpLink, subset: StatusSubset) -> Result<Vec<RegistryEntry>> {
    link.inner().get_status(subset, &[]).map_err(|e| match e {
        gp::host::HostError::Gp(e) => {
            anyhow::Error::from(e).context(format!("GET STATUS {:02X} response", subset.p1()))
        }
        e => link::cli_error(e),
    })
}

fn entry_json(e: &RegistryEntry, kind: EntryKind) -> Value {
    let kind = match kind {
        EntryKind::Application if e.privileges.first().is_some_and(|p| p & 0x80 != 0) => {
            EntryKind::SecurityDomain
        }
        k => k,
    };
    let mut v = json!({
        "aid": hex::encode_upper(&e.aid),
        "kind": match kind {
            EntryKind::Isd => "ISD",
            EntryKind::SecurityDomain => "SD",
            EntryKind::Application => "APP",
            EntryKind::LoadFile => "PKG",
        },
        "lifeCycle": format!("{:02X}", e.life_cycle),
        "state": names::life_cycle_name(kind, e.life_cycle),
    });
    if kind != EntryKind::LoadFile {
        v["privileges"] = json!(hex::encode_upper(&e.privileges));
        v["privilegeNames"] = json!(names::privilege_names(&e.privileges));
    }
    if let Some(lf) = &e.load_file_aid {
        v["loadFile"] = json!(hex::encode_upper(lf));
    }
    if let Some(ver) = &e.load_file_version {
        v["version"] = json!(ver.iter().map(u8::to_string).collect::<Vec<_>>().join("."));
    }
    if !e.modules.is_empty() {
        v["modules"] = json!(e.modules.iter().map(hex::encode_upper).collect::<Vec<_>>());
    }
    if let Some(sd) = &e.associated_sd {
        v["associatedSd"] = json!(hex::encode_upper(sd));
    }
    v
}

fn list(link: &mut GpLink) -> Result<Value> {
    let isd = get_status(link, StatusSubset::Isd)?;
    let apps = get_status(link, StatusSubset::Applications)?;
    // Load files with their modules; cards without '10' answer 6A86 to it.
    let files = match get_status(link, StatusSubset::LoadFilesAndModules) {
        Ok(f) => f,
        Err(e) if exit_code(&e) == exit::CARD_REFUSED => get_status(link, StatusSubset::LoadFiles)?,
        Err(e) => return Err(e),
    };
    Ok(json!({
        "isd": isd.iter().map(|e| entry_json(e, EntryKind::Isd)).collect::<Vec<_>>(),
        "applications": apps.iter().map(|e| entry_json(e, EntryKind::Application)).collect::<Vec<_>>(),
        "loadFiles": files.iter().map(|e| entry_json(e, EntryKind::LoadFile)).collect::<Vec<_>>(),
    }))
}

fn render_list(v: &Value) {
    for key in ["isd", "applications", "loadFiles"] {
        for e in v[key].as_array().map(Vec::as_slice).unwrap_or_default() {
            println!(
                "{}: {} ({})",
                e["kind"].as_str().unwrap_or("?"),
                e["aid"].as_str().unwrap_or("?"),
                e["state"].as_str().unwrap_or("?")
            );
            if let Some(p) = e["privilegeNames"].as_array().filter(|p| !p.is_empty()) {
                let p: Vec<&str> = p.iter().filter_map(Value::as_str).collect();
                println!("     Privs:   {}", p.join(", "));
            }
            if let Some(sd) = e["associatedSd"].as_str() {
                println!("     Parent:  {sd}");
            }
            if let Some(lf) = e["loadFile"].as_str() {
                println!("     From:    {lf}");
            }
            if let Some(ver) = e["version"].as_str() {
                println!("     Version: {ver}");
            }
            for m in e["modules"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                println!("     Applet:  {}", m.as_str().unwrap_or("?"));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// install / load

fn install(link: &mut GpLink, sd: &[u8], a: &InstallArgs, dm: &dm::DmOptions) -> Result<Value> {
    let mut doc = json!({ "operation": "install" });
    let mut receipts = Vec::new();
    let load_file = a
        .load
        .as_deref()
        .map(|p| cap::LoadFile::from_path(p, !a.skip_descriptor))
        .transpose()?;
    let wants_instance = a.install || a.create.is_some();
    if load_file.is_none() && !wants_instance {
        return Err(GpCliError::Usage(
            "install needs --load CAP and/or --install/--create AID".into(),
        )
        .into());
    }
    if let Some(lf) = &load_file {
        let associated =
            a.to.as_ref()
                .map(|h| h.0.clone())
                .unwrap_or_else(|| sd.to_vec());
        // A Load Token needs the hash (GP CS §C.4.1): always sent when signing tokens.
        let hash = if a.hash || dm.token_key.is_some() {
            use sha2::Digest;
            sha2::Sha256::digest(&lf.lfdb).to_vec()
        } else {
            Vec::new()
        };
        // INSTALL [for load] (GP CS v2.3.1 §11.5.2.3.1): load file AID, SD AID, hash.
        // With Delegated Management the Load Token signs the SD AID as sent (Annex C.4.1).
        let cmd = dm
            .sign_install(Install::ForLoad {
                load_file_aid: lf.package_aid.clone(),
                security_domain_aid: associated.clone(),
                load_file_data_block_hash: hash.clone(),
                load_parameters: Vec::new(),
                load_token: Vec::new(),
            })?
            .command()?;
        link.send_ok(&cmd, "INSTALL [for load]")?;
        // LOAD (§11.6): 'C4' Load File Data Block in blocks numbered from 00.
        let block = usize::from(a.block_size.unwrap_or(255)).min(link.max_data());
        let blocks = commands::load_commands(&[], &lf.lfdb, block)?;
        let n = blocks.len();
        let mut last = Vec::new();
        for (i, b) in blocks.iter().enumerate() {
            last = link.send_ok(b, &format!("LOAD block {i} of {n}"))?;
        }
        receipts.extend(dm.receipt("load", &last, &[&lf.package_aid, &associated])?);
        doc["loaded"] = json!({
            "packageAid": hex::encode_upper(&lf.package_aid),
            "version": format!("{}.{}", lf.version.0, lf.version.1),
            "applets": lf.applets.iter().map(hex::encode_upper).collect::<Vec<_>>(),
            "components": lf.components,
            "size": lf.lfdb.len(),
            "blocks": n,
            "hash": (!hash.is_empty()).then(|| hex::encode_upper(&hash)),
        });
    }
    if wants_instance {
        let package = a
            .package
            .as_ref()
            .map(|h| h.0.clone())
            .or_else(|| load_file.as_ref().map(|l| l.package_aid.clone()))
            .ok_or_else(|| GpCliError::Usage("--package AID (or --load CAP) is needed".into()))?;
        let module = a
            .applet
            .as_ref()
            .map(|h| h.0.clone())
            .or_else(|| load_file.as_ref().and_then(|l| l.applets.first().cloned()))
            .ok_or_else(|| {
                GpCliError::Usage("--applet AID is needed (the CAP file has no applet)".into())
            })?;
        let instance = a
            .create
            .as_ref()
            .map(|h| h.0.clone())
            .unwrap_or_else(|| module.clone());
        let privileges = a.privs.clone().unwrap_or_else(|| vec![0x00]);
        let parameters = InstallParameters {
            application_specific: a.params.as_ref().map(|h| h.0.clone()).unwrap_or_default(),
            ..InstallParameters::default()
        }
        .encode();
        // INSTALL [for install and make selectable] (GP CS v2.3.1 §11.5.2.3.2, P1 '0C').
        let cmd = dm
            .sign_install(Install::ForInstall {
                make_selectable: true,
                load_file_aid: package.clone(),
                module_aid: module.clone(),
                application_aid: instance.clone(),
                privileges: privileges.clone(),
                parameters,
                token: Vec::new(),
            })?
            .command()?;
        let r = link.send_ok(&cmd, "INSTALL [for install and make selectable]")?;
        receipts.extend(dm.receipt("install", &r, &[&package, &instance])?);
        doc["installed"] = json!({
            "aid": hex::encode_upper(&instance),
            "module": hex::encode_upper(&module),
            "package": hex::encode_upper(&package),
            "privileges": hex::encode_upper(&privileges),
            "privilegeNames": names::privilege_names(&privileges),
        });
        if let Some(to) = &a.to {
            // INSTALL [for extradition] (§11.5.2.3.4).
            let cmd = dm
                .sign_install(Install::ForExtradition {
                    security_domain_aid: to.0.clone(),
                    application_aid: instance.clone(),
                    parameters: Vec::new(),
                    token: Vec::new(),
                })?
                .command()?;
            let r = link.send_ok(&cmd, "INSTALL [for extradition]")?;
            receipts.extend(dm.receipt("extradition", &r, &[sd, &instance, &to.0])?);
            doc["extraditedTo"] = json!(hex::encode_upper(&to.0));
        }
    }
    if !receipts.is_empty() {
        doc["receipts"] = json!(receipts);
    }
    Ok(doc)
}

// ---------------------------------------------------------------------------------------------
// put-dm-keys

/// PUT KEY of the Token Verification key (KVN '70', the public part of --token-key) and/or
/// the Receipt key (KVN '71', AES, under the session DEK) into the ISD (GP CS v2.3.1 §11.8,
/// [`gp::dm`]).
fn put_dm_keys(
    link: &mut GpLink,
    dm: &dm::DmOptions,
    replace: bool,
    rng: &mut dyn rand_core::CryptoRng,
) -> Result<Value> {
    if dm.token_key.is_none() && dm.receipt_key.is_none() {
        return Err(
            GpCliError::Usage("put-dm-keys needs --token-key and/or --receipt-key".into()).into(),
        );
    }
    let mut doc = json!({ "operation": "put-dm-keys" });
    if let Some(k) = &dm.token_key {
        let data = gp::dm::token_key_put_key_data(&k.public_key().to_uncompressed())?;
        let p1 = if replace { gp::dm::TOKEN_KEY_KVN } else { 0 };
        link.send_ok(&put_key_command(p1, 0x01, &data)?, "PUT KEY (token key)")?;
        doc["tokenKeyKvn"] = json!("70");
    }
    if let Some(k) = &dm.receipt_key {
        let dek = link
            .session()
            .map(|s| s.dek().clone())
            .ok_or_else(|| anyhow::anyhow!("no secure channel"))?;
        let data = gp::dm::receipt_key_put_key_data(KeyType::Aes, k, &dek, rng)?;
        let p1 = if replace { gp::dm::RECEIPT_KEY_KVN } else { 0 };
        link.send_ok(&put_key_command(p1, 0x01, &data)?, "PUT KEY (receipt key)")?;
        doc["receiptKeyKvn"] = json!("71");
    }
    Ok(doc)
}

// ---------------------------------------------------------------------------------------------
// store-data

/// STORE DATA P1 (GP CS v2.3.1 §11.11.2.1, Table 11-89): b8 last block, b5-b4 the data
/// structure (01 DGI, 10 BER-TLV), no encryption information.
const STORE_LAST: u8 = 0x80;
const STORE_DGI: u8 = 0x08;
const STORE_BER: u8 = 0x10;
const INS_STORE_DATA: u8 = 0xE2;

fn store_data(link: &mut GpLink, a: &StoreDataArgs) -> Result<Value> {
    let cmd = Install::ForPersonalization {
        application_aid: a.aid.0.clone(),
    }
    .command()?;
    link.send_ok(&cmd, "INSTALL [for personalization]")?;
    let format = if a.dgi { STORE_DGI } else { STORE_BER };
    let max = link.max_data();
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    for d in &a.data {
        if d.0.is_empty() {
            return Err(GpCliError::Usage("empty --data".into()).into());
        }
        blocks.extend(d.0.chunks(max).map(<[u8]>::to_vec));
    }
    if blocks.len() > 256 {
        return Err(GpCliError::Usage("more than 256 STORE DATA blocks".into()).into());
    }
    let n = blocks.len();
    for (i, b) in blocks.into_iter().enumerate() {
        let p1 = format | if i + 1 == n { STORE_LAST } else { 0 };
        let cmd = Command::with_data(commands::CLA_GP, INS_STORE_DATA, p1, i as u8, b).le(256);
        link.send_ok(&cmd, &format!("STORE DATA block {i}"))?;
    }
    Ok(json!({
        "operation": "store-data",
        "aid": hex::encode_upper(&a.aid.0),
        "format": if a.dgi { "DGI" } else { "BER-TLV" },
        "blocks": n,
    }))
}

// ---------------------------------------------------------------------------------------------
// put-key

fn put_key(
    link: &mut GpLink,
    sd: &[u8],
    params: &ChannelParams,
    chan: &ChannelInfo,
    a: &PutKeyArgs,
    rng: &mut dyn rand_core::CryptoRng,
) -> Result<Value> {
    let base = a.new_key.as_ref().map(|h| h.0.clone());
    let pick = |o: &Option<Hex>, name: &str| -> Result<Vec<u8>> {
        o.as_ref()
            .map(|h| h.0.clone())
            .or_else(|| base.clone())
            .ok_or_else(|| {
                GpCliError::Usage(format!("--new-key or --new-key-{name} is needed")).into()
            })
    };
    let (enc, mac, dek) = (
        pick(&a.new_key_enc, "enc")?,
        pick(&a.new_key_mac, "mac")?,
        pick(&a.new_key_dek, "dek")?,
    );
    // '00' for --replace without a value: the key set the channel was opened with.
    let replace = a.replace.map(|k| if k == 0 { chan.kvn } else { k });
    let new_kvn = match (a.new_kvn, replace) {
        (Some(k), _) => k,
        (None, Some(r)) => r,
        (None, None) => {
            return Err(GpCliError::Usage("--new-kvn KVN (or --replace) is needed".into()).into())
        }
    };
    if new_kvn == 0 {
        return Err(GpCliError::Usage("the new KVN must be 01..7F".into()).into());
    }
    let key_type = match a.new_type.as_deref() {
        Some("des") => KeyType::Des,
        Some(_) => KeyType::Aes,
        None => match chan.scp {
            Scp::Scp02(_) => KeyType::Des,
            Scp::Scp03(_) => KeyType::Aes,
        },
    };
    let keys = KeySet::new(key_type, new_kvn, &enc, &mac, &dek)
        .map_err(|e| GpCliError::Usage(format!("new keys: {e}")))?;
    let session_dek = link
        .session()
        .map(|s| s.dek().clone())
        .ok_or_else(|| anyhow::anyhow!("no secure channel"))?;
    let data = PutKeyData::for_key_set(&keys, &session_dek, rng)?;
    // PUT KEY (GP CS v2.3.1 §11.8): P1 the replaced KVN ('00' adds), P2 key id 1 + "more".
    let cmd = put_key_command(replace.unwrap_or(0), gp::keys::KEY_ID_ENC, &data)?;
    let answer = link.send_ok(&cmd, "PUT KEY")?;
    // The response is the KVN and each key's check value (§11.8.3.1).
    let kcvs = [
        keys.kcv(KeyUsage::Enc)?,
        keys.kcv(KeyUsage::Mac)?,
        keys.kcv(KeyUsage::Dek)?,
    ];
    let mut expected = vec![new_kvn];
    for k in &kcvs {
        expected.extend_from_slice(k);
    }
    if answer != expected {
        return Err(GpCliError::Auth(format!(
            "PUT KEY answered {}, expected KVN and KCVs {}",
            hex::encode_upper(&answer),
            hex::encode_upper(&expected)
        ))
        .into());
    }
    let mut doc = json!({
        "operation": "put-key",
        "newKvn": format!("{new_kvn:02X}"),
        "replaced": replace.map(|r| format!("{r:02X}")),
        "keyType": if key_type == KeyType::Aes { "AES" } else { "DES" },
        "keyLength": keys.key_len(),
        "kcv": {
            "enc": hex::encode_upper(kcvs[0]),
            "mac": hex::encode_upper(kcvs[1]),
            "dek": hex::encode_upper(kcvs[2]),
        },
    });
    if a.rotate {
        // Prove the new keys: a fresh session with them, on the new KVN.
        link.close();
        link.select(sd)?;
        let proof = ChannelParams {
            enc,
            mac,
            dek,
            kvn: new_kvn,
            scp: Some(if key_type == KeyType::Aes { 0x03 } else { 0x02 }),
            scp_i: None,
            level: params.level,
            diversification: Diversification::None,
        };
        let c = link.open(&proof, rng)?;
        doc["rotated"] = json!(true);
        doc["verifiedChannel"] = with_channel(json!({}), &c)["channel"].clone();
    }
    Ok(doc)
}

#[cfg(test)]
mod tests;
