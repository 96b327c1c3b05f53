//! The pure correlation engine (issue 4): records in, state, classified reads and findings
//! out. No I/O, no clock (time is the records' timestamps), deterministic (lookups may hash,
//! every output is sorted), cost linear in records, memory bounded by live tasks.
//!
//! ```text
//! let mut e = Engine::new(facts);
//! for ev in stream { e.feed(&ev); }
//! e.flush();                       // end of a file: settle reads still waiting
//! let s = e.summary();             // serde, `report --json`
//! ```
//!
//! # State
//! - Per process: its perf fd table (events with PMU, type, config, `config1` rdpmc bit,
//!   counter number when known, enabled from attr bit 0 and ioctls, mmapped), and the x86
//!   model of `perf_rdpmc_allowed` (mapped hardware events).
//! - Per task (thread): CPUs it ran on (switch-ins, migrations, its own records), migrations,
//!   reads by outcome, toggles it caused, the arm64 model of `nr_user` (user-readable events
//!   counting it), records by kind.
//! - Per CPU: PMU type (facts), running task, user access on/off/unknown with each toggle and
//!   its cause, toggles per second (event time), traps, fallbacks, silent reads, lost records.
//!
//! # User access on a CPU
//! - A driver hook record (`HookToggle`) is ground truth: from the first one on a CPU, that
//!   CPU follows hooks only. Its cause is the context switch on that CPU within 1 ms before,
//!   else the last perf syscall or sysctl change within 1 ms, else the hook itself.
//! - Otherwise a `SchedSwitch` sets it: the kernel-side model value when its source is the
//!   model (resyncing silently to its `prev_access`), else the engine's own model: off when the
//!   sysctl is off; x86 `rdpmc=2` on; arm64 on iff the incoming task has user-readable events
//!   (`nr_user`), x86 on iff its process has mapped hardware events.
//! - Model side effects between switches: arm64 `perf_event_open` of an enabled user-readable
//!   event for the caller turns its CPU on; x86 the first `mmap` of a hardware event turns on
//!   the CPUs running that process and the last `munmap`/`exec` turns them off; a sysctl going
//!   to 0 turns every CPU off (the kernel does it by IPI), x86 `rdpmc=2` turns every CPU on.
//! - A toggle is a change between on and off (unknown -> known is not one). It is counted on
//!   the CPU and on the task that caused it: the incoming task when access goes on at a
//!   switch, the outgoing one when it goes off, the caller for syscalls.
//!
//! # Read outcomes
//! - `DirectRead` (uprobe before the instruction) leaves a pending read on its thread. The
//!   thread's next record settles it: a `Trap` at the same ip (or ip 0) -> `trap`; anything else
//!   -> it executed (`flush` settles the rest). An executed read is `silent-wrong-pmu` when the
//!   event's PMU does not cover the CPU (cause wrong-pmu), when the reader holds no
//!   user-readable hardware event (no-event: access was left on), or when the event is
//!   disabled (event-disabled: stale value); else `ok`.
//! - The event a direct read refers to: the one whose counter number (`index - 1` from a page
//!   sample, or learnt from an earlier read) matches; for counter 31 on arm64 a cycles event;
//!   else the first mapped user-readable event.
//! - Seqlock retries need the reader's boundaries: when a known reader function returns
//!   (`ReaderCall`), every read of that call followed by another read at the same site turns
//!   from `ok` (or `silent-wrong-pmu`) into `seq-retry`. A call is what lies between two
//!   returns (the first: since the thread started). Without reader returns no retry is told
//!   apart from the next read (a loop reading one counter looks the same). The recent-reads
//!   ring and findings keep the read as first classified.
//! - `Trap` without a pending read is still a `trap` when it is a counter read: the bytes
//!   decode as one (`common::insn`), or none could be read and the signal has the counter-read
//!   signature (arm64 SIGILL ILL_ILLOPC, x86 SIGSEGV SI_KERNEL 0x80). Other signals are counted
//!   as `other_signals`. Trap causes, first match: no hardware PMU, sysctl off, reader holds no
//!   user-readable event, CPU outside the event's PMU, software event, event disabled, access
//!   off on the CPU, unknown. The preceding migration and last access change are kept.
//! - `PerfRead` (`read(2)` on a perf fd) is an `index0-fallback`. Causes, first match: unknown
//!   fd, software event (no hardware counter), sysctl off, arm64 event without config1 bit 1,
//!   event disabled, CPU outside the event's PMU, event not mmapped, last page sample index 0
//!   (unscheduled), unknown.
//! - `PageSample`s teach counter numbers and count `lock` changes (`lock_changes`); without
//!   uprobes no read is seen, so seq retries are only counted where reads are visible.
//!
//! # Bounds
//! Recent records: [`RECENT_EVENTS`]. Tasks: [`MAX_TASKS`] (records of more are counted in
//! totals only). Exited tasks keep their row up to [`EXITED_KEEP`], then fold into
//! `Summary::exited`. Findings: [`findings::MAX_FINDINGS`], evidence a few records each.
//! Per process [`MAX_EVENTS_PER_PROCESS`] perf events; CPUs below [`MAX_CPUS`]. Every bound
//! hit is counted in `Summary::dropped`. Lost records are always in the summary.

mod classify;
mod describe;
mod facts;
mod findings;
mod ingest;
pub mod script;
mod state;
mod summary;
pub mod table;
mod views;

use std::collections::{BTreeMap, VecDeque};

