//! How the client secures its connections: the three TLS policies of the official
//! client's profiles (`disabled`, `anonymous`, `verified`) turned into a rustls client
//! configuration shared by every connection of a cluster (the SC and each SPU: they carry
//! the same certificate).
//!
//! `anonymous` encrypts without checking the server's certificate and without a client
//! certificate, as the official client does; `verified` checks the server against a CA
//! and (usually) presents a client certificate, whose subject CN is then the client's
//! principal on a daemon that requires client certificates.

use std::io;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{CryptoProvider, ring};
use tokio_rustls::rustls::{
    self, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

/// What is wrong with TLS settings; each names the item and what to do.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    #[error(
        "{what}: not a PEM {expected} ({source}); give a PEM file or text (-----BEGIN {expected}-----)"
    )]
    Pem {
        what: String,
        expected: &'static str,
        source: rustls_pki_types::pem::Error,
    },
    #[error("{what}: the CA certificate is not usable: {source}")]
    BadCa { what: String, source: rustls::Error },
    #[error("the client certificate and key do not make a usable pair: {0}")]
    BadPair(rustls::Error),
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
}

/// PEM text of a certificate, key or CA, and where it came from (for errors).
#[derive(Debug, Clone)]
pub struct Pem {
    /// Names the item in errors: a file path or "inline cert of profile x".
    pub what: String,
    pub text: Vec<u8>,
}

impl Pem {
    /// Read `path` (its name goes into errors).
    pub fn file(path: &std::path::Path) -> Result<Pem, TlsConfigError> {
        let text = std::fs::read(path).map_err(|err| TlsConfigError::Pem {
            what: path.display().to_string(),
            expected: "file",
            source: rustls_pki_types::pem::Error::Io(err),
        })?;
        Ok(Pem {
            what: path.display().to_string(),
            text,
        })
    }

    pub fn inline(what: impl Into<String>, text: impl Into<Vec<u8>>) -> Pem {
        Pem {
            what: what.into(),
            text: text.into(),
        }
    }

    fn certs(&self) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
        let pem_err = |source| TlsConfigError::Pem {
            what: self.what.clone(),
            expected: "CERTIFICATE",
            source,
        };
        let certs = CertificateDer::pem_slice_iter(&self.text)
            .collect::<Result<Vec<_>, _>>()
            .map_err(pem_err)?;
        if certs.is_empty() {
            return Err(pem_err(rustls_pki_types::pem::Error::NoItemsFound));
        }
        Ok(certs)
    }

    fn key(&self) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
        PrivateKeyDer::from_pem_slice(&self.text).map_err(|source| TlsConfigError::Pem {
            what: self.what.clone(),
            expected: "PRIVATE KEY",
            source,
        })
    }
}

/// The TLS settings of one cluster's connections. Cheap to clone; the default is plaintext.
#[derive(Clone, Default)]
pub struct ClientTls {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    config: Arc<ClientConfig>,
    /// The name checked in the server's certificate; `None`: the host dialed.
    domain: Option<String>,
    /// The client certificate's subject CN, when one is presented.
    principal: Option<String>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            None => f.write_str("ClientTls(disabled)"),
            Some(inner) => f
                .debug_struct("ClientTls")
                .field("domain", &inner.domain)
                .field("principal", &inner.principal)
                .finish(),
        }
    }
}

/// rustls with *ring*: aws-lc-rs (rustls' default, with post-quantum key exchange, hence
/// the deprecation of this function) needs cmake and a long C build; ring's classical
/// suites (TLS 1.3/1.2, X25519, P-256/384, AES-GCM, ChaCha20) are what peers here speak.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

impl ClientTls {
    /// Plaintext connections.
    pub fn disabled() -> Self {
        Self::default()
    }

