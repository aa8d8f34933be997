//! TLS for the listener (rustls): TLS 1.3 only unless `[tls] allow_tls12`, and, with
//! `[tls] peer_client_certs`, mutual TLS with client certificates pinned per peer. A client
//! that presents a certificate no peer is pinned to is refused during the handshake; one
//! that presents none is let through (analysts' browsers), and the inbox then refuses a
//! peer with a pin that did not connect with it. The certificate's fingerprint reaches the
//! handlers as a [`ClientCert`] extension.

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use axum_server::accept::Accept;
use axum_server::tls_rustls::RustlsConfig;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::pem::PemObject as _;
use tower_http::add_extension::AddExtension;

use crate::federation::Pins;

/// The fingerprint (SHA-256, hex) of the TLS client certificate a request came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert(pub Option<String>);

/// Accepts exactly the client certificates a peer is pinned to (and none at all).
#[derive(Debug)]
struct PinnedClients {
    pins: Arc<Pins>,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for PinnedClients {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let fingerprint = crate::keys::cert_fingerprint(end_entity);
        if self.pins.contains(&fingerprint) {
            Ok(ClientCertVerified::assertion())
        } else {
            tracing::warn!(cert.sha256 = %fingerprint, "TLS client certificate is pinned for no peer; handshake refused");
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Why the listener's TLS could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("TLS certificate `{cert}` and key `{key}`: {reason}")]
pub struct TlsError {
    cert: String,
    key: String,
    reason: String,
}

/// The listener's TLS configuration from PEM files; with `pins`, mutual TLS.
pub fn server_config(
    cert: &Path,
    key: &Path,
    pins: Option<Arc<Pins>>,
    allow_tls12: bool,
) -> Result<RustlsConfig, TlsError> {
    let fail = |reason: String| TlsError {
        cert: cert.display().to_string(),
        key: key.display().to_string(),
        reason,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect())
        .map_err(|e| fail(e.to_string()))?;
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| fail(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = if allow_tls12 {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13]
    };
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| fail(e.to_string()))?;
    let builder = match pins {
        Some(pins) => builder.with_client_cert_verifier(Arc::new(PinnedClients { pins, provider })),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(chain, private)
        .map_err(|e| fail(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(RustlsConfig::from_config(Arc::new(config)))
}

/// A TLS stream whose client certificate can be read.
pub trait PeerCertificate {
    /// The fingerprint of the client's certificate, if it sent one.
    fn client_fingerprint(&self) -> Option<String>;
}

impl<T> PeerCertificate for tokio_rustls::server::TlsStream<T> {
    fn client_fingerprint(&self) -> Option<String> {
        self.get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| crate::keys::cert_fingerprint(c))
    }
}

/// Puts the connection's client certificate (its fingerprint) on every request it carries.
#[derive(Clone)]
pub struct CertAcceptor<A>(pub A);

impl<A, I, S> Accept<I, S> for CertAcceptor<A>
where
    A: Accept<I, S> + Clone + Send + 'static,
    A::Stream: PeerCertificate + Send + 'static,
    A::Future: Send + 'static,
    A::Service: Send + 'static,
    I: Send + 'static,
{
    type Stream = A::Stream;
    type Service = AddExtension<A::Service, ClientCert>;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let inner = self.0.accept(stream, service);
        Box::pin(async move {
            let (stream, service) = inner.await?;
            let fingerprint = stream.client_fingerprint();
            Ok((stream, AddExtension::new(service, ClientCert(fingerprint))))
        })
    }
}
