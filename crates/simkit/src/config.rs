//! SM-DP+ server configuration: zero-config defaults, an optional TOML file (`--config FILE`),
//! then `SIMKIT_*` environment variables, then command-line flags, each layer overriding the
//! previous one. `simkit serve --print-config` prints the effective result as TOML.
//!
//! Values derived from others (database URL and master key file from `data_dir`, the public
//! SM-DP+ address from `listen`, PKI directory) are filled in by [`Config::resolve`].

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// The whole configuration. Field names are the TOML keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Directory for the SQLite database, the seal master key and the minted test PKI.
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`; default `sqlite://<data_dir>/smdp.db?mode=rwc`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// PostgreSQL only: schema to create and use (tenants, tests).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_schema: Option<String>,
    /// The 32-byte seal master key; default `<data_dir>/master.key` (created on first start).
    /// Replicas sharing one PostgreSQL database must share this key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_key_file: Option<PathBuf>,
    /// Socket address to listen on (loopback by default).
    pub listen: SocketAddr,
    /// The SM-DP+ address (FQDN[:port]) given to Operators in ConfirmOrder and checked in
    /// ES9+.InitiateAuthentication; default the listen address, with `localhost` for a loopback
    /// or unspecified IP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_address: Option<String>,
    /// Serve plain HTTP instead of HTTPS (lab use only: SGP.22 §2.6.6 mandates TLS).
    pub plain_http: bool,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    pub tls: TlsConfig,
    pub pki: PkiConfig,
    pub policy: PolicyConfig,
    pub outbox: OutboxConfig,
    pub es2: Es2Config,
    /// Operator (ES2+ `functionRequesterIdentifier`) -> base URL receiving
    /// ES2+.HandleDownloadProgressInfo at `<url>/gsma/rsp2/es2plus/handleDownloadProgressInfo`.
    pub callbacks: BTreeMap<String, String>,
}

/// TLS server certificate. Both absent: the DPtls certificate of the PKI directory is used.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain, leaf first (PEM, or a single DER certificate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    /// Private key (PEM, PKCS#8 or SEC1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
}

/// RSP PKI of the SM-DP+ (SGP.22 §4.5): DPauth, DPpb, DPtls and the trusted CIs. The directory
/// uses the SGP.26 file names (`CERT_S_SM_DPauth_ECDSA_NIST.der`, `SK_...pem`, ...). If it holds
/// no DPauth certificate on start, a test PKI is minted into it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PkiConfig {
    /// Default `<data_dir>/pki`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// Host name for a minted DPtls certificate; default the host of the public address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Mint under this CI certificate (DER or PEM) instead of a fresh CI, e.g. the SGP.26 test CI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer_cert: Option<PathBuf>,
    /// The private key of `issuer_cert` (PEM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer_key: Option<PathBuf>,
    /// Further trusted CI certificates (DER or PEM), besides the directory's CI.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_ci_certs: Vec<PathBuf>,
}

/// ES2+ Operator authentication (SGP.22 §2.6.5, §5.3: the function requester is authenticated
/// by mutual TLS).
///
/// With `client_ca` set, the one HTTPS listener asks every client for a certificate (optional
/// at the TLS level, so LPAs on ES9+ connect without one); a certificate that does not chain to
/// `client_ca` fails the handshake, and the ES2+ routes refuse a request without a verified
/// certificate, or whose `functionRequesterIdentifier` is not the authenticated Operator's, with
/// 1.1/1.1 resp. 1.1/1.2. Without `client_ca`, ES2+ is unauthenticated and served to loopback
/// peers only (a warning is logged on start).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Es2Config {
    /// Operator trust anchors (PEM bundle) for ES2+ client certificates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<PathBuf>,
    /// Which `functionRequesterIdentifier` each client certificate may use. Empty: a
    /// certificate's subject CN is the one identifier it may use.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub operators: Vec<OperatorConfig>,
    /// Client certificate chain (PEM, leaf first) the SM-DP+ presents on ES2+ callbacks;
    /// default the TLS server certificate (CERT.DP.TLS also carries id-kp-clientAuth).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<PathBuf>,
    /// Private key of `client_cert` (PEM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_key: Option<PathBuf>,
}

