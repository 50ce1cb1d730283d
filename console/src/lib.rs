//! The Fluvio console: client library and the command model shared by CLI, REPL and TUI.

pub mod benchmark;
pub mod cli;
pub mod client;
pub mod command;
pub mod config;
pub mod render;
pub mod repl;
pub mod tui;
