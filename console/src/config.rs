//! Where the SC is: `--sc`, else `FLUVIO_SC`, else the active profile of the official
//! client's config file (`$FLV_PROFILE_PATH`, else `~/.fluvio/config`), else 127.0.0.1:9003.
//! How to secure the connection comes with it: the `--tls*` flags, else the profile's
//! cluster's `tls` table in the official layout (`tls_policy` = `disabled` | `anonymous` |
//! `verified`; for verified `tls_source` = `files` | `inline` and a `certs` table with
//! `domain`, `key`, `cert`, `ca_cert`), else plaintext.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The SC address used when nothing else names one.
pub const DEFAULT_SC_ADDR: &str = "127.0.0.1:9003";

/// Environment variable naming the SC address.
pub const SC_ENV: &str = "FLUVIO_SC";

/// Environment variable the official client reads for the config file's path.
pub const PROFILE_PATH_ENV: &str = "FLV_PROFILE_PATH";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the config file {path} is not valid TOML: {source}. Fix or remove it.")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("profile '{name}' is not in {path}; profiles there: {known}")]
    UnknownProfile {
        name: String,
        path: PathBuf,
        known: String,
    },
    #[error("profile '{profile}' names cluster '{cluster}', which {path} does not define")]
    UnknownCluster {
        profile: String,
        cluster: String,
        path: PathBuf,
    },
    #[error("no config file at {path}, so profile '{name}' cannot be used")]
    NoConfigFile { name: String, path: PathBuf },
    #[error("cluster '{cluster}' in {path}: {problem}")]
    TlsProfile {
        cluster: String,
        path: PathBuf,
        problem: String,
    },
    #[error(
        "--tls-domain and --tls-client-cert need --tls-ca-cert FILE (the CA that signed the server's certificate)"
    )]
    TlsFlags,
    #[error(transparent)]
    Tls(#[from] crate::client::TlsConfigError),
    #[error("'{addr}' is not a HOST:PORT address ({origin})")]
    BadAddress { addr: String, origin: String },
}

/// The config file, in the official client's layout (version "2.0"). Keys this console does
/// not use are ignored.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ConfigFile {
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub current_profile: Option<String>,
    #[serde(default)]
    pub profile: BTreeMap<String, Profile>,
    #[serde(default)]
    pub cluster: BTreeMap<String, Cluster>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Profile {
    pub cluster: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Cluster {
    #[serde(alias = "addr")]
    pub endpoint: String,
    #[serde(default)]
    pub use_spu_local_address: bool,
    #[serde(default)]
    pub tls: Option<Tls>,
}

/// `[cluster.NAME.tls]`: `tls_policy`, and for `verified` `tls_source` and `certs`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Tls {
    #[serde(default)]
    pub tls_policy: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certs: Option<TlsCerts>,
}

/// `[cluster.NAME.tls.certs]`: paths (`tls_source = "files"`) or PEM text (`"inline"`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TlsCerts {
    #[serde(default)]
    pub domain: String,
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub cert: String,
    #[serde(default)]
    pub ca_cert: String,
}

/// Where a certificate or key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PemSource {
    File(PathBuf),
    /// PEM text from the profile; `what` names it in errors.
    Inline {
        what: String,
        text: String,
    },
}

impl PemSource {
    fn read(&self) -> Result<crate::client::Pem, crate::client::TlsConfigError> {
        match self {
            PemSource::File(path) => crate::client::Pem::file(path),
            PemSource::Inline { what, text } => {
                Ok(crate::client::Pem::inline(what.clone(), text.as_bytes()))
            }
        }
    }
}

/// How the connections to a cluster are secured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TlsSettings {
    #[default]
    Disabled,
    /// TLS, the server's certificate not checked, no client certificate.
    Anonymous,
    /// TLS, the server checked against `ca` for `domain` (default: the host dialed);
    /// `client` (certificate, key) presented when given.
    Verified {
        domain: Option<String>,
        ca: PemSource,
        client: Option<(PemSource, PemSource)>,
    },
}

impl TlsSettings {
    /// Read the certificates and build the client's TLS configuration.
    pub fn build(&self) -> Result<crate::client::ClientTls, ConfigError> {
        use crate::client::ClientTls;
        Ok(match self {
            TlsSettings::Disabled => ClientTls::disabled(),
            TlsSettings::Anonymous => ClientTls::anonymous()?,
            TlsSettings::Verified { domain, ca, client } => {
                let ca = ca.read()?;
                let client = match client {
                    Some((cert, key)) => Some((cert.read()?, key.read()?)),
                    None => None,
                };
                ClientTls::verified(
                    domain.clone(),
                    &ca,
                    client.as_ref().map(|(cert, key)| (cert, key)),
                )?
            }
        })
    }

