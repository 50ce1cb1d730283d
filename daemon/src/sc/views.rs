//! The objects clients see, built from the stores: topics, partitions and SPUs as stored,
//! custom SPUs as the custom subset of SPUs, auth tokens without their secret, and (for
//! our own clients) each partition's replication state.

use protocol::sc::{
    AuthTokenSpec, CustomSpuSpec, Metadata, PartitionSpec, PartitionStateSpec, SpuSpec, SpuType,
    TopicSpec,
};

use super::store::{PartitionObj, PartitionStateObj, SpuObj, Stores, TokenObj, TopicObj};

pub fn topic(o: &TopicObj) -> Option<Metadata<TopicSpec>> {
    Some(o.clone())
}

pub fn partition(o: &PartitionObj) -> Option<Metadata<PartitionSpec>> {
    Some(o.clone())
}

/// The state feed carries finished objects already.
pub fn partition_state(o: &PartitionStateObj) -> Option<Metadata<PartitionStateSpec>> {
    Some(o.clone())
}

pub fn spu(o: &SpuObj) -> Option<Metadata<SpuSpec>> {
    Some(o.clone())
}

pub fn custom_spu(o: &SpuObj) -> Option<Metadata<CustomSpuSpec>> {
    (o.spec.spu_type == SpuType::Custom).then(|| {
        Metadata::new(
            o.name.clone(),
            CustomSpuSpec {
                id: o.spec.id,
                public_endpoint: o.spec.public_endpoint.clone(),
                private_endpoint: o.spec.private_endpoint.clone(),
                rack: o.spec.rack.clone(),
                public_endpoint_local: o.spec.public_endpoint_local.clone(),
            },
            o.status.clone(),
        )
    })
}

pub fn token(o: &TokenObj) -> Option<Metadata<AuthTokenSpec>> {
    Some(Metadata::new(
        o.name.clone(),
        o.spec.clone(),
        o.status.clone(),
    ))
}

pub fn topics(s: &Stores) -> Vec<Metadata<TopicSpec>> {
    s.topics.values().filter_map(topic).collect()
}

pub fn partitions(s: &Stores) -> Vec<Metadata<PartitionSpec>> {
    s.partitions.values().filter_map(partition).collect()
}

pub fn partition_states(s: &Stores) -> Vec<Metadata<PartitionStateSpec>> {
    s.partitions
        .values()
        .map(|p| s.partition_state(p))
        .collect()
}

pub fn spus(s: &Stores) -> Vec<Metadata<SpuSpec>> {
    s.spus.values().filter_map(spu).collect()
}

pub fn custom_spus(s: &Stores) -> Vec<Metadata<CustomSpuSpec>> {
    s.spus.values().filter_map(custom_spu).collect()
}

pub fn tokens(s: &Stores) -> Vec<Metadata<AuthTokenSpec>> {
    s.tokens.values().filter_map(token).collect()
}
