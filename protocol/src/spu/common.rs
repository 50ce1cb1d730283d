//! Types shared by several SPU messages (and by the internal API).

use std::fmt;

use crate::{wire_enum, wire_struct};

wire_enum! {
    /// Which records a reader may see, or when a producer's write is acknowledged:
    /// `ReadUncommitted` up to the log end (ack after the leader wrote), `ReadCommitted` up
    /// to the high watermark (ack once the in-sync replicas have it).
    ///
    /// Its own wire form is the `u8` tag StreamFetch uses (0 / 1). Produce carries the same
    /// setting as Kafka-style `acks`, an `i16` (1 / -1): see [`Isolation::acks`] and
    /// [`Isolation::from_acks`], which [`ProduceRequest`](super::ProduceRequest) uses.
    pub enum Isolation: u8 {
        ReadUncommitted = 0,
        ReadCommitted = 1,
    }
}

impl Isolation {
    /// The `i16` a produce request carries: 1 for `ReadUncommitted`, -1 for
    /// `ReadCommitted`.
    pub const fn acks(self) -> i16 {
        match self {
            Isolation::ReadUncommitted => 1,
            Isolation::ReadCommitted => -1,
        }
    }

    /// The isolation a produce request's `i16` names, if it is one of the two the client
    /// sends.
    pub const fn from_acks(acks: i16) -> Option<Self> {
        match acks {
            1 => Some(Isolation::ReadUncommitted),
            -1 => Some(Isolation::ReadCommitted),
            _ => None,
        }
    }
}

wire_struct! {
    /// A partition of a topic: what a replica is a replica of.
    #[derive(Eq, Hash, PartialOrd, Ord)]
    pub struct ReplicaKey {
        pub topic: String,
        pub partition: u32,
    }
}

impl ReplicaKey {
    pub fn new(topic: impl Into<String>, partition: u32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }

    /// Split a partition object name `"<topic>-<partition>"` at its last `-`, as the
    /// official client does.
    pub fn parse(name: &str) -> Option<Self> {
        let (topic, partition) = name.rsplit_once('-')?;
        Some(Self::new(topic, partition.parse().ok()?))
    }
}

/// `"<topic>-<partition>"`, the partition object's name.
impl fmt::Display for ReplicaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// Short collections for arbitrary messages: nested vectors of proptest's default size
/// (up to 100) make property tests slow without finding more.
#[cfg(feature = "arbitrary")]
pub(crate) fn small_vec<T: proptest::arbitrary::Arbitrary>()
-> impl proptest::strategy::Strategy<Value = Vec<T>> {
    proptest::collection::vec(proptest::arbitrary::any::<T>(), 0..4)
}

/// See [`small_vec`].
#[cfg(feature = "arbitrary")]
pub(crate) fn small_map<K, V>()
-> impl proptest::strategy::Strategy<Value = std::collections::BTreeMap<K, V>>
where
    K: proptest::arbitrary::Arbitrary + Ord,
    V: proptest::arbitrary::Arbitrary,
{
    proptest::collection::btree_map(
        proptest::arbitrary::any::<K>(),
        proptest::arbitrary::any::<V>(),
        0..4,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Decode, Encode};

    #[test]
    fn isolation_in_both_encodings() {
        assert_eq!(Isolation::ReadCommitted.to_bytes(0).unwrap(), [1]);
        assert_eq!(Isolation::ReadCommitted.acks(), -1);
        assert_eq!(Isolation::from_acks(1), Some(Isolation::ReadUncommitted));
        assert_eq!(Isolation::from_acks(0), None);
        assert_eq!(Isolation::default(), Isolation::ReadUncommitted);
        for isolation in Isolation::ALL {
            assert_eq!(Isolation::from_acks(isolation.acks()), Some(*isolation));
        }
    }

    #[test]
    fn replica_key_names() {
        let key = ReplicaKey::new("my-topic", 3);
        assert_eq!(key.to_string(), "my-topic-3");
        assert_eq!(ReplicaKey::parse("my-topic-3"), Some(key.clone()));
        assert_eq!(ReplicaKey::parse("nodash"), None);
        assert_eq!(ReplicaKey::parse("t-x"), None);
        let bytes = key.to_bytes(0).unwrap();
        assert_eq!(ReplicaKey::from_bytes(&bytes, 0).unwrap(), key);
    }
}
