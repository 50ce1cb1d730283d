//! Kafka consumer groups as the cluster's Kafka listener reports them: the groups, their
//! members and assignments, their committed offsets and the lag behind each partition's
//! log end. The console reads them through the Kafka APIs the SPUs already serve
//! (FindCoordinator, ListGroups, DescribeGroups, OffsetFetch, Metadata, ListOffsets), so
//! what it shows is exactly what a Kafka client of the group would see.
//!
//! The connection is a minimal Kafka client of our own: one request at a time, at
//! non-flexible versions every Kafka broker since 2.0 serves (request header v1, response
//! header v0), so no tagged-field handling is needed. Plaintext only.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, BrokerId, ConsumerProtocolAssignment, DescribeGroupsRequest, DescribeGroupsResponse,
    FindCoordinatorRequest, FindCoordinatorResponse, ListGroupsRequest, ListGroupsResponse,
    ListOffsetsRequest, ListOffsetsResponse, MetadataRequest, MetadataResponse, OffsetFetchRequest,
    OffsetFetchResponse, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long one request may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The client id the listener logs for our connections.
const CLIENT_ID: &str = "fluvio-console";

/// What went wrong asking the Kafka listener about consumer groups.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KafkaError {
    #[error("cannot reach a Kafka listener at {addr}: {reason}")]
    Unreachable { addr: String, reason: String },
    #[error("the Kafka listener at {addr} did not answer within {secs} s")]
    Timeout { addr: String, secs: u64 },
    #[error("the Kafka listener at {addr} sent a response this client cannot read: {reason}")]
    BadResponse { addr: String, reason: String },
    #[error("the Kafka listener at {addr} refused {api}: Kafka error {code}{}",
        message.as_ref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Refused {
        addr: String,
        api: &'static str,
        code: i16,
        message: Option<String>,
    },
    #[error("consumer group \"{group}\" does not exist")]
    UnknownGroup { group: String },
    #[error("the cluster at {sc} names no Kafka listener: no SPU online serves Kafka")]
    NoListener { sc: String },
}

/// One group of `ListGroups` with its state and member count from `DescribeGroups`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupSummary {
    pub group: String,
    /// `Stable`, `PreparingRebalance`, `CompletingRebalance`, `Empty`, `Dead`.
    pub state: String,
    /// The assignor the members agreed on (`range`, `roundrobin`, ...); empty while none.
    pub protocol: String,
    /// The protocol type (`consumer` for Kafka consumers).
    pub protocol_type: String,
    pub members: usize,
}

/// A member of a group and the partitions assigned to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupMember {
    pub member_id: String,
    pub client_id: String,
    pub host: String,
    /// Sorted by topic and partition.
    pub assignment: Vec<TopicPartition>,
}

/// A partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

/// A partition the group committed an offset for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupOffset {
    pub topic: String,
    pub partition: i32,
    /// Kafka's meaning: the next offset the group will read.
    pub committed: i64,
    /// The partition's log end (high watermark), if its leader answered.
    pub log_end: Option<i64>,
    /// `log_end - committed`, at least 0.
    pub lag: Option<i64>,
    /// The client id of the member the partition is assigned to, if any.
    pub owner: Option<String>,
}

/// Everything `consumer-group describe` shows of one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupDescription {
    pub group: String,
    pub state: String,
    pub protocol: String,
    pub protocol_type: String,
    /// The coordinator's broker (SPU) id.
    pub coordinator: i32,
    pub members: Vec<GroupMember>,
    pub offsets: Vec<GroupOffset>,
}

/// One plaintext Kafka connection, a request at a time.
struct Conn {
    addr: String,
    stream: TcpStream,
    correlation: i32,
}

