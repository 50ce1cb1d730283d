//! Liveness and readiness for `/healthz` and `/readyz`.
//!
//! The process says up front which roles it hosts ([`expect_sc`], [`expect_spu`]); it is
//! ready once every one of them is: the SC when its metadata stores are loaded (it
//! registered with [`super::state::register_sc`]), an SPU when the SC admitted it and
//! every replica the SC assigned it has its log open. Until then `/readyz` says which
//! role is missing what.

use std::collections::BTreeSet;
use std::sync::{Mutex, Weak};

use protocol::sc::SpuId;

use super::state::sources;
use crate::sync::lock;

#[derive(Default)]
struct Expected {
    sc: bool,
    spus: BTreeSet<SpuId>,
}

fn expected() -> &'static Mutex<Expected> {
    static EXPECTED: Mutex<Expected> = Mutex::new(Expected {
        sc: false,
        spus: BTreeSet::new(),
    });
    &EXPECTED
}

/// This process hosts an SC.
pub fn expect_sc() {
    lock(expected()).sc = true;
}

/// This process hosts SPU `id`.
pub fn expect_spu(id: SpuId) {
    lock(expected()).spus.insert(id);
}

/// `Ok` when every role of the process is ready, else why not (one line per role).
pub fn readiness() -> Result<String, String> {
    let (want_sc, want_spus) = {
        let e = lock(expected());
        (e.sc, e.spus.clone())
    };
    let (sc, spus) = {
        let s = lock(sources());
        (
            s.sc.as_ref().and_then(Weak::upgrade).is_some(),
            s.spus.iter().filter_map(Weak::upgrade).collect::<Vec<_>>(),
        )
    };
    let mut ready = Vec::new();
    let mut waiting = Vec::new();
    if want_sc {
        if sc {
            ready.push("SC: metadata stores loaded".to_string());
        } else {
            waiting.push("SC: metadata stores not loaded yet".to_string());
        }
    }
    for id in want_spus {
        match spus.iter().find(|s| s.spu() == id) {
            None => waiting.push(format!("SPU {id}: not started yet")),
            Some(store) => match store.readiness() {
                Ok(()) => ready.push(format!("SPU {id}: registered, replicas open")),
                Err(why) => waiting.push(format!("SPU {id}: {why}")),
            },
        }
    }
    if waiting.is_empty() {
        Ok(ready.join("\n"))
    } else {
        Err(waiting.join("\n"))
    }
}
