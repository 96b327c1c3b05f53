//! The demo's own outcome counts (the ground truth the tool is checked against) and the JSON
//! report. Keys are documented in the module doc of `super` and are stable.

use serde::Serialize;

/// Traps by signal name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TrapCounts {
    #[serde(rename = "SIGSEGV")]
    pub sigsegv: u64,
    #[serde(rename = "SIGILL")]
    pub sigill: u64,
}

/// ioctl calls on perf fds by command (failed ones included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IoctlCounts {
    #[serde(rename = "ENABLE")]
    pub enable: u64,
    #[serde(rename = "DISABLE")]
    pub disable: u64,
    #[serde(rename = "RESET")]
    pub reset: u64,
}

/// One thread's (or the total's) counts. See the module doc of `super` for each key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub reads: u64,
    pub reads_ok: u64,
    pub seq_retries: u64,
    pub gave_up: u64,
    pub index0_fallbacks: u64,
    pub nocap_fallbacks: u64,
    pub read_syscalls: u64,
    pub read_errors: u64,
    pub careless_reads: u64,
    pub careless_silent: u64,
    pub careless_traps: u64,
    pub traps: u64,
    pub traps_by_signal: TrapCounts,
    pub no_instruction: u64,
    pub migrations: u64,
    pub affinity_moves: u64,
    pub affinity_errors: u64,
    pub ioctls: u64,
    pub ioctls_by_cmd: IoctlCounts,
    pub ioctl_errors: u64,
    pub opens_ok: u64,
    pub opens_failed: u64,
    pub mmaps: u64,
    pub mmap_errors: u64,
    pub munmaps: u64,
    pub closes: u64,
}

impl Counts {
    /// Adds `o` field by field (for the total).
    pub fn add(&mut self, o: &Counts) {
        let Counts {
            reads,
            reads_ok,
            seq_retries,
            gave_up,
            index0_fallbacks,
            nocap_fallbacks,
            read_syscalls,
            read_errors,
            careless_reads,
            careless_silent,
            careless_traps,
            traps,
            traps_by_signal: TrapCounts { sigsegv, sigill },
            no_instruction,
            migrations,
            affinity_moves,
            affinity_errors,
            ioctls,
            ioctls_by_cmd:
                IoctlCounts {
                    enable,
                    disable,
                    reset,
                },
            ioctl_errors,
            opens_ok,
            opens_failed,
            mmaps,
            mmap_errors,
            munmaps,
            closes,
        } = *o;
        // Destructuring above makes a new field a compile error here until it is summed.
        self.reads += reads;
        self.reads_ok += reads_ok;
        self.seq_retries += seq_retries;
        self.gave_up += gave_up;
        self.index0_fallbacks += index0_fallbacks;
        self.nocap_fallbacks += nocap_fallbacks;
        self.read_syscalls += read_syscalls;
        self.read_errors += read_errors;
        self.careless_reads += careless_reads;
        self.careless_silent += careless_silent;
        self.careless_traps += careless_traps;
        self.traps += traps;
        self.traps_by_signal.sigsegv += sigsegv;
        self.traps_by_signal.sigill += sigill;
        self.no_instruction += no_instruction;
        self.migrations += migrations;
        self.affinity_moves += affinity_moves;
        self.affinity_errors += affinity_errors;
        self.ioctls += ioctls;
        self.ioctls_by_cmd.enable += enable;
        self.ioctls_by_cmd.disable += disable;
        self.ioctls_by_cmd.reset += reset;
        self.ioctl_errors += ioctl_errors;
        self.opens_ok += opens_ok;
        self.opens_failed += opens_failed;
        self.mmaps += mmaps;
        self.mmap_errors += mmap_errors;
        self.munmaps += munmaps;
        self.closes += closes;
    }

    /// Counts one caught trap by its signal.
    pub fn trap(&mut self, signal: i32) {
        self.traps += 1;
        match signal {
            libc::SIGSEGV => self.traps_by_signal.sigsegv += 1,
            libc::SIGILL => self.traps_by_signal.sigill += 1,
            // The handler claims only these two; anything else is a bug worth seeing.
            _ => {}
        }
    }
}

