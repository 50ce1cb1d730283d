//! The SPU's control link to the SC: [`link`] registers (with a token if configured),
//! follows the control stream, reports offsets and sends heartbeats, reconnecting with
//! backoff; [`replicas`] keeps the SPU directory and the replica assignment that stream
//! carries, which the link hands to the [`ReplicaStore`](super::replica::store::ReplicaStore).

pub mod link;
pub mod replicas;
