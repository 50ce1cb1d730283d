//! The real `fluvio tui` binary in a real terminal (tmux): it shows a topic, quits on `q`
//! with exit code 0, and leaves the terminal as it found it (the alternate screen is gone,
//! so the console's frame is no longer on the screen); it outlives a restart of the SC.

use console::client::Fluvio;
use protocol::sc::{TokenType, TopicSpec};
use tests::cli::fluvio_binary;
use tests::cluster::Cluster;
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

fn create_topic(cluster: &Cluster, name: &str) {
    let status = cluster
        .admin()
        .create_topic(name, topic_spec(1))
        .expect("create topic");
    assert!(!status.error_code.is_error(), "{status:?}");
}

#[test]
fn the_console_says_disconnected_while_the_sc_is_down_and_catches_up_after() {
    // The SPU runs on its own, so only the SC goes down.
    let mut cluster = Cluster::start(&[None], &[], &[]);
    create_topic(&cluster, "before-restart");
    let sc = cluster.sc.public.to_string();
    // Wide enough for the status after the tabs to show whole.
    let script = format!("{} tui --sc {sc}", shell_quote(fluvio_binary()));
    let tmux = Tmux::start("tui-reconnect", 220, 30, &script);
    tmux.wait_for("the first topic", |s| s.contains("before-restart"));

    cluster.kill_sc();
    let down = tmux.wait_for("the lost SC", |s| s.contains("DISCONNECTED"));
    // What was known stays on screen meanwhile.
    assert!(down.contains("before-restart"), "{down}");

    cluster.restart_sc();
    create_topic(&cluster, "after-restart");
    let back = tmux.wait_for("the topic created after the restart", |s| {
        s.contains("after-restart") && !s.contains("DISCONNECTED")
    });
    assert!(back.contains("before-restart"), "{back}");
    // The auth tokens, which the console watches apart from the cache, follow too.
    let status = cluster
        .admin()
        .create_token(
            "after-restart-token",
            TokenType::Any,
            0,
            10,
            "abcdefgh12345678",
        )
        .expect("create token");
    assert!(!status.error_code.is_error(), "{status:?}");
    tmux.send_keys(&["4"]);
    tmux.wait_for("the token created after the restart", |s| {
        s.contains("after-restart-token")
    });
}
