//! The event ABI shared by the kernel programs (`probe-ebpf`), the user-space sources and every
//! consumer (engine, recorder, trace files).
//!
//! Every record starts with a [`Header`]; `Header::kind` says which payload follows and
//! `Header::size` is the whole record length in bytes. Kind ids are stable: a retired kind keeps
//! its number as a gap so old recordings still decode. All structs are `#[repr(C)]`, `Copy`,
//! with explicit padding, so the same bytes mean the same thing in the kernel, on disk and in
//! user space. Bump [`ABI_VERSION`] on any layout change.
#![no_std]

pub mod config;
pub mod decode;
pub mod event;
pub mod insn;
pub mod perf;

pub use decode::{DecodeError, Event, decode};
pub use event::*;

/// Version of the record layouts in [`event`]. Stored in trace files.
pub const ABI_VERSION: u32 = 1;