/// One Operator: its ES2+ `functionRequesterIdentifier` and its client certificate's subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorConfig {
    /// The `functionRequesterIdentifier` this Operator uses.
    pub id: String,
    /// The certificate subject: its CN, or the whole DN as `O=MNO1, CN=mno1-es2`.
    pub cert_subject: String,
}

impl Es2Config {
    /// The requester identifiers a verified client certificate with `subject` may use.
    pub fn requesters_for(&self, subject: &pki::Name) -> Vec<String> {
        if self.operators.is_empty() {
            return subject
                .common_name()
                .map(str::to_string)
                .into_iter()
                .collect();
        }
        let dn = subject.to_string();
        let cn = subject.common_name();
        self.operators
            .iter()
            .filter(|o| o.cert_subject == dn || Some(o.cert_subject.as_str()) == cn)
            .map(|o| o.id.clone())
            .collect()
    }
}

/// Order rules (SGP.22 §3.1.1, §3.1.3); see `smdp::OrderPolicy`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    pub max_cc_attempts: u32,
    pub max_download_attempts: u32,
    pub session_ttl_secs: u64,
    /// How long a session waits for its Profile Installation Result after the BPP went out.
    pub pir_ttl_secs: u64,
    /// Lifetime of a download order; absent = no expiry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_ttl_secs: Option<u64>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        let p = smdp::OrderPolicy::default();
        PolicyConfig {
            max_cc_attempts: p.max_cc_attempts,
            max_download_attempts: p.max_download_attempts,
            session_ttl_secs: p.session_ttl_ms / 1000,
            pir_ttl_secs: p.pir_ttl_ms / 1000,
            order_ttl_secs: p.order_ttl_ms.map(|ms| ms / 1000),
        }
    }
}

impl PolicyConfig {
    pub fn order_policy(&self) -> smdp::OrderPolicy {
        smdp::OrderPolicy {
            max_cc_attempts: self.max_cc_attempts,
            max_download_attempts: self.max_download_attempts,
            order_ttl_ms: self.order_ttl_secs.map(|s| s.saturating_mul(1000)),
            session_ttl_ms: self.session_ttl_secs.saturating_mul(1000),
            pir_ttl_ms: self.pir_ttl_secs.saturating_mul(1000),
        }
    }
}

/// Delivery of ES2+.HandleDownloadProgressInfo callbacks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboxConfig {
    pub enabled: bool,
    /// `functionRequesterIdentifier` the SM-DP+ puts in its callbacks.
    pub requester_id: String,
    pub poll_interval_ms: u64,
    /// Entries claimed per poll.
    pub batch: u32,
    /// HTTP timeout per delivery.
    pub timeout_secs: u64,
    /// Trust anchors (PEM) for `https://` callback URLs; default the system bundle.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ca_certs: Vec<PathBuf>,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            enabled: true,
            requester_id: "simkit-smdp".into(),
            poll_interval_ms: 1000,
            batch: 32,
            timeout_secs: 10,
            ca_certs: Vec::new(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./simkit-data"),
            database_url: None,
            database_schema: None,
            master_key_file: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            public_address: None,
            plain_http: false,
            max_body_bytes: 1 << 20,
            tls: TlsConfig::default(),
            pki: PkiConfig::default(),
            policy: PolicyConfig::default(),
            outbox: OutboxConfig::default(),
            es2: Es2Config::default(),
            callbacks: BTreeMap::new(),
        }
    }
}

/// Overrides from the command line (highest precedence).
#[derive(Debug, Clone, Default)]
pub struct CliOverrides {
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub listen: Option<SocketAddr>,
    pub public_address: Option<String>,
    pub plain_http: bool,
    pub es2_client_ca: Option<PathBuf>,
}

