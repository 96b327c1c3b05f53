//! Findings: what went wrong, for whom, how often, and what a person can do about it.
//!
//! A finding is opened once per key (kind + task/CPU) and then counted; its text is made
//! from structured details when asked for, so counting costs no formatting.

use std::collections::BTreeMap;

use common::{Event, ReadReg};
use serde::{Deserialize, Serialize};

use super::{
    classify::TrapCause,
    describe::{EventRow, reg_name},
    facts::{Arch, Facts, cpu_list},
    state::{Ring, ToggleCause},
};

/// Bound on open findings; further keys are counted in `dropped`.
pub const MAX_FINDINGS: usize = 256;
/// Records kept before and after the one that opened a finding.
pub const EVIDENCE_BEFORE: usize = 6;
pub const EVIDENCE_AFTER: u8 = 3;
/// How far back in the recent ring evidence is looked for.
const EVIDENCE_SCAN: usize = 64;
/// Tasks and CPUs listed per finding.
const MAX_LISTED: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// A read trapped on a CPU outside the event's PMU (after a migration).
    TrapWrongPmu,
    /// A read executed on a CPU outside the event's PMU: stale or foreign value.
    SilentWrongPmu,
    /// Fallbacks because the task ran on CPUs its event's PMU does not cover.
    WrongCpuType,
    /// User access switched off by sysctl: every read falls back or traps.
    SysctlOff,
    /// The sysctl went 1 -> 0 while user-readable events were open.
    SysctlFlipped,
    /// A CPU kept user access on with no user-readable event: reads without a trap.
    AccessLeftOpen,
    /// A CPU toggles user access at a high rate.
    ToggleChurn,
    /// The machine has no hardware PMU.
    NoHardwarePmu,
    /// A task reads a software event (no counter) with read(2).
    SoftwareEvent,
    /// arm64: events opened without `config1` bit 1.
    RdpmcNotRequested,
    /// A counter read trapped for another reason.
    Trap,
    /// A read of a disabled event executed: stale value.
    StaleRead,
    /// Records were lost: counts are lower bounds.
    LostRecords,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl FindingKind {
    pub fn severity(self) -> Severity {
        use FindingKind::*;
        match self {
            TrapWrongPmu | SilentWrongPmu | AccessLeftOpen | StaleRead | SysctlFlipped | Trap => {
                Severity::Error
            }
            WrongCpuType | SysctlOff | ToggleChurn | NoHardwarePmu | LostRecords
            | RdpmcNotRequested => Severity::Warning,
            SoftwareEvent => Severity::Info,
        }
    }
}

/// A finding as views show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Creation order, stable for the same stream.
    pub id: u64,
    pub kind: FindingKind,
    pub severity: Severity,
    /// What happened.
    pub text: String,
    /// What a person can do about it.
    pub remedy: String,
    /// Thread ids involved (first few).
    pub tasks: Vec<u32>,
    pub cpus: Vec<u32>,
    /// Occurrences.
    pub count: u64,
    pub first_ts_ns: u64,
    pub last_ts_ns: u64,
    /// The records around the first occurrence.
    pub evidence: Vec<EventRow>,
    /// Read-site id of the (first) read behind it, for views to name from the site table.
    #[serde(default)]
    pub site: Option<u32>,
}

