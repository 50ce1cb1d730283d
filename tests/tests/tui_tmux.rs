//! Smoke test of the real `fluvio tui` binary in a real terminal (tmux): it shows a
//! topic, quits on `q` with exit code 0, and leaves the terminal as it found it (the
//! alternate screen is gone, so the console's frame is no longer on the screen).

use console::client::Fluvio;
use protocol::sc::TopicSpec;
use tests::cli::fluvio_binary;
use tests::tmux::{Tmux, shell_quote};
use tests::{Daemon, Role, runtime, temp_dir, topic_spec};

#[test]
fn the_binary_shows_topics_and_quits_cleanly_on_q() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let sc = daemon.public.to_string();
    runtime().block_on(async {
        let fluvio = Fluvio::connect(&sc).await.expect("connect");
        fluvio
            .admin()
            .create::<TopicSpec>("smoke-topic", topic_spec(1), false)
            .await
            .expect("create topic");
    });
    // After the console exits, its code is printed on the shell's screen; the sleep keeps
    // the pane open to read it.
    let script = format!(
        "{} tui --sc {sc}; echo \"exit=$?\"; sleep 30",
        shell_quote(fluvio_binary())
    );
    let tmux = Tmux::start("tui", 120, 40, &script);
    let screen = tmux.wait_for("the topic", |s| s.contains("smoke-topic"));
    assert!(screen.contains("2 Topics"), "{screen}");
    assert!(screen.contains("provisioned"), "{screen}");
    tmux.send_keys(&["q"]);
    let after = tmux.wait_for("the exit code", |s| s.contains("exit="));
    assert!(after.contains("exit=0"), "{after}");
    assert!(
        !after.contains("smoke-topic") && !after.contains("Auth tokens"),
        "the console's screen is gone:\n{after}"
    );
}
