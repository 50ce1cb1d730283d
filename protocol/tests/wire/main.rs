//! The protocol's tests, one module per area, in one test binary: golden bytes of the
//! official client's captured sessions, round trips, and hostile input for every decoder.

mod alloc;
mod capture_smoke;
mod common;
mod golden_newest;
mod golden_sc;
mod golden_spu;
mod records;
mod robust_codec;
mod robust_memory;
mod robust_sc;
mod robust_spu;
mod roundtrip_internal;
mod roundtrip_objects;
mod roundtrip_sc;
mod roundtrip_spu;
