//! The interactive front end: rustyline reads lines (with completion, hints and
//! multi-line input from [`ReplHelper`], which only calls the session's core), the session
//! runs them.
//!
//! * The editor blocks, so each `readline` runs on the blocking pool while the runtime
//!   keeps the cluster connections and the metadata watch (the completer's names) alive.
//! * A running command races Ctrl-C (`tokio::signal::ctrl_c`), so Ctrl-C stops a `consume`
//!   that follows the log and the prompt comes back. While the editor reads, the terminal
//!   is in raw mode and Ctrl-C is a key: it clears the line.
//! * History: every line is recalled with Up for the session; lines carrying a secret
//!   ([`line::carries_secret`]) are never written to the history file. The file is
//!   appended to after each line, so a crash loses nothing and parallel sessions merge.

use std::borrow::Cow;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustyline::completion::{Completer as RlCompleter, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::{Hint as RlHint, Hinter};
use rustyline::history::{FileHistory, History};
use rustyline::validate::Validator;
use rustyline::{CompletionType, Config, Editor, Helper};

use super::complete::{Completer, Hint};
use super::error::ReplError;
use super::line;
use super::names::LiveNames;
use super::session::{Flow, Origin, Session};
use crate::frontend::{EXIT_FAILED, EXIT_OK};

/// Lines kept in the history file and in memory.
const HISTORY_SIZE: usize = 1000;

/// rustyline's view of the session: completion, hints, multi-line validation.
pub struct ReplHelper {
    completer: Completer,
    names: Arc<LiveNames>,
    color: bool,
}

impl ReplHelper {
    pub fn new(names: Arc<LiveNames>, color: bool) -> Self {
        Self {
            completer: Completer::new(),
            names,
            color,
        }
    }
}

impl RlCompleter for ReplHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let completion = self.completer.complete(line, pos, self.names.as_ref());
        let pairs = completion
            .words
            .into_iter()
            .map(|word| Pair {
                replacement: format!("{} ", shell_words::quote(&word)),
                display: word,
            })
            .collect();
        Ok((completion.start, pairs))
    }
}

/// A hint rustyline can show and, unless it is a placeholder, insert.
pub struct ReplHint(Hint);

impl RlHint for ReplHint {
    fn display(&self) -> &str {
        &self.0.display
    }

    fn completion(&self) -> Option<&str> {
        self.0.insert.as_deref()
    }
}

impl Hinter for ReplHelper {
    type Hint = ReplHint;

    fn hint(&self, line: &str, pos: usize, _: &rustyline::Context<'_>) -> Option<ReplHint> {
        let mut hint = self.completer.hint(line, pos, self.names.as_ref())?;
        // Grey is what sets a hint apart from typed text; without colour, brackets do
        // (placeholders such as `<NAME>` carry their own).
        if !self.color && hint.insert.is_some() {
            hint.display = format!("[{}]", hint.display);
        }
        Some(ReplHint(hint))
    }
}

impl Highlighter for ReplHelper {
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        if self.color {
            Cow::Owned(format!("\x1b[2m{hint}\x1b[0m"))
        } else {
            Cow::Borrowed(hint)
        }
    }

    fn highlight_char(&self, _: &str, _: usize, _: CmdKind) -> bool {
        false
    }
}

// Every line is valid to rustyline: a statement left open (a quote, a trailing backslash)
// is continued by `read_statement` under a continuation prompt, which rustyline's own
// multi-line editing cannot show.
impl Validator for ReplHelper {}

impl Helper for ReplHelper {}

/// The history file: `FLUVIO_HISTORY`, else `~/.fluvio/history`.
pub fn history_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(super::HISTORY_ENV).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    std::env::home_dir().map(|home| home.join(".fluvio").join("history"))
}

/// The lines worth keeping in the file; secrets stay in memory only.
struct HistoryFile {
    path: PathBuf,
    lines: FileHistory,
    /// Say once that the file cannot be written, not after every line.
    warned: bool,
}

impl HistoryFile {
    fn open(path: PathBuf, config: &Config) -> Self {
        let mut lines = FileHistory::with_config(config);
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        // A missing file is a first session; an unreadable one gets reported on write.
        let _ = lines.load(&path);
        Self {
            path,
            lines,
            warned: false,
        }
    }

    fn append(&mut self, line: &str, err: &mut dyn Write) {
        if line::carries_secret(line) {
            return;
        }
        let written = self
            .lines
            .add(line)
            .and_then(|_| self.lines.append(&self.path));
        if let Err(error) = written
            && !self.warned
        {
            self.warned = true;
            let _ = writeln!(
                err,
                "warning: cannot write the history file {}: {error}",
                self.path.display()
            );
        }
    }
}

fn load_into(editor: &mut Editor<ReplHelper, FileHistory>, path: &Path) {
    // The editor's in-memory history recalls everything; it is never saved itself.
    let _ = editor.load_history(path);
}

/// Read and run lines until `exit`, `quit` or Ctrl-D.
pub async fn run(mut session: Session, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    match run_loop(&mut session, out, err).await {
        Ok(()) => EXIT_OK,
        Err(error) => {
            let _ = writeln!(err, "error: {error}");
            EXIT_FAILED
        }
    }
}

