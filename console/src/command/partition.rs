//! `fluvio partition list` and `fluvio partition verify`.

use clap::{Args, Subcommand};
use protocol::sc::{PartitionSpec, table};
use protocol::spu::VerifyProblem;
use serde::Serialize;

use super::output::{Block, Column, Output, Report, Table, to_data};
use super::{CommandError, Context, OutputArgs};

#[derive(Debug, Subcommand)]
pub enum PartitionCmd {
    /// List partitions: leader and its epoch, replicas, in-sync set, status, size and
    /// offsets.
    List(ListArgs),
    /// Have each partition's leader read every batch of its log and check it (length,
    /// CRC-32C, offsets continuing). One line per partition; every corrupt range is listed
    /// with its segment file, byte position and offsets, and the exit code is 1.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The topic to verify.
    pub topic: String,
    /// Only this partition; all of the topic's by default.
    #[arg(short = 'p', long = "partition", value_name = "P")]
    pub partition: Option<u32>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only the partitions of this topic.
    #[arg(short = 't', long, value_name = "TOPIC")]
    pub topic: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

impl PartitionCmd {
    pub fn output(&self) -> Option<OutputArgs> {
        match self {
            PartitionCmd::List(args) => Some(args.output),
            PartitionCmd::Verify(args) => Some(args.output),
        }
    }
}

pub async fn execute(cmd: PartitionCmd, ctx: &Context) -> Result<Output, CommandError> {
    match cmd {
        PartitionCmd::List(args) => list(args, ctx).await,
        PartitionCmd::Verify(args) => verify(args, ctx).await,
    }
}

/// A partition with its topic, number and replication state: the rows of `partition list`.
pub use protocol::sc::table::PartitionRow as Row;
/// Rows for `partitions`, sorted by topic, then number.
pub use protocol::sc::table::partition_rows as rows;

/// The columns of `partition list`: the header and every row come from this one list.
pub const COLUMNS: &[Column<Row>] = table::partition::LIST;

async fn list(args: ListArgs, ctx: &Context) -> Result<Output, CommandError> {
    let filters: Vec<String> = args.topic.iter().cloned().collect();
    let admin = ctx.admin().await?;
    let (partitions, states) = tokio::join!(
        // A topic named shows its partitions, a system topic's too.
        admin.list_system::<PartitionSpec>(&filters, args.topic.is_some()),
        admin.partition_states(&filters),
    );
    let mut rows = rows(partitions?, states);
    // The list filter matches substrings; --topic means that topic.
    rows.retain(|row| args.topic.as_ref().is_none_or(|t| &row.topic == t));
    // A topic named that does not exist is an error, as in `topic describe`, not an
    // empty listing; a topic without partitions yet is an empty listing.
    if let Some(topic) = &args.topic
        && rows.is_empty()
    {
        super::topic::require_topic(&admin, topic).await?;
    }
    let empty = match &args.topic {
        Some(topic) => format!("No partitions found for topic '{topic}'"),
        None => "No partitions found".to_string(),
    };
    Ok(Output::report(Report::listing(
        COLUMNS, &rows, &rows, &empty,
    )?))
}

/// What one partition's leader found. As data: the topic and partition, the counts, and
/// `problems` (empty when the log reads back).
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    pub topic: String,
    pub partition: u32,
    pub segments: u32,
    pub batches: u64,
    pub records: u64,
    pub bytes: u64,
    pub problems: Vec<VerifyProblem>,
}

/// One corrupt range with the partition it belongs to, for the ranges table.
pub struct ProblemRow {
    pub topic: String,
    pub partition: u32,
    pub problem: VerifyProblem,
}

pub const VERIFY_COLUMNS: &[Column<Verified>] = &[
    Column::new("TOPIC", |v| v.topic.clone()),
    Column::new("PARTITION", |v| v.partition.to_string()),
    Column::new("SEGMENTS", |v| v.segments.to_string()),
    Column::new("BATCHES", |v| v.batches.to_string()),
    Column::new("RECORDS", |v| v.records.to_string()),
    Column::new("BYTES", |v| v.bytes.to_string()),
    Column::new("STATUS", |v| match v.problems.len() {
        0 => "ok".to_string(),
        n => format!("corrupt ({n} range{})", if n == 1 { "" } else { "s" }),
    }),
];

pub const PROBLEM_COLUMNS: &[Column<ProblemRow>] = &[
    Column::new("TOPIC", |r| r.topic.clone()),
    Column::new("PARTITION", |r| r.partition.to_string()),
    Column::new("SEGMENT", |r| r.problem.segment.clone()),
    Column::new("POSITION", |r| r.problem.position.to_string()),
    Column::new("LENGTH", |r| r.problem.length.to_string()),
    Column::new("OFFSETS", |r| {
        format!("{}..={}", r.problem.first_offset, r.problem.last_offset)
    }),
    Column::new("PROBLEM", |r| {
        format!("{}: {}", r.problem.kind.label(), r.problem.detail)
    }),
];

