//! The SM-DP+ certificates and keys (SGP.22 §4.5.2): CERT.DPauth.ECDSA, CERT.DPpb.ECDSA,
//! CERT.DP.TLS and the trusted CI certificates, read from a directory with the SGP.26 file names.
//! On first start (no DPauth certificate in the directory) a test PKI is minted there for the
//! configured host and reused afterwards.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use pki::mint::{CertifiedKey, TestPki, TestPkiConfig};
use pki::{Certificate, Curve};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use zeroize::Zeroizing;

use crate::config::Config;
use crate::pki_cmd::{load_certificate, load_key};

/// Everything the server needs from the PKI.
pub struct ServerPki {
    /// One DPauth/DPpb pair per curve found in the directory (NIST first).
    pub credentials: Vec<smdp::es9p::DpCredentials>,
    pub trusted_cis: Vec<Certificate>,
    /// TLS certificate chain, leaf first (DER).
    pub tls_chain: Vec<Vec<u8>>,
    /// TLS private key, PKCS#8 DER.
    pub tls_key_pkcs8: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for ServerPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerPki")
            .field("credentials", &self.credentials.len())
            .field("trusted_cis", &self.trusted_cis.len())
            .field("tls_chain", &self.tls_chain.len())
            .finish_non_exhaustive()
    }
}

fn file(dir: &Path, kind: &str, name: &str, tag: &str, ext: &str) -> PathBuf {
    dir.join(format!("{kind}_{name}_{tag}.{ext}"))
}

fn certified(dir: &Path, name: &str, tag: &str) -> Result<CertifiedKey> {
    Ok(CertifiedKey {
        cert: load_certificate(&file(dir, "CERT", name, tag, "der"))?,
        key: load_key(&file(dir, "SK", name, tag, "pem"))?,
    })
}

/// Mints a test PKI into `dir` (NIST P-256; under the configured issuer CI if any).
pub fn mint_into(cfg: &Config, dir: &Path) -> Result<()> {
    let host = cfg.pki.host.clone().unwrap_or_else(|| "localhost".into());
    let mut tcfg = TestPkiConfig::new(Curve::NistP256, crate::unix_now().saturating_sub(3600));
    tcfg.dp_tls_host = host.clone();
    let mut rng = crate::os_rng();
    let pki = match (&cfg.pki.issuer_cert, &cfg.pki.issuer_key) {
        (Some(cert), Some(key)) => {
            let ci = CertifiedKey {
                cert: load_certificate(cert)?,
                key: load_key(key)?,
            };
            TestPki::generate_under_ci(ci, &tcfg, &mut rng)?
        }
        _ => TestPki::generate(&tcfg, &mut rng)?,
    };
    pki.write_to_dir(dir)
        .with_context(|| format!("writing {}", dir.display()))?;
    tracing::info!(dir = %dir.display(), %host, "minted an RSP test PKI for the SM-DP+");
    Ok(())
}

/// Loads the PKI of `cfg`, minting a test PKI first if the directory has none.
pub fn load_or_mint(cfg: &Config) -> Result<ServerPki> {
    let dir = cfg.pki_dir();
    let nist = Curve::NistP256.sgp26_tag();
    if !file(&dir, "CERT", "S_SM_DPauth_ECDSA", nist, "der").exists()
        && !file(
            &dir,
            "CERT",
            "S_SM_DPauth_ECDSA",
            Curve::BrainpoolP256r1.sgp26_tag(),
            "der",
        )
        .exists()
    {
        mint_into(cfg, &dir)?;
    }

    let mut credentials = Vec::new();
    let mut trusted_cis = Vec::new();
    for curve in [Curve::NistP256, Curve::BrainpoolP256r1] {
        let tag = curve.sgp26_tag();
        if file(&dir, "CERT", "S_SM_DPauth_ECDSA", tag, "der").exists() {
            credentials.push(smdp::es9p::DpCredentials {
                dp_auth: certified(&dir, "S_SM_DPauth_ECDSA", tag)?,
                dp_pb: certified(&dir, "S_SM_DPpb_ECDSA", tag)?,
            });
        }
        let ci = file(&dir, "CERT", "CI_ECDSA", tag, "der");
        if ci.exists() {
            trusted_cis.push(load_certificate(&ci)?);
        }
    }
    for path in &cfg.pki.extra_ci_certs {
        trusted_cis.push(load_certificate(path)?);
    }
    if credentials.is_empty() {
        bail!("{}: no SM-DP+ DPauth/DPpb credentials", dir.display());
    }

    let (tls_chain, tls_key_pkcs8) = match (&cfg.tls.cert, &cfg.tls.key) {
        (Some(cert), Some(key)) => (load_chain(cert)?, load_pkcs8(key)?),
        _ => {
            let cert = file(&dir, "CERT", "S_SM_DP_TLS", nist, "der");
            let leaf = load_certificate(&cert)?;
            let host = cfg.pki.host.as_deref().unwrap_or_default();
            if !leaf
                .dns_names()
                .iter()
                .any(|n| n.eq_ignore_ascii_case(host))
            {
                tracing::warn!(
                    cert = %cert.display(), %host, names = ?leaf.dns_names(),
                    "the TLS certificate does not name the configured host"
                );
            }
            (
                vec![leaf.der().to_vec()],
                load_pkcs8(&file(&dir, "SK", "S_SM_DP_TLS", nist, "pem"))?,
            )
        }
    };
    Ok(ServerPki {
        credentials,
        trusted_cis,
        tls_chain,
        tls_key_pkcs8,
    })
}

