//! `fluvio consume TOPIC`: stream records to the context's record writer as they arrive.

use clap::{ArgGroup, Args, ValueEnum};

use super::output::Output;
use super::produce::IsolationArg;
use super::record_json::JsonRecord;
use super::{CommandError, Context};
use std::collections::BTreeMap;

use crate::client::{
    ConsumerConfig, ConsumerRecord, MultiStream, Offset, OffsetStrategy, StreamEvent,
};

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("start").args(["beginning", "offset", "tail", "head"])))]
pub struct ConsumeArgs {
    /// The topic to read.
    pub topic: String,
    /// Read these partitions (repeatable); all of them by default.
    #[arg(short = 'p', long = "partition", value_name = "P")]
    pub partitions: Vec<u32>,
    /// Read all partitions.
    #[arg(short = 'A', long = "all-partitions", conflicts_with = "partitions")]
    pub all: bool,
    /// Start at the oldest record.
    #[arg(short = 'B', long)]
    pub beginning: bool,
    /// Start at this offset; negative counts back from the end. (`--start` is Fluvio's
    /// spelling.)
    #[arg(
        short = 'o',
        long,
        visible_alias = "start",
        allow_negative_numbers = true
    )]
    pub offset: Option<i64>,
    /// Start N records before the end.
    #[arg(short = 'T', long, value_name = "N")]
    pub tail: Option<i64>,
    /// Start N records after the beginning.
    #[arg(short = 'H', long, value_name = "N")]
    pub head: Option<i64>,
    /// Stop after this offset (inclusive).
    #[arg(long, value_name = "OFFSET")]
    pub end: Option<i64>,
    /// Stop at the end of the log instead of waiting for new records.
    #[arg(short = 'd', long = "disable-continuous")]
    pub disable_continuous: bool,
    /// Stop after this many records.
    #[arg(short = 'n', long = "num-records", value_name = "NUM")]
    pub num: Option<u64>,
    /// Print each record's key: `[key] value`.
    #[arg(short = 'k', long = "key-value")]
    pub key_value: bool,
    /// How to print records.
    #[arg(short = 'O', long = "output", value_enum, default_value_t)]
    pub format: RecordFormat,
    /// Print each record with a template: {{key}} {{value}} {{offset}} {{partition}}
    /// {{time}} (RFC 3339) {{timestamp}} (ms) {{headers}} (k=v,...).
    #[arg(short = 'F', long = "format", value_name = "TEMPLATE", value_parser = parse_template)]
    pub template: Option<String>,
    /// Bytes per fetch the SPU may send. (`--maxbytes` is Fluvio's spelling.)
    #[arg(short = 'b', long, visible_alias = "maxbytes", value_name = "N")]
    pub max_bytes: Option<i32>,
    #[arg(long, value_enum)]
    pub isolation: Option<IsolationArg>,
    /// Read as this consumer: start after the offset it committed (the start flags apply
    /// when it has none) and commit as records are printed (see --offset-strategy).
    #[arg(long, value_name = "NAME")]
    pub consumer: Option<String>,
    /// With --consumer: `auto` commits as records are printed and on exit, `manual`
    /// commits once, on exit (after -n, --end, -d or Ctrl-C), `none` neither reads nor
    /// commits offsets.
    #[arg(long, value_enum, requires = "consumer", value_name = "STRATEGY")]
    pub offset_strategy: Option<StrategyArg>,
}

/// `--offset-strategy`: the official client's offset management strategies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum StrategyArg {
    #[default]
    Auto,
    Manual,
    None,
}

impl From<StrategyArg> for OffsetStrategy {
    fn from(arg: StrategyArg) -> Self {
        match arg {
            StrategyArg::Auto => OffsetStrategy::Auto,
            StrategyArg::Manual => OffsetStrategy::Manual,
            StrategyArg::None => OffsetStrategy::None,
        }
    }
}