async fn verify(args: VerifyArgs, ctx: &Context) -> Result<Output, CommandError> {
    let fluvio = ctx.fluvio().await?;
    let partitions: Vec<u32> = match args.partition {
        Some(p) => vec![p],
        None => (0..fluvio.partition_count(&args.topic).await?).collect(),
    };
    let mut verified = Vec::with_capacity(partitions.len());
    let mut failures = Vec::new();
    for partition in partitions {
        let consumer = fluvio.partition_consumer(&args.topic, partition).await?;
        // One partition's leader being away does not stop the others being checked.
        match consumer.verify().await {
            Ok(answer) => verified.push(Verified {
                topic: args.topic.clone(),
                partition,
                segments: answer.segments,
                batches: answer.batches,
                records: answer.records,
                bytes: answer.bytes,
                problems: answer.problems,
            }),
            Err(err) => failures.push(err.into()),
        }
    }
    let mut report = verify_report(&verified)?;
    failures.extend(verified.iter().filter(|v| !v.problems.is_empty()).map(|v| {
        CommandError::CorruptPartition {
            topic: v.topic.clone(),
            partition: v.partition,
            ranges: v.problems.len(),
        }
    }));
    if verified.is_empty() {
        report.blocks = vec![Block::Empty(format!(
            "No partition of topic '{}' was verified",
            args.topic
        ))];
    }
    let mut output = Output::report(report);
    output.failures = failures;
    Ok(output)
}

