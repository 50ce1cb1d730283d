//! `fluvio advanced metadata | generate | run`: the SC's metadata as the daemon's
//! `table_fmt` lays it out, and raw requests written as JSON.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use protocol::api::ApiVersionsRequest;
use protocol::api::versions::{API_VERSIONS_CLIENT_VERSION, API_VERSIONS_KEY};
use protocol::api::{SC_API_VERSION, spu_keys};
use protocol::sc::{
    AuthTokenResolution, AuthTokenSpec, CreateRequest, CustomSpuSpec, DeleteRequest, ListRequest,
    Metadata, ObjectCreateRequest, ObjectDeleteRequest, ObjectListRequest, ObjectWatchRequest,
    PartitionSpec, PartitionStateSpec, ReplicaSpec, ScRequest, ScResponse, SpuSpec, SpuType,
    TopicSpec, WatchRequest,
};
use protocol::spu::{
    ApiRequest, DeleteConsumerOffsetRequest, FetchConsumerOffsetsRequest, FetchOffsetsRequest,
    ProduceRequest, SpuRequest, SpuResponse, StreamFetchRequest, UpdateConsumerOffsetRequest,
    UpdateOffsetsRequest, VerifyReplicaRequest,
};
use protocol::{Reader, Version};
use serde::Serialize;
use serde_json::Value;

use super::output::{Block, Body, Column, Output, Report, Table, to_data};
use super::partition::{self, epoch, follower_offsets, in_sync_set};
use super::topic::spu_list;
use super::{CommandError, Context, OutputArgs};
use crate::client::consumer::VERIFY_TIMEOUT;
use crate::client::socket::REQUEST_TIMEOUT;
use crate::client::{Peer, Socket};

#[derive(Debug, Subcommand)]
pub enum AdvancedCmd {
    /// The SC's metadata: auth tokens, SPUs, topics and partitions, as the SC's table_fmt
    /// shows them.
    Metadata(MetadataArgs),
    /// Print a JSON template of a request, to edit and send with `advanced run`.
    Generate(GenerateArgs),
    /// Send a request written as JSON to the SC (or an SPU) and print the answer as JSON.
    Run(RunArgs),
}

#[derive(Debug, Args)]
pub struct MetadataArgs {
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The request, e.g. CreateTopic, ListPartition, ApiVersions, FetchOffsets.
    #[arg(long, short = 'r', value_name = "NAME")]
    pub api: String,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The request, as named by `advanced generate`.
    #[arg(long, short = 'r', value_name = "NAME")]
    pub api: String,
    /// The request as JSON, e.g. the edited output of `advanced generate`.
    #[arg(long, short = 'j', value_name = "FILE")]
    pub json: PathBuf,
    /// Send it to this SPU instead of the SC (required for SPU requests).
    #[arg(long, value_name = "HOST:PORT")]
    pub spu: Option<String>,
}

impl AdvancedCmd {
    pub fn output(&self) -> Option<OutputArgs> {
        match self {
            AdvancedCmd::Metadata(args) => Some(args.output),
            AdvancedCmd::Generate(_) | AdvancedCmd::Run(_) => None,
        }
    }
}

pub async fn execute(cmd: AdvancedCmd, ctx: &Context) -> Result<Output, CommandError> {
    match cmd {
        AdvancedCmd::Metadata(_) => metadata(ctx).await,
        AdvancedCmd::Generate(args) => generate(&args.api),
        AdvancedCmd::Run(args) => run(args, ctx).await,
    }
}

// ---------------------------------------------------------------------------------------
// metadata: the four tables of daemon/src/sc/table_fmt.rs, built from List answers. The
// console's metadata view shows these same columns.

type Token = Metadata<AuthTokenSpec>;
type Spu = Metadata<SpuSpec>;
type Topic = Metadata<TopicSpec>;
type Partition = partition::Row;

