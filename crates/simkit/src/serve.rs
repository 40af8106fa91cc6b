//! `simkit serve`: the SM-DP+ server. Composes the store (`store::Database`), the seal key
//! store, the ES2+ functions (Operator side, SGP.22 §5.3 / §6.5 / §6.6), the ES9+ service
//! (LPA side, SGP.22 §5.6 / §6.5.2), the outbox worker for ES2+.HandleDownloadProgressInfo,
//! `/metrics` and `/healthz`.
//!
//! HTTP binding (SGP.22 §6.5.1): functions are `POST` with a JSON body and an
//! `X-Admin-Protocol: gsma/rsp/v<x.y.z>` header; responses are `application/json;charset=UTF-8`
//! with `X-Admin-Protocol`, status 200 with `header.functionExecutionStatus` (204 without body for
//! ES9+.HandleNotification). Error policy:
//! * transport-level problems get the matching HTTP status and a `Failed` JSON body: wrong method
//!   405, body over the limit 413, content type other than JSON 415;
//! * once the request is a well-formed HTTP function call, every refusal is HTTP 200 with
//!   `Failed`: missing `X-Admin-Protocol` 1.6/2.2, a version other than 2.x/3.x 8.8.3/3.1,
//!   malformed JSON 1.6/2.1, a missing mandatory field 1.6/2.2, internal failures 1.2/4.2
//!   (details are logged, never returned).
//!
//! ES2+ Operator authentication (SGP.22 §2.6.5, §5.3): with `es2.client_ca` configured, the
//! listener asks for a client certificate (optional at the TLS level, so LPAs use the same
//! port) and only certificates chaining to the Operator CAs complete the handshake. An ES2+
//! request without a verified client certificate is refused with 1.1/1.1 (Function Requester /
//! Unknown Function Requester), one whose `functionRequesterIdentifier` is not the
//! authenticated Operator's (see `config::Es2Config::requesters_for`) with 1.1/1.2 (Not
//! allowed), both HTTP 200 with `Failed` (§6.5.1). Without `es2.client_ca`, ES2+ is served
//! unauthenticated to loopback peers only, and refused (1.1/1.1) to any other peer.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode as HttpStatus};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use smdp::es2p::{self, HeaderOnlyResponse, ResponseHeader};
use smdp::es9p::{Es9Config, Es9Service};
use smdp::order::{
    CancelOrderInput, ConfirmOrderInput, DownloadOrderInput, ReleaseProfileInput,
    RequestedMatchingId,
};
use smdp::{codes, FunctionError, MatchingId, SmdpStore, SoftwareKeyStore, UnixMillis};
use store::{Database, DatabaseOptions};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use crate::config::{default_public_address, Config};
use crate::metrics::Metrics;

/// `Content-Type` of every JSON response (SGP.22 §6.5.1).
pub const JSON_CONTENT_TYPE: &str = rsp::es9p::CONTENT_TYPE;
/// `X-Admin-Protocol` announced in responses and callbacks.
pub const ADMIN_PROTOCOL: &str = rsp::es9p::ADMIN_PROTOCOL;
const ADMIN_PROTOCOL_HEADER: &str = rsp::es9p::ADMIN_PROTOCOL_HEADER;

/// 8.8.3 Specification Version Number / 3.1 Not supported: the `X-Admin-Protocol` version.
const PROTOCOL_NOT_SUPPORTED: smdp::StatusCode = rsp::codes::es9p::SVN_NOT_SUPPORTED;

/// hostId of the BSP control reference template (SGP.22 §5.5.1): identifies this SM-DP+.
const HOST_ID: &[u8] = b"SIMKIT-SMDP";

