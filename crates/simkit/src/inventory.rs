//! `simkit smdp import` / `simkit smdp status`: the SM-DP+ Profile inventory.
//!
//! Import personalizes copies of one unprotected Profile Package (SAIP, TCA eUICC Profile Package
//! Interoperable Format): ICCID (header and EF.ICCID) and IMSI incremented from the given start
//! values, fresh random K and OPc per Profile, then seals each package at rest
//! (`smdp::session::package_aad(iccid)`) and inserts them as `Available`.
//!
//! The ICCID's last digit is the Luhn check digit of ITU-T E.118 (computed over the preceding
//! digits, the issuer identification number included). Batches are inserted one transaction
//! each; a duplicate ICCID refuses its whole batch and stops the import.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use smdp::inventory::ProfileTemplate;
use smdp::order::NewProfile;
use smdp::SmdpStore;
use zeroize::Zeroizing;

use crate::config::{CliOverrides, Config};
use crate::serve::{now_millis, open_database, open_keystore};

/// Profiles inserted per transaction.
const BATCH: usize = 500;

/// Where the inventory lives (the same layering as `simkit serve`).
#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// TOML configuration file.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Data directory (SQLite database, master key).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Database URL (`sqlite://...` or `postgres://...`).
    #[arg(long)]
    pub database: Option<String>,
}

impl StoreArgs {
    pub fn config(&self) -> Result<Config> {
        let cli = CliOverrides {
            data_dir: self.data_dir.clone(),
            database_url: self.database.clone(),
            ..Default::default()
        };
        Config::load(self.config.as_deref(), Config::process_env, &cli)?.resolve()
    }
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum ProfileClassArg {
    Operational,
    Test,
    Provisioning,
}

impl ProfileClassArg {
    fn as_str(self) -> &'static str {
        match self {
            ProfileClassArg::Operational => "operational",
            ProfileClassArg::Test => "test",
            ProfileClassArg::Provisioning => "provisioning",
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct ImportArgs {
    /// Unprotected Profile Package (DER sequence of SAIP profile elements).
    #[arg(long)]
    pub package: PathBuf,
    /// Number of Profiles to create.
    #[arg(long, default_value_t = 1)]
    pub count: u32,
    /// First ICCID, 19 or 20 digits ending in a valid Luhn check digit.
    #[arg(long)]
    pub iccid_start: String,
    /// First IMSI (6 to 15 digits).
    #[arg(long)]
    pub imsi_start: String,
    /// Profile Type for ES2+.DownloadOrder; default the package header's profileType.
    #[arg(long)]
    pub profile_type: Option<String>,
    /// Operator (functionRequesterIdentifier) allowed to order these Profiles; default any.
    #[arg(long)]
    pub owner: Option<String>,
    /// serviceProviderName of the Profile metadata (SGP.22 §5.5.3).
    #[arg(long, default_value = "simkit")]
    pub service_provider_name: String,
    /// profileName of the Profile metadata; default the Profile Type.
    #[arg(long)]
    pub profile_name: Option<String>,
    #[arg(long, value_enum, default_value = "operational")]
    pub profile_class: ProfileClassArg,
    /// Write `iccid,imsi,k,opc` (hex) for the HSS/AuC to this new file (mode 0600).
    #[arg(long)]
    pub keys_out: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
}

impl ImportArgs {
    /// One operational Profile from `package` with the given first ICCID and IMSI, into the
    /// store of whatever configuration the caller passes to [`import_with_config`].
    pub fn single(package: PathBuf, iccid: String, imsi: String) -> Self {
        ImportArgs {
            package,
            count: 1,
            iccid_start: iccid,
            imsi_start: imsi,
            profile_type: None,
            owner: None,
            service_provider_name: "simkit".into(),
            profile_name: None,
            profile_class: ProfileClassArg::Operational,
            keys_out: None,
            store: StoreArgs {
                config: None,
                data_dir: None,
                database: None,
            },
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum SmdpCommand {
    /// Personalize and add Profiles to the inventory.
    Import(ImportArgs),
    /// Profile counts per type and state.
    Status(StoreArgs),
}

pub fn run(cmd: SmdpCommand, json: bool) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match cmd {
            SmdpCommand::Import(args) => {
                let summary = import(&args).await?;
                if json {
                    println!("{}", serde_json::to_string(&summary)?);
                } else {
                    println!(
                        "Imported {} Profiles of type {:?}: ICCID {} .. {}, IMSI {} .. {}",
                        summary.count,
                        summary.profile_type,
                        summary.first_iccid,
                        summary.last_iccid,
                        summary.first_imsi,
                        summary.last_imsi
                    );
                }
                Ok(())
            }
            SmdpCommand::Status(args) => status(&args, json).await,
        }
    })
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportSummary {
    pub count: u32,
    pub profile_type: String,
    pub first_iccid: String,
    pub last_iccid: String,
    pub first_imsi: String,
    pub last_imsi: String,
}

pub use smdp::inventory::{iccid_sequence, imsi_sequence, luhn_check_digit};

fn create_private_file(path: &Path) -> Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)
        .with_context(|| format!("creating {} (it must not exist)", path.display()))
}

/// Runs an import against the store configured by `args.store`.
pub async fn import(args: &ImportArgs) -> Result<ImportSummary> {
    import_with_config(&args.store.config()?, args).await
}

/// Runs an import against the database and master key of `cfg` (`args.store` is ignored).
pub async fn import_with_config(cfg: &Config, args: &ImportArgs) -> Result<ImportSummary> {
    let der = std::fs::read(&args.package)
        .with_context(|| format!("reading {}", args.package.display()))?;
    if args.count == 0 {
        bail!("--count must be at least 1");
    }
    let metadata = serde_json::json!({
        "serviceProviderName": args.service_provider_name,
        "profileName": args.profile_name.clone().unwrap_or_default(),
        "profileClass": args.profile_class.as_str(),
    });
    let mut template = ProfileTemplate::new(&der, args.profile_type.clone(), metadata)
        .with_context(|| format!("{}", args.package.display()))?;
    template.owner = args.owner.clone();
    if args.profile_name.is_none() {
        template.metadata["profileName"] = template.profile_type.clone().into();
    }
    let profile_type = template.profile_type.clone();
    let iccids = iccid_sequence(&args.iccid_start, args.count)?;
    let imsis = imsi_sequence(&args.imsi_start, args.count)?;

    let db = open_database(cfg).await?;
    let keystore = open_keystore(cfg)?;
    let mut keys_out = args
        .keys_out
        .as_deref()
        .map(create_private_file)
        .transpose()?;
    let mut rng = crate::os_rng();
    let mut batch = Vec::with_capacity(BATCH.min(iccids.len()));
    let mut done = 0usize;
    for (iccid, imsi) in iccids.iter().zip(&imsis) {
        let prepared = template
            .prepare(iccid, imsi, &keystore, &mut rng)
            .with_context(|| format!("personalizing ICCID {iccid}"))?;
        if let (Some(f), false) = (keys_out.as_mut(), prepared.k.is_empty()) {
            let line = Zeroizing::new(format!(
                "{iccid},{imsi},{},{}\n",
                hex::encode_upper(&prepared.k[..]),
                hex::encode_upper(&prepared.opc[..])
            ));
            f.write_all(line.as_bytes()).context("writing --keys-out")?;
        }
        batch.push(prepared.profile);
        if batch.len() == BATCH {
            done += flush(&db, &mut batch, done).await?;
        }
    }
    flush(&db, &mut batch, done).await?;
    if let Some(mut f) = keys_out {
        f.flush()?;
        f.sync_all()?;
    }
    db.close().await;
    Ok(ImportSummary {
        count: args.count,
        profile_type,
        first_iccid: iccids.first().cloned().unwrap_or_default(),
        last_iccid: iccids.last().cloned().unwrap_or_default(),
        first_imsi: imsis.first().cloned().unwrap_or_default(),
        last_imsi: imsis.last().cloned().unwrap_or_default(),
    })
}

async fn flush(db: &store::Database, batch: &mut Vec<NewProfile>, done: usize) -> Result<usize> {
    if batch.is_empty() {
        return Ok(0);
    }
    let n = batch.len();
    let first = batch
        .first()
        .map(|p| p.iccid.to_string())
        .unwrap_or_default();
    db.insert_profiles(std::mem::take(batch), now_millis())
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "inserting Profiles from ICCID {first}: {e} ({done} Profiles imported before)"
            )
        })?;
    Ok(n)
}

