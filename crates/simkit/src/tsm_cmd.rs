//! `simkit tsm`: the central TSM (crate `tsm`) — register operators (MNOs), service providers
//! (SPs), secure elements (SEs) and the service catalogue, list service instances and the
//! audit log, deliver an SE's queued requests, and serve the SP API over mutual TLS
//! ([`crate::tsm_http`]).
//!
//! Storage follows `simkit serve` / `simkit ota`: `--data-dir` (default `./simkit-data`,
//! `SIMKIT_DATA_DIR`) holds the SQLite database `tsm.db` (or `--database` / `SIMKIT_TSM_DATABASE`,
//! `sqlite://...` or `postgres://...`, with `--database-schema` for a PostgreSQL schema) and the
//! seal master key `master.key` (`--master-key` / `SIMKIT_MASTER_KEY_FILE`; 32 bytes, created
//! mode 0600 on first use, the same file `simkit serve` uses). Security domain key sets are
//! stored sealed under it, bound to their SE and SD.
//!
//! Key sets are given as `ENC:MAC:DEK` (hex) or one hex key for all three; `--scp` (02 or 03)
//! and the `--*-kvn` flags (hex) say what they are.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use serde_json::{json, Value};
use store::Database;
use tsm::model::{
    check_aid, check_id, Bearer, CatalogueEntry, KeySetRecord, Mno, SdKind, Se, SecurityDomain,
    ServiceInstance, Sp,
};
use tsm::service::{Clock, RngFactory, SdRegistration, SeConnector, Tsm, TsmConfig};
use tsm::store::AuditFilter;
use tsm::TsmStore;
use zeroize::Zeroizing;

use crate::tsm_http::{Link, LinkConnector, TsmServerOptions};

/// The ISD AID GlobalPlatform cards (and the simkit virtual card) use by default.
pub const DEFAULT_ISD_AID: &str = "A000000151000000";

/// Default listen address of `simkit tsm serve` (loopback).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8444";

