//! `fluvio consumer-group list | describe`: the Kafka consumer groups the cluster's Kafka
//! listener coordinates (kafka-python, librdkafka, Java clients with a `group.id`), read
//! through the same Kafka APIs those clients use, from the listener at `--kafka-addr`.

use clap::{Args, Subcommand};

use super::output::{Block, Column, Output, Report, Table, to_data};
use super::{CommandError, Context, OutputArgs};
use crate::client::kafka::{self, GroupDescription, GroupMember, GroupOffset, GroupSummary};

#[derive(Debug, Subcommand)]
pub enum ConsumerGroupCmd {
    /// List Kafka consumer groups: group, state, assignment protocol, member count.
    List(ListArgs),
    /// A group's state and protocol, its members with their assigned partitions, and
    /// per partition the committed offset, the log end and the lag.
    Describe(DescribeArgs),
}

/// Where the cluster serves Kafka: asked of the SC unless told.
#[derive(Debug, Clone, Args)]
pub struct KafkaAddrArgs {
    /// The Kafka listener of any SPU (its `--kafka-addr`); the group coordinator is
    /// found from there. Default: an online SPU's listener, as the SC names it.
    #[arg(long = "kafka-addr", value_name = "HOST:PORT")]
    pub kafka_addr: Option<String>,
}

impl KafkaAddrArgs {
    /// The flag's address, else the first online SPU's Kafka listener from the SC.
    pub async fn resolve(&self, ctx: &Context) -> Result<String, CommandError> {
        match &self.kafka_addr {
            Some(addr) => Ok(addr.clone()),
            None => cluster_kafka_addr(&ctx.target().addr, &ctx.client_tls()?).await,
        }
    }
}