pub(crate) const TOKEN_COLUMNS: &[Column<Token>] = &[
    Column::new("TOKEN-NAME", |t| t.name.clone()),
    Column::new("STATUS", |t| {
        match t.status.resolution {
            AuthTokenResolution::Ok => "ok",
            AuthTokenResolution::Invalid => "invalid",
        }
        .into()
    }),
    Column::new("SPU-MIN", |t| t.spec.min_spu.to_string()),
    Column::new("SPU-MAX", |t| t.spec.max_spu.to_string()),
    Column::new("TYPE", |t| t.spec.token_type.label().into()),
    Column::new("REASON", |t| t.status.reason.clone()),
];

pub(crate) const SPU_COLUMNS: &[Column<Spu>] = &[
    Column::new("SPU", |s| s.name.clone()),
    Column::new("SPU-ID", |s| s.spec.id.to_string()),
    Column::new("STATUS", |s| s.status.resolution.label().into()),
    Column::new("TYPE", |s| {
        match s.spec.spu_type {
            SpuType::Managed => "managed",
            SpuType::Custom => "custom",
        }
        .into()
    }),
    Column::new("PUBLIC", |s| s.spec.public_endpoint.addr()),
    Column::new("PRIVATE", |s| s.spec.private_endpoint.addr()),
    Column::new("RACK", |s| s.spec.rack.clone().unwrap_or_default()),
];

fn topic_shape(t: &Topic) -> (&'static str, String, String, &'static str) {
    match &t.spec.replicas {
        ReplicaSpec::Computed {
            partitions,
            replication_factor,
            ignore_rack_assignment,
        } => (
            "computed",
            partitions.to_string(),
            replication_factor.to_string(),
            if *ignore_rack_assignment { "yes" } else { "" },
        ),
        ReplicaSpec::Assigned(maps) => (
            "assigned",
            maps.len().to_string(),
            t.spec.replicas.replication_factor().to_string(),
            "",
        ),
    }
}

pub(crate) const TOPIC_COLUMNS: &[Column<Topic>] = &[
    Column::new("TOPIC", |t| t.name.clone()),
    Column::new("TYPE", |t| topic_shape(t).0.into()),
    Column::new("PART", |t| topic_shape(t).1),
    Column::new("FACT", |t| topic_shape(t).2),
    Column::new("IGN-RACK", |t| topic_shape(t).3.into()),
    Column::new("RESOLUTION", |t| t.status.resolution.label().into()),
    Column::new("R-MAP-ROWS", |t| t.status.replica_map.len().to_string()),
    Column::new("REASON", |t| t.status.reason.clone()),
];

pub(crate) const PARTITION_COLUMNS: &[Column<Partition>] = &[
    Column::new("PARTITION", |p| p.partition.name.clone()),
    Column::new("LEADER", |p| p.partition.spec.leader.to_string()),
    Column::new("EPOCH", |p| epoch(p.state.as_ref())),
    Column::new("REPLICAS", |p| spu_list(&p.partition.spec.replicas)),
    Column::new("IN-SYNC-SET", |p| in_sync_set(p.state.as_ref())),
    Column::new("RESOLUTION", |p| {
        p.partition.status.resolution.label().into()
    }),
    Column::new("HW", |p| p.partition.status.leader.hw.to_string()),
    Column::new("LEO", |p| p.partition.status.leader.leo.to_string()),
    Column::new("FOLLOWER-OFFSETS", |p| follower_offsets(&p.partition)),
];

#[derive(Serialize)]
struct MetadataDump {
    auth_tokens: Vec<Token>,
    spus: Vec<Spu>,
    topics: Vec<Topic>,
    partitions: Vec<Partition>,
}

