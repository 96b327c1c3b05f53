//! What a trace says about itself: the JSON meta section written before the events, and the
//! trailer written in the `End` block when a recording finishes cleanly.
//!
//! Parts whose types other modules own (the doctor snapshot, the probe coverage report, the
//! read sites) are kept as `serde_json::Value`, so a file written by one build still reads
//! in another whatever those types became. Unknown keys are kept too (`extra`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The meta section.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// `pmuwatch` version that wrote the file (also in the preamble).
    #[serde(default)]
    pub tool_version: String,
    /// `common::ABI_VERSION` of the records (also in the preamble).
    #[serde(default)]
    pub abi_version: u32,
    /// Wall-clock start, nanoseconds since the Unix epoch.
    #[serde(default)]
    pub start_unix_ns: u64,
    /// CLOCK_MONOTONIC at the same instant: record timestamps are on this clock, so
    /// `unix = start_unix_ns + (ts_ns - start_monotonic_ns)`.
    #[serde(default)]
    pub start_monotonic_ns: u64,
    /// The recorder's command line.
    #[serde(default)]
    pub command_line: Vec<String>,
    #[serde(default)]
    pub target: Target,
    /// The `doctor` snapshot (`sys::Facts`): kernel, CPU types, PMUs, sysctls, attach methods.
    #[serde(default)]
    pub facts: Value,
    /// Which probes attached and how (the probe layer's coverage report).
    #[serde(default)]
    pub coverage: Value,
    /// Read sites found in the target, with their symbols (ids match `DirectRead::site`).
    #[serde(default)]
    pub sites: Value,
    /// Keys this build does not know, kept as they were.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What was traced.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(default)]
    pub system_wide: bool,
}

/// Written last, in the `End` block. A file without one did not finish cleanly.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Trailer {
    /// Why recording stopped ("duration", "interrupted", "target exited", ...).
    #[serde(default)]
    pub stop_reason: String,
    #[serde(default)]
    pub end_unix_ns: u64,
    /// Event records written (the `Lost` records among them).
    #[serde(default)]
    pub events: u64,
    /// Event blocks written.
    #[serde(default)]
    pub blocks: u64,
    /// Records the kernel dropped, summed over the `Lost` records.
    #[serde(default)]
    pub lost: u64,
    /// Anything else the recorder wants to keep (final coverage, exit status of the target).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Nanoseconds since the Unix epoch, now.
pub fn unix_now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// CLOCK_MONOTONIC now, in nanoseconds: the clock of `bpf_ktime_get_ns`.
pub fn monotonic_now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

impl Meta {
    /// A meta for a recording starting now, with this build's versions.
    pub fn now(command_line: Vec<String>, target: Target) -> Meta {
        Meta {
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            abi_version: common::ABI_VERSION,
            start_unix_ns: unix_now_ns(),
            start_monotonic_ns: monotonic_now_ns(),
            command_line,
            target,
            ..Meta::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_survive_a_round_trip() {
        let text = r#"{"tool_version":"9.9","future_key":{"a":1},"facts":{"kernel":"6.18"}}"#;
        let m: Meta = serde_json::from_str(text).unwrap();
        assert_eq!(m.tool_version, "9.9");
        assert_eq!(m.facts["kernel"], "6.18");
        let back: Value = serde_json::to_value(&m).unwrap();
        assert_eq!(back["future_key"]["a"], 1);
    }
}