/// The first online SPU's Kafka listener, as the SC cluster API names it.
pub async fn cluster_kafka_addr(
    sc: &str,
    tls: &crate::client::ClientTls,
) -> Result<String, CommandError> {
    let cluster = crate::client::Admin::sc_cluster_with(sc, tls).await?;
    match cluster.kafka_brokers.first() {
        Some(broker) => Ok(broker.addr.clone()),
        None => Err(kafka::KafkaError::NoListener { sc: sc.to_string() }.into()),
    }
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub kafka: KafkaAddrArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// The group (its `group.id`).
    #[arg(value_name = "GROUP")]
    pub group: String,
    #[command(flatten)]
    pub kafka: KafkaAddrArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

impl ConsumerGroupCmd {
    pub fn output(&self) -> Option<OutputArgs> {
        match self {
            ConsumerGroupCmd::List(args) => Some(args.output),
            ConsumerGroupCmd::Describe(args) => Some(args.output),
        }
    }
}

pub async fn execute(cmd: ConsumerGroupCmd, ctx: &Context) -> Result<Output, CommandError> {
    match cmd {
        ConsumerGroupCmd::List(args) => {
            let addr = args.kafka.resolve(ctx).await?;
            let groups = kafka::list_groups(&addr).await?;
            list_report(&groups).map(Output::report)
        }
        ConsumerGroupCmd::Describe(args) => {
            let addr = args.kafka.resolve(ctx).await?;
            let group = kafka::describe_group(&addr, &args.group).await?;
            describe_report(&group).map(Output::report)
        }
    }
}

/// The columns of `consumer-group list`, shared with the TUI's groups view.
pub const COLUMNS: &[Column<GroupSummary>] = &[
    Column::new("GROUP", |g| g.group.clone()),
    Column::new("STATE", |g| g.state.clone()),
    Column::new("PROTOCOL", |g| g.protocol.clone()),
    Column::new("MEMBERS", |g| g.members.to_string()),
];

/// The member table of `consumer-group describe`.
pub const MEMBER_COLUMNS: &[Column<GroupMember>] = &[
    Column::new("MEMBER-ID", |m| m.member_id.clone()),
    Column::new("CLIENT-ID", |m| m.client_id.clone()),
    Column::new("HOST", |m| m.host.clone()),
    Column::new("ASSIGNMENT", |m| {
        m.assignment
            .iter()
            .map(|tp| format!("{}-{}", tp.topic, tp.partition))
            .collect::<Vec<_>>()
            .join(",")
    }),
];

/// The offset table of `consumer-group describe`: Kafka's `--describe` columns.
pub const OFFSET_COLUMNS: &[Column<GroupOffset>] = &[
    Column::new("TOPIC", |o| o.topic.clone()),
    Column::new("PARTITION", |o| o.partition.to_string()),
    Column::new("COMMITTED", |o| o.committed.to_string()),
    Column::new("LOG-END", |o| {
        o.log_end.map(|e| e.to_string()).unwrap_or_default()
    }),
    Column::new("LAG", |o| o.lag.map(|l| l.to_string()).unwrap_or_default()),
    Column::new("CLIENT-ID", |o| o.owner.clone().unwrap_or_default()),
];

fn list_report(groups: &[GroupSummary]) -> Result<Report, CommandError> {
    Report::listing(COLUMNS, groups, &groups, "No consumer groups found")
}

/// Fields, then the members, then the offsets; the data is the whole description.
fn describe_report(group: &GroupDescription) -> Result<Report, CommandError> {
    let protocol = if group.protocol.is_empty() {
        "(none yet)".to_string()
    } else {
        group.protocol.clone()
    };
    let mut blocks = vec![Block::Fields(vec![
        ("Group".into(), group.group.clone()),
        ("State".into(), group.state.clone()),
        ("Protocol type".into(), group.protocol_type.clone()),
        ("Protocol".into(), protocol),
        ("Coordinator".into(), format!("SPU {}", group.coordinator)),
        ("Members".into(), group.members.len().to_string()),
    ])];
    blocks.push(Block::Title("Members:".into()));
    blocks.push(if group.members.is_empty() {
        Block::Empty("No members".into())
    } else {
        Block::Table(Table::build(MEMBER_COLUMNS, &group.members))
    });
    blocks.push(Block::Title("Offsets:".into()));
    blocks.push(if group.offsets.is_empty() {
        Block::Empty("No committed offsets".into())
    } else {
        Block::Table(Table::build(OFFSET_COLUMNS, &group.offsets))
    });
    Ok(Report {
        blocks,
        data: to_data(group)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::kafka::TopicPartition;

    fn described() -> GroupDescription {
        GroupDescription {
            group: "g1".into(),
            state: "Stable".into(),
            protocol: "range".into(),
            protocol_type: "consumer".into(),
            coordinator: 5001,
            members: vec![GroupMember {
                member_id: "m-1".into(),
                client_id: "alice".into(),
                host: "/127.0.0.1".into(),
                assignment: vec![
                    TopicPartition {
                        topic: "t".into(),
                        partition: 0,
                    },
                    TopicPartition {
                        topic: "t".into(),
                        partition: 1,
                    },
                ],
            }],
            offsets: vec![
                GroupOffset {
                    topic: "t".into(),
                    partition: 0,
                    committed: 3,
                    log_end: Some(5),
                    lag: Some(2),
                    owner: Some("alice".into()),
                },
                GroupOffset {
                    topic: "t".into(),
                    partition: 1,
                    committed: 4,
                    log_end: None,
                    lag: None,
                    owner: None,
                },
            ],
        }
    }

    #[test]
    fn the_list_is_a_table_of_groups() {
        let groups = [GroupSummary {
            group: "g1".into(),
            state: "Stable".into(),
            protocol: "range".into(),
            protocol_type: "consumer".into(),
            members: 2,
        }];
        let report = list_report(&groups).unwrap();
        let Block::Table(table) = &report.blocks[0] else {
            panic!("{report:?}")
        };
        assert_eq!(
            table.render_lines(),
            [
                "GROUP  STATE   PROTOCOL  MEMBERS",
                "g1     Stable  range     2"
            ]
        );
        assert_eq!(report.data[0]["members"], 2);
        let empty = list_report(&[]).unwrap();
        assert_eq!(
            empty.blocks,
            [Block::Empty("No consumer groups found".into())]
        );
    }

    #[test]
    fn describe_shows_members_then_offsets_with_lag() {
        let report = describe_report(&described()).unwrap();
        let Block::Fields(fields) = &report.blocks[0] else {
            panic!("{report:?}")
        };
        assert!(fields.contains(&("State".into(), "Stable".into())));
        assert!(fields.contains(&("Coordinator".into(), "SPU 5001".into())));
        let tables: Vec<Vec<String>> = report
            .blocks
            .iter()
            .filter_map(|b| match b {
                Block::Table(t) => Some(t.render_lines()),
                _ => None,
            })
            .collect();
        assert_eq!(
            tables[0],
            [
                "MEMBER-ID  CLIENT-ID  HOST        ASSIGNMENT",
                "m-1        alice      /127.0.0.1  t-0,t-1"
            ]
        );
        assert_eq!(
            tables[1],
            [
                "TOPIC  PARTITION  COMMITTED  LOG-END  LAG  CLIENT-ID",
                "t      0          3          5        2    alice",
                "t      1          4          -        -    -",
            ]
        );
        assert_eq!(report.data["offsets"][0]["lag"], 2);
        assert_eq!(report.data["members"][0]["assignment"][1]["partition"], 1);
    }
}
