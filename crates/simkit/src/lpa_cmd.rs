//! `simkit lpa`: the LPA (LPAd, SGP.22 §3.1–§3.5, ES10a/b/c of §5.7, ES9+ of §6.5.2) driving a
//! virtual eUICC kept in a card file ([`crate::card_file::PersistentCard`], saved after every
//! state change), or a card in a PC/SC reader (`--pcsc`, [`crate::pcsc_cmd`]).
//!
//! ES9+ runs over HTTPS. The TLS server certificate must chain to a trust anchor (SGP.22
//! §2.6.6.1: the SM-DP+ TLS certificate is issued under the GSMA CI): by default the CI
//! certificates the card itself trusts, or those given with `--trust`. Plain `http://`
//! SM-DP+ addresses are refused unless `--allow-http` (lab use).
//!
//! Exit codes ([`exit`]): 0 ok, 1 error, 2 usage, 3 the SM-DP+ answered with an SGP.22 status
//! code (§6.5.1.4), 4 the eUICC refused (an ES10 result other than `ok`, or a failed Profile
//! Installation Result). With `--json` every command prints one JSON document on stdout, an
//! `{"error": ...}` document when it fails.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{ArgGroup, Args, Subcommand};
use lpa::{HttpTransport, Lpa, LpaError, NotificationStatus, ProfileMetadata};
use rsp::es10c::{reset_options, ProfileIdentifier, ProfileInfo};
use rsp::notification::NotificationEvent;
use rsp::{BitString, Iccid, ProfileClass, ProfileState};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde_json::{json, Value};

use crate::card_file::PersistentCard;

/// The card the LPA drives: a card file or a card in a PC/SC reader.
type CardLink = Box<dyn apdu::CardTransport>;

/// Process exit codes of `simkit lpa`.
pub mod exit {
    pub const OK: u8 = 0;
    /// Any other failure: files, card transport, network, TLS, protocol.
    pub const ERROR: u8 = 1;
    /// Bad command line (clap's own code), or a refusal a flag would lift (`--yes`,
    /// `--allow-http`).
    pub const USAGE: u8 = 2;
    /// The SM-DP+ answered with a `Failed` function execution status (SGP.22 §6.5.1.4).
    pub const SMDP_STATUS: u8 = 3;
    /// The eUICC refused: an ES10 result other than `ok` (SGP.22 §5.7), or an installation
    /// failure in the Profile Installation Result.
    pub const EUICC_REFUSED: u8 = 4;
}

/// TAC announced in DeviceInfo when none is given (the one of the SGP.23 test devices).
const DEFAULT_TAC: &str = "35290611";
/// `profileNickname UTF8String (SIZE(0..64))` (SGP.22 §5.7.21).
const MAX_NICKNAME: usize = 64;

/// `simkit lpa` options.
#[derive(Args, Debug)]
pub struct LpaArgs {
    /// The card file (see `simkit card create`); saved after every state change.
    #[arg(long, conflicts_with = "pcsc")]
    pub card: Option<PathBuf>,
    /// The card in a PC/SC reader instead: `--pcsc` for the first reader holding a card, or
    /// `--pcsc=READER` for a reader name or a unique part of one (see `simkit lpa readers`).
    #[arg(
        long,
        value_name = "READER",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = ""
    )]
    pub pcsc: Option<String>,
    /// TLS trust anchor for ES9+ (DER or PEM, several certificates per PEM file allowed;
    /// repeatable). Given, they replace the default: the CI certificates the card trusts.
    #[arg(long, value_name = "CERT")]
    pub trust: Vec<PathBuf>,
    /// Permit plain `http://` SM-DP+ addresses (lab use only: SGP.22 requires TLS).
    #[arg(long)]
    pub allow_http: bool,
    #[command(subcommand)]
    pub command: LpaCommand,
}