#[derive(clap::Args, Debug)]
pub struct TsmArgs {
    /// Data directory: the SQLite database `tsm.db`, the seal master key, the minted TLS PKI.
    #[arg(
        long,
        env = "SIMKIT_DATA_DIR",
        default_value = "./simkit-data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...` (default `sqlite://<data-dir>/tsm.db?mode=rwc`).
    #[arg(long, env = "SIMKIT_TSM_DATABASE", global = true)]
    pub database: Option<String>,
    /// PostgreSQL only: create and use this schema.
    #[arg(long, env = "SIMKIT_TSM_DATABASE_SCHEMA", global = true)]
    pub database_schema: Option<String>,
    /// The 32-byte seal master key (default `<data-dir>/master.key`, created if absent).
    #[arg(long, env = "SIMKIT_MASTER_KEY_FILE", global = true)]
    pub master_key: Option<PathBuf>,
    #[command(subcommand)]
    pub command: TsmCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum TsmCommand {
    /// Serve the SP API (HTTPS, SP client certificates required).
    Serve(ServeArgs),
    /// Mobile network operators.
    #[command(subcommand)]
    Mno(MnoCmd),
    /// Service providers.
    #[command(subcommand)]
    Sp(SpCmd),
    /// Secure elements.
    #[command(subcommand)]
    Se(SeCmd),
    /// The service catalogue.
    #[command(subcommand)]
    Service(ServiceCmd),
    /// The catalogue and the service instances with their states.
    Services {
        /// Only this SE.
        #[arg(long)]
        se: Option<String>,
        /// Only this SP.
        #[arg(long)]
        sp: Option<String>,
    },
    /// The audit log: every command sent to an SE and its response, oldest first.
    Audit {
        #[arg(long)]
        se: Option<String>,
        #[arg(long)]
        sp: Option<String>,
        /// Entries after this id.
        #[arg(long)]
        after: Option<i64>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Deliver an SE's queued requests now (oldest first; stops if the SE is unreachable).
    Deliver {
        #[arg(long)]
        se: String,
    },
}

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Listen address (loopback by default; port 0 picks a free port).
    #[arg(long, default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// TLS certificate chain (PEM, leaf first); default a test certificate minted into
    /// `<data-dir>/pki` (as `simkit serve` does), trusted through its `CERT_CI_ECDSA_NIST.der`.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Host name of a minted TLS certificate.
    #[arg(long, default_value = "localhost")]
    pub host: String,
    /// SP CA certificates (PEM bundle): every SP's client certificate must chain to them.
    #[arg(long)]
    pub sp_ca: PathBuf,
    /// Seconds between deliveries of queued requests to SEs that are reachable again.
    #[arg(long, default_value_t = 5)]
    pub delivery_interval: u64,
    /// Permitted duration of a conversation, seconds.
    #[arg(long, default_value_t = 300)]
    pub conversation_secs: u64,
    /// Scripts per conversation.
    #[arg(long, default_value_t = 64)]
    pub max_scripts: u32,
    /// Bytes per script (the sum of its command APDUs).
    #[arg(long, default_value_t = 16 * 1024)]
    pub max_script_bytes: u32,
    /// Bytes per script to SEs reached over SCP80/SMS (one command packet per script; the
    /// card must reassemble it).
    #[arg(long, default_value_t = 1024)]
    pub sms_max_script_bytes: u32,
    /// The SMSC (SMPP v3.4) of the OTA platform: SEs linked `ota:MSISDN` whose MNO's bearer is
    /// SCP80-SMS are managed through it (RAM, ETSI TS 102 226). Without it they answer 501.
    #[arg(long)]
    pub smsc: Option<SocketAddr>,
    /// The OTA platform's database: the cards' OTA key sets and counters (`simkit ota card import`).
    #[arg(long, env = "SIMKIT_OTA_DATABASE", default_value = crate::ota_cmd::DEFAULT_DATABASE)]
    pub ota_database: String,
    #[arg(long, default_value = "simkit-tsm")]
    pub system_id: String,
    #[arg(long, default_value = "")]
    pub password: String,
    /// The OTA platform's address (source_addr of the command packets).
    #[arg(long, default_value = "0000")]
    pub source: String,
    /// Seconds to wait for each PoR.
    #[arg(long, default_value_t = 60)]
    pub por_timeout: u64,
}

#[derive(clap::Subcommand, Debug)]
pub enum MnoCmd {
    /// Add (or replace) an operator.
    Add {
        /// The operator's identifier (SEs name it with --mno).
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        /// How the TSM reaches the operator's SEs over the air.
        #[arg(long, value_parser = ["SCP80-SMS", "SCP81-HTTPS", "DIRECT"], default_value = "SCP80-SMS")]
        bearer: String,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum SpCmd {
    /// Add (or replace) a service provider.
    Add {
        /// The SP's identifier (catalogue entries name it with --sp).
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        /// Subject common name of the SP's TLS client certificate.
        #[arg(long)]
        cert_subject: String,
    },
    /// List the service providers.
    List,
}

#[derive(clap::Subcommand, Debug)]
pub enum SeCmd {
    /// Add (or replace) a secure element with its MSIs and security domains.
    Add(Box<SeAddArgs>),
    /// List the secure elements.
    List,
}

#[derive(clap::Args, Debug)]
pub struct SeAddArgs {
    /// The SE identifier the SPs see (e.g. the CIN).
    #[arg(long)]
    pub se_id: String,
    /// The operator (added with `simkit tsm mno add`).
    #[arg(long)]
    pub mno: String,
    /// A mobile subscription on the SE (MSISDN, IMSI); repeat for several.
    #[arg(long, required = true)]
    pub msi: Vec<String>,
    /// How the TSM reaches it: `card:<card file>`, `pcsc:<reader>` (empty: the first reader
    /// with a card), or `ota:<MSISDN>` (the OTA platform, over the operator's bearer; see
    /// `tsm serve --smsc`).
    #[arg(long, default_value = "")]
    pub link: String,
    /// The Issuer Security Domain's AID (hex).
    #[arg(long, default_value = DEFAULT_ISD_AID)]
    pub isd_aid: String,
    /// The ISD's key set (ENC:MAC:DEK or one key), if the TSM manages through the ISD.
    #[arg(long)]
    pub isd_keys: Option<String>,
    /// KVN of --isd-keys (hex).
    #[arg(long, default_value = "30")]
    pub isd_kvn: String,
    /// The central TSM's own SD (Authorized Management), preferred over the ISD.
    #[arg(long, requires = "central_keys")]
    pub central_sd: Option<String>,
    /// The central SD's key set (ENC:MAC:DEK or one key).
    #[arg(long, requires = "central_sd")]
    pub central_keys: Option<String>,
    /// KVN of --central-keys (hex).
    #[arg(long, default_value = "30")]
    pub central_kvn: String,
    /// The key set the SE gives a newly created SSD (needed for PrePersonalize).
    #[arg(long)]
    pub ssd_initial_keys: Option<String>,
    /// KVN of --ssd-initial-keys (hex).
    #[arg(long, default_value = "30")]
    pub ssd_kvn: String,
    /// Secure channel protocol of the key sets: 02 (3DES) or 03 (AES).
    #[arg(long, default_value = "03", value_parser = ["02", "03"])]
    pub scp: String,
    /// UICC, eSE, microSD, ...
    #[arg(long, default_value = "UICC")]
    pub se_type: String,
    /// The SE's platform profile identifier.
    #[arg(long, default_value = "")]
    pub profile_id: String,
    /// GlobalPlatform Card Specification version.
    #[arg(long, default_value = "2.3.1")]
    pub gp_version: String,
    /// Java Card version.
    #[arg(long, default_value = "3.0.5")]
    pub jc_version: String,
    /// Certification level (e.g. "EAL4+").
    #[arg(long, default_value = "")]
    pub cert_level: String,
    /// Certification expiry (ISO 8601 date).
    #[arg(long, default_value = "")]
    pub cert_expiry: String,
}

#[derive(clap::Subcommand, Debug)]
pub enum ServiceCmd {
    /// Add (or replace) a catalogue entry: what the TSM installs for a service version.
    Add(ServiceAddArgs),
    /// List the catalogue.
    List,
}

#[derive(clap::Args, Debug)]
pub struct ServiceAddArgs {
    /// The SP that owns the service.
    #[arg(long)]
    pub sp: String,
    /// The service identifier SPs use in their requests.
    #[arg(long)]
    pub service_id: String,
    /// The catalogue version (the latest added is the default of PrePersonalize).
    #[arg(long)]
    pub version: String,
    /// Executable load file AID (hex), preloaded on the SEs.
    #[arg(long)]
    pub package: String,
    /// Executable module AID (hex).
    #[arg(long)]
    pub module: String,
    /// Application instance AID (hex).
    #[arg(long)]
    pub instance: String,
    /// Non-volatile memory the instance needs, bytes.
    #[arg(long, default_value_t = 0)]
    pub memory: u32,
    /// Application privileges (hex, GP CS v2.3.1 §11.1.2).
    #[arg(long, default_value = "00")]
    pub privileges: String,
    /// Install parameters (hex, the value of tag C9).
    #[arg(long, default_value = "")]
    pub params: String,
}

// ---------------------------------------------------------------------------------------------
// Opening the service

impl TsmArgs {
    /// The database URL (default `sqlite://<data-dir>/tsm.db?mode=rwc`).
    pub fn database_url(&self) -> String {
        self.database.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("tsm.db").display()
            )
        })
    }

