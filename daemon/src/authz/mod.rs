//! Who a connection is and what it may do.
//!
//! - [`Principal`]: a connection's identity, derived from its [`Peer`]: the subject of a
//!   verified client certificate (common name as the name, organisational units as roles);
//!   without one, a loopback connection is the local administrator (`local-admin`, or the
//!   policy's `loopback_principal`) and any other connection is `anonymous`.
//! - [`policy`]: the `--authz-policy` file that maps principals and roles to actions per
//!   object kind and per topic (names or `prefix-*` patterns).
//! - [`Authorizer`]: what the services ask, one line per request kind. Without a policy it
//!   allows everything (the zero-config local start); with one, a refusal is logged with
//!   principal, action and object, and comes back as a [`Denied`] whose text the
//!   services send to the client next to the protocol's `PermissionDenied` (13).

pub mod policy;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tracing::warn;

use crate::net::Peer;
pub use policy::{Policy, PolicyError};

/// The principal of a loopback connection without a client certificate, unless the
/// policy names another.
pub const LOCAL_ADMIN: &str = "local-admin";
/// The principal of a non-loopback connection without a client certificate.
pub const ANONYMOUS: &str = "anonymous";

/// The kinds of object the policy speaks of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectKind {
    Topic,
    Partition,
    Spu,
    CustomSpu,
    AuthToken,
    /// Committed consumer offsets (the SPU's consumer-offset APIs).
    ConsumerOffset,
    /// Kafka consumer groups (the Kafka listener's group APIs), named by group id.
    Group,
}

impl ObjectKind {
    pub const ALL: [ObjectKind; 7] = [
        ObjectKind::Topic,
        ObjectKind::Partition,
        ObjectKind::Spu,
        ObjectKind::CustomSpu,
        ObjectKind::AuthToken,
        ObjectKind::ConsumerOffset,
        ObjectKind::Group,
    ];

    /// The name the policy file and the messages use.
    pub fn label(self) -> &'static str {
        match self {
            ObjectKind::Topic => "topic",
            ObjectKind::Partition => "partition",
            ObjectKind::Spu => "spu",
            ObjectKind::CustomSpu => "custom-spu",
            ObjectKind::AuthToken => "auth-token",
            ObjectKind::ConsumerOffset => "consumer-offset",
            ObjectKind::Group => "group",
        }
    }

    pub fn from_label(label: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.label() == label)
    }
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// What a principal asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Create,
    Delete,
    List,
    Watch,
    /// Change an existing object (add partitions to a topic, commit a consumer offset).
    Update,
    /// Append records to a topic.
    Produce,
    /// Read records and offsets of a topic.
    Consume,
    /// Join the cluster as an SPU (with a certificate instead of an auth token).
    Register,
}

