//! PMU driver hooks: ground truth for user-access toggles where the kernel lets us attach
//! (fentry, else kprobe). User space attaches only those whose symbol exists on this kernel;
//! where none attaches the `sched_switch` model stands in (and the coverage report says so).
//!
//! Every hook records a [`HookToggle`] when the CPU's hook-observed access state changes or a
//! target task is involved, so that idle CPUs stay silent.

use aya_ebpf::{
    helpers::bpf_get_current_task,
    macros::{fentry, fexit, kprobe, kretprobe, map},
    maps::PerCpuArray,
    programs::{FEntryContext, FExitContext, ProbeContext, RetProbeContext},
};
use common::{
    config::NO_OFFSET,
    event::{Access, Hook, HookToggle},
};

use crate::{
    maps::{current_ids, emit, header, is_target, off},
    mem::{Checked, Mem},
    sched::RUNTIME,
};

/// Last access state a hook saw per CPU: 0 = none yet, else `Access as u32 + 1`.
#[map]
static HOOK_ACCESS: PerCpuArray<u32> = PerCpuArray::with_max_entries(1, 0);

const ENOENT: i64 = 2;

#[inline(always)]
fn current_task() -> u64 {
    // SAFETY: helper with no preconditions.
    unsafe { bpf_get_current_task() }
}

/// `current->perf_event_ctxp->nr_user` (element 0 on 6.1 where it is an array); 0 without a
/// context, u32::MAX when unreadable.
#[inline(always)]
fn current_nr_user() -> u32 {
    let ctx: u64 = Checked::read(current_task(), off!(task_perf_event_ctxp)).unwrap_or(0);
    if ctx == 0 {
        return 0;
    }
    Checked::read(ctx, off!(ctx_nr_user)).unwrap_or(u32::MAX)
}

/// Records `hook` with `access` when this CPU's state changes, or always for a target.
#[inline(always)]
fn report(hook: Hook, access: Access, value: i64, force: bool) {
    let (tgid, tid) = current_ids();
    let target = tgid != 0 && is_target(tgid);
    let Some(slot) = HOOK_ACCESS.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: this CPU's slot; nothing else runs on this CPU during the program.
    let last = unsafe { *slot };
    let changed = access != Access::Unknown && last != access as u32 + 1;
    if changed {
        // SAFETY: as above.
        unsafe { *slot = access as u32 + 1 };
    }
    if !(changed || target || force) {
        return;
    }
    emit(&HookToggle {
        h: header::<HookToggle>(tgid, tid),
        hook: hook as u32,
        access: access as u32,
        value,
    });
}

/// arm64 `static void armv8pmu_start(struct arm_pmu *cpu_pmu)`
/// (drivers/perf/arm_pmuv3.c): writes PMUSERENR_EL0 on every PMU start: user access on iff
/// `sysctl_perf_user_access` and the current task context's `nr_user`.
#[inline(always)]
fn on_armv8pmu_start() {
    let nr_user = current_nr_user();
    let sysctl = RUNTIME.get(0).copied().unwrap_or(0);
    let on = sysctl != 0 && nr_user != 0 && nr_user != u32::MAX;
    let access = if on { Access::On } else { Access::Off };
    report(Hook::Armv8PmuStart, access, i64::from(nr_user), false);
}

#[fentry(function = "armv8pmu_start")]
pub fn hook_armv8pmu_start_fentry(_ctx: FEntryContext) -> i32 {
    on_armv8pmu_start();
    0
}

#[kprobe]
pub fn hook_armv8pmu_start_kprobe(_ctx: ProbeContext) -> u32 {
    on_armv8pmu_start();
    0
}

/// arm64 `static int armpmu_add(struct perf_event *event, int flags)`
/// (drivers/perf/arm_pmu.c): -ENOENT when the CPU is not one of the event's PMU: a task's
/// event on the wrong CPU type (heterogeneous systems).
#[inline(always)]
fn on_armpmu_add_ret(ret: i64) {
    if ret == -ENOENT {
        report(Hook::ArmpmuAddWrongCpu, Access::Unknown, ret, false);
    }
}

