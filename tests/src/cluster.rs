//! A replicated cluster of real processes: `fluvio-daemon sc` and N `fluvio-daemon spu`
//! (custom SPUs 1..=N, admitted without tokens), with fault injection: kill -9,
//! SIGSTOP/SIGCONT, restart on the same ports.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use protocol::sc::{Metadata, PartitionSpec, SpuId};

use crate::client::ScClient;
use crate::spu_client::SpuClient;
use crate::{Daemon, Role, free_addr, temp_dir};

/// How long waits for the cluster to converge may take before a test fails.
pub const CONVERGE: Duration = Duration::from_secs(30);

/// SC flags of the fail-over tests: a read_committed produce needs two replicas in sync,
/// and an SPU silent for two seconds loses its leaderships.
pub const FAILOVER_SC_FLAGS: &[&str] =
    &["--min-in-sync", "2", "--spu-heartbeat-timeout-ms", "2000"];
/// SPU flags of the fail-over tests: a follower 1.5 s behind leaves the in-sync set.
pub const FAILOVER_SPU_FLAGS: &[&str] = &["--replica-lag-ms", "1500"];

pub struct Cluster {
    pub sc: Daemon,
    pub spus: BTreeMap<SpuId, Daemon>,
    sc_extra: Vec<String>,
    spu_extra: Vec<String>,
    racks: BTreeMap<SpuId, Option<String>>,
    /// Keeps the data alive for the cluster's lifetime.
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Cluster {
    /// Three SPUs with the fail-over flags and `topic` (one partition, replication 3)
    /// online with all three replicas in sync: where the fail-over tests start.
    pub fn failover_with_topic(topic: &str) -> Cluster {
        let cluster = Cluster::start(&[None, None, None], FAILOVER_SC_FLAGS, FAILOVER_SPU_FLAGS);
        let status = cluster
            .admin()
            .create_topic(topic, crate::replicated(1, 3))
            .expect("create topic");
        assert!(!status.error_code.is_error(), "{status:?}");
        cluster.wait_partition(&format!("{topic}-0"), "online with 3 in sync", |p| {
            p.status.resolution == protocol::sc::PartitionResolution::Online && p.status.lsr == 3
        });
        cluster
    }

    /// SC with `sc_extra` flags, then SPUs 1..=racks.len() (rack per SPU) with `spu_extra`.
    pub fn start(racks: &[Option<&str>], sc_extra: &[&str], spu_extra: &[&str]) -> Cluster {
        let dir = temp_dir();
        let root = dir.path().to_path_buf();
        let sc = Daemon::spawn_with_args(
            Role::Sc {
                allow_unauthenticated_spus: true,
            },
            &root.join("sc"),
            free_addr(),
            free_addr(),
            sc_extra,
        );
        sc.wait_ready();
        let mut cluster = Cluster {
            sc,
            spus: BTreeMap::new(),
            sc_extra: sc_extra.iter().map(|s| s.to_string()).collect(),
            spu_extra: spu_extra.iter().map(|s| s.to_string()).collect(),
            racks: BTreeMap::new(),
            _dir: dir,
            root,
        };
        let mut admin = cluster.admin();
        for (i, rack) in racks.iter().enumerate() {
            let id = i as SpuId + 1;
            let (public, private) = (free_addr(), free_addr());
            let status = admin
                .register_custom_spu_on_rack(&format!("spu-{id}"), id, public, private, *rack)
                .expect("register SPU");
            assert!(
                !status.error_code.is_error(),
                "register SPU {id}: {status:?}"
            );
            cluster.racks.insert(id, rack.map(str::to_string));
            let spu = cluster.spawn_spu(id, public, private);
            spu.wait_ready();
            cluster.spus.insert(id, spu);
        }
        cluster
    }

    /// While this file exists, SPU `id` sends its followers nothing (its hidden
    /// `--fault-hold-replication` flag).
    fn hold_file(&self, id: SpuId) -> PathBuf {
        self.root.join(format!("hold-replication-{id}"))
    }

    /// Stop (`true`) or restart SPU `id` replicating to its followers. Records written to
    /// it meanwhile reach it only.
    pub fn hold_replication(&self, id: SpuId, hold: bool) {
        let file = self.hold_file(id);
        if hold {
            std::fs::write(&file, b"held").expect("write hold file");
        } else {
            let _ = std::fs::remove_file(&file);
        }
    }

    fn spawn_spu(&self, id: SpuId, public: SocketAddr, private: SocketAddr) -> Daemon {
        let hold = self.hold_file(id).display().to_string();
        let mut extra: Vec<&str> = self.spu_extra.iter().map(String::as_str).collect();
        extra.extend(["--fault-hold-replication", &hold]);
        Daemon::spawn_with_args(
            Role::Spu {
                id,
                sc_private: self.sc.private,
                token: None,
                rack: self.racks.get(&id).cloned().flatten(),
            },
            &self.root.join(format!("spu{id}")),
            public,
            private,
            &extra,
        )
    }

    pub fn admin(&self) -> ScClient {
        ScClient::connect(self.sc.public).expect("connect to the SC")
    }

    pub fn spu(&self, id: SpuId) -> &Daemon {
        &self.spus[&id]
    }

    /// A client of SPU `id`'s public port.
    pub fn spu_client(&self, id: SpuId) -> std::io::Result<SpuClient> {
        let client = SpuClient::connect(self.spus[&id].public)?;
        client.set_read_timeout(Duration::from_secs(10))?;
        Ok(client)
    }

    /// kill -9.
    pub fn kill(&mut self, id: SpuId) {
        self.spus.get_mut(&id).expect("SPU").kill();
    }

    /// kill -9 of the SC; the SPUs live on and try to reach it again.
    pub fn kill_sc(&mut self) {
        self.sc.kill();
    }

    /// Start a killed SC again on its ports and data, and wait until it serves.
    pub fn restart_sc(&mut self) {
        let (public, private) = (self.sc.public, self.sc.private);
        let extra: Vec<&str> = self.sc_extra.iter().map(String::as_str).collect();
        let sc = Daemon::spawn_with_args(
            Role::Sc {
                allow_unauthenticated_spus: true,
            },
            &self.root.join("sc"),
            public,
            private,
            &extra,
        );
        sc.wait_ready();
        self.sc = sc;
    }

    /// Start a killed SPU again on its ports and data.
    pub fn restart(&mut self, id: SpuId) {
        let (public, private) = (self.spus[&id].public, self.spus[&id].private);
        let spu = self.spawn_spu(id, public, private);
        spu.wait_ready();
        self.spus.insert(id, spu);
    }

    fn signal(&self, id: SpuId, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([signal, &self.spus[&id].id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} SPU {id}");
    }

    /// SIGSTOP: the process freezes with its connections open.
    pub fn pause(&self, id: SpuId) {
        self.signal(id, "-STOP");
    }

    /// SIGCONT.
    pub fn resume(&self, id: SpuId) {
        self.signal(id, "-CONT");
    }

    pub fn partition(&self, name: &str) -> Metadata<PartitionSpec> {
        self.admin()
            .list_partitions()
            .expect("list partitions")
            .into_iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no partition {name}"))
    }

    /// Poll partition `name` until `done` holds; it then. Panics after [`CONVERGE`].
    pub fn wait_partition(
        &self,
        name: &str,
        what: &str,
        done: impl Fn(&Metadata<PartitionSpec>) -> bool,
    ) -> Metadata<PartitionSpec> {
        let deadline = Instant::now() + CONVERGE;
        let mut admin = self.admin();
        loop {
            // System partitions too: tests follow `consumer-offset-0` as well.
            let found = admin
                .list_partitions_system(true)
                .ok()
                .and_then(|all| all.into_iter().find(|p| p.name == name));
            if let Some(p) = &found
                && done(p)
            {
                return p.clone();
            }
            assert!(
                Instant::now() < deadline,
                "partition {name} never reached: {what}; last {found:?}\nSC log:\n{}",
                self.sc.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
