//! The Fluvio console: client library and the command model shared by CLI, REPL and TUI.

pub mod client;
pub mod config;
