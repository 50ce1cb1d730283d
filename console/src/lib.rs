//! The Fluvio console: client library and the command model shared by CLI, REPL and TUI.

pub mod benchmark;
pub mod cli;
pub mod client;
pub mod command;
pub mod config;
#[cfg(test)]
mod fake_sc;
pub mod render;
pub mod repl;
pub mod tui;