/// With auto commit, commit at least this often while records keep coming.
const AUTO_COMMIT_RECORDS: u64 = 1000;
const AUTO_COMMIT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum RecordFormat {
    /// Text when the value is printable UTF-8, else a hex dump.
    #[default]
    Dynamic,
    /// The value as text (invalid UTF-8 replaced).
    Text,
    /// One JSON object per record: partition, offset, timestamp, key, value, headers
    /// (`produce --json` reads it back).
    Json,
    /// The value's bytes exactly, each followed by a newline.
    Raw,
    /// A hex dump of the value.
    Hex,
}

pub async fn execute(args: ConsumeArgs, ctx: &Context) -> Result<Output, CommandError> {
    let fluvio = ctx.fluvio().await?;
    let partitions: Vec<u32> = if args.partitions.is_empty() {
        (0..fluvio.partition_count(&args.topic).await?).collect()
    } else {
        args.partitions.clone()
    };
    let offset = match (args.beginning, args.offset, args.tail, args.head) {
        (true, ..) => Offset::Beginning,
        (_, Some(n), ..) if n < 0 => Offset::FromEnd(-n),
        (_, Some(n), ..) => Offset::Absolute(n),
        (_, _, Some(n), _) => Offset::FromEnd(n.max(0)),
        (_, _, _, Some(n)) => Offset::FromBeginning(n.max(0)),
        _ => Offset::End,
    };
    let mut config = ConsumerConfig {
        end: args.end,
        stop_at_end: args.disable_continuous,
        ..ConsumerConfig::default()
    };
    if let Some(max) = args.max_bytes {
        config.max_bytes = max;
    }
    if let Some(isolation) = args.isolation {
        config.isolation = isolation.into();
    }
    if args.num == Some(0) {
        return Ok(Output::default());
    }
    let mut output = Output::default();
    if let (Offset::Absolute(wanted), true) = (offset, args.disable_continuous) {
        // The stream clamps a start past the end to the end and, told to stop there,
        // stops at once: say why nothing came, and where the end is.
        for &partition in &partitions {
            let consumer = fluvio.partition_consumer(&args.topic, partition).await?;
            let end = consumer.offsets().await?.end;
            if wanted > end {
                output
                    .notes
                    .push(past_the_end(&args.topic, partition, wanted, end));
            }
        }
    }
    // With a consumer whose offsets are managed, each partition starts after what it
    // committed; partitions it never committed start where the flags say.
    let strategy = args
        .consumer
        .as_ref()
        .map(|_| OffsetStrategy::from(args.offset_strategy.unwrap_or_default()));
    let managed = strategy.is_some_and(|s| s != OffsetStrategy::None);
    config.consumer_id = args.consumer.clone();
    let mut starts = Vec::with_capacity(partitions.len());
    for &partition in &partitions {
        let committed = match (&args.consumer, managed) {
            (Some(consumer), true) => {
                fluvio
                    .committed_offset(consumer, &args.topic, partition)
                    .await?
            }
            _ => None,
        };
        starts.push((
            partition,
            committed.map_or(offset, |c| Offset::Absolute(c + 1)),
        ));
    }
    // A following consume rides out a daemon restart however long it takes, and says on
    // stderr when it lost the cluster and when it is back, so it does not look hung.
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    if !args.disable_continuous {
        config.resume_within = None;
        config.events = Some(events_tx);
    }
    let mut outage = Outage::default();
    let mut stream = MultiStream::start_each(&fluvio, &args.topic, &starts, config).await?;
    // The last offset printed per partition, and when commits last went out.
    let mut printed: BTreeMap<u32, i64> = BTreeMap::new();
    let mut since_commit = 0u64;
    let mut last_commit = tokio::time::Instant::now();
    let auto = strategy == Some(OffsetStrategy::Auto);
    let interrupted = async {
        if managed {
            // Ctrl-C ends the stream like -n would, so what was printed gets committed.
            let _ = tokio::signal::ctrl_c().await;
        } else {
            std::future::pending::<()>().await
        }
    };
    tokio::pin!(interrupted);
    let mut count = 0u64;
    loop {
        let ready = match stream.try_next() {
            Ok(item) => Some(Some(item)),
            Err(true) => Some(None),
            Err(false) => None,
        };
        let next = match ready {
            Some(next) => next,
            None => {
                // Caught up: a good moment to commit what was printed.
                if auto && since_commit > 0 {
                    commit(&stream, &printed, &mut output).await;
                    since_commit = 0;
                    last_commit = tokio::time::Instant::now();
                }
                tokio::select! {
                    next = stream.next() => next,
                    // Nobody reads any more (`| head -1`): done, quietly, like `cat`.
                    () = ctx.records_gone() => break,
                    () = &mut interrupted => break,
                    Some(event) = events.recv() => {
                        if let Some(line) = outage.update(&event, &args.topic) {
                            ctx.notice(&line);
                        }
                        continue;
                    }
                }
            }
        };
        let Some(record) = next else { break };
        let record = record?;
        let text = format_record(&record, &args);
        if ctx.write_records(&text).is_err() {
            break;
        }
        printed.insert(record.partition, record.offset);
        since_commit += 1;
        count += 1;
        if args.num.is_some_and(|n| count >= n) {
            break;
        }
        if auto
            && (since_commit >= AUTO_COMMIT_RECORDS || last_commit.elapsed() >= AUTO_COMMIT_EVERY)
        {
            commit(&stream, &printed, &mut output).await;
            since_commit = 0;
            last_commit = tokio::time::Instant::now();
        }
    }
    if managed {
        commit(&stream, &printed, &mut output).await;
    }
    Ok(output)
}