    pub fn master_key_path(&self) -> PathBuf {
        self.master_key
            .clone()
            .unwrap_or_else(|| self.data_dir.join("master.key"))
    }

    /// The `simkit serve` configuration with this data directory and database (to reuse its
    /// database and PKI code).
    fn server_config(&self) -> crate::config::Config {
        crate::config::Config {
            data_dir: self.data_dir.clone(),
            database_url: Some(self.database_url()),
            database_schema: self.database_schema.clone(),
            master_key_file: Some(self.master_key_path()),
            ..Default::default()
        }
    }

    /// Opens the database and the master key and builds the service.
    pub async fn open(
        &self,
        connector: Arc<dyn SeConnector>,
        cfg: TsmConfig,
    ) -> Result<Arc<Tsm<Database>>> {
        let db = crate::serve::open_database(&self.server_config()).await?;
        let master = crate::serve::load_or_create_master_key(&self.master_key_path())?;
        let keys =
            seal::SoftwareKeyStore::new(&master).map_err(|e| anyhow::anyhow!("master key: {e}"))?;
        Ok(Arc::new(new_service(db, Arc::new(keys), connector, cfg)))
    }
}

/// A [`Tsm`] over `store` with the OS CSPRNG and the system clock.
pub fn new_service<S: TsmStore + 'static>(
    store: S,
    keys: Arc<dyn seal::KeyStore>,
    connector: Arc<dyn SeConnector>,
    cfg: TsmConfig,
) -> Tsm<S> {
    let rng: RngFactory = Arc::new(|| Box::new(crate::os_rng()));
    let clock: Clock = Arc::new(|| crate::serve::now_millis().0);
    Tsm::new(store, keys, connector, rng, clock, cfg)
}