    /// "TLS" or "plaintext", for status lines before a connection exists.
    pub fn is_enabled(&self) -> bool {
        !matches!(self, TlsSettings::Disabled)
    }

    /// The settings a profile's cluster describes.
    fn from_profile(cluster: &str, tls: Option<&Tls>, path: &Path) -> Result<Self, ConfigError> {
        let problem = |problem: String| ConfigError::TlsProfile {
            cluster: cluster.to_string(),
            path: path.to_path_buf(),
            problem,
        };
        let Some(tls) = tls else {
            return Ok(TlsSettings::Disabled);
        };
        match tls.tls_policy.as_str() {
            "" | "disabled" | "disable" => return Ok(TlsSettings::Disabled),
            "anonymous" => return Ok(TlsSettings::Anonymous),
            "verified" | "verify" => {}
            other => {
                return Err(problem(format!(
                    "unknown tls_policy \"{other}\"; use \"disabled\", \"anonymous\" or \"verified\""
                )));
            }
        }
        let certs = tls.certs.as_ref().ok_or_else(|| {
            problem("tls_policy = \"verified\" needs a [tls.certs] table with domain, key, cert and ca_cert".into())
        })?;
        // "mixed" (newer official clients): each value is PEM text or a path.
        let source = tls.tls_source.as_deref().unwrap_or("");
        let item = |name: &str, value: &str| -> Result<Option<PemSource>, ConfigError> {
            if value.trim().is_empty() {
                return Ok(None);
            }
            let inline = match source {
                "inline" => true,
                "files" | "file" => false,
                "mixed" => value.trim_start().starts_with("-----BEGIN"),
                other => {
                    return Err(problem(format!(
                        "unknown tls_source \"{other}\"; use \"files\" or \"inline\""
                    )));
                }
            };
            Ok(Some(if inline {
                PemSource::Inline {
                    what: format!("tls.certs.{name} of cluster '{cluster}'"),
                    text: value.to_string(),
                }
            } else {
                PemSource::File(PathBuf::from(value))
            }))
        };
        let ca = item("ca_cert", &certs.ca_cert)?.ok_or_else(|| {
            problem(
                "tls.certs.ca_cert is empty: name the CA that signed the server's certificate"
                    .into(),
            )
        })?;
        let client = match (item("cert", &certs.cert)?, item("key", &certs.key)?) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                return Err(problem(
                    "tls.certs needs both cert and key, or neither".into(),
                ));
            }
        };
        Ok(TlsSettings::Verified {
            domain: Some(certs.domain.clone()).filter(|d| !d.is_empty()),
            ca,
            client,
        })
    }
}

/// Where the chosen SC address came from, for messages such as "cannot reach the SC at X
/// (from profile 'local')".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddrOrigin {
    Flag,
    Env,
    Profile { name: String, path: PathBuf },
    Default,
}

impl std::fmt::Display for AddrOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AddrOrigin::Flag => write!(f, "from --sc"),
            AddrOrigin::Env => write!(f, "from {SC_ENV}"),
            AddrOrigin::Profile { name, path } => {
                write!(f, "from profile '{name}' in {}", path.display())
            }
            AddrOrigin::Default => write!(f, "the default"),
        }
    }
}

/// The SC address to use, where it came from, and how to secure the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScTarget {
    pub addr: String,
    pub origin: AddrOrigin,
    pub tls: TlsSettings,
}

/// The config file's path: `$FLV_PROFILE_PATH`, else `~/.fluvio/config`.
pub fn config_path() -> PathBuf {
    if let Some(path) = std::env::var_os(PROFILE_PATH_ENV) {
        return PathBuf::from(path);
    }
    std::env::home_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".fluvio")
        .join("config")
}

/// The config file's text; `Ok(None)` when there is no file (no profiles yet).
pub fn read_if_exists(path: &Path) -> Result<Option<String>, std::io::Error> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

