//! `fluvio produce TOPIC`: one record per line of stdin (or of a file), or the whole input
//! as one record with `--raw`.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use clap::{Args, ValueEnum};
use protocol::record::{Compression, Record};
use protocol::spu::Isolation;
use std::collections::VecDeque;
use std::io::IsTerminal;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, BufReader};

use super::output::Output;
use super::parse;
use super::record_json::JsonRecord;
use super::{CommandError, Context};
use crate::client::{PendingRecord, ProducerConfig};

#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// The topic to write to.
    pub topic: String,
    /// Write every record to this partition (default: by key hash, else round-robin).
    #[arg(short = 'p', long)]
    pub partition: Option<u32>,
    /// Read records from this file instead of stdin.
    #[arg(short = 'f', long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Send the whole input as one record instead of one per line.
    #[arg(long)]
    pub raw: bool,
    /// Split each line at the first SEP into key and value.
    #[arg(long, value_name = "SEP", conflicts_with_all = ["key", "raw"])]
    pub key_separator: Option<String>,
    /// Give every record this key.
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
    /// How long a batch may wait for more records: 150ms, 2s, or plain milliseconds.
    #[arg(long, value_name = "DURATION", value_parser = parse::millis_duration)]
    pub linger: Option<Duration>,
    /// Seal a batch at this size: 16KiB, 1MB or bytes.
    #[arg(long, value_name = "BYTES", value_parser = parse::size_bytes)]
    pub batch_size: Option<u64>,
    /// read_committed: acknowledged once the in-sync replicas have the records.
    #[arg(long, value_enum)]
    pub isolation: Option<IsolationArg>,
    /// Compress batches with this codec (default: the topic's compression type); a topic
    /// that is not `any` accepts its own codec only.
    #[arg(long, value_enum, value_name = "CODEC", ignore_case = true)]
    pub compression: Option<CompressionArg>,
    /// at-least-once (default): a batch whose leader moved or whose connection failed is
    /// sent again, so a record may be stored twice; at-most-once: each batch is sent once,
    /// never retried, and a failure is reported instead.
    #[arg(long, value_enum, value_name = "SEMANTIC")]
    pub delivery_semantic: Option<DeliverySemantic>,
    /// Each line is a JSON record as `consume -O json` prints it (key, value, headers).
    #[arg(long, conflicts_with_all = ["raw", "key_separator", "key"])]
    pub json: bool,
    /// Print the partition and offset of every record written.
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IsolationArg {
    #[value(name = "read_committed", alias = "read-committed")]
    ReadCommitted,
    #[value(name = "read_uncommitted", alias = "read-uncommitted")]
    ReadUncommitted,
}

impl From<IsolationArg> for Isolation {
    fn from(value: IsolationArg) -> Self {
        match value {
            IsolationArg::ReadCommitted => Isolation::ReadCommitted,
            IsolationArg::ReadUncommitted => Isolation::ReadUncommitted,
        }
    }
}

/// A batch codec, as `--compression` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompressionArg {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl From<CompressionArg> for Compression {
    fn from(value: CompressionArg) -> Self {
        match value {
            CompressionArg::None => Compression::None,
            CompressionArg::Gzip => Compression::Gzip,
            CompressionArg::Snappy => Compression::Snappy,
            CompressionArg::Lz4 => Compression::Lz4,
            CompressionArg::Zstd => Compression::Zstd,
        }
    }
}

/// Fluvio's delivery semantics, spelled as its CLI accepts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeliverySemantic {
    #[value(
        name = "at-most-once",
        alias = "at_most_once",
        alias = "AtMostOnce",
        alias = "atMostOnce",
        alias = "atmostonce"
    )]
    AtMostOnce,
    #[value(
        name = "at-least-once",
        alias = "at_least_once",
        alias = "AtLeastOnce",
        alias = "atLeastOnce",
        alias = "atleastonce"
    )]
    AtLeastOnce,
}

/// Records from the input: `(key, value)`.
pub fn split_records(
    input: &[u8],
    raw: bool,
    key: Option<&str>,
    separator: Option<&str>,
) -> Result<Vec<(Option<Bytes>, Bytes)>, CommandError> {
    let fixed_key = key.map(|k| Bytes::copy_from_slice(k.as_bytes()));
    if raw {
        return Ok(vec![(fixed_key, Bytes::copy_from_slice(input))]);
    }
    let mut records = Vec::new();
    for (number, line) in input.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        match separator {
            None => records.push((fixed_key.clone(), Bytes::copy_from_slice(line))),
            Some(sep) => {
                let at = find(line, sep.as_bytes()).ok_or_else(|| CommandError::NoSeparator {
                    line: number + 1,
                    separator: sep.to_string(),
                })?;
                records.push((
                    Some(Bytes::copy_from_slice(&line[..at])),
                    Bytes::copy_from_slice(&line[at + sep.len()..]),
                ));
            }
        }
    }
    Ok(records)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The producer the flags ask for.
