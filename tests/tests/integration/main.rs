//! The integration tests, one module per area, linked into one test binary so the suite
//! builds and links it once: real daemons on loopback, the CLI, REPL and TUI, the official
//! Python client, fault injection. The shared support lives in the `tests` library.

mod authz;
mod cli_admin;
mod cli_benchmark;
mod cli_data;
mod cli_offline;
mod cli_roundtrip;
mod cli_soak;
mod cli_tour;
mod client_library;
mod consumer_offsets;
mod decode_bounds;
mod fluvio_spellings;
mod idempotent_producers;
mod integrity;
mod kafka;
mod kafka_groups;
mod kafka_idempotence;
mod listener_limits;
mod observability;
mod partitioner_parity;
mod produce_order;
mod repl_complete;
mod repl_interactive;
mod repl_script;
mod repl_tour;
mod replication_client;
mod replication_cluster;
mod replication_failover;
mod sc_auth;
mod sc_bad_input;
mod sc_crash;
mod sc_ha;
mod sc_python_admin;
mod spu_bad_input;
mod spu_durability;
mod spu_protocol;
mod spu_python;
mod tls;
mod topic_placement;
mod tui_console;
mod tui_tmux;
mod tui_tour;
