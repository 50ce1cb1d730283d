//! `fluvio topic create | list | describe | delete | add-partition`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use protocol::sc::table::{self, exact_bytes, spu_list};
use protocol::sc::{
    CleanupPolicy, CompressionAlgorithm, Metadata, PartitionMap, PartitionSpec, ReplicaSpec,
    TopicSpec, TopicStorageConfig, parse_partition_name,
};
use serde::{Deserialize, Serialize};

use super::output::{Block, Column, Output, Report, Table, to_data};
use super::parse;
use super::{CommandError, Context, OutputArgs, advised};
use crate::client::metadata::not_provisioned;
use crate::client::{Admin, ClientError};

#[derive(Debug, Subcommand)]
pub enum TopicCmd {
    /// Create a topic.
    Create(CreateArgs),
    /// List topics.
    List(ListArgs),
    /// Show topics' settings, status and partition map.
    Describe(DescribeArgs),
    /// Delete topics and their data.
    Delete(DeleteArgs),
    /// Add partitions to a topic, after its existing ones.
    AddPartition(AddPartitionArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Topic name: lowercase letters, digits and '-', at most 63 characters.
    pub name: String,
    /// Number of partitions.
    #[arg(short = 'p', long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub partitions: u32,
    /// Replicas per partition, the leader included.
    #[arg(short = 'r', long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub replication: u32,
    /// Place replicas as this JSON file says: {"partitions":[{"id":0,"replicas":[5001,5002]},...]}
    /// or, as Fluvio writes it, [{"id":0,"replicas":[5001,5002]},...].
    #[arg(
        short = 'f',
        long,
        value_name = "FILE",
        conflicts_with_all = ["partitions", "replication", "ignore_rack"]
    )]
    pub replica_assignment: Option<PathBuf>,
    /// Place replicas without regard to the SPUs' racks.
    #[arg(short = 'i', long, alias = "ignore-rack-assignment")]
    pub ignore_rack: bool,
    /// Delete segments older than this: 7d, 12h, 30m, 3600s or plain seconds.
    #[arg(long, value_name = "DURATION", value_parser = parse::retention_secs)]
    pub retention_time: Option<u32>,
    /// Roll segments at this size: 1GiB, 500MB, 512KiB or bytes.
    #[arg(long, value_name = "SIZE", value_parser = parse::segment_size)]
    pub segment_size: Option<u32>,
    /// Delete the oldest segments beyond this size per partition: 10GiB, 500MB or bytes.
    #[arg(long, value_name = "SIZE", value_parser = parse::partition_size)]
    pub max_partition_size: Option<u64>,
    /// The codec producers must use: none, gzip, snappy, lz4, zstd, or any (each producer
    /// chooses; the default).
    #[arg(long, value_enum, value_name = "CODEC", ignore_case = true)]
    pub compression_type: Option<TopicCompression>,
    /// Check the topic with the SC without creating it.
    #[arg(short = 'd', long)]
    pub dry_run: bool,
}

/// A topic's compression type, as `--compression-type` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TopicCompression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
    Any,
}

