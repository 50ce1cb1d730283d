//! The profiles of the official client's config file (`~/.fluvio/config`, or
//! `$FLV_PROFILE_PATH`), edited in place for `fluvio profile`: comments, key order and keys
//! this console does not know (a profile's `topic`, a cluster's `metadata`, `client_id`)
//! come out as they went in, so the file stays the one the official CLI and clients read.
//!
//! The layout is Fluvio's (version "2.0"): `current_profile = "NAME"`, `[profile.NAME]`
//! with `cluster = "CLUSTER"`, and `[cluster.CLUSTER]` with `endpoint`,
//! `use_spu_local_address`, `[cluster.CLUSTER.tls]` (`tls_policy`; for "verified" also
//! `tls_source` and `[cluster.CLUSTER.tls.certs]` with `domain`, `key`, `cert`,
//! `ca_cert`) and optional `[cluster.CLUSTER.metadata]`. Reading which SC a profile names stays in [`crate::config`].

use std::path::{Path, PathBuf};

use serde::Serialize;
use toml_edit::{DocumentMut, Item, Table, TableLike, Value};

use crate::config::{PemSource, TlsSettings};

/// The version Fluvio writes into a new config file.
const CONFIG_VERSION: &str = "2.0";

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot read the config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the config file {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the config file {} is not valid TOML: {source}. Fix or remove it.", path.display())]
    Parse {
        path: PathBuf,
        source: Box<toml_edit::TomlError>,
    },
    #[error(
        "no config file at {}; add a profile with `fluvio profile add NAME HOST:PORT`",
        path.display()
    )]
    NoFile { path: PathBuf },
    #[error("profile '{name}' is not in {}; profiles there: {known}", path.display())]
    UnknownProfile {
        name: String,
        path: PathBuf,
        known: String,
    },
    #[error(
        "profile '{name}' already exists in {}; delete it first or pick another name",
        path.display()
    )]
    Exists { name: String, path: PathBuf },
    #[error("`{key}` in {} is not a table; fix the file by hand", path.display())]
    NotATable { key: String, path: PathBuf },
    #[error("a profile name cannot be empty")]
    EmptyName,
}

/// One row of `profile list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProfileRow {
    pub current: bool,
    pub profile: String,
    pub cluster: String,
    /// Empty when the profile names a cluster the file does not define.
    pub address: String,
    pub tls: String,
    pub installation: String,
}

/// The config file, parsed with its formatting kept.
pub struct ProfileFile {
    path: PathBuf,
    doc: DocumentMut,
}

impl ProfileFile {
    /// Read the file at `path`; `Ok(None)` when there is none.
    pub fn load(path: &Path) -> Result<Option<Self>, ProfileError> {
        let Some(text) =
            crate::config::read_if_exists(path).map_err(|source| ProfileError::Read {
                path: path.to_path_buf(),
                source,
            })?
        else {
            return Ok(None);
        };
        let doc = text
            .parse::<DocumentMut>()
            .map_err(|source| ProfileError::Parse {
                path: path.to_path_buf(),
                source: Box::new(source),
            })?;
        Ok(Some(Self {
            path: path.to_path_buf(),
            doc,
        }))
    }

    /// Read the file at `path`, which must exist.
    pub fn open(path: &Path) -> Result<Self, ProfileError> {
        Self::load(path)?.ok_or_else(|| ProfileError::NoFile {
            path: path.to_path_buf(),
        })
    }

