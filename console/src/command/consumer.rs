//! `fluvio consumer list | delete`: the offsets consumers committed (`consume --consumer
//! NAME`, or the official client's offset consumer), kept by the cluster in the system
//! topic `consumer-offset`.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand};
use protocol::sc::table::{self, ConsumerRow};
use protocol::spu::ReplicaKey;

use super::output::{Column, Output, Report};
use super::{CommandError, Context, OutputArgs};
use crate::client::{ClientError, Fluvio};

#[derive(Debug, Subcommand)]
pub enum ConsumerCmd {
    /// List committed offsets: consumer, topic, partition, offset, lag (records written
    /// after it) and how long ago it was committed.
    List(ListArgs),
    /// Delete a consumer's committed offsets: all of them, a topic's, or one partition's.
    /// The consumer then starts where its start flags say.
    Delete(DeleteArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The consumer.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Only its offsets for this topic.
    #[arg(short = 't', long, value_name = "TOPIC")]
    pub topic: Option<String>,
    /// Only its offset for this partition (of --topic).
    #[arg(short = 'p', long, value_name = "P", requires = "topic")]
    pub partition: Option<u32>,
}

impl ConsumerCmd {
    pub fn output(&self) -> Option<OutputArgs> {
        match self {
            ConsumerCmd::List(args) => Some(args.output),
            ConsumerCmd::Delete(_) => None,
        }
    }
}

pub async fn execute(cmd: ConsumerCmd, ctx: &Context) -> Result<Output, CommandError> {
    match cmd {
        ConsumerCmd::List(_) => list(ctx).await,
        ConsumerCmd::Delete(args) => delete(args, ctx).await,
    }
}

/// The columns of `consumer list`, shared with the TUI's consumers view.
pub const COLUMNS: &[Column<ConsumerRow>] = table::consumer::LIST;

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Every committed offset with its lag, sorted by consumer, topic, partition. The lag is
/// measured against each partition's leader (the SC's copy of the high watermark trails
/// it); a partition whose leader cannot say (a deleted topic) has no lag.
pub async fn rows(ctx: &Context) -> Result<Vec<ConsumerRow>, CommandError> {
    Ok(offset_rows(&ctx.fluvio().await?).await?)
}

/// [`rows`] through a cluster client (the TUI's consumers view).
pub async fn offset_rows(fluvio: &Fluvio) -> Result<Vec<ConsumerRow>, ClientError> {
    let offsets = fluvio.consumer_offsets(None, None).await?;
    let mut hw: HashMap<ReplicaKey, Option<i64>> = HashMap::new();
    for o in &offsets {
        if hw.contains_key(&o.replica_id) {
            continue;
        }
        let key = &o.replica_id;
        let end = match fluvio.partition_consumer(&key.topic, key.partition).await {
            Ok(consumer) => consumer.offsets().await.ok().map(|o| o.end),
            Err(_) => None,
        };
        hw.insert(key.clone(), end);
    }
    let now = now_secs();
    let mut rows: Vec<ConsumerRow> = offsets
        .iter()
        .map(|o| ConsumerRow::new(o, hw.get(&o.replica_id).copied().flatten(), now))
        .collect();
    rows.sort_by(|a, b| {
        (&a.consumer, &a.topic, a.partition).cmp(&(&b.consumer, &b.topic, b.partition))
    });
    Ok(rows)
}

async fn list(ctx: &Context) -> Result<Output, CommandError> {
    let rows = rows(ctx).await?;
    Ok(Output::report(Report::listing(
        COLUMNS,
        &rows,
        &rows,
        "No consumer offsets found",
    )?))
}

async fn delete(args: DeleteArgs, ctx: &Context) -> Result<Output, CommandError> {
    let fluvio = ctx.fluvio().await?;
    let replica = match (&args.topic, args.partition) {
        (Some(topic), Some(partition)) => Some(ReplicaKey::new(topic.clone(), partition)),
        _ => None,
    };
    let offsets = fluvio.consumer_offsets(Some(&args.name), replica).await?;
    let matching: Vec<ReplicaKey> = offsets
        .into_iter()
        .filter(|o| o.consumer_id == args.name)
        .filter(|o| args.topic.as_ref().is_none_or(|t| &o.replica_id.topic == t))
        .filter(|o| args.partition.is_none_or(|p| o.replica_id.partition == p))
        .map(|o| o.replica_id)
        .collect();
    if matching.is_empty() {
        return Err(CommandError::NoConsumerOffsets {
            consumer: args.name.clone(),
            scope: scope(&args),
        });
    }
    for key in &matching {
        fluvio
            .delete_consumer_offset(&args.name, &key.topic, key.partition)
            .await?;
    }
    let what: Vec<String> = matching
        .iter()
        .map(|k| format!("{}-{}", k.topic, k.partition))
        .collect();
    Ok(Output::message(format!(
        "consumer \"{}\": offsets deleted for {}",
        args.name,
        what.join(", ")
    )))
}

/// What a delete was limited to, for its error.
fn scope(args: &DeleteArgs) -> String {
    match (&args.topic, args.partition) {
        (Some(topic), Some(p)) => format!(" for topic '{topic}' partition {p}"),
        (Some(topic), None) => format!(" for topic '{topic}'"),
        _ => String::new(),
    }
}