async fn run_loop(
    session: &mut Session,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), ReplError> {
    let config = Config::builder()
        .max_history_size(HISTORY_SIZE)?
        .history_ignore_dups(true)?
        .completion_type(CompletionType::List)
        .auto_add_history(false)
        .build();
    let names = LiveNames::new();
    let mut editor: Editor<ReplHelper, FileHistory> = Editor::with_config(config.clone())?;
    editor.set_helper(Some(ReplHelper::new(
        Arc::clone(&names),
        session.env().stdout_color,
    )));
    let mut file = history_path().map(|path| {
        load_into(&mut editor, &path);
        HistoryFile::open(path, &config)
    });
    for line in editor.history().iter() {
        session.remember(line);
    }
    names.refresh_in_background(session.context());
    loop {
        let connected = session.connected().await;
        let prompt = session.prompt(connected);
        let (returned, read) = read_statement(editor, prompt).await?;
        editor = returned;
        let text = match read {
            Ok(text) => text,
            // Ctrl-C while typing: the line is dropped, as in a shell.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => return Ok(()),
            Err(error) => return Err(error.into()),
        };
        // Completion leaves a space after the last word; history need not keep it.
        let entry = text.trim_end();
        if !entry.trim_start().is_empty() {
            let _ = editor.add_history_entry(entry);
            session.remember(entry);
            if let Some(file) = file.as_mut() {
                file.append(entry, err);
            }
        }
        let before = session.target().addr.clone();
        let flow = session
            .run_line(&text, Origin::Typed, out, err, ctrl_c())
            .await;
        if flow == Flow::Exit {
            return Ok(());
        }
        if session.target().addr != before {
            names.clear();
        }
        names.refresh_in_background(session.context());
    }
}

/// Read one statement: a line, and while it is left open (a quote, a trailing
/// backslash) the next ones under a continuation prompt, joined with newlines as a
/// script's are. Ctrl-C drops the whole statement; Ctrl-D on a continuation line runs
/// what was typed (which then reports the open quote).
async fn read_statement(
    mut editor: Editor<ReplHelper, FileHistory>,
    prompt: String,
) -> Result<
    (
        Editor<ReplHelper, FileHistory>,
        Result<String, ReadlineError>,
    ),
    ReplError,
> {
    let more = continuation_prompt(&prompt);
    let result = tokio::task::spawn_blocking(move || {
        let mut statement = match editor.readline(&prompt) {
            Ok(text) => text,
            Err(error) => return (editor, Err(error)),
        };
        while !line::is_complete(&statement) {
            match editor.readline(&more) {
                Ok(next) => {
                    statement.push('\n');
                    statement.push_str(&next);
                }
                Err(ReadlineError::Eof) => break,
                Err(error) => return (editor, Err(error)),
            }
        }
        (editor, Ok(statement))
    })
    .await?;
    Ok(result)
}

/// `...> ` right-aligned under the prompt, so continued text starts where the first line's
/// did.
pub fn continuation_prompt(prompt: &str) -> String {
    let width = prompt.chars().count();
    format!("{:>width$}", "...> ")
}

/// Resolves on Ctrl-C; never, if the signal cannot be listened for (then Ctrl-C ends the
/// process as it would anyway).
async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustyline::history::MemHistory;

    fn helper() -> ReplHelper {
        ReplHelper::new(LiveNames::new(), false)
    }

    #[test]
    fn the_editor_gets_the_cores_candidates_with_a_space_after_each() {
        let history = MemHistory::new();
        let ctx = rustyline::Context::new(&history);
        let (start, pairs) = helper().complete("topic desc", 10, &ctx).unwrap();
        assert_eq!(start, 6);
        let pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|p| (p.display.as_str(), p.replacement.as_str()))
            .collect();
        assert_eq!(pairs, [("describe", "describe ")]);
    }

    #[test]
    fn hints_insert_completions_but_not_placeholders() {
        let history = MemHistory::new();
        let ctx = rustyline::Context::new(&history);
        let colored = ReplHelper::new(LiveNames::new(), true);
        let hint = colored.hint("topic cr", 8, &ctx).unwrap();
        assert_eq!((hint.display(), hint.completion()), ("eate", Some("eate")));
        let hint = helper().hint("topic create ", 13, &ctx).unwrap();
        assert_eq!((hint.display(), hint.completion()), ("<NAME>", None));
        assert_eq!(colored.highlight_hint("eate"), "\x1b[2meate\x1b[0m");
        assert_eq!(helper().highlight_hint("eate"), "eate");
    }

    #[test]
    fn without_colour_a_hint_is_bracketed_and_continuations_line_up() {
        let history = MemHistory::new();
        let ctx = rustyline::Context::new(&history);
        let hint = helper().hint("topic cr", 8, &ctx).unwrap();
        assert_eq!(
            (hint.display(), hint.completion()),
            ("[eate]", Some("eate"))
        );
        let colored = ReplHelper::new(LiveNames::new(), true);
        let hint = colored.hint("topic cr", 8, &ctx).unwrap();
        assert_eq!(hint.display(), "eate");
        assert_eq!(
            continuation_prompt("fluvio 127.0.0.1:9003> "),
            "                  ...> "
        );
    }
}
