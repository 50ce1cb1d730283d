//! Completion and hints for a REPL line, from the same clap trees that parse it (the CLI's
//! [`Cli`] plus the session's [`Builtin`]s) and from the cluster's live names.
//!
//! Nothing here knows about terminals: [`Completer::complete`] takes a line and a cursor
//! and answers where the word under the cursor starts and what could replace it.

use std::collections::HashMap;

use clap::{Arg, Command, CommandFactory};

use super::builtin::Builtin;
use super::line;
use crate::command::Cli;

/// Commands that take over the terminal or start a session: not offered inside one.
pub const NOT_IN_SESSION: &[&str] = &["repl", "tui"];

/// A kind of live name the cluster has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameKind {
    Topic,
    /// Partition numbers of a topic (all topics' when the line names none).
    Partition {
        topic: Option<String>,
    },
    SpuId,
    SpuName,
    /// SPUs' public addresses.
    SpuAddr,
    Token,
    /// Consumers with committed offsets.
    Consumer,
}

/// Where live names come from: the client's metadata in a session, a fixed list in tests.
pub trait NameSource {
    fn names(&self, kind: &NameKind) -> Vec<String>;
}

/// No cluster: only what the command trees know.
pub struct NoNames;

impl NameSource for NoNames {
    fn names(&self, _: &NameKind) -> Vec<String> {
        Vec::new()
    }
}

/// What may replace the word under the cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// Where the replaced word starts in the line.
    pub start: usize,
    /// Whole words (not suffixes), sorted, without duplicates.
    pub words: Vec<String>,
}

/// A grey suggestion after the cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    pub display: String,
    /// What accepting the hint (→) inserts; `None` for a placeholder such as `<NAME>`.
    pub insert: Option<String>,
}

/// The command trees, built once per session.
pub struct Completer {
    root: Command,
}

impl Default for Completer {
    fn default() -> Self {
        Self::new()
    }
}

/// What the words before the cursor amount to.
struct Walk<'a> {
    /// From the root to the command the line is in.
    path: Vec<&'a Command>,
    /// An option that still wants its value: the word under the cursor is that value.
    pending: Option<&'a Arg>,
    /// How many positional values the current command has had.
    positionals: usize,
    /// Values seen so far, by argument id (to complete partitions of the topic named).
    values: HashMap<String, Vec<String>>,
    /// After `--`, everything is positional.
    only_positionals: bool,
    /// After `help`, the words are command names.
    help: bool,
}

impl Completer {
    pub fn new() -> Self {
        let mut root = Cli::command();
        for builtin in Builtin::command().get_subcommands() {
            root = root.subcommand(builtin.clone());
        }
        // Building adds the `--help` flags and propagates the global ones.
        root.build();
        Self { root }
    }

    /// Candidates for the word under the cursor at `pos`.
    pub fn complete(&self, text: &str, pos: usize, names: &dyn NameSource) -> Completion {
        let prefix = line::prefix(text, pos);
        let mut completion = Completion {
            start: prefix.start,
            words: Vec::new(),
        };
        if prefix.in_comment {
            return completion;
        }
        let walk = self.walk(&prefix.done);
        let current = &prefix.current;
        let mut words = if let Some(arg) = walk.pending {
            self.values(&walk, arg, names)
        } else if current.starts_with('-') && !walk.only_positionals {
            match current.split_once('=') {
                Some((flag, _)) => self
                    .find_long(&walk, &flag[2..])
                    .map(|arg| {
                        self.values(&walk, arg, names)
                            .into_iter()
                            .map(|v| format!("{flag}={v}"))
                            .collect()
                    })
                    .unwrap_or_default(),
                None => self.flags(&walk, !current.starts_with("--")),
            }
        } else {
            let command = walk.command();
            if walk.help || command.has_subcommands() {
                subcommands(command, walk.path.len() == 1)
            } else {
                match positional(command, walk.positionals) {
                    Some(arg) => self.values(&walk, arg, names),
                    None => Vec::new(),
                }
            }
        };
        words.retain(|w| w.starts_with(current.as_str()));
        words.sort();
        words.dedup();
        completion.words = words;
        completion
    }

