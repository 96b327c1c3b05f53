//! Per-task, per-process and per-CPU state, and the bounded containers that hold it.

use std::collections::VecDeque;

use common::ReadReg;
use serde::{Deserialize, Serialize};

use super::{
    classify::Outcome,
    summary::{Counts, EventInfo, UserAccess},
};

/// Record kinds are numbered 1..=19; index 0 is unused.
pub(crate) const KIND_SLOTS: usize = 20;

/// A fixed-capacity ring: pushing past the capacity drops the oldest.
#[derive(Clone, Debug)]
pub struct Ring<T> {
    cap: usize,
    items: VecDeque<T>,
}

impl<T> Ring<T> {
    pub fn new(cap: usize) -> Self {
        Ring {
            cap: cap.max(1),
            items: VecDeque::with_capacity(cap.max(1)),
        }
    }

    pub fn push(&mut self, t: T) {
        if self.items.len() == self.cap {
            self.items.pop_front();
        }
        self.items.push_back(t);
    }

    /// Oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator {
        self.items.iter()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn last(&self) -> Option<&T> {
        self.items.back()
    }
}

/// A migration as the task saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Migration {
    pub ts_ns: u64,
    pub from: u32,
    pub to: u32,
}

/// Why a CPU's user access changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum ToggleCause {
    /// A context switch between a task with user-readable events and one without.
    ContextSwitch { prev_tid: u32, next_tid: u32 },
    /// `perf_event_open` of a user-readable event by the running task (arm64 model).
    Open { tid: u32 },
    /// An ioctl (enable/disable) just before a driver hook reported the change.
    Ioctl { tid: u32 },
    /// `mmap` of a hardware event (x86: raises `perf_rdpmc_allowed`).
    Mmap { tid: u32 },
    /// `munmap` of the last mapped hardware event (x86).
    Munmap { tid: u32 },
    /// `close` of an event just before a driver hook reported the change.
    Close { tid: u32 },
    /// `exec` dropped the mappings (x86: new mm).
    Exec { tid: u32 },
    /// `kernel.perf_user_access` / x86 `rdpmc` changed.
    Sysctl,
    /// A driver hook reported it with no other cause nearby.
    Hook { hook: u32 },
}

/// One access change on a CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Toggle {
    pub ts_ns: u64,
    pub on: bool,
    #[serde(flatten)]
    pub cause: ToggleCause,
}

/// A user-readable (or software) perf event in a process's fd table.
#[derive(Clone, Debug)]
pub(crate) struct UserEvent {
    pub fd: Option<i32>,
    pub attr_type: u32,
    pub config: u64,
    pub config1: u64,
    pub pmu: Option<u32>,
    pub hardware: bool,
    pub rdpmc: bool,
    pub enabled: bool,
    pub mmapped: bool,
    pub map_addr: u64,
    pub map_len: u64,
    pub counter: Option<u32>,
    pub owner_tid: Option<u32>,
    pub inherit: bool,
    pub cloexec: bool,
    pub group_fd: i32,
    pub last_lock: Option<u32>,
    pub last_index: Option<u32>,
    /// A copy of a parent's fd after fork: the same kernel event, counted once.
    pub dup: bool,
}

impl UserEvent {
    /// Counts toward the owner's `nr_user` (arm64) / the mm's `perf_rdpmc_allowed` (x86).
    pub fn user_readable(&self) -> bool {
        self.hardware && self.rdpmc
    }

    pub fn info(&self, facts: &super::Facts) -> EventInfo {
        EventInfo {
            fd: self.fd,
            attr_type: self.attr_type,
            config: self.config,
            config1: self.config1,
            pmu_type: self.pmu,
            pmu: self.pmu.map(|t| facts.pmu_name(t)),
            hardware: self.hardware,
            rdpmc: self.rdpmc,
            enabled: self.enabled,
            mmapped: self.mmapped,
            counter: self.counter,
            owner_tid: self.owner_tid,
        }
    }
}

/// A thread group: the fd table and mappings are per process.
#[derive(Clone, Debug, Default)]
pub(crate) struct Process {
    pub events: Vec<UserEvent>,
    /// x86 model of `mm->context.perf_rdpmc_allowed`: mapped hardware events.
    pub mapped_hw: u32,
}

impl Process {
    pub fn event_by_fd(&self, fd: i32) -> Option<usize> {
        self.events.iter().position(|e| e.fd == Some(fd))
    }

    /// Any live event with a hardware counter and user reads requested.
    pub fn has_user_event(&self) -> bool {
        self.events.iter().any(|e| e.user_readable())
    }

    /// The event a direct read of `counter` refers to: the one known to sit on that counter,
    /// else (arm64 31 = PMCCNTR) a cycles event, else the only mapped user-readable event
    /// without a known counter, else the first mapped user-readable one.
    /// Events bound to the reading thread `tid` are preferred: threads of one process each
    /// hold their own events, on the same counter numbers.
    pub fn event_for(&self, tid: u32, counter: Option<u32>) -> Option<usize> {
        let own = |e: &UserEvent| e.owner_tid == Some(tid);
        self.pick(counter, &own)
            .or_else(|| self.pick(counter, &|_| true))
    }