impl Action {
    pub const ALL: [Action; 8] = [
        Action::Create,
        Action::Delete,
        Action::List,
        Action::Watch,
        Action::Update,
        Action::Produce,
        Action::Consume,
        Action::Register,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Delete => "delete",
            Action::List => "list",
            Action::Watch => "watch",
            Action::Update => "update",
            Action::Produce => "produce",
            Action::Consume => "consume",
            Action::Register => "register",
        }
    }

    pub fn from_label(label: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.label() == label)
    }

    /// The verb phrase of a refusal: "may not {phrase} topic 'a'".
    fn phrase(self) -> &'static str {
        match self {
            Action::Produce => "produce to",
            Action::Consume => "consume from",
            Action::Register => "register as",
            other => other.label(),
        }
    }

    /// Does this action make sense on `kind`? Produce concerns topics only, consume
    /// topics and consumer groups (taking part in a group, as Kafka's READ on a group),
    /// register concerns SPUs only.
    pub fn applies_to(self, kind: ObjectKind) -> bool {
        match self {
            Action::Produce => kind == ObjectKind::Topic,
            Action::Consume => matches!(kind, ObjectKind::Topic | ObjectKind::Group),
            Action::Register => kind == ObjectKind::Spu,
            _ => true,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A connection's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    /// Roles: the organisational units of the certificate.
    pub roles: Vec<String>,
}

impl Principal {
    /// The principal of `peer`. `loopback` names loopback connections without a
    /// certificate (normally [`LOCAL_ADMIN`]).
    pub fn of(peer: &Peer, loopback: &str) -> Self {
        match &peer.certificate {
            Some(subject) => Principal {
                name: subject.common_name.clone(),
                roles: subject.organizational_units.clone(),
            },
            None if is_loopback(peer.addr.ip()) => Principal::named(loopback),
            None => Principal::named(ANONYMOUS),
        }
    }

    pub fn named(name: &str) -> Self {
        Principal {
            name: name.to_string(),
            roles: Vec::new(),
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// Loopback, including IPv4 loopback mapped into IPv6 (`::ffff:127.0.0.1`), which a
/// dual-stack listener reports.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Who is on a connection: its principal and its address, which every check's refusal
/// log names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub principal: Principal,
    pub peer: SocketAddr,
}

/// A refused request: who, what, on which object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("principal '{principal}' may not {} {kind}{}", action.phrase(), name.as_ref().map(|n| format!(" '{n}'")).unwrap_or_else(|| "s".into()))]
pub struct Denied {
    pub principal: String,
    pub action: Action,
    pub kind: ObjectKind,
    /// The object's name; `None` for a request on the whole kind (list, watch).
    pub name: Option<String>,
}

/// The authorization decisions of one process (shared by its SC and SPU services).
#[derive(Debug, Clone, Default)]
pub struct Authorizer {
    policy: Option<Arc<Policy>>,
}

impl Authorizer {
    /// No policy: everything is allowed.
    pub fn allow_all() -> Self {
        Self { policy: None }
    }

    pub fn with_policy(policy: Policy) -> Self {
        Self {
            policy: Some(Arc::new(policy)),
        }
    }

    /// Is a policy in force?
    pub fn enforcing(&self) -> bool {
        self.policy.is_some()
    }

    /// Would `check` allow this? Without logging a refusal: for listings that leave out
    /// what the principal may not see (Kafka's Metadata hides unauthorized topics).
    pub fn permits(
        &self,
        who: &Identity,
        action: Action,
        kind: ObjectKind,
        name: Option<&str>,
    ) -> bool {
        self.policy
            .as_ref()
            .is_none_or(|policy| policy.allows(&who.principal, action, kind, name))
    }

    /// May `who` do `action` on at least one object of `kind` (any name)? For requests
    /// that name no object but only make sense with one, such as a Kafka producer's
    /// InitProducerId (produce on some topic). A refusal is logged as by [`Self::check`].
    pub fn check_some(
        &self,
        who: &Identity,
        action: Action,
        kind: ObjectKind,
    ) -> Result<(), Denied> {
        let Some(policy) = &self.policy else {
            return Ok(());
        };
        if policy.allows_some(&who.principal, action, kind) {
            return Ok(());
        }
        let denied = Denied {
            principal: who.principal.name.clone(),
            action,
            kind,
            name: None,
        };
        warn!(
            principal = %who.principal.name,
            roles = ?who.principal.roles,
            peer = %who.peer,
            %action,
            object = %format!("{kind} (any)"),
            "authorization refused: {denied}"
        );
        Err(denied)
    }

    /// Who a connection from `peer` is.
    pub fn identify(&self, peer: &Peer) -> Identity {
        let loopback = self
            .policy
            .as_ref()
            .map_or(LOCAL_ADMIN, |p| p.loopback_principal());
        Identity {
            principal: Principal::of(peer, loopback),
            peer: peer.addr,
        }
    }

    /// May `who` do `action` on the object `kind`/`name` (`name` `None`: the whole
    /// kind)? A refusal is logged here, so every caller logs it the same way.
    pub fn check(
        &self,
        who: &Identity,
        action: Action,
        kind: ObjectKind,
        name: Option<&str>,
    ) -> Result<(), Denied> {
        let Some(policy) = &self.policy else {
            return Ok(());
        };
        let principal = &who.principal;
        if policy.allows(principal, action, kind, name) {
            return Ok(());
        }
        let denied = Denied {
            principal: principal.name.clone(),
            action,
            kind,
            name: name.map(str::to_string),
        };
        warn!(
            principal = %principal.name,
            roles = ?principal.roles,
            peer = %who.peer,
            %action,
            object = %format!("{kind} {}", name.unwrap_or("*")),
            "authorization refused: {denied}"
        );
        Err(denied)
    }
}

/// The warning a daemon logs at start for each listener reachable from other machines
/// while it runs without a policy or without TLS; `None` for a loopback listener with
/// nothing exposed.
pub fn exposure_warning(
    listener: &str,
    addr: SocketAddr,
    has_policy: bool,
    has_tls: bool,
) -> Option<String> {
    if is_loopback(addr.ip()) || (has_policy && has_tls) {
        return None;
    }
    let mut gaps = Vec::new();
    if !has_tls {
        gaps.push("without TLS (traffic, auth-token secrets included, travels in clear text; start with --tls-cert and --tls-key)");
    }
    if !has_policy {
        gaps.push("without an authorization policy (anyone who reaches it may create and delete topics, mint auth tokens and read and write every topic; start with --authz-policy FILE)");
    }
    Some(format!(
        "SECURITY: the {listener} listener on {addr} is reachable from other machines {}",
        gaps.join(" and ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::CertificateSubject;

    fn peer(addr: &str, cn: Option<(&str, &[&str])>) -> Peer {
        Peer {
            addr: addr.parse().unwrap(),
            certificate: cn.map(|(cn, ous)| CertificateSubject {
                common_name: cn.into(),
                organizational_units: ous.iter().map(|s| s.to_string()).collect(),
            }),
        }
    }

    #[test]
    fn principals_come_from_the_certificate_or_the_address() {
        let p = Principal::of(
            &peer("10.1.2.3:5000", Some(("reader", &["ops"]))),
            LOCAL_ADMIN,
        );
        assert_eq!(p.name, "reader");
        assert_eq!(p.roles, vec!["ops".to_string()]);
        // A certificate wins over the loopback address.
        let p = Principal::of(&peer("127.0.0.1:5000", Some(("admin", &[]))), LOCAL_ADMIN);
        assert_eq!(p.name, "admin");
        assert_eq!(
            Principal::of(&peer("127.0.0.1:5000", None), LOCAL_ADMIN).name,
            LOCAL_ADMIN
        );
        assert_eq!(
            Principal::of(&peer("[::1]:5000", None), LOCAL_ADMIN).name,
            LOCAL_ADMIN
        );
        assert_eq!(
            Principal::of(&peer("[::ffff:127.0.0.1]:5000", None), LOCAL_ADMIN).name,
            LOCAL_ADMIN
        );
        assert_eq!(
            Principal::of(&peer("127.0.0.1:5000", None), "ops").name,
            "ops"
        );
        assert_eq!(
            Principal::of(&peer("192.168.1.9:5000", None), LOCAL_ADMIN).name,
            ANONYMOUS
        );
        assert_eq!(
            Principal::of(&peer("[2001:db8::1]:5000", None), LOCAL_ADMIN).name,
            ANONYMOUS
        );
    }

    #[test]
    fn refusals_name_principal_action_and_object() {
        let d = Denied {
            principal: "reader".into(),
            action: Action::Produce,
            kind: ObjectKind::Topic,
            name: Some("a".into()),
        };
        assert_eq!(
            d.to_string(),
            "principal 'reader' may not produce to topic 'a'"
        );
        let d = Denied {
            principal: "anonymous".into(),
            action: Action::List,
            kind: ObjectKind::AuthToken,
            name: None,
        };
        assert_eq!(
            d.to_string(),
            "principal 'anonymous' may not list auth-tokens"
        );
    }

    #[test]
    fn no_policy_allows_everything() {
        let authz = Authorizer::allow_all();
        let anyone = authz.identify(&peer("10.0.0.1:1", None));
        assert_eq!(anyone.principal.name, ANONYMOUS);
        for action in Action::ALL {
            for kind in ObjectKind::ALL {
                assert!(authz.check(&anyone, action, kind, Some("x")).is_ok());
            }
        }
    }

    #[test]
    fn exposure_warnings_say_what_is_open() {
        let lo = "127.0.0.1:9003".parse().unwrap();
        let any = "0.0.0.0:9003".parse().unwrap();
        assert_eq!(exposure_warning("SC public", lo, false, false), None);
        assert_eq!(exposure_warning("SC public", any, true, true), None);
        let both = exposure_warning("SC public", any, false, false).unwrap();
        assert!(both.contains("0.0.0.0:9003") && both.contains("without TLS"));
        assert!(both.contains("--authz-policy"));
        let tls_only = exposure_warning("SC public", any, true, false).unwrap();
        assert!(!tls_only.contains("--authz-policy"));
    }
}