/// The partitions table, then the corrupt ranges (if any) for people; the list of
/// [`Verified`] as data.
pub fn verify_report(verified: &[Verified]) -> Result<Report, CommandError> {
    let mut blocks = vec![Block::Table(Table::build(VERIFY_COLUMNS, verified))];
    let problems: Vec<ProblemRow> = verified
        .iter()
        .flat_map(|v| {
            v.problems.iter().map(|problem| ProblemRow {
                topic: v.topic.clone(),
                partition: v.partition,
                problem: problem.clone(),
            })
        })
        .collect();
    if !problems.is_empty() {
        blocks.push(Block::Title(String::new()));
        blocks.push(Block::Title("Corrupt ranges:".into()));
        blocks.push(Block::Table(Table::build(PROBLEM_COLUMNS, &problems)));
    }
    Ok(Report {
        blocks,
        data: to_data(verified)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Table;
    use protocol::sc::{Metadata, PartitionStateSpec, PartitionStatus, ReplicaStatus};

    #[test]
    fn every_column_has_a_cell_and_followers_read_well() {
        let partition = Metadata::new(
            "a-b-3",
            PartitionSpec {
                leader: 5001,
                replicas: vec![5001, 5002],
                ..Default::default()
            },
            PartitionStatus {
                size: 1536,
                replicas: vec![ReplicaStatus {
                    spu: 5002,
                    hw: 3,
                    leo: 4,
                }],
                ..Default::default()
            },
        );
        let row = Row {
            topic: "a-b".into(),
            number: 3,
            partition,
            state: Some(PartitionStateSpec {
                leader: 5001,
                leader_epoch: 4,
                in_sync: vec![5001, 5002],
            }),
        };
        let table = Table::build(COLUMNS, std::slice::from_ref(&row));
        assert_eq!(table.header().len(), 13);
        assert_eq!(table.rows()[0].len(), 13);
        let cell = |h: &str| {
            let i = table.header().iter().position(|x| x == h).unwrap();
            table.rows()[0][i].clone()
        };
        assert_eq!(cell("TOPIC"), "a-b");
        assert_eq!(cell("REPLICAS"), "[5001,5002]");
        assert_eq!(cell("SIZE"), "1.5 KiB");
        assert_eq!(cell("FOLLOWER-OFFSETS"), "5002(hw=3,leo=4)");
        assert_eq!(cell("EPOCH"), "4");
        assert_eq!(cell("IN-SYNC-SET"), "[5001,5002]");
        let size = |bytes| {
            let mut row = row.clone();
            row.partition.status.size = bytes;
            (table::partition::SIZE.cell)(&row)
        };
        assert_eq!(size(-2), "");
        assert_eq!(size(-1), "error");
        // A follower that has not reported yet: no raw -1s.
        let mut fresh = row.clone();
        fresh.partition.status.replicas = vec![
            ReplicaStatus {
                spu: 5002,
                hw: -1,
                leo: -1,
            },
            ReplicaStatus {
                spu: 5003,
                hw: -1,
                leo: 7,
            },
        ];
        assert_eq!(
            (table::partition::FOLLOWER_OFFSETS.cell)(&fresh),
            "5002(unreported),5003(hw=-,leo=7)"
        );

        // From an SC that gives no states: a dash, and null in the data.
        let unknown = Row { state: None, ..row };
        let table = Table::build(COLUMNS, std::slice::from_ref(&unknown));
        let epoch_at = table.header().iter().position(|h| h == "EPOCH").unwrap();
        assert_eq!(table.rows()[0][epoch_at], "-");
        let data = serde_json::to_value(&unknown).unwrap();
        assert_eq!(data["name"], "a-b-3");
        assert_eq!(data["spec"]["leader"], 5001);
        assert!(data["state"].is_null(), "{data}");
        assert!(data.get("topic").is_none(), "{data}");
    }

    #[test]
    fn the_header_keeps_its_columns_and_adds_epoch_and_the_in_sync_set() {
        let header: Vec<&str> = COLUMNS.iter().map(|c| c.header).collect();
        assert_eq!(
            header,
            [
                "TOPIC",
                "PARTITION",
                "LEADER",
                "EPOCH",
                "REPLICAS",
                "RESOLUTION",
                "SIZE",
                "HW",
                "LEO",
                "LOG-START",
                "IN-SYNC",
                "IN-SYNC-SET",
                "FOLLOWER-OFFSETS",
            ]
        );
    }

    #[test]
    fn rows_join_states_by_name_and_sort_naturally() {
        let p = |name: &str| Metadata::new(name, PartitionSpec::default(), Default::default());
        let state = |name: &str, epoch| {
            Metadata::new(
                name,
                PartitionStateSpec {
                    leader_epoch: epoch,
                    ..Default::default()
                },
                Default::default(),
            )
        };
        let joined = rows(
            vec![p("t-10"), p("t-9"), p("a-0")],
            Some(vec![state("t-9", 2), state("t-10", 5)]),
        );
        let seen: Vec<(&str, u32, Option<i32>)> = joined
            .iter()
            .map(|r| {
                (
                    r.topic.as_str(),
                    r.number,
                    r.state.as_ref().map(|s| s.leader_epoch),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [("a", 0, None), ("t", 9, Some(2)), ("t", 10, Some(5))]
        );
        assert!(rows(vec![p("t-0")], None)[0].state.is_none());
    }

    /// An SC of the object API that knows no PartitionState kind, as an older one of
    /// ours: it answers ApiVersions and lists partitions, and closes the connection on a
    /// request for a kind it cannot decode.
    async fn older_sc() -> String {
        use protocol::api::ApiVersionsResponse;
        use protocol::sc::{ObjectListRequest, ObjectListResponse, ScRequest, ScResponse};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(client::fake_sc::serve(conn, |request| match request {
                    ScRequest::ApiVersions(_) => {
                        Some(ScResponse::ApiVersions(ApiVersionsResponse::sc()))
                    }
                    ScRequest::List(ObjectListRequest::Partition(_)) => {
                        let status = PartitionStatus {
                            lsr: 1,
                            ..Default::default()
                        };
                        let spec = PartitionSpec {
                            leader: 5001,
                            replicas: vec![5001],
                            ..Default::default()
                        };
                        Some(ScResponse::List(ObjectListResponse::Partition(vec![
                            Metadata::new("old-0", spec, status),
                        ])))
                    }
                    // What it cannot decode ends the connection.
                    _ => None,
                }));
            }
        });
        addr
    }

    #[tokio::test]
    async fn an_sc_without_partition_states_lists_partitions_with_dashes() {
        use crate::command::{Body, Context};
        use crate::config::{AddrOrigin, ScTarget};

        let addr = older_sc().await;
        let ctx = Context::new(ScTarget {
            addr,
            origin: AddrOrigin::Flag,
            tls: Default::default(),
        });
        let list = |topic: Option<&str>| ListArgs {
            topic: topic.map(str::to_string),
            output: OutputArgs::default(),
        };
        let output = execute(PartitionCmd::List(list(None)), &ctx).await.unwrap();
        let Body::Report(report) = output.body else {
            panic!("{:?}", output.body)
        };
        let crate::command::Block::Table(table) = &report.blocks[0] else {
            panic!("{:?}", report.blocks)
        };
        let cell = |h: &str| {
            let i = table.header().iter().position(|x| x == h).unwrap();
            table.rows()[0][i].clone()
        };
        assert_eq!(cell("TOPIC"), "old");
        assert_eq!(cell("LEADER"), "5001");
        assert_eq!(cell("EPOCH"), "-");
        assert_eq!(cell("IN-SYNC-SET"), "-");
        assert_eq!(cell("IN-SYNC"), "1");
        assert!(report.data[0]["state"].is_null(), "{}", report.data);
        // The shared connection outlived the refused request: the next command works.
        let again = execute(PartitionCmd::List(list(Some("old"))), &ctx).await;
        assert!(again.is_ok(), "{:?}", again.err());
    }
}