async fn metadata(ctx: &Context) -> Result<Output, CommandError> {
    let admin = ctx.admin().await?;
    let (listed, states) = tokio::join!(
        async {
            tokio::try_join!(
                admin.list::<AuthTokenSpec>(&[]),
                admin.list::<SpuSpec>(&[]),
                admin.list::<TopicSpec>(&[]),
                admin.list::<PartitionSpec>(&[]),
            )
        },
        admin.partition_states(&[]),
    );
    let (tokens, spus, topics, partitions) = listed?;
    let mut dump = MetadataDump {
        auth_tokens: tokens,
        spus,
        topics,
        partitions: partition::rows(partitions, states),
    };
    dump.auth_tokens.sort_by(|a, b| a.name.cmp(&b.name));
    dump.spus.sort_by_key(|s| s.spec.id);
    dump.topics.sort_by(|a, b| a.name.cmp(&b.name));
    let blocks = vec![
        Block::Title("auth tokens:".into()),
        Block::Table(Table::build(TOKEN_COLUMNS, &dump.auth_tokens)),
        Block::Title("SPUs:".into()),
        Block::Table(Table::build(SPU_COLUMNS, &dump.spus)),
        Block::Title("topics:".into()),
        Block::Table(Table::build(TOPIC_COLUMNS, &dump.topics)),
        Block::Title("partitions:".into()),
        Block::Table(Table::build(PARTITION_COLUMNS, &dump.partitions)),
    ];
    Ok(Output::report(Report {
        blocks,
        data: to_data(&dump)?,
    }))
}

// ---------------------------------------------------------------------------------------
// generate / run

/// A request ready to send.
enum Request {
    Sc(ScRequest),
    Spu(SpuRequest),
}

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Sc,
    Spu,
    /// ApiVersions: the SC, or the SPU given with --spu.
    Either,
}

struct Api {
    name: &'static str,
    target: Target,
    template: fn() -> Result<Value, serde_json::Error>,
    build: fn(Value, bool) -> Result<Request, serde_json::Error>,
}

/// An SC request whose JSON is a `$body` and which `$wrap` turns into a ScRequest.
macro_rules! sc_api {
    ($name:literal, $body:ty, $wrap:expr) => {
        Api {
            name: $name,
            target: Target::Sc,
            template: || serde_json::to_value(<$body>::default()),
            build: |json, _| Ok(Request::Sc($wrap(serde_json::from_value::<$body>(json)?))),
        }
    };
}

macro_rules! spu_api {
    ($name:literal, $body:ty) => {
        Api {
            name: $name,
            target: Target::Spu,
            template: || serde_json::to_value(<$body>::default()),
            build: |json, _| {
                Ok(Request::Spu(SpuRequest::from(serde_json::from_value::<
                    $body,
                >(json)?)))
            },
        }
    };
}

