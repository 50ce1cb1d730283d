//! `fluvio repl` in a real terminal (tmux) against a real daemon: the prompt, a command's
//! output, Tab completion, Up recalling history, Ctrl-C clearing the line, a live `consume`
//! showing a record produced by another process until Ctrl-C brings the prompt back,
//! Ctrl-D leaving with exit code 0, and a history file without the secret typed.

use tests::cli::{fluvio, fluvio_binary, fluvio_stdin};
use tests::tmux::{Tmux, last_line, shell_quote};
use tests::{Daemon, Role, temp_dir};

const SECRET: &str = "0123456789abcdef";

#[test]
fn an_interactive_session() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let sc = daemon.public.to_string();
    fluvio(&sc, &["topic", "create", "live-topic"]).ok();
    let history = dir.path().join("history");
    let command = format!(
        "env FLUVIO_HISTORY={} FLV_PROFILE_PATH=/nonexistent NO_COLOR=1 {} repl --sc {sc}; \
         echo \"exit=$?\"; sleep 30",
        shell_quote(&history),
        shell_quote(fluvio_binary()),
    );
    let tmux = Tmux::start("repl", 120, 40, &command);
    let prompt = format!("fluvio {sc}>");
    let at_prompt = |screen: &str| last_line(screen) == prompt;
    tmux.wait_for("the prompt", at_prompt);

    // A command and its output.
    tmux.type_text("topic list");
    tmux.send_keys(&["Enter"]);
    let screen = tmux.wait_for("the topic table", |s| {
        s.contains("live-topic") && at_prompt(s)
    });
    assert!(screen.contains("NAME"), "{screen}");

    // Tab completes the topic's name from the cluster.
    tmux.type_text("topic describe live-t");
    tmux.send_keys(&["Tab"]);
    tmux.wait_for("the completed name", |s| {
        last_line(s) == format!("{prompt} topic describe live-topic")
    });
    tmux.send_keys(&["Enter"]);
    tmux.wait_for("the description", |s| {
        s.contains("Partition map:") && at_prompt(s)
    });

    // A secret goes through, and Up recalls it in this session.
    tmux.type_text(&format!(
        "auth-token create -n repl-token -s {SECRET} -m 1 -x 9"
    ));
    tmux.send_keys(&["Enter"]);
    tmux.wait_for("the token", |s| s.contains("created") && at_prompt(s));
    tmux.send_keys(&["Up"]);
    tmux.wait_for("the recalled line", |s| {
        last_line(s).ends_with(&format!("-s {SECRET} -m 1 -x 9"))
    });
    // Ctrl-C drops the line; Up twice more reaches `topic list`, which runs again.
    tmux.send_keys(&["C-c"]);
    tmux.wait_for("an empty prompt", at_prompt);
    tmux.send_keys(&["Up", "Up", "Up"]);
    tmux.wait_for("topic list recalled", |s| {
        last_line(s) == format!("{prompt} topic list")
    });
    tmux.send_keys(&["Enter"]);
    tmux.wait_for("the table again", |s| {
        s.matches("NAME ").count() == 2 && at_prompt(s)
    });

    // consume follows the log: a record produced elsewhere shows up; Ctrl-C stops it.
    fluvio_stdin(&sc, &["produce", "live-topic"], b"before\n").ok();
    tmux.type_text("consume live-topic -B");
    tmux.send_keys(&["Enter"]);
    tmux.wait_for("the first record", |s| last_line(s) == "before");
    fluvio_stdin(&sc, &["produce", "live-topic"], b"produced-elsewhere\n").ok();
    tmux.wait_for("the live record", |s| last_line(s) == "produced-elsewhere");
    tmux.send_keys(&["C-c"]);
    tmux.wait_for("the prompt after Ctrl-C", at_prompt);

    // Errors print and the session goes on.
    tmux.type_text("topic describe nope");
    tmux.send_keys(&["Enter"]);
    tmux.wait_for("the error", |s| {
        s.contains("error: topic 'nope' does not exist") && at_prompt(s)
    });

    // Ctrl-D leaves with exit code 0.
    tmux.send_keys(&["C-d"]);
    let screen = tmux.wait_for("the exit code", |s| s.contains("exit="));
    assert!(screen.contains("exit=0"), "{screen}");

    let file = std::fs::read_to_string(&history).expect("the history file");
    let lines: Vec<&str> = file.lines().collect();
    assert_eq!(
        lines,
        [
            "#V2",
            "topic list",
            "topic describe live-topic",
            "topic list",
            "consume live-topic -B",
            "topic describe nope",
        ],
        "the secret's line is not in the file"
    );
    assert!(!file.contains(SECRET));
}
