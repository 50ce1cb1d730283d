//! `fluvio produce TOPIC`: one record per line of stdin (or of a file), or the whole input
//! as one record with `--raw`.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use clap::{Args, ValueEnum};
use protocol::record::Record;
use protocol::spu::Isolation;
use std::io::Read;

use super::output::Output;
use super::parse;
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
    /// Milliseconds a batch may wait for more records.
    #[arg(long, value_name = "MS")]
    pub linger: Option<u64>,
    /// Seal a batch at this size: 16KiB, 1MB or bytes.
    #[arg(long, value_name = "BYTES", value_parser = parse::size_bytes)]
    pub batch_size: Option<u64>,
    /// read_committed: acknowledged once the in-sync replicas have the records.
    #[arg(long, value_enum)]
    pub isolation: Option<IsolationArg>,
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

pub async fn execute(args: ProduceArgs, ctx: &Context) -> Result<Output, CommandError> {
    let input = match &args.file {
        Some(path) => std::fs::read(path).map_err(|source| CommandError::ReadFile {
            path: path.clone(),
            source,
        })?,
        None => {
            let stdin_failed = |source| CommandError::ReadFile {
                path: PathBuf::from("<stdin>"),
                source,
            };
            tokio::task::spawn_blocking(|| {
                let mut buf = Vec::new();
                std::io::stdin().read_to_end(&mut buf).map(|_| buf)
            })
            .await
            .map_err(|e| stdin_failed(std::io::Error::other(e)))?
            .map_err(stdin_failed)?
        }
    };
    let records = split_records(
        &input,
        args.raw,
        args.key.as_deref(),
        args.key_separator.as_deref(),
    )?;
    let mut config = ProducerConfig::default();
    if let Some(ms) = args.linger {
        config.linger = Duration::from_millis(ms);
    }
    if let Some(bytes) = args.batch_size {
        config.batch_size = usize::try_from(bytes).unwrap_or(usize::MAX);
    }
    if let Some(isolation) = args.isolation {
        config.isolation = isolation.into();
    }
    let fluvio = ctx.fluvio().await?;
    let producer = fluvio.topic_producer(&args.topic, config).await?;
    let mut pending: Vec<PendingRecord> = Vec::with_capacity(records.len());
    for (key, value) in records {
        let sent = match args.partition {
            Some(partition) => {
                let record = Record {
                    key,
                    value,
                    ..Record::default()
                };
                producer.send_record(partition, record).await?
            }
            None => producer.send(key, value).await?,
        };
        pending.push(sent);
    }
    producer.flush().await?;
    let count = pending.len();
    for record in pending {
        record.wait().await?;
    }
    let mut output = Output::default();
    if count == 0 {
        output
            .notes
            .push("note: the input had no records; nothing was sent".into());
    }
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

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
