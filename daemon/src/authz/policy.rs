//! The authorization policy file (`--authz-policy FILE`, JSON or TOML by extension).
//!
//! ```toml
//! # Who loopback connections without a client certificate are (default: local-admin).
//! loopback_principal = "local-admin"
//!
//! [principals.admin]
//! objects = { "*" = ["*"] }          # every action on every kind
//! topics = { "*" = ["*"] }           # every action on every topic
//!
//! [principals.reader]
//! objects = { topic = ["list", "watch"], partition = ["list", "watch"], spu = ["list", "watch"] }
//! topics = { "a" = ["consume"], "orders-*" = ["produce", "consume"] }
//!
//! [roles.spus]                       # certificate OU=spus
//! spus = { "5002" = ["register"] }
//!
//! [principals.app]                   # a Kafka client in consumer group "app-*"
//! topics = { "orders" = ["consume"] }
//! groups = { "app-*" = ["consume", "list"] }
//! ```
//!
//! A grant under `principals.NAME` applies to the principal NAME, under `roles.NAME` to
//! every principal with that role. `objects` maps a kind (topic, partition, spu,
//! custom-spu, auth-token, consumer-offset, group, or `*`) to the actions allowed on every
//! object of it; `topics`, `spus` and `groups` (Kafka consumer group ids) map names or `prefix*` patterns to the actions allowed on the
//! matching objects. Nothing is allowed that no grant allows. The file is checked whole at
//! start: an unknown kind, action or key is an error naming it, so a typo cannot silently
//! open or close anything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Action, ObjectKind, Principal};

/// Why a policy file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read the authorization policy {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the authorization policy {} must end in .json or .toml (that is how its format is chosen)",
        path.display()
    )]
    Extension { path: PathBuf },
    #[error("the authorization policy {} is not valid {format}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        format: &'static str,
        message: String,
    },
    #[error("the authorization policy {}: {problem}", path.display())]
    Invalid { path: PathBuf, problem: String },
}

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    loopback_principal: Option<String>,
    #[serde(default)]
    principals: BTreeMap<String, GrantFile>,
    #[serde(default)]
    roles: BTreeMap<String, GrantFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantFile {
    #[serde(default)]
    objects: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    topics: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    spus: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    groups: BTreeMap<String, Vec<String>>,
}

/// A name pattern: exact, `prefix*`, or `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Exact(String),
    Prefix(String),
}

impl Pattern {
    fn parse(text: &str) -> Result<Self, String> {
        match text.find('*') {
            None if text.is_empty() => Err("an empty name pattern".into()),
            None => Ok(Pattern::Exact(text.to_string())),
            Some(at) if at + 1 == text.len() => Ok(Pattern::Prefix(text[..at].to_string())),
            Some(_) => Err(format!(
                "pattern '{text}': '*' may only end a pattern (e.g. 'orders-*')"
            )),
        }
    }

    fn matches(&self, name: &str) -> bool {
        match self {
            Pattern::Exact(exact) => exact == name,
            Pattern::Prefix(prefix) => name.starts_with(prefix.as_str()),
        }
    }
}

/// One checked grant.
#[derive(Debug, Default, Clone)]
struct Grant {
    /// Actions on every object of a kind.
    kinds: BTreeMap<ObjectKind, BTreeSet<Action>>,
    topics: Vec<(Pattern, BTreeSet<Action>)>,
    spus: Vec<(Pattern, BTreeSet<Action>)>,
    groups: Vec<(Pattern, BTreeSet<Action>)>,
}

impl Grant {
    fn allows(&self, action: Action, kind: ObjectKind, name: Option<&str>) -> bool {
        self.allows_kind(action, kind)
            || name.is_some_and(|name| {
                self.named(kind)
                    .iter()
                    .any(|(pattern, actions)| actions.contains(&action) && pattern.matches(name))
            })
    }

    /// Does this grant allow `action` on at least one object of `kind`?
    fn allows_some(&self, action: Action, kind: ObjectKind) -> bool {
        self.allows_kind(action, kind)
            || self
                .named(kind)
                .iter()
                .any(|(_, actions)| actions.contains(&action))
    }

