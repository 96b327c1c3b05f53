//! What the views draw: plain rows copied out of the engine once per frame, and not at all
//! while the view is paused (the frozen snapshot). This file is the only place that knows
//! the engine's API: [`Model`] is the seam (`feed` events in, `fill` rows out).

use common::{Access, Event};

/// A source of view rows: the correlation engine, fed event by event.
pub trait Model {
    /// Ingests one event (in stream order).
    fn feed(&mut self, e: &Event);
    /// Ingests a batch; the default feeds one by one.
    fn feed_batch(&mut self, batch: &[Event]) {
        for e in batch {
            self.feed(e);
        }
    }
    /// Copies the current state into `snap`, reusing its allocations.
    fn fill(&self, snap: &mut Snapshot);
    /// Forgets everything (replay seeks backwards by re-feeding from the start).
    fn reset(&mut self);
    /// End of a stream (a replayed file): settle what waits for more records.
    fn flush(&mut self) {}
}

/// Direct reads by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadCounts {
    pub ok: u64,
    pub seq_retry: u64,
    pub index0_fallback: u64,
    pub trap: u64,
    pub silent_wrong_pmu: u64,
}

impl ReadCounts {
    pub fn total(&self) -> u64 {
        self.ok + self.seq_retry + self.index0_fallback + self.trap + self.silent_wrong_pmu
    }

    /// Reads that did not give the right value the fast way.
    pub fn bad(&self) -> u64 {
        self.index0_fallback + self.trap + self.silent_wrong_pmu
    }
}

/// One user-readable event a task holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserEvent {
    /// PMU name (`armv8_cortex_a53`, `cpu`, `software`).
    pub pmu: String,
    /// Hardware counter it sits on (`index - 1`), when known.
    pub counter: Option<u32>,
    pub enabled: bool,
}

/// One thread.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskRow {
    pub pid: u32,
    pub tid: u32,
    pub comm: String,
    /// CPU it runs on now (or last ran on).
    pub cpu: Option<u32>,
    pub events: Vec<UserEvent>,
    pub reads: ReadCounts,
    pub migrations: u64,
    /// User-access toggles caused by this task (switches in/out, ioctls, mmaps).
    pub toggles: u64,
    pub alive: bool,
}

/// The task running on a CPU.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Running {
    pub pid: u32,
    pub tid: u32,
    pub comm: String,
}

/// One CPU lane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuRow {
    pub cpu: u32,
    /// Core PMU counting on it: lanes are grouped by this (big.LITTLE, hybrid).
    pub pmu: Option<String>,
    /// Core type (`cortex-a53`, `core`), when known.
    pub kind: Option<String>,
    pub running: Option<Running>,
    pub access: Access,
    /// Access comes from a driver hook (exact), not the context-switch model.
    pub exact: bool,
    /// Cumulative user-access toggles.
    pub toggles: u64,
    /// Toggles in the last complete second, and per second before it (oldest first).
    pub toggles_per_s: u64,
    pub toggle_history: Vec<u64>,
    pub traps: u64,
    /// Reads that aborted here (index-0 fallbacks and traps).
    pub aborts: u64,
}

impl Default for CpuRow {
    fn default() -> CpuRow {
        CpuRow {
            cpu: 0,
            pmu: None,
            kind: None,
            running: None,
            access: Access::Unknown,
            exact: false,
            toggles: 0,
            toggles_per_s: 0,
            toggle_history: Vec::new(),
            traps: 0,
            aborts: 0,
        }
    }
}

/// How much a finding matters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    #[default]
    Info,
    Warning,
    Error,
}

impl Severity {
    /// Tag that reads without colour.
    pub fn tag(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "WARN",
            Severity::Error => "ERROR",
        }
    }
}

/// One event of a finding's evidence, described.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EvidenceRow {
    pub ts_ns: u64,
    pub cpu: u32,
    pub pid: u32,
    pub tid: u32,
    /// Record kind name (`trap`, `migrate`).
    pub kind: String,
    pub text: String,
}

impl EvidenceRow {
    pub fn of(e: &Event) -> EvidenceRow {
        let h = e.header();
        let mut text = String::new();
        super::describe::details(e, &mut text);
        EvidenceRow {
            ts_ns: h.ts_ns,
            cpu: h.cpu,
            pid: h.pid,
            tid: h.tid,
            kind: e.kind().name().to_string(),
            text,
        }
    }
}

/// One finding with its remedy and the events that show it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FindingRow {
    /// The engine's creation number (1, 2, ...): the order findings appeared in, which
    /// stays put while their counts and last occurrences change.
    pub id: u64,
    /// First occurrence.
    pub ts_ns: u64,
    pub last_ts_ns: u64,
    /// Occurrences.
    pub count: u64,
    pub severity: Severity,
    /// Short rule name (`trap-wrong-pmu`, `toggle-churn`).
    pub rule: String,
    /// What happened, in one sentence.
    pub text: String,
    /// What to change.
    pub remedy: String,
    /// Threads and CPUs involved (the first few).
    pub tasks: Vec<u32>,
    pub cpus: Vec<u32>,
    /// The records around the first occurrence, oldest first.
    pub evidence: Vec<EvidenceRow>,
    /// Read-site id of the read behind it (names in `app::Source::sites`).
    pub site: Option<u32>,
}

/// Whole-stream counts (exited tasks folded away by the engine included).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub reads: ReadCounts,
    pub traps: u64,
    pub fallback_reads: u64,
    pub migrations: u64,
    pub toggles: u64,
    pub perf_opens: u64,
    pub ioctls: u64,
}

/// Everything the views draw from the engine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub totals: Totals,
    pub tasks: Vec<TaskRow>,
    pub cpus: Vec<CpuRow>,
    /// Oldest first, by [`FindingRow::id`] (views show newest first): an index stays put as
    /// findings are updated and new ones arrive.
    pub findings: Vec<FindingRow>,
}