/// `ENC:MAC:DEK` (hex) or one hex key for all three.
pub fn parse_keys(s: &str, scp: u8, kvn: u8) -> Result<KeySetRecord> {
    let parts: Vec<&str> = s.trim().split(':').collect();
    let decode = |p: &str| -> Result<Zeroizing<Vec<u8>>> {
        Ok(Zeroizing::new(
            hex::decode(p.trim()).context("key set: not hex")?,
        ))
    };
    let (enc, mac, dek) = match parts.as_slice() {
        [k] => (decode(k)?, decode(k)?, decode(k)?),
        [e, m, d] => (decode(e)?, decode(m)?, decode(d)?),
        _ => bail!("key set: ENC:MAC:DEK or one key, in hex"),
    };
    let r = KeySetRecord {
        scp,
        kvn,
        enc,
        mac,
        dek,
    };
    r.check()?;
    Ok(r)
}

fn parse_kvn(s: &str) -> Result<u8> {
    let v = hex::decode(s.trim()).context("KVN: not hex")?;
    match v.as_slice() {
        [k] => Ok(*k),
        _ => bail!("KVN: one byte in hex"),
    }
}

fn parse_aid(field: &'static str, s: &str) -> Result<Vec<u8>> {
    let aid = hex::decode(s.trim()).with_context(|| format!("{field}: not hex"))?;
    check_aid(field, &aid)?;
    Ok(aid)
}

// ---------------------------------------------------------------------------------------------
// Output

fn print(json_out: bool, v: Value, text: &str) {
    if json_out {
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        println!("{text}");
    }
}

/// An instance as JSON (the `simkit tsm services --json` rows).
pub fn instance_json(i: &ServiceInstance) -> Value {
    let steps: Value = serde_json::from_str(&i.detail).unwrap_or(Value::Array(Vec::new()));
    json!({
        "seId": i.se_id,
        "spId": i.sp_id,
        "serviceId": i.service_id,
        "serviceQualifier": i.qualifier,
        "version": i.version,
        "state": i.state.as_str(),
        "instanceAid": hex::encode_upper(&i.instance_aid),
        "ssdAid": hex::encode_upper(&i.ssd_aid),
        "steps": steps,
        "updatedAt": i.updated_at,
    })
}

