//! The REPL items of the newcomer's tour (issue #22) in a real terminal (tmux): the prompt
//! says when the SC does not answer, a statement left open continues under a continuation
//! prompt, suggested commands come without `fluvio `, hints stand out without colour.

use tests::cli::fluvio_binary;
use tests::tmux::{Tmux, last_line, shell_quote};
use tests::{Daemon, Role, free_addr, temp_dir};

#[test]
fn repl_prompt_continuation_errors_and_hints() {
    let dir = temp_dir();
    // An address nothing listens on yet: the daemon starts there later.
    let (public, private) = (free_addr(), free_addr());
    let sc = public.to_string();
    let command = format!(
        "env FLUVIO_HISTORY={} FLV_PROFILE_PATH=/nonexistent NO_COLOR=1 {} repl --sc {sc}; \
         echo \"exit=$?\"; sleep 30",
        shell_quote(&dir.path().join("history")),
        shell_quote(fluvio_binary()),
    );
    let tmux = Tmux::start("repl-tour", 120, 40, &command);
    let offline = format!("fluvio {sc} (not connected)>");
    tmux.wait_for("the offline prompt", |s| last_line(s) == offline);

    let daemon = Daemon::spawn_on(Role::AllInOne { spus: 1 }, dir.path(), public, private);
    daemon.wait_ready();
    // The next prompt checks again.
    tmux.send_keys(&["Enter"]);
    let prompt = format!("fluvio {sc}>");
    let at_prompt = |screen: &str| last_line(screen) == prompt;
    tmux.wait_for("the connected prompt", at_prompt);

    // An open quote continues under `...>`, aligned with the prompt's end.
    tmux.type_text("topic create \"tour");
    tmux.send_keys(&["Enter"]);
    let continued = format!("{:>width$}", "...>", width = prompt.len());
    tmux.wait_for("the continuation prompt", |s| last_line(s) == continued);
    tmux.type_text("\" -p 1");
    tmux.send_keys(&["Enter"]);
    // The statement is `topic create "tour\n"`: a name with a newline, which is refused.
    tmux.wait_for("the statement's error", |s| {
        s.contains("error:") && at_prompt(s)
    });

    // A suggested command reads as typed in the session.
    tmux.type_text("topic describe nope");
    tmux.send_keys(&["Enter"]);
    let screen = tmux.wait_for("the error", |s| {
        s.contains("does not exist") && at_prompt(s)
    });
    assert!(
        screen.contains("create it with `topic create nope`"),
        "{screen}"
    );
    assert!(!screen.contains("`fluvio topic"), "{screen}");

    // Without colour a hint is bracketed, so it is not mistaken for typed text.
    tmux.type_text("topic cr");
    tmux.wait_for("the bracketed hint", |s| {
        last_line(s) == format!("{prompt} topic cr[eate]")
    });
    tmux.send_keys(&["C-c"]);
    tmux.wait_for("an empty prompt", at_prompt);
    tmux.send_keys(&["C-d"]);
    let screen = tmux.wait_for("the exit code", |s| s.contains("exit="));
    assert!(screen.contains("exit=0"), "{screen}");
}