#[fexit(function = "armpmu_add")]
pub fn hook_armpmu_add_fexit(ctx: FExitContext) -> i32 {
    // fexit arguments: (event, flags, return value).
    let ret: i64 = ctx.arg::<u64>(2) as i32 as i64;
    on_armpmu_add_ret(ret);
    0
}

#[kretprobe]
pub fn hook_armpmu_add_kretprobe(ctx: RetProbeContext) -> u32 {
    let ret: u64 = ctx.ret();
    on_armpmu_add_ret(ret as i32 as i64);
    0
}

/// x86 `void cr4_update_pce(void *ignored)` (arch/x86/mm/tlb.c): the IPI that re-evaluates
/// CR4.PCE on CPUs running an mm whose `perf_rdpmc_allowed` changed (first mmap / last munmap
/// of an event).
#[inline(always)]
fn on_cr4_update_pce() {
    let mm: u64 = Checked::read(current_task(), off!(task_mm)).unwrap_or(0);
    let (access, value) = match RUNTIME.get(1).copied().unwrap_or(1) {
        0 => (Access::Off, 0),
        2 => (Access::On, 0),
        _ if mm == 0 || off!(mm_perf_rdpmc_allowed) == NO_OFFSET => (Access::Unknown, -1),
        _ => match Checked::read::<u32>(mm, off!(mm_perf_rdpmc_allowed)) {
            Some(n) if n != 0 => (Access::On, i64::from(n)),
            Some(_) => (Access::Off, 0),
            None => (Access::Unknown, -1),
        },
    };
    report(Hook::Cr4UpdatePce, access, value, true);
}

#[fentry(function = "cr4_update_pce")]
pub fn hook_cr4_update_pce_fentry(_ctx: FEntryContext) -> i32 {
    on_cr4_update_pce();
    0
}

#[kprobe]
pub fn hook_cr4_update_pce_kprobe(_ctx: ProbeContext) -> u32 {
    on_cr4_update_pce();
    0
}

/// x86 `void perf_clear_dirty_counters(void)` (arch/x86/events/core.c): runs right before
/// CR4.PCE is set for an mm with rdpmc allowed, wiping other tasks' leftover counter values.
#[fentry(function = "perf_clear_dirty_counters")]
pub fn hook_perf_clear_dirty_counters_fentry(_ctx: FEntryContext) -> i32 {
    report(Hook::PerfClearDirtyCounters, Access::On, 0, false);
    0
}

#[kprobe]
pub fn hook_perf_clear_dirty_counters_kprobe(_ctx: ProbeContext) -> u32 {
    report(Hook::PerfClearDirtyCounters, Access::On, 0, false);
    0
}

/// `void __perf_event_task_sched_in(struct task_struct *prev, struct task_struct *task)` and
/// `void __perf_event_task_sched_out(struct task_struct *task, struct task_struct *next)`
/// (kernel/events/core.c): the perf context switch of a task with events. Only targets are
/// recorded (value = the task's `nr_user`).
#[inline(always)]
fn on_task_sched(hook: Hook) {
    let (tgid, _) = current_ids();
    if tgid == 0 || !is_target(tgid) {
        return;
    }
    report(hook, Access::Unknown, i64::from(current_nr_user()), true);
}

#[fentry(function = "__perf_event_task_sched_in")]
pub fn hook_task_sched_in_fentry(_ctx: FEntryContext) -> i32 {
    on_task_sched(Hook::TaskSchedIn);
    0
}

#[kprobe]
pub fn hook_task_sched_in_kprobe(_ctx: ProbeContext) -> u32 {
    on_task_sched(Hook::TaskSchedIn);
    0
}

#[fentry(function = "__perf_event_task_sched_out")]
pub fn hook_task_sched_out_fentry(_ctx: FEntryContext) -> i32 {
    on_task_sched(Hook::TaskSchedOut);
    0
}

#[kprobe]
pub fn hook_task_sched_out_kprobe(_ctx: ProbeContext) -> u32 {
    on_task_sched(Hook::TaskSchedOut);
    0
}
