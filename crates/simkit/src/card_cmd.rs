//! `simkit card`: create, inspect and talk to a virtual eUICC kept in a card file
//! (see [`crate::card_file`]), and administer its pairing data ([`crate::pairing_cmd`]).

// The pairing administration lives in its own file beside this one.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use card::{CardIdentity, CardState, NotificationKind, ProfileState};
use clap::Subcommand;
use pki::mint::{mint_euicc, CertifiedKey, TestPki, TestPkiConfig, NO_EXPIRY};
use pki::{Certificate, Curve};
use rsp::Asn1;
use serde_json::json;

use crate::card_file::{key_path, PersistentCard};
use crate::pairing_cmd::{self, provision_key_file, KeySource, PairingCommand, ProtocolArg};
use crate::pki_cmd::{load_certificate, load_key, CurveArg};

#[derive(Subcommand)]
pub enum CardCommand {
    /// Create a card file (and its key file `<state>.key`). Identity, in order of precedence:
    /// explicit files (--euicc-cert, --euicc-key, --eum-cert, --ci-cert); SGP.26-style files
    /// in --pki DIR; or a freshly minted test PKI. The card gets a pairing-administration key,
    /// written for its administrator to `<state>.pairing.key` (0600) and never printed unless
    /// --show-pairing-key.
    Create {
        /// Card file to create.
        #[arg(long)]
        state: PathBuf,
        /// Curve of a freshly minted PKI, or the files (NIST/BRP) to pick in --pki.
        #[arg(long, value_enum, default_value = "nist")]
        curve: CurveArg,
        /// EID (32 digits). Fresh PKI: the eUICC certificate's EID (default
        /// 89049032123451234512345678901235). With --pki: a new eUICC certificate is minted
        /// for it under the EUM when SK_EUM_ECDSA_* is there.
        #[arg(long)]
        eid: Option<String>,
        /// Directory of SGP.26-style files (CERT_EUICC_ECDSA_*.der, SK_EUICC_ECDSA_*.pem,
        /// CERT_EUM_ECDSA_*.der, CERT_CI_ECDSA_*.der), directly or one level down, e.g. the
        /// SGP.26 reference folder or the output of `simkit pki mint`.
        #[arg(long, conflicts_with_all = ["euicc_cert", "euicc_key", "eum_cert", "pki_out"])]
        pki: Option<PathBuf>,
        /// CERT.EUICC.ECDSA (DER or PEM).
        #[arg(long, requires_all = ["euicc_key", "eum_cert", "ci_cert"])]
        euicc_cert: Option<PathBuf>,
        /// SK.EUICC.ECDSA (PEM, SEC1 or PKCS#8).
        #[arg(long, requires = "euicc_cert")]
        euicc_key: Option<PathBuf>,
        /// CERT.EUM.ECDSA (DER or PEM).
        #[arg(long, requires = "euicc_cert")]
        eum_cert: Option<PathBuf>,
        /// A CI certificate the card trusts (repeatable). Added to those of --pki or of the
        /// fresh PKI.
        #[arg(long)]
        ci_cert: Vec<PathBuf>,
        /// With a fresh PKI: also write it (CI, EUM, eUICC, SM-DP+ certificates and keys) here,
        /// so an SM-DP+ can be set up under the same CI.
        #[arg(long, conflicts_with = "euicc_cert")]
        pki_out: Option<PathBuf>,
        /// Pairing-administration key in hex (AES-128 or AES-256). Default: the key in
        /// `<state>.pairing.key` if that file exists, else a random AES-128 key.
        #[arg(long, conflicts_with = "pairing_key_file")]
        pairing_key: Option<String>,
        /// Read the pairing-administration key from this file (hex, not readable by others).
        #[arg(long)]
        pairing_key_file: Option<PathBuf>,
        /// Print the pairing-administration key.
        #[arg(long)]
        show_pairing_key: bool,
        /// Replace an existing card file (its key files are kept).
        #[arg(long)]
        force: bool,
    },
    /// Show the card: EID, CI PKIDs, curve, profiles and pending notifications.
    Info {
        #[arg(long)]
        state: PathBuf,
    },
    /// Power the card up and send raw command APDUs (hex) in order; print each response.
    /// Logical channels and selections last for this one power-up; state changes are saved.
    Apdu {
        #[arg(long)]
        state: PathBuf,
        /// Send as if over this protocol (each interface has its own channels and selections;
        /// common AIDs route by the pairing of the protocol).
        #[arg(long, value_enum, default_value_t)]
        protocol: ProtocolArg,
        /// Command APDUs in hex (spaces and colons inside one argument are ignored).
        #[arg(required = true)]
        apdus: Vec<String>,
    },
    /// Put the card into vsmartcard's virtual PC/SC reader (vpcd), for any PC/SC application.
    Serve(crate::card_serve::ServeArgs),
    /// Run lpac with its stdio APDU driver against the card: `bridge --state F -- lpac chip info`.
    Bridge(crate::card_serve::BridgeArgs),
    /// Show or change the pairing data (protocol → container) through the card's
    /// authenticated administration commands.
    #[command(subcommand)]
    Pairing(PairingCommand),
}