#[derive(Subcommand, Debug)]
pub enum LpaCommand {
    /// Download and install a profile (SGP.22 §3.1.3): from an activation code, an SM-DP+
    /// address and matchingId, or the card's default SM-DP+ address.
    Download(DownloadArgs),
    /// List the installed profiles (ES10c.GetProfilesInfo).
    List,
    /// Enable a profile (ES10c.EnableProfile).
    Enable(SwitchArgs),
    /// Disable a profile (ES10c.DisableProfile).
    Disable(SwitchArgs),
    /// Delete a disabled profile (ES10c.DeleteProfile).
    Delete {
        /// ICCID (18-20 digits) or ISD-P AID (hex).
        #[arg(value_parser = parse_profile_ref, value_name = "ICCID|AID")]
        profile: ProfileIdentifier,
    },
    /// Set a profile's nickname (ES10c.SetNickname); an empty NAME removes it.
    Nickname {
        /// ICCID (18-20 digits) or ISD-P AID (hex).
        #[arg(value_parser = parse_profile_ref, value_name = "ICCID|AID")]
        profile: ProfileIdentifier,
        name: String,
    },
    /// Pending notifications (SGP.22 §3.5).
    #[command(subcommand)]
    Notifications(NotificationsCommand),
    /// EID, EUICCInfo2 highlights and configured addresses.
    Info,
    /// The EID (ES10c.GetEID).
    Eid,
    /// Set the default SM-DP+ address (ES10a.SetDefaultDpAddress); "" removes it.
    SetDefaultDp {
        #[arg(value_name = "ADDR")]
        address: String,
    },
    /// The PC/SC readers and the cards in them (needs no --card or --pcsc).
    Readers,
    /// eUICC memory reset (ES10c.eUICCMemoryReset): delete profiles and/or reset the default
    /// SM-DP+ address.
    #[command(group(ArgGroup::new("what").required(true).multiple(true)))]
    MemoryReset {
        /// Delete all operational profiles.
        #[arg(long, group = "what")]
        operational: bool,
        /// Delete field-loaded test profiles.
        #[arg(long, group = "what")]
        test: bool,
        /// Reset the default SM-DP+ address.
        #[arg(long, group = "what")]
        default_dp: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum NotificationsCommand {
    /// List pending notifications (ES10b.ListNotification).
    List,
    /// Send each pending notification to its address (ES9+.HandleNotification) and remove the
    /// delivered ones from the eUICC (ES10b.RemoveNotificationFromList).
    Process,
}

#[derive(Args, Debug)]
pub struct SwitchArgs {
    /// ICCID (18-20 digits) or ISD-P AID (hex).
    #[arg(value_parser = parse_profile_ref, value_name = "ICCID|AID")]
    pub profile: ProfileIdentifier,
    /// Ask the eUICC for a REFRESH (refreshFlag, SGP.22 §5.7.16/§5.7.17).
    #[arg(long)]
    pub refresh: bool,
}

#[derive(Args, Debug)]
pub struct DownloadArgs {
    /// Activation code (SGP.22 §4.1), e.g. 'LPA:1$smdp.example.com$MATCHING-ID'.
    #[arg(long, value_parser = parse_activation_code, conflicts_with = "smdp")]
    pub activation_code: Option<String>,
    /// SM-DP+ address (FQDN[:port]) when there is no activation code.
    #[arg(long)]
    pub smdp: Option<String>,
    /// matchingId (AC_Token or EventID) to present to --smdp.
    #[arg(long, requires = "smdp")]
    pub matching_id: Option<String>,
    /// Confirmation Code, when the operator requires one (SGP.22 §3.1.3.2).
    #[arg(long, env = "SIMKIT_CONFIRMATION_CODE", hide_env_values = true)]
    pub confirmation_code: Option<String>,
    /// Install without asking (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Type Allocation Code announced in DeviceInfo (8 digits).
    #[arg(long, default_value = DEFAULT_TAC, value_parser = parse_tac)]
    pub tac: [u8; 4],
}

/// A refusal that the command line can lift: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

// ---------------------------------------------------------------------------------------------
// Argument parsing

/// An ICCID (18 to 20 digits) or an ISD-P AID (5 to 16 bytes in hex, e.g. the 16-byte
/// `A0000005591010FFFFFFFF8900001000`). All-digit strings of ICCID length are ICCIDs.
pub fn parse_profile_ref(s: &str) -> std::result::Result<ProfileIdentifier, String> {
    let s = s.trim();
    if (18..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<Iccid>()
            .map(ProfileIdentifier::Iccid)
            .map_err(|e| e.to_string());
    }
    match hex::decode(s) {
        Ok(aid) if (5..=16).contains(&aid.len()) => Ok(ProfileIdentifier::IsdpAid(aid)),
        _ => Err(format!(
            "{s:?} is neither an ICCID (18-20 digits) nor an ISD-P AID (5-16 bytes in hex)"
        )),
    }
}

fn parse_activation_code(s: &str) -> std::result::Result<String, String> {
    rsp::activation::ActivationCode::parse(s)
        .map(|_| s.trim().to_string())
        .map_err(|e| e.to_string())
}

/// 8 decimal digits, BCD-packed into DeviceInfo.tac (as `35290611` → `35 29 06 11`).
fn parse_tac(s: &str) -> std::result::Result<[u8; 4], String> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("TAC {s:?} is not 8 digits"));
    }
    let mut out = [0u8; 4];
    hex::decode_to_slice(s, &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Trust anchors from DER or PEM files (every CERTIFICATE block of a PEM file).
pub fn load_trust_anchors(paths: &[PathBuf]) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for path in paths {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
            let before = out.len();
            for cert in CertificateDer::pem_slice_iter(&bytes) {
                let cert = cert.with_context(|| format!("parsing PEM {}", path.display()))?;
                out.push(cert.to_vec());
            }
            if out.len() == before {
                bail!("{}: no CERTIFICATE in this PEM file", path.display());
            }
        } else if bytes.first() == Some(&0x30) {
            out.push(bytes);
        } else {
            bail!("{}: not a DER or PEM certificate", path.display());
        }
    }
    Ok(out)
}

