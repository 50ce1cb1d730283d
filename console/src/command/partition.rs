//! `fluvio partition list`.

use clap::{Args, Subcommand};
use protocol::sc::{Metadata, PartitionSpec, parse_partition_name};

use super::output::{Column, Output, Report};
use super::parse::human_bytes;
use super::topic::spu_list;
use super::{CommandError, Context, OutputArgs};

#[derive(Debug, Subcommand)]
pub enum PartitionCmd {
    /// List partitions: leader, replicas, status, size and offsets.
    List(ListArgs),
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
        }
    }
}

pub async fn execute(cmd: PartitionCmd, ctx: &Context) -> Result<Output, CommandError> {
    match cmd {
        PartitionCmd::List(args) => list(args, ctx).await,
    }
}

/// A partition with its name split into topic and number.
pub struct Row {
    pub topic: String,
    pub number: u32,
    pub partition: Metadata<PartitionSpec>,
}

fn size(bytes: i64) -> String {
    match bytes {
        -1 => "error".into(),
        b if b < 0 => String::new(),
        b => human_bytes(b as u64),
    }
}

/// Followers as `5002(hw=3,leo=4)`, comma-separated; readable, and one word per cell.
fn follower_offsets(row: &Row) -> String {
    row.partition
        .status
        .replicas
        .iter()
        .map(|r| format!("{}(hw={},leo={})", r.spu, r.hw, r.leo))
        .collect::<Vec<_>>()
        .join(",")
}

/// The columns of `partition list`: the header and every row come from this one list.
pub const COLUMNS: &[Column<Row>] = &[
    Column::new("TOPIC", |r| r.topic.clone()),
    Column::new("PARTITION", |r| r.number.to_string()),
    Column::new("LEADER", |r| r.partition.spec.leader.to_string()),
    Column::new("REPLICAS", |r| spu_list(&r.partition.spec.replicas)),
    Column::new("RESOLUTION", |r| {
        r.partition.status.resolution.label().into()
    }),
    Column::new("SIZE", |r| size(r.partition.status.size)),
    Column::new("HW", |r| r.partition.status.leader.hw.to_string()),
    Column::new("LEO", |r| r.partition.status.leader.leo.to_string()),
    Column::new("LOG-START", |r| r.partition.status.base_offset.to_string()),
    Column::new("IN-SYNC", |r| r.partition.status.lsr.to_string()),
    Column::new("FOLLOWER-OFFSETS", follower_offsets),
];

async fn list(args: ListArgs, ctx: &Context) -> Result<Output, CommandError> {
    let filters: Vec<String> = args.topic.iter().cloned().collect();
    let partitions = ctx.admin().await?.list::<PartitionSpec>(&filters).await?;
    let mut rows: Vec<Row> = partitions
        .into_iter()
        .filter_map(|partition| {
            let (topic, number) = parse_partition_name(&partition.name)?;
            let topic = topic.to_string();
            Some(Row {
                topic,
                number,
                partition,
            })
        })
        // The list filter matches substrings; --topic means that topic.
        .filter(|row| args.topic.as_ref().is_none_or(|t| &row.topic == t))
        .collect();
    rows.sort_by(|a, b| (&a.topic, a.number).cmp(&(&b.topic, b.number)));
    let data: Vec<&Metadata<PartitionSpec>> = rows.iter().map(|r| &r.partition).collect();
    let empty = match &args.topic {
        Some(topic) => format!("No partitions found for topic '{topic}'"),
        None => "No partitions found".to_string(),
    };
    Ok(Output::report(Report::listing(
        COLUMNS, &rows, &data, &empty,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Table;
    use protocol::sc::{PartitionStatus, ReplicaStatus};

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
        };
        let table = Table::build(COLUMNS, std::slice::from_ref(&row));
        assert_eq!(table.header().len(), 11);
        assert_eq!(table.rows()[0].len(), 11);
        let cell = |h: &str| {
            let i = table.header().iter().position(|x| x == h).unwrap();
            table.rows()[0][i].clone()
        };
        assert_eq!(cell("TOPIC"), "a-b");
        assert_eq!(cell("REPLICAS"), "[5001,5002]");
        assert_eq!(cell("SIZE"), "1.5KiB");
        assert_eq!(cell("FOLLOWER-OFFSETS"), "5002(hw=3,leo=4)");
        assert_eq!(size(-2), "");
        assert_eq!(size(-1), "error");
    }
}