fn parse_bool(name: &str, v: &str) -> Result<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => bail!("{name}: expected a boolean, got {v:?}"),
    }
}

fn parse_num<T: std::str::FromStr>(name: &str, v: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    v.trim()
        .parse()
        .map_err(|e| anyhow::anyhow!("{name}: {e} ({v:?})"))
}

/// `ID=URL` pairs separated by commas or semicolons.
fn parse_callbacks(v: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for item in v.split([',', ';']).map(str::trim).filter(|s| !s.is_empty()) {
        let Some((id, url)) = item.split_once('=') else {
            bail!("SIMKIT_CALLBACKS: expected ID=URL, got {item:?}");
        };
        out.insert(id.trim().to_string(), url.trim().to_string());
    }
    Ok(out)
}

/// `ID=SUBJECT` pairs separated by semicolons (a DN contains commas).
fn parse_operators(v: &str) -> Result<Vec<OperatorConfig>> {
    let mut out = Vec::new();
    for item in v.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let Some((id, subject)) = item.split_once('=') else {
            bail!("SIMKIT_ES2_OPERATORS: expected ID=CERT_SUBJECT, got {item:?}");
        };
        out.push(OperatorConfig {
            id: id.trim().to_string(),
            cert_subject: subject.trim().to_string(),
        });
    }
    Ok(out)
}