/// `https://host` is the same SM-DP+ as `host` (the ES9+ `smdpAddress` is an FQDN); a plain
/// `http://` address needs `--allow-http`.
pub fn check_smdp_address(address: &str, allow_http: bool) -> Result<String> {
    let a = address.trim().trim_end_matches('/');
    if a.is_empty() {
        return Err(UsageError("empty SM-DP+ address".into()).into());
    }
    if let Some(rest) = a.strip_prefix("https://") {
        return Ok(rest.to_string());
    }
    if a.starts_with("http://") && !allow_http {
        return Err(UsageError(format!(
            "refusing plain HTTP SM-DP+ address {a}: SGP.22 requires TLS (pass --allow-http \
             for lab use)"
        ))
        .into());
    }
    Ok(a.to_string())
}

// ---------------------------------------------------------------------------------------------
// Entry point and exit codes

/// What a command produced: its JSON document, and a failure to report after printing it
/// (e.g. notifications that could not be delivered).
struct Report {
    doc: Value,
    render: fn(&Value),
    failure: Option<anyhow::Error>,
}

impl Report {
    fn ok(doc: Value, render: fn(&Value)) -> Self {
        Report {
            doc,
            render,
            failure: None,
        }
    }
}

/// Runs `simkit lpa` and returns the process exit code; errors are printed here (stderr, and
/// an `{"error": ...}` document on stdout with `--json`).
pub fn cli(args: LpaArgs, json: bool) -> ExitCode {
    let (doc, failure) = match run(args) {
        Ok(report) => {
            if json {
                println!("{}", report.doc);
            } else {
                (report.render)(&report.doc);
            }
            (true, report.failure)
        }
        Err(e) => (false, Some(e)),
    };
    let Some(err) = failure else {
        return ExitCode::SUCCESS;
    };
    let code = exit_code(&err);
    if json && !doc {
        println!("{}", error_json(&err, code));
    }
    eprintln!("error: {err:#}");
    for line in error_details(&err) {
        eprintln!("  {line}");
    }
    ExitCode::from(code)
}

fn lpa_error(err: &anyhow::Error) -> Option<&LpaError> {
    err.chain().find_map(|e| e.downcast_ref::<LpaError>())
}

/// The exit code for a failure (see [`exit`]).
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if err.chain().any(|e| e.is::<UsageError>()) {
        return exit::USAGE;
    }
    match lpa_error(err) {
        Some(LpaError::Es9 { .. }) => exit::SMDP_STATUS,
        Some(LpaError::Es10 { .. } | LpaError::Installation { .. }) => exit::EUICC_REFUSED,
        _ => exit::ERROR,
    }
}

/// Extra lines naming the standard codes of a failure.
fn error_details(err: &anyhow::Error) -> Vec<String> {
    match lpa_error(err) {
        Some(LpaError::Es9 {
            subject_code,
            reason_code,
            ..
        }) => vec![format!(
            "SM-DP+ status code {subject_code}/{reason_code}: subject {subject_code} ({}), \
             reason {reason_code} ({})",
            rsp::codes::subject::name(subject_code).unwrap_or("unknown subject"),
            rsp::codes::reason::name(reason_code).unwrap_or("unknown reason"),
        )],
        Some(LpaError::Es10 {
            function,
            code,
            name,
        }) => vec![format!(
            "eUICC result of {function}: {} ({code})",
            name.unwrap_or("unnamed result")
        )],
        Some(LpaError::ConfirmationCodeRequired) => {
            vec!["pass --confirmation-code (or SIMKIT_CONFIRMATION_CODE)".into()]
        }
        _ => Vec::new(),
    }
}

fn error_json(err: &anyhow::Error, code: u8) -> Value {
    let mut v = json!({ "message": format!("{err:#}"), "exitCode": code });
    match lpa_error(err) {
        Some(LpaError::Es9 {
            subject_code,
            reason_code,
            message,
        }) => {
            v["subjectCode"] = json!(subject_code);
            v["subjectName"] = json!(rsp::codes::subject::name(subject_code));
            v["reasonCode"] = json!(reason_code);
            v["reasonName"] = json!(rsp::codes::reason::name(reason_code));
            v["smdpMessage"] = json!(message);
        }
        Some(LpaError::Es10 {
            function,
            code,
            name,
        }) => {
            v["function"] = json!(function);
            v["resultCode"] = json!(code);
            v["resultName"] = json!(name);
        }
        Some(LpaError::Installation {
            bpp_command_id,
            error_reason,
        }) => {
            v["bppCommandId"] = json!(bpp_command_id.to_string());
            v["errorReason"] = json!(error_reason.to_string());
        }
        _ => {}
    }
    json!({ "error": v })
}

