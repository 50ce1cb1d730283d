//! The commands only a REPL session has. They are a clap tree of their own, so they get
//! usage errors, `--help` and completion the same way the CLI's commands do.

use clap::{Parser, ValueEnum};

use crate::command::OutputFormat;

/// Session commands, typed without `fluvio` like every other line.
#[derive(Debug, Parser, PartialEq, Eq)]
#[command(multicall = true, disable_help_subcommand = true)]
pub enum Builtin {
    /// Show what the session can do, or a command's help (`help topic create`).
    Help {
        /// The command, and its subcommands.
        #[arg(value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Switch to another cluster (with TLS per the --tls flags); without an address or
    /// flags, show the current one and how the connection is secured.
    Connect {
        /// The SC's public address (default with --tls flags: the current one).
        #[arg(value_name = "HOST:PORT")]
        addr: Option<String>,
        #[command(flatten)]
        tls: crate::command::TlsArgs,
    },
    /// The format for commands run without -O; without one, show the current format.
    Output {
        #[arg(value_enum)]
        format: Option<OutputFormat>,
    },
    /// Print how long each command took; without on|off, show the current setting.
    Timing {
        #[arg(value_enum)]
        state: Option<Toggle>,
    },
    /// List the most recent lines of the history.
    History {
        /// How many lines.
        #[arg(default_value_t = 20)]
        count: usize,
    },
    /// Leave the session (Ctrl-D does too).
    #[command(visible_alias = "quit")]
    Exit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Toggle {
    On,
    Off,
}

/// Is `word` the name of a session command?
pub fn is_builtin(word: &str) -> bool {
    use clap::CommandFactory;
    Builtin::command()
        .get_subcommands()
        .any(|c| c.get_name() == word || c.get_all_aliases().any(|a| a == word))
}

/// Parse a line whose first word names a session command.
pub fn parse(words: &[String]) -> Result<Builtin, clap::Error> {
    Builtin::try_parse_from(words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn line(text: &str) -> Result<Builtin, clap::Error> {
        parse(&super::super::line::split(text).unwrap())
    }

    #[test]
    fn the_tree_is_consistent() {
        Builtin::command().debug_assert();
    }

    #[test]
    fn session_commands_parse() {
        assert_eq!(
            line("connect h:1").unwrap(),
            Builtin::Connect {
                addr: Some("h:1".into()),
                tls: Default::default(),
            }
        );
        assert_eq!(
            line("connect h:1 --tls-ca-cert ca.pem --tls-domain d").unwrap(),
            Builtin::Connect {
                addr: Some("h:1".into()),
                tls: crate::command::TlsArgs {
                    tls_ca_cert: Some("ca.pem".into()),
                    tls_domain: Some("d".into()),
                    ..Default::default()
                },
            }
        );
        assert_eq!(
            line("output json").unwrap(),
            Builtin::Output {
                format: Some(OutputFormat::Json)
            }
        );
        assert_eq!(
            line("timing off").unwrap(),
            Builtin::Timing {
                state: Some(Toggle::Off)
            }
        );
        assert_eq!(line("history").unwrap(), Builtin::History { count: 20 });
        assert_eq!(line("quit").unwrap(), Builtin::Exit);
        assert_eq!(
            line("help topic create").unwrap(),
            Builtin::Help {
                command: vec!["topic".into(), "create".into()]
            }
        );
        assert!(line("output xml").is_err());
        assert!(line("exit now").is_err());
        assert!(is_builtin("quit") && is_builtin("help") && !is_builtin("topic"));
    }
}
