//! The metadata views: the cluster as last seen through the watches, the columns of each
//! table, a selectable list state, and the metadata dump's text.

use std::collections::HashMap;

use protocol::sc::table::{self, ConsumerRow, PartitionRow, Table};
use protocol::sc::{
    AuthTokenSpec, Metadata, PartitionSpec, PartitionStateSpec, SpuSpec, TopicSpec,
};

use crate::client::kafka::{GroupDescription, GroupSummary};
use crate::command::consumer_group::{MEMBER_COLUMNS, OFFSET_COLUMNS};

use super::rates::{Rates, rate_label, sparkline};

/// The cluster's objects, each list sorted the way it is shown.
#[derive(Debug, Clone, Default)]
pub struct Cluster {
    pub spus: Vec<Metadata<SpuSpec>>,
    pub topics: Vec<Metadata<TopicSpec>>,
    pub partitions: Vec<Metadata<PartitionSpec>>,
    pub tokens: Vec<Metadata<AuthTokenSpec>>,
    /// Whether the auth token watch has answered yet.
    pub tokens_known: bool,
    /// Leader epoch and confirmed in-sync set by partition name; empty from an SC that
    /// does not give them (the cells show `-`).
    pub partition_states: HashMap<String, PartitionStateSpec>,
    /// Committed consumer offsets with their lag, polled (no watch exists for them).
    pub consumers: Vec<ConsumerRow>,
    /// Whether they were read at least once.
    pub consumers_known: bool,
    /// Kafka consumer groups, polled from the Kafka listener.
    pub groups: Vec<GroupSummary>,
    /// Why the last poll of the groups failed (no Kafka listener at the address, say).
    pub groups_error: Option<String>,
    /// Whether the listener was asked at least once.
    pub groups_known: bool,
    /// The last description read of a group (the selected one when it was read): its
    /// name, and its members and offsets or why they could not be read.
    pub group_detail: Option<(String, Result<GroupDescription, String>)>,
}

/// One poll of the Kafka listener for the groups view.
#[derive(Debug, Clone)]
pub struct GroupsPoll {
    /// The groups, sorted by name, or why the listener could not say.
    pub list: Result<Vec<GroupSummary>, String>,
    /// The selected group's description, when one is selected.
    pub detail: Option<(String, Result<GroupDescription, String>)>,
}

/// The `:` bar completes names from what the console shows, through the REPL's completer.
impl crate::repl::complete::NameSource for Cluster {
    fn names(&self, kind: &crate::repl::complete::NameKind) -> Vec<String> {
        use crate::repl::complete::NameKind;
        match kind {
            // System topics are the cluster's own: not offered, as the REPL does.
            NameKind::Topic => self
                .topics
                .iter()
                .filter(|t| !t.spec.system)
                .map(|t| t.name.clone())
                .collect(),
            NameKind::Consumer => {
                let mut names: Vec<String> =
                    self.consumers.iter().map(|c| c.consumer.clone()).collect();
                names.sort();
                names.dedup();
                names
            }
            NameKind::Partition { topic } => {
                let mut numbers: Vec<u32> = self
                    .partitions
                    .iter()
                    .filter_map(|p| crate::repl::names::partition_number(&p.name, topic.as_deref()))
                    .collect();
                numbers.sort_unstable();
                numbers.dedup();
                numbers.into_iter().map(|n| n.to_string()).collect()
            }
            NameKind::SpuId => self.spus.iter().map(|s| s.spec.id.to_string()).collect(),
            NameKind::SpuName => self.spus.iter().map(|s| s.name.clone()).collect(),
            NameKind::SpuAddr => self
                .spus
                .iter()
                .map(|s| s.spec.public_endpoint.addr())
                .collect(),
            NameKind::Token => self.tokens.iter().map(|t| t.name.clone()).collect(),
        }
    }
}