fn run(args: LpaArgs) -> Result<Report> {
    // Refusals that need neither the card nor the network come first.
    let download_address = match &args.command {
        LpaCommand::Download(d) => {
            if !d.yes && !std::io::stdin().is_terminal() {
                return Err(UsageError(
                    "stdin is not a terminal, so the download cannot be confirmed: pass --yes \
                     to install without asking"
                        .into(),
                )
                .into());
            }
            match (&d.activation_code, &d.smdp) {
                (Some(ac), _) => {
                    let parsed = rsp::activation::ActivationCode::parse(ac)?;
                    Some(check_smdp_address(&parsed.smdp_address, args.allow_http)?)
                }
                (None, Some(a)) => Some(check_smdp_address(a, args.allow_http)?),
                (None, None) => None,
            }
        }
        _ => None,
    };
    if matches!(args.command, LpaCommand::Readers) {
        return Ok(Report::ok(
            crate::pcsc_cmd::readers_json()?,
            crate::pcsc_cmd::render_readers,
        ));
    }
    let (card, card_cis): (CardLink, Vec<Vec<u8>>) = match (&args.card, &args.pcsc) {
        (Some(path), _) => {
            let card = PersistentCard::open(path)?;
            let cis = card
                .card()
                .identity()
                .trusted_cis
                .iter()
                .map(|c| c.der().to_vec())
                .collect();
            (Box::new(card), cis)
        }
        // A card in a reader does not reveal its CI certificates: --trust names them.
        (None, Some(reader)) => (Box::new(crate::pcsc_cmd::open(reader)?), Vec::new()),
        (None, None) => {
            return Err(UsageError("give the card: --card FILE or --pcsc[=READER]".into()).into())
        }
    };
    let anchors = if args.trust.is_empty() {
        card_cis
    } else {
        load_trust_anchors(&args.trust)?
    };
    let mut lpa = Lpa::new(card);
    let report = match args.command {
        LpaCommand::Download(d) => {
            let es9 = es9_transport(&anchors, args.allow_http)?;
            download(&mut lpa, &es9, d, download_address)?
        }
        LpaCommand::List => Report::ok(list(&mut lpa)?, render_list),
        LpaCommand::Enable(s) => {
            lpa.enable(s.profile.clone(), s.refresh)?;
            Report::ok(done("enable", &s.profile), render_done)
        }
        LpaCommand::Disable(s) => {
            lpa.disable(s.profile.clone(), s.refresh)?;
            Report::ok(done("disable", &s.profile), render_done)
        }
        LpaCommand::Delete { profile } => {
            lpa.delete(profile.clone())?;
            Report::ok(done("delete", &profile), render_done)
        }
        LpaCommand::Nickname { profile, name } => {
            if name.chars().count() > MAX_NICKNAME {
                return Err(UsageError(format!(
                    "a nickname has at most {MAX_NICKNAME} characters"
                ))
                .into());
            }
            let iccid = iccid_of(&mut lpa, &profile)?;
            lpa.set_nickname(iccid, &name)?;
            let mut doc = done("nickname", &profile);
            doc["nickname"] = json!(name);
            Report::ok(doc, render_done)
        }
        LpaCommand::Notifications(NotificationsCommand::List) => {
            let list: Vec<Value> = lpa
                .list_notifications()?
                .iter()
                .map(|m| {
                    json!({
                        "seqNumber": m.seq_number,
                        "operation": event_name(m.profile_management_operation),
                        "address": m.notification_address,
                        "iccid": m.iccid.map(|i| i.to_string()),
                    })
                })
                .collect();
            Report::ok(Value::Array(list), render_notifications)
        }
        LpaCommand::Notifications(NotificationsCommand::Process) => {
            let es9 = es9_transport(&anchors, args.allow_http)?;
            process_notifications(&mut lpa, &es9)?
        }
        LpaCommand::Info => Report::ok(info(&mut lpa)?, render_info),
        LpaCommand::Readers => Report::ok(
            crate::pcsc_cmd::readers_json()?,
            crate::pcsc_cmd::render_readers,
        ),
        LpaCommand::Eid => Report::ok(json!({ "eid": lpa.eid()?.to_string() }), |v| {
            println!("{}", v["eid"].as_str().unwrap_or("-"))
        }),
        LpaCommand::SetDefaultDp { address } => {
            lpa.set_default_dp_address(&address)?;
            Report::ok(
                json!({ "operation": "setDefaultDpAddress", "defaultDpAddress": address }),
                |v| match v["defaultDpAddress"].as_str() {
                    Some("") | None => println!("Default SM-DP+ address removed"),
                    Some(a) => println!("Default SM-DP+ address set to {a}"),
                },
            )
        }
        LpaCommand::MemoryReset {
            operational,
            test,
            default_dp,
        } => {
            let mut bits = Vec::new();
            let mut names = Vec::new();
            for (on, bit, name) in [
                (
                    operational,
                    reset_options::DELETE_OPERATIONAL_PROFILES,
                    "deleteOperationalProfiles",
                ),
                (
                    test,
                    reset_options::DELETE_FIELD_LOADED_TEST_PROFILES,
                    "deleteFieldLoadedTestProfiles",
                ),
                (
                    default_dp,
                    reset_options::RESET_DEFAULT_SMDP_ADDRESS,
                    "resetDefaultSmdpAddress",
                ),
            ] {
                if on {
                    bits.push(bit);
                    names.push(name);
                }
            }
            lpa.memory_reset(BitString::from_bits(&bits))?;
            Report::ok(
                json!({ "operation": "eUICCMemoryReset", "resetOptions": names }),
                |v| println!("eUICC memory reset: {}", join_strs(&v["resetOptions"])),
            )
        }
    };
    // Closing the channel is part of the session; the state is already saved.
    lpa.close()?;
    Ok(report)
}