/// Which partitions of a following consume are cut off: one line when the first is lost,
/// one when the last is back, however many partitions the outage touched.
#[derive(Debug, Default)]
struct Outage {
    lost: std::collections::BTreeSet<u32>,
}

impl Outage {
    fn update(&mut self, event: &StreamEvent, topic: &str) -> Option<String> {
        match event {
            StreamEvent::Lost { partition, reason } => {
                let first = self.lost.is_empty();
                self.lost.insert(*partition);
                first.then(|| {
                    format!("connection lost: {reason}; retrying until topic '{topic}' can be read again")
                })
            }
            StreamEvent::Resumed { partition, leader } => {
                let was_lost = self.lost.remove(partition);
                (was_lost && self.lost.is_empty()).then(|| {
                    format!("connection back: reading topic '{topic}' again from {leader}")
                })
            }
        }
    }
}

/// Commit the last printed offset of each partition; a failure is a note, not the end of
/// the command: the records were printed, and the next run reads them again.
async fn commit(stream: &MultiStream, printed: &BTreeMap<u32, i64>, output: &mut Output) {
    for (&partition, &offset) in printed {
        let Some(committer) = stream.committer(partition) else {
            continue;
        };
        if let Err(err) = committer.commit(offset).await {
            let note = format!(
                "could not commit offset {offset} of partition {partition}: {}",
                super::advised(&err)
            );
            if !output.notes.contains(&note) {
                output.notes.push(note);
            }
        }
    }
}

/// What `consume -o OFFSET -d` says when a partition ends before OFFSET.
fn past_the_end(topic: &str, partition: u32, wanted: i64, end: i64) -> String {
    format!(
        "offset {wanted} is past the end of topic '{topic}' partition {partition}: \
         its end is {end} (the next record written gets offset {end})"
    )
}

/// The placeholders `-F/--format` fills in.
pub const PLACEHOLDERS: &[&str] = &[
    "key",
    "value",
    "offset",
    "partition",
    "time",
    "timestamp",
    "headers",
];

/// `-F/--format`'s value, checked as clap parses it, so an unknown placeholder is a usage
/// error (exit 2) like any bad flag value, rather than printed literally on every record.
pub fn parse_template(template: &str) -> Result<String, String> {
    let mut rest = template;
    // Each `}}` closes the nearest `{{` before it; an unpaired brace is text like any other.
    while let Some(close) = rest.find("}}") {
        if let Some(open) = rest[..close].rfind("{{") {
            let name = &rest[open + 2..close];
            if !PLACEHOLDERS.contains(&name) {
                let known = PLACEHOLDERS
                    .iter()
                    .map(|p| format!("{{{{{p}}}}}"))
                    .collect::<Vec<_>>()
                    .join(" ");
                return Err(format!(
                    "unknown placeholder {{{{{name}}}}}; known placeholders: {known}"
                ));
            }
        }
        rest = &rest[close + 2..];
    }
    Ok(template.to_string())
}

