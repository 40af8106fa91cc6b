//! ES9+ over HTTPS (SGP.22 §6.1–§6.5): JSON bodies POSTed to `/gsma/rsp2/es9plus/<function>`.
//! TLS server authentication chains to the GSMA CI certificates the caller trusts (SGP.22 §2.6.6.1);
//! plain `http://` is refused unless the caller opts in for lab use.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::dns::{GaiResolver, Name};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;

use crate::LpaError;

/// The protocol version this LPA announces in `X-Admin-Protocol` (SGP.22 §6.1.1).
pub const ADMIN_PROTOCOL: &str = rsp::es9p::ADMIN_PROTOCOL;
const USER_AGENT: &str = "gsma-rsp-lpad";

/// What the LPA needs from an ES9+ peer: POST a JSON body to a function path, get status + body.
pub trait Es9Transport: Send + Sync {
    fn post(
        &self,
        smdp_address: &str,
        path: &str,
        body: Vec<u8>,
    ) -> impl std::future::Future<Output = Result<(u16, Vec<u8>), LpaError>> + Send;
}

/// Name resolution of the HTTP client: the system resolver, except for host names pinned to
/// fixed addresses (as `curl --resolve` does; a benchmark or a lab setup avoids a DNS lookup,
/// which the system resolver runs on a blocking thread, per connection).
#[derive(Clone)]
pub struct Resolver {
    pinned: Arc<Vec<(String, Vec<SocketAddr>)>>,
    system: GaiResolver,
}

type ResolveFuture =
    Pin<Box<dyn Future<Output = Result<std::vec::IntoIter<SocketAddr>, std::io::Error>> + Send>>;

impl tower_service::Service<Name> for Resolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = ResolveFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let pinned = self
            .pinned
            .iter()
            .find(|(host, _)| host.eq_ignore_ascii_case(name.as_str()))
            .map(|(_, addrs)| addrs.clone());
        if let Some(addrs) = pinned {
            return Box::pin(std::future::ready(Ok(addrs.into_iter())));
        }
        let lookup = self.system.call(name);
        Box::pin(async move { Ok(lookup.await?.collect::<Vec<_>>().into_iter()) })
    }
}

type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector<Resolver>>, Full<Bytes>>;

/// ES9+ over HTTP(S) with connection reuse.
#[derive(Clone)]
pub struct HttpTransport {
    client: HttpClient,
    allow_http: bool,
    timeout: Duration,
}

/// The TLS client configuration of an ES9+ client: `trusted_roots` (DER) are the trust anchors
/// (the GSMA CI, or a minted test CI), ring provider, TLS 1.2 and 1.3.
pub fn tls_config(trusted_roots: &[Vec<u8>]) -> Result<rustls::ClientConfig, LpaError> {
    let mut roots = rustls::RootCertStore::empty();
    for der in trusted_roots {
        roots
            .add(CertificateDer::from(der.clone()))
            .map_err(|e| LpaError::Transport(format!("trust anchor rejected: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| LpaError::Transport(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

impl HttpTransport {
    /// `trusted_roots`: DER certificates accepted as TLS trust anchors (the GSMA CI, or a minted
    /// test CI). `allow_http`: permit `http://` SM-DP+ addresses (lab use only).
    pub fn new(trusted_roots: &[Vec<u8>], allow_http: bool) -> Result<Self, LpaError> {
        Ok(Self::with_tls_config(
            tls_config(trusted_roots)?,
            allow_http,
            &[],
        ))
    }

    /// A client with a prepared TLS configuration (see [`tls_config`]); `pinned` host names
    /// resolve to the given addresses without a DNS lookup.
    pub fn with_tls_config(
        tls: rustls::ClientConfig,
        allow_http: bool,
        pinned: &[(String, Vec<SocketAddr>)],
    ) -> Self {
        let resolver = Resolver {
            pinned: Arc::new(pinned.to_vec()),
            system: GaiResolver::new(),
        };
        let mut http = HttpConnector::new_with_resolver(resolver);
        http.enforce_http(false);
        let builder = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls);
        let connector = if allow_http {
            builder.https_or_http().enable_http1().wrap_connector(http)
        } else {
            builder.https_only().enable_http1().wrap_connector(http)
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        HttpTransport {
            client,
            allow_http,
            timeout: Duration::from_secs(30),
        }
    }

    /// The URL of an ES9+ function at `smdp_address` (a host\[:port\], or a full URL in lab use).
    pub fn url(&self, smdp_address: &str, path: &str) -> Result<String, LpaError> {
        let base = if smdp_address.starts_with("https://") {
            smdp_address.to_string()
        } else if smdp_address.starts_with("http://") {
            if !self.allow_http {
                return Err(LpaError::Transport(format!(
                    "refusing plain HTTP SM-DP+ address {smdp_address} (pass --allow-http for lab use)"
                )));
            }
            smdp_address.to_string()
        } else {
            format!("https://{smdp_address}")
        };
        Ok(format!("{}{}", base.trim_end_matches('/'), path))
    }
}

impl Es9Transport for HttpTransport {
    async fn post(
        &self,
        smdp_address: &str,
        path: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), LpaError> {
        let url = self.url(smdp_address, path)?;
        let request = hyper::Request::post(&url)
            .header("Content-Type", "application/json;charset=UTF-8")
            .header("Accept", "application/json")
            .header("X-Admin-Protocol", ADMIN_PROTOCOL)
            .header("User-Agent", USER_AGENT)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| LpaError::Transport(format!("{url}: {e}")))?;
        // The timeout covers the whole exchange, response body included.
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| LpaError::Transport(format!("{url}: {e:?}")))?;
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| LpaError::Transport(format!("{url}: {e}")))?
                .to_bytes();
            // Takes over the collected buffer when it is the only owner (no copy).
            Ok((status, Vec::from(body)))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| LpaError::Transport(format!("{url}: timed out")))?
    }
}