/// Every request `advanced generate` and `run` know, by name.
fn apis() -> Vec<Api> {
    vec![
        Api {
            name: "ApiVersions",
            target: Target::Either,
            template: || serde_json::to_value(ApiVersionsRequest::official_client()),
            build: |json, to_spu| {
                let request: ApiVersionsRequest = serde_json::from_value(json)?;
                Ok(if to_spu {
                    Request::Spu(SpuRequest::ApiVersions(request))
                } else {
                    Request::Sc(ScRequest::ApiVersions(request))
                })
            },
        },
        sc_api!("CreateTopic", CreateRequest<TopicSpec>, |r| {
            ScRequest::Create(ObjectCreateRequest::of::<TopicSpec>(r))
        }),
        sc_api!("CreateCustomSpu", CreateRequest<CustomSpuSpec>, |r| {
            ScRequest::Create(ObjectCreateRequest::of::<CustomSpuSpec>(r))
        }),
        sc_api!("CreateAuthToken", CreateRequest<AuthTokenSpec>, |r| {
            ScRequest::Create(ObjectCreateRequest::of::<AuthTokenSpec>(r))
        }),
        sc_api!("DeleteTopic", DeleteRequest<TopicSpec>, |r| {
            ScRequest::Delete(ObjectDeleteRequest::of::<TopicSpec>(r))
        }),
        sc_api!("DeleteCustomSpu", DeleteRequest<CustomSpuSpec>, |r| {
            ScRequest::Delete(ObjectDeleteRequest::of::<CustomSpuSpec>(r))
        }),
        sc_api!("DeleteAuthToken", DeleteRequest<AuthTokenSpec>, |r| {
            ScRequest::Delete(ObjectDeleteRequest::of::<AuthTokenSpec>(r))
        }),
        sc_api!("ListTopic", ListRequest, |r| ScRequest::List(
            ObjectListRequest::of::<TopicSpec>(r)
        )),
        sc_api!("ListPartition", ListRequest, |r| ScRequest::List(
            ObjectListRequest::of::<PartitionSpec>(r)
        )),
        sc_api!("ListSpu", ListRequest, |r| ScRequest::List(
            ObjectListRequest::of::<SpuSpec>(r)
        )),
        sc_api!("ListCustomSpu", ListRequest, |r| ScRequest::List(
            ObjectListRequest::of::<CustomSpuSpec>(r)
        )),
        sc_api!("ListAuthToken", ListRequest, |r| ScRequest::List(
            ObjectListRequest::of::<AuthTokenSpec>(r)
        )),
        sc_api!("WatchTopic", WatchRequest, |r| ScRequest::Watch(
            ObjectWatchRequest::of::<TopicSpec>(r)
        )),
        sc_api!("WatchPartition", WatchRequest, |r| ScRequest::Watch(
            ObjectWatchRequest::of::<PartitionSpec>(r)
        )),
        sc_api!("WatchSpu", WatchRequest, |r| ScRequest::Watch(
            ObjectWatchRequest::of::<SpuSpec>(r)
        )),
        sc_api!("ListPartitionState", ListRequest, |r| ScRequest::List(
            ObjectListRequest::of::<PartitionStateSpec>(r)
        )),
        sc_api!("WatchPartitionState", WatchRequest, |r| ScRequest::Watch(
            ObjectWatchRequest::of::<PartitionStateSpec>(r)
        )),
        spu_api!("Produce", ProduceRequest),
        spu_api!("FetchOffsets", FetchOffsetsRequest),
        spu_api!("StreamFetch", StreamFetchRequest),
        spu_api!("UpdateOffsets", UpdateOffsetsRequest),
        spu_api!("UpdateConsumerOffset", UpdateConsumerOffsetRequest),
        spu_api!("DeleteConsumerOffset", DeleteConsumerOffsetRequest),
        spu_api!("FetchConsumerOffsets", FetchConsumerOffsetsRequest),
        spu_api!("VerifyReplica", VerifyReplicaRequest),
    ]
}

/// The api named `name` (case-insensitive), or an error listing the valid names.
fn find_api(name: &str) -> Result<Api, CommandError> {
    let all = apis();
    let known = all.iter().map(|a| a.name).collect::<Vec<_>>().join(", ");
    all.into_iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| CommandError::UnknownApi {
            name: name.to_string(),
            known,
        })
}

fn generate(name: &str) -> Result<Output, CommandError> {
    let api = find_api(name)?;
    let template = (api.template)().map_err(|source| CommandError::Serialize { source })?;
    Ok(Output {
        body: Body::Json(template),
        ..Output::default()
    })
}