/// One record as the flags ask, newline included.
pub fn format_record(record: &ConsumerRecord, args: &ConsumeArgs) -> Vec<u8> {
    if let Some(template) = &args.template {
        let mut text = template
            .replace("{{key}}", &key_text(record))
            .replace("{{value}}", &String::from_utf8_lossy(&record.value))
            .replace("{{offset}}", &record.offset.to_string())
            .replace("{{partition}}", &record.partition.to_string())
            .replace("{{timestamp}}", &record.timestamp.to_string())
            .replace("{{time}}", &rfc3339(record.timestamp))
            .replace("{{headers}}", &headers_text(record));
        text.push('\n');
        return text.into_bytes();
    }
    let mut out = Vec::new();
    if args.key_value && args.format != RecordFormat::Json {
        out.extend_from_slice(format!("[{}] ", key_text(record)).as_bytes());
    }
    match args.format {
        RecordFormat::Raw => out.extend_from_slice(&record.value),
        RecordFormat::Text => {
            out.extend_from_slice(String::from_utf8_lossy(&record.value).as_bytes())
        }
        RecordFormat::Hex => out.extend_from_slice(hex_dump(&record.value).as_bytes()),
        RecordFormat::Dynamic => match std::str::from_utf8(&record.value) {
            Ok(text)
                if text
                    .chars()
                    .all(|c| !c.is_control() || c == '\t' || c == '\n') =>
            {
                out.extend_from_slice(text.as_bytes())
            }
            _ => out.extend_from_slice(hex_dump(&record.value).as_bytes()),
        },
        RecordFormat::Json => {
            let json = JsonRecord::from_consumed(record);
            // Serializing plain strings and numbers cannot fail.
            if let Ok(line) = serde_json::to_vec(&json) {
                out.extend_from_slice(&line);
            }
        }
    }
    if out.last() != Some(&b'\n') || args.format == RecordFormat::Raw {
        out.push(b'\n');
    }
    out
}

/// Headers as `k=v` pairs separated by commas (values as lossy text).
fn headers_text(record: &ConsumerRecord) -> String {
    record
        .headers
        .iter()
        .map(|h| format!("{}={}", h.key, String::from_utf8_lossy(&h.value)))
        .collect::<Vec<_>>()
        .join(",")
}