async fn status(args: &StoreArgs, json: bool) -> Result<()> {
    let cfg = args.config()?;
    let db = open_database(&cfg).await?;
    let counts = db
        .profile_counts()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    db.close().await;
    if json {
        let v: Vec<_> = counts
            .iter()
            .map(|c| {
                serde_json::json!({
                    "profileType": c.profile_type,
                    "state": c.state.as_str(),
                    "count": c.count,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(v));
        return Ok(());
    }
    if counts.is_empty() {
        println!("No Profiles in the inventory.");
        return Ok(());
    }
    let w = counts
        .iter()
        .map(|c| c.profile_type.len())
        .max()
        .unwrap_or(0)
        .max("PROFILE TYPE".len());
    println!("{:<w$}  {:<12}  {:>8}", "PROFILE TYPE", "STATE", "COUNT");
    for c in &counts {
        println!(
            "{:<w$}  {:<12}  {:>8}",
            c.profile_type,
            c.state.as_str(),
            c.count
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_known_answers() {
        // ICCIDs of the GSMA TS.48 test profiles (shared/reference/ts48-profiles, ProfileHeader)
        // and the ISO/IEC 7812-1 Annex B example number 7992739871 -> 3.
        assert_eq!(luhn_check_digit("894944999999999002"), Some(3));
        assert_eq!(luhn_check_digit("894944999999999012"), Some(2));
        assert_eq!(luhn_check_digit("894944999999999016"), Some(3));
        assert_eq!(luhn_check_digit("7992739871"), Some(3));
        assert_eq!(luhn_check_digit("12a"), None);
    }

    #[test]
    fn sequences() {
        let s = iccid_sequence("8949449999999990023", 3).unwrap();
        assert_eq!(
            s,
            [
                "8949449999999990023",
                "8949449999999990031",
                "8949449999999990049"
            ]
        );
        // 20-digit form, and carry into the next decade.
        let s = iccid_sequence("89000123456789012341", 2).unwrap();
        assert_eq!(s[1], "89000123456789012358");
        assert!(iccid_sequence("8949449999999990024", 1).is_err());
        assert!(iccid_sequence("894944999999999002", 1).is_err());
        assert!(iccid_sequence("9999999999999999998", 2).is_err());
        let s = imsi_sequence("001010123456063", 2).unwrap();
        assert_eq!(s, ["001010123456063", "001010123456064"]);
        assert!(imsi_sequence("001019999999999", 2).is_err());
        assert!(imsi_sequence("00101", 1).is_err());
    }
}