fn es9_transport(anchors: &[Vec<u8>], allow_http: bool) -> Result<HttpTransport> {
    if anchors.is_empty() {
        bail!(
            "no TLS trust anchor for ES9+: give --trust CERT (the CI certificate the SM-DP+ TLS \
             certificate chains to)"
        );
    }
    Ok(HttpTransport::new(anchors, allow_http)?)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")
}

fn iccid_of(lpa: &mut Lpa<CardLink>, profile: &ProfileIdentifier) -> Result<Iccid> {
    match profile {
        ProfileIdentifier::Iccid(i) => Ok(*i),
        ProfileIdentifier::IsdpAid(aid) => lpa
            .profiles()?
            .into_iter()
            .find(|p| p.isdp_aid.as_deref() == Some(aid.as_slice()))
            .and_then(|p| p.iccid)
            .with_context(|| format!("no profile with ISD-P AID {}", hex::encode_upper(aid))),
    }
}

fn profile_ref_json(p: &ProfileIdentifier) -> Value {
    match p {
        ProfileIdentifier::Iccid(i) => json!({ "iccid": i.to_string() }),
        ProfileIdentifier::IsdpAid(a) => json!({ "isdpAid": hex::encode_upper(a) }),
    }
}

fn done(operation: &str, profile: &ProfileIdentifier) -> Value {
    json!({ "operation": operation, "profile": profile_ref_json(profile) })
}

fn render_done(v: &Value) {
    let p = &v["profile"];
    let who = p["iccid"]
        .as_str()
        .map(|i| format!("ICCID {i}"))
        .or_else(|| p["isdpAid"].as_str().map(|a| format!("ISD-P {a}")))
        .unwrap_or_default();
    match v["operation"].as_str() {
        Some("enable") => println!("Enabled profile {who}"),
        Some("disable") => println!("Disabled profile {who}"),
        Some("delete") => println!("Deleted profile {who}"),
        Some("nickname") => println!(
            "Nickname of profile {who} set to \"{}\"",
            v["nickname"].as_str().unwrap_or_default()
        ),
        _ => println!("{v}"),
    }
}

fn class_name(c: Option<ProfileClass>) -> String {
    // SGP.22 §5.7.15: an absent profileClass means operational.
    let c = c.unwrap_or(ProfileClass::OPERATIONAL);
    c.name().map_or_else(|| c.0.to_string(), str::to_string)
}

fn event_name(e: NotificationEvent) -> &'static str {
    match e {
        NotificationEvent::Install => "install",
        NotificationEvent::Enable => "enable",
        NotificationEvent::Disable => "disable",
        NotificationEvent::Delete => "delete",
    }
}

fn join_strs(v: &Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or("-").to_string()
}

// ---------------------------------------------------------------------------------------------
// download

fn metadata_json(m: &ProfileMetadata) -> Value {
    json!({
        "iccid": m.iccid.to_string(),
        "profileName": m.profile_name,
        "serviceProviderName": m.service_provider_name,
        "profileClass": class_name(m.profile_class),
    })
}

fn download(
    lpa: &mut Lpa<CardLink>,
    es9: &HttpTransport,
    args: DownloadArgs,
    address: Option<String>,
) -> Result<Report> {
    let device = lpa::default_device_info(args.tac, None);
    let interactive = !args.yes;
    // SGP.22 §3.1.3.2: the end user sees the profile metadata and confirms.
    let confirm = move |m: &ProfileMetadata| {
        if !interactive {
            return true;
        }
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "Profile offered by the SM-DP+:");
        let _ = writeln!(err, "  name      {}", m.profile_name);
        let _ = writeln!(err, "  provider  {}", m.service_provider_name);
        let _ = writeln!(err, "  ICCID     {}", m.iccid);
        let _ = writeln!(err, "  class     {}", class_name(m.profile_class));
        let _ = write!(err, "Download and install it? [y/N] ");
        let _ = err.flush();
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).is_ok()
            && matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
    };
    let cc = args.confirmation_code.as_deref();
    let rt = runtime()?;
    let result = match (&args.activation_code, address) {
        (Some(ac), _) => rt.block_on(lpa.download(es9, ac, cc, &device, confirm))?,
        (None, Some(address)) => rt.block_on(lpa.download_from(
            es9,
            &address,
            args.matching_id.as_deref(),
            cc,
            &device,
            confirm,
        ))?,
        (None, None) => {
            // SGP.22 §3.1.3: without an activation code the LPAd uses the default SM-DP+
            // address configured in the eUICC (ES10a.GetEuiccConfiguredAddresses).
            let configured = lpa.configured_addresses()?;
            let Some(address) = configured.default_dp_address.filter(|a| !a.is_empty()) else {
                return Err(UsageError(
                    "no --activation-code or --smdp, and the card has no default SM-DP+ address"
                        .into(),
                )
                .into());
            };
            rt.block_on(lpa.download_from(es9, &address, None, cc, &device, confirm))?
        }
    };
    let mut doc = metadata_json(&result.profile_metadata);
    doc["iccid"] = json!(result.iccid.to_string());
    doc["isdpAid"] = json!(hex::encode_upper(&result.isdp_aid));
    doc["transactionId"] = json!(result.transaction_id.to_string());
    doc["pirNotification"] = match &result.pir_notification {
        NotificationStatus::Removed => json!({ "status": "removed" }),
        NotificationStatus::DeliveredNotRemoved(e) => {
            json!({ "status": "deliveredNotRemoved", "error": e.to_string() })
        }
        NotificationStatus::NotDelivered(e) => {
            json!({ "status": "notDelivered", "error": e.to_string() })
        }
    };
    Ok(Report::ok(doc, render_download))
}