    /// `action` on every object of `kind`.
    fn allows_kind(&self, action: Action, kind: ObjectKind) -> bool {
        self.kinds.get(&kind).is_some_and(|a| a.contains(&action))
    }

    /// The grants by name for `kind`; none for kinds the file does not name objects of.
    fn named(&self, kind: ObjectKind) -> &[(Pattern, BTreeSet<Action>)] {
        match kind {
            ObjectKind::Topic => &self.topics,
            ObjectKind::Spu => &self.spus,
            ObjectKind::Group => &self.groups,
            _ => &[],
        }
    }
}

/// A checked policy.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    loopback_principal: Option<String>,
    principals: BTreeMap<String, Grant>,
    roles: BTreeMap<String, Grant>,
}

impl Policy {
    /// Read and check the policy at `path`.
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("json") => Format::Json,
            Some(e) if e.eq_ignore_ascii_case("toml") => Format::Toml,
            _ => {
                return Err(PolicyError::Extension {
                    path: path.to_path_buf(),
                });
            }
        };
        Self::parse(&text, format).map_err(|err| match err {
            ParseError::Syntax(format, message) => PolicyError::Syntax {
                path: path.to_path_buf(),
                format,
                message,
            },
            ParseError::Invalid(problem) => PolicyError::Invalid {
                path: path.to_path_buf(),
                problem,
            },
        })
    }

    /// Parse and check policy text.
    pub fn parse(text: &str, format: Format) -> Result<Self, ParseError> {
        let file: PolicyFile = match format {
            Format::Json => {
                serde_json::from_str(text).map_err(|e| ParseError::Syntax("JSON", e.to_string()))?
            }
            Format::Toml => {
                toml::from_str(text).map_err(|e| ParseError::Syntax("TOML", e.to_string()))?
            }
        };
        let grants = |map: BTreeMap<String, GrantFile>, what: &str| {
            map.into_iter()
                .map(|(name, grant)| {
                    check_grant(grant)
                        .map(|g| (name.clone(), g))
                        .map_err(|p| ParseError::Invalid(format!("{what} '{name}': {p}")))
                })
                .collect::<Result<BTreeMap<_, _>, _>>()
        };
        if let Some(name) = &file.loopback_principal
            && name.trim().is_empty()
        {
            return Err(ParseError::Invalid(
                "loopback_principal is empty; name a principal or leave the key out".into(),
            ));
        }
        Ok(Policy {
            loopback_principal: file.loopback_principal,
            principals: grants(file.principals, "principal")?,
            roles: grants(file.roles, "role")?,
        })
    }

    /// Who loopback connections without a certificate are.
    pub fn loopback_principal(&self) -> &str {
        self.loopback_principal
            .as_deref()
            .unwrap_or(super::LOCAL_ADMIN)
    }

    /// Does any grant of the principal or of one of its roles allow this?
    pub fn allows(
        &self,
        principal: &Principal,
        action: Action,
        kind: ObjectKind,
        name: Option<&str>,
    ) -> bool {
        let own = self.principals.get(&principal.name);
        let roles = principal.roles.iter().filter_map(|r| self.roles.get(r));
        own.into_iter()
            .chain(roles)
            .any(|grant| grant.allows(action, kind, name))
    }

    /// Does any grant of the principal or its roles allow `action` on some object of
    /// `kind`, whatever its name?
    pub fn allows_some(&self, principal: &Principal, action: Action, kind: ObjectKind) -> bool {
        let own = self.principals.get(&principal.name);
        let roles = principal.roles.iter().filter_map(|r| self.roles.get(r));
        own.into_iter()
            .chain(roles)
            .any(|grant| grant.allows_some(action, kind))
    }
}

/// The policy file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Toml,
}

/// Why policy text is not a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("not valid {0}: {1}")]
    Syntax(&'static str, String),
    #[error("{0}")]
    Invalid(String),
}

fn kind_names() -> String {
    let mut names: Vec<_> = ObjectKind::ALL.iter().map(|k| k.label()).collect();
    names.push("*");
    names.join(", ")
}

fn action_names() -> String {
    let mut names: Vec<_> = Action::ALL.iter().map(|a| a.label()).collect();
    names.push("*");
    names.join(", ")
}

