//! The Fluvio console: client library and the command model shared by CLI, REPL and TUI.

pub mod benchmark;
pub mod cli;
/// The client library, a crate of its own so that it cannot depend on the console.
pub use client;
pub mod command;
pub mod config;
pub mod render;
pub mod repl;
pub mod tui;