fn render_download(v: &Value) {
    println!("Installed profile {}", s(&v["iccid"]));
    println!("  name              {}", s(&v["profileName"]));
    println!("  provider          {}", s(&v["serviceProviderName"]));
    println!("  class             {}", s(&v["profileClass"]));
    println!("  ICCID             {}", s(&v["iccid"]));
    println!("  ISD-P AID         {}", s(&v["isdpAid"]));
    let pir = &v["pirNotification"];
    let what = match pir["status"].as_str() {
        Some("removed") => "delivered to the SM-DP+ and removed from the eUICC".to_string(),
        Some("deliveredNotRemoved") => {
            format!("delivered, but still on the eUICC ({})", s(&pir["error"]))
        }
        _ => format!(
            "not delivered, kept on the eUICC for `notifications process` ({})",
            s(&pir["error"])
        ),
    };
    println!("  PIR notification  {what}");
    println!(
        "The profile is disabled: `simkit lpa enable {}` enables it.",
        s(&v["iccid"])
    );
}

// ---------------------------------------------------------------------------------------------
// list, notifications, info

fn profile_json(p: &ProfileInfo) -> Value {
    let state = p.profile_state.unwrap_or(ProfileState::DISABLED);
    json!({
        "iccid": p.iccid.map(|i| i.to_string()),
        "isdpAid": p.isdp_aid.as_ref().map(hex::encode_upper),
        "state": state.name().map_or_else(|| state.0.to_string(), str::to_string),
        "profileName": p.profile_name,
        "serviceProviderName": p.service_provider_name,
        "nickname": p.profile_nickname,
        "profileClass": class_name(p.profile_class),
    })
}

fn list(lpa: &mut Lpa<CardLink>) -> Result<Value> {
    Ok(Value::Array(
        lpa.profiles()?.iter().map(profile_json).collect(),
    ))
}

fn render_list(v: &Value) {
    let profiles = v.as_array().map(Vec::as_slice).unwrap_or_default();
    if profiles.is_empty() {
        println!("No profiles");
        return;
    }
    println!(
        "{:<20}  {:<8}  {:<11}  {:<24}  {:<20}  NICKNAME",
        "ICCID", "STATE", "CLASS", "NAME", "PROVIDER"
    );
    for p in profiles {
        println!(
            "{:<20}  {:<8}  {:<11}  {:<24}  {:<20}  {}",
            s(&p["iccid"]),
            s(&p["state"]),
            s(&p["profileClass"]),
            s(&p["profileName"]),
            s(&p["serviceProviderName"]),
            p["nickname"].as_str().unwrap_or(""),
        );
    }
}

fn render_notifications(v: &Value) {
    let list = v.as_array().map(Vec::as_slice).unwrap_or_default();
    println!("Pending notifications: {}", list.len());
    for n in list {
        println!(
            "  #{:<4} {:<8} {:<20} {}",
            n["seqNumber"].as_i64().unwrap_or_default(),
            s(&n["operation"]),
            n["iccid"].as_str().unwrap_or("-"),
            s(&n["address"]),
        );
    }
}

