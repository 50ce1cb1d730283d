//! The `:` command bar: the line being typed, its history, and what a line means.
//!
//! A line is split with shell quoting rules and parsed by the CLI's own clap tree
//! ([`crate::command::parse`]), so `:topic create t -p 3` here is `fluvio topic create t
//! -p 3` there. A few words are the console's own: `tail`, `quit`, and the view names.

use clap::Parser;

use crate::command::advanced::AdvancedCmd;
use crate::command::auth_token::AuthTokenCmd;
use crate::command::cluster::ClusterCmd;
use crate::command::consume::ConsumeArgs;
use crate::command::consumer::ConsumerCmd;
use crate::command::profile::{ProfileArgs, ProfileCmd};
use crate::command::spu::SpuCmd;
use crate::command::topic::TopicCmd;
use crate::command::{self, Cli, Command};

use super::keymap::View;
use super::tail::{Start, TailSource};

/// Lines kept in the history.
const HISTORY: usize = 200;

#[derive(Debug, Default)]
pub struct CommandBar {
    active: bool,
    line: String,
    history: Vec<String>,
    /// Where in the history ↑/↓ is; `None`: at the draft.
    position: Option<usize>,
    draft: String,
}

impl CommandBar {
    pub fn is_active(&self) -> bool {
        self.active
    }

    pub fn line(&self) -> &str {
        &self.line
    }

    pub fn open(&mut self) {
        self.active = true;
        self.line.clear();
        self.position = None;
    }

    /// Open with a line already typed.
    pub fn open_with(&mut self, line: &str) {
        self.open();
        self.line = line.to_string();
    }

    pub fn close(&mut self) {
        self.active = false;
        self.line.clear();
        self.position = None;
    }

    /// Replace the line (a completion).
    pub fn set_line(&mut self, line: String) {
        self.line = line;
    }

    pub fn insert(&mut self, c: char) {
        self.line.push(c);
    }

    pub fn backspace(&mut self) {
        self.line.pop();
    }

    pub fn history_prev(&mut self) {
        let next = match self.position {
            None if self.history.is_empty() => return,
            None => {
                self.draft = self.line.clone();
                self.history.len() - 1
            }
            Some(0) => 0,
            Some(p) => p - 1,
        };
        self.position = Some(next);
        self.line = self.history[next].clone();
    }

    pub fn history_next(&mut self) {
        match self.position {
            None => {}
            Some(p) if p + 1 < self.history.len() => {
                self.position = Some(p + 1);
                self.line = self.history[p + 1].clone();
            }
            Some(_) => {
                self.position = None;
                self.line = std::mem::take(&mut self.draft);
            }
        }
    }

    /// Enter: the line, now in the history; the bar closes.
    pub fn submit(&mut self) -> String {
        let line = std::mem::take(&mut self.line).trim().to_string();
        if !line.is_empty() && self.history.last() != Some(&line) {
            if self.history.len() == HISTORY {
                self.history.remove(0);
            }
            self.history.push(line.clone());
        }
        self.close();
        line
    }

    pub fn history(&self) -> &[String] {
        &self.history
    }
}

/// Split a line as a POSIX shell would: whitespace separates words, single quotes keep
/// everything, double quotes keep all but `\"` and `\\`, a backslash escapes the next
/// character outside quotes.
pub fn split(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unterminated ' quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("unterminated \" quote".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("unterminated \" quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err("a line cannot end with \\".into()),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// `tail`: the console's own command, with `fluvio consume`'s start flags.
#[derive(Debug, Parser)]
#[command(
    name = "tail",
    about = "Tail a topic in the console",
    disable_help_subcommand = true
)]
struct TailCmd {
    /// The topic.
    topic: String,
    /// A partition to tail; repeat for several (default: all).
    #[arg(short = 'p', long = "partition", value_name = "N")]
    partitions: Vec<u32>,
    /// Start from the oldest record.
    #[arg(short = 'B', long, conflicts_with_all = ["tail", "head", "start"])]
    beginning: bool,
    /// Start with the last N records.
    #[arg(short = 'T', long, value_name = "N", conflicts_with_all = ["head", "start"])]
    tail: Option<i64>,
    /// Start N records after the beginning.
    #[arg(short = 'H', long, value_name = "N", conflicts_with = "start")]
    head: Option<i64>,
    /// Start at this absolute offset.
    #[arg(long, value_name = "OFFSET")]
    start: Option<i64>,
    /// Keep the current tail's filter for this one (a new tail drops it otherwise).
    #[arg(long)]
    keep_filter: bool,
}

