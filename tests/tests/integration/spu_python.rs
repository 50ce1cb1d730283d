//! The official Python client (`fluvio==0.21.0`) produces to and consumes from our SPU:
//! keys and no keys, one and several partitions, every kind of start offset, live
//! records, a deleted topic, and many records streamed before and after a restart.

use std::time::Duration;

use tests::client::ScClient;
use tests::{Daemon, Role, python, temp_dir};

/// Lines of `out` starting with `prefix `, without the prefix.
fn line<'a>(out: &'a str, prefix: &str) -> &'a str {
    let start = format!("{prefix} ");
    out.lines()
        .find_map(|l| l.strip_prefix(&start))
        .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{out}"))
}

const OFFSETS: &str = r#"
import sys, itertools
from fluvio import Fluvio, FluvioAdmin, FluvioConfig, Offset
from fluvio._fluvio_python import TopicSpec

cfg = FluvioConfig.new(sys.argv[1])
admin = FluvioAdmin.connect_with_config(cfg)
admin.create_topic("one")
admin.create_topic("multi", TopicSpec.new_computed(3, 1, True))
f = Fluvio.connect_with_config(cfg)

p = f.topic_producer("one")
outs = [p.send(b"k%d" % i, b"v%d" % i) for i in range(5)]
outs += [p.send_string("plain-%d" % i) for i in range(5)]
p.flush()
print("offsets", [o.wait().offset() for o in outs])

def take(stream, n):
    return [(r.offset(), bytes(r.key()).decode(), r.value_string()) for r in itertools.islice(stream, n)]

c = f.partition_consumer("one", 0)
print("beginning", take(c.stream(Offset.beginning()), 10))
print("absolute", take(c.stream(Offset.absolute(7)), 3))
print("from_end", take(c.stream(Offset.from_end(2)), 2))
print("from_beginning", take(c.stream(Offset.from_beginning(8)), 2))
at_end = c.stream(Offset.end())
p.send(b"after", b"the-end").wait()
print("end", take(at_end, 1))

m = f.topic_producer("multi")
sent = [(m.send(b"key-%d" % i, b"keyed-%d" % i), "keyed-%d" % i) for i in range(30)]
sent += [(m.send_string("nokey-%d" % i), "nokey-%d" % i) for i in range(6)]
m.flush()
placed = {}
for out, value in sent:
    md = out.wait()
    placed.setdefault(md.partition_id(), []).append((md.offset(), value))
for part in range(3):
    expected = sorted(placed.get(part, []))
    stream = f.partition_consumer("multi", part).stream(Offset.beginning())
    got = [(r.offset(), r.value_string()) for r in itertools.islice(stream, len(expected))]
    print("partition", part, len(expected), got == expected, [o for o, _ in got] == list(range(len(expected))))
# The same key always lands on the same partition.
again = m.send(b"key-3", b"keyed-3-again").wait()
first = [pid for pid, rows in placed.items() if (dict((v, o) for o, v in rows).get("keyed-3") is not None)]
print("same-key", first == [again.partition_id()])
"#;

#[test]
fn python_produces_and_consumes_from_every_kind_of_offset() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let out = python::run_ok(OFFSETS, &[&daemon.public.to_string()]);
    assert_eq!(line(&out, "offsets"), "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]");
    let keyed = (0..5).map(|i| format!("({i}, 'k{i}', 'v{i}')"));
    let plain = (5..10).map(|i| format!("({i}, '', 'plain-{}')", i - 5));
    let all: Vec<String> = keyed.chain(plain).collect();
    assert_eq!(line(&out, "beginning"), format!("[{}]", all.join(", ")));
    assert_eq!(
        line(&out, "absolute"),
        format!("[{}]", all[7..10].join(", "))
    );
    assert_eq!(
        line(&out, "from_end"),
        format!("[{}]", all[8..10].join(", "))
    );
    assert_eq!(
        line(&out, "from_beginning"),
        format!("[{}]", all[8..10].join(", "))
    );
    assert_eq!(line(&out, "end"), "[(10, 'after', 'the-end')]");
    let mut total = 0;
    for part in 0..3 {
        let row = line(&out, &format!("partition {part}"));
        let fields: Vec<&str> = row.split(' ').collect();
        let count: usize = fields[0].parse().unwrap();
        assert!(count > 0, "partition {part} got nothing: {out}");
        assert_eq!(&fields[1..], ["True", "True"], "partition {part}: {out}");
        total += count;
    }
    assert_eq!(total, 36);
    assert_eq!(line(&out, "same-key"), "True");

    // The SPU reported its offsets: the SC's partition status shows them.
    let mut sc = ScClient::connect(daemon.public).unwrap();
    let status = sc.wait_for_partition_leo("one-0", 11);
    assert_eq!(status.leader.hw, 11);
}

const LIVE: &str = r#"
import sys, subprocess
from fluvio import Fluvio, FluvioAdmin, FluvioConfig, Offset

PRODUCER = '''
import sys
from fluvio import Fluvio, FluvioConfig
f = Fluvio.connect_with_config(FluvioConfig.new(sys.argv[1]))
p = f.topic_producer("live")
p.send(b"who", b"from-another-process").wait()
'''