    /// The file at `path`, or a new empty one (written on [`ProfileFile::save`]).
    pub fn open_or_new(path: &Path) -> Result<Self, ProfileError> {
        Ok(Self::load(path)?.unwrap_or_else(|| {
            let mut doc = DocumentMut::new();
            doc.insert("version", toml_edit::value(CONFIG_VERSION));
            Self {
                path: path.to_path_buf(),
                doc,
            }
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's text as it would be saved.
    pub fn text(&self) -> String {
        self.doc.to_string()
    }

    pub fn current(&self) -> Option<&str> {
        self.doc.get("current_profile").and_then(Item::as_str)
    }

    /// Profile names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .doc
            .get("profile")
            .and_then(Item::as_table_like)
            .map(|t| t.iter().map(|(k, _)| k.to_string()).collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Every profile with the cluster it names.
    pub fn rows(&self) -> Vec<ProfileRow> {
        let current = self.current();
        self.names()
            .into_iter()
            .map(|name| {
                let cluster_name = self
                    .profile(&name)
                    .and_then(|p| p.get("cluster"))
                    .and_then(Item::as_str)
                    .unwrap_or_default()
                    .to_string();
                let cluster = self
                    .doc
                    .get("cluster")
                    .and_then(Item::as_table_like)
                    .and_then(|c| c.get(&cluster_name))
                    .and_then(Item::as_table_like);
                let text = |item: Option<&Item>| {
                    item.and_then(Item::as_str).unwrap_or_default().to_string()
                };
                let address = cluster
                    .map(|c| text(c.get("endpoint").or_else(|| c.get("addr"))))
                    .unwrap_or_default();
                let tls = cluster
                    .map(|c| {
                        let policy = text(
                            c.get("tls")
                                .and_then(Item::as_table_like)
                                .and_then(|t| t.get("tls_policy")),
                        );
                        // No `tls` at all means no TLS to the official client too.
                        if policy.is_empty() {
                            "disabled".to_string()
                        } else {
                            policy
                        }
                    })
                    .unwrap_or_default();
                let installation = text(
                    cluster
                        .and_then(|c| c.get("metadata"))
                        .and_then(Item::as_table_like)
                        .and_then(|m| m.get("installation")),
                );
                ProfileRow {
                    current: current == Some(name.as_str()),
                    profile: name,
                    cluster: cluster_name,
                    address,
                    tls,
                    installation,
                }
            })
            .collect()
    }

    /// The whole file as data, for `profile list -O json|yaml|toml`.
    pub fn data(&self) -> serde_json::Value {
        toml::from_str::<toml::Table>(&self.doc.to_string())
            .ok()
            .and_then(|table| serde_json::to_value(table).ok())
            .unwrap_or(serde_json::Value::Null)
    }

    fn profile(&self, name: &str) -> Option<&dyn TableLike> {
        self.doc
            .get("profile")
            .and_then(Item::as_table_like)
            .and_then(|p| p.get(name))
            .and_then(Item::as_table_like)
    }

    fn unknown(&self, name: &str) -> ProfileError {
        let names = self.names();
        ProfileError::UnknownProfile {
            name: name.to_string(),
            path: self.path.clone(),
            known: if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            },
        }
    }

    /// Make `name` the current profile.
    pub fn switch(&mut self, name: &str) -> Result<(), ProfileError> {
        if self.profile(name).is_none() {
            return Err(self.unknown(name));
        }
        set_str(self.doc.as_table_mut(), "current_profile", name);
        Ok(())
    }

    /// Add or update profile `name` and its cluster of the same name, pointing at `addr`
    /// secured per `tls`, and make it current, as Fluvio's `profile add` does. An existing
    /// profile keeps its other keys; an existing cluster its other keys and metadata.
    pub fn add(
        &mut self,
        name: &str,
        addr: &str,
        installation: Option<&str>,
        tls: &TlsSettings,
    ) -> Result<(), ProfileError> {
        if name.is_empty() {
            return Err(ProfileError::EmptyName);
        }
        let path = self.path.clone();
        let clusters = section(self.doc.as_table_mut(), "cluster", &path)?;
        let cluster = section(clusters, name, &path)?;
        set_str(cluster, "endpoint", addr);
        if !cluster.contains_key("use_spu_local_address") {
            cluster.insert("use_spu_local_address", toml_edit::value(false));
        }
        // Certificate settings of an earlier policy would no longer apply.
        let table = section(cluster, "tls", &path)?;
        table.clear();
        write_tls(table, tls, addr);
        if let Some(installation) = installation {
            let metadata = section(cluster, "metadata", &path)?;
            set_str(metadata, "installation", installation);
        }
        let profiles = section(self.doc.as_table_mut(), "profile", &path)?;
        let profile = section(profiles, name, &path)?;
        set_str(profile, "cluster", name);
        set_str(self.doc.as_table_mut(), "current_profile", name);
        Ok(())
    }

    /// Delete profile `name` (its cluster stays, as in Fluvio). `Ok(true)` when it was the
    /// current profile, which is then unset.
    pub fn delete(&mut self, name: &str) -> Result<bool, ProfileError> {
        let removed = self
            .doc
            .get_mut("profile")
            .and_then(Item::as_table_like_mut)
            .and_then(|p| p.remove(name));
        if removed.is_none() {
            return Err(self.unknown(name));
        }
        let was_current = self.current() == Some(name);
        if was_current {
            self.doc.remove("current_profile");
        }
        Ok(was_current)
    }

    /// Rename profile `from` to `to`, keeping its keys and comments; the current profile
    /// follows.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), ProfileError> {
        if to.is_empty() {
            return Err(ProfileError::EmptyName);
        }
        if self.profile(from).is_none() {
            return Err(self.unknown(from));
        }
        if from == to {
            return Ok(());
        }
        if self.profile(to).is_some() {
            return Err(ProfileError::Exists {
                name: to.to_string(),
                path: self.path.clone(),
            });
        }
        let profiles = self
            .doc
            .get_mut("profile")
            .and_then(Item::as_table_like_mut)
            .ok_or_else(|| ProfileError::NotATable {
                key: "profile".into(),
                path: self.path.clone(),
            })?;
        // A table keeps its place in the file (and the comments above it) when moved to
        // another key: its position and decor travel with it.
        if let Some(item) = profiles.remove(from) {
            profiles.insert(to, item);
        }
        if self.current() == Some(from) {
            set_str(self.doc.as_table_mut(), "current_profile", to);
        }
        Ok(())
    }

    /// Write the file: a temporary file beside it, renamed over it, so a crash leaves the
    /// old file or the new one, never half of one.
    pub fn save(&self) -> Result<(), ProfileError> {
        let write_err = |source| ProfileError::Write {
            path: self.path.clone(),
            source,
        };
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(write_err)?;
        }
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        // Profiles may hold TLS keys inline: the file is its owner's only (0600).
        write_owner_only(&tmp, self.doc.to_string().as_bytes()).map_err(write_err)?;
        std::fs::rename(&tmp, &self.path).map_err(|source| {
            let _ = std::fs::remove_file(&tmp);
            write_err(source)
        })
    }
}

/// Write `bytes` to a new `path` created with mode 0600 (a leftover `path` is replaced).
fn write_owner_only(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// The table under `key` in `parent`, made (without a header of its own when it only
/// holds tables) if missing.
fn section<'a>(
    parent: &'a mut Table,
    key: &str,
    path: &Path,
) -> Result<&'a mut Table, ProfileError> {
    let item = parent.entry(key).or_insert_with(|| {
        let mut table = Table::new();
        table.set_implicit(true);
        Item::Table(table)
    });
    item.as_table_mut().ok_or_else(|| ProfileError::NotATable {
        key: key.to_string(),
        path: path.to_path_buf(),
    })
}

/// Set `key` to a string, keeping the comment after the old value.
/// `[cluster.NAME.tls]` in the official layout: `tls_policy`, and for "verified"
/// `tls_source` and a `certs` table (`domain`, `key`, `cert`, `ca_cert`; paths for
/// "files", PEM text for "inline"). The official client requires a domain: without one,
/// the address's host.
fn write_tls(table: &mut Table, tls: &TlsSettings, addr: &str) {
    match tls {
        TlsSettings::Disabled => set_str(table, "tls_policy", "disabled"),
        TlsSettings::Anonymous => set_str(table, "tls_policy", "anonymous"),
        TlsSettings::Verified { domain, ca, client } => {
            set_str(table, "tls_policy", "verified");
            let inline = matches!(ca, PemSource::Inline { .. });
            set_str(table, "tls_source", if inline { "inline" } else { "files" });
            let mut certs = Table::new();
            let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
            set_str(&mut certs, "domain", domain.as_deref().unwrap_or(host));
            let text = |source: Option<&PemSource>| match source {
                None => String::new(),
                Some(PemSource::File(path)) => std::path::absolute(path)
                    .unwrap_or_else(|_| path.clone())
                    .display()
                    .to_string(),
                Some(PemSource::Inline { text, .. }) => text.clone(),
            };
            let (cert, key) = match client {
                Some((cert, key)) => (Some(cert), Some(key)),
                None => (None, None),
            };
            set_str(&mut certs, "key", &text(key));
            set_str(&mut certs, "cert", &text(cert));
            set_str(&mut certs, "ca_cert", &text(Some(ca)));
            table.insert("certs", Item::Table(certs));
        }
    }
}

fn set_str(table: &mut Table, key: &str, text: &str) {
    let mut value = Value::from(text);
    if let Some(old) = table.get(key).and_then(Item::as_value) {
        *value.decor_mut() = old.decor().clone();
    }
    table.insert(key, Item::Value(value));
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"# written by hand
version = "2.0"
current_profile = "local" # the laptop

# the local daemon
[profile.local]
cluster = "local"
topic = "events"

[profile.far]
cluster = "far"

[cluster.local]
endpoint = "127.0.0.1:9003"
use_spu_local_address = false

[cluster.local.tls]
tls_policy = "disabled"

[cluster.local.metadata.custom]
deep = { nesting = 1 }

[cluster.far]
endpoint = "10.0.0.1:9003"
"#;

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn an_untouched_file_is_written_back_byte_for_byte() {
        let (_dir, path) = file(FILE);
        let f = ProfileFile::open(&path).unwrap();
        assert_eq!(f.text(), FILE);
        assert_eq!(f.current(), Some("local"));
        assert_eq!(f.names(), ["far", "local"]);
        let rows = f.rows();
        assert_eq!(rows[1].address, "127.0.0.1:9003");
        assert!(rows[1].current && !rows[0].current);
        assert_eq!(rows[0].tls, "disabled");
    }

    #[test]
    fn switch_and_rename_change_only_their_lines() {
        let (_dir, path) = file(FILE);
        let mut f = ProfileFile::open(&path).unwrap();
        f.switch("far").unwrap();
        assert_eq!(
            f.text(),
            FILE.replace(
                "current_profile = \"local\" # the laptop",
                "current_profile = \"far\" # the laptop"
            )
        );
        f.rename("far", "remote").unwrap();
        f.save().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            FILE.replace(
                "current_profile = \"local\" # the laptop",
                "current_profile = \"remote\" # the laptop"
            )
            .replace("[profile.far]", "[profile.remote]")
        );
        let err = f.switch("nope").unwrap_err().to_string();
        assert!(err.contains("profiles there: local, remote"), "{err}");
        let err = f.rename("local", "remote").unwrap_err().to_string();
        assert!(err.contains("already exists"), "{err}");
    }

