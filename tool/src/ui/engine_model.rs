//! The engine behind the views: [`Model`] for [`Engine`], and the machine facts it judges
//! with. The only file of the UI that knows the engine's types.

use common::{Access, Event};

use super::model::{
    CpuRow, EvidenceRow, FindingRow, Model, ReadCounts, Running, Severity, Snapshot, TaskRow,
    UserEvent,
};
use crate::{
    engine::{self, Engine, UserAccess},
    sys,
};

/// `sys::Facts` (sysfs, or a trace's doctor snapshot) as the engine wants them.
pub fn engine_facts(f: &sys::Facts) -> engine::Facts {
    let arch = match f.arch.as_str() {
        "x86_64" => engine::Arch::X86_64,
        "aarch64" | "arm64" => engine::Arch::Aarch64,
        _ => engine::Arch::Unknown,
    };
    let pmus = f
        .pmus
        .iter()
        .map(|p| engine::Pmu {
            name: p.name.clone(),
            type_id: p.type_id,
            // Only a `cpus` list (or a core PMU on every CPU) says where events count; an
            // uncore `cpumask` does not.
            cpus: match p.cpus_from {
                sys::CpusFrom::Cpus | sys::CpusFrom::All => p.cpus.clone(),
                sys::CpusFrom::Cpumask | sys::CpusFrom::None => Vec::new(),
            },
            user_read: p.core && p.user_read.is_some(),
        })
        .collect();
    let cpus = f
        .cpus
        .iter()
        .map(|c| engine::CpuFacts {
            cpu: c.id,
            pmu_type: c.pmu.as_deref().and_then(|n| f.pmu(n)).map(|p| p.type_id),
            model: c.kind.clone().unwrap_or_default(),
        })
        .collect();
    engine::Facts { arch, pmus, cpus }
}

/// Facts stored in a trace's meta: the doctor snapshot, or the engine's own form.
pub fn facts_from_json(v: &serde_json::Value) -> engine::Facts {
    if let Ok(f) = serde_json::from_value::<sys::Facts>(v.clone()) {
        return engine_facts(&f);
    }
    serde_json::from_value::<engine::Facts>(v.clone()).unwrap_or_default()
}

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

fn task_row(t: &engine::TaskRow) -> TaskRow {
    let r = &t.counts.reads;
    TaskRow {
        pid: t.pid,
        tid: t.tid,
        comm: t.comm.clone(),
        cpu: t.cpu,
        events: t
            .events
            .iter()
            .map(|e| UserEvent {
                pmu: e
                    .pmu
                    .clone()
                    .unwrap_or_else(|| format!("type{}", e.attr_type)),
                counter: e.counter,
                enabled: e.enabled,
            })
            .collect(),
        reads: ReadCounts {
            ok: r.ok,
            seq_retry: r.seq_retry,
            index0_fallback: r.index0_fallback,
            trap: r.trap,
            silent_wrong_pmu: r.silent_wrong_pmu,
        },
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

    #[test]
    fn sysfs_facts_convert_for_the_engine() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let f = sys::Facts::read(&root.join("arm64-hetero"));
        let e = engine_facts(&f);
        assert_eq!(e.arch, engine::Arch::Aarch64);
        assert_eq!(e.cpus.len(), f.cpus.len());
        let (a, b) = (e.cpu_pmu(0), e.cpu_pmu(2));
        assert!(a.is_some() && b.is_some() && a != b, "{a:?} {b:?}");
        for p in f.core_pmus() {
            assert!(
                e.pmu(p.type_id).expect("core pmu kept").user_read,
                "{}",
                p.name
            );
        }
        let x86 = engine_facts(&sys::Facts::read(&root.join("x86-vm")));
        assert!(!x86.has_hardware_pmu());
    }
}