impl Cluster {
    pub fn set_objects(
        &mut self,
        mut spus: Vec<Metadata<SpuSpec>>,
        mut topics: Vec<Metadata<TopicSpec>>,
        mut partitions: Vec<Metadata<PartitionSpec>>,
    ) {
        // System topics are the cluster's own, hidden as `topic list` hides them.
        topics.retain(|t| !t.spec.system);
        partitions.retain(|p| !p.spec.system);
        spus.sort_by_key(|s| s.spec.id);
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        partitions.sort_by(|a, b| partition_key(&a.name).cmp(&partition_key(&b.name)));
        self.spus = spus;
        self.topics = topics;
        self.partitions = partitions;
    }

    pub fn set_partition_states(&mut self, states: Vec<Metadata<PartitionStateSpec>>) {
        self.partition_states = states.into_iter().map(|s| (s.name, s.spec)).collect();
    }

    /// Rows come sorted by consumer, topic and partition.
    pub fn set_consumers(&mut self, consumers: Vec<ConsumerRow>) {
        self.consumers = consumers;
        self.consumers_known = true;
    }

    /// Groups come sorted by name; a failure keeps why, for the view to say.
    pub fn set_groups(&mut self, poll: GroupsPoll) {
        if poll.detail.is_some() {
            self.group_detail = poll.detail;
        }
        match poll.list {
            Ok(groups) => {
                self.groups = groups;
                self.groups_error = None;
            }
            Err(why) => {
                self.groups.clear();
                self.groups_error = Some(why);
            }
        }
        self.groups_known = true;
    }

    pub fn set_tokens(&mut self, mut tokens: Vec<Metadata<AuthTokenSpec>>) {
        tokens.sort_by(|a, b| a.name.cmp(&b.name));
        self.tokens = tokens;
        self.tokens_known = true;
    }
}

/// `topic-12` → (`topic`, 12), so partition 10 sorts after 9.
pub fn partition_key(name: &str) -> (&str, u32) {
    match name.rsplit_once('-') {
        Some((topic, n)) => match n.parse() {
            Ok(n) => (topic, n),
            Err(_) => (name, 0),
        },
        None => (name, 0),
    }
}

/// A view's table: the column lists of `protocol::sc::table`, which the CLI renders too.
pub type Grid = Table;

pub fn spus(cluster: &Cluster) -> Grid {
    Table::build(table::spu::LIST, &cluster.spus)
}

pub fn topics(cluster: &Cluster) -> Grid {
    Table::build(table::topic::COMPACT, &cluster.topics)
}

/// The partitions with their states, as the tables take them.
fn partition_rows(cluster: &Cluster) -> Vec<PartitionRow> {
    let states = cluster
        .partition_states
        .iter()
        .map(|(name, state)| Metadata::new(name.clone(), state.clone(), Default::default()))
        .collect();
    table::partition_rows(cluster.partitions.clone(), Some(states))
}

/// The sparkline column's width.
pub const SPARK_WIDTH: usize = 20;

/// The partitions, with the live rate and its trend after the shared columns.
pub fn partitions(cluster: &Cluster, rates: &Rates) -> Grid {
    let rows = partition_rows(cluster);
    let mut grid = Table::build(table::partition::COMPACT, &rows);
    let names = || rows.iter().map(|r| &r.partition.name);
    grid.push_column("RATE", names().map(|n| rate_label(rates.rate(n))));
    grid.push_column(
        "TREND",
        names().map(|n| sparkline(&rates.history(n), SPARK_WIDTH)),
    );
    grid
}

/// The consumers view: the columns of `consumer list`.
pub fn consumers(cluster: &Cluster) -> Grid {
    Table::build(table::consumer::LIST, &cluster.consumers)
}

/// The groups view: the columns of `consumer-group list`.
pub fn groups(cluster: &Cluster) -> Grid {
    Table::build(crate::command::consumer_group::COLUMNS, &cluster.groups)
}

