//! The Fluvio console: the `fluvio` CLI, REPL and TUI, built on the client library.
//!
//! Imports point one way, from the front ends down to the library:
//!
//! * [`cli`]: argv in, exit code out; starts [`repl`] and [`tui`] for their commands.
//! * [`repl`], [`tui`]: the interactive front ends.
//! * [`frontend`]: what the front ends share: environment, exit codes, printing a
//!   result or an error.
//! * [`render`]: a command's typed output as tables, JSON or YAML.
//! * [`command`]: the one command tree (with the flags of `repl`, `tui` and `benchmark`)
//!   and its executor; [`config`]: which SC to talk to; [`profiles`]: the config file's
//!   profiles, edited in place by `fluvio profile`.
//! * [`client`]: the client library, a crate of its own, so that it cannot depend on
//!   anything above it.

pub mod cli;
pub use client;
pub mod command;
pub mod config;
pub mod frontend;
pub mod profiles;
pub mod render;
pub mod repl;
pub mod tui;
