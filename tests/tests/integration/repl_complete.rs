//! REPL completion against a live daemon: the session's completer with the cluster's live
//! names (topics, partitions, SPUs, tokens), kept current by the client's metadata watch.

use std::time::{Duration, Instant};

use console::command::Context;
use console::config::{AddrOrigin, ScTarget};
use console::repl::complete::Completer;
use console::repl::names::LiveNames;
use tests::cli::{create_token, fluvio};
use tests::{Daemon, Role, temp_dir};

/// Candidates for the end of `line`, once they are `expected` (metadata arrives as a
/// watch, so the first snapshot may take a moment).
async fn wait_for_candidates(
    completer: &Completer,
    names: &LiveNames,
    line: &str,
    expected: &[&str],
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let words = completer.complete(line, line.len(), names).words;
        if words == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{line:?} completes to {words:?}, not {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn completion_offers_the_clusters_live_names() {
    let dir = temp_dir();
    let daemon = Daemon::start(Role::AllInOne { spus: 1 }, dir.path());
    let sc = daemon.public.to_string();
    fluvio(&sc, &["topic", "create", "alpha", "-p", "2"]).ok();
    fluvio(&sc, &["topic", "create", "alpine"]).ok();
    fluvio(&sc, &["topic", "create", "beta"]).ok();
    create_token(&sc, "tok-x");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let ctx = Context::new(ScTarget {
            addr: sc.clone(),
            origin: AddrOrigin::Flag,
            tls: Default::default(),
        });
        let names = LiveNames::new();
        names.refresh(&ctx).await;
        let completer = Completer::new();

        wait_for_candidates(
            &completer,
            &names,
            "topic describe ",
            &["alpha", "alpine", "beta"],
        )
        .await;
        wait_for_candidates(&completer, &names, "consume al", &["alpha", "alpine"]).await;
        wait_for_candidates(&completer, &names, "consume alpha -p ", &["0", "1"]).await;
        wait_for_candidates(&completer, &names, "produce beta --partition ", &["0"]).await;
        wait_for_candidates(&completer, &names, "partition list -t b", &["beta"]).await;
        wait_for_candidates(&completer, &names, "auth-token delete -n ", &["tok-x"]).await;
        wait_for_candidates(&completer, &names, "spu unregister --id ", &["5001"]).await;
        let flags = completer
            .complete("topic create x -", 16, names.as_ref())
            .words;
        for flag in [
            "--partitions",
            "-p",
            "--replication",
            "--retention-time",
            "--help",
        ] {
            assert!(flags.contains(&flag.to_string()), "{flag} in {flags:?}");
        }
        let hint = completer.hint("consume be", 10, names.as_ref()).unwrap();
        assert_eq!(hint.display, "ta");

        // A topic created elsewhere shows up through the watch, with no refresh.
        fluvio(&sc, &["topic", "create", "gamma"]).ok();
        wait_for_candidates(&completer, &names, "topic delete g", &["gamma"]).await;
        fluvio(&sc, &["topic", "delete", "alpine"]).ok();
        wait_for_candidates(&completer, &names, "consume al", &["alpha"]).await;
        // Tokens too: they have a watch of their own.
        create_token(&sc, "tok-y");
        wait_for_candidates(
            &completer,
            &names,
            "auth-token delete -n ",
            &["tok-x", "tok-y"],
        )
        .await;
        fluvio(&sc, &["auth-token", "delete", "-n", "tok-x"]).ok();
        wait_for_candidates(&completer, &names, "auth-token delete -n ", &["tok-y"]).await;
    });
}