/// An event a reader thread opened (or tried to).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EventInfo {
    /// `PMU/event`, e.g. `armv8_cortex_a53/cycles`, `software/task-clock`.
    pub name: String,
    /// PMU name from sysfs, `hardware` (generic type, the kernel picks), or `software`.
    pub pmu: String,
    #[serde(rename = "type")]
    pub type_: u32,
    pub config: u64,
    pub config1: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ThreadReport {
    /// Reader number, 0-based.
    pub thread: usize,
    pub tid: i32,
    /// The events this thread holds open (the ones whose open succeeded).
    pub events: Vec<EventInfo>,
    pub counts: Counts,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// Layout version of this JSON; bumped on an incompatible change.
    pub version: u32,
    pub pid: u32,
    pub arch: &'static str,
    pub careless: bool,
    /// Seconds asked for.
    pub duration_s: f64,
    /// Seconds the readers ran (from the end of the open phase to the stop).
    pub elapsed_s: f64,
    /// `duration`, or the signal that ended the run early (`SIGINT`, `SIGTERM`).
    pub stopped_by: &'static str,
    /// `hardware` (every thread got hardware events), `software` (none did), `mixed`.
    pub backend: &'static str,
    /// CPUs the readers moved across (the process's affinity at start).
    pub cpus: Vec<usize>,
    /// The events each thread tries: `hardware` first, `software` if none of those opens.
    pub plan: PlanReport,
    pub total: Counts,
    pub per_thread: Vec<ThreadReport>,
}

pub const REPORT_VERSION: u32 = 1;

/// Event names of the open plan (`pmus::Plan`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlanReport {
    pub hardware: Vec<String>,
    pub software: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(v: &serde_json::Value, out: &mut Vec<u64>) {
        match v {
            serde_json::Value::Object(m) => m.values().for_each(|v| numbers(v, out)),
            serde_json::Value::Number(n) => out.push(n.as_u64().unwrap_or(u64::MAX)),
            _ => {}
        }
    }

    /// Every field, nested ones included, takes part in `add`.
    #[test]
    fn add_sums_every_field() {
        let mut c = Counts::default();
        // Give each field a distinct value through the JSON view.
        let mut json = serde_json::to_value(c).expect("serialises");
        let mut n = 1;
        fn fill(v: &mut serde_json::Value, n: &mut u64) {
            match v {
                serde_json::Value::Object(m) => m.values_mut().for_each(|v| fill(v, n)),
                serde_json::Value::Number(_) => {
                    *v = (*n).into();
                    *n += 1;
                }
                _ => {}
            }
        }
        fill(&mut json, &mut n);
        let filled = counts_from_json(&json);
        c.add(&filled);
        c.add(&filled);
        let mut got = Vec::new();
        numbers(&serde_json::to_value(c).expect("serialises"), &mut got);
        let want: Vec<u64> = (1..n).map(|i| 2 * i).collect();
        assert_eq!(got, want);
    }

    /// Builds a `Counts` from JSON (test only; the report is write-only in the product).
    fn counts_from_json(v: &serde_json::Value) -> Counts {
        let g = |k: &str| v[k].as_u64().expect("field");
        let t = &v["traps_by_signal"];
        let i = &v["ioctls_by_cmd"];
        let h = |o: &serde_json::Value, k: &str| o[k].as_u64().expect("field");
        Counts {
            reads: g("reads"),
            reads_ok: g("reads_ok"),
            seq_retries: g("seq_retries"),
            gave_up: g("gave_up"),
            index0_fallbacks: g("index0_fallbacks"),
            nocap_fallbacks: g("nocap_fallbacks"),
            read_syscalls: g("read_syscalls"),
            read_errors: g("read_errors"),
            careless_reads: g("careless_reads"),
            careless_silent: g("careless_silent"),
            careless_traps: g("careless_traps"),
            traps: g("traps"),
            traps_by_signal: TrapCounts {
                sigsegv: h(t, "SIGSEGV"),
                sigill: h(t, "SIGILL"),
            },
            no_instruction: g("no_instruction"),
            migrations: g("migrations"),
            affinity_moves: g("affinity_moves"),
            affinity_errors: g("affinity_errors"),
            ioctls: g("ioctls"),
            ioctls_by_cmd: IoctlCounts {
                enable: h(i, "ENABLE"),
                disable: h(i, "DISABLE"),
                reset: h(i, "RESET"),
            },
            ioctl_errors: g("ioctl_errors"),
            opens_ok: g("opens_ok"),
            opens_failed: g("opens_failed"),
            mmaps: g("mmaps"),
            mmap_errors: g("mmap_errors"),
            munmaps: g("munmaps"),
            closes: g("closes"),
        }
    }

    #[test]
    fn traps_count_by_signal() {
        let mut c = Counts::default();
        c.trap(libc::SIGSEGV);
        c.trap(libc::SIGILL);
        c.trap(libc::SIGILL);
        assert_eq!(c.traps, 3);
        assert_eq!(
            c.traps_by_signal,
            TrapCounts {
                sigsegv: 1,
                sigill: 2
            }
        );
    }
}
