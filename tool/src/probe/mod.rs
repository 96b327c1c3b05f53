//! Loading and attaching the kernel programs, reading the ring buffer (issue 3).
//!
//! Use [`LiveSource`]: `LiveSource::start(&SourceOptions)` then `next_batch(&mut out).await`
//! until it returns `Ok(false)`; `coverage()` says which source each signal comes from.

pub mod attach;
pub mod coverage;
pub mod hooks;
pub mod live;
pub mod loader;
pub mod offsets;
pub mod sched;
pub mod syscalls;
pub mod sysctl;
pub mod target;
pub mod tracepoint;
pub mod traps;

pub use live::{End, LiveSource, SourceOptions, SourceStats};

/// The eBPF object built by `build.rs`.
pub static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/probe"));
