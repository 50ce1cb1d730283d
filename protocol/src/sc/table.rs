//! The tables people are shown of the metadata objects, defined once for every place that
//! shows them: the CLI and the REPL (`topic list`, `partition list`, `spu list`,
//! `auth-token list`, `consumer list`, `advanced metadata`), the TUI's views and the SC's `table_fmt` in the
//! daemon's logs.
//!
//! A table is a list of [`Column`]s, each a header and the function that makes its cell
//! from an object, so a header and its cells cannot drift apart, and a column shown in
//! several tables has one name and one format everywhere. Each object kind has its columns
//! in a module of its own ([`topic`], [`partition`], [`spu`], [`token`], [`consumer`]) and
//! its tables as lists of them: `LIST` for the list commands, `COMPACT` for the TUI's
//! narrower views where they differ, `METADATA` for the metadata dump, which keeps the
//! columns of `table_fmt` in the first open-source Fluvio SC (2020), our model for it.
//!
//! Nothing here knows about terminals: the console styles a [`Table`] itself, and
//! [`Table::render_plain`] is the plain text of the logs and the metadata dump.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::sc::metadata::{Metadata, parse_partition_name};
use crate::sc::objects::{AuthTokenSpec, PartitionSpec, PartitionStateSpec, SpuSpec, TopicSpec};

/// One column: its header and how to get its cell from a row's item.
pub struct Column<T> {
    pub header: &'static str,
    pub cell: fn(&T) -> String,
}

impl<T> Column<T> {
    pub const fn new(header: &'static str, cell: fn(&T) -> String) -> Self {
        Self { header, cell }
    }
}

/// A header and rows that all have as many cells as the header. Empty cells are `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

/// How much a column is worth keeping when a table does not fit a terminal: higher stays
/// longer. Identity and state stay; detail that other columns or `describe` also give goes
/// first. One ranking by header, so the CLI, the REPL and the TUI drop the same columns.
pub fn priority(header: &str) -> u8 {
    match header {
        "NAME" | "TOPIC" | "ID" | "PARTITION" | "CONSUMER" => 9,
        "STATUS" | "RESOLUTION" | "LEADER" | "LAG" => 8,
        // RATE: the TUI's live produce rate, what its partitions view is for.
        "PARTITIONS" | "REPLICAS" | "PUBLIC" | "TOKEN-NAME" | "RATE" => 7,
        "HW" | "LEO" | "SIZE" | "IN-SYNC-SET" | "SPU-MIN" | "SPU-MAX" | "OFFSET" => 6,
        "REASON" | "TYPE" | "RETENTION" | "LAST-SEEN" => 5,
        "EPOCH" | "RACK" | "PRIVATE" => 4,
        "IN-SYNC" | "LOG-START" | "IGNORE-RACK" | "TREND" => 3,
        "FOLLOWER-OFFSETS" => 2,
        // Columns added outside the lists (the TUI's rates) rank with the detail.
        _ => 4,
    }
}

/// A table narrowed to `width` columns of text (cells two spaces apart): long cells of
/// detail columns (priority 5 and below) are cut with `…` first, then the lowest-priority
/// columns go (the rightmost first among equals, never the first), and if what is left is
/// still too wide its widest column is cut. Returns the table and the headers dropped.
pub fn fit(table: &Table, width: usize) -> (Table, Vec<String>) {
    let mut table = table.clone();
    let natural = |t: &Table| -> usize {
        let widths = t.widths();
        widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1)
    };
    if natural(&table) <= width {
        return (table, Vec::new());
    }
    let cap = (width / 4).max(10);
    let mut ranks: Vec<u8> = table.header.iter().map(|h| priority(h)).collect();
    let mut names = table.header.clone();
    table.cut_cells(|i| if ranks[i] <= 5 { cap } else { usize::MAX });
    let mut dropped = Vec::new();
    // Identity and state (priority 8 and up) are never dropped: cut, below, instead.
    while natural(&table) > width {
        let Some(victim) = (1..ranks.len())
            .filter(|&i| ranks[i] < 8)
            .min_by_key(|&i| (ranks[i], std::cmp::Reverse(i)))
        else {
            break;
        };
        ranks.remove(victim);
        dropped.push(names.remove(victim));
        table.header.remove(victim);
        for row in &mut table.rows {
            row.remove(victim);
        }
    }
    let over = natural(&table).saturating_sub(width);
    if over > 0 {
        let widths = table.widths();
        if let Some((widest, w)) = widths.iter().copied().enumerate().max_by_key(|(_, w)| *w) {
            let max = w.saturating_sub(over).max(2);
            table.cut_cells(|i| if i == widest { max } else { usize::MAX });
        }
    }
    (table, dropped)
}