impl ConfigFile {
    /// Read the file at `path`; `Ok(None)` when there is none.
    pub fn load(path: &Path) -> Result<Option<Self>, ConfigError> {
        let Some(text) = read_if_exists(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?
        else {
            return Ok(None);
        };
        toml::from_str(&text)
            .map(Some)
            .map_err(|source| ConfigError::Parse {
                path: path.to_path_buf(),
                source: Box::new(source),
            })
    }

    /// The cluster a profile points at.
    fn cluster_of(&self, name: &str, path: &Path) -> Result<&Cluster, ConfigError> {
        let profile = self
            .profile
            .get(name)
            .ok_or_else(|| ConfigError::UnknownProfile {
                name: name.to_string(),
                path: path.to_path_buf(),
                known: if self.profile.is_empty() {
                    "none".to_string()
                } else {
                    self.profile.keys().cloned().collect::<Vec<_>>().join(", ")
                },
            })?;
        self.cluster
            .get(&profile.cluster)
            .ok_or_else(|| ConfigError::UnknownCluster {
                profile: name.to_string(),
                cluster: profile.cluster.clone(),
                path: path.to_path_buf(),
            })
    }
}

/// Choose the SC: `flag` (`--sc`), then `env_addr` (`FLUVIO_SC`), then the profile named by
/// `profile` (`-P`) or else the file's current profile, then [`DEFAULT_SC_ADDR`]. `tls`
/// (from the `--tls*` flags) replaces the profile's TLS settings when given.
pub fn resolve_sc(
    flag: Option<&str>,
    env_addr: Option<&str>,
    profile: Option<&str>,
    config_path: &Path,
    tls: Option<TlsSettings>,
) -> Result<ScTarget, ConfigError> {
    let mut target = if let Some(addr) = flag {
        ScTarget {
            addr: addr.to_string(),
            origin: AddrOrigin::Flag,
            tls: TlsSettings::Disabled,
        }
    } else if let Some(addr) = env_addr.filter(|a| !a.is_empty()) {
        ScTarget {
            addr: addr.to_string(),
            origin: AddrOrigin::Env,
            tls: TlsSettings::Disabled,
        }
    } else {
        match (ConfigFile::load(config_path)?, profile) {
            (None, Some(name)) => {
                return Err(ConfigError::NoConfigFile {
                    name: name.to_string(),
                    path: config_path.to_path_buf(),
                });
            }
            (None, None) => default_target(),
            (Some(file), named) => match named.map(str::to_string).or(file.current_profile.clone())
            {
                None => default_target(),
                Some(name) => {
                    let cluster = file.cluster_of(&name, config_path)?;
                    let tls = TlsSettings::from_profile(
                        &file.profile[&name].cluster,
                        cluster.tls.as_ref(),
                        config_path,
                    )?;
                    ScTarget {
                        addr: cluster.endpoint.clone(),
                        tls,
                        origin: AddrOrigin::Profile {
                            name,
                            path: config_path.to_path_buf(),
                        },
                    }
                }
            },
        }
    };
    if let Some(tls) = tls {
        target.tls = tls;
    }
    check_addr(&target)?;
    Ok(target)
}

fn default_target() -> ScTarget {
    ScTarget {
        addr: DEFAULT_SC_ADDR.to_string(),
        origin: AddrOrigin::Default,
        tls: TlsSettings::Disabled,
    }
}

/// A `HOST:PORT`, or several separated by commas (SCs sharing one metadata store, tried
/// in turn; in a profile's `endpoint` too: our extension of the official format).
fn check_addr(target: &ScTarget) -> Result<(), ConfigError> {
    let valid = target.addr.split(',').all(|one| {
        one.trim()
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
    });
    if valid {
        Ok(())
    } else {
        Err(ConfigError::BadAddress {
            addr: target.addr.clone(),
            origin: target.origin.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
version = "2.0"
current_profile = "local"

[profile.local]
cluster = "local"

[profile.remote]
cluster = "far"

[profile.broken]
cluster = "missing"

[profile.secure]
cluster = "tls"

[cluster.local]
endpoint = "127.0.0.1:19003"
use_spu_local_address = false

[cluster.far]
addr = "10.1.2.3:9003"

[cluster.tls]
endpoint = "127.0.0.1:9003"
[cluster.tls.tls]
tls_policy = "verified"
"#;

    fn file() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, FILE).unwrap();
        (dir, path)
    }

    #[test]
    fn precedence_flag_env_profile_default() {
        let (_dir, path) = file();
        let t = resolve_sc(Some("h:1"), Some("e:2"), None, &path, None).unwrap();
        assert_eq!((t.addr.as_str(), t.origin), ("h:1", AddrOrigin::Flag));
        let t = resolve_sc(None, Some("e:2"), None, &path, None).unwrap();
        assert_eq!((t.addr.as_str(), t.origin), ("e:2", AddrOrigin::Env));
        let t = resolve_sc(None, None, None, &path, None).unwrap();
        assert_eq!(t.addr, "127.0.0.1:19003");
        assert!(matches!(t.origin, AddrOrigin::Profile { ref name, .. } if name == "local"));
        let t = resolve_sc(None, None, Some("remote"), &path, None).unwrap();
        assert_eq!(t.addr, "10.1.2.3:9003", "`addr` is an alias of `endpoint`");
        let missing = path.with_file_name("nothing-here");
        let t = resolve_sc(None, None, None, &missing, None).unwrap();
        assert_eq!(
            (t.addr.as_str(), t.origin),
            (DEFAULT_SC_ADDR, AddrOrigin::Default)
        );
    }

    #[test]
    fn several_scs_are_a_comma_list_in_a_profile_or_flag() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        let file = "version = \"2.0\"\ncurrent_profile = \"ha\"\n\n[profile.ha]\ncluster = \"ha\"\n\n[cluster.ha]\nendpoint = \"10.0.0.1:9003,10.0.0.2:9003,10.0.0.3:9003\"\n";
        std::fs::write(&path, file).unwrap();
        // Our extension of the official format: the endpoint may list several SCs.
        let t = resolve_sc(None, None, Some("ha"), &path, None).unwrap();
        assert_eq!(t.addr, "10.0.0.1:9003,10.0.0.2:9003,10.0.0.3:9003");
        assert!(resolve_sc(Some("a:1,b:2"), None, None, &path, None).is_ok());
        let err = resolve_sc(Some("a:1,nonsense"), None, None, &path, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a HOST:PORT address"), "{err}");
    }

    #[test]
    fn tls_profiles_in_the_official_layout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        let text = r#"
current_profile = "files"
[profile.files]
cluster = "files"
[profile.inline]
cluster = "inline"
[profile.anon]
cluster = "anon"
[profile.odd]
cluster = "odd"
[profile.half]
cluster = "half"

[cluster.files]
endpoint = "sc.example:9003"
[cluster.files.tls]
tls_policy = "verified"
tls_source = "files"
[cluster.files.tls.certs]
domain = "fluvio.local"
key = "/k.pem"
cert = "/c.pem"
ca_cert = "/ca.pem"

[cluster.inline]
endpoint = "127.0.0.1:9003"
[cluster.inline.tls]
tls_policy = "verified"
tls_source = "inline"
[cluster.inline.tls.certs]
domain = ""
key = "-----BEGIN PRIVATE KEY-----"
cert = "-----BEGIN CERTIFICATE-----"
ca_cert = "-----BEGIN CERTIFICATE-----ca"

[cluster.anon]
endpoint = "127.0.0.1:9003"
tls = { tls_policy = "anonymous" }

[cluster.odd]
endpoint = "127.0.0.1:9003"
tls = { tls_policy = "sometimes" }

[cluster.half]
endpoint = "127.0.0.1:9003"
[cluster.half.tls]
tls_policy = "verified"
tls_source = "files"
certs = { domain = "d", ca_cert = "/ca.pem", cert = "/c.pem" }
"#;
        std::fs::write(&path, text).unwrap();
        let t = resolve_sc(None, None, None, &path, None).unwrap();
        assert_eq!(
            t.tls,
            TlsSettings::Verified {
                domain: Some("fluvio.local".into()),
                ca: PemSource::File("/ca.pem".into()),
                client: Some((
                    PemSource::File("/c.pem".into()),
                    PemSource::File("/k.pem".into())
                )),
            }
        );
        let t = resolve_sc(None, None, Some("inline"), &path, None).unwrap();
        let TlsSettings::Verified { domain, ca, client } = t.tls else {
            panic!("{:?}", t.tls)
        };
        assert_eq!(domain, None, "an empty domain means the host dialed");
        assert!(matches!(ca, PemSource::Inline { ref text, .. } if text.ends_with("ca")));
        assert!(client.is_some());
        let t = resolve_sc(None, None, Some("anon"), &path, None).unwrap();
        assert_eq!(t.tls, TlsSettings::Anonymous);
        // Flags replace the profile's settings; `--sc` alone means plaintext.
        let t = resolve_sc(None, None, Some("anon"), &path, Some(TlsSettings::Disabled)).unwrap();
        assert_eq!(t.tls, TlsSettings::Disabled);
        let t = resolve_sc(Some("h:1"), None, None, &path, None).unwrap();
        assert_eq!(t.tls, TlsSettings::Disabled);
        let err = resolve_sc(None, None, Some("odd"), &path, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown tls_policy \"sometimes\""), "{err}");
        let err = resolve_sc(None, None, Some("half"), &path, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("both cert and key"), "{err}");
    }

    #[test]
    fn errors_say_what_to_fix() {
        let (_dir, path) = file();
        let err = resolve_sc(None, None, Some("nope"), &path, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("profile 'nope'") && err.contains("broken, local, remote, secure"),
            "{err}"
        );
        let err = resolve_sc(None, None, Some("broken"), &path, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("cluster 'missing'"), "{err}");
        let err = resolve_sc(None, None, Some("secure"), &path, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cluster 'tls'") && err.contains("[tls.certs] table"),
            "{err}"
        );
        let err = resolve_sc(Some("nonsense"), None, None, &path, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'nonsense' is not a HOST:PORT address (from --sc)"),
            "{err}"
        );

        std::fs::write(&path, "version = [").unwrap();
        let err = resolve_sc(None, None, None, &path, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not valid TOML"), "{err}");
        let missing = path.with_file_name("nothing-here");
        let err = resolve_sc(None, None, Some("local"), &missing, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no config file"), "{err}");
    }
}