pub fn run(cmd: CardCommand, json: bool) -> Result<()> {
    match cmd {
        CardCommand::Serve(args) => crate::card_serve::serve(args, json),
        CardCommand::Bridge(args) => match crate::card_serve::bridge(args)? {
            0 => Ok(()),
            code => bail!("lpac exited with code {code}"),
        },
        CardCommand::Pairing(cmd) => pairing_cmd::run(cmd, json),
        CardCommand::Create {
            state,
            curve,
            eid,
            pki,
            euicc_cert,
            euicc_key,
            eum_cert,
            ci_cert,
            pki_out,
            pairing_key,
            pairing_key_file,
            show_pairing_key,
            force,
        } => {
            // Before any key file is written.
            if !force && state.exists() {
                bail!(
                    "{} already exists (use --force to replace it)",
                    state.display()
                );
            }
            let extra_cis = ci_cert
                .iter()
                .map(|p| load_certificate(p))
                .collect::<Result<Vec<_>>>()?;
            let identity = match (euicc_cert, euicc_key, eum_cert, pki) {
                (Some(cert), Some(key), Some(eum), _) => {
                    let identity = identity_from(
                        load_certificate(&cert)?,
                        load_key(&key)?,
                        load_certificate(&eum)?,
                        extra_cis,
                    )?;
                    check_eid(&identity, eid.as_deref())?;
                    identity
                }
                (_, _, _, Some(dir)) => identity_from_dir(&dir, curve.into(), eid, extra_cis)?,
                _ => fresh_identity(curve.into(), eid, extra_cis, pki_out.as_deref())?,
            };
            // The administrator's copy is on disk before the card holds the key.
            let source = KeySource::from_args(pairing_key, pairing_key_file);
            let (admin_key, admin_key_file) = provision_key_file(&state, &source)?;
            let card_state = CardState::with_pairing_admin_key(&admin_key)?;
            let pc = PersistentCard::create(&state, identity, card_state, force)?;
            let id = pc.card().identity();
            if json {
                let mut v = json!({
                    "state": state,
                    "keyFile": key_path(&state),
                    "pairingKeyFile": admin_key_file,
                    "eid": id.eid_string(),
                    "curve": id.euicc_private_key.curve().to_string(),
                    "ciPkidsForVerification": pkids(&id.ci_pkids_for_verification()),
                });
                if show_pairing_key {
                    v["pairingKey"] = json!(hex::encode_upper(&admin_key[..]));
                }
                println!("{v}");
            } else {
                println!("Created card {}", state.display());
                println!("  EID       {}", id.eid_string());
                println!("  curve     {}", id.euicc_private_key.curve());
                println!("  key file  {}", key_path(&state).display());
                println!(
                    "  pairing-administration key file  {}",
                    admin_key_file.display()
                );
                if show_pairing_key {
                    println!(
                        "  pairing-administration key       {}",
                        hex::encode_upper(&admin_key[..])
                    );
                }
                for p in id.ci_pkids_for_verification() {
                    println!("  trusts CI {}", hex::encode_upper(p));
                }
            }
            Ok(())
        }
        CardCommand::Info { state } => {
            let pc = PersistentCard::open(&state)?;
            let v = info_json(&state, pc.card().identity(), pc.card().state());
            if json {
                println!("{v}");
            } else {
                print_info(&v);
            }
            Ok(())
        }
        CardCommand::Apdu {
            state,
            protocol,
            apdus,
        } => {
            let commands = apdus
                .iter()
                .map(|a| {
                    let clean: String = a.chars().filter(|c| !matches!(c, ' ' | ':')).collect();
                    hex::decode(&clean).with_context(|| format!("APDU {a:?} is not hex"))
                })
                .collect::<Result<Vec<_>>>()?;
            let mut pc = PersistentCard::open(&state)?;
            let mut out = Vec::new();
            for cmd in &commands {
                let resp = pc.transmit_on(protocol.into(), cmd)?;
                let (data, sw) = resp.split_at(resp.len().saturating_sub(2));
                if json {
                    out.push(json!({
                        "command": hex::encode_upper(cmd),
                        "data": hex::encode_upper(data),
                        "sw": hex::encode_upper(sw),
                    }));
                } else {
                    println!("> {}", hex::encode_upper(cmd));
                    println!("< {} {}", hex::encode_upper(data), hex::encode_upper(sw));
                }
            }
            if json {
                println!("{}", serde_json::Value::Array(out));
            }
            Ok(())
        }
    }
}

