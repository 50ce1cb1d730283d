//! External SPUs join with auth tokens; bad tokens are refused with clear errors.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use protocol::sc::{SpuResolution, TokenType};
use tests::client::ScClient;
use tests::{Daemon, Role, free_addr, temp_dir};

const SECRET: &str = "abcdefgh12345678";

fn secret_file(dir: &Path, name: &str, secret: &str) -> PathBuf {
    let file = dir.join(name);
    std::fs::write(&file, format!("{secret}\n")).unwrap();
    file
}

fn spu_status(sc: SocketAddr, id: i32) -> Option<SpuResolution> {
    let mut client = ScClient::connect(sc).unwrap();
    client
        .watch_spus_snapshot()
        .unwrap()
        .into_iter()
        .find(|s| s.spec.id == id)
        .map(|s| s.status.resolution)
}

fn wait_status(sc: SocketAddr, id: i32, want: SpuResolution) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while spu_status(sc, id) != Some(want) {
        assert!(
            std::time::Instant::now() < deadline,
            "SPU {id} never became {want:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Register custom SPU `id` and start an `fluvio-daemon spu` process for it.
fn spu(
    sc: &Daemon,
    client: &mut ScClient,
    dir: &Path,
    id: i32,
    token: Option<(&str, &str)>,
) -> Daemon {
    let public = free_addr();
    let private = free_addr();
    let status = client
        .register_custom_spu(&format!("custom-spu-{id}"), id, public, private)
        .unwrap();
    assert!(status.is_ok(), "{status:?}");
    let token = token.map(|(name, secret)| {
        (
            name.to_string(),
            secret_file(dir, &format!("secret-{id}"), secret),
        )
    });
    Daemon::spawn_on(
        Role::Spu {
            id,
            sc_private: sc.private,
            token,
            rack: None,
        },
        &dir.join(format!("spu-{id}")),
        public,
        private,
    )
}

fn assert_refused(mut spu: Daemon, sc: &Daemon, id: i32, expected: &str) {
    let (status, log) = spu.wait_exit(Duration::from_secs(15));
    assert!(!status.success(), "refused SPU exits with an error");
    assert!(log.contains(expected), "SPU log lacks {expected:?}:\n{log}");
    assert!(
        sc.log().contains(expected),
        "SC log lacks {expected:?}:\n{}",
        sc.log()
    );
    assert_ne!(spu_status(sc.public, id), Some(SpuResolution::Online));
}

#[test]
fn external_spus_need_a_valid_token() {
    let dir = temp_dir();
    let sc = Daemon::start(
        Role::Sc {
            allow_unauthenticated_spus: false,
        },
        dir.path(),
    );
    let mut client = ScClient::connect(sc.public).unwrap();
    let created = client
        .create_token("edge", TokenType::Custom, 6000, 6010, SECRET)
        .unwrap();
    assert!(created.is_ok(), "{created:?}");
    assert_eq!(client.list_token_names().unwrap(), vec!["edge".to_string()]);

    // A valid token: the SPU joins and shows online in the SPU watch.
    let good = spu(&sc, &mut client, dir.path(), 6001, Some(("edge", SECRET)));
    good.wait_ready();
    wait_status(sc.public, 6001, SpuResolution::Online);

    let wrong = spu(
        &sc,
        &mut client,
        dir.path(),
        6002,
        Some(("edge", "wrongsecret00000")),
    );
    // A wrong secret and an unknown name get the same answer, word for word.
    assert_refused(
        wrong,
        &sc,
        6002,
        "auth token 'edge' was refused: no token of that name exists, or its secret is wrong",
    );

    let out_of_range = spu(&sc, &mut client, dir.path(), 7000, Some(("edge", SECRET)));
    assert_refused(
        out_of_range,
        &sc,
        7000,
        "SPU id 7000 is outside the range 6000..=6010 of auth token 'edge'",
    );

    let unknown = spu(&sc, &mut client, dir.path(), 6003, Some(("nope", SECRET)));
    assert_refused(
        unknown,
        &sc,
        6003,
        "auth token 'nope' was refused: no token of that name exists, or its secret is wrong",
    );

    let no_token = spu(&sc, &mut client, dir.path(), 6004, None);
    assert_refused(
        no_token,
        &sc,
        6004,
        "SPU 6004 presented no auth token, and the SC requires one: start the SPU with \
         --token-name NAME --token-secret-file FILE",
    );

    // Killing the good SPU takes it offline.
    drop(good);
    wait_status(sc.public, 6001, SpuResolution::Offline);
}

#[test]
fn unregistered_spu_is_refused_and_open_sc_admits_custom_spus() {
    let dir = temp_dir();
    let sc = Daemon::start(
        Role::Sc {
            allow_unauthenticated_spus: true,
        },
        dir.path(),
    );
    let stranger = Daemon::spawn(
        Role::Spu {
            id: 9000,
            sc_private: sc.private,
            token: None,
            rack: None,
        },
        &dir.path().join("stranger"),
    );
    assert_refused(stranger, &sc, 9000, "SPU 9000 is not registered");

    let mut client = ScClient::connect(sc.public).unwrap();
    let open = spu(&sc, &mut client, dir.path(), 9001, None);
    open.wait_ready();
    wait_status(sc.public, 9001, SpuResolution::Online);
}

#[test]
fn spu_reconnects_when_the_sc_restarts() {
    let dir = temp_dir();
    let sc = Daemon::start(
        Role::Sc {
            allow_unauthenticated_spus: true,
        },
        dir.path(),
    );
    let mut client = ScClient::connect(sc.public).unwrap();
    let spu = spu(&sc, &mut client, dir.path(), 5100, None);
    spu.wait_ready();
    wait_status(sc.public, 5100, SpuResolution::Online);
    let (public, private) = (sc.public, sc.private);
    drop(client);
    drop(sc);

    let sc = Daemon::spawn_on(
        Role::Sc {
            allow_unauthenticated_spus: true,
        },
        dir.path(),
        public,
        private,
    );
    sc.wait_ready();
    wait_status(sc.public, 5100, SpuResolution::Online);
    assert!(
        spu.log().contains("reconnecting") || spu.log().contains("retrying"),
        "{}",
        spu.log()
    );
}
