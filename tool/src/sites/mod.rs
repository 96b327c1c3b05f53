//! The target's direct counter reads: find the read sites in its executable mappings (main
//! binary and shared libraries), symbolise them (function+offset, and file:line where debug
//! info is found, [`lines`]), and put uprobes there ([`watch`]); or, with
//! `--no-read-probes`, sample its perf mmap pages instead ([`sample`]).
//!
//! x86 sites are found with a real instruction decoder (iced-x86: a byte grep for `0f 33`
//! would also hit the middle of other instructions); arm64 sites by decoding every aligned
//! word as a system-register access (`common::insn`).

pub mod lines;
pub mod procmaps;
pub mod sample;
pub mod scan;
pub mod symbols;
pub mod watch;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One instruction that reads a counter directly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Site {
    /// Index in the site table; the uprobe's cookie carries it into `DirectRead::site`.
    pub id: u32,
    pub file: PathBuf,
    /// Offset of the instruction in the file (where the uprobe goes).
    pub file_offset: u64,
    /// Link-time virtual address of the instruction.
    pub vaddr: u64,
    /// "rdpmc", "mrs PMCCNTR_EL0", "mrs PMEVCNTR3_EL0", "mrs PMXEVCNTR_EL0", "msr PMSELR_EL0".
    pub insn: String,
    /// `common::event::ReadReg` as u32.
    pub reg: u32,
    /// Counter fixed by the encoding (arm64), None where a register picks it.
    pub counter: Option<u32>,
    /// `function+0xoff` when a symbol covers the address.
    pub symbol: Option<String>,
    /// `file:line` when the binary or its separate debug file has line tables.
    #[serde(default)]
    pub line: Option<String>,
}

impl Site {
    /// `rdpmc at f+0x22 (src/x.c:74) in /path/file`: where a person goes to change the code.
    pub fn describe(&self) -> String {
        let at = self
            .symbol
            .clone()
            .unwrap_or_else(|| format!("{:#x}", self.vaddr));
        match &self.line {
            Some(line) => format!("{} at {at} ({line}) in {}", self.insn, self.file.display()),
            None => format!("{} at {at} in {}", self.insn, self.file.display()),
        }
    }
}

/// A known reader function whose return value is traced (libperf, PAPI).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReaderFn {
    /// Index in the reader table; the uretprobe's cookie carries it into `ReaderCall::func`.
    pub id: u32,
    pub file: PathBuf,
    pub symbol: String,
}

/// Reader functions worth a uretprobe when their symbol is present (their returns bound the
/// seqlock loop: a second read at one site within a call is a retry). The last is `pmuwatch
/// demo`'s own self-read, the libperf protocol under its own name.
pub const KNOWN_READERS: &[&str] = &[
    "perf_evsel__read",
    "perf_mmap__read_self",
    "PAPI_read",
    "PAPI_read_ts",
    "pmuwatch_demo_read_self",
];