fn pkids(list: &[Vec<u8>]) -> Vec<String> {
    list.iter().map(hex::encode_upper).collect()
}

/// Builds the identity; the CI that signed the EUM must be among the trusted ones.
fn identity_from(
    euicc: Certificate,
    key: pki::PrivateKey,
    eum: Certificate,
    cis: Vec<Certificate>,
) -> Result<CardIdentity> {
    if cis.is_empty() {
        bail!("no CI certificate to trust (give --ci-cert)");
    }
    let ci_ders: Vec<&[u8]> = cis.iter().map(Certificate::der).collect();
    let identity = CardIdentity::new(euicc.der(), eum.der(), key, &ci_ders)?;
    if !identity
        .ci_pkids_for_verification()
        .contains(&identity.signing_ci_pkid)
    {
        bail!(
            "the EUM certificate was issued by CI {}, which is not among the trusted CIs",
            hex::encode_upper(&identity.signing_ci_pkid)
        );
    }
    Ok(identity)
}

fn check_eid(identity: &CardIdentity, eid: Option<&str>) -> Result<()> {
    match eid {
        Some(e) if e != identity.eid_string() => bail!(
            "--eid {e} differs from the eUICC certificate's EID {}",
            identity.eid_string()
        ),
        _ => Ok(()),
    }
}

/// `dir/name`, or `dir/*/name`.
fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    let direct = dir.join(name);
    if direct.is_file() {
        return Some(direct);
    }
    let mut subdirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    subdirs.sort();
    subdirs
        .into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Every `CERT_CI_ECDSA_*.der` in `dir` and one level down, the `curve_tag` one first.
fn find_cis(dir: &Path, curve_tag: &str) -> Vec<PathBuf> {
    let mut dirs = vec![dir.to_path_buf()];
    if let Ok(rd) = std::fs::read_dir(dir) {
        dirs.extend(
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir()),
        );
    }
    let mut out: Vec<PathBuf> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("CERT_CI_ECDSA_") && n.ends_with(".der"))
        })
        .collect();
    let own = format!("CERT_CI_ECDSA_{curve_tag}.der");
    out.sort_by_key(|p| (!p.ends_with(&own), p.file_name().map(|n| n.to_owned())));
    out.dedup();
    out
}