/// A certificate chain from a PEM file (every CERTIFICATE block, in order) or one DER file.
pub fn load_chain(path: &Path) -> Result<Vec<Vec<u8>>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if !bytes.starts_with(b"-----") {
        return Ok(vec![bytes]);
    }
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .map(|c| c.map(|c| c.as_ref().to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing {}", path.display()))?;
    if chain.is_empty() {
        bail!("{}: no CERTIFICATE block", path.display());
    }
    Ok(chain)
}

/// An EC private key (PEM, SEC1 or PKCS#8) as PKCS#8 DER for rustls.
pub fn load_pkcs8(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    let key = load_key(path)?;
    let pem = key.to_pkcs8_pem();
    match PrivateKeyDer::from_pem_slice(pem.as_bytes()) {
        Ok(PrivateKeyDer::Pkcs8(k)) => Ok(Zeroizing::new(k.secret_pkcs8_der().to_vec())),
        _ => bail!("{}: cannot re-encode the key as PKCS#8", path.display()),
    }
}

/// The files written by [`mint_operator`].
#[derive(Debug, Clone)]
pub struct OperatorFiles {
    /// The Operator CA certificate (PEM): the SM-DP+'s `es2.client_ca`.
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    /// The Operator's TLS client certificate (PEM, leaf then CA), subject CN = the Operator id.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

/// Mints a test Operator CA (P-256) and, under it, a TLS client certificate (id-kp-clientAuth)
/// whose subject CN is `operator_id`, the ES2+ `functionRequesterIdentifier` (SGP.22 §2.6.5:
/// ES2+ is mutually authenticated with a PKI of the parties' choice). An existing CA in `dir`
/// (`operator-ca.pem` + `operator-ca.key.pem`) is reused, so several Operators can share one.
pub fn mint_operator(dir: &Path, operator_id: &str) -> Result<OperatorFiles> {
    mint_client(dir, "operator", "simkit test Operator CA", operator_id)
}

/// Mints a test service provider CA (P-256) and, under it, a TLS client certificate whose
/// subject CN is `sp_id`: the certificate an SP presents to the TSM's SP API (`simkit tsm
/// serve --sp-ca sp-ca.pem`; register the SP with `--cert-subject <sp_id>`). Files:
/// `sp-ca.pem` / `sp-ca.key.pem` (reused if present), `sp-<ID>.pem` / `sp-<ID>.key.pem`.
pub fn mint_sp(dir: &Path, sp_id: &str) -> Result<OperatorFiles> {
    mint_client(dir, "sp", "simkit test SP CA", sp_id)
}

/// A client CA `<role>-ca.pem` (reused if present) and a client certificate
/// `<role>-<id>.pem` (leaf then CA) with subject `O=<id>, CN=<id>`.
fn mint_client(dir: &Path, role: &str, ca_name: &str, id: &str) -> Result<OperatorFiles> {
    use pki::mint::{issue_tls, issue_tls_ca, DnAttr, TlsCertRequest, TlsProfile};
    if id.is_empty()
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        bail!("{role} id {id:?}: use letters, digits, '-', '_' or '.'");
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut rng = crate::os_rng();
    let now = crate::unix_now();
    let not_before = now.saturating_sub(3600);
    let not_after = now.saturating_add(5 * 365 * 86_400);
    let files = OperatorFiles {
        ca_cert: dir.join(format!("{role}-ca.pem")),
        ca_key: dir.join(format!("{role}-ca.key.pem")),
        client_cert: dir.join(format!("{role}-{id}.pem")),
        client_key: dir.join(format!("{role}-{id}.key.pem")),
    };
    let (ca, ca_key) = if files.ca_cert.exists() && files.ca_key.exists() {
        (load_certificate(&files.ca_cert)?, load_key(&files.ca_key)?)
    } else {
        let key = pki::PrivateKey::generate(Curve::NistP256, &mut rng);
        let req = TlsCertRequest {
            profile: TlsProfile::Ca,
            subject: &[(DnAttr::O, "simkit test"), (DnAttr::CN, ca_name)],
            serial: &random_serial(&mut rng),
            not_before,
            not_after,
            dns_names: &[],
        };
        let ca = issue_tls_ca(&req, &key)?;
        std::fs::write(&files.ca_cert, ca.to_pem())?;
        write_key(&files.ca_key, &key)?;
        (ca, key)
    };
    let key = pki::PrivateKey::generate(ca.curve(), &mut rng);
    let req = TlsCertRequest {
        profile: TlsProfile::Client,
        subject: &[(DnAttr::O, id), (DnAttr::CN, id)],
        serial: &random_serial(&mut rng),
        not_before,
        not_after,
        dns_names: &[],
    };
    let leaf = issue_tls(&req, &key.public_key(), Some((&ca, &ca_key)))?;
    std::fs::write(&files.client_cert, leaf.to_pem() + &ca.to_pem())
        .with_context(|| format!("writing {}", files.client_cert.display()))?;
    write_key(&files.client_key, &key)?;
    Ok(files)
}

/// A random positive 16-byte serial number (RFC 5280 §4.1.2.2).
fn random_serial<R: rand_core::Rng + ?Sized>(rng: &mut R) -> [u8; 16] {
    let mut s = [0u8; 16];
    rng.fill_bytes(&mut s);
    s[0] = (s[0] & 0x7F) | 0x01;
    s
}

/// Writes a PKCS#8 PEM private key with mode 0600.
fn write_key(path: &Path, key: &pki::PrivateKey) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(key.to_pkcs8_pem().as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}