    #[test]
    fn delete_unsets_the_current_profile_and_keeps_the_cluster() {
        let (_dir, path) = file(FILE);
        let mut f = ProfileFile::open(&path).unwrap();
        assert!(!f.delete("far").unwrap());
        assert!(f.delete("local").unwrap());
        assert_eq!(f.current(), None);
        assert!(f.text().contains("[cluster.local.metadata.custom]"));
        assert!(f.delete("local").is_err());
    }

    #[test]
    fn add_creates_a_file_in_fluvios_layout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("config");
        let mut f = ProfileFile::open_or_new(&path).unwrap();
        f.add(
            "dev",
            "127.0.0.1:19003",
            Some("local"),
            &TlsSettings::Disabled,
        )
        .unwrap();
        f.save().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "version = \"2.0\"\ncurrent_profile = \"dev\"\n\n\
             [cluster.dev]\nendpoint = \"127.0.0.1:19003\"\nuse_spu_local_address = false\n\n\
             [cluster.dev.tls]\ntls_policy = \"disabled\"\n\n\
             [cluster.dev.metadata]\ninstallation = \"local\"\n\n\
             [profile.dev]\ncluster = \"dev\"\n"
        );
        // The console reads what was written.
        let target = crate::config::resolve_sc(None, None, None, &path, None).unwrap();
        assert_eq!(target.addr, "127.0.0.1:19003");
    }

    #[test]
    fn add_over_an_existing_profile_keeps_its_other_keys() {
        let (_dir, path) = file(FILE);
        let mut f = ProfileFile::open(&path).unwrap();
        f.add("local", "127.0.0.1:9999", None, &TlsSettings::Disabled)
            .unwrap();
        let text = f.text();
        assert!(text.contains("endpoint = \"127.0.0.1:9999\""), "{text}");
        assert!(text.contains("topic = \"events\""), "{text}");
        assert!(text.contains("deep = { nesting = 1 }"), "{text}");
        assert!(
            text.contains("# the local daemon\n[profile.local]"),
            "{text}"
        );
    }

    #[test]
    fn add_with_tls_writes_the_official_layout_the_console_reads_back() {
        let (_dir, path) = file(FILE);
        let mut f = ProfileFile::open(&path).unwrap();
        let verified = TlsSettings::Verified {
            domain: None,
            ca: PemSource::File("/pki/ca.crt".into()),
            client: Some((
                PemSource::File("/pki/alice.crt".into()),
                PemSource::File("/pki/alice.key".into()),
            )),
        };
        f.add("secure", "sc.example:9003", None, &verified).unwrap();
        f.add("anon", "127.0.0.1:9003", None, &TlsSettings::Anonymous)
            .unwrap();
        f.save().unwrap();
        let text = f.text();
        assert!(
            text.contains("[cluster.secure.tls.certs]")
                && text.contains("tls_source = \"files\"")
                && text.contains("domain = \"sc.example\""),
            "{text}"
        );
        let read = |name| {
            crate::config::resolve_sc(None, None, Some(name), &path, None)
                .unwrap()
                .tls
        };
        let TlsSettings::Verified { ca, client, .. } = verified else {
            unreachable!()
        };
        assert_eq!(
            read("secure"),
            TlsSettings::Verified {
                domain: Some("sc.example".into()),
                ca,
                client,
            }
        );
        assert_eq!(read("anon"), TlsSettings::Anonymous);
        let rows = ProfileFile::open(&path).unwrap().rows();
        let secure = rows.iter().find(|r| r.profile == "secure").unwrap();
        assert_eq!(secure.tls, "verified");
    }

    #[test]
    fn bad_files_are_named() {
        let (_dir, path) = file("version = [");
        let err = ProfileFile::open(&path).err().unwrap().to_string();
        assert!(err.contains("not valid TOML"), "{err}");
        let (_dir, path) = file("profile = 3\n");
        let mut f = ProfileFile::open(&path).unwrap();
        let err = f
            .add("x", "h:1", None, &TlsSettings::Disabled)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`profile`") && err.contains("not a table"),
            "{err}"
        );
        let missing = path.with_file_name("none");
        let err = ProfileFile::open(&missing).err().unwrap().to_string();
        assert!(err.contains("fluvio profile add"), "{err}");
    }
}
