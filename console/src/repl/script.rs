//! Scripts: `fluvio repl -f FILE`, or lines piped to `fluvio repl`. No prompt, no
//! history; `#` comments and blank lines are skipped; a statement with an open quote or a
//! trailing backslash continues on the next line. The first failing statement stops the
//! script (exit 1, its line number in the message) unless `--continue-on-error`, which
//! runs everything and exits 1 at the end if anything failed.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

use super::error::ReplError;
use super::line;
use super::session::{Flow, Origin, Session, Status};
use crate::frontend::{EXIT_FAILED, EXIT_OK};

/// Lines as they are read, from a thread, so a slow pipe never blocks the runtime.
pub type Lines = mpsc::Receiver<std::io::Result<String>>;

/// Read `input` line by line on a thread of its own.
pub fn read_lines(input: impl BufRead + Send + 'static) -> Lines {
    let (tx, rx) = mpsc::channel(64);
    std::thread::spawn(move || {
        for line in input.lines() {
            let failed = line.is_err();
            if tx.blocking_send(line).is_err() || failed {
                return;
            }
        }
    });
    rx
}

/// The lines of a script file.
pub fn open(path: &Path) -> Result<Lines, ReplError> {
    let file = std::fs::File::open(path).map_err(|source| ReplError::Script {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(read_lines(std::io::BufReader::new(file)))
}

/// Run every statement of `lines`; the exit code.
pub async fn run(
    session: &mut Session,
    mut lines: Lines,
    source: &Path,
    continue_on_error: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let mut number = 0;
    let mut failed = false;
    let read_failed = |error: std::io::Error, err: &mut dyn Write| {
        let error = ReplError::Script {
            path: PathBuf::from(source),
            source: error,
        };
        let _ = writeln!(err, "error: {error}");
        EXIT_FAILED
    };
    while let Some(first) = lines.recv().await {
        number += 1;
        let start = number;
        let mut statement = match first {
            Ok(text) => text,
            Err(error) => return read_failed(error, err),
        };
        while !line::is_complete(&statement) {
            match lines.recv().await {
                Some(Ok(next)) => {
                    number += 1;
                    statement.push('\n');
                    statement.push_str(&next);
                }
                Some(Err(error)) => return read_failed(error, err),
                // Left open at the end: running it reports the open quote.
                None => break,
            }
        }
        let flow = session
            .run_line(
                &statement,
                Origin::Line(start),
                out,
                err,
                std::future::pending::<()>(),
            )
            .await;
        match flow {
            Flow::Exit => break,
            Flow::Continue(Status::Ok) => {}
            Flow::Continue(Status::Failed | Status::Usage) => {
                failed = true;
                if !continue_on_error {
                    return EXIT_FAILED;
                }
            }
        }
    }
    if failed { EXIT_FAILED } else { EXIT_OK }
}