/// Below the groups list: the selected group as `consumer-group describe` shows it (its
/// state, then members with their assignments, then committed offsets with lag), the
/// tables fitted to `width`.
pub fn group_detail(cluster: &Cluster, selected: &str, width: usize) -> Vec<String> {
    let group = match &cluster.group_detail {
        Some((name, Ok(group))) if name == selected => group,
        Some((name, Err(why))) if name == selected => {
            return vec![format!("Cannot describe group {selected}: {why}")];
        }
        _ => return vec![format!("Reading group {selected}…")],
    };
    let protocol = if group.protocol.is_empty() {
        "(no protocol yet)".to_string()
    } else {
        format!("{}/{}", group.protocol_type, group.protocol)
    };
    let mut lines = vec![format!(
        "Group {}: {}, {protocol}, coordinator SPU {}, {} member{}",
        group.group,
        group.state,
        group.coordinator,
        group.members.len(),
        if group.members.len() == 1 { "" } else { "s" }
    )];
    let mut block = |title: &str, table: Grid, empty: &str, rows: usize| {
        lines.push(String::new());
        lines.push(title.to_string());
        if rows == 0 {
            lines.push(empty.to_string());
        } else {
            lines.extend(table::fit(&table, width).0.render_lines());
        }
    };
    block(
        "Members:",
        Table::build(MEMBER_COLUMNS, &group.members),
        "No members",
        group.members.len(),
    );
    block(
        "Offsets:",
        Table::build(OFFSET_COLUMNS, &group.offsets),
        "No committed offsets",
        group.offsets.len(),
    );
    lines
}

pub fn tokens(cluster: &Cluster) -> Grid {
    Table::build(table::token::LIST, &cluster.tokens)
}

/// The metadata dump, laid out as the SC's `table_fmt` lays it out: the four tables of
/// `fluvio advanced metadata`, built from the same column lists.
pub fn metadata_dump(cluster: &Cluster) -> Vec<String> {
    let partitions = partition_rows(cluster);
    let mut lines = Vec::new();
    for (title, table) in [
        (
            "auth tokens",
            Table::build(table::token::METADATA, &cluster.tokens),
        ),
        ("SPUs", Table::build(table::spu::METADATA, &cluster.spus)),
        (
            "topics",
            Table::build(table::topic::METADATA, &cluster.topics),
        ),
        (
            "partitions",
            Table::build(table::partition::METADATA, &partitions),
        ),
    ] {
        lines.push(format!("{title}:"));
        lines.extend(table.render_lines());
        lines.push(String::new());
    }
    lines
}

/// A selectable list: the selected row and the first row shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListState {
    pub selected: usize,
    pub offset: usize,
}

impl ListState {
    /// Move the selection by `delta` within `len` rows, scrolling so it stays within a
    /// window of `height` rows.
    pub fn move_by(&mut self, delta: isize, len: usize, height: usize) {
        if len == 0 {
            *self = ListState::default();
            return;
        }
        let target = (self.selected as isize + delta).clamp(0, len as isize - 1) as usize;
        self.selected = target;
        self.fit(len, height);
    }

