//! `simkit pki`: mint a fresh RSP test PKI (SGP.22 §4.5.2, with SGP.26 certificate profiles).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Subcommand, ValueEnum};
use pki::mint::{CertifiedKey, TestPki, TestPkiConfig};
use pki::{Certificate, Curve, PrivateKey};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum CurveArg {
    /// NIST P-256 (secp256r1).
    Nist,
    /// brainpoolP256r1.
    Brainpool,
}

impl From<CurveArg> for Curve {
    fn from(c: CurveArg) -> Curve {
        match c {
            CurveArg::Nist => Curve::NistP256,
            CurveArg::Brainpool => Curve::BrainpoolP256r1,
        }
    }
}

#[derive(Subcommand)]
pub enum PkiCommand {
    /// Mint CI, EUM, eUICC (for --eid), DPauth, DPpb and DPtls (for --host) into a directory,
    /// named as in SGP.26 (CERT_*.der, SK_*.pem).
    Mint {
        /// Output directory (created if missing).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_enum, default_value = "nist")]
        curve: CurveArg,
        /// EID of the eUICC certificate (32 digits); must start with --eid-prefix.
        #[arg(long, default_value = "89049032123451234512345678901235")]
        eid: String,
        /// EID prefix the EUM may certify (its name constraint).
        #[arg(long, default_value = "89049032")]
        eid_prefix: String,
        /// Host name of the SM-DP+ TLS certificate.
        #[arg(long, default_value = "localhost")]
        host: String,
        /// Issue under an existing CI certificate (DER or PEM), e.g. the SGP.26 test CI.
        #[arg(long, requires = "ci_key")]
        ci_cert: Option<PathBuf>,
        /// The private key of --ci-cert (PEM).
        #[arg(long, requires = "ci_cert")]
        ci_key: Option<PathBuf>,
        /// Also mint an ES2+ Operator CA (operator-ca.pem, reused if present) and a TLS client
        /// certificate for this Operator (operator-<ID>.pem / .key.pem, subject CN = ID, the
        /// functionRequesterIdentifier). Give `operator-ca.pem` to `simkit serve` as
        /// `es2.client_ca`.
        #[arg(long)]
        operator: Option<String>,
        /// Also mint a TSM service provider CA (sp-ca.pem, reused if present) and a TLS client
        /// certificate for this SP (sp-<ID>.pem / .key.pem, subject CN = ID); repeat for several.
        /// Give `sp-ca.pem` to `simkit tsm serve --sp-ca` and register the SP with
        /// `simkit tsm sp add --cert-subject ID`.
        #[arg(long = "sp", value_name = "ID")]
        sps: Vec<String>,
    },
}

pub fn run(cmd: PkiCommand, json: bool) -> Result<()> {
    match cmd {
        PkiCommand::Mint {
            out,
            curve,
            eid,
            eid_prefix,
            host,
            ci_cert,
            ci_key,
            operator,
            sps,
        } => {
            let mut cfg = TestPkiConfig::new(curve.into(), crate::unix_now().saturating_sub(3600));
            cfg.eid = eid;
            cfg.eid_prefix = eid_prefix;
            cfg.dp_tls_host = host;
            if !cfg.eid.starts_with(&cfg.eid_prefix) {
                bail!(
                    "EID {} does not start with the EUM prefix {}",
                    cfg.eid,
                    cfg.eid_prefix
                );
            }
            let pki = match (ci_cert, ci_key) {
                (Some(cert), Some(key)) => {
                    let ci = CertifiedKey {
                        cert: load_certificate(&cert)?,
                        key: load_key(&key)?,
                    };
                    TestPki::generate_under_ci(ci, &cfg, &mut crate::os_rng())?
                }
                _ => TestPki::generate(&cfg, &mut crate::os_rng())?,
            };
            pki.write_to_dir(&out)
                .with_context(|| format!("writing {}", out.display()))?;
            let operator_files = match &operator {
                Some(id) => Some(crate::server_pki::mint_operator(&out, id)?),
                None => None,
            };
            let sp_files = sps
                .iter()
                .map(|id| Ok((id, crate::server_pki::mint_sp(&out, id)?)))
                .collect::<Result<Vec<_>>>()?;
            if json {
                let mut v = serde_json::json!({
                    "dir": out,
                    "curve": Curve::from(curve).to_string(),
                    "eid": cfg.eid,
                    "host": cfg.dp_tls_host,
                    "ciPkid": hex::encode_upper(pki.ci.cert.subject_key_id().unwrap_or_default()),
                });
                if let (Some(f), Some(id)) = (&operator_files, &operator) {
                    v["operator"] = serde_json::json!({
                        "id": id,
                        "caCert": f.ca_cert,
                        "clientCert": f.client_cert,
                        "clientKey": f.client_key,
                    });
                }
                if !sp_files.is_empty() {
                    v["sps"] = sp_files
                        .iter()
                        .map(|(id, f)| {
                            serde_json::json!({
                                "id": id,
                                "caCert": f.ca_cert,
                                "clientCert": f.client_cert,
                                "clientKey": f.client_key,
                            })
                        })
                        .collect();
                }
                println!("{v}");
            } else {
                println!(
                    "Minted an RSP test PKI ({}) in {}",
                    Curve::from(curve),
                    out.display()
                );
                println!(
                    "  CI PKID  {}",
                    hex::encode_upper(pki.ci.cert.subject_key_id().unwrap_or_default())
                );
                println!("  eUICC    EID {}", cfg.eid);
                println!("  DPtls    {}", cfg.dp_tls_host);
                if let (Some(f), Some(id)) = (&operator_files, &operator) {
                    println!(
                        "  Operator {id}: client cert {} (CA {})",
                        f.client_cert.display(),
                        f.ca_cert.display()
                    );
                }
                for (id, f) in &sp_files {
                    println!(
                        "  SP {id}: client cert {} (CA {})",
                        f.client_cert.display(),
                        f.ca_cert.display()
                    );
                }
            }
            Ok(())
        }
    }
}

/// Reads a certificate in DER or PEM.
pub fn load_certificate(path: &std::path::Path) -> Result<Certificate> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let cert = if bytes.starts_with(b"-----") {
        Certificate::from_pem(std::str::from_utf8(&bytes)?)
    } else {
        Certificate::from_der(&bytes)
    };
    cert.with_context(|| format!("parsing certificate {}", path.display()))
}

/// Reads a private key in PEM (SEC1 or PKCS#8).
pub fn load_key(path: &std::path::Path) -> Result<PrivateKey> {
    let pem =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    PrivateKey::from_pem(&pem).with_context(|| format!("parsing key {}", path.display()))
}
