//! The engine behind the views: [`Model`] for [`Engine`]. The only file of the UI that knows
//! the engine's types. (Facts for it come from `report::facts`, shared with `report`.)

use common::{Access, Event};

use super::model::{
    CpuRow, EvidenceRow, FindingRow, Model, ReadCounts, Running, Severity, Snapshot, TaskRow,
    Totals, UserEvent,
};
use crate::engine::{self, Engine, UserAccess, table::EventRef};

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

/// Copies `to` into `into`, reusing its allocation.
fn set(into: &mut String, to: &str) {
    if into != to {
        into.clear();
        into.push_str(to);
    }
}

/// The PMU name of an event as the views show it, looked up once per PMU type per frame.
fn pmu_name<'a>(
    names: &'a mut Vec<((Option<u32>, u32), String)>,
    facts: &engine::Facts,
    e: &EventRef,
) -> &'a str {
    let key = (
        e.pmu_type,
        if e.pmu_type.is_some() { 0 } else { e.attr_type },
    );
    let i = match names.iter().position(|(k, _)| *k == key) {
        Some(i) => i,
        None => {
            let name = match e.pmu_type {
                Some(p) => facts.pmu_name(p),
                None => generic_type(e.attr_type),
            };
            names.push((key, name));
            names.len() - 1
        }
    };
    &names[i].1
}

/// Task rows in tid order, updated in place: with 10,000 tasks refreshed ten times a second
/// nothing is allocated per task once the rows exist (the engine's borrowed visitors, not
/// its owned `task_rows`).
fn fill_tasks(e: &Engine, rows: &mut Vec<TaskRow>) {
    let mut n = 0;
    e.each_task(|t| {
        if n == rows.len() {
            rows.push(TaskRow::default());
        }
        let row = &mut rows[n];
        n += 1;
        row.pid = t.pid;
        row.tid = t.tid;
        set(&mut row.comm, &String::from_utf8_lossy(t.comm));
        row.cpu = t.cpu;
        row.reads = reads(&t.counts.reads);
        row.migrations = t.counts.migrations;
        row.toggles = t.counts.toggles;
        row.alive = !t.exited;
    });
    rows.truncate(n);
    // Events: each row's list is rewritten in place; `held[i]` counts what row i got.
    let mut held = vec![0usize; n];
    let mut names = Vec::new();
    e.each_task_event(|ev| {
        let Ok(i) = rows.binary_search_by_key(&ev.owner_tid, |r| r.tid) else {
            return;
        };
        let name = pmu_name(&mut names, e.facts(), &ev);
        let list = &mut rows[i].events;
        let k = held[i];
        held[i] += 1;
        if k == list.len() {
            list.push(UserEvent::default());
        }
        let u = &mut list[k];
        set(&mut u.pmu, name);
        u.counter = ev.counter;
        u.enabled = ev.enabled;
    });
    for (row, &k) in rows.iter_mut().zip(&held) {
        row.events.truncate(k);
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
        id: f.id,
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
        site: f.site,
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
        fill_tasks(self, &mut snap.tasks);
        snap.cpus.clear();
        snap.cpus.extend(self.cpu_lanes().iter().map(cpu_row));
        // The engine lists findings by last occurrence, which reorders them as they recur; the
        // snapshot keeps creation order, so a selection, an open evidence overlay and the text
        // mode's "already printed" mark stay on the same finding.
        snap.findings.clear();
        snap.findings
            .extend(self.findings().iter().map(finding_row));
        snap.findings.sort_by_key(|f| f.id);
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

    /// The rows `task_rows` gives, converted one by one: what `fill_tasks` must equal.
    fn reference_rows(e: &Engine) -> Vec<TaskRow> {
        e.task_rows()
            .iter()
            .map(|t| TaskRow {
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
            })
            .collect()
    }

    #[test]
    fn rows_updated_in_place_equal_the_engine_s_task_rows() {
        let mut e = Engine::new(engine::examples::arm64_hetero());
        let stream = crate::trace::synth::events(60_000, 5);
        let mut snap = Snapshot::default();
        // Refilled as the stream goes on (rows reused, tasks appear and exit), and from a
        // bigger stale snapshot.
        for chunk in stream.chunks(7_000) {
            Model::feed_batch(&mut e, chunk);
            e.fill(&mut snap);
            assert_eq!(snap.tasks, reference_rows(&e));
        }
        assert!(snap.tasks.iter().any(|t| !t.events.is_empty()));
        let mut fresh = Engine::new(engine::examples::arm64_hetero());
        Model::feed_batch(&mut fresh, &stream[..1000]);
        fresh.fill(&mut snap);
        assert_eq!(snap.tasks, reference_rows(&fresh));
    }

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
