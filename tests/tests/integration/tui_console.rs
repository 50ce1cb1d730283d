//! The `fluvio tui` console against a real daemon: the real app (`Session`, the same loop
//! `fluvio tui` runs) drawn on a `TestBackend`, fed by the real metadata watches, tail
//! consumer and command executor; and the binary itself in tmux.
//!
//! Screens are compared as text with volatile parts masked (ports, times).

use std::time::Duration;

use console::client::{Fluvio, ProducerConfig};
use console::tui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use console::tui::ratatui::Terminal;
use console::tui::ratatui::backend::TestBackend;
use console::tui::{Session, TuiOptions};
use protocol::record::Record;
use protocol::sc::{AuthTokenCreate, AuthTokenSpec, TokenType, TopicSpec};
use tests::{Daemon, Role, runtime, temp_dir, topic_spec};

/// How long anything may take to show up.
const WAIT: Duration = Duration::from_secs(15);

/// The console on a test screen.
struct Console {
    session: Session,
    terminal: Terminal<TestBackend>,
}

impl Console {
    fn start(fluvio: &Fluvio, options: TuiOptions, width: u16, height: u16) -> Self {
        let session = Session::start(fluvio.clone(), options);
        let terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
        Self { session, terminal }
    }

    fn key(&mut self, code: KeyCode) {
        self.session
            .press(&mut self.terminal, KeyEvent::new(code, KeyModifiers::NONE))
            .expect("draw");
    }

    fn type_text(&mut self, text: &str) {
        for c in text.chars() {
            self.key(KeyCode::Char(c));
        }
    }

    /// `:line` Enter.
    fn command(&mut self, line: &str) {
        self.key(KeyCode::Char(':'));
        self.type_text(line);
        self.key(KeyCode::Enter);
    }

    /// Run the app until the screen satisfies `ready`; the screen, masked.
    async fn wait(&mut self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        match self
            .session
            .wait_until(&mut self.terminal, WAIT, ready)
            .await
        {
            Ok(screen) => mask(&screen),
            Err(screen) => panic!("the screen never showed {what}:\n{screen}"),
        }
    }
}

/// Mask what changes from run to run: ports after `127.0.0.1:` and `YYYY-MM-DD
/// HH:MM:SS.mmm` times.
fn mask(screen: &str) -> String {
    let mut out = String::new();
    for line in screen.lines() {
        let mut line = line.to_string();
        let mut from = 0;
        while let Some(at) = line[from..].find("127.0.0.1:") {
            let start = from + at + "127.0.0.1:".len();
            let digits = line[start..]
                .chars()
                .take_while(char::is_ascii_digit)
                .count();
            line.replace_range(start..start + digits, "PORT");
            from = start;
        }
        let chars: Vec<char> = line.chars().collect();
        let shape = "dddd-dd-dd dd:dd:dd.ddd";
        let mut masked = String::new();
        let mut i = 0;
        while i < chars.len() {
            let fits = chars.len() - i >= shape.len()
                && shape.chars().zip(&chars[i..]).all(|(s, c)| match s {
                    'd' => c.is_ascii_digit(),
                    s => s == *c,
                });
            if fits {
                masked.push_str("<TIME>                 ");
                i += shape.len();
            } else {
                masked.push(chars[i]);
                i += 1;
            }
        }
        out.push_str(&masked);
        out.push('\n');
    }
    out
}

/// Compare a masked screen with the expected one (written from its second line on).
#[track_caller]
fn assert_screen(actual: &str, expected: &str) {
    let expected = expected.strip_prefix('\n').unwrap_or(expected);
    assert!(
        actual == expected,
        "screen differs\n--- actual:\n{actual}--- expected:\n{expected}---"
    );
}