impl Finding {
    /// `text: remedy`, one line.
    pub fn line(&self) -> String {
        format!("{}: {}", self.text, self.remedy)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key {
    pub kind: FindingKind,
    pub tid: u32,
    pub cpu: u32,
    pub sub: u32,
}

impl Key {
    pub fn new(kind: FindingKind) -> Key {
        Key {
            kind,
            tid: 0,
            cpu: 0,
            sub: 0,
        }
    }
    pub fn tid(mut self, tid: u32) -> Key {
        self.tid = tid;
        self
    }
    pub fn cpu(mut self, cpu: u32) -> Key {
        self.cpu = cpu;
        self
    }
    pub fn sub(mut self, sub: u32) -> Key {
        self.sub = sub;
        self
    }
}

/// Structured details a finding's text is made from.
#[derive(Clone, Debug, Default)]
pub(crate) struct Detail {
    pub tid: u32,
    pub comm: String,
    pub pmu: Option<u32>,
    pub counter: Option<u32>,
    pub reg: Option<ReadReg>,
    pub cpu: Option<u32>,
    pub from_cpu: Option<u32>,
    pub ip: u64,
    pub signo: u32,
    pub si_code: i32,
    pub trap_cause: Option<TrapCause>,
    pub toggle_cause: Option<ToggleCause>,
    /// (tid, comm) x 2 for churn.
    pub pair: Option<((u32, String), (u32, String))>,
    pub rate: u64,
    pub total: u64,
    pub traps: u64,
    pub fallbacks: u64,
    pub attr_type: u32,
    pub config: u64,
    pub open_events: u32,
    pub errno: i64,
    pub closed_by: Option<u32>,
    pub hook: bool,
    /// Read-site id of the read behind the finding.
    pub site: Option<u32>,
}

#[derive(Clone, Debug)]
pub(crate) struct FState {
    pub id: u64,
    pub key: Key,
    pub first_ts: u64,
    pub last_ts: u64,
    pub count: u64,
    pub tids: Vec<u32>,
    pub cpus: Vec<u32>,
    pub d: Detail,
    evidence: Vec<Event>,
    after_left: u8,
}

impl FState {
    pub fn note_tid(&mut self, tid: u32) {
        self.note(Some(tid), None);
    }

    fn note(&mut self, tid: Option<u32>, cpu: Option<u32>) {
        for (v, list) in [(tid, &mut self.tids), (cpu, &mut self.cpus)] {
            if let Some(v) = v
                && let Err(i) = list.binary_search(&v)
                && list.len() < MAX_LISTED
            {
                list.insert(i, v);
            }
        }
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Findings {
    list: Vec<FState>,
    index: BTreeMap<Key, usize>,
    /// Findings still taking evidence after their first record.
    collecting: Vec<usize>,
    /// Opened by the current record.
    fresh: Vec<usize>,
    pub dropped: u64,
}

impl Findings {
    /// Counts one occurrence of `key` at `ts`; opens the finding (with evidence from
    /// `recent`, whose last record is the current one) when new. None when the table is full.
    pub fn hit(
        &mut self,
        key: Key,
        ts: u64,
        tid: Option<u32>,
        cpu: Option<u32>,
        recent: &Ring<Event>,
        init: impl FnOnce(&mut Detail),
    ) -> Option<&mut FState> {
        let i = match self.index.get(&key) {
            Some(&i) => {
                let f = &mut self.list[i];
                f.count += 1;
                f.last_ts = f.last_ts.max(ts);
                i
            }
            None => {
                if self.list.len() >= MAX_FINDINGS {
                    self.dropped += 1;
                    return None;
                }
                let mut d = Detail::default();
                init(&mut d);
                let i = self.list.len();
                self.list.push(FState {
                    id: i as u64 + 1,
                    key,
                    first_ts: ts,
                    last_ts: ts,
                    count: 1,
                    tids: Vec::new(),
                    cpus: Vec::new(),
                    d,
                    evidence: evidence(recent, tid, cpu),
                    after_left: EVIDENCE_AFTER,
                });
                self.index.insert(key, i);
                self.fresh.push(i);
                i
            }
        };
        let f = &mut self.list[i];
        f.note(tid, cpu);
        Some(f)
    }

    /// Adds the current record as evidence "after" to findings still collecting; findings
    /// opened by this very record start collecting with the next one.
    pub fn after(&mut self, ev: &Event) {
        if !self.collecting.is_empty() {
            let h = ev.header();
            let list = &mut self.list;
            self.collecting.retain(|&i| {
                let f = &mut list[i];
                if (h.tid != 0 && f.tids.contains(&h.tid)) || f.cpus.contains(&h.cpu) {
                    f.evidence.push(*ev);
                    f.after_left -= 1;
                }
                f.after_left > 0
            });
        }
        self.collecting.append(&mut self.fresh);
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Rendered, newest first (last occurrence, then creation order).
    pub fn render(&self, facts: &Facts) -> Vec<Finding> {
        let mut out: Vec<Finding> = self.list.iter().map(|f| render(f, facts)).collect();
        out.sort_by(|a, b| b.last_ts_ns.cmp(&a.last_ts_ns).then(b.id.cmp(&a.id)));
        out
    }
}

fn evidence(recent: &Ring<Event>, tid: Option<u32>, cpu: Option<u32>) -> Vec<Event> {
    let mut v: Vec<Event> = recent
        .iter()
        .rev()
        .take(EVIDENCE_SCAN)
        .filter(|e| {
            let h = e.header();
            tid.is_some_and(|t| t == h.tid && t != 0) || cpu == Some(h.cpu)
        })
        .take(EVIDENCE_BEFORE + 1)
        .copied()
        .collect();
    v.reverse();
    v
}

/// 1900 -> "1,900".
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn times(n: u64) -> String {
    if n == 1 {
        "once".into()
    } else {
        format!("{} times", thousands(n))
    }
}

fn thread(tid: u32, comm: &str) -> String {
    if comm.is_empty() {
        format!("thread {tid}")
    } else {
        format!("thread {tid} ({comm})")
    }
}

fn cpu_desc(facts: &Facts, cpu: u32) -> String {
    match facts.cpu_model(cpu) {
        Some(m) => format!("CPU {cpu} ({m})"),
        None => format!("CPU {cpu}"),
    }
}

fn signal(signo: u32) -> String {
    match signo {
        4 => "SIGILL".into(),
        11 => "SIGSEGV".into(),
        s => format!("signal {s}"),
    }
}

fn counter_desc(d: &Detail) -> String {
    match (d.counter, d.reg) {
        (Some(c), _) => format!("counter {c}"),
        (None, Some(r)) => reg_name(r, None),
        (None, None) => "a counter".into(),
    }
}

/// "pin to CPUs 0-1, or open one event per PMU type".
fn pin_remedy(facts: &Facts, pmu: Option<u32>) -> String {
    match pmu.and_then(|p| facts.pmu_cpu_list(p)) {
        Some(list) => format!(
            "pin to CPUs {list} (taskset -c {list}), or open one event per PMU type and read the one of the current CPU"
        ),
        None => "pin to the CPUs of one PMU type, or open one event per PMU type and read the one of the current CPU".into(),
    }
}

fn cause_text(d: &Detail) -> String {
    let toggle = match d.toggle_cause {
        Some(ToggleCause::ContextSwitch { prev_tid, next_tid }) => {
            format!("switched off at the switch {prev_tid} -> {next_tid}")
        }
        Some(ToggleCause::Sysctl) => "switched off by the sysctl".into(),
        Some(c) => format!("switched off ({})", toggle_name(&c)),
        None => "off".into(),
    };
    match d.trap_cause {
        Some(TrapCause::NoHardwarePmu) => {
            "there is no hardware PMU, so user access is never on: a careless read with a zero or stale index".into()
        }
        Some(TrapCause::SysctlOff) => "user access is switched off by sysctl".into(),
        Some(TrapCause::NoEvent) => {
            "it holds no user-readable hardware event, so user access is off for it".into()
        }
        Some(TrapCause::WrongPmu) => "the CPU belongs to another PMU than the event".into(),
        Some(TrapCause::NoHardwareCounter) => {
            "its event is a software event: index 0, no counter to read".into()
        }
        Some(TrapCause::EventDisabled) => "its event was disabled".into(),
        Some(TrapCause::AccessOff) => format!("user access on that CPU was {toggle}"),
        Some(TrapCause::Unknown) | None => "cause not known".into(),
    }
}

pub(crate) fn toggle_name(c: &ToggleCause) -> String {
    match c {
        ToggleCause::ContextSwitch { prev_tid, next_tid } => {
            format!("context switch {prev_tid} -> {next_tid}")
        }
        ToggleCause::Open { tid } => format!("perf_event_open by {tid}"),
        ToggleCause::Ioctl { tid } => format!("ioctl by {tid}"),
        ToggleCause::Mmap { tid } => format!("mmap by {tid}"),
        ToggleCause::Munmap { tid } => format!("munmap by {tid}"),
        ToggleCause::Close { tid } => format!("close by {tid}"),
        ToggleCause::Exec { tid } => format!("exec by {tid}"),
        ToggleCause::Sysctl => "sysctl".into(),
        ToggleCause::Hook { hook } => format!("driver hook {hook}"),
    }
}

fn render(f: &FState, facts: &Facts) -> Finding {
    let d = &f.d;
    let who = thread(d.tid, &d.comm);
    let arm = facts.arch != Arch::X86_64;
    let pmu_name = |p: Option<u32>| match p {
        Some(p) => facts.pmu_name(p),
        None => "its".into(),
    };
    let on_cpu = d
        .cpu
        .map(|c| cpu_desc(facts, c))
        .unwrap_or_else(|| "a CPU".into());
    let after = match d.from_cpu {
        Some(from) => format!(" after migrating from CPU {from}"),
        None => String::new(),
    };
    let (text, remedy) = match f.key.kind {
        FindingKind::TrapWrongPmu => (
            format!(
                "{who} read PMU {} {} on {on_cpu}{after} and trapped ({}, {})",
                pmu_name(d.pmu),
                counter_desc(d),
                signal(d.signo),
                times(f.count)
            ),
            pin_remedy(facts, d.pmu),
        ),
        FindingKind::SilentWrongPmu => (
            format!(
                "{who} read PMU {} {} on {on_cpu}{after} without a trap: the value is stale or another PMU's ({})",
                pmu_name(d.pmu),
                counter_desc(d),
                times(f.count)
            ),
            format!(
                "{}; check pc->index inside the seqlock loop and use read(2) when it is 0",
                pin_remedy(facts, d.pmu)
            ),
        ),
        FindingKind::WrongCpuType => {
            let cpus: Vec<String> = f.cpus.iter().map(|&c| cpu_desc(facts, c)).collect();
            let how = if d.hook {
                "the kernel refused to schedule its event there (armpmu_add -ENOENT)".to_string()
            } else {
                format!("fell back to read(2) {}", times(f.count))
            };
            (
                format!(
                    "{who} {how}: its PMU {} event does not count on {}",
                    pmu_name(d.pmu),
                    cpus.join(", ")
                ),
                pin_remedy(facts, d.pmu),
            )
        }
        FindingKind::SysctlOff => {
            if arm {
                (
                    format!(
                        "kernel.perf_user_access=0: every direct read falls back or traps ({} fallbacks, {} traps)",
                        thousands(d.fallbacks),
                        thousands(d.traps)
                    ),
                    "sysctl -w kernel.perf_user_access=1".into(),
                )
            } else {
                (
                    format!(
                        "rdpmc is off (/sys/bus/event_source/devices/cpu/rdpmc = 0): every direct read falls back or traps ({} fallbacks, {} traps)",
                        thousands(d.fallbacks),
                        thousands(d.traps)
                    ),
                    "echo 1 > /sys/bus/event_source/devices/cpu/rdpmc".into(),
                )
            }
        }
        FindingKind::SysctlFlipped => (
            format!(
                "user access was switched off by sysctl while {} user-readable event(s) were open: pages keep index != 0 until the next reschedule but direct reads trap at once ({} traps since)",
                d.open_events,
                thousands(d.traps)
            ),
            if arm {
                "keep kernel.perf_user_access=1 while readers run (sysctl -w kernel.perf_user_access=1); readers must handle SIGILL or use read(2)".into()
            } else {
                "keep rdpmc enabled while readers run (echo 1 > /sys/bus/event_source/devices/cpu/rdpmc); readers must handle SIGSEGV or use read(2)".into()
            },
        ),
        FindingKind::AccessLeftOpen => {
            let closed = match d.closed_by {
                Some(t) => format!("; the last user-readable event there was closed by thread {t}"),
                None => String::new(),
            };
            (
                format!(
                    "{on_cpu} kept user counter access on with no user-readable event: {who}, which holds none, read {} there without a trap, a stale value ({}){closed}",
                    counter_desc(d),
                    times(f.count)
                ),
                if arm {
                    "do not trust direct reads without an open, enabled event (check cap_user_rdpmc and index); clear it now with sysctl -w kernel.perf_user_access=0 then =1 (0 switches access off on every CPU)".into()
                } else {
                    "do not trust direct reads without an open, enabled event; check /sys/bus/event_source/devices/cpu/rdpmc (2 lets every process read)".into()
                },
            )
        }
        FindingKind::ToggleChurn => {
            let between = match &d.pair {
                Some(((a, ca), (b, cb))) => format!(
                    " between tasks {} and {}",
                    named(*a, ca),
                    named(*b, cb)
                ),
                None => String::new(),
            };
            (
                format!(
                    "{on_cpu} toggled user access {} times/s{between} ({} toggles in all)",
                    thousands(d.rate),
                    thousands(d.total)
                ),
                "give the reading thread a CPU of its own (taskset -c / a cpuset) so context switches stop flipping access, or use read(2) when reads are rare".into(),
            )
        }
        FindingKind::NoHardwarePmu => {
            let why = if d.errno != 0 {
                format!(
                    "perf_event_open of a hardware event failed with errno {}",
                    -d.errno
                )
            } else {
                "the events read are software events, their index is always 0".into()
            };
            (
                format!(
                    "no hardware PMU: {why}; reads fall back to read(2) ({}) and direct reads trap ({})",
                    thousands(d.fallbacks),
                    thousands(d.traps)
                ),
                "direct counter reads need a hardware PMU: run on bare metal or enable the VM's virtual PMU (KVM: -cpu host with the PMU on; cloud: an instance type that exposes it)".into(),
            )
        }
        FindingKind::SoftwareEvent => (
            format!(
                "{who} reads a software event (type {}, config {:#x}) with read(2) ({}): it has no hardware counter, index is always 0",
                d.attr_type,
                d.config,
                times(f.count)
            ),
            "open a hardware event (type 0, or the PMU's type) to read it directly, or keep read(2)".into(),
        ),
        FindingKind::RdpmcNotRequested => (
            format!(
                "{who} fell back to read(2) {}: its PMU {} event was opened without config1 bit 1 (rdpmc)",
                times(f.count),
                pmu_name(d.pmu)
            ),
            "set attr.config1 |= 2 (the PMU's format/rdpmc bit) when opening the event".into(),
        ),
        FindingKind::Trap => {
            let what = match d.reg {
                Some(r) => reg_name(r, d.counter),
                None => "a counter read".into(),
            };
            (
                format!(
                    "{who} trapped {} ({} si_code {:#x}) executing {what} at ip {:#x} on {on_cpu}: {}",
                    times(f.count),
                    signal(d.signo),
                    d.si_code,
                    d.ip,
                    cause_text(d)
                ),
                match d.trap_cause {
                    Some(TrapCause::NoEvent) => "open and mmap a hardware event with user reads before reading it; check pc->cap_user_rdpmc and pc->index != 0 first".into(),
                    Some(TrapCause::NoHardwarePmu) => "check pc->cap_user_rdpmc and pc->index != 0 inside the seqlock loop before rdpmc/mrs; use read(2) when index is 0".into(),
                    _ => "check pc->index != 0 inside the seqlock loop before reading; use read(2) when it is 0".into(),
                },
            )
        }
        FindingKind::StaleRead => (
            format!(
                "{who} read {} of a disabled event on {on_cpu} without a trap: the value is stale ({})",
                counter_desc(d),
                times(f.count)
            ),
            "enable the event (ioctl PERF_EVENT_IOC_ENABLE) before reading; check pc->index != 0 inside the seqlock loop".into(),
        ),
        FindingKind::LostRecords => (
            format!(
                "{} records lost (ring buffer full) on CPUs {}: every count here is a lower bound",
                thousands(d.total),
                cpu_list(&f.cpus)
            ),
            "narrow the target (-p PID or -- CMD instead of --system-wide) or lighten the machine's load while tracing".into(),
        ),
    };
    Finding {
        id: f.id,
        kind: f.key.kind,
        severity: f.key.kind.severity(),
        text,
        remedy,
        tasks: f.tids.clone(),
        cpus: f.cpus.clone(),
        count: f.count,
        first_ts_ns: f.first_ts,
        last_ts_ns: f.last_ts,
        evidence: f.evidence.iter().map(EventRow::of).collect(),
        site: f.d.site,
    }
}

fn named(tid: u32, comm: &str) -> String {
    if comm.is_empty() {
        tid.to_string()
    } else {
        format!("{comm} ({tid})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1900), "1,900");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