impl Config {
    /// Defaults, then `file` (if any), then the environment (`env` looks a variable up), then
    /// the command line.
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        cli: &CliOverrides,
    ) -> Result<Config> {
        let mut cfg = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                Config::from_toml(&text).with_context(|| format!("in {}", path.display()))?
            }
            None => Config::default(),
        };
        cfg.apply_env(env)?;
        cfg.apply_cli(cli);
        Ok(cfg)
    }

    pub fn from_toml(text: &str) -> Result<Config> {
        toml::from_str(text).context("invalid configuration")
    }

    /// The process environment as a lookup function.
    pub fn process_env(name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<()> {
        let get = |n: &str| env(n).filter(|v| !v.is_empty());
        if let Some(v) = get("SIMKIT_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = get("SIMKIT_DATABASE_URL") {
            self.database_url = Some(v);
        }
        if let Some(v) = get("SIMKIT_DATABASE_SCHEMA") {
            self.database_schema = Some(v);
        }
        if let Some(v) = get("SIMKIT_MASTER_KEY_FILE") {
            self.master_key_file = Some(v.into());
        }
        if let Some(v) = get("SIMKIT_LISTEN") {
            self.listen = parse_num("SIMKIT_LISTEN", &v)?;
        }
        if let Some(v) = get("SIMKIT_PUBLIC_ADDRESS") {
            self.public_address = Some(v);
        }
        if let Some(v) = env("SIMKIT_PLAIN_HTTP") {
            self.plain_http = parse_bool("SIMKIT_PLAIN_HTTP", &v)?;
        }
        if let Some(v) = get("SIMKIT_MAX_BODY_BYTES") {
            self.max_body_bytes = parse_num("SIMKIT_MAX_BODY_BYTES", &v)?;
        }
        if let Some(v) = get("SIMKIT_TLS_CERT") {
            self.tls.cert = Some(v.into());
        }
        if let Some(v) = get("SIMKIT_TLS_KEY") {
            self.tls.key = Some(v.into());
        }
        if let Some(v) = get("SIMKIT_PKI_DIR") {
            self.pki.dir = Some(v.into());
        }
        if let Some(v) = get("SIMKIT_PKI_HOST") {
            self.pki.host = Some(v);
        }
        if let Some(v) = get("SIMKIT_MAX_CC_ATTEMPTS") {
            self.policy.max_cc_attempts = parse_num("SIMKIT_MAX_CC_ATTEMPTS", &v)?;
        }
        if let Some(v) = get("SIMKIT_MAX_DOWNLOAD_ATTEMPTS") {
            self.policy.max_download_attempts = parse_num("SIMKIT_MAX_DOWNLOAD_ATTEMPTS", &v)?;
        }
        if let Some(v) = get("SIMKIT_PIR_TTL_SECS") {
            self.policy.pir_ttl_secs = parse_num("SIMKIT_PIR_TTL_SECS", &v)?;
        }
        if let Some(v) = get("SIMKIT_SESSION_TTL_SECS") {
            self.policy.session_ttl_secs = parse_num("SIMKIT_SESSION_TTL_SECS", &v)?;
        }
        if let Some(v) = get("SIMKIT_ORDER_TTL_SECS") {
            self.policy.order_ttl_secs = Some(parse_num("SIMKIT_ORDER_TTL_SECS", &v)?);
        }
        if let Some(v) = env("SIMKIT_OUTBOX_ENABLED") {
            self.outbox.enabled = parse_bool("SIMKIT_OUTBOX_ENABLED", &v)?;
        }
        if let Some(v) = get("SIMKIT_OUTBOX_REQUESTER_ID") {
            self.outbox.requester_id = v;
        }
        if let Some(v) = get("SIMKIT_ES2_CLIENT_CA") {
            self.es2.client_ca = Some(v.into());
        }
        if let Some(v) = get("SIMKIT_ES2_CLIENT_CERT") {
            self.es2.client_cert = Some(v.into());
        }
        if let Some(v) = get("SIMKIT_ES2_CLIENT_KEY") {
            self.es2.client_key = Some(v.into());
        }
        if let Some(v) = get("SIMKIT_ES2_OPERATORS") {
            self.es2.operators = parse_operators(&v)?;
        }
        if let Some(v) = get("SIMKIT_CALLBACKS") {
            // Adds to (and overrides entries of) the file's map.
            self.callbacks.extend(parse_callbacks(&v)?);
        }
        Ok(())
    }

    fn apply_cli(&mut self, cli: &CliOverrides) {
        if let Some(v) = &cli.data_dir {
            self.data_dir = v.clone();
        }
        if let Some(v) = &cli.database_url {
            self.database_url = Some(v.clone());
        }
        if let Some(v) = cli.listen {
            self.listen = v;
        }
        if let Some(v) = &cli.public_address {
            self.public_address = Some(v.clone());
        }
        if cli.plain_http {
            self.plain_http = true;
        }
        if let Some(v) = &cli.es2_client_ca {
            self.es2.client_ca = Some(v.clone());
        }
    }

    /// Fill in every derived value and check the result.
    pub fn resolve(mut self) -> Result<Config> {
        if self.database_url.is_none() {
            self.database_url = Some(format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("smdp.db").display()
            ));
        }
        if self.master_key_file.is_none() {
            self.master_key_file = Some(self.data_dir.join("master.key"));
        }
        if self.public_address.is_none() {
            self.public_address = Some(default_public_address(self.listen));
        }
        if self.pki.dir.is_none() {
            self.pki.dir = Some(self.data_dir.join("pki"));
        }
        if self.pki.host.is_none() {
            self.pki.host = Some(host_of(self.public_address.as_deref().unwrap_or_default()));
        }
        self.validate()?;
        Ok(self)
    }

    fn validate(&self) -> Result<()> {
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            bail!("tls.cert and tls.key must be given together");
        }
        if self.pki.issuer_cert.is_some() != self.pki.issuer_key.is_some() {
            bail!("pki.issuer_cert and pki.issuer_key must be given together");
        }
        if self.policy.session_ttl_secs == 0 {
            bail!("policy.session_ttl_secs must be positive");
        }
        if self.max_body_bytes < 1024 {
            bail!("max_body_bytes must be at least 1024");
        }
        if self.es2.client_cert.is_some() != self.es2.client_key.is_some() {
            bail!("es2.client_cert and es2.client_key must be given together");
        }
        if self.es2.client_ca.is_some() && self.plain_http {
            bail!(
                "es2.client_ca needs TLS: ES2+ client certificates cannot be used with plain_http"
            );
        }
        for op in &self.es2.operators {
            if op.id.trim().is_empty() || op.cert_subject.trim().is_empty() {
                bail!("es2.operators: id and cert_subject must not be empty");
            }
        }
        for (id, url) in &self.callbacks {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                bail!("callbacks.{id}: {url:?} is not an http(s) URL");
            }
        }
        Ok(())
    }

    /// The effective configuration as TOML, with any database password masked.
    pub fn to_toml(&self) -> Result<String> {
        let mut shown = self.clone();
        shown.database_url = shown.database_url.as_deref().map(redact_url_password);
        toml::to_string(&shown).context("serializing the configuration")
    }

    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("smdp.db").display()
            )
        })
    }

    pub fn master_key_path(&self) -> PathBuf {
        self.master_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("master.key"))
    }

    pub fn pki_dir(&self) -> PathBuf {
        self.pki
            .dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("pki"))
    }
}