pub fn producer_config(args: &ProduceArgs) -> ProducerConfig {
    let mut config = ProducerConfig::default();
    if let Some(linger) = args.linger {
        config.linger = linger;
    }
    config.compression = args.compression.map(Compression::from);
    if args.delivery_semantic == Some(DeliverySemantic::AtMostOnce) {
        // One attempt: a batch is never sent twice, so never stored twice; what Fluvio's
        // at-most-once also gives up (hearing of a failure) we keep, and report.
        config.max_attempts = 1;
    }
    if let Some(bytes) = args.batch_size {
        config.batch_size = usize::try_from(bytes).unwrap_or(usize::MAX);
    }
    if let Some(isolation) = args.isolation {
        config.isolation = isolation.into();
    }
    config
}

pub async fn execute(args: ProduceArgs, ctx: &Context) -> Result<Output, CommandError> {
    let config = producer_config(&args);
    let fluvio = ctx.fluvio().await?;
    let producer = fluvio.topic_producer(&args.topic, config).await?;
    let interactive = args.file.is_none() && std::io::stdin().is_terminal();
    let mut input = open_input(&args).await?;
    let mut sender = Sender {
        producer: &producer,
        args: &args,
        ctx,
        pending: VecDeque::new(),
        sent: 0,
    };

    if args.raw {
        let mut whole = Vec::new();
        input
            .read_to_end(&mut whole)
            .await
            .map_err(|source| read_failed(&args, source))?;
        let key = args
            .key
            .as_ref()
            .map(|k| Bytes::copy_from_slice(k.as_bytes()));
        sender.send(key, Bytes::from(whole), Vec::new()).await?;
    } else {
        let mut line = Vec::new();
        let mut number = 0;
        loop {
            if interactive {
                eprint!("> ");
            }
            line.clear();
            let read = input
                .read_until(b'\n', &mut line)
                .await
                .map_err(|source| read_failed(&args, source))?;
            if read == 0 {
                break;
            }
            number += 1;
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            if text.is_empty() {
                continue;
            }
            let record = parse_line(text, number, &args)?;
            sender
                .send(record.key, record.value, record.headers)
                .await?;
            if interactive {
                // A person typing wants to know at once that the record was written.
                producer.flush().await?;
                sender.settle(0).await?;
                eprintln!("Ok!");
            }
        }
    }
    producer.flush().await?;
    sender.settle(0).await?;
    let mut output = Output::default();
    if sender.sent == 0 {
        output
            .notes
            .push("note: the input had no records; nothing was sent".into());
    }
    Ok(output)
}

/// Where records come from: the file, or stdin, read as it arrives.
async fn open_input(
    args: &ProduceArgs,
) -> Result<Box<dyn AsyncBufRead + Unpin + Send>, CommandError> {
    match &args.file {
        Some(path) => {
            let file =
                tokio::fs::File::open(path)
                    .await
                    .map_err(|source| CommandError::ReadFile {
                        path: path.clone(),
                        source,
                    })?;
            Ok(Box::new(BufReader::new(file)))
        }
        None => Ok(Box::new(BufReader::new(tokio::io::stdin()))),
    }
}

fn read_failed(args: &ProduceArgs, source: std::io::Error) -> CommandError {
    CommandError::ReadFile {
        path: args
            .file
            .clone()
            .unwrap_or_else(|| PathBuf::from("<stdin>")),
        source,
    }
}

/// One input line as a record, as the flags say: a JSON record, `KEY<sep>VALUE`, or a
/// value (with `--key`, if given).
fn parse_line(line: &[u8], number: usize, args: &ProduceArgs) -> Result<Record, CommandError> {
    if args.json {
        return JsonRecord::parse_record(line).map_err(|source| CommandError::BadJsonRecord {
            line: number,
            source,
        });
    }
    let mut records = split_records(
        line,
        false,
        args.key.as_deref(),
        args.key_separator.as_deref(),
    )
    .map_err(|err| match err {
        CommandError::NoSeparator { separator, .. } => CommandError::NoSeparator {
            line: number,
            separator,
        },
        other => other,
    })?;
    let (key, value) = records.pop().unwrap_or_default();
    Ok(Record {
        key,
        value,
        ..Record::default()
    })
}