cfg = FluvioConfig.new(sys.argv[1])
admin = FluvioAdmin.connect_with_config(cfg)
admin.create_topic("live")
f = Fluvio.connect_with_config(cfg)
# Keep the producer: dropping it before wait() loses the record.
p = f.topic_producer("live")
p.send(b"", b"before").wait()
stream = f.partition_consumer("live", 0).stream(Offset.end())
# next() holds the GIL while it waits, so the producer is another process.
producer = subprocess.Popen([sys.executable, "-c", PRODUCER, sys.argv[1]])
rec = next(stream)
print("live", rec.offset(), bytes(rec.key()).decode(), rec.value_string())
print("producer", producer.wait())
"#;

#[test]
fn a_record_produced_while_a_stream_is_open_arrives() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let out = python::run_ok(LIVE, &[&daemon.public.to_string()]);
    assert_eq!(line(&out, "live"), "1 who from-another-process");
    assert_eq!(line(&out, "producer"), "0");
}

const DELETED: &str = r#"
import sys, time, itertools
from fluvio import Fluvio, FluvioAdmin, FluvioConfig, Offset

cfg = FluvioConfig.new(sys.argv[1])
admin = FluvioAdmin.connect_with_config(cfg)
admin.create_topic("doomed")
f = Fluvio.connect_with_config(cfg)
p = f.topic_producer("doomed")
print("before", p.send(b"k", b"v").wait().offset())
stream = f.partition_consumer("doomed", 0).stream(Offset.end())
admin.delete_topic("doomed")
try:
    next(stream)
    print("stream record after delete")
except StopIteration:
    print("stream ended")
except Exception as e:
    print("stream error", e)
time.sleep(0.5)
try:
    md = p.send(b"k", b"after-delete").wait()
    print("producer accepted", md.offset())
except Exception as e:
    print("producer error", e)

# The daemon carries on: a new topic works end to end.
admin.create_topic("fresh")
q = Fluvio.connect_with_config(cfg)
fresh = q.topic_producer("fresh")
print("fresh", fresh.send(b"", b"alive").wait().offset())
s = q.partition_consumer("fresh", 0).stream(Offset.beginning())
print("fresh-read", [r.value_string() for r in itertools.islice(s, 1)])
"#;

#[test]
fn deleting_a_topic_under_a_producer_and_a_consumer_is_a_clear_error() {
    let dir = temp_dir();
    let mut daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let out = python::run_ok(DELETED, &[&daemon.public.to_string()]);
    assert_eq!(line(&out, "before"), "0");
    let stream = out
        .lines()
        .find(|l| l.starts_with("stream "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        stream.starts_with("stream error") && stream.contains("not the leader"),
        "{out}"
    );
    let producer = line(&out, "producer");
    assert!(
        producer.starts_with("error") && producer.contains("not found"),
        "{out}"
    );
    assert_eq!(line(&out, "fresh"), "0");
    assert_eq!(line(&out, "fresh-read"), "['alive']");
    assert!(daemon.is_running());
    assert!(!dir.path().join("spu-5001").join("doomed-0").exists());
}

const PRODUCE_MANY: &str = r#"
import sys, time
from fluvio import Fluvio, FluvioAdmin, FluvioConfig
N = int(sys.argv[2])
cfg = FluvioConfig.new(sys.argv[1])
FluvioAdmin.connect_with_config(cfg).create_topic("many")
p = Fluvio.connect_with_config(cfg).topic_producer("many")
outs = []
for start in range(0, N, 1000):
    outs.extend(p.send_all([(b"", b"value-%d" % i) for i in range(start, start + 1000)]))
p.flush()
print("last", outs[-1].wait().offset())
"#;

const CONSUME_MANY: &str = r#"
import sys, time
from fluvio import Fluvio, FluvioConfig, Offset
N = int(sys.argv[2])
f = Fluvio.connect_with_config(FluvioConfig.new(sys.argv[1]))
stream = f.partition_consumer("many", 0).stream(Offset.beginning())
expected = 0
bad = 0
for r in stream:
    if r.offset() != expected or r.value() != b"value-%d" % expected:
        bad += 1
        print("unexpected", r.offset(), expected, r.value_string()[:40])
        break
    expected += 1
    if expected == N:
        break
print("consumed", expected, "bad", bad)
"#;

#[test]
fn many_records_stream_exactly_once_and_read_back_after_a_restart() {
    const N: usize = 200_000;
    let dir = temp_dir();
    let mut daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let addr = daemon.public.to_string();
    let n = N.to_string();
    let out = python::run_ok(PRODUCE_MANY, &[&addr, &n]);
    assert_eq!(line(&out, "last"), (N - 1).to_string());
    let out = python::run_ok(CONSUME_MANY, &[&addr, &n]);
    assert_eq!(line(&out, "consumed"), format!("{N} bad 0"));

    let status = daemon.terminate(Duration::from_secs(20));
    assert!(status.success(), "{status:?}\n{}", daemon.log());
    let daemon = Daemon::spawn_on(
        Role::AllInOne { spus: 1 },
        dir.path(),
        daemon.public,
        daemon.private,
    );
    daemon.wait_ready();
    let out = python::run_ok(CONSUME_MANY, &[&addr, &n]);
    assert_eq!(line(&out, "consumed"), format!("{N} bad 0"));
    let mut sc = ScClient::connect(daemon.public).unwrap();
    let status = sc.wait_for_partition_leo("many-0", N as i64);
    assert_eq!(status.leader.hw, N as i64);
}
