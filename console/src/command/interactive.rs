//! `fluvio repl` and `fluvio tui`: the flags of the two commands that start a front end of
//! their own. They are part of the one command tree, so they live here; the REPL
//! and the TUI read them from it.

use std::path::PathBuf;

use clap::Args;

/// The default number of records the TUI's tail keeps.
pub const DEFAULT_TAIL_BUFFER: usize = 10_000;

/// `fluvio repl`.
#[derive(Debug, Clone, Default, Args)]
pub struct ReplArgs {
    /// Run the lines of this script (`#` comments allowed) instead of reading a terminal.
    #[arg(
        short = 'f',
        long = "file",
        value_name = "FILE",
        conflicts_with = "command"
    )]
    pub file: Option<PathBuf>,
    /// Run this one line and exit with its status.
    #[arg(short = 'c', long = "command", value_name = "LINE")]
    pub command: Option<String>,
    /// In a script, run every line even after one fails (the exit code is still 1).
    #[arg(long)]
    pub continue_on_error: bool,
}

/// `fluvio tui`'s flags.
#[derive(Debug, Clone, Args)]
pub struct TuiArgs {
    /// Disable everything that changes the cluster (create, delete, register...).
    #[arg(long)]
    pub read_only: bool,
    /// Take mouse input (wheel scrolls, clicks select). Off by default, so the terminal's
    /// own text selection keeps working.
    #[arg(long)]
    pub mouse: bool,
    /// Records the tail keeps; older ones are dropped.
    #[arg(long, value_name = "RECORDS", default_value_t = DEFAULT_TAIL_BUFFER)]
    pub buffer: usize,
    /// The daemon's metrics endpoint for the metrics view (fluvio-daemon --metrics-addr;
    /// default: the SC's host, port 9644).
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_addr: Option<String>,
    /// The Kafka listener the consumer groups view asks (any SPU's --kafka-addr;
    /// default: an online SPU's, as the SC names it).
    #[arg(long, value_name = "HOST:PORT")]
    pub kafka_addr: Option<String>,
}