    /// A suggestion for the rest of the line when the cursor is at its end: the rest of
    /// the only candidate, or what the command expects next (`<NAME>`).
    pub fn hint(&self, text: &str, pos: usize, names: &dyn NameSource) -> Option<Hint> {
        if pos != text.len() || text.trim().is_empty() {
            return None;
        }
        let prefix = line::prefix(text, pos);
        if prefix.in_comment {
            return None;
        }
        if !prefix.current.is_empty() {
            let completion = self.complete(text, pos, names);
            return match completion.words.as_slice() {
                [only] if only.len() > prefix.current.len() => {
                    let rest = only[prefix.current.len()..].to_string();
                    Some(Hint {
                        display: rest.clone(),
                        insert: Some(rest),
                    })
                }
                _ => None,
            };
        }
        let walk = self.walk(&prefix.done);
        let wanted = match walk.pending {
            Some(arg) => Some(arg),
            None if walk.help || walk.command().has_subcommands() => None,
            None => positional(walk.command(), walk.positionals)
                .filter(|arg| arg.is_required_set() && !walk.values.contains_key(id(arg))),
        }?;
        Some(Hint {
            display: placeholder(wanted),
            insert: None,
        })
    }

    fn walk<'a>(&'a self, done: &[String]) -> Walk<'a> {
        let mut walk = Walk {
            path: vec![&self.root],
            pending: None,
            positionals: 0,
            values: HashMap::new(),
            only_positionals: false,
            help: false,
        };
        for (i, word) in done.iter().enumerate() {
            // `fluvio topic list`, typed out of habit, means `topic list`.
            if i == 0 && word == "fluvio" {
                continue;
            }
            if let Some(arg) = walk.pending.take() {
                walk.record(arg, word);
                continue;
            }
            if word == "--" && !walk.only_positionals {
                walk.only_positionals = true;
                continue;
            }
            if !walk.only_positionals && word.starts_with("--") {
                let (name, value) = match word[2..].split_once('=') {
                    Some((name, value)) => (name, Some(value)),
                    None => (&word[2..], None),
                };
                if let Some(arg) = self.find_long(&walk, name)
                    && takes_value(arg)
                {
                    match value {
                        Some(value) => walk.record(arg, value),
                        None => walk.pending = Some(arg),
                    }
                }
                continue;
            }
            if !walk.only_positionals && is_short_flags(word) {
                for (at, letter) in word.char_indices().skip(1) {
                    let Some(arg) = self.find_short(&walk, letter) else {
                        continue;
                    };
                    if takes_value(arg) {
                        let rest = &word[at + letter.len_utf8()..];
                        if rest.is_empty() {
                            walk.pending = Some(arg);
                        } else {
                            walk.record(arg, rest.trim_start_matches('='));
                        }
                        break;
                    }
                }
                continue;
            }
            let command = walk.command();
            if let Some(sub) = find_subcommand(command, word) {
                if walk.path.len() == 1 && sub.get_name() == "help" && !walk.help {
                    walk.help = true;
                } else {
                    walk.path.push(sub);
                    walk.positionals = 0;
                }
                continue;
            }
            if walk.help {
                continue;
            }
            if let Some(arg) = positional(command, walk.positionals) {
                walk.record(arg, word);
                if !is_multiple(arg) {
                    walk.positionals += 1;
                }
            }
        }
        walk
    }

    /// Options of the current command and the global ones of the commands above it.
    fn options<'a>(&self, walk: &Walk<'a>) -> Vec<&'a Arg> {
        let mut args: Vec<&'a Arg> = Vec::new();
        let (current, above) = walk.path.split_last().expect("the root is always there");
        args.extend(current.get_arguments().filter(|a| !a.is_positional()));
        for command in above {
            for arg in command.get_arguments().filter(|a| a.is_global_set()) {
                if !args.iter().any(|a| a.get_id() == arg.get_id()) {
                    args.push(arg);
                }
            }
        }
        args
    }

    fn find_long<'a>(&self, walk: &Walk<'a>, name: &str) -> Option<&'a Arg> {
        self.options(walk).into_iter().find(|a| {
            a.get_long() == Some(name)
                || a.get_all_aliases()
                    .is_some_and(|aliases| aliases.contains(&name))
        })
    }

    fn find_short<'a>(&self, walk: &Walk<'a>, letter: char) -> Option<&'a Arg> {
        self.options(walk).into_iter().find(|a| {
            a.get_short() == Some(letter)
                || a.get_all_short_aliases()
                    .is_some_and(|aliases| aliases.contains(&letter))
        })
    }

    /// `--long` flags (and `-s` ones when `short`) of the current command.
    fn flags(&self, walk: &Walk<'_>, short: bool) -> Vec<String> {
        let mut flags = Vec::new();
        for arg in self.options(walk) {
            if arg.is_hide_set() {
                continue;
            }
            if let Some(long) = arg.get_long() {
                flags.push(format!("--{long}"));
            }
            if short && let Some(letter) = arg.get_short() {
                flags.push(format!("-{letter}"));
            }
        }
        flags
    }

    /// Values `arg` may take: its listed possible values, else live names when the
    /// argument names a thing the cluster has.
    fn values(&self, walk: &Walk<'_>, arg: &Arg, names: &dyn NameSource) -> Vec<String> {
        let listed: Vec<String> = arg
            .get_possible_values()
            .into_iter()
            .filter(|v| !v.is_hide_set())
            .map(|v| v.get_name().to_string())
            .collect();
        if !listed.is_empty() {
            return listed;
        }
        match name_kind(&walk.names(), id(arg), &walk.values) {
            Some(kind) => names.names(&kind),
            None => Vec::new(),
        }
    }
}

