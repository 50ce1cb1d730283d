//! TLS for every listener and every outgoing link of the daemon (rustls, ring provider).
//!
//! One [`Tls`] per process holds the files the operator named (`--tls-cert`, `--tls-key`,
//! `--tls-client-ca`, `--tls-ca`) and the configurations built from them: the server side
//! for the four listeners, the client side for the SPU's link to the SC, a follower's link
//! to its leader and the offsets forwarder. [`Tls::reload`] (on SIGHUP) re-reads the files
//! and swaps both configurations for new connections; on any error the old ones stay, so
//! a half-copied certificate never takes a cluster down. Connections already open keep the
//! session they negotiated.
//!
//! With `--tls-client-ca` the listeners require a client certificate signed by that CA,
//! and the verified certificate's subject (CN and OUs) becomes the connection's
//! [`CertificateSubject`]. The daemon presents its own certificate on its outgoing links,
//! so one certificate per node serves both directions.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::CertificateSubject;
use crate::sync;

/// A TLS stream accepted by a listener.
pub type ServerStream = tokio_rustls::server::TlsStream<TcpStream>;
/// A TLS stream the daemon opened to a peer.
pub type ClientStream = tokio_rustls::client::TlsStream<TcpStream>;

/// Why the TLS files could not be turned into a configuration. Each names the file and
/// what to do.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} {}: {source}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        source: rustls_pki_types::pem::Error,
    },
    #[error("{what} {} holds no PEM {expected}; give a PEM file (-----BEGIN {expected}-----)", path.display())]
    Empty {
        what: &'static str,
        path: PathBuf,
        expected: &'static str,
    },
    #[error("CA certificate in {} is not usable: {source}", path.display())]
    BadCa {
        path: PathBuf,
        source: rustls::Error,
    },
    #[error("the certificate {} and key {} do not make a usable pair: {source}", cert.display(), key.display())]
    BadPair {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
    #[error("client certificate verification from {}: {source}", path.display())]
    Verifier {
        path: PathBuf,
        source: rustls::server::VerifierBuilderError,
    },
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The files TLS is built from, as the operator named them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// This node's certificate chain (PEM), presented on listeners and outgoing links.
    pub cert: PathBuf,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// When set, listeners require client certificates signed by one of these CAs.
    pub client_ca: Option<PathBuf>,
    /// The CAs outgoing links trust for their peers (the SC, a leader). Without it the
    /// daemon has no outgoing TLS links (an SC-only process).
    pub ca: Option<PathBuf>,
    /// The name checked in peers' certificates on outgoing links, instead of the host
    /// dialed (for certificates made for a DNS name while peers are given by address).
    pub server_name: Option<String>,
}

/// The process's TLS state: the files and the configurations built from them.
pub struct Tls {
    files: TlsFiles,
    server: RwLock<Arc<ServerConfig>>,
    client: RwLock<Option<Arc<ClientConfig>>>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("files", &self.files).finish()
    }
}

/// Why a connection could not be set up with TLS.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("TLS handshake failed: {0}{hint}", hint = plaintext_hint(.0))]
    Failed(io::Error),
    #[error("TLS handshake did not finish in time")]
    TimedOut,
    #[error("no --tls-ca is configured, so outgoing TLS links cannot verify their peer")]
    NoCa,
    #[error("{0:?} is not a valid TLS server name; set --tls-server-name")]
    BadName(String),
}

/// rustls reports a first byte that is not a TLS record as a corrupt message: almost
/// always a plaintext client on a TLS port, which is worth saying in the log.
fn plaintext_hint(err: &io::Error) -> &'static str {
    let text = err.to_string();
    if text.contains("InvalidContentType") || text.contains("corrupt message") {
        " (the peer is not speaking TLS: a plaintext client on a TLS port?)"
    } else {
        ""
    }
}

/// rustls with *ring*: aws-lc-rs (rustls' default, with post-quantum key exchange, hence
/// the deprecation of this function) needs cmake and a long C build; ring's classical
/// suites (TLS 1.3/1.2, X25519, P-256/384, AES-GCM, ChaCha20) are what peers here speak.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_certs(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let read_err = |source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(read_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_err)?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            what,
            path: path.to_owned(),
            expected: "CERTIFICATE",
        });
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|source| match source {
        rustls_pki_types::pem::Error::NoItemsFound => TlsError::Empty {
            what: "--tls-key",
            path: path.to_owned(),
            expected: "PRIVATE KEY",
        },
        source => TlsError::Read {
            what: "--tls-key",
            path: path.to_owned(),
            source,
        },
    })
}