fn se_json(se: &Se, sds: &[SecurityDomain], msis: Option<&[String]>) -> Value {
    let mut v = json!({
        "seId": se.se_id,
        "mnoId": se.mno_id,
        "seType": se.se_type,
        "profileId": se.profile_id,
        "gpVersion": se.gp_version,
        "jcVersion": se.jc_version,
        "certificationLevel": se.cert_level,
        "certificationExpiry": se.cert_expiry,
        "isdAid": hex::encode_upper(&se.isd_aid),
        "link": se.link,
        "ssdInitialKeys": se.ssd_initial_keys.is_some(),
        "securityDomains": sds.iter().map(|sd| json!({
            "aid": hex::encode_upper(&sd.aid),
            "kind": sd.kind.as_str(),
            "spId": sd.sp_id,
            "kvn": format!("{:02X}", sd.kvn),
            "keys": sd.keys.is_some(),
            "rotated": sd.rotated,
        })).collect::<Vec<_>>(),
    });
    if let Some(m) = msis {
        v["msis"] = json!(m);
    }
    v
}

// ---------------------------------------------------------------------------------------------
// Commands

/// `simkit tsm ...`.
pub fn run(args: TsmArgs, json_out: bool) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    rt.block_on(run_async(args, json_out))
}

async fn run_async(args: TsmArgs, json_out: bool) -> Result<()> {
    let connector = Arc::new(LinkConnector::default());
    let cfg = match &args.command {
        TsmCommand::Serve(s) => TsmConfig {
            conversation_duration: Duration::from_secs(s.conversation_secs.max(1)),
            max_scripts: s.max_scripts,
            max_script_bytes: s.max_script_bytes,
            sms_max_script_bytes: s.sms_max_script_bytes,
            ..TsmConfig::default()
        },
        _ => TsmConfig::default(),
    };
    let tsm = args.open(connector.clone(), cfg).await?;
    let store = tsm.store();
    match &args.command {
        TsmCommand::Serve(s) => serve(&args, s, tsm.clone(), connector, json_out).await?,
        TsmCommand::Mno(MnoCmd::Add { id, name, bearer }) => {
            check_id("id", id)?;
            let bearer = Bearer::parse(bearer).context("bearer")?;
            store
                .put_mno(Mno {
                    id: id.clone(),
                    name: name.clone(),
                    bearer,
                })
                .await?;
            print(
                json_out,
                json!({ "mno": id, "name": name, "bearer": bearer.as_str() }),
                &format!("MNO {id} ({name}, {})", bearer.as_str()),
            );
        }
        TsmCommand::Sp(SpCmd::Add {
            id,
            name,
            cert_subject,
        }) => {
            check_id("id", id)?;
            if cert_subject.trim().is_empty() {
                bail!("--cert-subject must not be empty");
            }
            store
                .put_sp(Sp {
                    id: id.clone(),
                    name: name.clone(),
                    cert_subject: cert_subject.clone(),
                })
                .await?;
            print(
                json_out,
                json!({ "sp": id, "name": name, "certSubject": cert_subject }),
                &format!("SP {id} ({name}), client certificate CN {cert_subject}"),
            );
        }
        TsmCommand::Sp(SpCmd::List) => {
            let sps = store.list_sps().await?;
            if json_out {
                print(true, serde_json::to_value(&sps)?, "");
            } else {
                for sp in sps {
                    println!("{}\t{}\tCN={}", sp.id, sp.name, sp.cert_subject);
                }
            }
        }
        TsmCommand::Se(SeCmd::Add(a)) => {
            let v = add_se(&tsm, a).await?;
            let text = format!(
                "SE {} ({}, MNO {}): {} MSI(s), link {:?}",
                a.se_id,
                a.se_type,
                a.mno,
                a.msi.len(),
                a.link
            );
            print(json_out, v, &text);
        }
        TsmCommand::Se(SeCmd::List) => {
            let mut out = Vec::new();
            for se in store.list_ses().await? {
                let sds = store.sds(&se.se_id).await?;
                out.push(se_json(&se, &sds, None));
            }
            if json_out {
                print(true, Value::Array(out), "");
            } else {
                for se in out {
                    println!(
                        "{}\t{}\t{}\tMNO {}\tlink {:?}\t{} SD(s)",
                        se["seId"].as_str().unwrap_or_default(),
                        se["seType"].as_str().unwrap_or_default(),
                        se["isdAid"].as_str().unwrap_or_default(),
                        se["mnoId"].as_str().unwrap_or_default(),
                        se["link"].as_str().unwrap_or_default(),
                        se["securityDomains"].as_array().map_or(0, Vec::len),
                    );
                }
            }
        }
        TsmCommand::Service(ServiceCmd::Add(a)) => {
            let entry = catalogue_entry(a)?;
            if store.get_sp(&entry.sp_id).await?.is_none() {
                bail!(
                    "unknown SP {:?} (add it with `simkit tsm sp add`)",
                    entry.sp_id
                );
            }
            let v = serde_json::to_value(&entry)?;
            store.put_catalogue(entry).await?;
            print(
                json_out,
                v,
                &format!(
                    "service {} version {} of SP {}: instance {}",
                    a.service_id,
                    a.version,
                    a.sp,
                    a.instance.to_uppercase()
                ),
            );
        }
        TsmCommand::Service(ServiceCmd::List) => {
            let entries = store.list_catalogue().await?;
            if json_out {
                print(true, serde_json::to_value(&entries)?, "");
            } else {
                for e in entries {
                    println!("{}", catalogue_line(&e));
                }
            }
        }
        TsmCommand::Services { se, sp } => {
            let catalogue: Vec<CatalogueEntry> = store
                .list_catalogue()
                .await?
                .into_iter()
                .filter(|e| sp.as_deref().is_none_or(|s| s == e.sp_id))
                .collect();
            let instances = store.list_instances(se.as_deref(), sp.as_deref()).await?;
            if json_out {
                print(
                    true,
                    json!({
                        "catalogue": catalogue,
                        "instances": instances.iter().map(instance_json).collect::<Vec<_>>(),
                    }),
                    "",
                );
            } else {
                println!("Catalogue:");
                for e in &catalogue {
                    println!("  {}", catalogue_line(e));
                }
                println!("Instances:");
                for i in &instances {
                    println!(
                        "  {}\t{}\t{}/{}\tv{}\t{}\t{}",
                        i.se_id,
                        i.sp_id,
                        i.service_id,
                        i.qualifier,
                        i.version,
                        i.state.as_str(),
                        hex::encode_upper(&i.instance_aid)
                    );
                }
            }
        }
        TsmCommand::Audit {
            se,
            sp,
            after,
            limit,
        } => {
            let entries = store
                .audit(AuditFilter {
                    se_id: se.clone(),
                    sp_id: sp.clone(),
                    after: *after,
                    limit: *limit,
                })
                .await?;
            if json_out {
                let v: Vec<Value> = entries
                    .iter()
                    .map(|e| {
                        json!({
                            "id": e.id,
                            "at": e.at,
                            "seId": e.se_id,
                            "spId": e.sp_id,
                            "conversationId": e.conversation_id,
                            "operation": e.operation,
                            "sdAid": hex::encode_upper(&e.sd_aid),
                            "command": hex::encode_upper(&e.command),
                            "response": hex::encode_upper(&e.response),
                        })
                    })
                    .collect();
                print(true, Value::Array(v), "");
            } else {
                for e in entries {
                    println!(
                        "{}\t{}\t{}\t{}\t{}\t{} -> {}",
                        e.id,
                        e.se_id,
                        e.sp_id.as_deref().unwrap_or("-"),
                        e.operation,
                        hex::encode_upper(&e.sd_aid),
                        hex::encode_upper(&e.command),
                        hex::encode_upper(&e.response)
                    );
                }
            }
        }
        TsmCommand::Deliver { se } => {
            let n = tsm.deliver_pending(se).await?;
            let left = store.pending(se).await?.len();
            print(
                json_out,
                json!({ "se": se, "delivered": n, "pending": left }),
                &format!("SE {se}: {n} request(s) delivered, {left} pending"),
            );
        }
    }
    Ok(())
}