impl<'a> Walk<'a> {
    fn command(&self) -> &'a Command {
        self.path.last().expect("the root is always there")
    }

    /// The command path below the root: `["topic", "describe"]`.
    fn names(&self) -> Vec<&'a str> {
        self.path[1..].iter().map(|c| c.get_name()).collect()
    }

    fn record(&mut self, arg: &Arg, value: &str) {
        self.values
            .entry(id(arg).to_string())
            .or_default()
            .push(value.to_string());
    }
}

fn id(arg: &Arg) -> &str {
    arg.get_id().as_str()
}

/// Which live names an argument takes, by the command it belongs to and its id.
fn name_kind(path: &[&str], id: &str, values: &HashMap<String, Vec<String>>) -> Option<NameKind> {
    let topic = || values.get("topic").and_then(|v| v.last()).cloned();
    match (path, id) {
        (_, "topic") | (["topic", "describe" | "delete"], "names") => Some(NameKind::Topic),
        (["consume"], "partitions") | (["produce" | "partition", ..], "partition") => {
            Some(NameKind::Partition { topic: topic() })
        }
        (["auth-token", "delete" | "list"], "name" | "names") => Some(NameKind::Token),
        (["consumer", "delete"], "name") | (["consume"], "consumer") => Some(NameKind::Consumer),
        (["spu", "unregister"], "id") => Some(NameKind::SpuId),
        (["spu", "unregister"], "name") => Some(NameKind::SpuName),
        (["advanced", _], "spu") => Some(NameKind::SpuAddr),
        _ => None,
    }
}

fn takes_value(arg: &Arg) -> bool {
    arg.get_action().takes_values()
}

fn is_multiple(arg: &Arg) -> bool {
    matches!(arg.get_action(), clap::ArgAction::Append)
        || arg.get_num_args().is_some_and(|n| n.max_values() > 1)
}

/// `-p`, `-gs`, `-p3`, but not `-5` (a negative number) or `-`.
fn is_short_flags(word: &str) -> bool {
    word.len() > 1 && word.starts_with('-') && !word[1..].starts_with(|c: char| c.is_ascii_digit())
}

fn find_subcommand<'a>(command: &'a Command, word: &str) -> Option<&'a Command> {
    command
        .get_subcommands()
        .find(|c| c.get_name() == word || c.get_all_aliases().any(|a| a == word))
}

fn subcommands(command: &Command, at_root: bool) -> Vec<String> {
    command
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .filter(|c| !(at_root && NOT_IN_SESSION.contains(&c.get_name())))
        .flat_map(|c| {
            std::iter::once(c.get_name().to_string())
                .chain(c.get_visible_aliases().map(str::to_string))
        })
        .collect()
}

/// The `n`th positional argument, or the last when it takes many values.
fn positional(command: &Command, n: usize) -> Option<&Arg> {
    let positionals: Vec<&Arg> = command.get_positionals().collect();
    positionals
        .get(n)
        .copied()
        .or_else(|| positionals.last().copied().filter(|a| is_multiple(a)))
}

