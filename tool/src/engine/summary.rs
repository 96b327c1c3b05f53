//! The engine's serializable views: counts, task rows, CPU lanes, the whole summary.
//!
//! Field names are stable: `report --json` prints [`Summary`] and tests (issue 3's
//! acceptance) compare them with the demo's own counts. Add fields, never rename.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{classify::Outcome, findings::Finding, state::Toggle};

/// Reads by classified outcome (see the module doc of [`crate::engine`] for the rules).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadCounts {
    pub ok: u64,
    pub seq_retry: u64,
    pub index0_fallback: u64,
    pub trap: u64,
    pub silent_wrong_pmu: u64,
    /// Direct reads seen (uprobe) whose outcome is not known yet: the reader has not done
    /// anything else since. `Engine::flush` settles them.
    pub pending: u64,
}

impl ReadCounts {
    pub fn get(&self, o: Outcome) -> u64 {
        match o {
            Outcome::Ok => self.ok,
            Outcome::SeqRetry => self.seq_retry,
            Outcome::Index0Fallback => self.index0_fallback,
            Outcome::Trap => self.trap,
            Outcome::SilentWrongPmu => self.silent_wrong_pmu,
        }
    }

    /// Classified reads (pending ones left out).
    pub fn total(&self) -> u64 {
        self.ok + self.seq_retry + self.index0_fallback + self.trap + self.silent_wrong_pmu
    }

    pub(crate) fn add(&mut self, o: &ReadCounts) {
        self.ok += o.ok;
        self.seq_retry += o.seq_retry;
        self.index0_fallback += o.index0_fallback;
        self.trap += o.trap;
        self.silent_wrong_pmu += o.silent_wrong_pmu;
        self.pending += o.pending;
    }
}

/// Counts kept per task and in total.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Traps on counter reads (SIGILL on arm64, SIGSEGV on x86): `reads.trap`.
    pub traps: u64,
    /// SIGILL/SIGSEGV records that were not a counter read.
    pub other_signals: u64,
    /// `read(2)` calls on perf fds (`PerfRead` records): `reads.index0_fallback`.
    pub fallback_reads: u64,
    /// `sched_migrate_task` records.
    pub migrations: u64,
    /// `perf_event_open` calls, failed ones included.
    pub perf_opens: u64,
    pub perf_open_failed: u64,
    /// `ioctl` calls on perf fds.
    pub ioctls: u64,
    pub mmaps: u64,
    /// Successful `munmap` calls that unmapped a perf mapping (other munmaps are not counted).
    pub munmaps: u64,
    pub closes: u64,
    /// `DirectRead` records (uprobes on read sites).
    pub direct_reads: u64,
    /// Returns of known reader functions.
    pub reader_calls: u64,
    pub page_samples: u64,
    /// Mmap page `lock` changes between two samples of one event.
    pub lock_changes: u64,
    pub reads: ReadCounts,
    /// User-access toggles (on <-> off); per task, the ones it caused.
    pub toggles: u64,
}

impl Counts {
    pub(crate) fn add(&mut self, o: &Counts) {
        self.traps += o.traps;
        self.other_signals += o.other_signals;
        self.fallback_reads += o.fallback_reads;
        self.migrations += o.migrations;
        self.perf_opens += o.perf_opens;
        self.perf_open_failed += o.perf_open_failed;
        self.ioctls += o.ioctls;
        self.mmaps += o.mmaps;
        self.munmaps += o.munmaps;
        self.closes += o.closes;
        self.direct_reads += o.direct_reads;
        self.reader_calls += o.reader_calls;
        self.page_samples += o.page_samples;
        self.lock_changes += o.lock_changes;
        self.reads.add(&o.reads);
        self.toggles += o.toggles;
    }
}

/// Totals over the whole stream.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    #[serde(flatten)]
    pub counts: Counts,
    /// Records the kernel could not deliver (ring buffer full), all CPUs.
    pub lost: u64,
    /// Records fed to the engine.
    pub records: u64,
}

/// A user-readable event a task holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventInfo {
    /// None once closed while still mmapped.
    pub fd: Option<i32>,
    pub attr_type: u32,
    pub config: u64,
    pub config1: u64,
    /// The PMU the event belongs to, when the engine could tell.
    pub pmu_type: Option<u32>,
    pub pmu: Option<String>,
    /// Backed by a hardware counter (not a software/tracepoint event).
    pub hardware: bool,
    /// User reads requested (arm64: config1 bit 1; x86: any hardware event).
    pub rdpmc: bool,
    pub enabled: bool,
    pub mmapped: bool,
    /// Counter number (`index - 1`), when a page sample or a read told.
    pub counter: Option<u32>,
    /// The task the event counts (None: CPU-wide).
    pub owner_tid: Option<u32>,
}

