//! Read-only queries for views: rows, lanes, findings, recent records, totals, summary.
//! Cheap enough to call every 100 ms with 10,000 tasks (see `benches/engine.rs`).

use std::collections::BTreeMap;

use common::{Event, Kind};

use super::{
    Engine, ReadRecord,
    findings::Finding,
    state::{IdMap, SPARK_SECONDS, Task, comm_str},
    summary::{CpuLane, EventInfo, Rates, Summary, TaskRow, Totals},
};

/// Schema version of [`Summary`].
pub const SUMMARY_SCHEMA: u32 = 1;

impl Engine {
    /// Records fed so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Latest event time seen (ns, the records' clock).
    pub fn now_ns(&self) -> u64 {
        self.now
    }

    pub fn first_ts_ns(&self) -> Option<u64> {
        self.first_ts
    }

    pub fn totals(&self) -> Totals {
        Totals {
            counts: self.totals,
            lost: self.lost,
            records: self.records,
        }
    }

    /// Lost records per CPU.
    pub fn lost_per_cpu(&self) -> &BTreeMap<u32, u64> {
        &self.lost_per_cpu
    }

    /// Rates over the last complete second of event time.
    pub fn rates(&self) -> Rates {
        self.rates.last
    }

    /// Tracked tasks (exited ones included until folded).
    pub fn task_count(&self) -> usize {
        self.tasks.len()
    }

    /// One row per tracked task, by tid. Events are grouped by owner in one pass, so the
    /// cost stays linear with many threads of one process each holding events.
    pub fn task_rows(&self) -> Vec<TaskRow> {
        let mut by_owner: IdMap<Vec<EventInfo>> = IdMap::default();
        for (pid, p) in &self.procs {
            for e in &p.events {
                let owner = e.owner_tid.unwrap_or(*pid);
                if self.tasks.get(&owner).is_some_and(|t| t.pid == *pid) {
                    by_owner.entry(owner).or_default().push(e.info(&self.facts));
                }
            }
        }
        let mut tids: Vec<u32> = self.tasks.keys().copied().collect();
        tids.sort_unstable();
        tids.iter()
            .filter_map(|tid| {
                let t = self.tasks.get(tid)?;
                Some(self.row(t, by_owner.remove(tid).unwrap_or_default()))
            })
            .collect()
    }

    pub fn task_row(&self, tid: u32) -> Option<TaskRow> {
        let t = self.tasks.get(&tid)?;
        let events = self
            .procs
            .get(&t.pid)
            .map(|p| {
                p.events
                    .iter()
                    .filter(|e| e.owner_tid.unwrap_or(t.pid) == t.tid)
                    .map(|e| e.info(&self.facts))
                    .collect()
            })
            .unwrap_or_default();
        Some(self.row(t, events))
    }

    fn row(&self, t: &Task, events: Vec<EventInfo>) -> TaskRow {
        TaskRow {
            tid: t.tid,
            pid: t.pid,
            comm: comm_str(&t.comm),
            cpu: t.cpu,
            running: t.running,
            exited: t.exited,
            cpus: t.cpus.clone(),
            events,
            counts: t.counts,
            records: kind_map(&t.records, false),
            first_ts_ns: t.first_ts,
            last_ts_ns: t.last_ts,
        }
    }

    /// One lane per CPU (those in the facts and any seen in records).
    pub fn cpu_lanes(&self) -> Vec<CpuLane> {
        self.cpus
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let cpu = i as u32;
                let mut hist: Vec<u32> = c.rate.spark.iter().copied().collect();
                if hist.len() < SPARK_SECONDS {
                    let mut pad = vec![0; SPARK_SECONDS - hist.len()];
                    pad.append(&mut hist);
                    hist = pad;
                }
                // A CPU whose last toggle is older than a second toggles at 0/s now.
                let now_sec = self.now / 1_000_000_000;
                let per_s = if c.rate.sec + 1 == now_sec {
                    c.rate.cur
                } else if c.rate.sec == now_sec {
                    c.rate.last
                } else {
                    0
                };
                CpuLane {
                    cpu,
                    pmu_type: c.pmu,
                    pmu: c.pmu.map(|p| self.facts.pmu_name(p)),
                    model: self.facts.cpu_model(cpu).map(str::to_string),
                    running_pid: c.running_pid,
                    running_tid: c.running_tid,
                    running_comm: comm_str(&c.running_comm),
                    access: c.access,
                    hooked: c.hooked,
                    toggles: c.toggles,
                    toggles_per_s: per_s as u64,
                    peak_toggles_per_s: c.rate.peak as u64,
                    toggle_history: hist,
                    recent_toggles: c.history.iter().copied().collect(),
                    traps: c.traps,
                    fallbacks: c.fallbacks,
                    silent: c.silent,
                    lost: c.lost,
                }
            })
            .collect()
    }

    /// Findings, newest first.
    pub fn findings(&self) -> Vec<Finding> {
        self.findings.render(&self.facts)
    }

    pub fn finding_count(&self) -> usize {
        self.findings.len()
    }

    /// The last records fed, oldest first (at most [`super::RECENT_EVENTS`]).
    pub fn recent_events(&self) -> impl DoubleEndedIterator<Item = &Event> + ExactSizeIterator {
        self.recent.iter()
    }

    /// The last classified reads, oldest first.
    pub fn recent_reads(&self) -> impl DoubleEndedIterator<Item = &ReadRecord> {
        self.reads.iter()
    }

    /// Classified reads with `seq > after` still in the recent ring, oldest first; compare the
    /// first one's seq with `after + 1` to see whether some were missed.
    pub fn reads_since(&self, after: u64) -> impl Iterator<Item = &ReadRecord> {
        self.reads.iter().filter(move |r| r.seq > after)
    }

    /// Everything, for `report --json`.
    pub fn summary(&self) -> Summary {
        Summary {
            schema: SUMMARY_SCHEMA,
            first_ts_ns: self.first_ts.unwrap_or(0),
            last_ts_ns: self.now,
            totals: self.totals(),
            records: kind_map(&self.kinds, true),
            lost_per_cpu: self.lost_per_cpu.clone(),
            tasks: self.task_rows(),
            exited: self.folded,
            cpus: self.cpu_lanes(),
            findings: self.findings(),
            dropped: super::Dropped {
                findings: self.findings.dropped,
                ..self.dropped
            },
        }
    }
}

fn kind_map(counts: &[u64], all: bool) -> BTreeMap<String, u64> {
    Kind::ALL
        .iter()
        .filter_map(|k| {
            let n = counts.get(*k as usize).copied().unwrap_or(0);
            (all || n > 0).then(|| (k.name().to_string(), n))
        })
        .collect()
}