#[test]
fn the_views_follow_the_cluster_live() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    runtime().block_on(async {
        let fluvio = daemon.connect().await;
        let mut console = Console::start(&fluvio, TuiOptions::default(), 100, 10);
        console
            .wait("the empty topics view", |s| s.contains("No topics"))
            .await;
        fluvio
            .admin()
            .create::<TopicSpec>("orders", topic_spec(2), false)
            .await
            .expect("create");
        fluvio
            .admin()
            .create::<TopicSpec>("audit", topic_spec(1), false)
            .await
            .expect("create");
        let topics = console
            .wait("both topics provisioned", |s| {
                s.matches("provisioned").count() == 2
            })
            .await;
        assert_screen(
            &topics,
            "
 1 SPUs │ 2 Tops │ 3 Part │ 4 Toks │ 5 Meta │ 6 Tail │ 7 Cons │ 8 Metr │ 9 Grp │ SC 127.0.0.1:PORT
NAME    PARTITIONS  REPLICAS  STATUS       REASON
audit   1           1         provisioned  -
orders  2           1         provisioned  -





Enter tail  d delete  q quit  ? help  : command
",
        );
        console.key(KeyCode::Char('1'));
        let spus = console
            .wait("the SPU online", |s| s.contains("online"))
            .await;
        assert_screen(
            &spus,
            "
 1 SPUs │ 2 Tops │ 3 Part │ 4 Toks │ 5 Meta │ 6 Tail │ 7 Cons │ 8 Metr │ 9 Grp │ SC 127.0.0.1:PORT
ID    NAME  TYPE     STATUS  PUBLIC           PRIVATE          RACK
5001  5001  managed  online  127.0.0.1:PORT  127.0.0.1:PORT  -






q quit  ? help  : command
",
        );
        console.key(KeyCode::Char('3'));
        // The epochs come from a watch of their own, so wait for them too.
        let partitions = console
            .wait("three partitions with their epochs", |s| {
                s.contains("audit   0") && s.contains("orders  1") && !s.contains("5001    -")
            })
            .await;
        let mut lines = partitions.lines().skip(1);
        let header = lines.next().unwrap_or_default();
        assert_eq!(
            header,
            "TOPIC   PARTITION  LEADER  EPOCH  REPLICAS  IN-SYNC-SET  RESOLUTION  HW  LEO  SIZE  RATE  TREND"
        );
        let rows: Vec<Vec<&str>> = lines
            .take(3)
            .map(|l| l.split_whitespace().collect())
            .collect();
        for row in &rows {
            // LEADER, EPOCH, REPLICAS, IN-SYNC-SET of a new one-replica partition.
            assert_eq!(row[2..6], ["5001", "0", "[5001]", "[5001]"], "{partitions}");
        }
        fluvio
            .admin()
            .create::<AuthTokenSpec>(
                "edge-spus",
                AuthTokenCreate {
                    spec: AuthTokenSpec {
                        token_type: TokenType::Custom,
                        min_spu: 7000,
                        max_spu: 7999,
                    },
                    secret: "abcdefgh12345678".into(),
                },
                false,
            )
            .await
            .expect("create token");
        console.key(KeyCode::Char('4'));
        let tokens = console.wait("the token", |s| s.contains("edge-spus")).await;
        assert_screen(
            &tokens,
            "
 1 SPUs │ 2 Tops │ 3 Part │ 4 Toks │ 5 Meta │ 6 Tail │ 7 Cons │ 8 Metr │ 9 Grp │ SC 127.0.0.1:PORT
TOKEN-NAME  STATUS  SPU-MIN  SPU-MAX  TYPE    REASON
edge-spus   ok      7000     7999     custom  -






d delete  q quit  ? help  : command
",
        );
        assert!(!tokens.contains("abcdefgh12345678"), "never the secret");
        console.key(KeyCode::Char('5'));
        console
            .wait("the dump", |s| s.contains("auth tokens:"))
            .await;
        console.key(KeyCode::End);
        let dump = console.wait("its end", |s| s.contains("partitions:")).await;
        assert!(
            dump.contains(
                "partitions:
PARTITION  LEADER  EPOCH  REPLICAS  IN-SYNC-SET  RESOLUTION  HW  LEO  FOLLOWER-OFFSETS
audit-0    5001    0      [5001]    [5001]"
            ),
            "{dump}"
        );
        // A deleted topic leaves every view.
        fluvio
            .admin()
            .delete::<TopicSpec>("audit".into(), "audit")
            .await
            .expect("delete");
        console.key(KeyCode::Char('2'));
        console
            .wait("audit gone", |s| {
                !s.contains("audit") && s.contains("orders")
            })
            .await;
    });
}

