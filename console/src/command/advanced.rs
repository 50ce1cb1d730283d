//! `fluvio advanced metadata | generate | run`: the SC's metadata as the daemon's
//! `table_fmt` lays it out, and raw requests written as JSON.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use protocol::api::ApiVersionsRequest;
use protocol::api::versions::{API_VERSIONS_CLIENT_VERSION, API_VERSIONS_KEY};
use protocol::api::{SC_API_VERSION, spu_keys};
use protocol::sc::{
    AuthTokenSpec, CreateRequest, CustomSpuSpec, DeleteRequest, ListRequest, Metadata,
    ObjectCreateRequest, ObjectDeleteRequest, ObjectListRequest, ObjectWatchRequest, PartitionSpec,
    PartitionStateSpec, ScRequest, ScResponse, SpuSpec, TopicSpec, WatchRequest, table,
};
use protocol::spu::{
    ApiRequest, DeleteConsumerOffsetRequest, FetchConsumerOffsetsRequest, FetchOffsetsRequest,
    ProduceRequest, SpuRequest, SpuResponse, StreamFetchRequest, UpdateConsumerOffsetRequest,
    UpdateOffsetsRequest, VerifyReplicaRequest,
};
use protocol::{Reader, Version};
use serde::Serialize;
use serde_json::Value;

use super::output::{Block, Body, Output, Report, Table, to_data};
use super::partition;
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
// metadata: the four tables of the SC's table_fmt (`protocol::sc::table`'s `METADATA`
// lists, which the daemon's logs and the console's metadata view render too), built from
// List answers.

type Token = Metadata<AuthTokenSpec>;
type Spu = Metadata<SpuSpec>;
type Topic = Metadata<TopicSpec>;
type Partition = partition::Row;

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
        Block::Table(Table::build(table::token::METADATA, &dump.auth_tokens)),
        Block::Title("SPUs:".into()),
        Block::Table(Table::build(table::spu::METADATA, &dump.spus)),
        Block::Title("topics:".into()),
        Block::Table(Table::build(table::topic::METADATA, &dump.topics)),
        Block::Title("partitions:".into()),
        Block::Table(Table::build(table::partition::METADATA, &dump.partitions)),
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
            // The SPUs carry the cluster's certificate: the SC's TLS settings reach them.
            let tls = ctx.client_tls()?;
            let socket = Socket::connect_with(addr, Peer::Spu, &tls).await?;
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