    /// Keep the selection in range and in view (after rows came or went).
    pub fn fit(&mut self, len: usize, height: usize) {
        let height = height.max(1);
        if len == 0 {
            *self = ListState::default();
            return;
        }
        self.selected = self.selected.min(len - 1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
        self.offset = self.offset.min(len.saturating_sub(height));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::sc::{PartitionStatus, ReplicaSpec, SpuStatus, TopicStatus};

    fn topic(name: &str, partitions: u32) -> Metadata<TopicSpec> {
        let spec = TopicSpec {
            replicas: ReplicaSpec::Computed {
                partitions,
                replication_factor: 1,
                ignore_rack_assignment: false,
            },
            ..TopicSpec::default()
        };
        Metadata::new(name, spec, TopicStatus::default())
    }

    fn partition(name: &str, leo: i64) -> Metadata<PartitionSpec> {
        let mut status = PartitionStatus::default();
        status.leader.leo = leo;
        status.size = -2;
        Metadata::new(name, PartitionSpec::default(), status)
    }

    #[test]
    fn tables_have_as_many_cells_as_headers_and_sort_naturally() {
        let mut cluster = Cluster::default();
        cluster.set_objects(
            vec![Metadata::new(
                "spu-1",
                SpuSpec::default(),
                SpuStatus::default(),
            )],
            vec![topic("b", 2), topic("a", 11)],
            vec![
                partition("a-10", 5),
                partition("a-9", 3),
                partition("a-1", 0),
            ],
        );
        let rates = Rates::default();
        for table in [
            spus(&cluster),
            topics(&cluster),
            partitions(&cluster, &rates),
            tokens(&cluster),
        ] {
            for row in table.rows() {
                assert_eq!(row.len(), table.header().len(), "{:?}", table.header());
            }
        }
        let names: Vec<_> = cluster.partitions.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, vec!["a-1", "a-9", "a-10"]);
        assert_eq!(topics(&cluster).rows()[0][0], "a");
        assert_eq!(topics(&cluster).rows()[0][4], "-", "empty reason");
        let parts = partitions(&cluster, &rates);
        let cell = |row: usize, header: &str| {
            let at = parts.header().iter().position(|h| h == header).unwrap();
            parts.rows()[row][at].clone()
        };
        assert_eq!(parts.rows()[2][..2], ["a".to_string(), "10".to_string()]);
        assert_eq!(cell(2, "SIZE"), "-", "unknown size");
        assert_eq!(cell(2, "EPOCH"), "-", "no state from the SC yet");
        assert_eq!(cell(2, "IN-SYNC-SET"), "-", "not known yet either");

        cluster.set_partition_states(vec![Metadata::new(
            "a-10",
            PartitionStateSpec {
                leader: 0,
                leader_epoch: 3,
                in_sync: vec![5001, 5002],
            },
            Default::default(),
        )]);
        let parts = partitions(&cluster, &rates);
        let cell = |row: usize, header: &str| {
            let at = parts.header().iter().position(|h| h == header).unwrap();
            parts.rows()[row][at].clone()
        };
        assert_eq!(
            parts.header()[..6],
            [
                "TOPIC",
                "PARTITION",
                "LEADER",
                "EPOCH",
                "REPLICAS",
                "IN-SYNC-SET"
            ]
        );
        assert_eq!(cell(2, "EPOCH"), "3");
        assert_eq!(cell(2, "IN-SYNC-SET"), "[5001,5002]");
        assert_eq!(cell(1, "EPOCH"), "-", "a-9 has no state");
    }

    #[test]
    fn the_dump_has_the_four_tables() {
        let mut cluster = Cluster::default();
        cluster.set_objects(vec![], vec![topic("t", 1)], vec![partition("t-0", 7)]);
        let dump = metadata_dump(&cluster).join("\n");
        assert!(
            dump.starts_with("auth tokens:\nTOKEN-NAME  STATUS  SPU-MIN"),
            "{dump}"
        );
        assert!(dump.contains("\ntopics:\nTOPIC  TYPE      PART  FACT  IGN-RACK  RESOLUTION  R-MAP-ROWS  REASON\nt      computed  1     1     -         init        0           -\n"), "{dump}");
        assert!(dump.contains("partitions:\nPARTITION  LEADER  EPOCH  REPLICAS  IN-SYNC-SET  RESOLUTION  HW  LEO  FOLLOWER-OFFSETS\nt-0        0       -      []        -            offline     0   7    -\n"), "{dump}");
        cluster.set_partition_states(vec![Metadata::new(
            "t-0",
            PartitionStateSpec {
                leader: 0,
                leader_epoch: 2,
                in_sync: vec![0],
            },
            Default::default(),
        )]);
        let dump = metadata_dump(&cluster).join("\n");
        assert!(
            dump.contains(
                "\nt-0        0       2      []        [0]          offline     0   7    -\n"
            ),
            "{dump}"
        );
    }

    #[test]
    fn list_selection_stays_in_range_and_in_view() {
        let mut state = ListState::default();
        state.move_by(1, 0, 5);
        assert_eq!(state, ListState::default());
        state.move_by(7, 10, 5);
        assert_eq!(
            state,
            ListState {
                selected: 7,
                offset: 3
            }
        );
        state.move_by(-5, 10, 5);
        assert_eq!(
            state,
            ListState {
                selected: 2,
                offset: 2
            }
        );
        state.move_by(100, 10, 5);
        assert_eq!(
            state,
            ListState {
                selected: 9,
                offset: 5
            }
        );
        // Rows went away.
        state.fit(3, 5);
        assert_eq!(
            state,
            ListState {
                selected: 2,
                offset: 0
            }
        );
    }
}