async fn run(args: RunArgs, ctx: &Context) -> Result<Output, CommandError> {
    let api = find_api(&args.api)?;
    let text = std::fs::read_to_string(&args.json).map_err(|source| CommandError::ReadFile {
        path: args.json.clone(),
        source,
    })?;
    let bad_json = |source| CommandError::RequestJson {
        path: args.json.clone(),
        api: api.name.to_string(),
        source,
    };
    let json: Value = serde_json::from_str(&text).map_err(bad_json)?;
    let to_spu = match (api.target, &args.spu) {
        (Target::Spu, None) => {
            return Err(CommandError::NeedsSpu {
                api: api.name.to_string(),
            });
        }
        (Target::Sc, Some(_)) => {
            return Err(CommandError::NotAnSpuApi {
                api: api.name.to_string(),
            });
        }
        (_, spu) => spu.is_some(),
    };
    let request = (api.build)(json, to_spu).map_err(bad_json)?;
    let response = match (request, &args.spu) {
        (Request::Sc(request), _) => {
            let socket = ctx.admin().await?.socket().clone();
            let version = version_for(&socket, request.api_key(), SC_API_VERSION)?;
            let body = socket.request(request.api_key(), version, &request).await?;
            let response = ScResponse::decode(request.api_key(), version, &mut Reader::new(&body))
                .map_err(|source| bad_response(&socket, api.name, source))?;
            to_data(&response)?
        }
        (Request::Spu(request), Some(addr)) => {
            let socket = Socket::connect(addr, Peer::Spu).await?;
            let version = version_for(&socket, request.api_key(), request.default_version())?;
            // A scrub reads the whole log before it answers.
            let timeout = if request.api_key() == spu_keys::VERIFY_REPLICA {
                VERIFY_TIMEOUT
            } else {
                REQUEST_TIMEOUT
            };
            let body = socket
                .request_within(request.api_key(), version, &request, timeout)
                .await?;
            let response = SpuResponse::decode(request.api_key(), version, &mut Reader::new(&body))
                .map_err(|source| bad_response(&socket, api.name, source))?;
            to_data(&response)?
        }
        (Request::Spu(_), None) => {
            return Err(CommandError::NeedsSpu {
                api: api.name.to_string(),
            });
        }
    };
    Ok(Output {
        body: Body::Json(response),
        ..Output::default()
    })
}

/// ApiVersions goes at the version the handshake uses; everything else at the highest
/// version both sides speak.
fn version_for(socket: &Socket, api_key: u16, max: Version) -> Result<Version, CommandError> {
    if api_key == API_VERSIONS_KEY {
        return Ok(API_VERSIONS_CLIENT_VERSION);
    }
    // Ours, so not in ApiVersions (the official client must not see it): its only version.
    if api_key == spu_keys::VERIFY_REPLICA {
        return Ok(<VerifyReplicaRequest as ApiRequest>::VERSION);
    }
    Ok(socket.version_for(api_key, 0, max)?)
}

fn bad_response(socket: &Socket, api: &str, source: protocol::DecodeError) -> CommandError {
    CommandError::BadResponse {
        peer: socket.peer(),
        addr: socket.addr().to_string(),
        api: api.to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_builds_back_into_a_request() {
        for api in apis() {
            let template = (api.template)().unwrap();
            let to_spu = api.target == Target::Spu;
            assert!((api.build)(template, to_spu).is_ok(), "{}", api.name);
        }
    }

    #[test]
    fn names_are_unique_and_case_insensitive() {
        let names: std::collections::BTreeSet<String> =
            apis().iter().map(|a| a.name.to_lowercase()).collect();
        assert_eq!(names.len(), apis().len());
        assert_eq!(find_api("createtopic").unwrap().name, "CreateTopic");
        match find_api("Nope") {
            Err(CommandError::UnknownApi { known, .. }) => {
                assert!(known.contains("CreateTopic") && known.contains("FetchOffsets"))
            }
            _ => panic!("expected UnknownApi"),
        }
    }

    #[test]
    fn the_partitions_table_has_the_sc_table_fmt_columns() {
        // daemon/src/sc/table_fmt.rs PARTITION_COLUMNS: the two must not drift apart.
        let header: Vec<&str> = PARTITION_COLUMNS.iter().map(|c| c.header).collect();
        assert_eq!(
            header,
            [
                "PARTITION",
                "LEADER",
                "EPOCH",
                "REPLICAS",
                "IN-SYNC-SET",
                "RESOLUTION",
                "HW",
                "LEO",
                "FOLLOWER-OFFSETS",
            ]
        );
    }

    #[test]
    fn the_topic_template_is_a_computed_topic() {
        let Body::Json(json) = generate("CreateTopic").unwrap().body else {
            panic!()
        };
        assert_eq!(
            json["spec"]["replicas"]["computed"]["partitions"], 1,
            "{json}"
        );
    }
}