fn catalogue_line(e: &CatalogueEntry) -> String {
    format!(
        "{}\t{}\tv{}\tpackage {}\tmodule {}\tinstance {}\t{} bytes",
        e.sp_id,
        e.service_id,
        e.version,
        hex::encode_upper(&e.package_aid),
        hex::encode_upper(&e.module_aid),
        hex::encode_upper(&e.instance_aid),
        e.memory
    )
}

fn catalogue_entry(a: &ServiceAddArgs) -> Result<CatalogueEntry> {
    check_id("sp", &a.sp)?;
    check_id("service-id", &a.service_id)?;
    check_id("version", &a.version)?;
    Ok(CatalogueEntry {
        sp_id: a.sp.clone(),
        service_id: a.service_id.clone(),
        version: a.version.clone(),
        package_aid: parse_aid("package", &a.package)?,
        module_aid: parse_aid("module", &a.module)?,
        instance_aid: parse_aid("instance", &a.instance)?,
        memory: a.memory,
        privileges: hex::decode(a.privileges.trim()).context("privileges: not hex")?,
        install_params: hex::decode(a.params.trim()).context("params: not hex")?,
    })
}

async fn add_se<S: TsmStore + 'static>(tsm: &Tsm<S>, a: &SeAddArgs) -> Result<Value> {
    check_id("se-id", &a.se_id)?;
    check_id("mno", &a.mno)?;
    for m in &a.msi {
        check_id("msi", m)?;
    }
    Link::parse(&a.link)?;
    if a.isd_keys.is_none() && a.central_keys.is_none() {
        bail!("give the TSM's keys: --isd-keys, or --central-sd with --central-keys");
    }
    if tsm.store().get_mno(&a.mno).await?.is_none() {
        bail!("unknown MNO {:?} (add it with `simkit tsm mno add`)", a.mno);
    }
    let scp: u8 = if a.scp == "02" { 2 } else { 3 };
    let isd_aid = parse_aid("isd-aid", &a.isd_aid)?;
    let isd_kvn = parse_kvn(&a.isd_kvn)?;
    let mut sds = vec![SdRegistration {
        aid: isd_aid.clone(),
        kind: SdKind::Isd,
        sp_id: None,
        keys: a
            .isd_keys
            .as_deref()
            .map(|k| parse_keys(k, scp, isd_kvn))
            .transpose()?,
    }];
    if let (Some(aid), Some(keys)) = (&a.central_sd, &a.central_keys) {
        let aid = parse_aid("central-sd", aid)?;
        if aid == isd_aid {
            bail!("--central-sd must differ from --isd-aid");
        }
        let kvn = parse_kvn(&a.central_kvn)?;
        sds.push(SdRegistration {
            aid,
            kind: SdKind::CentralSd,
            sp_id: None,
            keys: Some(parse_keys(keys, scp, kvn)?),
        });
    }
    let ssd_initial_keys = a
        .ssd_initial_keys
        .as_deref()
        .map(|k| parse_keys(k, scp, parse_kvn(&a.ssd_kvn)?))
        .transpose()?;
    let se = Se {
        se_id: a.se_id.clone(),
        mno_id: a.mno.clone(),
        se_type: a.se_type.clone(),
        profile_id: a.profile_id.clone(),
        gp_version: a.gp_version.clone(),
        jc_version: a.jc_version.clone(),
        cert_level: a.cert_level.clone(),
        cert_expiry: a.cert_expiry.clone(),
        isd_aid,
        link: a.link.clone(),
        ssd_initial_keys: None,
    };
    // Through the service: key sets sealed there, and the SP SDs the TSM created kept.
    tsm.register_se(se.clone(), ssd_initial_keys, a.msi.clone(), sds)
        .await?;
    let stored = tsm.store().get_se(&a.se_id).await?.unwrap_or(se);
    Ok(se_json(
        &stored,
        &tsm.store().sds(&a.se_id).await?,
        Some(&a.msi),
    ))
}

