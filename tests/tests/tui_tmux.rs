//! Smoke test of the real `fluvio tui` binary in a real terminal (tmux): it shows a
//! topic, quits on `q` with exit code 0, and leaves the terminal as it found it (the
//! alternate screen is gone, so the console's frame is no longer on the screen).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use console::client::Fluvio;
use protocol::sc::{ReplicaSpec, TopicSpec};
use tests::cli::fluvio_binary;
use tests::{Daemon, Role, temp_dir};

/// A tmux server of our own (its own socket), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new() -> Self {
        Self {
            socket: format!("fluvio-tui-test-{}", std::process::id()),
        }
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "tui"])
    }

    fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            assert!(Instant::now() < deadline, "no {what} on screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

fn create_topic(sc: &str, name: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let fluvio = Fluvio::connect(sc).await.expect("connect");
        let spec = TopicSpec {
            replicas: ReplicaSpec::Computed {
                partitions: 1,
                replication_factor: 1,
                ignore_rack_assignment: false,
            },
            ..TopicSpec::default()
        };
        fluvio
            .admin()
            .create::<TopicSpec>(name, spec, false)
            .await
            .expect("create topic");
    });
}

fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

#[test]
fn the_binary_shows_topics_and_quits_cleanly_on_q() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let sc = daemon.public.to_string();
    create_topic(&sc, "smoke-topic");
    let binary = fluvio_binary();
    let tmux = Tmux::new();
    // After the console exits, its code is printed on the shell's screen; the sleep keeps
    // the pane open to read it.
    let script = format!(
        "{} tui --sc {sc}; echo \"exit=$?\"; sleep 30",
        shell_quote(binary)
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "tui",
        "-x",
        "120",
        "-y",
        "40",
        &script,
    ]);
    let screen = tmux.wait_for("the topic", |s| s.contains("smoke-topic"));
    assert!(screen.contains("2 Topics"), "{screen}");
    assert!(screen.contains("provisioned"), "{screen}");
    tmux.run(&["send-keys", "-t", "tui", "q"]);
    let after = tmux.wait_for("the exit code", |s| s.contains("exit="));
    assert!(after.contains("exit=0"), "{after}");
    assert!(
        !after.contains("smoke-topic") && !after.contains("Auth tokens"),
        "the console's screen is gone:\n{after}"
    );
}