/// Milliseconds since the Unix epoch: the `now` handed to the SM-DP+ core.
pub fn now_millis() -> UnixMillis {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    UnixMillis(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// `simkit serve` options; each overrides the configuration file and the environment.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
    /// Data directory (SQLite database, master key, minted PKI). [env: SIMKIT_DATA_DIR]
    #[arg(long)]
    pub data_dir: Option<std::path::PathBuf>,
    /// Database URL, `sqlite://...` or `postgres://...`. [env: SIMKIT_DATABASE_URL]
    #[arg(long)]
    pub database: Option<String>,
    /// Listen address, e.g. 127.0.0.1:8443. [env: SIMKIT_LISTEN]
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// SM-DP+ address (FQDN[:port]) given to Operators and LPAs. [env: SIMKIT_PUBLIC_ADDRESS]
    #[arg(long)]
    pub public_address: Option<String>,
    /// Serve plain HTTP (lab use only). [env: SIMKIT_PLAIN_HTTP]
    #[arg(long)]
    pub plain_http: bool,
    /// Operator CA certificates (PEM bundle): ES2+ then requires a client certificate chained
    /// to them (mutual TLS). [env: SIMKIT_ES2_CLIENT_CA]
    #[arg(long)]
    pub es2_client_ca: Option<std::path::PathBuf>,
    /// Print the effective configuration (TOML) and exit.
    #[arg(long)]
    pub print_config: bool,
}

impl ServeArgs {
    /// The layered configuration (defaults, file, environment, these flags), unresolved.
    pub fn load_config(&self, env: impl Fn(&str) -> Option<String>) -> Result<Config> {
        let cli = crate::config::CliOverrides {
            data_dir: self.data_dir.clone(),
            database_url: self.database.clone(),
            listen: self.listen,
            public_address: self.public_address.clone(),
            plain_http: self.plain_http,
            es2_client_ca: self.es2_client_ca.clone(),
        };
        Config::load(self.config.as_deref(), env, &cli)
    }
}

/// Entry point of `simkit serve`.
pub fn cli(args: ServeArgs) -> Result<()> {
    let config = args.load_config(Config::process_env)?;
    if args.print_config {
        print!("{}", config.resolve()?.to_toml()?);
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    rt.block_on(run(config))
}

// ---------------------------------------------------------------------------
// Start-up: database, master key
// ---------------------------------------------------------------------------

/// Opens (and migrates) the configured database; creates the data directory for SQLite.
pub async fn open_database(cfg: &Config) -> Result<Database> {
    let url = cfg.database_url();
    if let Some(rest) = url.strip_prefix("sqlite://") {
        let file = rest.split('?').next().unwrap_or_default();
        if let Some(parent) = Path::new(file)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
    }
    let opts = DatabaseOptions {
        url: url.clone(),
        pg_schema: cfg.database_schema.clone(),
        ..Default::default()
    };
    Database::connect_with(opts)
        .await
        .with_context(|| format!("opening {}", crate::config::redact_url_password(&url)))
}

/// Reads the 32-byte seal master key, or creates it (mode 0600) with the OS CSPRNG. The key is
/// never logged; only its key id is.
pub fn load_or_create_master_key(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    use std::io::{Read, Write};
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    match opts.open(path) {
        Ok(mut f) => {
            let key = SoftwareKeyStore::generate_master_key(&mut crate::os_rng());
            f.write_all(&key[..])
                .and_then(|_| f.sync_all())
                .with_context(|| format!("writing {}", path.display()))?;
            tracing::info!(path = %path.display(), "created a new seal master key");
            Ok(Zeroizing::new(key.to_vec()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let mut f =
                std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = f.metadata().map(|m| m.permissions().mode()).unwrap_or(0);
                if mode & 0o077 != 0 {
                    tracing::warn!(path = %path.display(), "master key file is readable by group/others");
                }
            }
            let mut key = Zeroizing::new(Vec::with_capacity(33));
            Read::take(&mut f, 33)
                .read_to_end(&mut key)
                .with_context(|| format!("reading {}", path.display()))?;
            if key.len() != 32 {
                bail!("{}: a master key is exactly 32 bytes", path.display());
            }
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

/// The key store sealing session secrets and profile packages for `cfg`.
pub fn open_keystore(cfg: &Config) -> Result<SoftwareKeyStore> {
    let master = load_or_create_master_key(&cfg.master_key_path())?;
    SoftwareKeyStore::new(&master).map_err(|e| anyhow::anyhow!("master key: {e}"))
}

// ---------------------------------------------------------------------------
// The running server
// ---------------------------------------------------------------------------

/// How ES2+ callers are authenticated.
enum Es2Auth {
    /// Mutual TLS: the Operator CAs were given to the TLS layer; these map a certificate to the
    /// requester identifiers it may use.
    Mtls(crate::config::Es2Config),
    /// No `es2.client_ca`: loopback peers only, whatever requester they claim.
    LoopbackOnly,
}

/// The requester identifiers the caller may use; `None` = any (unauthenticated loopback).
type Authorized = Option<Vec<String>>;

struct AppInner {
    db: Database,
    es2_auth: Es2Auth,
    es9: Es9Service<Database, SoftwareKeyStore>,
    smdp_address: String,
    policy: smdp::OrderPolicy,
    metrics: Arc<Metrics>,
    max_body: usize,
}

type App = Arc<AppInner>;

/// A server started by [`start`].
// Some fields are read only by in-process users (tests, `simkit demo`).
#[cfg_attr(not(test), allow(dead_code))]
pub struct RunningServer {
    /// The bound socket address.
    pub addr: SocketAddr,
    /// `http://` or `https://` URL of the listener (IP literal).
    pub base_url: String,
    /// The SM-DP+ address (ConfirmOrder `smdpAddress`, activation codes).
    pub smdp_address: String,
    /// Trusted CI certificates (DER), e.g. the TLS trust anchors for an LPA in the same process.
    pub trusted_ci_der: Vec<Vec<u8>>,
    /// The effective configuration.
    pub config: Config,
    pub database: Database,
    pub metrics: Arc<Metrics>,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<()>,
    workers: Vec<JoinHandle<()>>,
}

impl RunningServer {
    /// Stops accepting connections and stops the background workers.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        self.server.abort();
        let _ = self.server.await;
        for w in self.workers {
            let _ = w.await;
        }
    }
}

/// Starts the SM-DP+ in this process: opens the database, loads or mints the PKI and the master
/// key, binds `config.listen` (port 0 picks a free port, and the public address follows it
/// unless configured) and spawns the HTTP server and the outbox worker.
pub async fn start(config: Config) -> Result<RunningServer> {
    let (listener, addr) = crate::tls::bind(config.listen).await?;
    let mut config = config;
    let port_unset = config
        .public_address
        .as_deref()
        .is_none_or(|a| a.ends_with(":0"));
    if port_unset {
        config.public_address = Some(default_public_address(addr));
    }
    let config = config.resolve()?;
    let smdp_address = config.public_address.clone().unwrap_or_default();

    let db = open_database(&config).await?;
    let keystore = open_keystore(&config)?;
    tracing::info!(key_id = %keystore.key_id(), "seal key loaded");
    let pki = crate::server_pki::load_or_mint(&config)?;
    let trusted_ci_der = pki.trusted_cis.iter().map(|c| c.der().to_vec()).collect();
    let policy = config.policy.order_policy();
    let es9 = Es9Service::new(
        Es9Config {
            address: smdp_address.clone(),
            credentials: pki.credentials.clone(),
            trusted_cis: pki.trusted_cis.clone(),
            policy,
            host_id: HOST_ID.to_vec(),
        },
        db.clone(),
        keystore,
    )
    .map_err(|e| anyhow::anyhow!("ES9+ service: {e}"))?;
    // Progress reports are written only for Operators this server can call back; with the
    // outbox off, another replica delivers with its own callback list, so all are kept.
    let es9 = if config.outbox.enabled {
        es9.with_progress_reports(smdp::outbox::ProgressReports::only(
            config.callbacks.keys().cloned(),
        ))
    } else {
        es9
    };
    let client_cas = match &config.es2.client_ca {
        Some(path) => {
            let cas = crate::server_pki::load_chain(path)
                .with_context(|| format!("es2.client_ca {}", path.display()))?;
            tracing::info!(n = cas.len(), path = %path.display(), "ES2+ requires Operator client certificates (mutual TLS)");
            cas
        }
        None => {
            tracing::warn!(
                "es2.client_ca is not set: ES2+ is NOT authenticated and is served to loopback \
                 peers only (SGP.22 §2.6.5 requires mutual TLS with the Operators)"
            );
            Vec::new()
        }
    };
    let es2_auth = if client_cas.is_empty() {
        Es2Auth::LoopbackOnly
    } else {
        Es2Auth::Mtls(config.es2.clone())
    };
    let tls = if config.plain_http {
        tracing::warn!("serving plain HTTP: lab use only (SGP.22 requires TLS)");
        None
    } else {
        Some(crate::tls::server_config(
            pki.tls_chain.clone(),
            pki.tls_key_pkcs8.to_vec(),
            &client_cas,
        )?)
    };
    let callback_identity = match (&config.es2.client_cert, &config.es2.client_key) {
        (Some(cert), Some(key)) => crate::outbox::ClientIdentity {
            chain: crate::server_pki::load_chain(cert)?,
            key_pkcs8: crate::server_pki::load_pkcs8(key)?,
        },
        _ => crate::outbox::ClientIdentity {
            chain: pki.tls_chain.clone(),
            key_pkcs8: pki.tls_key_pkcs8.clone(),
        },
    };

    let metrics = Arc::new(Metrics::default());
    let app: App = Arc::new(AppInner {
        db: db.clone(),
        es2_auth,
        es9,
        smdp_address: smdp_address.clone(),
        policy,
        metrics: metrics.clone(),
        max_body: config.max_body_bytes,
    });
    let router = router(app);
    let server = tokio::spawn(crate::tls::serve(listener, router, tls));

    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut workers = vec![spawn_session_purger(db.clone(), shutdown_rx.clone())];
    if config.outbox.enabled {
        workers.push(crate::outbox::spawn(
            db.clone(),
            &config,
            callback_identity,
            metrics.clone(),
            shutdown_rx,
        )?);
    }
    let scheme = if config.plain_http { "http" } else { "https" };
    tracing::info!(%addr, %smdp_address, "SM-DP+ listening");
    Ok(RunningServer {
        addr,
        base_url: format!("{scheme}://{addr}"),
        smdp_address,
        trusted_ci_der,
        config,
        database: db,
        metrics,
        shutdown,
        server,
        workers,
    })
}

/// `simkit serve`: start and run until Ctrl-C / SIGTERM.
pub async fn run(config: Config) -> Result<()> {
    let server = start(config).await?;
    eprintln!(
        "SM-DP+ {} listening on {} ({})",
        server.smdp_address,
        server.base_url,
        crate::config::redact_url_password(&server.config.database_url())
    );
    wait_for_signal().await;
    eprintln!("shutting down");
    let db = server.database.clone();
    server.shutdown().await;
    db.close().await;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Removes expired RSP sessions once a minute.
fn spawn_session_purger(db: Database, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            match db.purge_expired_sessions(now_millis()).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(n, "purged expired RSP sessions"),
                Err(e) => tracing::warn!(error = %e, "purging expired sessions failed"),
            }
        }
    })
}

// ---------------------------------------------------------------------------
// Router
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Es2Function {
    DownloadOrder,
    ConfirmOrder,
    CancelOrder,
    ReleaseProfile,
}

impl Es2Function {
    fn path(self) -> &'static str {
        match self {
            Es2Function::DownloadOrder => es2p::PATH_DOWNLOAD_ORDER,
            Es2Function::ConfirmOrder => es2p::PATH_CONFIRM_ORDER,
            Es2Function::CancelOrder => es2p::PATH_CANCEL_ORDER,
            Es2Function::ReleaseProfile => es2p::PATH_RELEASE_PROFILE,
        }
    }
}

const ES9_PATHS: [&str; 5] = [
    rsp::es9p::path::INITIATE_AUTHENTICATION,
    rsp::es9p::path::AUTHENTICATE_CLIENT,
    rsp::es9p::path::GET_BOUND_PROFILE_PACKAGE,
    rsp::es9p::path::HANDLE_NOTIFICATION,
    rsp::es9p::path::CANCEL_SESSION,
];

fn router(app: App) -> Router {
    let mut r = Router::new();
    for f in [
        Es2Function::DownloadOrder,
        Es2Function::ConfirmOrder,
        Es2Function::CancelOrder,
        Es2Function::ReleaseProfile,
    ] {
        r = r.route(
            f.path(),
            any(move |State(app): State<App>, req: Request| async move {
                let started = Instant::now();
                let resp = es2(&app, f, req).await;
                observe(&app, f.path(), &resp, started);
                resp
            }),
        );
    }
    for path in ES9_PATHS {
        r = r.route(
            path,
            any(move |State(app): State<App>, req: Request| async move {
                let started = Instant::now();
                let resp = es9(&app, path, req).await;
                observe(&app, path, &resp, started);
                resp
            }),
        );
    }
    r.route(
        "/metrics",
        get(|State(app): State<App>| async move {
            let started = Instant::now();
            let resp = metrics(&app).await;
            observe(&app, "/metrics", &resp, started);
            resp
        }),
    )
    .route(
        "/healthz",
        get(|State(app): State<App>| async move {
            let started = Instant::now();
            let resp = (HttpStatus::OK, "ok\n").into_response();
            observe(&app, "/healthz", &resp, started);
            resp
        }),
    )
    .fallback(|State(app): State<App>| async move {
        let started = Instant::now();
        let resp = HttpStatus::NOT_FOUND.into_response();
        observe(&app, "other", &resp, started);
        resp
    })
    .with_state(app)
}

fn observe(app: &App, route: &'static str, resp: &Response, started: Instant) {
    app.metrics
        .observe_request(route, resp.status().as_u16(), started.elapsed());
}

async fn metrics(app: &App) -> Response {
    let profiles = match app.db.profile_counts().await {
        Ok(counts) => counts
            .into_iter()
            .map(|c| (c.profile_type, c.state.as_str().to_string(), c.count))
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "profile counts for /metrics");
            Vec::new()
        }
    };
    let mut resp = app.metrics.render(&profiles).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