impl TailCmd {
    fn source(self) -> TailSource {
        let start = if self.beginning {
            Start::Beginning
        } else if let Some(n) = self.tail {
            Start::Last(n)
        } else if let Some(n) = self.head {
            Start::FromBeginning(n)
        } else if let Some(n) = self.start {
            Start::Offset(n)
        } else {
            Start::End
        };
        let mut partitions = self.partitions;
        partitions.sort_unstable();
        partitions.dedup();
        TailSource {
            topic: self.topic,
            partitions: (!partitions.is_empty()).then_some(partitions),
            start,
        }
    }
}

/// What a CLI command does to the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Reads,
    Changes,
    /// Deletes something: asks first. The question to ask.
    Destroys(String),
    /// Makes no sense inside the console.
    NotHere(&'static str),
}

/// Classify a parsed command. Anything not known to only read counts as a change, so
/// commands the CLI adds later are refused in read-only mode until listed here.
pub fn effect(command: &Command) -> Effect {
    match command {
        Command::Topic(TopicCmd::List(_) | TopicCmd::Describe(_))
        | Command::Partition(_)
        | Command::Spu(SpuCmd::List(_))
        | Command::AuthToken(AuthTokenCmd::List(_))
        | Command::Consumer(ConsumerCmd::List(_))
        | Command::Advanced(AdvancedCmd::Metadata(_) | AdvancedCmd::Generate(_))
        | Command::Version(_)
        | Command::Profile(ProfileArgs {
            cmd: None | Some(ProfileCmd::Current | ProfileCmd::List(_)),
        })
        | Command::Completions { .. } => Effect::Reads,
        Command::Profile(ProfileArgs {
            cmd: Some(ProfileCmd::Delete { name }),
        }) => Effect::Destroys(format!("Delete profile '{name}' from the config file?")),
        Command::Topic(TopicCmd::Delete(args)) => Effect::Destroys(format!(
            "Delete topic {} and all its records?",
            quoted_list(&args.names)
        )),
        Command::AuthToken(AuthTokenCmd::Delete(args)) => Effect::Destroys(format!(
            "Delete auth token '{}'? SPUs using it can no longer register.",
            args.name
        )),
        Command::Consumer(ConsumerCmd::Delete(args)) => Effect::Destroys(format!(
            "Delete the committed offsets of consumer '{}'? It then starts where its start flags say.",
            args.name
        )),
        Command::Consume(_) => Effect::Reads,
        Command::Produce(args) if args.file.is_none() => Effect::NotHere(
            "produce reads stdin, which the console is using: give the records in a file with -f FILE",
        ),
        Command::Tui(_) => Effect::NotHere("this is the console already"),
        Command::Cluster(ClusterCmd::Status) => Effect::Reads,
        Command::Cluster(_) => Effect::NotHere(
            "the local cluster is started, stopped and deleted from a shell: run `fluvio cluster ...` there",
        ),
        Command::Spu(SpuCmd::Unregister(args)) => Effect::Destroys(format!(
            "Unregister SPU {}? The SC refuses it from then on.",
            args.name
                .clone()
                .or(args.id.map(|id| id.to_string()))
                .unwrap_or_default()
        )),
        _ => Effect::Changes,
    }
}