#[test]
fn produced_records_stream_into_the_tail_which_pauses_and_filters() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    runtime().block_on(async {
        let fluvio = daemon.connect().await;
        fluvio
            .admin()
            .create::<TopicSpec>("events", topic_spec(2), false)
            .await
            .expect("create");
        let mut console = Console::start(&fluvio, TuiOptions::default(), 110, 10);
        console.wait("the topic", |s| s.contains("events")).await;
        console.command("tail events -B");
        console.wait("the tail streaming", |s| s.contains("LIVE")).await;
        let producer = fluvio
            .topic_producer("events", ProducerConfig::default())
            .await
            .expect("producer");
        let send = |partition: u32, key: &'static str, value: &'static str| {
            let producer = producer.clone();
            async move {
                let record = Record::with_key(key, value).header("trace", "t-1");
                producer
                    .send_record(partition, record)
                    .await
                    .expect("send")
                    .wait()
                    .await
                    .expect("ack")
            }
        };
        send(0, "user-1", r#"{"n":1}"#).await;
        console.wait("the first record", |s| s.contains("[user-1]")).await;

        console.key(KeyCode::Char(' '));
        send(1, "user-2", "second").await;
        let paused = console.wait("a record held back", |s| s.contains("+1 new")).await;
        assert_screen(
            &paused,
            r#"
 1 SPUs │ 2 Topics │ 3 Partitions │ 4 Auth tokens │ 5 Metadata │ 6 Tail │ 7 Consumers │ 8 Metrics │ 9 Groups │
events all partitions from the beginning · PAUSED (+1 new; End follows) · 2 records
PART   OFFSET  TIME (UTC)              [KEY] VALUE  {HEADERS}
   0        0  <TIME>                  [user-1] {"n":1}  {trace=t-1}





Space pause  / filter  c context  w wrap  t time  Enter open  n new  End follow  q quit  ? help  : command
"#,
        );
        console.key(KeyCode::End);
        console.wait("the held record", |s| s.contains("[user-2]")).await;

        console.key(KeyCode::Char('/'));
        console.type_text("k:user-1");
        console.key(KeyCode::Enter);
        let filtered = console.wait("the filter", |s| s.contains("1 match")).await;
        assert_screen(
            &filtered,
            r#"
 1 SPUs │ 2 Topics │ 3 Partitions │ 4 Auth tokens │ 5 Metadata │ 6 Tail │ 7 Consumers │ 8 Metrics │ 9 Groups │
events all partitions from the beginning · LIVE · 2 records · filter k:user-1 in key: 1 match
PART   OFFSET  TIME (UTC)              [KEY] VALUE  {HEADERS}
   0        0  <TIME>                  [user-1] {"n":1}  {trace=t-1}





Space pause  / filter  c context  w wrap  t time  Enter open  n new  End follow  q quit  ? help  : command
"#,
        );
        // With context, the other record is back (dimmed).
        console.key(KeyCode::Char('c'));
        console.wait("the context", |s| s.contains("[user-2]")).await;
        console.key(KeyCode::Char('c'));

        // The partitions view follows the offsets, and a produce rate appears (smoothed
        // from LEO deltas between ticks).
        console.key(KeyCode::Char('3'));
        let partitions = console
            .wait("offsets and a rate", |s| {
                s.lines().any(|l| {
                    l.starts_with("events  0") && l.contains("online") && l.contains("/s")
                })
            })
            .await;
        let row: Vec<&str> = partitions
            .lines()
            .find(|l| l.starts_with("events  0"))
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        // TOPIC PARTITION LEADER EPOCH REPLICAS IN-SYNC-SET RESOLUTION HW LEO
        assert_eq!(
            row[..9],
            ["events", "0", "5001", "0", "[5001]", "[5001]", "online", "1", "1"]
        );
        console.key(KeyCode::Char('6'));
        console.terminal.backend_mut().resize(80, 20);
        console.key(KeyCode::Enter);
        let record = console.wait("the record", |s| s.contains("Record 0@0")).await;
        assert_screen(
            &record,
            r#"
 1 SPUs │ 2 Tops │ 3 Part │ 4 Toks │ 5 Meta │ 6 Tail │ 7 Cons │ 8 Metr │ 9 Grp │
events all partitions from the beginning · LIVE · 2 records · filter k:user-1 in
PART┌ Record 0@0 (h: hex, Esc: close) ─────────────────────────────────────┐
   0│partition  0                                                          │
    │offset     0                                                          │
    │time (UTC) <TIME>                                                     │
    │key        user-1                                                     │
    │headers                                                               │
    │  trace = t-1                                                         │
    │value      7 bytes, shown as JSON                                     │
    │{                                                                     │
    │  "n": 1                                                              │
    │}                                                                     │
    │                                                                      │
    │                                                                      │
    └──────────────────────────────────────────────────────────────────────┘



Esc close  h hex
"#,
        );
    });
}