// ---------------------------------------------------------------------------
// Request and response framing (SGP.22 §6.5.1)
// ---------------------------------------------------------------------------

/// A JSON response with the RSP headers.
fn json_response(status: HttpStatus, body: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(JSON_CONTENT_TYPE),
    );
    h.insert(
        ADMIN_PROTOCOL_HEADER,
        HeaderValue::from_static(ADMIN_PROTOCOL),
    );
    resp
}

fn failed_body(err: &FunctionError) -> Vec<u8> {
    serde_json::to_vec(&HeaderOnlyResponse {
        header: ResponseHeader::failed(err),
    })
    .unwrap_or_default()
}

fn failed(status: HttpStatus, err: &FunctionError) -> Response {
    json_response(status, failed_body(err))
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

/// `gsma/rsp/v2.x.y` or `gsma/rsp/v3.x.y` (SGP.22 v2 and v3 LPAs and Operators).
fn protocol_supported(v: &str) -> bool {
    let Some(version) = v.trim().strip_prefix("gsma/rsp/v") else {
        return false;
    };
    let mut parts = version.split('.');
    let major = parts.next().unwrap_or_default();
    (major == "2" || major == "3")
        && parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks method, content type, `X-Admin-Protocol` and size, and returns the body.
async fn read_request(app: &App, req: Request) -> Result<Vec<u8>, Response> {
    if req.method() != Method::POST {
        let mut resp = failed(
            HttpStatus::METHOD_NOT_ALLOWED,
            &FunctionError::new(codes::FUNCTION_INVALID_PARAM, "only POST is allowed"),
        );
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return Err(resp);
    }
    if !is_json(req.headers()) {
        return Err(failed(
            HttpStatus::UNSUPPORTED_MEDIA_TYPE,
            &FunctionError::new(
                codes::FUNCTION_INVALID_PARAM,
                "Content-Type must be application/json",
            ),
        ));
    }
    let too_large = || {
        failed(
            HttpStatus::PAYLOAD_TOO_LARGE,
            &FunctionError::new(codes::FUNCTION_INVALID_PARAM, "request body too large"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > app.max_body as u64) {
        return Err(too_large());
    }
    let protocol = req
        .headers()
        .get(ADMIN_PROTOCOL_HEADER)
        .map(|v| v.to_str().unwrap_or("").to_string());
    let body = axum::body::to_bytes(req.into_body(), app.max_body)
        .await
        .map_err(|_| too_large())?;
    match protocol {
        None => Err(failed(
            HttpStatus::OK,
            &FunctionError::new(
                codes::FUNCTION_MANDATORY_MISSING,
                "X-Admin-Protocol header is missing",
            ),
        )),
        Some(v) if !protocol_supported(&v) => Err(failed(
            HttpStatus::OK,
            &FunctionError::new(
                PROTOCOL_NOT_SUPPORTED,
                "X-Admin-Protocol version not supported (gsma/rsp/v2.x.y or v3.x.y)",
            ),
        )),
        Some(_) => Ok(body.to_vec()),
    }
}

/// A JSON request body; a missing field is 1.6/2.2, anything else malformed 1.6/2.1.
fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, FunctionError> {
    serde_json::from_slice(body).map_err(|e| {
        let msg = e.to_string();
        let code = if e.is_data() && msg.starts_with("missing field") {
            codes::FUNCTION_MANDATORY_MISSING
        } else {
            codes::FUNCTION_INVALID_PARAM
        };
        FunctionError::new(code, format!("invalid JSON request: {msg}"))
    })
}

/// An SM-DP+ core error as the function's status: refusals pass through; internal failures are
/// logged and reported as 1.2/4.2 without detail.
fn function_error(route: &str, e: smdp::Error) -> FunctionError {
    match e {
        smdp::Error::Rejected(fe) => fe,
        other => {
            tracing::error!(%route, error = %other, "function execution error");
            FunctionError::new(codes::PROVIDER_EXECUTION_ERROR, "execution error")
        }
    }
}

/// Authenticates the ES2+ caller from its connection (SGP.22 §2.6.5).
fn authenticate(
    auth: &Es2Auth,
    peer: Option<&crate::tls::Peer>,
) -> Result<Authorized, FunctionError> {
    match auth {
        Es2Auth::LoopbackOnly => match peer {
            Some(p) if p.addr.ip().is_loopback() => Ok(None),
            _ => Err(FunctionError::new(
                smdp::codes::REQUESTER_UNKNOWN,
                "ES2+ is only served to loopback callers: the SM-DP+ has no Operator CA (es2.client_ca)",
            )),
        },
        Es2Auth::Mtls(cfg) => {
            // The chain was verified against the Operator CAs during the handshake.
            let Some(leaf) = peer.and_then(|p| p.client_chain.first()) else {
                return Err(FunctionError::new(
                    smdp::codes::REQUESTER_UNKNOWN,
                    "ES2+ requires a client certificate (mutual TLS)",
                ));
            };
            let cert = pki::Certificate::from_der(leaf.as_ref()).map_err(|_| {
                FunctionError::new(smdp::codes::REQUESTER_UNKNOWN, "client certificate not understood")
            })?;
            let ids = cfg.requesters_for(cert.subject());
            if ids.is_empty() {
                return Err(FunctionError::new(
                    smdp::codes::REQUESTER_UNKNOWN,
                    "the client certificate belongs to no configured Operator",
                ));
            }
            Ok(Some(ids))
        }
    }
}

fn check_requester(h: &es2p::RequestHeader, authorized: &Authorized) -> Result<(), FunctionError> {
    let id = h.function_requester_identifier.trim();
    if id.is_empty() {
        return Err(FunctionError::new(
            codes::FUNCTION_MANDATORY_MISSING,
            "header.functionRequesterIdentifier is missing",
        ));
    }
    if let Some(ids) = authorized {
        if !ids.iter().any(|a| a == id) {
            return Err(FunctionError::new(
                codes::REQUESTER_NOT_ALLOWED,
                "functionRequesterIdentifier is not the authenticated Operator",
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// ES2+ (SGP.22 §5.3, §6.6)
// ---------------------------------------------------------------------------

async fn es2(app: &App, f: Es2Function, req: Request) -> Response {
    let peer = req.extensions().get::<Arc<crate::tls::Peer>>().cloned();
    let body = match read_request(app, req).await {
        Ok(b) => b,
        Err(resp) => {
            app.metrics
                .observe_function(f.path(), "rejected-before-execution".into());
            return resp;
        }
    };
    let result = match authenticate(&app.es2_auth, peer.as_deref()) {
        Ok(authorized) => es2_execute(app, f, &body, &authorized).await,
        Err(e) => Err(e),
    };
    let outcome = match &result {
        Ok(_) => "Executed-Success".to_string(),
        Err(e) => e.code.to_string(),
    };
    app.metrics.observe_function(f.path(), outcome);
    match result {
        Ok(body) => json_response(HttpStatus::OK, body),
        Err(e) => {
            tracing::debug!(function = f.path(), code = %e.code, message = %e.message, "ES2+ refused");
            failed(HttpStatus::OK, &e)
        }
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

async fn es2_execute(
    app: &App,
    f: Es2Function,
    body: &[u8],
    authorized: &Authorized,
) -> Result<Vec<u8>, FunctionError> {
    let route = f.path();
    let now = now_millis();
    let err = |e| function_error(route, e);
    match f {
        Es2Function::DownloadOrder => {
            let r: es2p::DownloadOrderRequest = parse_json(body)?;
            check_requester(&r.header, authorized)?;
            let input = DownloadOrderInput::from_request(&r).map_err(err)?;
            let iccid = app
                .db
                .download_order(input, now, app.policy)
                .await
                .map_err(err)?;
            Ok(to_json(&es2p::DownloadOrderResponse {
                header: ResponseHeader::success(),
                iccid: Some(iccid.to_string()),
            }))
        }
        Es2Function::ConfirmOrder => {
            let r: es2p::ConfirmOrderRequest = parse_json(body)?;
            check_requester(&r.header, authorized)?;
            let generated = MatchingId::generate(&mut crate::os_rng());
            let input = ConfirmOrderInput::from_request(&r, generated).map_err(err)?;
            let empty = input.matching_id == RequestedMatchingId::Empty;
            let outcome = app.db.confirm_order(input, now).await.map_err(err)?;
            // §5.3.2: matchingId is returned as provided (a zero-length one included) or as
            // generated; smdpAddress is this SM-DP+.
            let matching_id = match outcome.matching_id {
                Some(m) => Some(m.to_string()),
                None if empty => Some(String::new()),
                None => None,
            };
            Ok(to_json(&es2p::ConfirmOrderResponse {
                header: ResponseHeader::success(),
                eid: outcome.eid.map(|e| e.to_string()),
                matching_id,
                smdp_address: Some(app.smdp_address.clone()),
            }))
        }
        Es2Function::CancelOrder => {
            let r: es2p::CancelOrderRequest = parse_json(body)?;
            check_requester(&r.header, authorized)?;
            let input = CancelOrderInput::from_request(&r).map_err(err)?;
            app.db.cancel_order(input, now).await.map_err(err)?;
            Ok(to_json(&HeaderOnlyResponse {
                header: ResponseHeader::success(),
            }))
        }
        Es2Function::ReleaseProfile => {
            let r: es2p::ReleaseProfileRequest = parse_json(body)?;
            check_requester(&r.header, authorized)?;
            let input = ReleaseProfileInput::from_request(&r).map_err(err)?;
            app.db.release_profile(input, now).await.map_err(err)?;
            Ok(to_json(&HeaderOnlyResponse {
                header: ResponseHeader::success(),
            }))
        }
    }
}

// ---------------------------------------------------------------------------
// ES9+ (SGP.22 §5.6, §6.5.2)
// ---------------------------------------------------------------------------

async fn es9(app: &App, path: &'static str, req: Request) -> Response {
    let body = match read_request(app, req).await {
        Ok(b) => b,
        Err(resp) => {
            app.metrics
                .observe_function(path, "rejected-before-execution".into());
            return resp;
        }
    };
    let reply = app
        .es9
        .dispatch(path, &body, now_millis(), &mut crate::os_rng())
        .await;
    let outcome = match reply.failure {
        Some(code) => format!("{}/{}", code.subject, code.reason),
        None => "Executed-Success".to_string(),
    };
    app.metrics.observe_function(path, outcome);
    let status = HttpStatus::from_u16(reply.status).unwrap_or(HttpStatus::OK);
    if status == HttpStatus::NO_CONTENT {
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = status;
        resp.headers_mut().insert(
            ADMIN_PROTOCOL_HEADER,
            HeaderValue::from_static(ADMIN_PROTOCOL),
        );
        return resp;
    }
    json_response(status, reply.body)
}

#[cfg(test)]
#[path = "serve_tests.rs"]
mod http_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_versions() {
        for ok in [
            "gsma/rsp/v2.2.2",
            "gsma/rsp/v2.1.0",
            "gsma/rsp/v3.0.0",
            " gsma/rsp/v2.0 ",
        ] {
            assert!(protocol_supported(ok), "{ok}");
        }
        for bad in [
            "",
            "gsma/rsp/v1.0.0",
            "gsma/rsp/v4.0",
            "gsma/rsp/v2.x.y",
            "gsma/rsp/v",
            "http/1.1",
        ] {
            assert!(!protocol_supported(bad), "{bad}");
        }
    }

    #[test]
    fn json_errors_are_classified() {
        let e = parse_json::<es2p::ReleaseProfileRequest>(b"{not json").unwrap_err();
        assert_eq!(e.code, codes::FUNCTION_INVALID_PARAM);
        let e = parse_json::<es2p::ReleaseProfileRequest>(
            br#"{"header":{"functionRequesterIdentifier":"a","functionCallIdentifier":"b"}}"#,
        )
        .unwrap_err();
        assert_eq!(e.code, codes::FUNCTION_MANDATORY_MISSING);
        let e = parse_json::<es2p::ReleaseProfileRequest>(
            br#"{"header":{"functionRequesterIdentifier":"a","functionCallIdentifier":"b"},"iccid":5}"#,
        )
        .unwrap_err();
        assert_eq!(e.code, codes::FUNCTION_INVALID_PARAM);
    }

    #[test]
    fn es2_authentication() {
        let peer = |ip: &str| crate::tls::Peer {
            addr: SocketAddr::new(ip.parse().unwrap(), 40000),
            client_chain: Vec::new(),
        };
        let loopback = Es2Auth::LoopbackOnly;
        assert_eq!(
            authenticate(&loopback, Some(&peer("127.0.0.1"))).unwrap(),
            None
        );
        assert_eq!(authenticate(&loopback, Some(&peer("::1"))).unwrap(), None);
        for refused in [Some(peer("10.0.0.7")), None] {
            let e = authenticate(&loopback, refused.as_ref()).unwrap_err();
            assert_eq!((e.code.subject, e.code.reason), ("1.1", "1.1"));
        }
        // mTLS without a client certificate: 1.1/1.1 even from loopback.
        let mtls = Es2Auth::Mtls(crate::config::Es2Config::default());
        let e = authenticate(&mtls, Some(&peer("127.0.0.1"))).unwrap_err();
        assert_eq!((e.code.subject, e.code.reason), ("1.1", "1.1"));

        let header = |id: &str| es2p::RequestHeader {
            function_requester_identifier: id.into(),
            function_call_identifier: "c".into(),
        };
        assert!(check_requester(&header("anyone"), &None).is_ok());
        let only = Some(vec!["MNO1".to_string()]);
        assert!(check_requester(&header("MNO1"), &only).is_ok());
        let e = check_requester(&header("MNO2"), &only).unwrap_err();
        assert_eq!(e.code, codes::REQUESTER_NOT_ALLOWED);
        let e = check_requester(&header(" "), &only).unwrap_err();
        assert_eq!(e.code, codes::FUNCTION_MANDATORY_MISSING);
    }

    #[test]
    fn master_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/master.key");
        let k1 = load_or_create_master_key(&path).unwrap();
        assert_eq!(k1.len(), 32);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let k2 = load_or_create_master_key(&path).unwrap();
        assert_eq!(k1, k2);
        std::fs::write(&path, [0u8; 31]).unwrap();
        assert!(load_or_create_master_key(&path).is_err());
    }
}
