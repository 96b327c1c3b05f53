//! Borrowed task rows for views that redraw many tasks often: the live view refreshes a
//! table of 10,000 tasks ten times a second, and [`Engine::task_rows`] (owned rows with
//! per-kind record counts and CPU lists, for reports) allocates several times per task.
//! These visit the same tasks and events without building anything per task.
//! (Added for the live view, issue 6; `task_rows` stays the reference: a test in
//! `ui::engine_model` checks both give the same rows.)

use super::{Counts, Engine};

/// A tracked task, borrowed.
#[derive(Clone, Copy, Debug)]
pub struct TaskRef<'a> {
    pub tid: u32,
    pub pid: u32,
    /// The comm's bytes up to the first NUL.
    pub comm: &'a [u8],
    pub cpu: Option<u32>,
    pub exited: bool,
    pub counts: &'a Counts,
}

/// A perf event a task holds, with the thread that owns it (the opener, or the process's
/// main thread): the events [`Engine::task_rows`] lists under that thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventRef {
    pub owner_tid: u32,
    pub attr_type: u32,
    /// Dynamic PMU type, when the event is on one (name: `Facts::pmu_name`).
    pub pmu_type: Option<u32>,
    pub counter: Option<u32>,
    pub enabled: bool,
}

impl Engine {
    /// Every tracked task (exited ones included until folded), by tid.
    pub fn each_task(&self, mut f: impl FnMut(TaskRef<'_>)) {
        // Sorted references, not sorted ids looked up again: one hash walk per call.
        let mut tasks: Vec<&super::state::Task> = self.tasks.values().collect();
        tasks.sort_unstable_by_key(|t| t.tid);
        for t in tasks {
            let end = t.comm.iter().position(|&b| b == 0).unwrap_or(t.comm.len());
            f(TaskRef {
                tid: t.tid,
                pid: t.pid,
                comm: &t.comm[..end],
                cpu: t.cpu,
                exited: t.exited,
                counts: &t.counts,
            });
        }
    }

    /// Every event owned by a tracked thread of its process, by pid, then in the process's
    /// order (the order of each task's `TaskRow::events`).
    pub fn each_task_event(&self, mut f: impl FnMut(EventRef)) {
        let mut procs: Vec<(u32, &super::state::Process)> =
            self.procs.iter().map(|(pid, p)| (*pid, p)).collect();
        procs.sort_unstable_by_key(|(pid, _)| *pid);
        for (pid, p) in procs {
            for e in &p.events {
                let owner = e.owner_tid.unwrap_or(pid);
                if self.tasks.get(&owner).is_some_and(|t| t.pid == pid) {
                    f(EventRef {
                        owner_tid: owner,
                        attr_type: e.attr_type,
                        pmu_type: e.pmu,
                        counter: e.counter,
                        enabled: e.enabled,
                    });
                }
            }
        }
    }
}
