//! HTTPS edge: serves an axum router over rustls (ring provider, NIST suites), or plain HTTP for
//! lab use when explicitly asked.
//!
//! With client CA certificates configured, the listener requests a client certificate (ES2+
//! mutual TLS, SGP.22 §2.6.5) but lets clients without one in (LPAs on ES9+ have none); a
//! presented certificate must chain to those CAs or the handshake fails. Every request carries
//! a [`Peer`] extension: the peer address and the verified client chain, if any.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// The connection a request arrived on (a request extension set by [`serve`]).
#[derive(Debug, Clone)]
pub struct Peer {
    pub addr: SocketAddr,
    /// The client certificate chain (leaf first), verified against the configured client CAs
    /// during the handshake; empty if the client presented none (or on plain HTTP).
    pub client_chain: Vec<CertificateDer<'static>>,
}

/// A rustls server configuration from a DER certificate chain (leaf first) and a PKCS#8 key.
/// `client_cas` (DER trust anchors), if not empty, turn on optional client authentication.
pub fn server_config(
    chain: Vec<Vec<u8>>,
    key_pkcs8: Vec<u8>,
    client_cas: &[Vec<u8>],
) -> Result<Arc<rustls::ServerConfig>> {
    server_config_with(chain, key_pkcs8, client_cas, false)
}

/// [`server_config`], and with `require_client_cert` a client without a certificate chaining
/// to `client_cas` fails the handshake (the TSM's SP API: every caller is an SP).
pub fn server_config_with(
    chain: Vec<Vec<u8>>,
    key_pkcs8: Vec<u8>,
    client_cas: &[Vec<u8>],
    require_client_cert: bool,
) -> Result<Arc<rustls::ServerConfig>> {
    if require_client_cert && client_cas.is_empty() {
        anyhow::bail!("client certificates required, but no client CA given");
    }
    // AES-128-GCM with SHA-256 first, and the server's order decides: it is SGP.22's suite
    // (§2.6.6: TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256), and its SHA-256 key schedule costs
    // less than AES-256-GCM-SHA384's SHA-384, which rustls clients list first.
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites.sort_by_key(|s| {
        use rustls::CipherSuite as C;
        match s.suite() {
            C::TLS13_AES_128_GCM_SHA256 => 0,
            C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => 1,
            _ => 2,
        }
    });
    let provider = Arc::new(provider);
    let certs = chain.into_iter().map(CertificateDer::from).collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pkcs8));
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = if client_cas.is_empty() {
        builder.with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        for der in client_cas {
            roots
                .add(CertificateDer::from(der.clone()))
                .context("client CA certificate")?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
        let verifier = if require_client_cert {
            verifier
        } else {
            verifier.allow_unauthenticated()
        };
        let verifier = verifier.build().context("client certificate verifier")?;
        builder.with_client_cert_verifier(verifier)
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .context("TLS server certificate and key")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.ignore_client_order = true;
    Ok(Arc::new(config))
}

/// Accepts connections until the task is dropped; each connection is served on its own task.
pub async fn serve(listener: TcpListener, router: Router, tls: Option<Arc<rustls::ServerConfig>>) {
    let acceptor = tls.map(TlsAcceptor::from);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let result = match acceptor {
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(tls) => {
                        let client_chain = tls
                            .get_ref()
                            .1
                            .peer_certificates()
                            .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
                            .unwrap_or_default();
                        let service = WithPeer::new(
                            router,
                            Peer {
                                addr: peer,
                                client_chain,
                            },
                        );
                        Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(tls), service)
                            .await
                            .map_err(|e| e.to_string())
                    }
                    Err(e) => Err(format!("TLS handshake: {e}")),
                },
                None => Builder::new(TokioExecutor::new())
                    .serve_connection(
                        TokioIo::new(stream),
                        WithPeer::new(
                            router,
                            Peer {
                                addr: peer,
                                client_chain: Vec::new(),
                            },
                        ),
                    )
                    .await
                    .map_err(|e| e.to_string()),
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

/// The router with the connection's [`Peer`] inserted into every request.
#[derive(Clone)]
struct WithPeer {
    inner: TowerToHyperService<Router>,
    peer: Arc<Peer>,
}

impl WithPeer {
    fn new(router: Router, peer: Peer) -> Self {
        WithPeer {
            inner: TowerToHyperService::new(router),
            peer: Arc::new(peer),
        }
    }
}

impl<B> hyper::service::Service<hyper::Request<B>> for WithPeer
where
    TowerToHyperService<Router>: hyper::service::Service<hyper::Request<B>>,
{
    type Response =
        <TowerToHyperService<Router> as hyper::service::Service<hyper::Request<B>>>::Response;
    type Error = <TowerToHyperService<Router> as hyper::service::Service<hyper::Request<B>>>::Error;
    type Future =
        <TowerToHyperService<Router> as hyper::service::Service<hyper::Request<B>>>::Future;

    fn call(&self, mut req: hyper::Request<B>) -> Self::Future {
        req.extensions_mut().insert(self.peer.clone());
        self.inner.call(req)
    }
}

/// Binds `addr` (loopback by default in every caller) and returns the listener and its address.
pub async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("bind {addr}"))?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}
