//! Where the SC is: `--sc`, else `FLUVIO_SC`, else the active profile of the official
//! client's config file (`$FLV_PROFILE_PATH`, else `~/.fluvio/config`), else 127.0.0.1:9003.

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
    #[error(
        "cluster '{cluster}' in {path} asks for TLS ({policy}), which this console does not speak; set tls_policy = \"disabled\""
    )]
    TlsUnsupported {
        cluster: String,
        policy: String,
        path: PathBuf,
    },
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

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Tls {
    #[serde(default)]
    pub tls_policy: String,
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

/// The SC address to use and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScTarget {
    pub addr: String,
    pub origin: AddrOrigin,
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
/// `profile` (`-P`) or else the file's current profile, then [`DEFAULT_SC_ADDR`].
pub fn resolve_sc(
    flag: Option<&str>,
    env_addr: Option<&str>,
    profile: Option<&str>,
    config_path: &Path,
) -> Result<ScTarget, ConfigError> {
    let target = if let Some(addr) = flag {
        ScTarget {
            addr: addr.to_string(),
            origin: AddrOrigin::Flag,
        }
    } else if let Some(addr) = env_addr.filter(|a| !a.is_empty()) {
        ScTarget {
            addr: addr.to_string(),
            origin: AddrOrigin::Env,
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
                    if let Some(tls) = &cluster.tls
                        && !tls.tls_policy.is_empty()
                        && tls.tls_policy != "disabled"
                    {
                        return Err(ConfigError::TlsUnsupported {
                            cluster: file.profile[&name].cluster.clone(),
                            policy: tls.tls_policy.clone(),
                            path: config_path.to_path_buf(),
                        });
                    }
                    ScTarget {
                        addr: cluster.endpoint.clone(),
                        origin: AddrOrigin::Profile {
                            name,
                            path: config_path.to_path_buf(),
                        },
                    }
                }
            },
        }
    };
    check_addr(&target)?;
    Ok(target)
}

fn default_target() -> ScTarget {
    ScTarget {
        addr: DEFAULT_SC_ADDR.to_string(),
        origin: AddrOrigin::Default,
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
        let t = resolve_sc(Some("h:1"), Some("e:2"), None, &path).unwrap();
        assert_eq!((t.addr.as_str(), t.origin), ("h:1", AddrOrigin::Flag));
        let t = resolve_sc(None, Some("e:2"), None, &path).unwrap();
        assert_eq!((t.addr.as_str(), t.origin), ("e:2", AddrOrigin::Env));
        let t = resolve_sc(None, None, None, &path).unwrap();
        assert_eq!(t.addr, "127.0.0.1:19003");
        assert!(matches!(t.origin, AddrOrigin::Profile { ref name, .. } if name == "local"));
        let t = resolve_sc(None, None, Some("remote"), &path).unwrap();
        assert_eq!(t.addr, "10.1.2.3:9003", "`addr` is an alias of `endpoint`");
        let missing = path.with_file_name("nothing-here");
        let t = resolve_sc(None, None, None, &missing).unwrap();
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
        let t = resolve_sc(None, None, Some("ha"), &path).unwrap();
        assert_eq!(t.addr, "10.0.0.1:9003,10.0.0.2:9003,10.0.0.3:9003");
        assert!(resolve_sc(Some("a:1,b:2"), None, None, &path).is_ok());
        let err = resolve_sc(Some("a:1,nonsense"), None, None, &path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a HOST:PORT address"), "{err}");
    }

    #[test]
    fn errors_say_what_to_fix() {
        let (_dir, path) = file();
        let err = resolve_sc(None, None, Some("nope"), &path)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("profile 'nope'") && err.contains("broken, local, remote, secure"),
            "{err}"
        );
        let err = resolve_sc(None, None, Some("broken"), &path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("cluster 'missing'"), "{err}");
        let err = resolve_sc(None, None, Some("secure"), &path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("tls_policy = \"disabled\""), "{err}");
        let err = resolve_sc(Some("nonsense"), None, None, &path)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'nonsense' is not a HOST:PORT address (from --sc)"),
            "{err}"
        );

        std::fs::write(&path, "version = [").unwrap();
        let err = resolve_sc(None, None, None, &path).unwrap_err().to_string();
        assert!(err.contains("not valid TOML"), "{err}");
        let missing = path.with_file_name("nothing-here");
        let err = resolve_sc(None, None, Some("local"), &missing)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no config file"), "{err}");
    }
}
