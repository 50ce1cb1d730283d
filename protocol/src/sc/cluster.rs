//! The SC cluster API (ours, api key [`SC_CLUSTER_KEY`] on the SC public port): which SCs
//! run on the cluster's metadata store, which one leads and since when, and the store
//! itself. The official client never sends it; our CLI (`fluvio cluster status`) and the
//! TUI's header do. An SC that does not know the key closes the connection, as for any
//! unknown key, so clients ask on a connection of its own.
//!
//! `ScClusterRequest {}` → `ScClusterResponse { backend string, answered_by string,
//! members Vec<ScMember> }`, `ScMember = { id string, public_addr string, private_addr
//! string, started_ms i64, leader bool, leader_since_ms i64 }` (times in ms since the
//! epoch; `leader_since_ms` is 0 for a member that does not lead). Version 1 adds
//! `kafka_brokers Vec<KafkaBroker>` (`KafkaBroker = { spu i32, addr string }`): the
//! Kafka listeners of the SPUs online, so that `fluvio consumer-group` and the TUI find
//! one without being told (the public SPU spec does not carry them: the official client
//! decodes it).

use crate::codec::Version;
use crate::wire_struct;

/// The api key: in the 2000s, with our other own messages, away from Fluvio's.
pub const SC_CLUSTER_KEY: u16 = 2050;
pub const SC_CLUSTER_VERSION: Version = 1;

wire_struct! {
    pub struct ScClusterRequest {}
}

wire_struct! {
    /// One running SC.
    pub struct ScMember {
        pub id: String,
        pub public_addr: String,
        pub private_addr: String,
        pub started_ms: i64,
        pub leader: bool,
        pub leader_since_ms: i64,
    }
}

wire_struct! {
    /// An online SPU's Kafka listener.
    pub struct KafkaBroker {
        pub spu: i32,
        /// `host:port`.
        pub addr: String,
    }
}

wire_struct! {
    pub struct ScClusterResponse {
        /// `local (PATH)` or `etcd://HOST:PORT,.../PREFIX`.
        pub backend: String,
        /// The SC that answered (its public address).
        pub answered_by: String,
        pub members: Vec<ScMember>,
        /// The online SPUs' Kafka listeners, by SPU id (version 1 and up).
        pub kafka_brokers: Vec<KafkaBroker> [1..],
    }
}

impl ScClusterResponse {
    pub fn leader(&self) -> Option<&ScMember> {
        self.members.iter().find(|m| m.leader)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Decode, Encode};

    #[test]
    fn the_answer_round_trips() {
        let answer = ScClusterResponse {
            backend: "etcd://127.0.0.1:2379/fluvio".into(),
            answered_by: "127.0.0.1:9003".into(),
            members: vec![ScMember {
                id: "a".into(),
                public_addr: "127.0.0.1:9003".into(),
                private_addr: "127.0.0.1:9004".into(),
                started_ms: 1,
                leader: true,
                leader_since_ms: 2,
            }],
            kafka_brokers: vec![KafkaBroker {
                spu: 5001,
                addr: "127.0.0.1:9092".into(),
            }],
        };
        let mut bytes = Vec::new();
        answer.encode(&mut bytes, SC_CLUSTER_VERSION).unwrap();
        let back = ScClusterResponse::from_bytes(&bytes, SC_CLUSTER_VERSION).unwrap();
        assert_eq!(back, answer);
        assert_eq!(back.leader().map(|m| m.id.as_str()), Some("a"));
        // Version 0 has no brokers: an older client reads the rest unchanged.
        let mut old = Vec::new();
        answer.encode(&mut old, 0).unwrap();
        let back = ScClusterResponse::from_bytes(&old, 0).unwrap();
        assert!(back.kafka_brokers.is_empty());
        assert_eq!(back.members, answer.members);
    }
}
