//! Trace files (issue 5): a self-describing recording of one event stream.
//!
//! A file is a preamble (magic, format version, event ABI version, tool version), a JSON
//! [`Meta`] (doctor snapshot, probe coverage, read sites, command line, start time), then
//! blocks of raw `common` event records, each zstd-compressed with its own length and CRC32
//! (layout in [`format`]). Writers produce it with [`TraceWriter`]; [`TraceReader`] streams
//! the events back with bounded memory and reports in [`Damage`] what was cut or skipped.
//!
//! ```no_run
//! # fn demo(events: &[common::Event]) -> anyhow::Result<()> {
//! use pmuwatch::trace::{Meta, Target, Trailer, TraceReader, TraceWriter};
//! let path = std::path::Path::new("t.pmw");
//! let mut w = TraceWriter::create(path, &Meta::now(vec![], Target::default()))?;
//! for e in events {
//!     w.push(e)?;
//! }
//! w.finish(&Trailer::default())?;
//! let mut r = TraceReader::open(path)?;
//! for e in r.by_ref() { /* feed the engine */ }
//! println!("{}", r.damage().describe());
//! # Ok(()) }
//! ```

pub mod format;
pub mod meta;
pub mod reader;
pub mod synth;
pub mod writer;

use std::path::Path;

pub use meta::{Meta, Target, Trailer, monotonic_now_ns};
pub use reader::{Damage, FileInfo, TraceReader};
pub use writer::{TraceWriter, WriteStats};

/// Why a file cannot be read as a trace at all. Damage inside a readable trace is not an
/// error: it is counted in [`Damage`].
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("the file is empty")]
    Empty,
    #[error("not a pmuwatch trace (no PMUWATCH magic at the start)")]
    NotATrace,
    #[error("the trace header is cut short")]
    ShortHeader,
    #[error("the trace header is damaged ({0})")]
    BadHeader(String),
    #[error(
        "written by a newer pmuwatch{} (trace format {format}; this build reads up to {})",
        tool.as_deref().map(|t| format!(" {t}")).unwrap_or_default(),
        format::FORMAT_VERSION
    )]
    FutureFormat { format: u32, tool: Option<String> },
    #[error(
        "written by pmuwatch {tool} with event ABI {abi}; this build reads up to {}",
        common::ABI_VERSION
    )]
    FutureAbi { abi: u32, tool: String },
    #[error("the trace was recorded on a machine of the other byte order")]
    ForeignEndian,
    #[error("read error: {0}")]
    Io(#[from] std::io::Error),
}

impl TraceError {
    /// What the user can do about it.
    pub fn remedy(&self) -> &'static str {
        match self {
            TraceError::Open { .. } => "check the path and its permissions (traces are 0600)",
            TraceError::Empty | TraceError::ShortHeader => {
                "the recording wrote nothing usable; record again with `pmuwatch record -o FILE`"
            }
            TraceError::NotATrace => "give a file written by `pmuwatch record`",
            TraceError::BadHeader(_) => {
                "the file is corrupted at its start; record again or use another copy"
            }
            TraceError::FutureFormat { .. } | TraceError::FutureAbi { .. } => {
                "open it with the pmuwatch version that wrote it, or a newer one"
            }
            TraceError::ForeignEndian => "read it on a machine like the one that recorded it",
            TraceError::Io(_) => "check the disk and the file",
        }
    }
}

/// Opens a trace for a command: errors become one line with cause and fix.
pub fn open(path: &Path) -> anyhow::Result<TraceReader<std::io::BufReader<std::fs::File>>> {
    TraceReader::open(path).map_err(|e| {
        let cause = match &e {
            TraceError::Open { .. } => e.to_string(),
            _ => format!("{}: {e}", path.display()),
        };
        crate::error::fix(cause, e.remedy())
    })
}