/// A millisecond timestamp as RFC 3339 in UTC (`2024-05-01T12:00:00.123Z`); `-` when the
/// record has none.
pub fn rfc3339(ms: i64) -> String {
    if ms < 0 {
        return "-".to_string();
    }
    let (secs, millis) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// What a record without a key shows as its key, in `-k`, `{{key}}`, the REPL and the
/// TUI alike: the official CLI's `null`, so `[null]` (none) and `[]` (empty) differ.
pub const NO_KEY: &str = "null";

fn key_text(record: &ConsumerRecord) -> String {
    record.key.as_ref().map_or_else(
        || NO_KEY.to_string(),
        |k| String::from_utf8_lossy(k).into_owned(),
    )
}

/// 16 bytes per line: offset, two groups of eight hex bytes, `|ascii|`.
pub fn hex_dump(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (row, chunk) in bytes.chunks(16).enumerate() {
        out.push_str(&format!("{:08x}  ", row * 16));
        for i in 0..16 {
            match chunk.get(i) {
                Some(b) => out.push_str(&format!("{b:02x} ")),
                None => out.push_str("   "),
            }
            if i == 7 {
                out.push(' ');
            }
        }
        out.push_str(" |");
        for &b in chunk {
            out.push(if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            });
        }
        out.push_str("|\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        args: ConsumeArgs,
    }

    fn args(line: &[&str]) -> ConsumeArgs {
        Wrap::try_parse_from(std::iter::once("consume").chain(line.iter().copied()))
            .unwrap()
            .args
    }

    fn record(key: Option<&str>, value: &[u8]) -> ConsumerRecord {
        ConsumerRecord {
            partition: 1,
            offset: 7,
            timestamp: 1000,
            key: key.map(|k| Bytes::copy_from_slice(k.as_bytes())),
            value: Bytes::copy_from_slice(value),
            headers: Vec::new(),
        }
    }

    #[test]
    fn formats() {
        let r = record(Some("k"), b"hello");
        assert_eq!(format_record(&r, &args(&["t"])), b"hello\n");
        assert_eq!(format_record(&r, &args(&["t", "-k"])), b"[k] hello\n");
        assert_eq!(
            format_record(
                &r,
                &args(&["t", "-F", "{{partition}}:{{offset}} {{key}}={{value}}"])
            ),
            b"1:7 k=hello\n"
        );
        let json: serde_json::Value =
            serde_json::from_slice(&format_record(&r, &args(&["t", "-O", "json"]))).unwrap();
        assert_eq!(json["value"], "hello");
        assert_eq!(json["key"], "k");
        assert_eq!(json["offset"], 7);
        let binary = record(None, &[0, 1, 2, 0xff]);
        let dynamic = String::from_utf8(format_record(&binary, &args(&["t"]))).unwrap();
        assert!(dynamic.starts_with("00000000  00 01 02 ff"), "{dynamic}");
        assert_eq!(
            format_record(&binary, &args(&["t", "-O", "raw"])),
            [0, 1, 2, 0xff, b'\n']
        );
        assert_eq!(
            format_record(&binary, &args(&["t", "-k", "-F", "{{key}}"])),
            b"null\n"
        );
    }

    #[test]
    fn templates_show_time_and_headers() {
        let mut r = record(Some("k"), b"v");
        r.timestamp = 1_714_564_800_123;
        r.headers = vec![protocol::record::RecordHeader::new("type", "order")];
        assert_eq!(
            format_record(
                &r,
                &args(&["t", "-F", "{{time}} {{timestamp}} {{headers}}"])
            ),
            b"2024-05-01T12:00:00.123Z 1714564800123 type=order\n"
        );
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(-1), "-");
    }

    #[test]
    fn unknown_placeholders_are_usage_errors() {
        let err = Wrap::try_parse_from(["c", "t", "-F", "{{offset}} {{vaule}}"])
            .err()
            .expect("an unknown placeholder");
        assert_eq!(err.exit_code(), 2);
        let text = err.to_string();
        assert!(text.contains("unknown placeholder {{vaule}}"), "{text}");
        assert!(
            text.contains("{{value}}") && text.contains("{{headers}}"),
            "{text}"
        );
        assert_eq!(
            args(&["t", "-F", "{{ {{key}}: {{value"])
                .template
                .as_deref(),
            Some("{{ {{key}}: {{value")
        );
        assert_eq!(
            past_the_end("t", 1, 99, 5),
            "offset 99 is past the end of topic 't' partition 1: its end is 5 \
             (the next record written gets offset 5)"
        );
    }

    #[test]
    fn start_flags_exclude_each_other() {
        assert!(Wrap::try_parse_from(["c", "t", "-B", "-T", "3"]).is_err());
        assert!(Wrap::try_parse_from(["c", "t", "-p", "1", "-A"]).is_err());
        assert_eq!(args(&["t", "-o", "-5"]).offset, Some(-5));
        // Fluvio's spellings.
        assert_eq!(args(&["t", "--start", "7"]).offset, Some(7));
        assert!(Wrap::try_parse_from(["c", "t", "--start", "1", "-B"]).is_err());
        assert_eq!(args(&["t", "-b", "4096"]).max_bytes, Some(4096));
        assert_eq!(args(&["t", "--maxbytes", "512"]).max_bytes, Some(512));
    }

    #[test]
    fn hex_dumps_sixteen_bytes_a_line() {
        let dump = hex_dump(b"0123456789abcdefXY");
        let lines: Vec<&str> = dump.lines().collect();
        assert_eq!(
            lines[0],
            "00000000  30 31 32 33 34 35 36 37  38 39 61 62 63 64 65 66  |0123456789abcdef|"
        );
        assert!(lines[1].starts_with("00000010  58 59 "), "{}", lines[1]);
        assert!(lines[1].ends_with("|XY|"), "{}", lines[1]);
    }
}