/// `text` cut to `max` characters, its last one `…` when anything was cut.
pub fn ellipsize(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// What an empty cell shows, so that every row splits into as many words as the header.
const EMPTY_CELL: &str = "-";

impl Table {
    pub fn build<T>(columns: &[Column<T>], items: &[T]) -> Self {
        let header = columns.iter().map(|c| c.header.to_string()).collect();
        let rows = items
            .iter()
            .map(|item| columns.iter().map(|c| cell_text((c.cell)(item))).collect())
            .collect();
        Self { header, rows }
    }

    /// Add a column computed outside the column lists (the TUI's live rates): `cells`
    /// gives one cell per row, in row order.
    pub fn push_column(&mut self, header: &str, cells: impl IntoIterator<Item = String>) {
        self.header.push(header.to_string());
        let mut cells = cells.into_iter();
        for row in &mut self.rows {
            row.push(cell_text(cells.next().unwrap_or_default()));
        }
    }

    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// Each column's width: its widest cell or header, in characters.
    pub fn widths(&self) -> Vec<usize> {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        widths
    }

    /// Cut every cell (headers too) of column `i` to `max(i)` characters with `…`.
    fn cut_cells(&mut self, max: impl Fn(usize) -> usize) {
        for (i, h) in self.header.iter_mut().enumerate() {
            *h = ellipsize(h, max(i));
        }
        for row in &mut self.rows {
            for (i, cell) in row.iter_mut().enumerate() {
                *cell = ellipsize(cell, max(i));
            }
        }
    }

    pub fn rows(&self) -> &[Vec<String>] {
        &self.rows
    }

    /// Columns left-aligned to their widest cell, two spaces apart, one line each for the
    /// header and every row, without trailing spaces.
    pub fn render_lines(&self) -> Vec<String> {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut text = String::new();
            for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
                if i > 0 {
                    text.push_str("  ");
                }
                let _ = write!(text, "{cell:<w$}");
            }
            text.trim_end().to_string()
        };
        std::iter::once(line(&self.header))
            .chain(self.rows.iter().map(|row| line(row)))
            .collect()
    }

    /// [`Table::render_lines`] as one text, each line ending in a newline.
    pub fn render_plain(&self) -> String {
        let mut out = String::new();
        for line in self.render_lines() {
            out.push_str(&line);
            out.push('\n');
        }
        out
    }
}

fn cell_text(cell: String) -> String {
    if cell.trim().is_empty() {
        EMPTY_CELL.to_string()
    } else {
        cell
    }
}

/// SPU ids as `[5001,5002]`: one word per cell.
pub fn spu_list(ids: &[i32]) -> String {
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    format!("[{}]", ids.join(","))
}

/// Bytes for people, the unit after a space: `0 B`, `1.5 KiB`, `10 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    let text = format!("{value:.1}");
    format!("{} {}", text.trim_end_matches(".0"), UNITS[unit])
}

/// A configured size as the person most likely gave it: in the largest unit, decimal
/// (`KB` = 1000) or binary (`KiB` = 1024), that it is a whole multiple of, so
/// `--segment-size 10MB` reads back as `10 MB` and `1GiB` as `1 GiB`. When both fit, the
/// smaller number wins (`1024000` is `1000 KiB`, not `1024 KB`). A size that is a multiple
/// of neither is shown in bytes, exactly: a setting is never rounded. Measured sizes (a
/// partition's) use [`human_bytes`] instead, which rounds.
pub fn exact_bytes(bytes: u64) -> String {
    const UNITS: [(&str, &str); 5] = [
        ("KB", "KiB"),
        ("MB", "MiB"),
        ("GB", "GiB"),
        ("TB", "TiB"),
        ("PB", "PiB"),
    ];
    let mut best = (bytes, "B");
    if bytes > 0 {
        for (power, (decimal, binary)) in (1u32..).zip(UNITS) {
            for (base, unit) in [(1000u64, decimal), (1024, binary)] {
                let size = base.pow(power);
                if bytes.is_multiple_of(size) && bytes / size < best.0 {
                    best = (bytes / size, unit);
                }
            }
        }
    }
    format!("{} {}", best.0, best.1)
}

