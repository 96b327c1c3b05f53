//! The engine behind the views: [`Model`] for [`Engine`]. The only file of the UI that knows
//! the engine's types. (Facts for it come from `report::facts`, shared with `report`.)

use common::{Access, Event};

use super::model::{
    CpuRow, EvidenceRow, FindingRow, Model, ReadCounts, Running, Severity, Snapshot, TaskRow,
    Totals, UserEvent,
};
use crate::engine::{self, Engine, UserAccess};

fn access(a: UserAccess) -> Access {
    match a {
        UserAccess::On => Access::On,
        UserAccess::Off => Access::Off,
        UserAccess::Unknown => Access::Unknown,
    }
}

fn severity(s: engine::Severity) -> Severity {
    match s {
        engine::Severity::Error => Severity::Error,
        engine::Severity::Warning => Severity::Warning,
        engine::Severity::Info => Severity::Info,
    }
}

/// The kebab-case rule name the engine serialises a finding kind as.
fn rule(k: engine::FindingKind) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{k:?}"))
}

/// `PERF_TYPE_*` names for events of no particular PMU.
fn generic_type(t: u32) -> String {
    match t {
        0 => "hardware".into(),
        1 => "software".into(),
        2 => "tracepoint".into(),
        3 => "hw_cache".into(),
        4 => "raw".into(),
        5 => "breakpoint".into(),
        n => format!("type{n}"),
    }
}

fn reads(r: &engine::ReadCounts) -> ReadCounts {
    ReadCounts {
        ok: r.ok,
        seq_retry: r.seq_retry,
        index0_fallback: r.index0_fallback,
        trap: r.trap,
        silent_wrong_pmu: r.silent_wrong_pmu,
    }
}

fn task_row(t: &engine::TaskRow) -> TaskRow {
    TaskRow {
        pid: t.pid,
        tid: t.tid,
        comm: t.comm.clone(),
        cpu: t.cpu,
        events: t
            .events
            .iter()
            .map(|e| UserEvent {
                pmu: e.pmu.clone().unwrap_or_else(|| generic_type(e.attr_type)),
                counter: e.counter,
                enabled: e.enabled,
            })
            .collect(),
        reads: reads(&t.counts.reads),
        migrations: t.counts.migrations,
        toggles: t.counts.toggles,
        alive: !t.exited,
    }
}

fn cpu_row(c: &engine::CpuLane) -> CpuRow {
    CpuRow {
        cpu: c.cpu,
        pmu: c.pmu.clone(),
        kind: c.model.clone(),
        running: (c.running_tid != 0).then(|| Running {
            pid: c.running_pid,
            tid: c.running_tid,
            comm: c.running_comm.clone(),
        }),
        access: access(c.access),
        exact: c.hooked,
        toggles: c.toggles,
        toggles_per_s: c.toggles_per_s,
        toggle_history: c.toggle_history.iter().map(|&n| u64::from(n)).collect(),
        traps: c.traps,
        aborts: c.traps + c.fallbacks,
    }
}

fn finding_row(f: &engine::Finding) -> FindingRow {
    FindingRow {
        ts_ns: f.first_ts_ns,
        last_ts_ns: f.last_ts_ns,
        count: f.count,
        severity: severity(f.severity),
        rule: rule(f.kind),
        text: f.text.clone(),
        remedy: f.remedy.clone(),
        tasks: f.tasks.clone(),
        cpus: f.cpus.clone(),
        evidence: f
            .evidence
            .iter()
            .map(|e| EvidenceRow {
                ts_ns: e.ts_ns,
                cpu: e.cpu,
                pid: e.pid,
                tid: e.tid,
                kind: e.kind.clone(),
                text: e.text.clone(),
            })
            .collect(),
    }
}

impl Model for Engine {
    fn feed(&mut self, e: &Event) {
        Engine::feed(self, e);
    }

    fn fill(&self, snap: &mut Snapshot) {
        let c = self.totals().counts;
        snap.totals = Totals {
            reads: reads(&c.reads),
            traps: c.traps,
            fallback_reads: c.fallback_reads,
            migrations: c.migrations,
            toggles: c.toggles,
            perf_opens: c.perf_opens,
            ioctls: c.ioctls,
        };
        snap.tasks.clear();
        snap.tasks.extend(self.task_rows().iter().map(task_row));
        snap.cpus.clear();
        snap.cpus.extend(self.cpu_lanes().iter().map(cpu_row));
        // The engine lists findings newest first; the snapshot keeps them oldest first so an
        // index stays put as new ones arrive.
        snap.findings.clear();
        snap.findings
            .extend(self.findings().iter().rev().map(finding_row));
    }

    fn reset(&mut self) {
        *self = Engine::new(self.facts().clone());
    }

    fn flush(&mut self) {
        Engine::flush(self);
    }
}

#[cfg(test)]
mod tests {
    use common::{Migrate, PerfRead, decode::event, header_for};

    use super::*;

    #[test]
    fn the_engine_fills_rows_from_a_stream() {
        let mut e = Engine::new(engine::examples::arm64_hetero());
        let m = event(Migrate {
            h: header_for::<Migrate>(2, 1_000, 50, 51),
            orig_cpu: 1,
            dest_cpu: 2,
        });
        let r = event(PerfRead {
            h: header_for::<PerfRead>(2, 2_000, 50, 51),
            fd: 3,
            count: 8,
            ret: 8,
            ..Default::default()
        });
        Model::feed_batch(&mut e, &[m, r]);
        let mut snap = Snapshot::default();
        e.fill(&mut snap);
        let t = snap.tasks.iter().find(|t| t.tid == 51).expect("task 51");
        assert_eq!(t.migrations, 1);
        assert_eq!(t.reads.index0_fallback, 1);
        assert_eq!(snap.cpus.len(), 4);
        assert_eq!(snap.cpus[2].pmu.as_deref(), Some("armv8_cortex_a72"));
        Model::reset(&mut e);
        e.fill(&mut snap);
        assert!(snap.tasks.is_empty());
        assert_eq!(snap.cpus.len(), 4, "facts survive a reset");
    }
}
