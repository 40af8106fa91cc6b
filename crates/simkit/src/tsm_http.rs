//! The central TSM's SP API over HTTPS (`simkit tsm serve`): `POST /tsm/v1/<Operation>` with a
//! JSON body, answered by [`tsm::service::Tsm::handle`], and the API's OpenAPI document at
//! `GET /tsm/v1/openapi.json` ([`OPENAPI_JSON`], OpenAPI 3.1.0: 3.0 has no `mutualTLS`
//! security scheme type).
//!
//! # SP authentication: mutual TLS
//!
//! Every caller is a service provider, so the TLS layer *requires* a client certificate that
//! chains to the configured SP CA(s) (`--sp-ca`): a client without one, or with one from
//! another CA, fails the handshake and never reaches HTTP. The verified leaf's subject common
//! name is looked up with [`TsmStore::sp_by_subject`] (the SP's `cert_subject`, registered with
//! `simkit tsm sp add --cert-subject`); a certificate that names no registered SP gets
//! `401` with the error body `{"code":"unauthenticated"}`, before the operation is even
//! looked at. Mutual TLS rather than bearer tokens: the SP's key never travels, the server
//! stores no secret per SP, and the same PKI already authenticates ES2+ Operators
//! (`simkit pki mint --sp ID` mints a test SP CA and client certificate). The OpenAPI document
//! declares it as the `mutualTLS` security scheme.
//!
//! # HTTP binding
//!
//! * `POST /tsm/v1/{Operation}` for the operations in [`OPERATIONS`]; `Content-Type:
//!   application/json` (else `415`); body at most [`MAX_REQUEST_BYTES`] (else `413`,
//!   `requestTooLarge`); optional `Idempotency-Key` header, passed to the service (mutating
//!   operations run once per key; a replay returns the stored answer).
//! * An unknown operation: `404` `unknownOperation`; another method: `405` `methodNotAllowed`.
//! * `GET /tsm/v1/openapi.json` is served to every client that completed the handshake (its
//!   certificate chains to the SP CA), registered or not.
//! * Every answer is `application/json`; every non-2xx answer is an [`ErrorBody`].
//!
//! # Reaching the SEs
//!
//! [`LinkConnector`] opens an SE by its `link`: `card:<path>` is a simkit virtual card file
//! (reached over SPI, the interface its pairing gives the GlobalPlatform container, so the ISD
//! answers), `pcsc:<reader>` a card in a PC/SC reader (empty name: the first reader with a
//! card), `ota:<MSISDN>` the OTA platform (Remote Application Management over SCP80/SMS,
//! [`crate::tsm_ota`], once [`LinkConnector::set_ota`] gave it one; without it, 501). An SE
//! without a link is refused by the service (`notSupported`). A missing card file or an absent
//! reader/card is
//! offline, not an error: the SE's requests queue. A connection is kept for reuse while it is in
//! use (so a conversation's pre-protected scripts share one card session) and dropped after
//! [`LinkConnector::idle`]; a card file changed by someone else is reopened.
//!
//! A delivery task ([`spawn_delivery`]) calls [`Tsm::deliver_all_pending`] every few seconds:
//! an SE that comes back gets its queued requests, oldest first.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Result;
use apdu::{CardTransport, TransportError};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::routing::{any, get};
use axum::Router;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tsm::api::{ErrorBody, MAX_REQUEST_BYTES};
use tsm::engine::SeChannel;
use tsm::model::{Se, Sp};
use tsm::service::{SeConnector, Tsm};
use tsm::{TsmError, TsmStore};
use zeroize::Zeroizing;

use crate::card_file::PersistentCard;
use crate::gp_cmd::CardFileOn;
use crate::tls::Peer;

/// Path prefix of the SP API.
pub const API_PREFIX: &str = "/tsm/v1";

/// The API operations, in the order of the OpenAPI document.
pub const OPERATIONS: [&str; 12] = [
    "GetSEIdentifier",
    "GetSEData",
    "GetSSDKeys",
    "ManageCommunication",
    "ProcessScript",
    "PrePersonalize",
    "ActivateService",
    "LockService",
    "UnlockService",
    "RenewService",
    "DeleteService",
    "GetServiceState",
];

/// The header carrying the client's idempotency key.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

/// The OpenAPI 3.0 document of the SP API (served at `GET /tsm/v1/openapi.json`).
pub const OPENAPI_JSON: &str = include_str!("tsm_openapi.json");

/// How often the delivery task looks for SEs with queued requests, by default.
pub const DEFAULT_DELIVERY_INTERVAL: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// Router

