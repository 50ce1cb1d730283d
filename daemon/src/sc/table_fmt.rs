//! Plain-text tables of the four stores, for logs and `fluvio advanced metadata`.
//!
//! Each table is built as a header and rows of cells, and every row is built from the
//! same column list as its header, so the two cannot drift apart. Empty cells show `-`.

use std::fmt::Write as _;

use protocol::sc::{ReplicaSpec, SpuType};

use super::store::Stores;

/// A header and rows with the same number of cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub title: &'static str,
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    fn new(title: &'static str, header: &[&'static str]) -> Self {
        Self {
            title,
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    fn push(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.header.len(), "{} row width", self.title);
        let mut cells = cells;
        cells.resize(self.header.len(), String::new());
        for cell in &mut cells {
            if cell.is_empty() {
                *cell = "-".to_string();
            }
        }
        self.rows.push(cells);
    }

    /// Columns left-aligned to their widest cell, two spaces apart.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
            let mut text = String::new();
            for (i, (cell, w)) in cells.zip(&widths).enumerate() {
                if i > 0 {
                    text.push_str("  ");
                }
                let _ = write!(text, "{cell:<w$}");
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(&mut out, &mut self.header.iter().copied());
        for row in &self.rows {
            line(&mut out, &mut row.iter().map(String::as_str));
        }
        out
    }
}

pub fn auth_tokens(stores: &Stores) -> Table {
    let mut t = Table::new(
        "auth tokens",
        &[
            "TOKEN-NAME",
            "STATUS",
            "SPU-MIN",
            "SPU-MAX",
            "TYPE",
            "REASON",
        ],
    );
    for token in stores.tokens.values() {
        t.push(vec![
            token.name.clone(),
            match token.status.resolution {
                protocol::sc::AuthTokenResolution::Ok => "ok".into(),
                protocol::sc::AuthTokenResolution::Invalid => "invalid".into(),
            },
            token.spec.min_spu.to_string(),
            token.spec.max_spu.to_string(),
            token.spec.token_type.label().into(),
            token.status.reason.clone(),
        ]);
    }
    t
}

pub fn spus(stores: &Stores) -> Table {
    let mut t = Table::new(
        "SPUs",
        &[
            "SPU", "SPU-ID", "STATUS", "TYPE", "PUBLIC", "PRIVATE", "RACK",
        ],
    );
    let mut spus: Vec<_> = stores.spus.values().collect();
    spus.sort_by_key(|s| s.spec.id);
    for spu in spus {
        t.push(vec![
            spu.name.clone(),
            spu.spec.id.to_string(),
            spu.status.resolution.label().into(),
            match spu.spec.spu_type {
                SpuType::Managed => "managed".into(),
                SpuType::Custom => "custom".into(),
            },
            spu.spec.public_endpoint.addr(),
            spu.spec.private_endpoint.addr(),
            spu.spec.rack.clone().unwrap_or_default(),
        ]);
    }
    t
}

pub fn topics(stores: &Stores) -> Table {
    let mut t = Table::new(
        "topics",
        &[
            "TOPIC",
            "TYPE",
            "PART",
            "FACT",
            "IGN-RACK",
            "RESOLUTION",
            "R-MAP-ROWS",
            "REASON",
        ],
    );
    for topic in stores.topics.values() {
        let (kind, part, fact, ignore) = match &topic.spec.replicas {
            ReplicaSpec::Computed {
                partitions,
                replication_factor,
                ignore_rack_assignment,
            } => (
                "computed",
                partitions.to_string(),
                replication_factor.to_string(),
                if *ignore_rack_assignment { "yes" } else { "" },
            ),
            ReplicaSpec::Assigned(maps) => (
                "assigned",
                maps.len().to_string(),
                topic.spec.replicas.replication_factor().to_string(),
                "",
            ),
        };
        t.push(vec![
            topic.name.clone(),
            kind.into(),
            part,
            fact,
            ignore.into(),
            topic.status.resolution.label().into(),
            topic.status.replica_map.len().to_string(),
            topic.status.reason.clone(),
        ]);
    }
    t
}

/// The partitions table's columns; `fluvio advanced metadata` and the console's metadata
/// view show the same ones.
pub const PARTITION_COLUMNS: &[&str] = &[
    "PARTITION",
    "LEADER",
    "EPOCH",
    "REPLICAS",
    "IN-SYNC-SET",
    "RESOLUTION",
    "HW",
    "LEO",
    "FOLLOWER-OFFSETS",
];

fn spu_list(ids: &[i32]) -> String {
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    format!("[{}]", ids.join(","))
}

pub fn partitions(stores: &Stores) -> Table {
    let mut t = Table::new("partitions", PARTITION_COLUMNS);
    for p in stores.partitions.values() {
        let repl = stores.replication_of(p);
        let followers: Vec<String> = p
            .status
            .replicas
            .iter()
            .map(|r| format!("{}(hw={},leo={})", r.spu, r.hw, r.leo))
            .collect();
        t.push(vec![
            p.name.clone(),
            p.spec.leader.to_string(),
            repl.leader_epoch.to_string(),
            spu_list(&p.spec.replicas),
            spu_list(&repl.in_sync),
            p.status.resolution.label().into(),
            p.status.leader.hw.to_string(),
            p.status.leader.leo.to_string(),
            followers.join(","),
        ]);
    }
    t
}