    #[cfg(test)]
    pub fn event_for_counter(&self, counter: Option<u32>) -> Option<usize> {
        self.pick(counter, &|_| true)
    }

    fn pick(&self, counter: Option<u32>, ok: &dyn Fn(&UserEvent) -> bool) -> Option<usize> {
        if let Some(c) = counter
            && let Some(i) = self
                .events
                .iter()
                .position(|e| ok(e) && e.counter == Some(c))
        {
            return Some(i);
        }
        // No allocation: this runs for every direct read.
        let mapped = |e: &UserEvent| ok(e) && e.mmapped && e.rdpmc;
        let unknown = |e: &UserEvent| mapped(e) && e.counter.is_none();
        if counter == Some(31) {
            // PERF_COUNT_HW_CPU_CYCLES (0) or the armv8 CPU_CYCLES event (0x11).
            let cycles = |e: &UserEvent| e.config & 0xffff_ffff == 0 || e.config == 0x11;
            if let Some(i) = self.events.iter().position(|e| unknown(e) && cycles(e)) {
                return Some(i);
            }
        }
        self.events
            .iter()
            .position(unknown)
            .or_else(|| self.events.iter().position(mapped))
    }
}

/// A direct read seen at its uprobe, waiting for a trap or the task's next record.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PendingRead {
    pub ts_ns: u64,
    pub cpu: u32,
    pub ip: u64,
    pub counter: Option<u32>,
    pub reg: ReadReg,
    /// Read-site id (index in the live source's / trace's site table).
    pub site: Option<u32>,
}

#[derive(Clone, Debug)]
pub(crate) struct Task {
    pub tid: u32,
    pub pid: u32,
    pub comm: [u8; 16],
    pub cpu: Option<u32>,
    pub running: bool,
    pub exited: bool,
    pub cpus: Vec<u32>,
    pub counts: Counts,
    pub records: [u64; KIND_SLOTS],
    pub last_migration: Option<Migration>,
    pub pending: Option<PendingRead>,
    /// Site and outcome (ok or silent) of the last direct read that executed, since the last
    /// reader return.
    pub last_exec: Option<(u64, Outcome)>,
    /// Executed reads followed by another read at the same site since the last reader return
    /// (ok, silent): seqlock retries once a reader return shows both were in one call.
    pub superseded: [u32; 2],
    /// arm64 model of `perf_event_ctxp->nr_user`: user-readable events counting this task.
    pub nr_user: u32,
    pub first_ts: u64,
    pub last_ts: u64,
}

impl Task {
    pub fn new(pid: u32, tid: u32, ts: u64) -> Task {
        Task {
            tid,
            pid,
            comm: [0; 16],
            cpu: None,
            running: false,
            exited: false,
            cpus: Vec::new(),
            counts: Counts::default(),
            records: [0; KIND_SLOTS],
            last_migration: None,
            pending: None,
            last_exec: None,
            superseded: [0; 2],
            nr_user: 0,
            first_ts: ts,
            last_ts: ts,
        }
    }

    pub fn seen_on(&mut self, cpu: u32) {
        self.cpu = Some(cpu);
        if let Err(i) = self.cpus.binary_search(&cpu) {
            self.cpus.insert(i, cpu);
        }
    }
}

pub(crate) const SPARK_SECONDS: usize = 60;
/// Task pairs tracked per CPU and second for the churn finding.
const PAIR_SLOTS: usize = 8;

/// Per-second toggle counting on one CPU.
#[derive(Clone, Debug, Default)]
pub(crate) struct ToggleRate {
    /// Second of event time the current bucket is for.
    pub sec: u64,
    pub cur: u32,
    /// The last complete second's count.
    pub last: u32,
    pub peak: u32,
    /// Counts of the last seconds, oldest first.
    pub spark: VecDeque<u32>,
    /// (prev tid, next tid, count) in the current second, for "between A and B".
    pub pairs: Vec<(u32, u32, u32)>,
}

impl ToggleRate {
    /// Moves the window to second `sec` (event time never goes back here: callers pass the
    /// engine's monotonic clock).
    pub fn advance(&mut self, sec: u64) {
        if sec <= self.sec && !self.spark.is_empty() {
            return;
        }
        if self.spark.is_empty() {
            self.sec = sec;
            self.spark.push_back(0);
            return;
        }
        let gap = sec - self.sec;
        self.last = if gap == 1 { self.cur } else { 0 };
        for _ in 0..gap.min(SPARK_SECONDS as u64) {
            if self.spark.len() == SPARK_SECONDS {
                self.spark.pop_front();
            }
            self.spark.push_back(0);
        }
        self.sec = sec;
        self.cur = 0;
        self.pairs.clear();
    }