/// The SP API routes over `tsm`. The connection's [`Peer`] (set by [`crate::tls::serve`])
/// authenticates the caller.
pub fn router<S: TsmStore + 'static>(tsm: Arc<Tsm<S>>) -> Router {
    Router::new()
        .route(
            "/tsm/v1/openapi.json",
            get(openapi).fallback(openapi_wrong_method),
        )
        .route("/tsm/v1/{operation}", any(operation::<S>))
        .fallback(not_found)
        .with_state(tsm)
}

fn json_response(status: u16, body: impl Into<Body>) -> Response {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// An error answer with `code` (not one of [`TsmError`]'s: HTTP-level refusals).
fn http_error(status: u16, code: &str, message: impl Into<String>) -> Response {
    let body = ErrorBody {
        code: code.into(),
        message: message.into(),
        sw: None,
    };
    json_response(status, serde_json::to_string(&body).unwrap_or_default())
}

fn tsm_error(e: &TsmError) -> Response {
    json_response(
        e.http_status(),
        serde_json::to_string(&ErrorBody::from(e)).unwrap_or_default(),
    )
}

async fn openapi() -> Response {
    json_response(200, OPENAPI_JSON)
}

async fn openapi_wrong_method() -> Response {
    let mut resp = http_error(405, "methodNotAllowed", "only GET is allowed");
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET"));
    resp
}

async fn not_found() -> Response {
    http_error(404, "notFound", "no such resource")
}

/// The SP the caller's verified client certificate belongs to.
pub async fn authenticate<S: TsmStore>(store: &S, peer: Option<&Peer>) -> Result<Sp, TsmError> {
    // The chain was verified against the SP CAs during the handshake.
    let leaf = peer
        .and_then(|p| p.client_chain.first())
        .ok_or_else(|| TsmError::Unauthenticated("a client certificate is required".into()))?;
    let cert = pki::Certificate::from_der(leaf.as_ref())
        .map_err(|_| TsmError::Unauthenticated("client certificate not understood".into()))?;
    let cn = cert
        .subject()
        .common_name()
        .ok_or_else(|| TsmError::Unauthenticated("client certificate has no subject CN".into()))?;
    store.sp_by_subject(cn).await?.ok_or_else(|| {
        TsmError::Unauthenticated("the client certificate belongs to no registered SP".into())
    })
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

async fn operation<S: TsmStore + 'static>(
    State(tsm): State<Arc<Tsm<S>>>,
    req: Request,
) -> Response {
    let peer = req.extensions().get::<Arc<Peer>>().cloned();
    let sp = match authenticate(tsm.store(), peer.as_deref()).await {
        Ok(sp) => sp,
        Err(e) => return tsm_error(&e),
    };
    let op = req
        .uri()
        .path()
        .strip_prefix("/tsm/v1/")
        .unwrap_or_default()
        .to_string();
    if !OPERATIONS.contains(&op.as_str()) {
        return http_error(404, "unknownOperation", format!("no operation {op:?}"));
    }
    if req.method() != Method::POST {
        let mut resp = http_error(405, "methodNotAllowed", "only POST is allowed");
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return resp;
    }
    if !is_json(req.headers()) {
        return http_error(
            415,
            "unsupportedMediaType",
            "Content-Type must be application/json",
        );
    }
    let key = match req.headers().get(IDEMPOTENCY_KEY_HEADER) {
        None => None,
        Some(v) => match v.to_str() {
            Ok(s) => Some(s.to_string()),
            Err(_) => {
                return tsm_error(&TsmError::invalid("Idempotency-Key", "not printable ASCII"))
            }
        },
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > DRAIN_LIMIT as u64) {
        // Not worth reading: answer at once (the connection closes).
        return tsm_error(&TsmError::TooLarge {
            limit: MAX_REQUEST_BYTES,
        });
    }
    let body = match read_body(req.into_body()).await {
        Ok(b) => b,
        Err(e) => return tsm_error(&e),
    };
    let (status, out) = tsm.handle(&sp, &op, &body, key.as_deref()).await;
    tracing::debug!(sp = %sp.id, %op, status, "TSM API");
    json_response(status, out)
}

/// Past [`MAX_REQUEST_BYTES`], a body is still read (and discarded) up to this many bytes, so
/// that a client still sending it gets the `413` answer rather than a reset connection.
const DRAIN_LIMIT: usize = 4 * MAX_REQUEST_BYTES;

/// The request body, at most [`MAX_REQUEST_BYTES`] (`TooLarge` otherwise, after draining up to
/// [`DRAIN_LIMIT`]), whether it has a Content-Length or is chunked.
async fn read_body(mut body: Body) -> Result<Vec<u8>, TsmError> {
    use http_body_util::BodyExt;
    let mut buf = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|_| TsmError::invalid("body", "the request body could not be read"))?;
        if let Ok(data) = frame.into_data() {
            total = total.saturating_add(data.len());
            if total <= MAX_REQUEST_BYTES {
                buf.extend_from_slice(&data);
            } else if total > DRAIN_LIMIT {
                break;
            }
        }
    }
    if total > MAX_REQUEST_BYTES {
        return Err(TsmError::TooLarge {
            limit: MAX_REQUEST_BYTES,
        });
    }
    Ok(buf)
}

