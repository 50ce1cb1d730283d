//! The console items of the newcomer's tour (issue #22) in a real 80x24 terminal (tmux):
//! snapshots of the main views and of `fluvio --help`, statuses in colour (none under
//! NO_COLOR), messages that expire or go with Esc, Tab completion in the `:` bar,
//! `:version` naming where the address came from, a filter that stays with its tail, and
//! `+N new` counting new records only.
//!
//! Snapshots live in `snapshots/` next to this file, with the run's addresses replaced by
//! placeholders; `UPDATE_SNAPSHOTS=1` rewrites them from the screen.

use std::path::PathBuf;

use tests::cli::{fluvio, fluvio_binary, fluvio_stdin};
use tests::tmux::{Tmux, shell_quote};
use tests::{Daemon, Role, temp_dir};

fn snapshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/integration/snapshots")
}

/// The screen, trailing spaces dropped, compared with `name`'s snapshot.
#[track_caller]
fn assert_snapshot(name: &str, screen: &str, replace: &[(&str, &str)]) {
    let mut text: String = screen
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n");
    for (from, to) in replace {
        text = text.replace(from, to);
    }
    let text = text.trim_end().to_string() + "\n";
    let path = snapshot_dir().join(format!("{name}.txt"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(snapshot_dir()).unwrap();
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with UPDATE_SNAPSHOTS=1", path.display()));
    assert_eq!(text, expected, "snapshot {name} differs");
}

#[test]
fn tui_tour_in_an_80x24_terminal() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let sc = daemon.public.to_string();
    fluvio(&sc, &["topic", "create", "tour-topic", "-p", "2"]).ok();
    fluvio_stdin(&sc, &["produce", "tour-topic", "-p", "0"], b"hello\n").ok();
    let spu_addr = {
        let spus = fluvio(&sc, &["spu", "list", "-O", "json"]);
        let json: serde_json::Value = serde_json::from_str(&spus.stdout).unwrap();
        let endpoint = &json[0]["spec"]["public_endpoint"];
        format!(
            "{}:{}",
            endpoint["ingress"][0]["hostname"]
                .as_str()
                .unwrap_or("127.0.0.1"),
            endpoint["port"]
        )
    };
    let spu_private = {
        let (host, port) = spu_addr.rsplit_once(':').unwrap();
        format!("{host}:{}", port.parse::<u16>().unwrap() + 1)
    };
    let placeholders = [
        (sc.as_str(), "127.0.0.1:SCSCS"),
        (spu_addr.as_str(), "127.0.0.1:SPUSP"),
        (spu_private.as_str(), "127.0.0.1:SPUPR"),
    ];

    let command = format!(
        "env FLUVIO_SC={sc} FLV_PROFILE_PATH=/nonexistent {} tui; echo \"exit=$?\"; sleep 30",
        shell_quote(fluvio_binary()),
    );
    let tmux = Tmux::start("tui-tour", 80, 24, &command);
    let screen = tmux.wait_for("the topics view", |s| {
        s.contains("tour-topic") && s.contains("provisioned")
    });
    assert_snapshot("tui-topics-80x24", &screen, &placeholders);

    tmux.send_keys(&["1"]);
    let screen = tmux.wait_for("the SPUs view", |s| {
        s.contains("5001") && s.contains("online")
    });
    assert_snapshot("tui-spus-80x24", &screen, &placeholders);
    // The status is coloured (green: online).
    let colored = tmux.run(&["capture-pane", "-p", "-e", "-t", "tui-tour"]);
    assert!(colored.contains("\u{1b}[38;5;2monline"), "{colored}");

    tmux.send_keys(&["3"]);
    // Both partitions online, the record counted in the first one's offsets.
    let screen = tmux.wait_for("the partitions view", |s| {
        s.matches("online").count() == 2 && s.contains("online      1   1")
    });
    // The rate is `-` until two samples were taken, then `0.0/s`: either reads the same.
    let mut rates = placeholders.to_vec();
    rates.push(("0.0/s", "-"));
    assert_snapshot("tui-partitions-80x24", &screen, &rates);

    // The help fits the terminal and says that it scrolls.
    tmux.send_keys(&["?"]);
    let screen = tmux.wait_for("the help", |s| s.contains("Help:") && s.contains("scroll"));
    assert!(screen.contains("↑/↓ scroll"), "{screen}");
    assert_snapshot("tui-help-80x24", &screen, &placeholders);
    tmux.send_keys(&["Escape"]);
    tmux.wait_for("the help closed", |s| !s.contains("Help:"));

    // Tab completes in the `:` bar with the REPL's completer, names included.
    tmux.send_keys(&[":"]);
    tmux.type_text("topic desc");
    tmux.send_keys(&["Tab"]);
    let bar = |s: &str, text: &str| s.lines().any(|l| l.trim_end() == text);
    tmux.wait_for("the completed command", |s| bar(s, ":topic describe"));
    tmux.type_text("tour-t");
    tmux.send_keys(&["Tab"]);
    tmux.wait_for("the completed name", |s| {
        bar(s, ":topic describe tour-topic")
    });
    tmux.send_keys(&["Escape"]);

    // `:version` says where the address came from.
    tmux.send_keys(&[":"]);
    tmux.type_text("version");
    tmux.send_keys(&["Enter"]);
    let screen = tmux.wait_for("the version", |s| s.contains("from FLUVIO_SC"));
    assert!(
        screen.contains(&format!("{sc} (from FLUVIO_SC)")),
        "{screen}"
    );
    tmux.send_keys(&["Escape"]);
    tmux.wait_for("the version closed", |s| !s.contains("from FLUVIO_SC"));

    // A one-line result goes by itself after a while, and at once with Esc.
    tmux.send_keys(&[":"]);
    tmux.type_text("topic create expiring");
    tmux.send_keys(&["Enter"]);
    tmux.wait_for("the result", |s| s.contains("\"expiring\" created"));
    tmux.wait_for("the result gone", |s| !s.contains("\"expiring\" created"));
    tmux.send_keys(&[":"]);
    tmux.type_text("topic create dismissed");
    tmux.send_keys(&["Enter"]);
    tmux.wait_for("the result", |s| s.contains("\"dismissed\" created"));
    tmux.send_keys(&["Escape"]);
    tmux.wait_for("the result cleared", |s| {
        !s.contains("\"dismissed\" created")
    });

    // A filter belongs to its tail: the next one starts without it unless asked.
    tmux.send_keys(&[":"]);
    tmux.type_text("tail tour-topic -B");
    tmux.send_keys(&["Enter"]);
    tmux.wait_for("the record", |s| s.contains("[null] hello"));
    tmux.send_keys(&["/"]);
    tmux.type_text("v:zzz");
    tmux.send_keys(&["Enter"]);
    tmux.wait_for("the filter", |s| s.contains("filter v:zzz"));
    tmux.send_keys(&[":"]);
    tmux.type_text("consume tour-topic -B");
    tmux.send_keys(&["Enter"]);
    let screen = tmux.wait_for("the new tail", |s| s.contains("[null] hello"));
    assert!(!screen.contains("filter v:zzz"), "{screen}");
    tmux.send_keys(&["/"]);
    tmux.type_text("v:hello");
    tmux.send_keys(&["Enter"]);
    tmux.send_keys(&[":"]);
    tmux.type_text("tail tour-topic -B --keep-filter");
    tmux.send_keys(&["Enter"]);
    tmux.wait_for("the kept filter", |s| {
        s.contains("filter v:hello") && s.contains("[null] hello")
    });

    // Paused, `+N new` counts what arrives, not the records already there.
    tmux.send_keys(&["/"]);
    tmux.send_keys(&["C-u"]);
    tmux.send_keys(&[
        "BSpace", "BSpace", "BSpace", "BSpace", "BSpace", "BSpace", "BSpace",
    ]);
    tmux.send_keys(&["Enter"]);
    tmux.wait_for("no filter", |s| !s.contains("filter v:"));
    tmux.send_keys(&["Space"]);
    tmux.wait_for("paused", |s| s.contains("PAUSED (+0 new"));
    fluvio_stdin(&sc, &["produce", "tour-topic", "-p", "0"], b"one\ntwo\n").ok();
    tmux.wait_for("two new", |s| s.contains("PAUSED (+2 new"));

    tmux.send_keys(&["q"]);
    let after = tmux.wait_for("the exit code", |s| s.contains("exit="));
    assert!(after.contains("exit=0"), "{after}");

    // Under NO_COLOR, no colour at all.
    let command = format!(
        "env NO_COLOR=1 FLUVIO_SC={sc} FLV_PROFILE_PATH=/nonexistent {} tui; sleep 30",
        shell_quote(fluvio_binary()),
    );
    let plain = Tmux::start("tui-tour-plain", 80, 24, &command);
    plain.wait_for("the topics view", |s| s.contains("provisioned"));
    let escapes = plain.run(&["capture-pane", "-p", "-e", "-t", "tui-tour-plain"]);
    assert!(!escapes.contains("\u{1b}[38;5;"), "{escapes}");
}

/// `fluvio --help` wraps to an 80-column terminal, and a table fits it by leaving out
/// low-priority columns (said on stderr), while a pipe gets every column.
#[test]
fn cli_help_and_tables_fit_an_80_column_terminal() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let sc = daemon.public.to_string();
    fluvio(
        &sc,
        &[
            "topic",
            "create",
            "a-topic-with-a-long-name-for-the-table",
            "-p",
            "2",
        ],
    )
    .ok();

    let command = format!(
        "export FLUVIO_SC={sc} FLV_PROFILE_PATH=/nonexistent NO_COLOR=1; {0} --help; \
         echo ---; {0} partition list; echo exit=$?; sleep 30",
        shell_quote(fluvio_binary()),
    );
    let tmux = Tmux::start("help-80", 80, 60, &command);
    let screen = tmux.wait_for("the output", |s| s.contains("exit="));
    for line in screen.lines() {
        assert!(line.chars().count() <= 80, "wider than 80: {line:?}");
    }
    let (help, table) = screen.split_once("---").unwrap();
    assert_snapshot("cli-help-80", help, &[]);
    let header = table.lines().find(|l| l.starts_with("TOPIC")).unwrap();
    assert!(!header.contains("FOLLOWER-OFFSETS"), "{table}");
    assert!(header.contains("RESOLUTION"), "{table}");
    assert!(
        table.contains("note: left out to fit the terminal: FOLLOWER-OFFSETS"),
        "{table}"
    );

    // Piped: whole.
    let piped = fluvio(&sc, &["partition", "list"]);
    piped.ok();
    assert!(
        piped.stdout.contains("FOLLOWER-OFFSETS"),
        "{}",
        piped.stdout
    );
    assert!(piped.stderr.is_empty(), "{}", piped.stderr);
}