impl Conn {
    async fn open(addr: &str) -> Result<Self, KafkaError> {
        let stream = tokio::time::timeout(TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| KafkaError::Timeout {
                addr: addr.to_string(),
                secs: TIMEOUT.as_secs(),
            })?
            .map_err(|err| KafkaError::Unreachable {
                addr: addr.to_string(),
                reason: err.to_string(),
            })?;
        Ok(Self {
            addr: addr.to_string(),
            stream,
            correlation: 0,
        })
    }

    fn bad(&self, reason: impl std::fmt::Display) -> KafkaError {
        KafkaError::BadResponse {
            addr: self.addr.clone(),
            reason: reason.to_string(),
        }
    }

    /// Send `request` as `key` at `version` (non-flexible) and read its response.
    async fn call<Q: Encodable, R: Decodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        request: &Q,
    ) -> Result<R, KafkaError> {
        self.correlation += 1;
        let mut frame = BytesMut::new();
        frame.put_i32(0);
        frame.put_i16(key as i16);
        frame.put_i16(version);
        frame.put_i32(self.correlation);
        frame.put_i16(CLIENT_ID.len() as i16);
        frame.put_slice(CLIENT_ID.as_bytes());
        request
            .encode(&mut frame, version)
            .map_err(|err| self.bad(format!("cannot encode the request: {err}")))?;
        let size = (frame.len() - 4) as i32;
        frame[..4].copy_from_slice(&size.to_be_bytes());
        let addr = self.addr.clone();
        let exchange = async {
            self.stream.write_all(&frame).await?;
            let size = self.stream.read_i32().await?;
            let mut body = vec![0; size.max(0) as usize];
            self.stream.read_exact(&mut body).await?;
            Ok::<_, std::io::Error>(Bytes::from(body))
        };
        let mut body = tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| KafkaError::Timeout {
                addr: addr.clone(),
                secs: TIMEOUT.as_secs(),
            })?
            .map_err(|err| KafkaError::Unreachable {
                addr,
                reason: err.to_string(),
            })?;
        if body.remaining() < 4 || body.get_i32() != self.correlation {
            return Err(self.bad("the correlation id does not match the request"));
        }
        R::decode(&mut body, version).map_err(|err| self.bad(err))
    }

    fn refused(&self, api: &'static str, code: i16, message: Option<&StrBytes>) -> KafkaError {
        KafkaError::Refused {
            addr: self.addr.clone(),
            api,
            code,
            message: message.map(|m| m.to_string()),
        }
    }
}

/// Connect to the coordinator of the groups (the leader of `consumer-offset-0`), found
/// through the listener at `bootstrap`.
async fn coordinator(bootstrap: &str) -> Result<(Conn, i32), KafkaError> {
    let mut conn = Conn::open(bootstrap).await?;
    let request = FindCoordinatorRequest::default()
        .with_key(StrBytes::from_static_str("fluvio-console"))
        .with_key_type(0);
    let found: FindCoordinatorResponse = conn.call(ApiKey::FindCoordinator, 2, &request).await?;
    if found.error_code != 0 {
        return Err(conn.refused(
            "FindCoordinator",
            found.error_code,
            found.error_message.as_ref(),
        ));
    }
    let addr = format!("{}:{}", found.host, found.port);
    let node = found.node_id.0;
    if addr == bootstrap {
        return Ok((conn, node));
    }
    Ok((Conn::open(&addr).await?, node))
}

/// The groups the coordinator knows, with their states and member counts, by name.
pub async fn list_groups(bootstrap: &str) -> Result<Vec<GroupSummary>, KafkaError> {
    let (mut conn, _) = coordinator(bootstrap).await?;
    let listed: ListGroupsResponse = conn
        .call(ApiKey::ListGroups, 2, &ListGroupsRequest::default())
        .await?;
    if listed.error_code != 0 {
        return Err(conn.refused("ListGroups", listed.error_code, None));
    }
    let names: Vec<_> = listed.groups.iter().map(|g| g.group_id.clone()).collect();
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let described: DescribeGroupsResponse = conn
        .call(
            ApiKey::DescribeGroups,
            2,
            &DescribeGroupsRequest::default().with_groups(names),
        )
        .await?;
    let mut groups: Vec<GroupSummary> = described
        .groups
        .iter()
        .filter(|g| g.error_code == 0)
        .map(|g| GroupSummary {
            group: g.group_id.to_string(),
            state: g.group_state.to_string(),
            protocol: g.protocol_data.to_string(),
            protocol_type: g.protocol_type.to_string(),
            members: g.members.len(),
        })
        .collect();
    groups.sort_by(|a, b| a.group.cmp(&b.group));
    Ok(groups)
}