#[test]
fn the_command_bar_runs_cli_commands() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    runtime().block_on(async {
        let fluvio = daemon.connect().await;
        let mut console = Console::start(&fluvio, TuiOptions::default(), 100, 12);
        console.wait("the topics view", |s| s.contains("No topics")).await;
        console.command("topic create made-here -p 2");
        console
            .wait("the new topic", |s| s.contains("made-here  2"))
            .await;
        console.command("topic list");
        let listed = console
            .wait("the listing", |s| s.contains(":topic list"))
            .await;
        assert!(listed.contains("│made-here  computed  2 "), "{listed}");
        console.key(KeyCode::Esc);
        console.key(KeyCode::Char('d'));
        let confirm = console.wait("the question", |s| s.contains("Confirm")).await;
        assert_screen(
            &confirm,
            "
 1 SPUs │ 2 Tops │ 3 Part │ 4 Toks │ 5 Meta │ 6 Tail │ 7 Cons │ 8 Metr │ 9 Grp │ SC 127.0.0.1:PORT
NAME       PARTITIONS  REPLICAS  STATUS       REASON
made-here  2           1         provisioned  -
                    ┌ Confirm ─────────────────────────────────────────────────┐
                    │Delete topic 'made-here' and all its records?             │
                    │                                                          │
                    │y yes   n/Esc no                                          │
                    └──────────────────────────────────────────────────────────┘



y yes  n no
",
        );
        console.key(KeyCode::Char('y'));
        console.wait("the topic gone", |s| s.contains("No topics")).await;
        console.command("topic create made-here -p 0");
        let usage = console.wait("a usage error", |s| s.contains("error")).await;
        assert!(
            usage.contains("│error: invalid value '0' for '--partitions <PARTITIONS>'"),
            "{usage}"
        );

        let mut read_only = Console::start(
            &fluvio,
            TuiOptions {
                read_only: true,
                ..TuiOptions::default()
            },
            100,
            12,
        );
        read_only.command("topic create nope");
        let refused = read_only
            .wait("the refusal", |s| s.contains("read-only mode"))
            .await;
        assert_eq!(
            refused.lines().nth(10),
            Some(
                "error: read-only mode: commands that change the cluster are disabled (restart without --read-only)"
            )
        );
        // And the delete key is not even offered.
        assert_eq!(refused.lines().nth(11), Some("Enter tail  q quit  ? help  : command"));
    });
}