fn placeholder(arg: &Arg) -> String {
    let name = arg
        .get_value_names()
        .and_then(|names| names.first())
        .map(|n| n.to_string())
        .unwrap_or_else(|| id(arg).to_uppercase());
    format!("<{name}>")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cluster with two topics, partitions, one SPU and one token.
    struct Fixed;

    impl NameSource for Fixed {
        fn names(&self, kind: &NameKind) -> Vec<String> {
            let list: &[&str] = match kind {
                NameKind::Topic => &["orders", "other", "payments"],
                NameKind::Partition { topic } => match topic.as_deref() {
                    Some("orders") => &["0", "1", "2"],
                    _ => &["0"],
                },
                NameKind::SpuId => &["5001"],
                NameKind::SpuName => &["custom-7"],
                NameKind::SpuAddr => &["127.0.0.1:9005"],
                NameKind::Token => &["tok-a"],
                NameKind::Consumer => &["billing", "audit"],
            };
            list.iter().map(|s| s.to_string()).collect()
        }
    }

    fn complete(line: &str) -> Vec<String> {
        Completer::new().complete(line, line.len(), &Fixed).words
    }

    #[test]
    fn commands_and_subcommands_come_from_the_tree() {
        let top = complete("");
        for name in [
            "topic",
            "consume",
            "auth-token",
            "help",
            "connect",
            "exit",
            "quit",
        ] {
            assert!(top.contains(&name.to_string()), "{name} in {top:?}");
        }
        assert!(!top.contains(&"repl".to_string()), "{top:?}");
        assert_eq!(complete("to"), ["topic"]);
        assert_eq!(
            complete("topic "),
            ["add-partition", "create", "delete", "describe", "list"]
        );
        assert_eq!(complete("topic de"), ["delete", "describe"]);
        assert_eq!(complete("fluvio topic li"), ["list"]);
        assert_eq!(complete("help topic c"), ["create"]);
        assert_eq!(
            complete("help con"),
            ["connect", "consume", "consumer", "consumer-group"]
        );
        assert_eq!(complete("consumer-group d"), ["describe"]);
    }

    #[test]
    fn flags_of_the_command_and_global_ones() {
        let flags = complete("topic create x -");
        for flag in [
            "--partitions",
            "-p",
            "--replication",
            "--sc",
            "--help",
            "-P",
        ] {
            assert!(flags.contains(&flag.to_string()), "{flag} in {flags:?}");
        }
        assert!(!flags.contains(&"--output".to_string()), "{flags:?}");
        assert_eq!(complete("topic create x --par"), ["--partitions"]);
        assert_eq!(complete("topic list --o"), ["--output"]);
    }

    #[test]
    fn values_listed_by_clap() {
        assert_eq!(
            complete("topic list -O "),
            ["json", "table", "toml", "yaml"]
        );
        assert_eq!(complete("topic list --output j"), ["json"]);
        assert_eq!(complete("topic list --output=y"), ["--output=yaml"]);
        assert_eq!(complete("output "), ["json", "table", "toml", "yaml"]);
        assert_eq!(complete("timing o"), ["off", "on"]);
        assert!(complete("completions ").contains(&"bash".to_string()));
    }

    #[test]
    fn live_names_where_arguments_name_them() {
        assert_eq!(complete("topic describe "), ["orders", "other", "payments"]);
        assert_eq!(complete("topic describe orders o"), ["orders", "other"]);
        assert_eq!(complete("topic delete p"), ["payments"]);
        assert_eq!(complete("consumer delete b"), ["billing"]);
        assert_eq!(complete("consume orders --consumer a"), ["audit"]);
        assert_eq!(complete("consume "), ["orders", "other", "payments"]);
        assert_eq!(complete("consume -B o"), ["orders", "other"]);
        assert_eq!(complete("produce pay"), ["payments"]);
        assert_eq!(
            complete("partition list -t "),
            ["orders", "other", "payments"]
        );
        assert_eq!(complete("consume orders -p "), ["0", "1", "2"]);
        assert_eq!(complete("consume orders -p 0 -p "), ["0", "1", "2"]);
        assert_eq!(complete("auth-token delete -n "), ["tok-a"]);
        assert_eq!(complete("spu unregister --id "), ["5001"]);
        assert_eq!(complete("spu unregister --name "), ["custom-7"]);
        // Names a command creates are not completed from the cluster.
        assert_eq!(complete("topic create "), Vec::<String>::new());
        // A value already given: the next word is a flag or nothing.
        assert_eq!(complete("consume orders "), Vec::<String>::new());
    }

    #[test]
    fn the_replaced_word_starts_where_it_starts() {
        let c = Completer::new().complete("topic describe 'or", 18, &Fixed);
        assert_eq!(c.start, 15);
        assert_eq!(c.words, ["orders"]);
        let c = Completer::new().complete("topic list", 3, &Fixed);
        assert_eq!((c.start, c.words), (0, vec!["topic".to_string()]));
        assert!(complete("topic list # t").is_empty());
    }

    #[test]
    fn hints_complete_the_only_candidate_or_name_what_comes_next() {
        let completer = Completer::new();
        let hint = |line: &str| completer.hint(line, line.len(), &Fixed);
        assert_eq!(
            hint("topic cr"),
            Some(Hint {
                display: "eate".into(),
                insert: Some("eate".into())
            })
        );
        assert_eq!(
            hint("topic create "),
            Some(Hint {
                display: "<NAME>".into(),
                insert: None
            })
        );
        assert_eq!(hint("consume pay").unwrap().display, "ments");
        assert_eq!(hint("topic list -O ").unwrap().display, "<FORMAT>");
        assert_eq!(hint("topic de"), None, "two candidates");
        assert_eq!(hint("topic create x "), None, "the name is given");
        assert_eq!(hint(""), None);
        assert_eq!(completer.hint("topic cr", 3, &Fixed), None);
    }
}