fn process_notifications(lpa: &mut Lpa<CardLink>, es9: &HttpTransport) -> Result<Report> {
    let outcomes = runtime()?.block_on(lpa.process_notifications(es9))?;
    let mut first_failure: Option<LpaError> = None;
    let list: Vec<Value> = outcomes
        .into_iter()
        .map(|o| {
            let mut v = json!({
                "seqNumber": o.seq_number,
                "operation": event_name(o.event),
                "address": o.address,
                "iccid": o.iccid.map(|i| i.to_string()),
            });
            let (status, err) = match o.status {
                NotificationStatus::Removed => ("removed", None),
                NotificationStatus::DeliveredNotRemoved(e) => ("deliveredNotRemoved", Some(e)),
                NotificationStatus::NotDelivered(e) => ("notDelivered", Some(e)),
            };
            v["status"] = json!(status);
            if let Some(e) = err {
                v["error"] = json!(e.to_string());
                first_failure.get_or_insert(e);
            }
            v
        })
        .collect();
    let failed = list.iter().filter(|v| v["status"] != "removed").count();
    Ok(Report {
        doc: json!({ "notifications": list }),
        render: render_processed,
        failure: first_failure.map(|e| {
            anyhow::Error::new(e).context(format!("{failed} notification(s) not completed"))
        }),
    })
}