    /// Counts one toggle; returns this second's count so far.
    pub fn hit(&mut self, pair: Option<(u32, u32)>) -> u32 {
        self.cur += 1;
        if let Some(s) = self.spark.back_mut() {
            *s = self.cur;
        }
        self.peak = self.peak.max(self.cur);
        if let Some((a, b)) = pair {
            let (a, b) = (a.min(b), a.max(b));
            if let Some(p) = self.pairs.iter_mut().find(|p| p.0 == a && p.1 == b) {
                p.2 += 1;
            } else if self.pairs.len() < PAIR_SLOTS {
                self.pairs.push((a, b, 1));
            }
        }
        self.cur
    }

    /// The pair of tasks behind most toggles this second.
    pub fn top_pair(&self) -> Option<(u32, u32)> {
        self.pairs
            .iter()
            .max_by(|x, y| x.2.cmp(&y.2).then(y.0.cmp(&x.0)))
            .map(|p| (p.0, p.1))
    }
}

pub(crate) const TOGGLE_HISTORY: usize = 16;

#[derive(Clone, Debug)]
pub(crate) struct Cpu {
    pub pmu: Option<u32>,
    pub running_pid: u32,
    pub running_tid: u32,
    pub running_comm: [u8; 16],
    pub access: UserAccess,
    pub hooked: bool,
    pub toggles: u64,
    pub history: Ring<Toggle>,
    pub rate: ToggleRate,
    pub traps: u64,
    pub fallbacks: u64,
    pub silent: u64,
    pub lost: u64,
    /// (ts, prev tid, next tid) of the last context switch.
    pub last_switch: Option<(u64, u32, u32)>,
    /// (ts, tid) of the last close of a user-readable event here.
    pub last_close: Option<(u64, u32)>,
    /// Names of the last two tasks switched in, for tasks the engine does not track.
    pub comms: [(u32, [u8; 16]); 2],
}

impl Cpu {
    pub fn new(pmu: Option<u32>) -> Cpu {
        Cpu {
            pmu,
            running_pid: 0,
            running_tid: 0,
            running_comm: [0; 16],
            access: UserAccess::Unknown,
            hooked: false,
            toggles: 0,
            history: Ring::new(TOGGLE_HISTORY),
            rate: ToggleRate::default(),
            traps: 0,
            fallbacks: 0,
            silent: 0,
            lost: 0,
            last_switch: None,
            last_close: None,
            comms: [(0, [0; 16]); 2],
        }
    }

    pub fn remember_comm(&mut self, tid: u32, comm: [u8; 16]) {
        if self.comms[0].0 != tid {
            self.comms[1] = self.comms[0];
            self.comms[0] = (tid, comm);
        }
    }
}

/// `comm` bytes up to the first NUL, lossily as UTF-8.
pub fn comm_str(c: &[u8; 16]) -> String {
    let end = c.iter().position(|&b| b == 0).unwrap_or(c.len());
    String::from_utf8_lossy(&c[..end]).into_owned()
}

/// FxHash-style hasher: fast for integer keys, the same on every run. Maps keyed with it are
/// only looked up; every output is sorted, so no iteration order leaks.
#[derive(Clone, Copy, Default)]
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(i as u64);
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

pub(crate) type IdMap<V> =
    std::collections::HashMap<u32, V, std::hash::BuildHasherDefault<IdHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_drops_the_oldest() {
        let mut r = Ring::new(2);
        r.push(1);
        r.push(2);
        r.push(3);
        assert_eq!(r.iter().copied().collect::<Vec<_>>(), vec![2, 3]);
    }

    #[test]
    fn toggle_rate_rolls_seconds_and_keeps_the_peak() {
        let mut t = ToggleRate::default();
        t.advance(10);
        t.hit(Some((1, 2)));
        t.hit(Some((2, 1)));
        assert_eq!(t.top_pair(), Some((1, 2)));
        t.advance(11);
        assert_eq!(t.last, 2);
        t.hit(None);
        t.advance(13);
        assert_eq!(t.last, 0);
        assert_eq!(t.peak, 2);
        assert_eq!(
            t.spark.iter().copied().collect::<Vec<_>>(),
            vec![2, 1, 0, 0]
        );
    }

    #[test]
    fn a_read_of_counter_31_maps_to_the_cycles_event() {
        let ev = |config, counter| UserEvent {
            fd: Some(3),
            attr_type: 10,
            config,
            config1: 2,
            pmu: Some(10),
            hardware: true,
            rdpmc: true,
            enabled: true,
            mmapped: true,
            map_addr: 0,
            map_len: 0,
            counter,
            owner_tid: None,
            inherit: false,
            cloexec: false,
            group_fd: -1,
            last_lock: None,
            last_index: None,
            dup: false,
        };
        let p = Process {
            events: vec![ev(0x8, Some(0)), ev(0x11, None)],
            mapped_hw: 2,
        };
        assert_eq!(p.event_for_counter(Some(31)), Some(1));
        assert_eq!(p.event_for_counter(Some(0)), Some(0));
        assert_eq!(p.event_for_counter(None), Some(1));
    }
}
