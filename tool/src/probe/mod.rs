//! Loading and attaching the kernel programs, reading the ring buffer (issue 3).

pub mod coverage;

/// The eBPF object built by `build.rs`.
pub static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/probe"));