use classify::{Ctx, Sysctl};
pub use classify::{FallbackCause, Outcome, SilentCause, TrapCause};
use common::Event;
pub use describe::{EventRow, describe, ioctl_name, reg_name};
pub use facts::{Arch, CpuFacts, Facts, Pmu, cpu_list, examples};
use findings::Findings;
pub use findings::{Finding, FindingKind, MAX_FINDINGS, Severity, thousands};
use serde::{Deserialize, Serialize};
use state::{Cpu, IdMap, KIND_SLOTS, Process, Task};
pub use state::{Migration, Ring, Toggle, ToggleCause};
pub use summary::{
    Counts, CpuLane, Dropped, EventInfo, Rates, ReadCounts, Summary, TaskRow, TaskSort, Totals,
    UserAccess,
};

/// `PERF_EVENT_IOC_ENABLE` / `PERF_EVENT_IOC_DISABLE`.
pub const IOC_ENABLE: u32 = 0x2400;
pub const IOC_DISABLE: u32 = 0x2401;
/// Recent records kept for the event log and evidence.
pub const RECENT_EVENTS: usize = 1024;
/// Recent classified reads kept.
pub const RECENT_READS: usize = 1024;
pub const MAX_TASKS: usize = 1 << 17;
pub const EXITED_KEEP: usize = 4096;
pub const MAX_CPUS: u32 = 4096;
pub const MAX_EVENTS_PER_PROCESS: usize = 1024;
/// Toggles within one second of event time on one CPU that make a churn finding.
pub const CHURN_PER_S: u32 = 100;
/// How close a cause must be to a hook-reported toggle to be blamed for it.
const CAUSE_WINDOW_NS: u64 = 1_000_000;

/// Why a read got its outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", content = "cause", rename_all = "snake_case")]
pub enum ReadCause {
    None,
    Fallback(FallbackCause),
    Trap(TrapCause),
    Silent(SilentCause),
}

/// One classified read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadRecord {
    /// Number of this classification, from 1, for polling with [`Engine::reads_since`].
    pub seq: u64,
    /// When the read happened (its uprobe, trap or read(2) record).
    pub ts_ns: u64,
    pub cpu: u32,
    pub pid: u32,
    pub tid: u32,
    pub outcome: Outcome,
    pub cause: ReadCause,
    pub counter: Option<u32>,
    pub pmu_type: Option<u32>,
}

/// Per-second rates in event time.
#[derive(Clone, Copy, Debug, Default)]
struct RateWindow {
    sec: u64,
    cur: Rates,
    last: Rates,
}

impl RateWindow {
    fn advance(&mut self, now_ns: u64) {
        let sec = now_ns / 1_000_000_000;
        if sec > self.sec {
            self.last = if sec == self.sec + 1 {
                self.cur
            } else {
                Rates::default()
            };
            self.cur = Rates::default();
            self.sec = sec;
        }
    }
}

/// The correlation engine. Feed it records in stream order; query it any time.
#[derive(Clone, Debug)]
pub struct Engine {
    facts: Facts,
    tasks: IdMap<Task>,
    procs: IdMap<Process>,
    cpus: Vec<Cpu>,
    sysctl: Sysctl,
    totals: Counts,
    lost: u64,
    lost_per_cpu: BTreeMap<u32, u64>,
    records: u64,
    kinds: [u64; KIND_SLOTS],
    first_ts: Option<u64>,
    now: u64,
    recent: Ring<Event>,
    reads: Ring<ReadRecord>,
    read_seq: u64,
    findings: Findings,
    exited: VecDeque<u32>,
    folded: Counts,
    dropped: Dropped,
    rates: RateWindow,
    /// Last perf syscall / sysctl change, to blame hook-reported toggles on.
    last_action: Option<(u64, ToggleCause)>,
}

impl Engine {
    pub fn new(facts: Facts) -> Engine {
        let mut e = Engine {
            facts,
            tasks: IdMap::default(),
            procs: IdMap::default(),
            cpus: Vec::new(),
            sysctl: Sysctl::default(),
            totals: Counts::default(),
            lost: 0,
            lost_per_cpu: BTreeMap::new(),
            records: 0,
            kinds: [0; KIND_SLOTS],
            first_ts: None,
            now: 0,
            recent: Ring::new(RECENT_EVENTS),
            reads: Ring::new(RECENT_READS),
            read_seq: 0,
            findings: Findings::default(),
            exited: VecDeque::new(),
            folded: Counts::default(),
            dropped: Dropped::default(),
            rates: RateWindow::default(),
            last_action: None,
        };
        let known: Vec<u32> = e.facts.cpus.iter().map(|c| c.cpu).collect();
        for c in known {
            e.cpu_mut(c);
        }
        e
    }

    pub fn facts(&self) -> &Facts {
        &self.facts
    }

    /// Feeds every record of `events`.
    pub fn feed_all<'a>(&mut self, events: impl IntoIterator<Item = &'a Event>) {
        for ev in events {
            self.feed(ev);
        }
    }

    /// End of stream: settles direct reads still waiting for their thread's next record as
    /// executed. Live views need not call it; `report` on a file does.
    pub fn flush(&mut self) {
        let mut tids: Vec<u32> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.pending.is_some())
            .map(|(&tid, _)| tid)
            .collect();
        tids.sort_unstable();
        for tid in tids {
            self.settle_pending(tid);
        }
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            arch: self.facts.arch,
            facts: &self.facts,
            sysctl: &self.sysctl,
        }
    }

    fn cpu_mut(&mut self, cpu: u32) -> Option<&mut Cpu> {
        if cpu >= MAX_CPUS {
            return None;
        }
        while self.cpus.len() <= cpu as usize {
            let pmu = self.facts.cpu_pmu(self.cpus.len() as u32);
            self.cpus.push(Cpu::new(pmu));
        }
        self.cpus.get_mut(cpu as usize)
    }
}

#[cfg(test)]
mod tests;
