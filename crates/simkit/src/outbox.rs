//! Delivery of ES2+.HandleDownloadProgressInfo (SGP.22 §5.3.5, binding §6.6) from the outbox.
//!
//! The worker claims due entries (`claim_outbox`, a lease, so several replicas can share the
//! work), POSTs each to `<callback URL of the order's requester>/gsma/rsp2/es2plus/
//! handleDownloadProgressInfo` and acknowledges it on any 2xx answer; otherwise it reschedules
//! it with `smdp::outbox::retry_delay_ms` (5 s doubling up to one hour). Delivery is
//! at-least-once; `functionCallIdentifier` is stable per entry (`<requester_id>-<entry id>`)
//! so an Operator can drop duplicates.
//!
//! Entries whose requester has no callback URL configured are acknowledged (dropped) with a log
//! line and counted in `simkit_outbox_deliveries_total{result="no_callback"}`: an Operator that
//! registered no endpoint has opted out of progress reports, and keeping its entries would grow
//! the table without bound.
//!
//! ES2+ is mutually authenticated (SGP.22 §2.6.5): the worker presents the SM-DP+'s client
//! certificate ([`ClientIdentity`]: `es2.client_cert`/`es2.client_key`, default CERT.DP.TLS) and
//! verifies the Operator's server certificate against `outbox.ca_certs` (default the system
//! bundle).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use smdp::es2p::{self, HandleDownloadProgressInfoRequest, RequestHeader};
use smdp::outbox::{retry_delay_ms, OutboxEntry};
use smdp::SmdpStore;
use store::Database;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use crate::config::Config;
use crate::metrics::{outbox_result, Metrics};
use crate::serve::{now_millis, ADMIN_PROTOCOL, JSON_CONTENT_TYPE};

pub(crate) type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// System CA bundles tried when `outbox.ca_certs` is empty.
const SYSTEM_BUNDLES: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// Delivers outbox entries to Operators.
pub struct Deliverer {
    db: Database,
    client: HttpClient,
    callbacks: BTreeMap<String, String>,
    requester_id: String,
    timeout: Duration,
    metrics: Arc<Metrics>,
}

/// The client certificate the SM-DP+ presents to Operators.
#[derive(Clone)]
pub struct ClientIdentity {
    /// Certificate chain, leaf first (DER).
    pub chain: Vec<Vec<u8>>,
    /// PKCS#8 private key (DER).
    pub key_pkcs8: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("chain", &self.chain.len())
            .finish_non_exhaustive()
    }
}

fn client(cfg: &Config, identity: &ClientIdentity) -> Result<HttpClient> {
    let mut roots = rustls::RootCertStore::empty();
    let files: Vec<std::path::PathBuf> = if cfg.outbox.ca_certs.is_empty() {
        SYSTEM_BUNDLES
            .iter()
            .map(std::path::PathBuf::from)
            .filter(|p| p.exists())
            .take(1)
            .collect()
    } else {
        cfg.outbox.ca_certs.clone()
    };
    for path in &files {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        for cert in CertificateDer::pem_slice_iter(&bytes) {
            let cert = cert.with_context(|| format!("parsing {}", path.display()))?;
            // A bundle may hold certificates rustls cannot use; skip those.
            let _ = roots.add(cert);
        }
    }
    mtls_client(roots, identity)
}

/// An HTTPS client (HTTP/1.1, pooled connections) trusting `roots` and presenting `identity`.
pub(crate) fn mtls_client(
    roots: rustls::RootCertStore,
    identity: &ClientIdentity,
) -> Result<HttpClient> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_client_auth_cert(
            identity
                .chain
                .iter()
                .map(|c| CertificateDer::from(c.clone()))
                .collect(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(identity.key_pkcs8.to_vec())),
        )
        .context("ES2+ client certificate and key")?;
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector))
}

/// The full callback URL for an Operator base URL.
pub fn callback_url(base: &str) -> String {
    format!(
        "{}{}",
        base.trim_end_matches('/'),
        es2p::PATH_HANDLE_DOWNLOAD_PROGRESS_INFO
    )
}

impl Deliverer {
    pub fn new(
        db: Database,
        cfg: &Config,
        identity: &ClientIdentity,
        metrics: Arc<Metrics>,
    ) -> Result<Self> {
        Ok(Deliverer {
            db,
            client: client(cfg, identity)?,
            callbacks: cfg.callbacks.clone(),
            requester_id: cfg.outbox.requester_id.clone(),
            timeout: Duration::from_secs(cfg.outbox.timeout_secs.max(1)),
            metrics,
        })
    }