fn quoted_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A `consume` that would follow the topic forever is a tail in the console (its records
/// would have nowhere to go); one that stops runs as a command and shows its output.
fn follows(args: &ConsumeArgs) -> Option<TailSource> {
    if args.disable_continuous || args.end.is_some() || args.num.is_some() {
        return None;
    }
    let start = if args.beginning {
        Start::Beginning
    } else if let Some(n) = args.tail {
        Start::Last(n)
    } else if let Some(n) = args.head {
        Start::FromBeginning(n)
    } else {
        match args.offset {
            Some(n) if n < 0 => Start::Last(-n),
            Some(n) => Start::Offset(n),
            None => Start::End,
        }
    };
    let mut partitions = args.partitions.clone();
    partitions.sort_unstable();
    partitions.dedup();
    Some(TailSource {
        topic: args.topic.clone(),
        partitions: (!partitions.is_empty()).then_some(partitions),
        start,
    })
}

/// What a line asks for.
#[derive(Debug)]
pub enum Request {
    Nothing,
    Quit,
    Help,
    Show(View),
    Tail(TailSource),
    /// A tail that keeps the current filter.
    TailKeepingFilter(TailSource),
    /// A CLI command to run now.
    Run(Box<Cli>),
    /// A CLI command to run once confirmed.
    Confirm {
        question: String,
        line: String,
    },
    /// Said instead of running anything: a usage error, `--help` text, a refusal.
    Say {
        text: String,
        error: bool,
    },
}

/// What `line` asks for. `confirmed` skips the question for destructive commands (it was
/// asked already).
pub fn parse_line(line: &str, read_only: bool, confirmed: bool) -> Request {
    let words = match split(line) {
        Ok(words) => words,
        Err(problem) => {
            return Request::Say {
                text: problem,
                error: true,
            };
        }
    };
    let mut words: &[String] = &words;
    if words.first().is_some_and(|w| w == "fluvio") {
        words = &words[1..];
    }
    let Some(first) = words.first() else {
        return Request::Nothing;
    };
    match (first.as_str(), words.len()) {
        ("q" | "quit" | "exit", 1) => return Request::Quit,
        ("help" | "?", 1) => return Request::Help,
        ("spus", 1) => return Request::Show(View::Spus),
        ("topics", 1) => return Request::Show(View::Topics),
        ("partitions", 1) => return Request::Show(View::Partitions),
        ("tokens" | "auth-tokens", 1) => return Request::Show(View::Tokens),
        ("metadata", 1) => return Request::Show(View::Metadata),
        ("consumers", 1) => return Request::Show(View::Consumers),
        ("tail", 1) => return Request::Show(View::Tail),
        ("tail", _) => {
            return match TailCmd::try_parse_from(words) {
                Ok(cmd) if cmd.keep_filter => Request::TailKeepingFilter(cmd.source()),
                Ok(cmd) => Request::Tail(cmd.source()),
                Err(err) => Request::Say {
                    text: err.render().to_string(),
                    error: err.use_stderr(),
                },
            };
        }
        _ => {}
    }
    let argv = std::iter::once("fluvio").chain(words.iter().map(String::as_str));
    let cli = match command::parse(argv) {
        Ok(cli) => cli,
        Err(err) => {
            return Request::Say {
                text: err.render().to_string(),
                error: err.use_stderr(),
            };
        }
    };
    if let Command::Consume(args) = &cli.command
        && let Some(source) = follows(args)
    {
        // A tail shows records without anyone processing them: committing them as a
        // consumer's would skip them for that consumer.
        if args.consumer.is_some() {
            return Request::Say {
                text: "a tail does not commit offsets: run `consume --consumer` with -d or -n here, or follow it from a shell".into(),
                error: true,
            };
        }
        return Request::Tail(source);
    }
    match effect(&cli.command) {
        Effect::Reads => Request::Run(Box::new(cli)),
        Effect::NotHere(why) => Request::Say {
            text: why.into(),
            error: true,
        },
        Effect::Changes | Effect::Destroys(_) if read_only => Request::Say {
            text: "read-only mode: commands that change the cluster are disabled (restart without --read-only)".into(),
            error: true,
        },
        Effect::Changes => Request::Run(Box::new(cli)),
        Effect::Destroys(_) if confirmed => Request::Run(Box::new(cli)),
        Effect::Destroys(question) => Request::Confirm {
            question,
            line: line.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitting_follows_shell_quoting() {
        assert_eq!(split("  topic  list ").unwrap(), vec!["topic", "list"]);
        assert_eq!(
            split(r#"a 'b c' "d \"e\"" f\ g h''"#).unwrap(),
            vec!["a", "b c", "d \"e\"", "f g", "h"]
        );
        assert_eq!(split("''").unwrap(), vec![""]);
        assert!(split("'open").is_err());
        assert!(split("\"open").is_err());
        assert!(split("end\\").is_err());
    }

    #[test]
    fn history_walks_back_and_forth_and_keeps_the_draft() {
        let mut bar = CommandBar::default();
        for line in ["topic list", "spu list", "spu list", "  "] {
            bar.open();
            for c in line.chars() {
                bar.insert(c);
            }
            bar.submit();
        }
        assert_eq!(bar.history(), ["topic list", "spu list"]);
        bar.open();
        bar.insert('x');
        bar.history_prev();
        assert_eq!(bar.line(), "spu list");
        bar.history_prev();
        bar.history_prev();
        assert_eq!(bar.line(), "topic list");
        bar.history_next();
        assert_eq!(bar.line(), "spu list");
        bar.history_next();
        assert_eq!(bar.line(), "x", "back to what was typed");
        bar.backspace();
        assert_eq!(bar.line(), "");
    }

    #[test]
    fn console_words() {
        assert!(matches!(parse_line("", false, false), Request::Nothing));
        assert!(matches!(parse_line("quit", false, false), Request::Quit));
        assert!(matches!(
            parse_line("topics", false, false),
            Request::Show(View::Topics)
        ));
        match parse_line("tail orders -p 2 -p 0 -p 2 -T 50", false, false) {
            Request::Tail(source) => {
                assert_eq!(source.topic, "orders");
                assert_eq!(source.partitions, Some(vec![0, 2]));
                assert_eq!(source.start, Start::Last(50));
            }
            other => panic!("{other:?}"),
        }
        match parse_line("tail orders", false, false) {
            Request::Tail(source) => {
                assert_eq!(source.partitions, None);
                assert_eq!(source.start, Start::End, "like consume");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_line("tail orders -B -T 3", false, false),
            Request::Say { error: true, .. }
        ));
    }

    #[test]
    fn consume_follows_as_a_tail_or_runs_when_it_stops() {
        match parse_line("consume orders -p 1 -T 5", true, false) {
            Request::Tail(source) => {
                assert_eq!(source.partitions, Some(vec![1]));
                assert_eq!(source.start, Start::Last(5));
            }
            other => panic!("{other:?}"),
        }
        match parse_line("consume orders -o -3", true, false) {
            Request::Tail(source) => assert_eq!(source.start, Start::Last(3)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_line("consume orders -B -d", true, false),
            Request::Run(_)
        ));
        match parse_line("consume orders --consumer app", false, false) {
            Request::Say { text, error } => {
                assert!(error && text.contains("does not commit"), "{text}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_line("consume orders --consumer app -d", false, false),
            Request::Run(_)
        ));
        assert!(matches!(
            parse_line("consumer list", true, false),
            Request::Run(_)
        ));
        assert!(matches!(
            parse_line("consumer delete app", false, false),
            Request::Confirm { .. }
        ));
        match parse_line("produce orders", false, false) {
            Request::Say { text, error } => assert!(error && text.contains("-f FILE"), "{text}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_line("produce orders -f x.txt", false, false),
            Request::Run(_)
        ));
        assert!(matches!(
            parse_line("produce orders -f x.txt", true, false),
            Request::Say { error: true, .. }
        ));
        assert!(matches!(
            parse_line("tui", false, false),
            Request::Say { error: true, .. }
        ));
    }

    #[test]
    fn cli_commands_parse_with_the_cli_tree() {
        assert!(matches!(
            parse_line("topic list", true, false),
            Request::Run(_)
        ));
        assert!(matches!(
            parse_line("fluvio topic list -O json", true, false),
            Request::Run(_)
        ));
        match parse_line("topic nonsense", false, false) {
            Request::Say { text, error } => {
                assert!(error);
                assert!(text.contains("nonsense"), "{text}");
            }
            other => panic!("{other:?}"),
        }
        match parse_line("topic --help", false, false) {
            Request::Say { text, error } => {
                assert!(!error, "help is not an error");
                assert!(text.contains("create"), "{text}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn destructive_commands_ask_and_read_only_refuses_changes() {
        match parse_line("topic delete a b", false, false) {
            Request::Confirm { question, line } => {
                assert_eq!(question, "Delete topic 'a', 'b' and all its records?");
                assert_eq!(line, "topic delete a b");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_line("topic delete a", false, true),
            Request::Run(_)
        ));
        assert!(matches!(
            parse_line("auth-token delete -n t1", false, false),
            Request::Confirm { .. }
        ));
        assert!(matches!(
            parse_line("topic create a", false, false),
            Request::Run(_)
        ));
        assert!(matches!(
            parse_line("profile delete old", false, false),
            Request::Confirm { .. }
        ));
        for line in ["profile", "profile list", "profile current"] {
            assert!(
                matches!(parse_line(line, true, false), Request::Run(_)),
                "{line}"
            );
        }
        for line in [
            "topic create a",
            "topic delete a",
            "spu unregister --id 5",
            "profile switch far",
        ] {
            match parse_line(line, true, true) {
                Request::Say { text, error } => {
                    assert!(error);
                    assert!(text.starts_with("read-only"), "{text}");
                }
                other => panic!("{line}: {other:?}"),
            }
        }
    }
}