/// `localhost:<port>` for a loopback or unspecified listen IP, else `<ip>:<port>`.
pub fn default_public_address(listen: SocketAddr) -> String {
    let ip = listen.ip();
    if ip.is_loopback() || ip.is_unspecified() {
        format!("localhost:{}", listen.port())
    } else {
        match ip {
            IpAddr::V4(v4) => format!("{v4}:{}", listen.port()),
            IpAddr::V6(v6) => format!("[{v6}]:{}", listen.port()),
        }
    }
}

/// The host part of `host[:port]` / `[v6]:port`.
pub fn host_of(address: &str) -> String {
    if let Some(rest) = address.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default().to_string();
    }
    match address.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => h.to_string(),
        _ => address.to_string(),
    }
}

/// `scheme://user:secret@host` -> `scheme://user:***@host`.
pub fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn zero_config_defaults() {
        let cfg = Config::load(None, env_of(&[]), &CliOverrides::default())
            .unwrap()
            .resolve()
            .unwrap();
        assert_eq!(cfg.listen, "127.0.0.1:8443".parse().unwrap());
        assert_eq!(
            cfg.database_url.as_deref(),
            Some("sqlite://./simkit-data/smdp.db?mode=rwc")
        );
        assert_eq!(cfg.public_address.as_deref(), Some("localhost:8443"));
        assert_eq!(cfg.pki.host.as_deref(), Some("localhost"));
        assert_eq!(
            cfg.master_key_path(),
            PathBuf::from("./simkit-data/master.key")
        );
        assert_eq!(cfg.pki_dir(), PathBuf::from("./simkit-data/pki"));
        assert!(!cfg.plain_http);
        assert_eq!(cfg.policy.order_policy(), smdp::OrderPolicy::default());
    }

    #[test]
    fn layering_file_env_cli() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("simkit.toml");
        std::fs::write(
            &file,
            r#"
data_dir = "/srv/simkit"
listen = "0.0.0.0:9443"
plain_http = true

[policy]
max_cc_attempts = 7
order_ttl_secs = 3600

[callbacks]
MNO1 = "https://mno1.example.com/es2"
MNO2 = "http://127.0.0.1:9000"
"#,
        )
        .unwrap();

        // File only.
        let cfg = Config::load(Some(&file), env_of(&[]), &CliOverrides::default())
            .unwrap()
            .resolve()
            .unwrap();
        assert_eq!(cfg.data_dir, PathBuf::from("/srv/simkit"));
        assert_eq!(cfg.public_address.as_deref(), Some("localhost:9443"));
        assert!(cfg.plain_http);
        assert_eq!(cfg.policy.max_cc_attempts, 7);
        assert_eq!(cfg.policy.max_download_attempts, 5);
        assert_eq!(cfg.policy.order_policy().order_ttl_ms, Some(3_600_000));
        assert_eq!(cfg.callbacks.len(), 2);
        assert_eq!(
            cfg.database_url.as_deref(),
            Some("sqlite:///srv/simkit/smdp.db?mode=rwc")
        );

        // Environment over file.
        let env = env_of(&[
            ("SIMKIT_DATA_DIR", "/var/lib/simkit"),
            ("SIMKIT_LISTEN", "127.0.0.1:10443"),
            ("SIMKIT_PLAIN_HTTP", "false"),
            ("SIMKIT_MAX_CC_ATTEMPTS", "2"),
            (
                "SIMKIT_CALLBACKS",
                "MNO2=http://10.0.0.2:80, MNO3=http://10.0.0.3",
            ),
            ("SIMKIT_PUBLIC_ADDRESS", "smdp.example.com"),
        ]);
        let cfg = Config::load(Some(&file), &env, &CliOverrides::default())
            .unwrap()
            .resolve()
            .unwrap();
        assert_eq!(cfg.data_dir, PathBuf::from("/var/lib/simkit"));
        assert_eq!(cfg.listen, "127.0.0.1:10443".parse().unwrap());
        assert!(!cfg.plain_http);
        assert_eq!(cfg.policy.max_cc_attempts, 2);
        assert_eq!(cfg.callbacks["MNO1"], "https://mno1.example.com/es2");
        assert_eq!(cfg.callbacks["MNO2"], "http://10.0.0.2:80");
        assert_eq!(cfg.callbacks["MNO3"], "http://10.0.0.3");
        assert_eq!(cfg.public_address.as_deref(), Some("smdp.example.com"));
        assert_eq!(cfg.pki.host.as_deref(), Some("smdp.example.com"));

        // Command line over environment.
        let cli = CliOverrides {
            data_dir: Some("/tmp/x".into()),
            database_url: Some("postgres://smdp:s3cret@db:5432/smdp".into()),
            listen: Some("127.0.0.1:0".parse().unwrap()),
            public_address: None,
            plain_http: true,
            es2_client_ca: None,
        };
        let cfg = Config::load(Some(&file), &env, &cli)
            .unwrap()
            .resolve()
            .unwrap();
        assert_eq!(cfg.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(cfg.listen.port(), 0);
        assert!(cfg.plain_http);
        assert_eq!(cfg.master_key_path(), PathBuf::from("/tmp/x/master.key"));

        // --print-config: TOML that parses back to the same configuration, password masked.
        let printed = cfg.to_toml().unwrap();
        assert!(
            printed.contains("postgres://smdp:***@db:5432/smdp"),
            "{printed}"
        );
        assert!(!printed.contains("s3cret"));
        let mut back = Config::from_toml(&printed).unwrap();
        back.database_url = cfg.database_url.clone();
        assert_eq!(back, cfg);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(Config::from_toml("listen = \"nonsense\"").is_err());
        assert!(Config::from_toml("unknown_key = 1").is_err());
        assert!(Config::from_toml("[policy]\nmax_cc_attempts = -1").is_err());
        let env = env_of(&[("SIMKIT_PLAIN_HTTP", "maybe")]);
        assert!(Config::load(None, env, &CliOverrides::default()).is_err());
        let env = env_of(&[("SIMKIT_CALLBACKS", "MNO1")]);
        assert!(Config::load(None, env, &CliOverrides::default()).is_err());
        let cfg = Config::from_toml("[callbacks]\nMNO1 = \"ftp://x\"").unwrap();
        assert!(cfg.resolve().is_err());
        let cfg = Config::from_toml("[tls]\ncert = \"/a.pem\"").unwrap();
        assert!(cfg.resolve().is_err());
    }

    #[test]
    fn es2_settings() {
        let file = r#"
[es2]
client_ca = "/etc/simkit/operators.pem"

[[es2.operators]]
id = "MNO1"
cert_subject = "mno1-es2"
"#;
        let env = env_of(&[
            ("SIMKIT_ES2_CLIENT_CERT", "/etc/simkit/client.pem"),
            ("SIMKIT_ES2_CLIENT_KEY", "/etc/simkit/client.key"),
        ]);
        let mut cfg = Config::from_toml(file).unwrap();
        cfg.apply_env(&env).unwrap();
        let cfg = cfg.resolve().unwrap();
        assert_eq!(
            cfg.es2.client_ca.as_deref(),
            Some(Path::new("/etc/simkit/operators.pem"))
        );
        assert_eq!(cfg.es2.operators.len(), 1);
        assert_eq!(
            cfg.es2.client_cert.as_deref(),
            Some(Path::new("/etc/simkit/client.pem"))
        );
        // --print-config shows the section and reads back.
        let printed = cfg.to_toml().unwrap();
        assert!(printed.contains("[es2]"), "{printed}");
        assert!(printed.contains("[[es2.operators]]"), "{printed}");
        assert_eq!(Config::from_toml(&printed).unwrap(), cfg);

        // Environment: operators as ID=SUBJECT;...; the CLI flag wins over the environment.
        let env = env_of(&[
            ("SIMKIT_ES2_CLIENT_CA", "/env/ca.pem"),
            ("SIMKIT_ES2_OPERATORS", "MNO1=O=MNO1, CN=mno1; MNO2=mno2"),
        ]);
        let cfg = Config::load(None, &env, &CliOverrides::default()).unwrap();
        assert_eq!(cfg.es2.client_ca.as_deref(), Some(Path::new("/env/ca.pem")));
        assert_eq!(
            cfg.es2.operators,
            vec![
                OperatorConfig {
                    id: "MNO1".into(),
                    cert_subject: "O=MNO1, CN=mno1".into()
                },
                OperatorConfig {
                    id: "MNO2".into(),
                    cert_subject: "mno2".into()
                },
            ]
        );
        let cli = CliOverrides {
            es2_client_ca: Some("/cli/ca.pem".into()),
            ..Default::default()
        };
        let cfg = Config::load(None, &env, &cli).unwrap();
        assert_eq!(cfg.es2.client_ca.as_deref(), Some(Path::new("/cli/ca.pem")));

        // Bad input.
        let env = env_of(&[("SIMKIT_ES2_OPERATORS", "MNO1")]);
        assert!(Config::load(None, env, &CliOverrides::default()).is_err());
        let cfg = Config::from_toml("[es2]\nclient_cert = \"/a.pem\"").unwrap();
        assert!(cfg.resolve().is_err());
        let cfg = Config::from_toml("plain_http = true\n[es2]\nclient_ca = \"/a.pem\"").unwrap();
        assert!(cfg.resolve().is_err());
        let cfg = Config::from_toml("[[es2.operators]]\nid = \"\"\ncert_subject = \"x\"").unwrap();
        assert!(cfg.resolve().is_err());
        assert!(Config::from_toml("[[es2.operators]]\nid = \"x\"").is_err());
    }

    #[test]
    fn addresses() {
        assert_eq!(
            default_public_address("0.0.0.0:443".parse().unwrap()),
            "localhost:443"
        );
        assert_eq!(
            default_public_address("[::1]:8443".parse().unwrap()),
            "localhost:8443"
        );
        assert_eq!(
            default_public_address("10.1.2.3:8443".parse().unwrap()),
            "10.1.2.3:8443"
        );
        assert_eq!(host_of("smdp.example.com:8443"), "smdp.example.com");
        assert_eq!(host_of("smdp.example.com"), "smdp.example.com");
        assert_eq!(host_of("[fe80::1]:443"), "fe80::1");
        assert_eq!(
            redact_url_password("postgres://u:p@h/db?x=1"),
            "postgres://u:***@h/db?x=1"
        );
        assert_eq!(
            redact_url_password("postgres://u@h/db"),
            "postgres://u@h/db"
        );
        assert_eq!(redact_url_password("sqlite://./a.db"), "sqlite://./a.db");
    }
}