// ---------------------------------------------------------------------------------------------
// Server

/// What [`start`] needs besides the service.
pub struct TsmServerOptions {
    /// Listen address (loopback in every default).
    pub listen: SocketAddr,
    /// TLS server certificate chain (DER, leaf first) and its PKCS#8 key.
    pub tls_chain: Vec<Vec<u8>>,
    pub tls_key_pkcs8: Zeroizing<Vec<u8>>,
    /// Trust anchors (DER) of the SPs' client certificates; must not be empty.
    pub sp_cas: Vec<Vec<u8>>,
    /// Period of the delivery task.
    pub delivery_interval: Duration,
    /// The connector inside the service, for its housekeeping (idle connections are closed on
    /// each delivery tick).
    pub connector: Option<Arc<LinkConnector>>,
}

/// A TSM server started by [`start`].
pub struct RunningTsm<S> {
    pub addr: SocketAddr,
    /// `https://localhost:<port>` for a loopback listener, else `https://<ip>:<port>`.
    pub base_url: String,
    pub tsm: Arc<Tsm<S>>,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<()>,
    worker: JoinHandle<()>,
}

impl<S> RunningTsm<S> {
    /// Stops accepting connections and stops the delivery task.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        self.server.abort();
        let _ = self.server.await;
        let _ = self.worker.await;
    }
}

/// Binds `opts.listen` (port 0: a free port), serves the SP API over mutual TLS and starts the
/// delivery task.
pub async fn start<S: TsmStore + 'static>(
    tsm: Arc<Tsm<S>>,
    opts: TsmServerOptions,
) -> Result<RunningTsm<S>> {
    let tls = crate::tls::server_config_with(
        opts.tls_chain,
        opts.tls_key_pkcs8.to_vec(),
        &opts.sp_cas,
        true,
    )?;
    let (listener, addr) = crate::tls::bind(opts.listen).await?;
    let server = tokio::spawn(crate::tls::serve(listener, router(tsm.clone()), Some(tls)));
    let (shutdown, rx) = watch::channel(false);
    let worker = spawn_delivery(tsm.clone(), opts.delivery_interval, opts.connector, rx);
    let host = if addr.ip().is_loopback() || addr.ip().is_unspecified() {
        "localhost".to_string()
    } else {
        crate::config::default_public_address(addr)
            .rsplit_once(':')
            .map(|(h, _)| h.to_string())
            .unwrap_or_default()
    };
    Ok(RunningTsm {
        addr,
        base_url: format!("https://{host}:{}", addr.port()),
        tsm,
        shutdown,
        server,
        worker,
    })
}

/// Calls [`Tsm::deliver_all_pending`] every `every` until `shutdown` turns true (or its sender
/// is dropped); closes the connector's idle connections on each tick.
pub fn spawn_delivery<S: TsmStore + 'static>(
    tsm: Arc<Tsm<S>>,
    every: Duration,
    connector: Option<Arc<LinkConnector>>,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                r = shutdown.changed() => {
                    if r.is_err() || *shutdown.borrow() {
                        break;
                    }
                    continue;
                }
            }
            match tsm.deliver_all_pending().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(n, "delivered queued TSM requests"),
                Err(e) => tracing::warn!(error = %e, "delivering queued TSM requests"),
            }
            if let Some(c) = &connector {
                c.close_idle();
            }
        }
    })
}

// ---------------------------------------------------------------------------------------------
// SE connector

/// Where an SE's `link` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// No direct channel (the operator's OTA bearer only): requests queue.
    None,
    /// A simkit virtual card file.
    CardFile(PathBuf),
    /// A card in a PC/SC reader; empty: the first reader with a card.
    Pcsc(String),
    /// The OTA platform, to this MSISDN (RAM over its MNO's bearer, [`crate::tsm_ota`]).
    Ota(String),
}

