//! A highly available cluster of real processes: etcd (one member or three), several
//! `fluvio-daemon sc --metadata etcd://...` on one prefix, and custom SPUs that follow the
//! SC list. Who leads is read from etcd itself, with the daemon's own gateway client.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use daemon::kv::etcd::{EtcdClient, ScRecord};
use protocol::sc::SpuId;

use crate::client::ScClient;
use crate::etcd::Etcd;
use crate::{Daemon, Role, free_addr, temp_dir};

/// The key prefix the tests' SCs share.
pub const PREFIX: &str = "fluvio-test";

pub struct HaCluster {
    pub etcd: Vec<Etcd>,
    /// `None`: killed.
    pub scs: Vec<Option<Daemon>>,
    pub sc_addrs: Vec<(SocketAddr, SocketAddr)>,
    pub spus: BTreeMap<SpuId, Daemon>,
    pub lease_secs: u64,
    sc_extra: Vec<String>,
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl HaCluster {
    /// etcd with `members` members, `scs` SCs with `--leader-lease-secs lease_secs` and
    /// `sc_extra`, then SPUs 1..=spus registered through the SCs and following them all.
    pub fn start(
        members: usize,
        scs: usize,
        spus: usize,
        lease_secs: u64,
        sc_extra: &[&str],
    ) -> HaCluster {
        let etcd = Etcd::cluster(members);
        let dir = temp_dir();
        let root = dir.path().to_path_buf();
        let mut cluster = HaCluster {
            etcd,
            scs: Vec::new(),
            sc_addrs: (0..scs).map(|_| (free_addr(), free_addr())).collect(),
            spus: BTreeMap::new(),
            lease_secs,
            sc_extra: sc_extra.iter().map(|s| s.to_string()).collect(),
            _dir: dir,
            root,
        };
        for i in 0..scs {
            let sc = cluster.spawn_sc(i);
            cluster.scs.push(Some(sc));
        }
        for sc in cluster.scs.iter().flatten() {
            sc.wait_ready();
        }
        cluster.wait_leader(None);
        for id in 1..=spus as SpuId {
            let (public, private) = (free_addr(), free_addr());
            let mut admin = cluster.admin();
            let status = admin
                .register_custom_spu(&format!("spu-{id}"), id, public, private)
                .expect("register SPU");
            assert!(
                !status.error_code.is_error(),
                "register SPU {id}: {status:?}"
            );
            let spu = Daemon::spawn_with_args(
                Role::SpuOfScs {
                    id,
                    scs: cluster.private_list(),
                },
                &cluster.root.join(format!("spu{id}")),
                public,
                private,
                &[],
            );
            spu.wait_ready();
            cluster.spus.insert(id, spu);
        }
        cluster
    }

    pub fn metadata_url(&self) -> String {
        Etcd::cluster_url(&self.etcd, PREFIX)
    }

    fn spawn_sc(&self, i: usize) -> Daemon {
        let (public, private) = self.sc_addrs[i];
        let url = self.metadata_url();
        let lease = self.lease_secs.to_string();
        let mut extra: Vec<&str> = vec!["--metadata", &url, "--leader-lease-secs", &lease];
        extra.extend(self.sc_extra.iter().map(String::as_str));
        Daemon::spawn_with_args(
            Role::Sc {
                allow_unauthenticated_spus: true,
            },
            &self.root.join(format!("sc{i}")),
            public,
            private,
            &extra,
        )
    }

    /// Start SC `i` again on its ports (after [`HaCluster::kill_sc`]); does not wait.
    pub fn restart_sc(&mut self, i: usize) {
        self.scs[i] = Some(self.spawn_sc(i));
    }

    /// Every SC's public address, `A,B,C`, as `--sc` takes it.
    pub fn public_list(&self) -> String {
        let list: Vec<String> = self.sc_addrs.iter().map(|(p, _)| p.to_string()).collect();
        list.join(",")
    }

    /// Every SC's private address, `A,B,C`, as `--sc-private-addr` takes it.
    pub fn private_list(&self) -> String {
        let list: Vec<String> = self.sc_addrs.iter().map(|(_, p)| p.to_string()).collect();
        list.join(",")
    }

    /// An admin client of the first SC that answers.
    pub fn admin(&self) -> ScClient {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            for (i, (public, _)) in self.sc_addrs.iter().enumerate() {
                if self.scs[i].is_none() {
                    continue;
                }
                if let Ok(client) = ScClient::connect(*public) {
                    return client;
                }
            }
            assert!(Instant::now() < deadline, "no SC answers");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// An admin client of SC `i`.
    pub fn admin_of(&self, i: usize) -> ScClient {
        ScClient::connect(self.sc_addrs[i].0).expect("connect to the SC")
    }

    /// The leader as etcd says, as an index into the SCs.
    pub fn leader(&self) -> Option<usize> {
        let client = EtcdClient::new(self.etcd.iter().map(|m| m.client.to_string()).collect());
        let key = format!("{PREFIX}/sc/leader");
        let kv = crate::runtime().block_on(client.get(&key)).ok()??;
        let record: ScRecord = serde_json::from_slice(&kv.value).ok()?;
        self.sc_addrs
            .iter()
            .position(|(public, _)| public.to_string() == record.public_addr)
    }

    /// Wait until some SC other than `not` leads; its index.
    pub fn wait_leader(&self, not: Option<usize>) -> usize {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(i) = self.leader().filter(|i| Some(*i) != not) {
                return i;
            }
            assert!(Instant::now() < deadline, "no new SC leader within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// kill -9 of SC `i`.
    pub fn kill_sc(&mut self, i: usize) {
        if let Some(mut sc) = self.scs[i].take() {
            sc.kill();
        }
    }

    pub fn sc(&self, i: usize) -> &Daemon {
        self.scs[i].as_ref().expect("SC running")
    }

    /// SIGSTOP / SIGCONT of SC `i`.
    pub fn signal_sc(&self, i: usize, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([signal, &self.sc(i).id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} SC {i}");
    }
}
