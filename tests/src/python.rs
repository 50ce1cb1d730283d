//! The official Python client (`fluvio==0.21.0`) in a virtualenv under `target/`, created
//! once and shared by every test (a lock directory keeps parallel test processes from
//! racing to build it). The Prometheus client library sits beside it: its text-format
//! parsers read the daemons' `/metrics` in the observability tests; so do the Kafka
//! clients `kafka-python` and `confluent-kafka` (librdkafka), which drive the Kafka
//! listener in the Kafka tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::target_dir;

pub const FLUVIO_PACKAGE: &str = "fluvio==0.21.0";
pub const PROMETHEUS_PACKAGE: &str = "prometheus-client==0.21.1";
pub const KAFKA_PYTHON_PACKAGE: &str = "kafka-python==3.0.12";
pub const CONFLUENT_KAFKA_PACKAGE: &str = "confluent-kafka==2.16.1";

fn venv_dir() -> PathBuf {
    target_dir().join("py-fluvio")
}

fn marker(venv: &Path) -> PathBuf {
    // Named after every package: a venv made before one was added gets it on next use.
    venv.join(".fluvio-0.21.0-prometheus-client-0.21.1-kafka-python-3.0.12-confluent-kafka-2.16.1-installed")
}

/// The virtualenv's python, with the official client installed.
pub fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let venv = venv_dir();
        let python = venv.join("bin").join("python");
        if marker(&venv).exists() {
            return python;
        }
        let _lock = DirLock::acquire(&target_dir().join("py-fluvio.lock"));
        if marker(&venv).exists() {
            return python;
        }
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .unwrap_or_else(|e| {
                panic!("python3 is needed for the official-client tests but could not run: {e}")
            });
        assert!(
            status.success(),
            "python3 -m venv {} failed",
            venv.display()
        );
        let out = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                FLUVIO_PACKAGE,
                PROMETHEUS_PACKAGE,
                KAFKA_PYTHON_PACKAGE,
                CONFLUENT_KAFKA_PACKAGE,
            ])
            .output()
            .expect("run pip");
        assert!(
            out.status.success(),
            "pip install {FLUVIO_PACKAGE} {PROMETHEUS_PACKAGE} {KAFKA_PYTHON_PACKAGE} {CONFLUENT_KAFKA_PACKAGE} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(marker(&venv), b"ok").expect("write venv marker");
        python
    })
}

/// A lock held as long as a directory we created exists.
struct DirLock(PathBuf);

impl DirLock {
    fn acquire(path: &Path) -> DirLock {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            match std::fs::create_dir(path) {
                Ok(()) => return DirLock(path.to_path_buf()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    assert!(
                        Instant::now() < deadline,
                        "timed out waiting for {}",
                        path.display()
                    );
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("cannot create lock {}: {e}", path.display()),
            }
        }
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Run `script` with the official client. `FLV_METADATA_TIMEOUT` is short so a lookup on
/// an empty cluster fails in seconds, not a minute.
pub fn run(script: &str, args: &[&str]) -> Output {
    let dir = crate::temp_dir();
    let file = dir.path().join("script.py");
    std::fs::write(&file, script).expect("write script");
    Command::new(python())
        .arg(&file)
        .args(args)
        .env("FLV_METADATA_TIMEOUT", "3000")
        .env("FLV_SOCKET_WAIT", "10")
        .env("HOME", dir.path())
        .output()
        .expect("run python")
}

/// Run `script` and return its stdout; panic with both streams if it fails.
pub fn run_ok(script: &str, args: &[&str]) -> String {
    let out = run(script, args);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "python failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Start `script` (as [`run`] does) without waiting for it: its stdout and stderr are
/// piped, for tests that act while it runs. Keep the directory (it holds the script)
/// until the child is done.
pub fn spawn(script: &str, args: &[&str]) -> (std::process::Child, tempfile::TempDir) {
    let dir = crate::temp_dir();
    let file = dir.path().join("script.py");
    std::fs::write(&file, script).expect("write script");
    let child = Command::new(python())
        .arg(&file)
        .args(args)
        .env("HOME", dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run python");
    (child, dir)
}

/// Run a producer `script` that takes `bootstrap`, the path of a marker it writes once its
/// first records are acknowledged, and the path of a marker it waits for before finishing.
/// Once the first marker is there, `meanwhile` runs (a failover, say); then the second
/// marker tells the script to finish. Its stdout, and what `meanwhile` returned, after the
/// script ended with success.
pub fn produce_across<T>(
    script: &str,
    bootstrap: &str,
    wait: std::time::Duration,
    meanwhile: impl FnOnce() -> T,
) -> (String, T) {
    let dir = crate::temp_dir();
    let acked = dir.path().join("first-acked");
    let done = dir.path().join("meanwhile-done");
    let (mut child, _script) = spawn(
        script,
        &[
            bootstrap,
            &acked.display().to_string(),
            &done.display().to_string(),
        ],
    );
    let deadline = Instant::now() + wait;
    while !acked.exists() {
        assert!(
            Instant::now() < deadline,
            "the producer never got its first acks"
        );
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the producer ended early ({status})");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let value = meanwhile();
    std::fs::write(&done, b"done").expect("write marker");
    let out = child.wait_with_output().expect("wait for the producer");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "producer failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (stdout, value)
}
