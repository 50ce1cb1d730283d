//! The Fluvio daemon: Streaming Controller (SC) and Streaming Processing Unit (SPU) roles.

pub mod storage;