/// Seconds for people: the largest unit that divides them (`7d`, `90m`, `3601s`).
pub fn human_secs(secs: u64) -> String {
    for (unit, size) in [("w", 604_800), ("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs >= size && secs.is_multiple_of(size) {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

/// The topic tables.
pub mod topic {
    use super::{Column, Metadata, TopicSpec, human_secs};
    use crate::sc::objects::ReplicaSpec;

    type Topic = Metadata<TopicSpec>;

    pub const NAME: Column<Topic> = Column::new("NAME", |t| t.name.clone());
    /// How the replicas are given: `computed` or `assigned`.
    pub const TYPE: Column<Topic> = Column::new("TYPE", |t| kind(t).into());
    pub const PARTITIONS: Column<Topic> = Column::new("PARTITIONS", |t| {
        t.spec.replicas.partition_count().to_string()
    });
    /// The replication factor.
    pub const REPLICAS: Column<Topic> = Column::new("REPLICAS", |t| {
        t.spec.replicas.replication_factor().to_string()
    });
    pub const IGNORE_RACK: Column<Topic> = Column::new("IGNORE-RACK", |t| {
        match t.spec.replicas {
            ReplicaSpec::Computed {
                ignore_rack_assignment: true,
                ..
            } => "yes",
            ReplicaSpec::Computed { .. } => "no",
            ReplicaSpec::Assigned(_) => "",
        }
        .into()
    });
    pub const RETENTION: Column<Topic> = Column::new("RETENTION", |t| {
        let secs = t.spec.cleanup_policy.unwrap_or_default().retention_secs();
        human_secs(u64::from(secs))
    });
    /// The codec producers must use, or `any`.
    pub const COMPRESSION: Column<Topic> =
        Column::new("COMPRESSION", |t| t.spec.compression_type.name().into());
    pub const STATUS: Column<Topic> = Column::new("STATUS", |t| t.status.resolution.label().into());
    pub const REASON: Column<Topic> = Column::new("REASON", |t| t.status.reason.clone());

    /// `topic list`, Fluvio's columns. Whether placement ignored racks is for `topic
    /// describe`: a column more would push a row past 80 characters.
    pub const LIST: &[Column<Topic>] = &[
        NAME,
        TYPE,
        PARTITIONS,
        REPLICAS,
        RETENTION,
        COMPRESSION,
        STATUS,
        REASON,
    ];
    /// The TUI's topics view.
    pub const COMPACT: &[Column<Topic>] = &[NAME, PARTITIONS, REPLICAS, STATUS, REASON];

    /// The metadata dump: the SC's `table_fmt` columns.
    pub const METADATA: &[Column<Topic>] = &[
        Column::new("TOPIC", |t| t.name.clone()),
        TYPE,
        Column::new("PART", |t| t.spec.replicas.partition_count().to_string()),
        Column::new("FACT", |t| t.spec.replicas.replication_factor().to_string()),
        Column::new("IGN-RACK", |t| {
            match t.spec.replicas {
                ReplicaSpec::Computed {
                    ignore_rack_assignment: true,
                    ..
                } => "yes",
                _ => "",
            }
            .into()
        }),
        Column::new("RESOLUTION", |t| t.status.resolution.label().into()),
        Column::new("R-MAP-ROWS", |t| t.status.replica_map.len().to_string()),
        REASON,
    ];

    fn kind(topic: &Topic) -> &'static str {
        match topic.spec.replicas {
            ReplicaSpec::Assigned(_) => "assigned",
            ReplicaSpec::Computed { .. } => "computed",
        }
    }
}

/// A partition with its name split into topic and number, and its replication state
/// when the SC gives it. As data (`-O json|yaml`), the partition object as the SC sends
/// it plus `state`: `{leader, leader_epoch, in_sync}`, or null.
#[derive(Debug, Clone, Serialize)]
pub struct PartitionRow {
    #[serde(skip)]
    pub topic: String,
    #[serde(skip)]
    pub number: u32,
    #[serde(flatten)]
    pub partition: Metadata<PartitionSpec>,
    pub state: Option<PartitionStateSpec>,
}

impl PartitionRow {
    pub fn new(partition: Metadata<PartitionSpec>, state: Option<PartitionStateSpec>) -> Self {
        let (topic, number) = parse_partition_name(&partition.name)
            .map_or((partition.name.clone(), 0), |(t, n)| (t.to_string(), n));
        Self {
            topic,
            number,
            partition,
            state,
        }
    }
}

/// Rows for `partitions`, each joined with its state from `states` (none when `None`, an
/// SC that does not give them), sorted by topic, then number.
pub fn partition_rows(
    partitions: Vec<Metadata<PartitionSpec>>,
    states: Option<Vec<Metadata<PartitionStateSpec>>>,
) -> Vec<PartitionRow> {
    let mut states: HashMap<String, PartitionStateSpec> = states
        .unwrap_or_default()
        .into_iter()
        .map(|s| (s.name, s.spec))
        .collect();
    let mut rows: Vec<PartitionRow> = partitions
        .into_iter()
        .map(|partition| {
            let state = states.remove(&partition.name);
            PartitionRow::new(partition, state)
        })
        .collect();
    rows.sort_by(|a, b| (&a.topic, a.number).cmp(&(&b.topic, b.number)));
    rows
}

/// The partition tables.
pub mod partition {
    use super::{Column, PartitionRow, human_bytes, spu_list};

    type Row = PartitionRow;

    pub const TOPIC: Column<Row> = Column::new("TOPIC", |r| r.topic.clone());
    /// The partition's number within its topic.
    pub const PARTITION: Column<Row> = Column::new("PARTITION", |r| r.number.to_string());
    pub const LEADER: Column<Row> = Column::new("LEADER", |r| r.partition.spec.leader.to_string());
    /// The leader epoch, or nothing when the state is not known.
    pub const EPOCH: Column<Row> = Column::new("EPOCH", |r| {
        r.state
            .as_ref()
            .map(|s| s.leader_epoch.to_string())
            .unwrap_or_default()
    });
    pub const REPLICAS: Column<Row> =
        Column::new("REPLICAS", |r| spu_list(&r.partition.spec.replicas));
    pub const RESOLUTION: Column<Row> = Column::new("RESOLUTION", |r| {
        r.partition.status.resolution.label().into()
    });
    /// The leader's log size; `error` when the leader could not tell.
    pub const SIZE: Column<Row> = Column::new("SIZE", |r| match r.partition.status.size {
        -1 => "error".into(),
        b if b < 0 => String::new(),
        b => human_bytes(b as u64),
    });
    pub const HW: Column<Row> = Column::new("HW", |r| offset(r.partition.status.leader.hw));
    pub const LEO: Column<Row> = Column::new("LEO", |r| offset(r.partition.status.leader.leo));
    pub const LOG_START: Column<Row> =
        Column::new("LOG-START", |r| r.partition.status.base_offset.to_string());
    /// How many replicas the leader counts in sync.
    pub const IN_SYNC: Column<Row> = Column::new("IN-SYNC", |r| r.partition.status.lsr.to_string());
    /// The in-sync set the SC confirmed, or nothing when not known.
    pub const IN_SYNC_SET: Column<Row> = Column::new("IN-SYNC-SET", |r| {
        r.state
            .as_ref()
            .map(|s| spu_list(&s.in_sync))
            .unwrap_or_default()
    });
    /// Followers as `5002(hw=3,leo=4)`, comma-separated: readable, and one word per cell.
    /// A follower that has not reported its offsets yet (the wire's `-1`s) is
    /// `5002(unreported)`, and an offset not known yet is `-`, never a raw `-1`.
    pub const FOLLOWER_OFFSETS: Column<Row> = Column::new("FOLLOWER-OFFSETS", |r| {
        r.partition
            .status
            .replicas
            .iter()
            .map(|f| match (f.hw, f.leo) {
                (hw, leo) if hw < 0 && leo < 0 => format!("{}(unreported)", f.spu),
                (hw, leo) => format!("{}(hw={},leo={})", f.spu, offset(hw), offset(leo)),
            })
            .collect::<Vec<_>>()
            .join(",")
    });

    /// An offset, or `-` while it is not known (`-1` on the wire).
    fn offset(value: i64) -> String {
        if value < 0 {
            "-".into()
        } else {
            value.to_string()
        }
    }

    /// `partition list`.
    pub const LIST: &[Column<Row>] = &[
        TOPIC,
        PARTITION,
        LEADER,
        EPOCH,
        REPLICAS,
        RESOLUTION,
        SIZE,
        HW,
        LEO,
        LOG_START,
        IN_SYNC,
        IN_SYNC_SET,
        FOLLOWER_OFFSETS,
    ];
    /// The TUI's partitions view (which adds its live rate columns).
    pub const COMPACT: &[Column<Row>] = &[
        TOPIC,
        PARTITION,
        LEADER,
        EPOCH,
        REPLICAS,
        IN_SYNC_SET,
        RESOLUTION,
        HW,
        LEO,
        SIZE,
    ];
    /// The metadata dump: the SC's `table_fmt` columns, the partition by its object name.
    pub const METADATA: &[Column<Row>] = &[
        Column::new("PARTITION", |r| r.partition.name.clone()),
        LEADER,
        EPOCH,
        REPLICAS,
        IN_SYNC_SET,
        RESOLUTION,
        HW,
        LEO,
        FOLLOWER_OFFSETS,
    ];
}

/// The SPU tables.
pub mod spu {
    use super::{Column, Metadata, SpuSpec};

    type Spu = Metadata<SpuSpec>;

    /// `spu list` and the TUI's SPUs view.
    pub const LIST: &[Column<Spu>] = &[
        Column::new("ID", |s| s.spec.id.to_string()),
        Column::new("NAME", |s| s.name.clone()),
        TYPE,
        STATUS,
        PUBLIC,
        PRIVATE,
        RACK,
    ];

    pub const TYPE: Column<Spu> = Column::new("TYPE", |s| s.spec.spu_type.label().into());
    pub const STATUS: Column<Spu> = Column::new("STATUS", |s| s.status.resolution.label().into());
    pub const PUBLIC: Column<Spu> = Column::new("PUBLIC", |s| s.spec.public_endpoint.addr());
    pub const PRIVATE: Column<Spu> = Column::new("PRIVATE", |s| s.spec.private_endpoint.addr());
    pub const RACK: Column<Spu> = Column::new("RACK", |s| s.spec.rack.clone().unwrap_or_default());

    /// The metadata dump: the SC's `table_fmt` columns.
    pub const METADATA: &[Column<Spu>] = &[
        Column::new("SPU", |s| s.name.clone()),
        Column::new("SPU-ID", |s| s.spec.id.to_string()),
        STATUS,
        TYPE,
        PUBLIC,
        PRIVATE,
        RACK,
    ];
}

/// The auth token table. Never the secret: the SC does not send it.
pub mod token {
    use super::{AuthTokenSpec, Column, Metadata};

    type Token = Metadata<AuthTokenSpec>;

    /// `auth-token list`, the TUI's tokens view and the metadata dump.
    pub const LIST: &[Column<Token>] = &[
        Column::new("TOKEN-NAME", |t| t.name.clone()),
        Column::new("STATUS", |t| t.status.resolution.label().into()),
        Column::new("SPU-MIN", |t| t.spec.min_spu.to_string()),
        Column::new("SPU-MAX", |t| t.spec.max_spu.to_string()),
        Column::new("TYPE", |t| t.spec.token_type.label().into()),
        Column::new("REASON", |t| t.status.reason.clone()),
    ];
    pub const METADATA: &[Column<Token>] = LIST;
}

/// A committed consumer offset with what it means for the partition now: the rows of
/// `consumer list` and the TUI's consumers view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsumerRow {
    pub consumer: String,
    pub topic: String,
    pub partition: u32,
    /// The offset of the last record the consumer processed.
    pub offset: i64,
    /// Records written after it that the consumer has not processed: the partition's
    /// high watermark minus `offset + 1`; `None` when the partition's status is unknown.
    pub lag: Option<i64>,
    /// When the offset was committed, seconds since the Unix epoch.
    pub modified_time: u64,
    /// Seconds from then to when the row was made.
    pub last_seen_secs: u64,
}

impl ConsumerRow {
    /// A row for `offset`, with the partition's high watermark `hw` if known, as of `now`
    /// (seconds since the Unix epoch).
    pub fn new(offset: &crate::spu::ConsumerOffset, hw: Option<i64>, now: u64) -> Self {
        Self {
            consumer: offset.consumer_id.clone(),
            topic: offset.replica_id.topic.clone(),
            partition: offset.replica_id.partition,
            offset: offset.offset,
            lag: hw.map(|hw| (hw - offset.offset - 1).max(0)),
            modified_time: offset.modified_time,
            last_seen_secs: now.saturating_sub(offset.modified_time),
        }
    }
}

/// How long ago, for people: `42s`, `5m 3s`, `2h 10m`, `3d 4h`.
pub fn ago(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        s => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// The consumer tables.
pub mod consumer {
    use super::{Column, ConsumerRow, ago};

    pub const CONSUMER: Column<ConsumerRow> = Column::new("CONSUMER", |r| r.consumer.clone());
    pub const TOPIC: Column<ConsumerRow> = Column::new("TOPIC", |r| r.topic.clone());
    pub const PARTITION: Column<ConsumerRow> =
        Column::new("PARTITION", |r| r.partition.to_string());
    pub const OFFSET: Column<ConsumerRow> = Column::new("OFFSET", |r| r.offset.to_string());
    pub const LAG: Column<ConsumerRow> = Column::new("LAG", |r| {
        r.lag.map(|lag| lag.to_string()).unwrap_or_default()
    });
    pub const LAST_SEEN: Column<ConsumerRow> = Column::new("LAST-SEEN", |r| ago(r.last_seen_secs));

    /// `consumer list` and the TUI's consumers view.
    pub const LIST: &[Column<ConsumerRow>] = &[CONSUMER, TOPIC, PARTITION, OFFSET, LAG, LAST_SEEN];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_rows_count_lag_from_the_high_watermark() {
        let offset = crate::spu::ConsumerOffset {
            consumer_id: "c1".into(),
            replica_id: crate::spu::ReplicaKey::new("t", 2),
            offset: 39,
            modified_time: 1_000,
        };
        let row = ConsumerRow::new(&offset, Some(100), 1_075);
        assert_eq!((row.lag, row.last_seen_secs), (Some(60), 75));
        let table = Table::build(consumer::LIST, &[row]);
        assert_eq!(
            table.render_lines(),
            [
                "CONSUMER  TOPIC  PARTITION  OFFSET  LAG  LAST-SEEN",
                "c1        t      2          39      60   1m 15s",
            ]
        );
        assert_eq!(ConsumerRow::new(&offset, None, 0).lag, None);
        assert_eq!(ConsumerRow::new(&offset, Some(40), 0).lag, Some(0));
        assert_eq!(
            ConsumerRow::new(&offset, Some(10), 0).lag,
            Some(0),
            "a truncated log"
        );
        assert_eq!(ago(59), "59s");
        assert_eq!(ago(3 * 3600 + 125), "3h 2m");
        assert_eq!(ago(2 * 86_400 + 3700), "2d 1h");
    }

    struct Item {
        name: &'static str,
        n: u32,
        note: &'static str,
    }

    const COLUMNS: &[Column<Item>] = &[
        Column::new("NAME", |i| i.name.to_string()),
        Column::new("N", |i| i.n.to_string()),
        Column::new("NOTE", |i| i.note.to_string()),
    ];

    fn items() -> [Item; 2] {
        [
            Item {
                name: "a",
                n: 1,
                note: "",
            },
            Item {
                name: "bb",
                n: 22,
                note: "x y",
            },
        ]
    }

    #[test]
    fn every_row_has_a_cell_per_header_and_empty_cells_are_dashes() {
        let table = Table::build(COLUMNS, &items());
        assert_eq!(table.header(), ["NAME", "N", "NOTE"]);
        for row in table.rows() {
            assert_eq!(row.len(), table.header().len());
        }
        assert_eq!(table.rows()[0], ["a", "1", "-"]);
        assert_eq!(table.rows()[1], ["bb", "22", "x y"]);
    }

    #[test]
    fn plain_text_aligns_columns_two_spaces_apart() {
        let mut table = Table::build(COLUMNS, &items());
        table.push_column("MORE", ["m".to_string()]);
        assert_eq!(
            table.render_plain(),
            "NAME  N   NOTE  MORE\na     1   -     m\nbb    22  x y   -\n"
        );
    }

    #[test]
    fn sizes_and_durations_for_people() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(302), "302 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024), "1 KiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(10 << 30), "10 GiB");
        let wide = Table {
            header: vec!["NAME".into(), "FOLLOWER-OFFSETS".into(), "STATUS".into()],
            rows: vec![vec![
                "a-rather-long-topic-name".into(),
                "5002(hw=3,leo=4)".into(),
                "online".into(),
            ]],
        };
        let (same, dropped) = fit(&wide, 80);
        assert_eq!((same, dropped.len()), (wide.clone(), 0));
        let (narrow, dropped) = fit(&wide, 30);
        assert_eq!(dropped, ["FOLLOWER-OFFSETS"]);
        assert_eq!(narrow.header(), ["NAME", "STATUS"]);
        assert_eq!(narrow.rows()[0], ["a-rather-long-topic-n…", "online"]);
        assert_eq!(ellipsize("abcdef", 4), "abc…");
        assert_eq!(ellipsize("abc", 4), "abc");
        assert_eq!(exact_bytes(0), "0 B");
        assert_eq!(exact_bytes(1500), "1500 B");
        assert_eq!(exact_bytes(10_000_000), "10 MB");
        assert_eq!(exact_bytes(1 << 30), "1 GiB");
        assert_eq!(exact_bytes(1_024_000), "1000 KiB");
        assert_eq!(exact_bytes(1_000_000_000), "1 GB");
        assert_eq!(exact_bytes(3 << 20), "3 MiB");
        assert_eq!(human_secs(7 * 86_400), "1w");
        assert_eq!(human_secs(5400), "90m");
        assert_eq!(human_secs(3601), "3601s");
        assert_eq!(spu_list(&[5001, 5002]), "[5001,5002]");
    }

    #[test]
    fn partition_rows_split_names_and_sort_by_number() {
        let rows = partition_rows(
            vec![
                Metadata::new("t-10", PartitionSpec::default(), Default::default()),
                Metadata::new("t-9", PartitionSpec::default(), Default::default()),
            ],
            Some(vec![Metadata::new(
                "t-9",
                PartitionStateSpec {
                    leader: 1,
                    leader_epoch: 4,
                    in_sync: vec![1, 2],
                },
                Default::default(),
            )]),
        );
        let table = Table::build(partition::LIST, &rows);
        let cell = |row: usize, header: &str| {
            let at = table.header().iter().position(|h| h == header).unwrap();
            table.rows()[row][at].clone()
        };
        assert_eq!(
            (cell(0, "TOPIC"), cell(0, "PARTITION")),
            ("t".into(), "9".into())
        );
        assert_eq!(cell(0, "EPOCH"), "4");
        assert_eq!(cell(0, "IN-SYNC-SET"), "[1,2]");
        assert_eq!(cell(1, "EPOCH"), "-", "no state");
    }

    #[test]
    fn the_metadata_partitions_table_keeps_the_table_fmt_columns() {
        // The daemon's logs, `advanced metadata` and the TUI's dump all render this list.
        let header: Vec<&str> = partition::METADATA.iter().map(|c| c.header).collect();
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
    fn a_column_shown_in_several_tables_has_one_header() {
        // Every table built from the shared column constants: a header names one column.
        fn headers<T>(columns: &[Column<T>]) -> Vec<&'static str> {
            columns.iter().map(|c| c.header).collect()
        }
        assert_eq!(
            headers(topic::COMPACT),
            ["NAME", "PARTITIONS", "REPLICAS", "STATUS", "REASON"]
        );
        assert!(headers(partition::COMPACT).contains(&"IN-SYNC-SET"));
        assert!(!headers(partition::COMPACT).contains(&"IN-SYNC"));
    }
}