impl Link {
    /// `""`, `card:<path>`, `pcsc:<reader>` or `ota:<MSISDN>`.
    pub fn parse(link: &str) -> Result<Link, TsmError> {
        if link.is_empty() {
            Ok(Link::None)
        } else if let Some(p) = link.strip_prefix("card:") {
            if p.is_empty() {
                return Err(TsmError::invalid("link", "card: needs a file path"));
            }
            Ok(Link::CardFile(PathBuf::from(p)))
        } else if let Some(r) = link.strip_prefix("pcsc:") {
            Ok(Link::Pcsc(r.to_string()))
        } else if let Some(m) = link.strip_prefix(tsm::service::OTA_LINK_PREFIX) {
            Ok(Link::Ota(m.to_string()))
        } else {
            Err(TsmError::invalid(
                "link",
                "expected card:<path>, pcsc:<reader>, ota:<MSISDN> or nothing",
            ))
        }
    }
}

/// A card file's identity on disk: a change by another process shows as another value.
fn file_stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

type SharedTransport = Arc<Mutex<SessionInner>>;

/// A fresh connection, and the card file behind it (if any).
type Opened = (Box<dyn CardTransport + Send>, Option<PathBuf>);

struct SessionInner {
    transport: Box<dyn CardTransport + Send>,
    /// A transport error happened: reopen on the next use.
    broken: bool,
    /// Card files: the file as this session last left it.
    stamp: Option<(SystemTime, u64)>,
}

struct Session {
    link: String,
    shared: SharedTransport,
    last_used: Instant,
}

/// The transport handed to one flow: the cached session, shared.
struct SessionHandle {
    shared: SharedTransport,
    card_file: Option<PathBuf>,
}

impl CardTransport for SessionHandle {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        let mut s = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        let r = s.transport.transmit(apdu);
        if r.is_err() {
            s.broken = true;
        }
        if let Some(p) = &self.card_file {
            s.stamp = file_stamp(p);
        }
        r
    }
}

/// The [`SeConnector`] of `simkit tsm serve`: card files, PC/SC readers and, once
/// [`LinkConnector::set_ota`] was called, the OTA platform (module docs).
pub struct LinkConnector {
    /// The interface a card file's commands arrive on.
    pub card_protocol: card::Protocol,
    /// Connections unused this long are closed.
    pub idle: Duration,
    sessions: Mutex<HashMap<String, Session>>,
    ota: std::sync::OnceLock<Arc<crate::tsm_ota::OtaPlatform>>,
}

impl Default for LinkConnector {
    fn default() -> Self {
        LinkConnector::new(card::Protocol::Spi, Duration::from_secs(60))
    }
}

impl LinkConnector {
    pub fn new(card_protocol: card::Protocol, idle: Duration) -> LinkConnector {
        LinkConnector {
            card_protocol,
            idle,
            sessions: Mutex::new(HashMap::new()),
            ota: std::sync::OnceLock::new(),
        }
    }

    /// Reach `ota:` links through this OTA platform (once; later calls are ignored).
    pub fn set_ota(&self, platform: Arc<crate::tsm_ota::OtaPlatform>) {
        let _ = self.ota.set(platform);
    }

    /// Closes connections unused for [`Self::idle`].
    pub fn close_idle(&self) {
        let mut m = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        m.retain(|_, s| s.last_used.elapsed() < self.idle);
    }

    fn open(&self, link: &Link) -> tsm::Result<Option<Opened>> {
        match link {
            // `ota:` links are RAM channels, made in `connect`.
            Link::None | Link::Ota(_) => Ok(None),
            Link::CardFile(path) => {
                if !path.exists() {
                    return Ok(None);
                }
                let card = PersistentCard::open(path).map_err(|e| {
                    TsmError::Internal(format!("card file {}: {e}", path.display()))
                })?;
                Ok(Some((
                    Box::new(CardFileOn(card, self.card_protocol)),
                    Some(path.clone()),
                )))
            }
            Link::Pcsc(reader) => match crate::pcsc_cmd::open(reader) {
                Ok(card) => Ok(Some((Box::new(card), None))),
                Err(e) => {
                    tracing::info!(%reader, error = %format!("{e:#}"), "PC/SC: SE offline");
                    Ok(None)
                }
            },
        }
    }
}

