//! kill -9 of the SC at random moments while topics and tokens are being created loses
//! no acknowledged change, and the store always opens again: on the embedded store and on
//! etcd.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use protocol::sc::{TokenType, TopicSpec};
use tests::client::ScClient;
use tests::{Daemon, Role, temp_dir};

const ROUNDS: usize = 6;

/// xorshift: enough randomness for kill moments, reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn metadata_survives_kill_9_during_creates() {
    kill_9_during_creates(ROUNDS, &[]);
}

#[test]
fn metadata_on_etcd_survives_kill_9_during_creates() {
    let etcd = tests::etcd::Etcd::start();
    let url = etcd.url("sc-crash");
    kill_9_during_creates(3, &["--metadata", &url]);
}

fn kill_9_during_creates(rounds: usize, extra: &[&str]) {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("seed {seed}");
    let mut rng = Rng(seed);
    let dir = temp_dir();
    let role = Role::Sc {
        allow_unauthenticated_spus: false,
    };
    let mut acked_topics: Vec<String> = Vec::new();
    let mut acked_tokens: Vec<String> = Vec::new();
    let mut daemon = Daemon::start_with_args(role.clone(), dir.path(), extra);
    for round in 0..rounds {
        let topics = Arc::new(Mutex::new(Vec::new()));
        let tokens = Arc::new(Mutex::new(Vec::new()));
        let sc = daemon.public;
        let creator = {
            let (topics, tokens) = (topics.clone(), tokens.clone());
            std::thread::spawn(move || {
                let Ok(mut client) = ScClient::connect(sc) else {
                    return;
                };
                for n in 0.. {
                    let topic = format!("t-{round}-{n}");
                    match client.create_topic(&topic, TopicSpec::default()) {
                        Ok(status) if status.is_ok() => topics.lock().unwrap().push(topic),
                        Ok(status) => panic!("create refused: {status:?}"),
                        Err(_) => return,
                    }
                    let token = format!("k-{round}-{n}");
                    match client.create_token(&token, TokenType::Any, 0, 10, "abcdefgh12345678") {
                        Ok(status) if status.is_ok() => tokens.lock().unwrap().push(token),
                        Ok(status) => panic!("token refused: {status:?}"),
                        Err(_) => return,
                    }
                }
            })
        };
        std::thread::sleep(Duration::from_millis(20 + rng.next() % 300));
        daemon.kill();
        creator.join().expect("creator thread");
        acked_topics.extend(topics.lock().unwrap().drain(..));
        acked_tokens.extend(tokens.lock().unwrap().drain(..));

        let (public, private) = (daemon.public, daemon.private);
        drop(daemon);
        daemon = Daemon::spawn_with_args(role.clone(), dir.path(), public, private, extra);
        daemon.wait_ready();
        let mut client = ScClient::connect(daemon.public).expect("SC serves after restart");
        let topics = client.list_topics().unwrap();
        let tokens = client.list_token_names().unwrap();
        for topic in &acked_topics {
            assert!(
                topics.contains(topic),
                "round {round} (seed {seed}): acknowledged topic {topic} lost"
            );
        }
        for token in &acked_tokens {
            assert!(
                tokens.contains(token),
                "round {round} (seed {seed}): acknowledged token {token} lost"
            );
        }
    }
    assert!(!acked_topics.is_empty(), "some creates were acknowledged");
}