    /// TLS without checking the server's certificate and without a client certificate
    /// (the official `anonymous` policy): encrypted, but not authenticated.
    pub fn anonymous() -> Result<Self, TlsConfigError> {
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServer(provider())))
            .with_no_client_auth();
        Ok(Self::from_config(config, None, None))
    }

    /// TLS checking the server against `ca` for the name `domain` (default: the host
    /// dialed), presenting `client` (certificate chain, key) when given.
    pub fn verified(
        domain: Option<String>,
        ca: &Pem,
        client: Option<(&Pem, &Pem)>,
    ) -> Result<Self, TlsConfigError> {
        let mut roots = RootCertStore::empty();
        for cert in ca.certs()? {
            roots.add(cert).map_err(|source| TlsConfigError::BadCa {
                what: ca.what.clone(),
                source,
            })?;
        }
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots);
        let (config, principal) = match client {
            Some((cert, key)) => {
                let certs = cert.certs()?;
                let principal = certs.first().and_then(common_name);
                let config = builder
                    .with_client_auth_cert(certs, key.key()?)
                    .map_err(TlsConfigError::BadPair)?;
                (config, principal)
            }
            None => (builder.with_no_client_auth(), None),
        };
        Ok(Self::from_config(config, domain, principal))
    }

    fn from_config(
        config: ClientConfig,
        domain: Option<String>,
        principal: Option<String>,
    ) -> Self {
        Self {
            inner: Some(Arc::new(Inner {
                config: Arc::new(config),
                domain,
                principal,
            })),
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Who the server sees: the client certificate's CN; "anonymous" over TLS without a
    /// certificate; `None` on plaintext (the server decides by address).
    pub fn principal(&self) -> Option<&str> {
        let inner = self.inner.as_ref()?;
        Some(inner.principal.as_deref().unwrap_or("anonymous"))
    }

    /// "TLS" or "plaintext", with the principal when known: for status lines.
    pub fn describe(&self) -> String {
        match self.principal() {
            None => "plaintext".to_string(),
            Some(principal) => format!("TLS as {principal}"),
        }
    }

    /// Why a server may have closed a new connection before answering anything.
    pub(crate) fn closed_at_handshake(&self) -> &'static str {
        match &self.inner {
            None => {
                "it closed the connection without answering; if it speaks TLS only, connect with --tls-ca-cert FILE (or a profile with tls_policy = \"verified\")"
            }
            Some(inner) if inner.principal.is_none() => {
                "it closed the TLS connection without answering; if it requires client certificates, give --tls-client-cert and --tls-client-key"
            }
            Some(_) => {
                "it closed the TLS connection without answering; it may not accept this client certificate (is it signed by the CA the server trusts?)"
            }
        }
    }

    /// Secure `stream` (connected to `host`) per these settings.
    pub(crate) async fn wrap(&self, stream: TcpStream, host: &str) -> io::Result<Stream> {
        let Some(inner) = &self.inner else {
            return Ok(Stream::Plain(stream));
        };
        let name = inner.domain.as_deref().unwrap_or(host);
        let server = ServerName::try_from(name.trim_start_matches('[').trim_end_matches(']'))
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{name:?} is not a valid TLS server name; set the profile's tls.domain or --tls-domain"),
                )
            })?
            .to_owned();
        let stream = TlsConnector::from(inner.config.clone())
            .connect(server, stream)
            .await
            .map_err(|err| io::Error::new(err.kind(), format!("TLS handshake failed: {err}")))?;
        Ok(Stream::Tls(Box::new(stream)))
    }
}

/// A connection's byte stream, plaintext or TLS.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// The reading half of a connection.
pub(crate) type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;
/// The writing half of a connection.
pub(crate) type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

impl Stream {
    pub(crate) fn split(self) -> (ReadHalf, WriteHalf) {
        match self {
            Stream::Plain(stream) => {
                let (reader, writer) = stream.into_split();
                (Box::new(reader), Box::new(writer))
            }
            Stream::Tls(stream) => {
                let (reader, writer) = tokio::io::split(*stream);
                (Box::new(reader), Box::new(writer))
            }
        }
    }
}

/// The subject CN of a certificate.
fn common_name(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let cn = parsed.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_string)
}

/// The `anonymous` policy's verifier: any server certificate is accepted (signatures are
/// still checked, so the session keys belong to whoever holds the certificate's key).
#[derive(Debug)]
struct AcceptAnyServer(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