/// Sends records and, with `-v`, prints where each one went, in order.
struct Sender<'a> {
    producer: &'a crate::client::TopicProducer,
    args: &'a ProduceArgs,
    ctx: &'a Context,
    pending: VecDeque<PendingRecord>,
    sent: u64,
}

impl Sender<'_> {
    /// How many records may wait for acknowledgement before sending waits for the oldest.
    const WINDOW: usize = 10_000;

    async fn send(
        &mut self,
        key: Option<Bytes>,
        value: Bytes,
        headers: Vec<protocol::record::RecordHeader>,
    ) -> Result<(), CommandError> {
        let record = Record {
            key,
            value,
            headers,
            ..Record::default()
        };
        let pending = match self.args.partition {
            Some(partition) => self.producer.send_record(partition, record).await?,
            None => self.producer.send_by_key(record).await?,
        };
        self.pending.push_back(pending);
        self.sent += 1;
        self.settle(Self::WINDOW).await
    }

    /// Wait for acknowledgements until at most `keep` remain outstanding.
    async fn settle(&mut self, keep: usize) -> Result<(), CommandError> {
        while self.pending.len() > keep {
            let Some(oldest) = self.pending.pop_front() else {
                break;
            };
            let meta = oldest.wait().await?;
            if self.args.verbose {
                // The records are sent whether or not anyone still reads the report.
                let _ = self.ctx.write_records(
                    format!("partition {} offset {}\n", meta.partition, meta.offset).as_bytes(),
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn produce(line: &[&str]) -> Result<ProduceArgs, clap::Error> {
        let argv = ["fluvio", "produce"].iter().chain(line).copied();
        match super::super::parse(argv)?.command {
            super::super::Command::Produce(args) => Ok(args),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fluvio_spellings_parse() {
        let args = produce(&[
            "t",
            "--linger",
            "150ms",
            "--compression",
            "ZSTD",
            "--delivery-semantic",
            "at-most-once",
        ])
        .unwrap();
        assert_eq!(args.linger, Some(Duration::from_millis(150)));
        assert_eq!(args.compression, Some(CompressionArg::Zstd));
        assert_eq!(args.delivery_semantic, Some(DeliverySemantic::AtMostOnce));
        let config = producer_config(&args);
        assert_eq!(
            config.max_attempts, 1,
            "at-most-once never sends a batch twice"
        );
        assert_eq!(config.compression, Some(Compression::Zstd));
        assert_eq!(config.linger, Duration::from_millis(150));
        let retrying =
            producer_config(&produce(&["t", "--delivery-semantic", "at-least-once"]).unwrap());
        assert!(retrying.max_attempts > 1);
        assert_eq!(retrying.compression, None, "no flag: follow the topic");
        // A plain number keeps its old meaning: milliseconds.
        assert_eq!(
            produce(&["t", "--linger", "20"]).unwrap().linger,
            Some(Duration::from_millis(20))
        );
        for spelling in ["at_least_once", "AtLeastOnce", "at-least-once"] {
            let args = produce(&["t", "--delivery-semantic", spelling]).unwrap();
            assert_eq!(args.delivery_semantic, Some(DeliverySemantic::AtLeastOnce));
        }
        for bad in [
            &["t", "--linger", "5 parsecs"][..],
            &["t", "--compression", "brotli"],
            &["t", "--delivery-semantic", "exactly-once"],
        ] {
            assert_eq!(produce(bad).unwrap_err().exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn lines_keys_and_raw() {
        let recs = split_records(b"a\nb\r\n\nc", false, None, None).unwrap();
        let values: Vec<&[u8]> = recs.iter().map(|(_, v)| v.as_ref()).collect();
        assert_eq!(values, [b"a".as_ref(), b"b", b"c"]);
        let recs = split_records(b"k1=v1\nk2=v=2\n", false, None, Some("=")).unwrap();
        assert_eq!(recs[1].0.as_deref(), Some(b"k2".as_ref()));
        assert_eq!(recs[1].1.as_ref(), b"v=2");
        let err = split_records(b"k1=v1\nnope\n", false, None, Some("=")).unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        let recs = split_records(b"x\ny\n", true, Some("k"), None).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].1.as_ref(), b"x\ny\n");
        assert_eq!(recs[0].0.as_deref(), Some(b"k".as_ref()));
    }
}