/// One group: its members with their assignments and its committed offsets with the lag
/// behind each partition's log end.
pub async fn describe_group(bootstrap: &str, group: &str) -> Result<GroupDescription, KafkaError> {
    let (mut conn, coordinator) = coordinator(bootstrap).await?;
    let request = DescribeGroupsRequest::default()
        .with_groups(vec![StrBytes::from_string(group.to_string()).into()]);
    let described: DescribeGroupsResponse = conn.call(ApiKey::DescribeGroups, 2, &request).await?;
    let Some(g) = described.groups.first() else {
        return Err(conn.bad("DescribeGroups answered with no group"));
    };
    if g.error_code != 0 {
        return Err(conn.refused("DescribeGroups", g.error_code, None));
    }
    let members: Vec<GroupMember> = g
        .members
        .iter()
        .map(|m| GroupMember {
            member_id: m.member_id.to_string(),
            client_id: m.client_id.to_string(),
            host: m.client_host.to_string(),
            assignment: assignment(&m.member_assignment),
        })
        .collect();
    let fetch = OffsetFetchRequest::default()
        .with_group_id(StrBytes::from_string(group.to_string()).into())
        .with_topics(None);
    let fetched: OffsetFetchResponse = conn.call(ApiKey::OffsetFetch, 3, &fetch).await?;
    if fetched.error_code != 0 {
        return Err(conn.refused("OffsetFetch", fetched.error_code, None));
    }
    let mut committed: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for t in &fetched.topics {
        for p in &t.partitions {
            if p.error_code == 0 && p.committed_offset >= 0 {
                committed.insert((t.name.to_string(), p.partition_index), p.committed_offset);
            }
        }
    }
    // Kafka answers an unknown group as Dead with no members and no offsets.
    if g.group_state.as_str() == "Dead" && members.is_empty() && committed.is_empty() {
        return Err(KafkaError::UnknownGroup {
            group: group.to_string(),
        });
    }
    let ends = log_ends(&mut conn, committed.keys()).await?;
    let owners: BTreeMap<(String, i32), String> = members
        .iter()
        .flat_map(|m| {
            m.assignment
                .iter()
                .map(|tp| ((tp.topic.clone(), tp.partition), m.client_id.clone()))
        })
        .collect();
    let offsets = committed
        .into_iter()
        .map(|(key, committed)| {
            let log_end = ends.get(&key).copied();
            GroupOffset {
                owner: owners.get(&key).cloned(),
                topic: key.0,
                partition: key.1,
                committed,
                log_end,
                lag: log_end.map(|end| (end - committed).max(0)),
            }
        })
        .collect();
    Ok(GroupDescription {
        group: g.group_id.to_string(),
        state: g.group_state.to_string(),
        protocol: g.protocol_data.to_string(),
        protocol_type: g.protocol_type.to_string(),
        coordinator,
        members,
        offsets,
    })
}

/// The partitions in a member's assignment (the consumer protocol's layout: a version,
/// then topics with their partitions); none when it is not a consumer assignment.
fn assignment(bytes: &Bytes) -> Vec<TopicPartition> {
    let mut buf = bytes.clone();
    if buf.remaining() < 2 {
        return Vec::new();
    }
    let version = buf.get_i16();
    let Ok(decoded) = ConsumerProtocolAssignment::decode(&mut buf, version.clamp(0, 3)) else {
        return Vec::new();
    };
    let mut out: Vec<TopicPartition> = decoded
        .assigned_partitions
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| TopicPartition {
                topic: t.topic.to_string(),
                partition: *p,
            })
        })
        .collect();
    out.sort();
    out
}