async fn serve(
    args: &TsmArgs,
    s: &ServeArgs,
    tsm: Arc<Tsm<Database>>,
    connector: Arc<LinkConnector>,
    json_out: bool,
) -> Result<()> {
    let sp_cas = crate::server_pki::load_chain(&s.sp_ca)
        .with_context(|| format!("--sp-ca {}", s.sp_ca.display()))?;
    let mut cfg = args.server_config();
    cfg.pki.host = Some(s.host.clone());
    cfg.tls.cert = s.tls_cert.clone();
    cfg.tls.key = s.tls_key.clone();
    let (tls_chain, tls_key_pkcs8) = match (&s.tls_cert, &s.tls_key) {
        (Some(cert), Some(key)) => (
            crate::server_pki::load_chain(cert)?,
            crate::server_pki::load_pkcs8(key)?,
        ),
        _ => {
            let pki = crate::server_pki::load_or_mint(&cfg)?;
            (pki.tls_chain, pki.tls_key_pkcs8)
        }
    };
    let (keys, queued) = tsm.recover_interrupted().await?;
    if keys + queued > 0 {
        tracing::warn!(
            keys,
            queued,
            "requests interrupted by the previous stop are answered as interrupted, not run again"
        );
    }
    if let Some(smsc) = s.smsc {
        let db = crate::ota_cmd::open(&s.ota_database).await?;
        let cfg =
            crate::ota_cmd::service_config(smsc, &s.system_id, &s.password, &s.source, 8, None);
        let service = otasrv::service::OtaService::start(db, cfg);
        connector.set_ota(Arc::new(crate::tsm_ota::OtaPlatform::new(
            service,
            tokio::runtime::Handle::current(),
            Duration::from_secs(s.por_timeout.max(1)),
        )));
    }
    let running = crate::tsm_http::start(
        tsm,
        TsmServerOptions {
            listen: s.listen,
            tls_chain,
            tls_key_pkcs8,
            sp_cas,
            delivery_interval: Duration::from_secs(s.delivery_interval.max(1)),
            connector: Some(connector),
        },
    )
    .await?;
    print(
        json_out,
        json!({ "listen": running.addr.to_string(), "url": running.base_url }),
        &format!(
            "TSM SP API on {}{} (SP client certificates required)",
            running.base_url,
            crate::tsm_http::API_PREFIX
        ),
    );
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    running.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_sets() {
        let k = parse_keys("404142434445464748494A4B4C4D4E4F", 3, 0x30).unwrap();
        assert_eq!(k.enc.as_slice(), k.dek.as_slice());
        assert_eq!(k.kvn, 0x30);
        let k = parse_keys(
            "00112233445566778899AABBCCDDEEFF:0102030405060708090A0B0C0D0E0F10:FFEEDDCCBBAA99887766554433221100",
            3,
            1,
        )
        .unwrap();
        assert_eq!(k.mac[0], 0x01);
        assert_eq!(k.dek[0], 0xFF);
        // Wrong lengths, not hex, two parts.
        assert!(parse_keys("0011", 3, 1).is_err());
        assert!(parse_keys("zz", 3, 1).is_err());
        assert!(parse_keys(
            "00112233445566778899AABBCCDDEEFF:00112233445566778899AABBCCDDEEFF",
            3,
            1
        )
        .is_err());
        // SCP02 needs 16-byte keys.
        assert!(parse_keys("00112233445566778899AABBCCDDEEFF0011223344556677", 2, 1).is_err());
        assert_eq!(parse_kvn("30").unwrap(), 0x30);
        assert!(parse_kvn("3030").is_err());
        assert!(parse_aid("aid", "A0000001").is_err());
        assert_eq!(parse_aid("aid", "a000000151000000").unwrap()[0], 0xA0);
    }
}