fn identity_from_dir(
    dir: &Path,
    curve: Curve,
    eid: Option<String>,
    extra_cis: Vec<Certificate>,
) -> Result<CardIdentity> {
    let tag = curve.sgp26_tag();
    let need = |name: String| {
        find_file(dir, &name).with_context(|| format!("{name} not found in {}", dir.display()))
    };
    let eum_cert = load_certificate(&need(format!("CERT_EUM_ECDSA_{tag}.der"))?)?;
    let mut cis = find_cis(dir, tag)
        .iter()
        .map(|p| load_certificate(p))
        .collect::<Result<Vec<_>>>()?;
    cis.extend(extra_cis);
    let eum_key = find_file(dir, &format!("SK_EUM_ECDSA_{tag}.pem"));
    let existing = find_file(dir, &format!("CERT_EUICC_ECDSA_{tag}.der"))
        .map(|p| load_certificate(&p))
        .transpose()?;
    let mint_for = match (&eid, &existing) {
        (Some(e), Some(c)) if c.subject().serial_number() == Some(e.as_str()) => None,
        (Some(e), _) => Some(e.clone()),
        (None, _) => None,
    };
    match mint_for {
        Some(eid) => {
            // A new eUICC certificate for this EID under the EUM (SGP.22 §4.5.2.1.0.3).
            let Some(eum_key) = eum_key else {
                bail!(
                    "--eid {eid}: the eUICC certificate in {} is for another EID, and there is \
                     no SK_EUM_ECDSA_{tag}.pem to mint one",
                    dir.display()
                );
            };
            check_eid_prefix(&eum_cert, &eid)?;
            let eum = CertifiedKey {
                cert: eum_cert.clone(),
                key: load_key(&eum_key)?,
            };
            let mut serial = vec![0x02];
            serial.extend(card::identity::eid_from_digits(&eid)?);
            let euicc = mint_euicc(
                &eum,
                &eid,
                &serial,
                crate::unix_now().saturating_sub(3600),
                NO_EXPIRY,
                &mut crate::os_rng(),
            )?;
            identity_from(euicc.cert, euicc.key, eum_cert, cis)
        }
        None => {
            let cert = existing.with_context(|| {
                format!("CERT_EUICC_ECDSA_{tag}.der not found in {}", dir.display())
            })?;
            let key = load_key(&need(format!("SK_EUICC_ECDSA_{tag}.pem"))?)?;
            identity_from(cert, key, eum_cert, cis)
        }
    }
}

/// The EID must fall under the EUM's permitted EID prefixes (SGP.22 §4.5.2.1.0.2).
fn check_eid_prefix(eum: &Certificate, eid: &str) -> Result<()> {
    let prefixes = eum.permitted_eid_prefixes();
    if !prefixes.is_empty() && !prefixes.iter().any(|p| eid.starts_with(p)) {
        bail!("EID {eid} is outside the EUM's permitted prefixes {prefixes:?}");
    }
    Ok(())
}

fn fresh_identity(
    curve: Curve,
    eid: Option<String>,
    extra_cis: Vec<Certificate>,
    pki_out: Option<&Path>,
) -> Result<CardIdentity> {
    let mut cfg = TestPkiConfig::new(curve, crate::unix_now().saturating_sub(3600));
    if let Some(eid) = eid {
        card::identity::eid_from_digits(&eid)?;
        cfg.eid_prefix = eid.get(..8).unwrap_or_default().to_string();
        cfg.eid = eid;
    }
    let pki = TestPki::generate(&cfg, &mut crate::os_rng())?;
    if let Some(dir) = pki_out {
        pki.write_to_dir(dir)
            .with_context(|| format!("writing {}", dir.display()))?;
    }
    let mut cis = vec![pki.ci.cert.clone()];
    cis.extend(extra_cis);
    identity_from(pki.euicc.cert, pki.euicc.key, pki.eum.cert, cis)
}