impl SeConnector for LinkConnector {
    fn connect(&self, se: &Se) -> tsm::Result<Option<SeChannel>> {
        let link = Link::parse(&se.link)?;
        if let Link::Ota(msisdn) = &link {
            let platform = self.ota.get().ok_or_else(|| {
                TsmError::NotSupported(
                    "this TSM runs without the OTA platform (start it with --smsc)".into(),
                )
            })?;
            return Ok(Some(platform.channel(msisdn, &se.isd_aid)));
        }
        let card_file = match &link {
            Link::CardFile(p) => Some(p.clone()),
            _ => None,
        };
        let mut m = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = m.get_mut(&se.se_id) {
            let reusable = s.link == se.link && s.last_used.elapsed() < self.idle && {
                let inner = s.shared.lock().unwrap_or_else(|p| p.into_inner());
                !inner.broken
                    && card_file
                        .as_deref()
                        .is_none_or(|p| file_stamp(p).is_some() && file_stamp(p) == inner.stamp)
            };
            if reusable {
                s.last_used = Instant::now();
                return Ok(Some(SeChannel::Direct(Box::new(SessionHandle {
                    shared: s.shared.clone(),
                    card_file,
                }))));
            }
            m.remove(&se.se_id);
        }
        let Some((transport, card_file)) = self.open(&link)? else {
            return Ok(None);
        };
        let stamp = card_file.as_deref().and_then(file_stamp);
        let shared = Arc::new(Mutex::new(SessionInner {
            transport,
            broken: false,
            stamp,
        }));
        m.insert(
            se.se_id.clone(),
            Session {
                link: se.link.clone(),
                shared: shared.clone(),
                last_used: Instant::now(),
            },
        );
        Ok(Some(SeChannel::Direct(Box::new(SessionHandle {
            shared,
            card_file,
        }))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links() {
        assert_eq!(Link::parse("").unwrap(), Link::None);
        assert_eq!(
            Link::parse("card:/tmp/a.simkit").unwrap(),
            Link::CardFile("/tmp/a.simkit".into())
        );
        assert_eq!(Link::parse("pcsc:").unwrap(), Link::Pcsc(String::new()));
        assert_eq!(
            Link::parse("pcsc:ACS ACR").unwrap(),
            Link::Pcsc("ACS ACR".into())
        );
        assert_eq!(Link::parse("ota:4917").unwrap(), Link::Ota("4917".into()));
        for bad in ["card:", "virtual:x", "/tmp/a"] {
            let e = Link::parse(bad).unwrap_err();
            assert_eq!(e.code(), "malformedRequest", "{bad}");
        }
    }

    #[test]
    fn openapi_lists_every_operation() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI_JSON).unwrap();
        // 3.1: the first version with the mutualTLS security scheme type.
        assert_eq!(doc["openapi"], "3.1.0");
        for op in OPERATIONS {
            let path = format!("{API_PREFIX}/{op}");
            let post = &doc["paths"][&path]["post"];
            assert_eq!(post["operationId"], op, "{path}");
            assert!(post["requestBody"].is_object(), "{path}");
            assert!(post["responses"]["200"].is_object(), "{path}");
        }
        assert!(doc["components"]["securitySchemes"]["mutualTLS"].is_object());
        assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
        // Every $ref resolves.
        fn refs(v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                serde_json::Value::Object(m) => {
                    for (k, x) in m {
                        if k == "$ref" {
                            out.push(x.as_str().unwrap_or_default().to_string());
                        } else {
                            refs(x, out);
                        }
                    }
                }
                serde_json::Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
                _ => {}
            }
        }
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(!all.is_empty());
        for r in all {
            let ptr = r
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("external ref {r}"));
            assert!(doc.pointer(ptr).is_some(), "dangling {r}");
        }
    }

    #[test]
    fn missing_card_file_is_offline() {
        let c = LinkConnector::default();
        let se = Se {
            se_id: "SE1".into(),
            mno_id: "MNO1".into(),
            se_type: "eSE".into(),
            profile_id: String::new(),
            gp_version: "2.3.1".into(),
            jc_version: "3.0.5".into(),
            cert_level: String::new(),
            cert_expiry: String::new(),
            isd_aid: vec![0xA0, 0, 0, 1, 0x51, 0, 0, 0],
            link: "card:/nonexistent/dir/card.simkit".into(),
            ssd_initial_keys: None,
        };
        assert!(c.connect(&se).unwrap().is_none());
        let none = Se {
            link: String::new(),
            ..se.clone()
        };
        assert!(c.connect(&none).unwrap().is_none());
        let bad = Se {
            link: "tcp:1.2.3.4".into(),
            ..se
        };
        assert!(c.connect(&bad).is_err());
    }
}
