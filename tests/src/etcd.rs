//! Real etcd servers for the tests of the `etcd` metadata backend: one member or a
//! cluster of three, on free loopback ports with temporary data directories, that can be
//! stopped (kill -9) and started again on the same ports and data.
//!
//! The binary is `etcd` from the PATH (Debian's `etcd-server`, installed by `.ci/run`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_addr, temp_dir};

/// How long an etcd member may take to serve.
const READY: Duration = Duration::from_secs(30);

/// One etcd member.
pub struct Etcd {
    child: Option<Child>,
    pub name: String,
    pub client: SocketAddr,
    pub peer: SocketAddr,
    /// `name=http://peer,...` of the whole cluster.
    initial_cluster: String,
    data: PathBuf,
    log: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

fn etcd_binary() -> &'static str {
    let found = Command::new("etcd")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "the etcd tests need `etcd` on the PATH: apt-get install etcd-server (.ci/run does)"
    );
    "etcd"
}

impl Etcd {
    /// One member, serving, on fresh ports.
    pub fn start() -> Etcd {
        let mut members = Self::cluster(1);
        members.pop().expect("one member")
    }

    /// `n` members of one cluster, all serving.
    pub fn cluster(n: usize) -> Vec<Etcd> {
        let dir = temp_dir();
        let addrs: Vec<(SocketAddr, SocketAddr)> =
            (0..n).map(|_| (free_addr(), free_addr())).collect();
        let initial_cluster = addrs
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{i}=http://{peer}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut members: Vec<Etcd> = addrs
            .iter()
            .enumerate()
            .map(|(i, &(client, peer))| Etcd {
                child: None,
                name: format!("m{i}"),
                client,
                peer,
                initial_cluster: initial_cluster.clone(),
                data: dir.path().join(format!("m{i}")),
                log: dir.path().join(format!("m{i}.log")),
                _dir: None,
            })
            .collect();
        for member in &mut members {
            member.spawn();
        }
        for member in &members {
            member.wait_ready();
        }
        members[0]._dir = Some(dir);
        members
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("etcd log");
        let child = Command::new(etcd_binary())
            .args(["--name", &self.name])
            .args(["--data-dir", &self.data.display().to_string()])
            .args(["--listen-client-urls", &format!("http://{}", self.client)])
            .args([
                "--advertise-client-urls",
                &format!("http://{}", self.client),
            ])
            .args(["--listen-peer-urls", &format!("http://{}", self.peer)])
            .args([
                "--initial-advertise-peer-urls",
                &format!("http://{}", self.peer),
            ])
            .args(["--initial-cluster", &self.initial_cluster])
            .args(["--initial-cluster-token", &self.token()])
            .args(["--initial-cluster-state", "new"])
            // Short raft timers: a member lost is noticed in a second, not ten.
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn etcd");
        self.child = Some(child);
    }

    /// One token for the members of one cluster, unique on the machine.
    fn token(&self) -> String {
        let first = self.initial_cluster.split(',').next().unwrap_or_default();
        format!(
            "fluvio-test-{}",
            first.rsplit(':').next().unwrap_or_default()
        )
    }

    /// `etcd://member/prefix` for `--metadata`.
    pub fn url(&self, prefix: &str) -> String {
        format!("etcd://{}/{prefix}", self.client)
    }

    /// `etcd://m0,m1,m2/prefix` for a cluster.
    pub fn cluster_url(members: &[Etcd], prefix: &str) -> String {
        let list: Vec<String> = members.iter().map(|m| m.client.to_string()).collect();
        format!("etcd://{}/{prefix}", list.join(","))
    }

    /// Whether the member answers `/health` with a quorum.
    pub fn healthy(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect_timeout(&self.client, Duration::from_millis(500))
        else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let request = format!("GET /health HTTP/1.0\r\nHost: {}\r\n\r\n", self.client);
        if stream.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer.contains("\"health\":\"true\"")
    }

    pub fn wait_ready(&self) {
        let deadline = Instant::now() + READY;
        while !self.healthy() {
            assert!(
                Instant::now() < deadline,
                "etcd {} did not become healthy in {READY:?}; log:\n{}",
                self.name,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// kill -9.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start again on the same ports and data (it rejoins its cluster); does not wait.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.stop();
    }
}