/// The actions named in `list` that apply to `kind` (`*`: all of them).
fn actions(list: &[String], kind: ObjectKind) -> Result<BTreeSet<Action>, String> {
    let mut set = BTreeSet::new();
    for label in list {
        if label == "*" {
            set.extend(Action::ALL.into_iter().filter(|a| a.applies_to(kind)));
            continue;
        }
        let action = Action::from_label(label).ok_or_else(|| {
            format!(
                "unknown action '{label}' for {kind}; valid actions: {}",
                action_names()
            )
        })?;
        if !action.applies_to(kind) {
            return Err(format!("action '{label}' does not apply to {kind}"));
        }
        set.insert(action);
    }
    Ok(set)
}

fn check_grant(grant: GrantFile) -> Result<Grant, String> {
    let mut kinds: BTreeMap<ObjectKind, BTreeSet<Action>> = BTreeMap::new();
    for (label, list) in &grant.objects {
        let targets: Vec<ObjectKind> = if label == "*" {
            ObjectKind::ALL.to_vec()
        } else {
            vec![ObjectKind::from_label(label).ok_or_else(|| {
                format!(
                    "unknown object kind '{label}'; valid kinds: {}",
                    kind_names()
                )
            })?]
        };
        for kind in targets {
            // `"*" = ["produce"]` means produce wherever it applies, not an error.
            let applicable: Vec<String> = if label == "*" {
                list.iter()
                    .filter(|a| {
                        *a == "*" || Action::from_label(a).is_none_or(|a| a.applies_to(kind))
                    })
                    .cloned()
                    .collect()
            } else {
                list.clone()
            };
            kinds
                .entry(kind)
                .or_default()
                .extend(actions(&applicable, kind)?);
        }
    }
    let named = |map: &BTreeMap<String, Vec<String>>, kind: ObjectKind| {
        map.iter()
            .map(|(pattern, list)| Ok((Pattern::parse(pattern)?, actions(list, kind)?)))
            .collect::<Result<Vec<_>, String>>()
    };
    Ok(Grant {
        kinds,
        topics: named(&grant.topics, ObjectKind::Topic)?,
        spus: named(&grant.spus, ObjectKind::Spu)?,
        groups: named(&grant.groups, ObjectKind::Group)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const READER_TOML: &str = r#"
        [principals.admin]
        objects = { "*" = ["*"] }
        topics = { "*" = ["*"] }

        [principals.reader]
        objects = { topic = ["list", "watch"], partition = ["list", "watch"], spu = ["list", "watch"] }
        topics = { "a" = ["consume"], "orders-*" = ["produce", "consume"] }

        [roles.spus]
        spus = { "5002" = ["register"] }
    "#;

    fn p(name: &str, roles: &[&str]) -> Principal {
        Principal {
            name: name.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn reader_consumes_a_but_neither_produces_nor_creates() {
        let policy = Policy::parse(READER_TOML, Format::Toml).unwrap();
        let reader = p("reader", &[]);
        use Action::*;
        use ObjectKind::*;
        assert!(policy.allows(&reader, Consume, Topic, Some("a")));
        assert!(!policy.allows(&reader, Produce, Topic, Some("a")));
        assert!(!policy.allows(&reader, Create, Topic, Some("b")));
        assert!(!policy.allows(&reader, Consume, Topic, Some("ab")));
        assert!(policy.allows(&reader, List, Topic, None));
        assert!(policy.allows(&reader, Watch, Partition, None));
        assert!(!policy.allows(&reader, List, AuthToken, None));
        assert!(policy.allows(&reader, Produce, Topic, Some("orders-eu")));
        assert!(!policy.allows(&reader, Produce, Topic, Some("orders")));

        let admin = p("admin", &[]);
        for action in Action::ALL {
            for kind in ObjectKind::ALL {
                assert_eq!(
                    policy.allows(&admin, action, kind, Some("x")),
                    action.applies_to(kind),
                    "{action} {kind}"
                );
            }
        }
        // Nobody else, not even the local administrator, gets anything ungranted.
        assert!(!policy.allows(&p("local-admin", &[]), List, Topic, None));
        assert!(!policy.allows(&p("anonymous", &[]), Consume, Topic, Some("a")));
    }

    #[test]
    fn groups_are_granted_by_name_and_some_answers_for_any_name() {
        let policy = Policy::parse(
            r#"
            [principals.app]
            topics = { "orders" = ["consume"], "out-*" = ["produce"] }
            groups = { "app-*" = ["consume", "list"] }
            [principals.viewer]
            objects = { group = ["list"] }
            "#,
            Format::Toml,
        )
        .unwrap();
        use Action::*;
        use ObjectKind::*;
        let app = p("app", &[]);
        assert!(policy.allows(&app, Consume, Group, Some("app-1")));
        assert!(!policy.allows(&app, Consume, Group, Some("other")));
        assert!(!policy.allows(&app, Delete, Group, Some("app-1")));
        assert!(policy.allows(&p("viewer", &[]), List, Group, Some("any")));
        assert!(!policy.allows(&p("viewer", &[]), Consume, Group, Some("any")));
        // InitProducerId asks: may it produce anywhere at all?
        assert!(policy.allows_some(&app, Produce, Topic));
        assert!(!policy.allows_some(&p("viewer", &[]), Produce, Topic));
        let err = Policy::parse(
            "[principals.a]\ngroups = { g = [\"produce\"] }",
            Format::Toml,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("does not apply to group"), "{err}");
    }

    #[test]
    fn roles_grant_through_organisational_units() {
        let policy = Policy::parse(READER_TOML, Format::Toml).unwrap();
        use Action::*;
        assert!(policy.allows(
            &p("spu-2", &["spus"]),
            Register,
            ObjectKind::Spu,
            Some("5002")
        ));
        assert!(!policy.allows(
            &p("spu-2", &["spus"]),
            Register,
            ObjectKind::Spu,
            Some("5003")
        ));
        assert!(!policy.allows(&p("spu-2", &[]), Register, ObjectKind::Spu, Some("5002")));
    }

    #[test]
    fn json_is_the_same_policy() {
        let json = r#"{
            "loopback_principal": "reader",
            "principals": {
                "reader": { "topics": { "a": ["consume"] } }
            }
        }"#;
        let policy = Policy::parse(json, Format::Json).unwrap();
        assert_eq!(policy.loopback_principal(), "reader");
        assert!(policy.allows(
            &p("reader", &[]),
            Action::Consume,
            ObjectKind::Topic,
            Some("a")
        ));
        assert_eq!(
            Policy::parse("", Format::Toml)
                .unwrap()
                .loopback_principal(),
            "local-admin"
        );
    }

    #[test]
    fn mistakes_are_named() {
        let err = |text: &str| Policy::parse(text, Format::Toml).unwrap_err().to_string();
        assert!(
            err("[principals.a]\nobjects = { topik = [\"list\"] }")
                .contains("unknown object kind 'topik'")
        );
        assert!(
            err("[principals.a]\nobjects = { topic = [\"lst\"] }").contains("unknown action 'lst'")
        );
        assert!(
            err("[principals.a]\nobjects = { spu = [\"produce\"] }")
                .contains("does not apply to spu")
        );
        assert!(
            err("[principals.a]\ntopics = { \"a*b\" = [\"consume\"] }").contains("may only end")
        );
        assert!(err("[principals.a]\ntopic = { a = [\"consume\"] }").contains("unknown field"));
        assert!(err("loopback_principal = \" \"").contains("loopback_principal is empty"));
        assert!(err("[principals.a").contains("not valid TOML"));
        assert!(
            Policy::parse("{", Format::Json)
                .unwrap_err()
                .to_string()
                .contains("not valid JSON")
        );
    }

    #[test]
    fn files_choose_their_format_by_extension() {
        let dir = tempfile::tempdir().unwrap();
        let toml_path = dir.path().join("policy.toml");
        std::fs::write(&toml_path, READER_TOML).unwrap();
        assert!(Policy::load(&toml_path).is_ok());
        let yaml = dir.path().join("policy.yaml");
        std::fs::write(&yaml, READER_TOML).unwrap();
        assert!(matches!(
            Policy::load(&yaml),
            Err(PolicyError::Extension { .. })
        ));
        let missing = dir.path().join("none.toml");
        let err = Policy::load(&missing).unwrap_err().to_string();
        assert!(err.contains("none.toml"), "{err}");
    }
}
