//! The `fluvio` CLI binary for tests: built once per test process, run against a daemon,
//! and helpers to read what it prints.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;

use crate::workspace_binary;

/// The `fluvio` binary.
pub fn fluvio_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| workspace_binary("fluvio"))
}

/// What one run of the CLI did.
#[derive(Debug, Clone)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Panic with everything printed unless the exit code is `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code; stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn ok(&self) -> &Self {
        self.expect_code(0)
    }
}

/// Run `fluvio args...` with `FLUVIO_SC=sc`, no profile file, no colour, stdin closed.
pub fn fluvio(sc: &str, args: &[&str]) -> Run {
    fluvio_with(sc, args, &[])
}

/// Like [`fluvio`] with extra environment variables.
pub fn fluvio_with(sc: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    run_fluvio(sc, args, env, None)
}

/// Like [`fluvio`], writing `input` to its stdin.
pub fn fluvio_stdin(sc: &str, args: &[&str], input: &[u8]) -> Run {
    run_fluvio(sc, args, &[], Some(input))
}

/// Like [`fluvio_stdin`] with extra environment variables.
pub fn fluvio_stdin_with(sc: &str, args: &[&str], input: &[u8], env: &[(&str, &str)]) -> Run {
    run_fluvio(sc, args, env, Some(input))
}

fn run_fluvio(sc: &str, args: &[&str], env: &[(&str, &str)], input: Option<&[u8]>) -> Run {
    use std::io::Write;
    let mut cmd = Command::new(fluvio_binary());
    cmd.args(args)
        .env("FLUVIO_SC", sc)
        // Never read the developer's ~/.fluvio/config.
        .env("FLV_PROFILE_PATH", "/nonexistent/fluvio-test-config")
        .env_remove("NO_COLOR")
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in env {
        cmd.env(key, value);
    }
    let mut child = cmd.spawn().expect("run fluvio");
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        // A command that fails before reading its input (a refused produce) closes its
        // stdin: that is its answer, which the exit code and stderr below carry.
        if let Err(err) = stdin.write_all(input)
            && err.kind() != std::io::ErrorKind::BrokenPipe
        {
            panic!("write fluvio's stdin: {err}");
        }
    }
    let out = child.wait_with_output().expect("wait for fluvio");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `fluvio auth-token create` of a token named `name` with a generated secret, for SPU
/// ids 1 to 9; the run must succeed.
pub fn create_token(sc: &str, name: &str) -> Run {
    let run = fluvio(
        sc,
        &[
            "auth-token",
            "create",
            "-n",
            name,
            "-g",
            "-m",
            "1",
            "-x",
            "9",
        ],
    );
    run.ok();
    run
}

/// `fluvio args...` left running (a `consume` that follows), its stdout lines on a
/// channel as they come; kill the child when done.
pub fn fluvio_lines(sc: &str, args: &[&str]) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(fluvio_binary())
        .args(args)
        .env("FLUVIO_SC", sc)
        .env("FLV_PROFILE_PATH", "/nonexistent/fluvio-test-config")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run fluvio");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    (child, rx)
}

/// A plain-column table read back: header names and each row's cells, split at the
/// columns where the header's names start. Panics, showing the table, when a row does
/// not line up with the header: a cell that does not start under its header, a column
/// left empty, or text left of the first column.
#[track_caller]
pub fn parse_table(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines
        .next()
        .unwrap_or_else(|| panic!("no header in {text:?}"));
    let mut starts = Vec::new();
    let mut names = Vec::new();
    let mut in_word = false;
    for (i, c) in header.char_indices() {
        if c != ' ' && !in_word {
            starts.push(i);
        }
        in_word = c != ' ';
    }
    for (n, start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(header.len());
        names.push(header[*start..end].trim().to_string());
    }
    let mut rows = Vec::new();
    for line in lines {
        let mut cells = Vec::new();
        for (n, start) in starts.iter().enumerate() {
            assert!(
                line.len() > *start,
                "row ends before column {}:\n{text}",
                names[n]
            );
            let before = &line[..*start];
            assert!(
                before.is_empty() || before.ends_with(' '),
                "column {} does not start at a cell boundary in {line:?}:\n{text}",
                names[n]
            );
            let end = starts
                .get(n + 1)
                .copied()
                .unwrap_or(line.len())
                .min(line.len());
            let cell = line[*start..end].trim();
            assert!(
                !cell.is_empty() && !line[*start..].starts_with(' '),
                "column {} has no cell in {line:?}:\n{text}",
                names[n]
            );
            cells.push(cell.to_string());
        }
        rows.push(cells);
    }
    (names, rows)
}

/// The cells of a parsed table's column `name`.
#[track_caller]
pub fn column(header: &[String], rows: &[Vec<String>], name: &str) -> Vec<String> {
    let i = header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name} in {header:?}"));
    rows.iter().map(|r| r[i].clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_split_at_the_header_columns() {
        let text = "NAME  STATUS       REASON\n\
                    a     provisioned  -\n\
                    bb    pending      need 1 more SPU\n";
        let (header, rows) = parse_table(text);
        assert_eq!(header, ["NAME", "STATUS", "REASON"]);
        assert_eq!(rows[1], ["bb", "pending", "need 1 more SPU"]);
        assert_eq!(column(&header, &rows, "NAME"), ["a", "bb"]);
    }

    #[test]
    #[should_panic(expected = "has no cell")]
    fn a_row_with_a_missing_cell_is_caught() {
        parse_table("NAME  STATUS  REASON\na             x\n");
    }

    #[test]
    #[should_panic(expected = "cell boundary")]
    fn a_shifted_row_is_caught() {
        parse_table("NAME  STATUS  REASON\nabcdefgh  x  y\n");
    }
}