/// The metrics view (8) reads the daemon's `/metrics`: records per second and produce
/// latency per topic, from two scrapes; without an endpoint it says where it looked.
#[test]
fn the_metrics_view_plots_what_the_daemon_counts() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let metrics = daemon
        .metrics
        .expect("the test daemon serves metrics")
        .to_string();
    runtime().block_on(async {
        let fluvio = daemon.connect().await;
        fluvio
            .admin()
            .create::<TopicSpec>("busy", topic_spec(1), false)
            .await
            .expect("create");
        let producer = fluvio
            .topic_producer("busy", ProducerConfig::default())
            .await
            .expect("producer");
        // A steady trickle while the console watches, so two scrapes see it move.
        let load = tokio::spawn(async move {
            loop {
                producer
                    .send_record(0, Record::new("x".repeat(100)))
                    .await
                    .expect("send")
                    .wait()
                    .await
                    .expect("ack");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        let mut console = Console::start(
            &fluvio,
            TuiOptions {
                metrics_addr: Some(metrics.clone()),
                ..TuiOptions::default()
            },
            100,
            30,
        );
        console.key(KeyCode::Char('8'));
        let screen = console
            .wait("the topic's figures", |s| {
                s.lines().any(|l| {
                    let cells: Vec<&str> = l.split_whitespace().collect();
                    // TOPIC RECORDS/S BYTES/S P50-MS P99-MS, all measured.
                    cells.len() == 5
                        && cells[0] == "busy"
                        && cells[1].parse::<f64>().is_ok_and(|r| r > 0.0)
                        && cells[3].parse::<f64>().is_ok()
                })
            })
            .await;
        load.abort();
        assert!(screen.contains("8 Metr"), "{screen}");
        assert!(
            screen.contains("TOPIC") && screen.contains("RECORDS/S") && screen.contains("P99-MS"),
            "{screen}"
        );
        assert!(screen.contains("records/s by topic"), "{screen}");
        assert!(screen.contains("produce latency p99 by topic"), "{screen}");
        // The system topic is nobody's traffic.
        assert!(!screen.contains("consumer-offset"), "{screen}");

        // Nothing listens here: the view says so and how to fix it.
        let mut blind = Console::start(
            &fluvio,
            TuiOptions {
                metrics_addr: Some("127.0.0.1:1".into()),
                ..TuiOptions::default()
            },
            100,
            12,
        );
        blind.key(KeyCode::Char('8'));
        let screen = blind
            .wait("why there is nothing", |s| s.contains("No metrics from"))
            .await;
        // (Ports are masked in screens.)
        assert!(
            screen.contains("No metrics from 127.0.0.1:PORT: cannot connect"),
            "{screen}"
        );
        assert!(screen.contains("--metrics-addr"), "{screen}");
    });
}

/// A `kafka-python` group member: subscribes `group` to `topic` as `client`, commits after
/// each batch it reads.
const KAFKA_MEMBER: &str = r#"
import sys
from kafka import KafkaConsumer
b, topic, group, client = sys.argv[1:5]
c = KafkaConsumer(bootstrap_servers=b, group_id=group, client_id=client,
                  enable_auto_commit=False, auto_offset_reset="earliest",
                  session_timeout_ms=6000, heartbeat_interval_ms=500)
c.subscribe([topic])
while True:
    if c.poll(timeout_ms=200):
        c.commit()
"#;

/// Create `topic` with two partitions and write three records to each.
const KAFKA_PRODUCE: &str = r#"
import sys
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
b, topic = sys.argv[1:3]
KafkaAdminClient(bootstrap_servers=b).create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
p = KafkaProducer(bootstrap_servers=b, acks="all")
for n in range(3):
    for part in range(2):
        p.send(topic, value=b"%d-%d" % (part, n), partition=part)
p.flush()
"#;

#[test]
fn the_groups_view_shows_a_kafka_python_group_its_members_and_lag() {
    let _cpu = tests::cpu_heavy();
    let dir = temp_dir();
    let kafka = tests::free_addr().to_string();
    let daemon = Daemon::start_with_args(
        Role::AllInOne { spus: 1 },
        dir.path(),
        &["--kafka-addr", &kafka],
    );
    tests::python::run_ok(KAFKA_PRODUCE, &[&kafka, "tg"]);
    let (mut member, _script) =
        tests::python::spawn(KAFKA_MEMBER, &[&kafka, "tg", "watched", "tui-member"]);
    runtime().block_on(async {
        let fluvio = daemon.connect().await;
        let mut console = Console::start(
            &fluvio,
            TuiOptions {
                kafka_addr: Some(kafka.clone()),
                ..TuiOptions::default()
            },
            100,
            20,
        );
        console.key(KeyCode::Char('9'));
        // The member joined, got both partitions and committed all it read: lag 0.
        let screen = console
            .wait("the group stable with its member and no lag", |s| {
                s.contains("watched  Stable  range     1")
                    && s.contains("tui-member")
                    && s.lines()
                        .filter(|l| l.trim_end().ends_with("0    tui-member"))
                        .count()
                        == 2
            })
            .await;
        let lines: Vec<&str> = screen.lines().map(str::trim_end).collect();
        assert!(lines[0].contains("9 Grp"), "{screen}");
        assert_eq!(lines[1], "GROUP    STATE   PROTOCOL  MEMBERS", "{screen}");
        assert_eq!(
            lines[4], "Group watched: Stable, consumer/range, coordinator SPU 5001, 1 member",
            "{screen}"
        );
        let member_row = lines
            .iter()
            .find(|l| l.contains("tui-member") && l.contains("tg-0,tg-1"))
            .unwrap_or_else(|| panic!("no member row with both partitions:\n{screen}"));
        assert!(member_row.contains("/127.0.0.1"), "{screen}");
        let offsets: Vec<Vec<&str>> = lines
            .iter()
            .skip_while(|l| **l != "Offsets:")
            .skip(2)
            .take_while(|l| !l.is_empty())
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            offsets,
            [
                ["tg", "0", "3", "3", "0", "tui-member"],
                ["tg", "1", "3", "3", "0", "tui-member"]
            ],
            "{screen}"
        );

        // The member goes away; two more records make a lag of two on each partition,
        // and the view follows on its own.
        let _ = member.kill();
        let _ = member.wait();
        tests::python::run_ok(
            r#"
import sys
from kafka import KafkaProducer
p = KafkaProducer(bootstrap_servers=sys.argv[1], acks="all")
for part in (0, 1):
    for n in range(2):
        p.send("tg", value=b"more", partition=part)
p.flush()
"#,
            &[&kafka],
        );
        let screen = console
            .wait("the lag of the records nobody read", |s| {
                s.lines()
                    .filter(|l| {
                        let cells: Vec<&str> = l.split_whitespace().collect();
                        cells.len() >= 5 && cells[0] == "tg" && cells[2..5] == ["3", "5", "2"]
                    })
                    .count()
                    == 2
            })
            .await;
        assert!(screen.contains("watched"), "{screen}");

        // Nothing serves Kafka here: the view says so and names the flag.
        let nowhere = tests::free_addr().to_string();
        let mut blind = Console::start(
            &fluvio,
            TuiOptions {
                kafka_addr: Some(nowhere),
                ..TuiOptions::default()
            },
            100,
            12,
        );
        blind.key(KeyCode::Char('9'));
        let screen = blind
            .wait("why there are no groups", |s| {
                s.contains("cannot reach a Kafka listener")
            })
            .await;
        assert!(screen.contains("--kafka-addr"), "{screen}");
    });
}