impl From<TopicCompression> for CompressionAlgorithm {
    fn from(value: TopicCompression) -> Self {
        match value {
            TopicCompression::None => CompressionAlgorithm::None,
            TopicCompression::Gzip => CompressionAlgorithm::Gzip,
            TopicCompression::Snappy => CompressionAlgorithm::Snappy,
            TopicCompression::Lz4 => CompressionAlgorithm::Lz4,
            TopicCompression::Zstd => CompressionAlgorithm::Zstd,
            TopicCompression::Any => CompressionAlgorithm::Any,
        }
    }
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Show system topics too (`consumer-offset`, where consumers' offsets live).
    #[arg(long)]
    pub system: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// Topics to describe.
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Go on past a topic that cannot be deleted (Fluvio's flag); without it, deleting
    /// stops at the first failure. Either way the exit status is 1 if any failed.
    #[arg(short = 'c', long)]
    pub continue_on_error: bool,
    /// Topics to delete.
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AddPartitionArgs {
    /// The topic to grow; it must have been created with a partition count.
    pub name: String,
    /// Number of partitions to add.
    #[arg(short = 'c', long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub count: u32,
    #[command(flatten)]
    pub output: OutputArgs,
}

impl TopicCmd {
    pub fn output(&self) -> Option<OutputArgs> {
        match self {
            TopicCmd::List(args) => Some(args.output),
            TopicCmd::Describe(args) => Some(args.output),
            TopicCmd::AddPartition(args) => Some(args.output),
            TopicCmd::Create(_) | TopicCmd::Delete(_) => None,
        }
    }
}

pub async fn execute(cmd: TopicCmd, ctx: &Context) -> Result<Output, CommandError> {
    match cmd {
        TopicCmd::Create(args) => create(args, ctx).await,
        TopicCmd::List(args) => list(args, ctx).await,
        TopicCmd::Describe(args) => describe(args, ctx).await,
        TopicCmd::Delete(args) => delete(args, ctx).await,
        TopicCmd::AddPartition(args) => add_partition(args, ctx).await,
    }
}

async fn create(args: CreateArgs, ctx: &Context) -> Result<Output, CommandError> {
    let spec = topic_spec(&args)?;
    let admin = ctx.admin().await?;
    admin
        .create::<TopicSpec>(&args.name, spec, args.dry_run)
        .await?;
    if args.dry_run {
        return Ok(Output::message(format!(
            "topic \"{}\" is valid; nothing was created (dry run)",
            args.name
        )));
    }
    let created = Output::message(format!("topic \"{}\" created", args.name));
    // As in Fluvio, a topic the SC cannot place yet still exists and waits for SPUs; the
    // person hears it now rather than from the first produce.
    let status = admin
        .list::<TopicSpec>(std::slice::from_ref(&args.name))
        .await;
    Ok(match status {
        Ok(topics) => match topics
            .iter()
            .find(|t| t.name == args.name)
            .and_then(not_provisioned)
        {
            Some(unplaced) => created.with_note(format!(
                "warning: {} Produce and consume fail until then.",
                advised(&unplaced)
            )),
            None => created,
        },
        Err(err) => created.with_note(format!(
            "warning: could not read the new topic's status: {}",
            advised(&err)
        )),
    })
}

/// The spec a create asks for, the assignment file read and checked.
pub fn topic_spec(args: &CreateArgs) -> Result<TopicSpec, CommandError> {
    let replicas = match &args.replica_assignment {
        Some(path) => ReplicaSpec::Assigned(read_assignment(path)?),
        None => ReplicaSpec::Computed {
            partitions: args.partitions,
            replication_factor: args.replication,
            ignore_rack_assignment: args.ignore_rack,
        },
    };
    let storage = (args.segment_size.is_some() || args.max_partition_size.is_some()).then_some(
        TopicStorageConfig {
            segment_size: args.segment_size,
            max_partition_size: args.max_partition_size,
        },
    );
    Ok(TopicSpec {
        replicas,
        cleanup_policy: args
            .retention_time
            .map(|time_in_seconds| CleanupPolicy::Segment { time_in_seconds }),
        storage,
        compression_type: args
            .compression_type
            .map_or_else(CompressionAlgorithm::default, CompressionAlgorithm::from),
        ..TopicSpec::default()
    })
}

/// Our replica assignment file's layout; Fluvio's is the bare array of partitions.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Partitions {
    partitions: Vec<AssignedPartition>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignedPartition {
    id: u32,
    replicas: Vec<i32>,
}

fn read_assignment(path: &Path) -> Result<Vec<PartitionMap>, CommandError> {
    let text = std::fs::read_to_string(path).map_err(|source| CommandError::ReadFile {
        path: path.to_path_buf(),
        source,
    })?;
    parse_assignment(&text).map_err(|problem| CommandError::AssignmentFile {
        path: path.to_path_buf(),
        problem,
    })
}

/// The partitions of either layout. An untagged enum would hide why neither fitted, so
/// the layout is chosen by the first character and parsed as that one.
fn read_partitions(text: &str) -> Result<Vec<AssignedPartition>, serde_json::Error> {
    if text.trim_start().starts_with('[') {
        serde_json::from_str::<Vec<AssignedPartition>>(text)
    } else {
        serde_json::from_str::<Partitions>(text).map(|file| file.partitions)
    }
}

/// Parse and check an assignment: partitions numbered 0.. without gaps, each with the same
/// number of distinct, non-negative SPU ids.
pub fn parse_assignment(text: &str) -> Result<Vec<PartitionMap>, String> {
    const SHAPE: &str = r#"expected {"partitions":[{"id":0,"replicas":[5001,5002]},...]} or [{"id":0,"replicas":[5001,5002]},...]"#;
    let mut partitions = read_partitions(text).map_err(|e| format!("{e}; {SHAPE}"))?;
    if partitions.is_empty() {
        return Err(format!("it lists no partitions; {SHAPE}"));
    }
    partitions.sort_by_key(|p| p.id);
    let replica_count = partitions[0].replicas.len();
    for (expected, partition) in partitions.iter().enumerate() {
        if partition.id as usize != expected {
            return Err(format!(
                "partition ids must run 0, 1, 2, ... without gaps or repeats; expected {expected}, found {}",
                partition.id
            ));
        }
        if partition.replicas.is_empty() {
            return Err(format!("partition {} has no replicas", partition.id));
        }
        if partition.replicas.len() != replica_count {
            return Err(format!(
                "every partition needs the same number of replicas: partition 0 has {replica_count}, partition {} has {}",
                partition.id,
                partition.replicas.len()
            ));
        }
        let mut seen = BTreeSet::new();
        for &spu in &partition.replicas {
            if spu < 0 {
                return Err(format!(
                    "partition {} lists negative SPU id {spu}",
                    partition.id
                ));
            }
            if !seen.insert(spu) {
                return Err(format!("partition {} lists SPU {spu} twice", partition.id));
            }
        }
    }
    Ok(partitions
        .into_iter()
        .map(|p| PartitionMap {
            id: p.id,
            replicas: p.replicas,
            mirror: None,
        })
        .collect())
}

type Topic = Metadata<TopicSpec>;
type Partition = Metadata<PartitionSpec>;

async fn list(args: ListArgs, ctx: &Context) -> Result<Output, CommandError> {
    let mut topics = ctx
        .admin()
        .await?
        .list_system::<TopicSpec>(&[], args.system)
        .await?;
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Output::report(Report::listing(
        table::topic::LIST,
        &topics,
        &topics,
        "No topics found",
    )?))
}

/// One row of a topic's partition map.
struct MapRow {
    id: u32,
    replicas: Vec<i32>,
    partition: Option<Partition>,
}

const MAP_COLUMNS: &[Column<MapRow>] = &[
    Column::new("ID", |r| r.id.to_string()),
    Column::new("LEADER", |r| {
        r.partition
            .as_ref()
            .map(|p| p.spec.leader.to_string())
            .or_else(|| r.replicas.first().map(ToString::to_string))
            .unwrap_or_default()
    }),
    Column::new("REPLICAS", |r| spu_list(&r.replicas)),
    Column::new("RESOLUTION", |r| {
        r.partition
            .as_ref()
            .map(|p| p.status.resolution.label().to_string())
            .unwrap_or_default()
    }),
    Column::new("LIVE-REPLICAS", |r| {
        r.partition
            .as_ref()
            .map(|p| p.status.lsr.to_string())
            .unwrap_or_default()
    }),
    Column::new("HW", |r| {
        r.partition
            .as_ref()
            .map(|p| p.status.leader.hw.to_string())
            .unwrap_or_default()
    }),
    Column::new("LEO", |r| {
        r.partition
            .as_ref()
            .map(|p| p.status.leader.leo.to_string())
            .unwrap_or_default()
    }),
];

/// `[5001,5002]`.
#[derive(Serialize)]
struct Described<'a> {
    #[serde(flatten)]
    topic: &'a Topic,
    partitions: Vec<&'a Partition>,
}

async fn describe(args: DescribeArgs, ctx: &Context) -> Result<Output, CommandError> {
    let admin = ctx.admin().await?;
    // Topics named are described, system topics too.
    let topics = admin.list_system::<TopicSpec>(&args.names, true).await?;
    let partitions = admin
        .list_system::<PartitionSpec>(&args.names, true)
        .await?;
    let mut output = Output::default();
    let mut blocks = Vec::new();
    let mut data = Vec::new();
    for name in dedup(&args.names) {
        let Some(topic) = topics.iter().find(|t| &t.name == name) else {
            output.failures.push(topic_not_found(name));
            continue;
        };
        let mut own: Vec<(u32, &Partition)> = partitions
            .iter()
            .filter_map(|p| match parse_partition_name(&p.name) {
                Some((t, n)) if t == name => Some((n, p)),
                _ => None,
            })
            .collect();
        own.sort_by_key(|(n, _)| *n);
        if !blocks.is_empty() {
            blocks.push(Block::Title(String::new()));
        }
        blocks.push(Block::Fields(topic_fields(topic)));
        let rows: Vec<MapRow> = topic
            .status
            .replica_map
            .iter()
            .map(|(id, replicas)| MapRow {
                id: *id,
                replicas: replicas.clone(),
                partition: own.iter().find(|(n, _)| n == id).map(|(_, p)| (*p).clone()),
            })
            .collect();
        blocks.push(Block::Title("Partition map:".into()));
        if rows.is_empty() {
            blocks.push(Block::Title("  (no partitions yet)".into()));
        } else {
            blocks.push(Block::Table(Table::build(MAP_COLUMNS, &rows)));
        }
        data.push(Described {
            topic,
            partitions: own.iter().map(|(_, p)| *p).collect(),
        });
    }
    if !data.is_empty() {
        output.body = super::Body::Report(Report {
            blocks,
            data: to_data(&data)?,
        });
    }
    Ok(output)
}

fn topic_fields(topic: &Topic) -> Vec<(String, String)> {
    let storage = topic.spec.storage.clone().unwrap_or_default();
    let mut fields = vec![
        ("Name", topic.name.clone()),
        ("Type", (table::topic::TYPE.cell)(topic)),
        (
            "Partition Count",
            topic.spec.replicas.partition_count().to_string(),
        ),
        (
            "Replication Factor",
            topic.spec.replicas.replication_factor().to_string(),
        ),
    ];
    if let ReplicaSpec::Computed { .. } = topic.spec.replicas {
        fields.push((
            "Ignore Rack Assignment",
            (table::topic::IGNORE_RACK.cell)(topic),
        ));
    }
    fields.extend([
        ("Retention Time", (table::topic::RETENTION.cell)(topic)),
        (
            "Segment Size",
            storage
                .segment_size
                .map_or("default".into(), |s| exact_bytes(u64::from(s))),
        ),
        (
            "Max Partition Size",
            storage
                .max_partition_size
                .map_or("default".into(), exact_bytes),
        ),
        ("Compression", (table::topic::COMPRESSION.cell)(topic)),
        ("Status", topic.status.resolution.label().to_string()),
        ("Reason", topic.status.reason.clone()),
    ]);
    fields
        .into_iter()
        .map(|(k, v)| (k.to_string(), if v.is_empty() { "-".into() } else { v }))
        .collect()
}

/// Names in the order given, each once.
fn dedup(names: &[String]) -> Vec<&String> {
    let mut seen = BTreeSet::new();
    names.iter().filter(|n| seen.insert(n.as_str())).collect()
}

/// The error for a named topic that does not exist, the same from every command: what is
/// missing and how to create it.
pub fn topic_not_found(name: &str) -> CommandError {
    ClientError::TopicNotFound {
        topic: name.to_string(),
    }
    .into()
}

/// Succeeds when the topic `name` exists.
pub async fn require_topic(admin: &Admin, name: &str) -> Result<(), CommandError> {
    let topics = admin
        .list_system::<TopicSpec>(&[name.to_string()], true)
        .await?;
    if topics.iter().any(|t| t.name == name) {
        Ok(())
    } else {
        Err(topic_not_found(name))
    }
}

async fn delete(args: DeleteArgs, ctx: &Context) -> Result<Output, CommandError> {
    let admin = ctx.admin().await?;
    let mut output = Output::default();
    let mut deleted = Vec::new();
    let names = dedup(&args.names);
    for (at, name) in names.iter().enumerate() {
        let failure = match admin.delete::<TopicSpec>((*name).clone(), name).await {
            Ok(()) => {
                deleted.push(format!("topic \"{name}\" deleted"));
                continue;
            }
            // Worded as every other command words a missing topic.
            Err(ClientError::Refused {
                code: protocol::api::ErrorCode::TopicNotFound,
                ..
            }) => topic_not_found(name),
            Err(err) => err.into(),
        };
        output.failures.push(failure);
        let rest = &names[at + 1..];
        if !args.continue_on_error && !rest.is_empty() {
            // As Fluvio does: stop at the first failure unless told to go on.
            let rest: Vec<&str> = rest.iter().map(|n| n.as_str()).collect();
            output.notes.push(format!(
                "note: stopped at the first failure; not deleted: {}. -c/--continue-on-error goes on past failures",
                rest.join(", ")
            ));
            break;
        }
    }
    if !deleted.is_empty() {
        output.body = super::Body::Message(deleted.join("\n"));
    }
    Ok(output)
}

/// How long `add-partition` waits to see the SC place the new partitions.
const PLACEMENT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// One partition `add-partition` added.
#[derive(Debug, Serialize)]
struct AddedPartition {
    partition: u32,
    leader: i32,
    replicas: Vec<i32>,
}

const ADDED_COLUMNS: &[Column<AddedPartition>] = &[
    Column::new("PARTITION", |p| p.partition.to_string()),
    Column::new("LEADER", |p| p.leader.to_string()),
    Column::new("REPLICAS", |p| spu_list(&p.replicas)),
];

async fn add_partition(args: AddPartitionArgs, ctx: &Context) -> Result<Output, CommandError> {
    let admin = ctx.admin().await?;
    let find = |topics: Vec<Metadata<TopicSpec>>| topics.into_iter().find(|t| t.name == args.name);
    let names = [args.name.clone()];
    let before = find(admin.list::<TopicSpec>(&names).await?)
        .ok_or_else(|| topic_not_found(&args.name))?
        .status
        .replica_map
        .len();
    match admin.add_partitions(&args.name, args.count).await {
        Ok(()) => {}
        Err(ClientError::Refused {
            code: protocol::api::ErrorCode::TopicNotFound,
            ..
        }) => return Err(topic_not_found(&args.name)),
        Err(err) => return Err(err.into()),
    }
    // The SC places the new partitions as it accepts the request; a topic still waiting
    // for SPUs gets them when it is placed.
    let wanted = before + args.count as usize;
    let deadline = tokio::time::Instant::now() + PLACEMENT_WAIT;
    let topic = loop {
        let topic = find(admin.list::<TopicSpec>(&names).await?);
        let placed = topic.as_ref().map_or(0, |t| t.status.replica_map.len());
        if placed >= wanted || tokio::time::Instant::now() >= deadline {
            break topic;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let added: Vec<AddedPartition> = topic
        .iter()
        .flat_map(|t| t.status.replica_map.range(before as u32..))
        .map(|(&partition, replicas)| AddedPartition {
            partition,
            leader: replicas.first().copied().unwrap_or(-1),
            replicas: replicas.clone(),
        })
        .collect();
    let mut output = Output::report(Report {
        blocks: vec![
            Block::Title(format!("added new partitions to topic: \"{}\"", args.name)),
            Block::Table(Table::build(ADDED_COLUMNS, &added)),
        ],
        data: to_data(&added)?,
    });
    if added.len() < args.count as usize {
        let reason = topic.map(|t| t.status.reason).unwrap_or_default();
        output.notes.push(format!(
            "the SC has not placed the new partitions yet{}; `fluvio topic describe {}` shows when it does",
            if reason.is_empty() {
                String::new()
            } else {
                format!(" ({reason})")
            },
            args.name
        ));
    }
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_files() {
        let maps = parse_assignment(
            r#"{"partitions":[{"id":1,"replicas":[2,3]},{"id":0,"replicas":[1,2]}]}"#,
        )
        .unwrap();
        assert_eq!(maps.len(), 2);
        assert_eq!((maps[0].id, maps[0].replicas.clone()), (0, vec![1, 2]));
        // Fluvio's layout: the bare array.
        let fluvio = parse_assignment(
            r#"[{"id": 0, "replicas": [5001, 5002]}, {"id": 1, "replicas": [5002, 5001]}]"#,
        )
        .unwrap();
        assert_eq!(fluvio.len(), 2);
        assert_eq!(fluvio[1].replicas, vec![5002, 5001]);
        for (text, expect) in [
            ("{", "EOF while parsing"),
            ("[]", "no partitions"),
            ("7", "expected {\"partitions\""),
            (r#"[{"id":0}]"#, "missing field `replicas`"),
            (r#"{"partitions":[]}"#, "no partitions"),
            (r#"{"partitions":[{"id":0}]}"#, "missing field `replicas`"),
            (
                r#"{"partitions":[{"id":0,"replicas":[1],"x":1}]}"#,
                "unknown field `x`",
            ),
            (
                r#"{"partitions":[{"id":1,"replicas":[1]}]}"#,
                "expected 0, found 1",
            ),
            (
                r#"{"partitions":[{"id":0,"replicas":[1]},{"id":0,"replicas":[2]}]}"#,
                "expected 1, found 0",
            ),
            (
                r#"{"partitions":[{"id":0,"replicas":[]}]}"#,
                "has no replicas",
            ),
            (
                r#"{"partitions":[{"id":0,"replicas":[1,2]},{"id":1,"replicas":[1]}]}"#,
                "same number of replicas",
            ),
            (
                r#"{"partitions":[{"id":0,"replicas":[1,1]}]}"#,
                "SPU 1 twice",
            ),
            (
                r#"{"partitions":[{"id":0,"replicas":[-1]}]}"#,
                "negative SPU id -1",
            ),
            (
                r#"{"partitions":[{"id":-1,"replicas":[1]}]}"#,
                "invalid value",
            ),
        ] {
            let err = parse_assignment(text).unwrap_err();
            assert!(err.contains(expect), "{text}: {err}");
        }
    }

    #[test]
    fn create_builds_the_spec_the_flags_ask_for() {
        let cli = super::super::parse([
            "fluvio",
            "topic",
            "create",
            "t",
            "-p",
            "3",
            "-r",
            "2",
            "-i",
            "--retention-time",
            "1h",
            "--segment-size",
            "1MiB",
            "--max-partition-size",
            "10MiB",
        ])
        .unwrap();
        let super::super::Command::Topic(TopicCmd::Create(args)) = cli.command else {
            panic!()
        };
        let spec = topic_spec(&args).unwrap();
        assert_eq!(
            spec.replicas,
            ReplicaSpec::Computed {
                partitions: 3,
                replication_factor: 2,
                ignore_rack_assignment: true
            }
        );
        assert_eq!(spec.cleanup_policy.unwrap().retention_secs(), 3600);
        let storage = spec.storage.unwrap();
        assert_eq!(storage.segment_size, Some(1 << 20));
        assert_eq!(storage.max_partition_size, Some(10 << 20));
        assert_eq!(spec.compression_type, CompressionAlgorithm::Any);

        for (name, codec) in [
            ("gzip", CompressionAlgorithm::Gzip),
            ("zstd", CompressionAlgorithm::Zstd),
            ("none", CompressionAlgorithm::None),
            ("any", CompressionAlgorithm::Any),
        ] {
            let cli =
                super::super::parse(["fluvio", "topic", "create", "t", "--compression-type", name])
                    .unwrap();
            let super::super::Command::Topic(TopicCmd::Create(args)) = cli.command else {
                panic!()
            };
            assert_eq!(topic_spec(&args).unwrap().compression_type, codec);
        }
    }
}
