//! Plain-text tables of the four stores, for logs and `fluvio advanced metadata`.
//!
//! The columns are those of `protocol::sc::table` (the `METADATA` lists), which the
//! console's `advanced metadata` and its TUI dump render too, so the three cannot drift
//! apart. The stores are shown as the SC's clients see them. Empty cells show `-`.

use std::fmt::Write as _;

use protocol::sc::table::{self, PartitionRow, Table};

use super::store::Stores;
use super::views;

pub fn auth_tokens(stores: &Stores) -> Table {
    Table::build(table::token::METADATA, &views::tokens(stores))
}

pub fn spus(stores: &Stores) -> Table {
    let mut spus = views::spus(stores);
    spus.sort_by_key(|s| s.spec.id);
    Table::build(table::spu::METADATA, &spus)
}

pub fn topics(stores: &Stores) -> Table {
    Table::build(table::topic::METADATA, &views::topics(stores))
}

pub fn partitions(stores: &Stores) -> Table {
    let rows: Vec<PartitionRow> = stores
        .partitions
        .values()
        .map(|p| {
            let state = stores.partition_state(p).spec;
            PartitionRow::new(p.clone(), Some(state))
        })
        .collect();
    Table::build(table::partition::METADATA, &rows)
}

/// All four stores, one table after another, each preceded by its title.
pub fn table_fmt(stores: &Stores) -> String {
    let mut out = String::new();
    for (title, table) in [
        ("auth tokens", auth_tokens(stores)),
        ("SPUs", spus(stores)),
        ("topics", topics(stores)),
        ("partitions", partitions(stores)),
    ] {
        let _ = writeln!(out, "{title}:");
        out.push_str(&table.render_plain());
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
    fn column_starts(header: &str, names: &[String]) -> Vec<usize> {
        names
            .iter()
            .map(|n| header.find(n.as_str()).unwrap())
            .collect()
    }

    #[test]
    fn header_and_rows_have_the_same_columns() {
        let stores = sample();
        for (title, table) in [
            ("auth tokens", auth_tokens(&stores)),
            ("SPUs", spus(&stores)),
            ("topics", topics(&stores)),
            ("partitions", partitions(&stores)),
        ] {
            assert!(!table.rows().is_empty(), "{title} has rows");
            for row in table.rows() {
                assert_eq!(row.len(), table.header().len(), "{title}: {row:?}");
            }
            let rendered = table.render_plain();
            let mut lines = rendered.lines();
            let header = lines.next().unwrap();
            let starts = column_starts(header, table.header());
            for line in lines {
                let cells: Vec<&str> = line.split_whitespace().collect();
                assert_eq!(cells.len(), table.header().len(), "{title}: {line}");
                for (start, cell) in starts.iter().zip(&cells) {
                    assert_eq!(
                        &line[*start..*start + cell.len()],
                        *cell,
                        "{title}: column of {cell}"
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
        let spu_table = spus(&stores).render_plain();
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
        // The columns are `protocol::sc::table::partition::METADATA`, pinned where defined.
        let row = table.rows().iter().find(|r| r[0] == name).unwrap();
        assert_eq!(
            row[1..5],
            ["5002", "2", "[5001,5002]", "[5002]"].map(String::from)
        );
        assert_eq!(row[8], "5001(hw=3,leo=4)");
        // Never changed by the SC: epoch 0, every replica in sync, no followers reported.
        let other = table.rows().iter().find(|r| r[0] != name).unwrap();
        assert_eq!(other[2], "0");
        assert_eq!(other[8], "-");
    }
}