fn render_processed(v: &Value) {
    let list = v["notifications"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    if list.is_empty() {
        println!("No pending notifications");
    }
    for n in list {
        let status = match n["status"].as_str() {
            Some("removed") => "delivered, removed".to_string(),
            Some("deliveredNotRemoved") => format!("delivered, NOT removed: {}", s(&n["error"])),
            _ => format!("NOT delivered: {}", s(&n["error"])),
        };
        println!(
            "  #{:<4} {:<8} {:<20} {}  {status}",
            n["seqNumber"].as_i64().unwrap_or_default(),
            s(&n["operation"]),
            n["iccid"].as_str().unwrap_or("-"),
            s(&n["address"]),
        );
    }
}

/// extCardResource (ETSI TS 102 226 §8.2.1.3.2.5): '81' number of installed applications,
/// '82' free non-volatile memory, '83' free volatile memory, each an unsigned integer.
pub fn ext_card_resource(bytes: &[u8]) -> (Option<u64>, Option<u64>, Option<u64>) {
    let (mut apps, mut nvm, mut ram) = (None, None, None);
    for t in tlv::iter(bytes) {
        let Ok(t) = t else { break };
        let value = tlv::der::decode_uint(t.value).ok();
        match t.tag {
            tlv::Tag(0x81) => apps = value,
            tlv::Tag(0x82) => nvm = value,
            tlv::Tag(0x83) => ram = value,
            _ => {}
        }
    }
    (apps, nvm, ram)
}

fn info(lpa: &mut Lpa<CardLink>) -> Result<Value> {
    let eid = lpa.eid()?;
    let i2 = lpa.euicc_info2()?;
    let addresses = lpa.configured_addresses()?;
    let (apps, nvm, ram) = ext_card_resource(&i2.ext_card_resource);
    let pkids = |l: &[Vec<u8>]| l.iter().map(hex::encode_upper).collect::<Vec<_>>();
    Ok(json!({
        "eid": eid.to_string(),
        "svn": i2.svn.to_string(),
        "profileVersion": i2.profile_version.to_string(),
        "euiccFirmwareVersion": i2.euicc_firmware_ver.to_string(),
        "ppVersion": i2.pp_version.to_string(),
        "sasAccreditationNumber": i2.sas_accreditation_number,
        "installedApplications": apps,
        "freeNonVolatileMemory": nvm,
        "freeVolatileMemory": ram,
        "ciPkidsForVerification": pkids(&i2.ci_pkid_list_for_verification),
        "ciPkidsForSigning": pkids(&i2.ci_pkid_list_for_signing),
        "defaultDpAddress": addresses.default_dp_address,
        "rootDsAddress": addresses.root_ds_address,
    }))
}

fn render_info(v: &Value) {
    let n = |v: &Value| {
        v.as_u64()
            .map_or_else(|| "-".to_string(), |n| n.to_string())
    };
    println!("EID                     {}", s(&v["eid"]));
    println!("SGP.22 version (SVN)    {}", s(&v["svn"]));
    println!("firmware                {}", s(&v["euiccFirmwareVersion"]));
    println!("profile package version {}", s(&v["profileVersion"]));
    println!(
        "free non-volatile mem.  {} bytes",
        n(&v["freeNonVolatileMemory"])
    );
    println!(
        "free volatile memory    {} bytes",
        n(&v["freeVolatileMemory"])
    );
    println!("installed applications  {}", n(&v["installedApplications"]));
    for p in v["ciPkidsForVerification"].as_array().into_iter().flatten() {
        println!("CI (verification)       {}", s(p));
    }
    for p in v["ciPkidsForSigning"].as_array().into_iter().flatten() {
        println!("CI (signing)            {}", s(p));
    }
    println!("default SM-DP+          {}", s(&v["defaultDpAddress"]));
    println!("root SM-DS              {}", s(&v["rootDsAddress"]));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_refs() {
        // ICCID of the TS.48 test profiles (shared/reference/ts48-profiles).
        assert_eq!(
            parse_profile_ref("8949449999999990023").unwrap(),
            ProfileIdentifier::Iccid("8949449999999990023".parse().unwrap())
        );
        // The first ISD-P AID of SGP.02/SGP.22 eUICCs: A0000005591010FFFFFFFF89 00001000.
        assert_eq!(
            parse_profile_ref("A0000005591010FFFFFFFF8900001000").unwrap(),
            ProfileIdentifier::IsdpAid(hex::decode("A0000005591010FFFFFFFF8900001000").unwrap())
        );
        for bad in [
            "",
            "89",
            "nothex",
            "A0000005591010FFFFFFFF890000100000",
            "A00000",
        ] {
            assert!(parse_profile_ref(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tac_and_activation_code() {
        assert_eq!(parse_tac("35290611").unwrap(), [0x35, 0x29, 0x06, 0x11]);
        assert!(parse_tac("3529061").is_err());
        assert!(parse_tac("3529061A").is_err());
        // SGP.22 §4.1 example form.
        assert!(parse_activation_code("LPA:1$smdp.example.com$04386-AGYFT-A74Y8-3F815").is_ok());
        assert!(parse_activation_code("LPA:2$smdp.example.com$x").is_err());
        assert!(parse_activation_code("LPA:1$http://smdp.example.com$x").is_err());
    }

    #[test]
    fn http_addresses_need_allow_http() {
        let e = check_smdp_address("http://127.0.0.1:8080", false).unwrap_err();
        assert_eq!(exit_code(&e), exit::USAGE);
        assert!(e.to_string().contains("--allow-http"), "{e}");
        assert_eq!(
            check_smdp_address("http://127.0.0.1:8080/", true).unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            check_smdp_address("https://smdp.example.com/", false).unwrap(),
            "smdp.example.com"
        );
        assert_eq!(
            check_smdp_address("smdp.example.com:8443", false).unwrap(),
            "smdp.example.com:8443"
        );
    }

    #[test]
    fn exit_codes_follow_the_failure() {
        let es9 = anyhow::Error::new(LpaError::Es9 {
            subject_code: "8.2.6".into(),
            reason_code: "3.8".into(),
            message: None,
        })
        .context("download");
        assert_eq!(exit_code(&es9), exit::SMDP_STATUS);
        let v = error_json(&es9, exit::SMDP_STATUS);
        assert_eq!(v["error"]["subjectName"], "Matching ID");
        assert_eq!(v["error"]["reasonName"], "Refused");
        assert!(error_details(&es9)[0].contains("8.2.6/3.8"));

        let es10 = anyhow::Error::new(LpaError::Es10 {
            function: "EnableProfile",
            code: 2,
            name: Some("profileNotInDisabledState"),
        });
        assert_eq!(exit_code(&es10), exit::EUICC_REFUSED);
        assert_eq!(
            error_json(&es10, 4)["error"]["resultName"],
            "profileNotInDisabledState"
        );
        let other = anyhow::Error::new(LpaError::Transport("refused".into()));
        assert_eq!(exit_code(&other), exit::ERROR);
        assert_eq!(exit_code(&anyhow::anyhow!("io")), exit::ERROR);
    }

    #[test]
    fn ext_card_resource_fields() {
        // '81' 1 app, '82' 0x010000 bytes NVM, '83' 0x2000 bytes RAM (TS 102 226 §8.2.1.3.2.5).
        let b = hex::decode("8101018203010000830220 00".replace(' ', "")).unwrap();
        assert_eq!(
            ext_card_resource(&b),
            (Some(1), Some(0x010000), Some(0x2000))
        );
        // Truncated input: what was read so far, no panic.
        assert_eq!(ext_card_resource(&b[..4]), (Some(1), None, None));
        assert_eq!(ext_card_resource(&[]), (None, None, None));
    }

    #[test]
    fn trust_anchor_files() {
        let dir = tempfile::tempdir().unwrap();
        // SGP.26 test CI certificates (shared/reference/sgp26/CertificateIssuer).
        let refdir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/reference/sgp26/CertificateIssuer"
        );
        let nist = std::fs::read(format!("{refdir}/CERT_CI_ECDSA_NIST.der")).unwrap();
        let brp = std::fs::read(format!("{refdir}/CERT_CI_ECDSA_BRP.der")).unwrap();
        // A bundle: both PEM files one after the other.
        let mut pem = std::fs::read(format!("{refdir}/CERT_CI_ECDSA_NIST.pem")).unwrap();
        pem.extend(std::fs::read(format!("{refdir}/CERT_CI_ECDSA_BRP.pem")).unwrap());
        let pem_path = dir.path().join("cis.pem");
        std::fs::write(&pem_path, pem).unwrap();
        let der_path = dir.path().join("ci.der");
        std::fs::write(&der_path, &nist).unwrap();
        let anchors = load_trust_anchors(&[pem_path, der_path]).unwrap();
        assert_eq!(anchors, vec![nist.clone(), brp, nist]);

        let junk = dir.path().join("junk");
        std::fs::write(&junk, b"hello").unwrap();
        assert!(load_trust_anchors(&[junk]).is_err());
        let empty_pem = dir.path().join("empty.pem");
        std::fs::write(
            &empty_pem,
            b"-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        assert!(load_trust_anchors(&[empty_pem]).is_err());
    }
}