    /// Claims up to `batch` due entries and processes them; returns how many were claimed.
    pub async fn run_once(&self, batch: u32) -> Result<usize> {
        // The lease outlives one delivery attempt, so an entry is never sent twice concurrently.
        let lease_ms = (self.timeout.as_millis() as u64)
            .saturating_mul(3)
            .max(30_000);
        let entries = self
            .db
            .claim_outbox(now_millis(), batch, lease_ms)
            .await
            .context("claiming outbox entries")?;
        let n = entries.len();
        // Entries of Operators without a callback URL are dropped together, in one write.
        let mut dropped = Vec::new();
        for entry in entries {
            let Some(base) = self.callbacks.get(&entry.target) else {
                tracing::info!(
                    id = entry.id, target = %entry.target, iccid = %entry.body.iccid,
                    point = entry.body.notification_point_id,
                    "no callback URL for this Operator: progress report dropped"
                );
                dropped.push(entry.id);
                continue;
            };
            self.process(base, entry).await;
        }
        if !dropped.is_empty() {
            if let Err(e) = self.db.ack_outbox_many(&dropped).await {
                tracing::warn!(n = dropped.len(), error = %e, "ack_outbox failed");
            }
            for _ in &dropped {
                self.metrics.observe_outbox(outbox_result::NO_CALLBACK);
            }
        }
        Ok(n)
    }

    async fn process(&self, base: &str, entry: OutboxEntry) {
        let url = callback_url(base);
        match self.deliver(&url, &entry).await {
            Ok(()) => {
                tracing::debug!(id = entry.id, %url, "progress report delivered");
                if let Err(e) = self.db.ack_outbox(entry.id).await {
                    tracing::warn!(id = entry.id, error = %e, "ack_outbox failed");
                }
                self.metrics.observe_outbox(outbox_result::DELIVERED);
            }
            Err(error) => {
                let delay = retry_delay_ms(entry.attempts);
                tracing::warn!(
                    id = entry.id, %url, attempts = entry.attempts, retry_in_ms = delay, %error,
                    "progress report delivery failed"
                );
                let next = now_millis().plus_millis(delay);
                if let Err(e) = self.db.retry_outbox(entry.id, error, next).await {
                    tracing::warn!(id = entry.id, error = %e, "retry_outbox failed");
                }
                self.metrics.observe_outbox(outbox_result::FAILED);
            }
        }
    }

    /// One POST; `Err` carries the reason to store with the retry.
    async fn deliver(&self, url: &str, entry: &OutboxEntry) -> Result<(), String> {
        let body = HandleDownloadProgressInfoRequest {
            header: RequestHeader {
                function_requester_identifier: self.requester_id.clone(),
                function_call_identifier: format!("{}-{}", self.requester_id, entry.id),
            },
            body: entry.body.clone(),
        };
        let json = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        let req = hyper::Request::post(url)
            .header(hyper::header::CONTENT_TYPE, JSON_CONTENT_TYPE)
            .header(rsp::es9p::ADMIN_PROTOCOL_HEADER, ADMIN_PROTOCOL)
            .header(hyper::header::USER_AGENT, "simkit-smdp")
            .body(Full::new(Bytes::from(json)))
            .map_err(|e| format!("request: {e}"))?;
        let call = async {
            let resp = self.client.request(req).await.map_err(|e| format!("{e}"))?;
            let status = resp.status();
            // Drain (bounded) so the connection can be reused.
            let _ = http_body_util::Limited::new(resp.into_body(), 64 * 1024)
                .collect()
                .await;
            if status.is_success() {
                Ok(())
            } else {
                Err(format!("HTTP {status}"))
            }
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(r) => r,
            Err(_) => Err(format!("timeout after {:?}", self.timeout)),
        }
    }
}

/// Spawns the delivery loop; it polls every `outbox.poll_interval_ms` (immediately again while
/// a full batch was claimed) until `shutdown` turns true.
pub fn spawn(
    db: Database,
    cfg: &Config,
    identity: ClientIdentity,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<JoinHandle<()>> {
    let deliverer = Deliverer::new(db, cfg, &identity, metrics)?;
    let batch = cfg.outbox.batch.max(1);
    let interval = Duration::from_millis(cfg.outbox.poll_interval_ms.max(10));
    Ok(tokio::spawn(async move {
        loop {
            let full = match deliverer.run_once(batch).await {
                Ok(n) => n >= batch as usize,
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "outbox poll failed");
                    false
                }
            };
            if *shutdown.borrow() {
                return;
            }
            if !full {
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = shutdown.changed() => return,
                }
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_urls() {
        assert_eq!(
            callback_url("https://mno.example.com/"),
            "https://mno.example.com/gsma/rsp2/es2plus/handleDownloadProgressInfo"
        );
        assert_eq!(
            callback_url("http://127.0.0.1:9000/prefix"),
            "http://127.0.0.1:9000/prefix/gsma/rsp2/es2plus/handleDownloadProgressInfo"
        );
    }
}