fn read_roots(what: &'static str, path: &Path) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(what, path)? {
        roots.add(cert).map_err(|source| TlsError::BadCa {
            path: path.to_owned(),
            source,
        })?;
    }
    Ok(Arc::new(roots))
}

/// Build both configurations from the files as they are now.
fn build(files: &TlsFiles) -> Result<(ServerConfig, Option<ClientConfig>), TlsError> {
    let certs = read_certs("--tls-cert", &files.cert)?;
    let key = read_key(&files.key)?;
    let bad_pair = |source| TlsError::BadPair {
        cert: files.cert.clone(),
        key: files.key.clone(),
        source,
    };
    let builder =
        ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let builder = match &files.client_ca {
        Some(path) => {
            let roots = read_roots("--tls-client-ca", path)?;
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots, provider())
                    .build()
                    .map_err(|source| TlsError::Verifier {
                        path: path.clone(),
                        source,
                    })?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let server = builder
        .with_single_cert(certs.clone(), key.clone_key())
        .map_err(bad_pair)?;
    let client = match &files.ca {
        Some(path) => {
            let roots = read_roots("--tls-ca", path)?;
            let config = ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()?
                .with_root_certificates(roots)
                .with_client_auth_cert(certs, key)
                .map_err(bad_pair)?;
            Some(config)
        }
        None => None,
    };
    Ok((server, client))
}

impl Tls {
    /// Read the files and build the configurations; any problem is an error naming the file.
    pub fn load(files: TlsFiles) -> Result<Arc<Self>, TlsError> {
        let (server, client) = build(&files)?;
        Ok(Arc::new(Self {
            files,
            server: RwLock::new(Arc::new(server)),
            client: RwLock::new(client.map(Arc::new)),
        }))
    }

    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// Whether listeners require client certificates.
    pub fn mutual(&self) -> bool {
        self.files.client_ca.is_some()
    }

    /// Re-read the files for new connections. On error nothing changes: the old
    /// certificate, key and CAs stay in use.
    pub fn reload(&self) -> Result<(), TlsError> {
        let (server, client) = build(&self.files)?;
        *sync::write(&self.server) = Arc::new(server);
        *sync::write(&self.client) = client.map(Arc::new);
        Ok(())
    }

    /// The TLS handshake of an accepted connection, and the subject of the client's
    /// certificate when it presented one (verified against `--tls-client-ca`).
    pub async fn accept(
        &self,
        stream: TcpStream,
        timeout: std::time::Duration,
    ) -> Result<(ServerStream, Option<CertificateSubject>), HandshakeError> {
        let acceptor = TlsAcceptor::from(sync::read(&self.server).clone());
        let stream = tokio::time::timeout(timeout, acceptor.accept(stream))
            .await
            .map_err(|_| HandshakeError::TimedOut)?
            .map_err(HandshakeError::Failed)?;
        let subject = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|cert| certificate_subject(cert));
        Ok((stream, subject))
    }

    /// Open TLS over `stream` to `host` (the host part of the address dialed, unless
    /// `--tls-server-name` names the peers otherwise), verifying it against `--tls-ca`.
    pub async fn connect(
        &self,
        stream: TcpStream,
        host: &str,
        timeout: std::time::Duration,
    ) -> Result<ClientStream, HandshakeError> {
        let config = sync::read(&self.client)
            .clone()
            .ok_or(HandshakeError::NoCa)?;
        let name = self.files.server_name.as_deref().unwrap_or(host);
        let name = ServerName::try_from(name.trim_start_matches('[').trim_end_matches(']'))
            .map_err(|_| HandshakeError::BadName(name.to_string()))?
            .to_owned();
        tokio::time::timeout(timeout, TlsConnector::from(config).connect(name, stream))
            .await
            .map_err(|_| HandshakeError::TimedOut)?
            .map_err(HandshakeError::Failed)
    }
}

/// The CN and OUs of a certificate's subject; `None` when it does not parse or has no CN.
pub fn certificate_subject(cert: &CertificateDer<'_>) -> Option<CertificateSubject> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let subject = parsed.subject();
    let common_name = subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())?
        .to_string();
    let organizational_units = subject
        .iter_organizational_unit()
        .filter_map(|ou| ou.as_str().ok().map(str::to_string))
        .collect();
    Some(CertificateSubject {
        common_name,
        organizational_units,
    })
}

/// The host part of `HOST:PORT` (brackets of an IPv6 literal removed).
pub fn host_of(addr: &str) -> &str {
    let host = match addr.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => addr,
    };
    host.trim_start_matches('[').trim_end_matches(']')
}