/// All four stores, one table after another, each preceded by its title.
pub fn table_fmt(stores: &Stores) -> String {
    let mut out = String::new();
    for table in [
        auth_tokens(stores),
        spus(stores),
        topics(stores),
        partitions(stores),
    ] {
        let _ = writeln!(out, "{}:", table.title);
        out.push_str(&table.render());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sc::auth::SecretHash;
    use crate::sc::controllers::topic;
    use crate::sc::store::{Mutation, TokenObj};
    use protocol::sc::{
        AuthTokenSpec, AuthTokenStatus, Endpoint, IngressPort, Metadata, SpuSpec, SpuStatus,
        TopicSpec,
    };

    fn sample() -> Stores {
        let mut stores = Stores::default();
        stores.tokens.insert(
            "tok".into(),
            TokenObj {
                name: "tok".into(),
                spec: AuthTokenSpec {
                    min_spu: 5000,
                    max_spu: 5010,
                    ..Default::default()
                },
                status: AuthTokenStatus::default(),
                secret: SecretHash::new("abcdefgh12345678"),
            },
        );
        for (id, rack) in [(5001, None), (5002, Some("r1".to_string()))] {
            stores.spus.insert(
                id.to_string(),
                Metadata::new(
                    format!("spu-with-a-rather-long-name-{id}"),
                    SpuSpec {
                        id,
                        public_endpoint: IngressPort::from_host_port("127.0.0.1", 9005),
                        private_endpoint: Endpoint::from_host_port("127.0.0.1", 9006),
                        rack,
                        ..Default::default()
                    },
                    SpuStatus::default(),
                ),
            );
        }
        for (name, spec) in [
            ("short", TopicSpec::default()),
            ("a-much-longer-topic-name", TopicSpec::default()),
        ] {
            for m in topic::create(&stores, name, &spec, 0).unwrap() {
                match m {
                    Mutation::PutTopic(t) => drop(stores.topics.insert(t.name.clone(), t)),
                    Mutation::PutPartition(p) => drop(stores.partitions.insert(p.name.clone(), p)),
                    _ => {}
                }
            }
        }
        stores
    }

    /// Byte offsets where each column starts, found from the header.
    fn column_starts(header: &str, names: &[&str]) -> Vec<usize> {
        names.iter().map(|n| header.find(n).unwrap()).collect()
    }

    #[test]
    fn header_and_rows_have_the_same_columns() {
        let stores = sample();
        for table in [
            auth_tokens(&stores),
            spus(&stores),
            topics(&stores),
            partitions(&stores),
        ] {
            assert!(!table.rows.is_empty(), "{} has rows", table.title);
            for row in &table.rows {
                assert_eq!(row.len(), table.header.len(), "{}: {row:?}", table.title);
            }
            let rendered = table.render();
            let mut lines = rendered.lines();
            let header = lines.next().unwrap();
            let starts = column_starts(header, &table.header);
            for line in lines {
                let cells: Vec<&str> = line.split_whitespace().collect();
                assert_eq!(cells.len(), table.header.len(), "{}: {line}", table.title);
                for (start, cell) in starts.iter().zip(&cells) {
                    assert_eq!(
                        &line[*start..*start + cell.len()],
                        *cell,
                        "{}: column of {cell}",
                        table.title
                    );
                }
            }
        }
    }

    #[test]
    fn empty_cells_show_a_dash_and_all_tables_render() {
        let stores = sample();
        let text = table_fmt(&stores);
        for title in ["auth tokens:", "SPUs:", "topics:", "partitions:"] {
            assert!(text.contains(title), "{text}");
        }
        let spu_table = spus(&stores).render();
        assert!(
            spu_table.lines().nth(1).unwrap().ends_with('-'),
            "{spu_table}"
        );
        assert!(!text.contains("abcdefgh12345678"), "never the secret");
        assert_eq!(table_fmt(&Stores::default()).lines().count(), 12);
    }

    #[test]
    fn partitions_show_the_leader_epoch_in_sync_set_and_follower_offsets() {
        let mut stores = sample();
        let name = "short-0".to_string();
        let p = stores.partitions.get_mut(&name).unwrap();
        p.spec.leader = 5002;
        p.spec.replicas = vec![5001, 5002];
        p.status.replicas = vec![protocol::sc::ReplicaStatus {
            spu: 5001,
            hw: 3,
            leo: 4,
        }];
        stores.replication.insert(
            name.clone(),
            crate::sc::store::ReplicationState {
                leader_epoch: 2,
                in_sync: vec![5002],
            },
        );
        let table = partitions(&stores);
        assert_eq!(table.header, PARTITION_COLUMNS);
        let row = table.rows.iter().find(|r| r[0] == name).unwrap();
        assert_eq!(
            row[1..5],
            ["5002", "2", "[5001,5002]", "[5002]"].map(String::from)
        );
        assert_eq!(row[8], "5001(hw=3,leo=4)");
        // Never changed by the SC: epoch 0, every replica in sync, no followers reported.
        let other = table.rows.iter().find(|r| r[0] != name).unwrap();
        assert_eq!(other[2], "0");
        assert_eq!(other[8], "-");
    }
}