/// One row of the tasks view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRow {
    pub tid: u32,
    pub pid: u32,
    pub comm: String,
    /// Last CPU seen.
    pub cpu: Option<u32>,
    pub running: bool,
    pub exited: bool,
    /// Every CPU it was seen on, sorted.
    pub cpus: Vec<u32>,
    /// Its process's user-readable events (those bound to this thread first).
    pub events: Vec<EventInfo>,
    pub counts: Counts,
    /// Records about this task, by kind name (`sched_switch`, `trap`, ...), non-zero only.
    pub records: BTreeMap<String, u64>,
    pub first_ts_ns: u64,
    pub last_ts_ns: u64,
}

/// Keys the tasks view sorts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskSort {
    Tid,
    Traps,
    Fallbacks,
    Silent,
    Migrations,
    Toggles,
    Reads,
    LastSeen,
}

impl TaskSort {
    /// Sorts rows, biggest first for counts, ties by tid.
    pub fn sort(self, rows: &mut [TaskRow]) {
        let key = |r: &TaskRow| -> u64 {
            match self {
                TaskSort::Tid => 0,
                TaskSort::Traps => r.counts.traps,
                TaskSort::Fallbacks => r.counts.fallback_reads,
                TaskSort::Silent => r.counts.reads.silent_wrong_pmu,
                TaskSort::Migrations => r.counts.migrations,
                TaskSort::Toggles => r.counts.toggles,
                TaskSort::Reads => r.counts.reads.total(),
                TaskSort::LastSeen => r.last_ts_ns,
            }
        };
        rows.sort_by(|a, b| key(b).cmp(&key(a)).then(a.tid.cmp(&b.tid)));
    }
}

/// User access on a CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserAccess {
    On,
    Off,
    Unknown,
}

/// One lane of the CPUs view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuLane {
    pub cpu: u32,
    pub pmu_type: Option<u32>,
    pub pmu: Option<String>,
    pub model: Option<String>,
    /// Running task (tid 0: idle or not a traced task).
    pub running_pid: u32,
    pub running_tid: u32,
    pub running_comm: String,
    pub access: UserAccess,
    /// Access state comes from a driver hook (ground truth) rather than the switch model.
    pub hooked: bool,
    pub toggles: u64,
    /// Toggles in the last complete second of event time.
    pub toggles_per_s: u64,
    pub peak_toggles_per_s: u64,
    /// Toggles per second, oldest first, last 60 seconds (the current one last).
    pub toggle_history: Vec<u32>,
    /// The last few toggles with their causes, oldest first.
    pub recent_toggles: Vec<Toggle>,
    pub traps: u64,
    pub fallbacks: u64,
    pub silent: u64,
    pub lost: u64,
}

/// Rates over the last complete second of event time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rates {
    pub records_per_s: u64,
    pub reads_per_s: u64,
    pub traps_per_s: u64,
    pub fallbacks_per_s: u64,
    pub toggles_per_s: u64,
    pub lost_per_s: u64,
}

/// Bounds that were hit: what the engine stopped tracking in detail.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dropped {
    /// Records of tasks beyond the task table's bound (counted in totals only).
    pub untracked_task_records: u64,
    /// Exited tasks folded into `exited` to bound memory.
    pub folded_tasks: u64,
    /// Findings not opened because the finding table was full.
    pub findings: u64,
    /// Events beyond a process's bound of tracked perf events.
    pub perf_events: u64,
    /// Records whose CPU number is beyond the bound (per-CPU state skipped).
    pub bad_cpu_records: u64,
}

/// Everything `report --json` prints.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// Schema version of this structure.
    pub schema: u32,
    pub first_ts_ns: u64,
    pub last_ts_ns: u64,
    pub totals: Totals,
    /// Records per kind name, every kind listed.
    pub records: BTreeMap<String, u64>,
    /// Lost records per CPU.
    pub lost_per_cpu: BTreeMap<u32, u64>,
    pub tasks: Vec<TaskRow>,
    /// Counts of exited tasks folded away to bound memory.
    pub exited: Counts,
    pub cpus: Vec<CpuLane>,
    /// Newest first.
    pub findings: Vec<Finding>,
    pub dropped: Dropped,
}