/// The log end of each partition, asked of its leader; partitions whose leader cannot be
/// reached or does not answer are left out (their lag is unknown).
async fn log_ends<'a>(
    conn: &mut Conn,
    keys: impl Iterator<Item = &'a (String, i32)>,
) -> Result<BTreeMap<(String, i32), i64>, KafkaError> {
    let mut topics: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for (t, p) in keys {
        topics.entry(t.clone()).or_default().push(*p);
    }
    let mut ends = BTreeMap::new();
    if topics.is_empty() {
        return Ok(ends);
    }
    let request = MetadataRequest::default().with_topics(Some(
        topics
            .keys()
            .map(|t| {
                MetadataRequestTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_string(t.clone()))))
            })
            .collect(),
    ));
    let metadata: MetadataResponse = conn.call(ApiKey::Metadata, 1, &request).await?;
    let brokers: BTreeMap<i32, String> = metadata
        .brokers
        .iter()
        .map(|b| (b.node_id.0, format!("{}:{}", b.host, b.port)))
        .collect();
    // leader address -> topic -> partitions
    let mut by_leader: BTreeMap<String, BTreeMap<String, Vec<i32>>> = BTreeMap::new();
    for t in &metadata.topics {
        let Some(name) = &t.name else { continue };
        let Some(wanted) = topics.get(name.as_str()) else {
            continue;
        };
        for p in &t.partitions {
            if !wanted.contains(&p.partition_index) {
                continue;
            }
            if let Some(addr) = brokers.get(&p.leader_id.0) {
                by_leader
                    .entry(addr.clone())
                    .or_default()
                    .entry(name.to_string())
                    .or_default()
                    .push(p.partition_index);
            }
        }
    }
    for (addr, topics) in by_leader {
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(
                topics
                    .iter()
                    .map(|(t, ps)| {
                        ListOffsetsTopic::default()
                            .with_name(TopicName(StrBytes::from_string(t.clone())))
                            .with_partitions(
                                ps.iter()
                                    .map(|p| {
                                        // -1: the latest offset, i.e. the log end.
                                        ListOffsetsPartition::default()
                                            .with_partition_index(*p)
                                            .with_timestamp(-1)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        let answer: Result<ListOffsetsResponse, KafkaError> = if addr == conn.addr {
            conn.call(ApiKey::ListOffsets, 1, &request).await
        } else {
            match Conn::open(&addr).await {
                Ok(mut leader) => leader.call(ApiKey::ListOffsets, 1, &request).await,
                Err(err) => Err(err),
            }
        };
        // A leader that cannot answer leaves its partitions' lag unknown rather than
        // hiding the rest of the group.
        let Ok(answer) = answer else { continue };
        for t in &answer.topics {
            for p in &t.partitions {
                if p.error_code == 0 && p.offset >= 0 {
                    ends.insert((t.name.to_string(), p.partition_index), p.offset);
                }
            }
        }
    }
    Ok(ends)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as Assigned;

    #[test]
    fn a_consumer_assignment_reads_as_sorted_topic_partitions() {
        let a = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
            Assigned::default()
                .with_topic(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(vec![3, 1]),
        ]);
        let mut buf = BytesMut::new();
        buf.put_i16(0);
        a.encode(&mut buf, 0).unwrap();
        assert_eq!(
            assignment(&buf.freeze()),
            [1, 3].map(|partition| super::TopicPartition {
                topic: "t".into(),
                partition
            })
        );
        assert!(assignment(&Bytes::from_static(b"\x00")).is_empty());
        assert!(assignment(&Bytes::new()).is_empty());
    }
}