fn kind_name(k: NotificationKind) -> &'static str {
    match k {
        NotificationKind::Install => "install",
        NotificationKind::Enable => "enable",
        NotificationKind::Disable => "disable",
        NotificationKind::Delete => "delete",
    }
}

/// Everything `card info` shows, as JSON (the human output is rendered from it).
fn info_json(path: &Path, id: &CardIdentity, st: &CardState) -> serde_json::Value {
    let profiles: Vec<_> = st
        .profiles
        .iter()
        .map(|p| {
            let md = rsp::es8p::StoreMetadataRequest::decode(&p.metadata).ok();
            let class = md
                .as_ref()
                .and_then(|m| m.profile_class)
                .unwrap_or(rsp::ProfileClass::OPERATIONAL);
            json!({
                "iccid": rsp::Iccid(p.iccid).to_string(),
                "isdpAid": hex::encode_upper(&p.isdp_aid),
                "state": match p.state {
                    ProfileState::Enabled => "enabled",
                    ProfileState::Disabled => "disabled",
                },
                "nickname": p.nickname,
                "profileName": md.as_ref().map(|m| m.profile_name.clone()),
                "serviceProviderName": md.as_ref().map(|m| m.service_provider_name.clone()),
                "profileClass": class.name().map_or_else(|| class.0.to_string(), str::to_string),
                "imsi": p.imsi,
            })
        })
        .collect();
    let notifications: Vec<_> = st
        .notifications
        .iter()
        .map(|n| {
            json!({
                "seqNumber": n.seq_number,
                "operation": kind_name(n.kind),
                "address": n.address,
                "iccid": n.iccid.map(|i| rsp::Iccid(i).to_string()),
            })
        })
        .collect();
    json!({
        "state": path,
        "eid": id.eid_string(),
        "curve": id.euicc_private_key.curve().to_string(),
        "ciPkidsForVerification": pkids(&id.ci_pkids_for_verification()),
        "ciPkidForSigning": hex::encode_upper(&id.signing_ci_pkid),
        "defaultDpAddress": st.default_dp_address,
        "rootDsAddress": st.root_ds_address,
        "rspSessionOpen": st.session.is_some(),
        "pairingAdminKey": st.pairing.has_admin_key(),
        "profiles": profiles,
        "notifications": notifications,
    })
}

fn print_info(v: &serde_json::Value) {
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_string();
    println!("Card {}", s(&v["state"]));
    println!("  EID               {}", s(&v["eid"]));
    println!("  curve             {}", s(&v["curve"]));
    for p in v["ciPkidsForVerification"].as_array().into_iter().flatten() {
        println!("  CI (verification) {}", s(p));
    }
    println!("  CI (signing)      {}", s(&v["ciPkidForSigning"]));
    println!("  default SM-DP+    {}", s(&v["defaultDpAddress"]));
    println!("  root SM-DS        {}", s(&v["rootDsAddress"]));
    let profiles = v["profiles"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    println!("Profiles: {}", profiles.len());
    for p in profiles {
        println!(
            "  {}  {:<8}  {}  {} ({}){}",
            s(&p["iccid"]),
            s(&p["state"]),
            s(&p["isdpAid"]),
            s(&p["profileName"]),
            s(&p["serviceProviderName"]),
            p["nickname"]
                .as_str()
                .map(|n| format!("  \"{n}\""))
                .unwrap_or_default(),
        );
    }
    let notes = v["notifications"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    println!("Pending notifications: {}", notes.len());
    for n in notes {
        println!(
            "  #{:<4} {:<8} {}  {}",
            n["seqNumber"].as_i64().unwrap_or_default(),
            s(&n["operation"]),
            s(&n["iccid"]),
            s(&n["address"]),
        );
    }
}
