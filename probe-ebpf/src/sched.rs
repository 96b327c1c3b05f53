//! Scheduler probes: context switches with the per-CPU user-access model, migrations, and the
//! process lifecycle (fork/exec/exit) that keeps the target set right in the kernel.
//!
//! Each task-pointer probe exists twice with one body: `tp_btf` (preferred) and `raw_tp` (same
//! arguments, no BTF needed for the program). Fields are read at offsets computed from the
//! running kernel's BTF by user space (`OFFSETS`), because Rust eBPF gets no CO-RE
//! relocations: as typed loads in `tp_btf`, through `bpf_probe_read_kernel` in `raw_tp`
//! ([`crate::mem`]). `sched_switch` also has a plain tracepoint fallback that sees only
//! pids (no access model: `AccessSource::None`).
//!
//! Hot path (every context switch on every CPU): no logging, no helper call in `tp_btf` (the
//! task ids and the model's fields are typed loads), and a record only when an interesting
//! task is involved or the CPU's modelled access state changes. Interesting: a target; system-wide (where every task
//! is a target) a process that may hold perf fds ([`maybe_perf_user`], an inlined array
//! lookup), so that the switches of everything else cost no ring-buffer write (issue 8).

use aya_ebpf::{
    helpers::{bpf_get_current_comm, generated},
    macros::{btf_tracepoint, map, raw_tracepoint, tracepoint},
    maps::{Array, PerCpuArray},
    programs::{BtfTracePointContext, RawTracePointContext, TracePointContext},
};
use common::{
    config::NO_OFFSET,
    event::{Access, AccessSource, Exec, Exit, Fork, Migrate, SchedSwitch},
};

use crate::{
    maps::{TARGETS, current_ids, emit, header, is_target, maybe_perf_user, off, setting},
    mem::{Checked, Mem, Typed},
};

/// Values user space updates while running (polled sysctls): index [`RT_PERF_USER_ACCESS`] =
/// `kernel.perf_user_access` (arm64), [`RT_RDPMC_MODE`] = x86 `rdpmc` mode (u32::MAX = no file:
/// no core PMU, so rdpmc is never allowed).
#[map]
pub static RUNTIME: Array<u32> = Array::with_max_entries(2, 0);
const RT_PERF_USER_ACCESS: u32 = 0;
const RT_RDPMC_MODE: u32 = 1;

/// Index 0 non-zero: a target stops itself (SIGSTOP) right after exec, before the first
/// instruction of its new image, until user space has put uprobes on that image's read sites
/// and sent SIGCONT. Set for commands pmuwatch spawns (tool/src/probe/live.rs), so that a
/// reader a shell starts is probed from its first read.
#[map]
pub static HOLD_EXEC: Array<u32> = Array::with_max_entries(1, 0);
/// SIGSTOP on x86_64 and arm64 alike.
const SIGSTOP: u32 = 19;

/// Per-CPU state kept across switches.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct CpuState {
    /// Last modelled access state: 0 = unknown (never decided), else `Access as u32 + 1`.
    access: u32,
    /// The task switched in last time, and whether it was interesting: at the next switch on
    /// this CPU it is `prev`, so its target lookup (a cold hash lookup) is reused. A tgid that
    /// becomes a target later does so before it first runs (fork), or is looked up fresh the
    /// next time it is switched in. Not used system-wide, where the test is an array lookup
    /// and a process becomes interesting while it runs (its first `perf_event_open`).
    next_tgid: u32,
    next_target: u32,
    _pad: u32,
}

#[map]
static CPU_STATE: PerCpuArray<CpuState> = PerCpuArray::with_max_entries(1, 0);

/// (tgid, tid) of a task. Checked: one read when the two fields are adjacent (they are on
/// every kernel seen: `pid_t pid; pid_t tgid;`); typed: two loads (one load may not span two
/// fields).
#[inline(always)]
fn task_ids<M: Mem>(task: u64) -> (u32, u32) {
    if !M::TYPED && off!(task_pid) != NO_OFFSET && off!(task_tgid) == off!(task_pid).wrapping_add(4)
    {
        let both: u64 = M::read(task, off!(task_pid)).unwrap_or(0);
        return ((both >> 32) as u32, both as u32);
    }
    (
        M::read(task, off!(task_tgid)).unwrap_or(0),
        M::read(task, off!(task_pid)).unwrap_or(0),
    )
}

/// A target, never the idle task (tgid 0) even in system-wide mode.
#[inline(always)]
fn wanted(tgid: u32) -> bool {
    tgid != 0 && is_target(tgid)
}

/// Whose context switches are recorded: a target; system-wide, a process that may hold perf
/// fds. Never the idle task or pmuwatch.
#[inline(always)]
fn interesting(tgid: u32) -> bool {
    if tgid == 0 || tgid == setting!(own_tgid) {
        return false;
    }
    if setting!(system_wide) != 0 {
        return maybe_perf_user(tgid);
    }
    // SAFETY: the value is only tested for presence.
    unsafe { TARGETS.get(&tgid) }.is_some()
}

#[inline(always)]
fn runtime(i: u32) -> u32 {
    RUNTIME.get(i).copied().unwrap_or(0)
}

/// Access state on this CPU once `next` runs, per the kernel's logic; `None` = unchanged.
///
/// arm64 (`armv8pmu_start`): PMUSERENR is written only when the driver is started for the
/// incoming task's events: on iff `perf_user_access` and `nr_user > 0`, off otherwise. With no
/// events (no context, or `nr_events == 0`) the register keeps its last value: the observed
/// "access left open" case.
/// x86 (`switch_mm` -> `cr4_update_pce_mm`): CR4.PCE follows the incoming mm's
/// `perf_rdpmc_allowed` (rdpmc mode 1), always on (mode 2) or always off (mode 0). A kernel
/// thread (no mm) keeps the previous mm loaded, so the state is unchanged.
/// Also returns (nr_user, rdpmc_allowed) for the record (u32::MAX = not read).
#[inline(always)]
fn model<M: Mem>(arm64: bool, next: u64) -> (Option<Access>, u32, u32) {
    if arm64 {
        let ctx: u64 = M::read(next, off!(task_perf_event_ctxp)).unwrap_or(0);
        if ctx == 0 {
            return (None, 0, u32::MAX);
        }
        let nr_user: u32 = M::read(ctx, off!(ctx_nr_user)).unwrap_or(u32::MAX);
        if nr_user != 0 && nr_user != u32::MAX {
            let on = runtime(RT_PERF_USER_ACCESS) != 0;
            return (
                Some(if on { Access::On } else { Access::Off }),
                nr_user,
                u32::MAX,
            );
        }
        let nr_events: u32 = M::read(ctx, off!(ctx_nr_events)).unwrap_or(0);
        let a = if nr_events != 0 && nr_user == 0 {
            Some(Access::Off)
        } else {
            None
        };
        (a, nr_user, u32::MAX)
    } else {
        let mode = runtime(RT_RDPMC_MODE);
        if matches!(mode, 0 | u32::MAX) {
            // Always off (mode 0), or no core PMU at all (no `rdpmc` file, e.g. this VM):
            // nothing can allow rdpmc, no need to look at the task.
            return (Some(Access::Off), u32::MAX, u32::MAX);
        }
        let mm: u64 = M::read(next, off!(task_mm)).unwrap_or(0);
        if mm == 0 {
            return (None, u32::MAX, u32::MAX);
        }
        match mode {
            2 => (Some(Access::On), u32::MAX, u32::MAX),
            _ => match M::read::<u32>(mm, off!(mm_perf_rdpmc_allowed)) {
                Some(n) => (
                    Some(if n != 0 { Access::On } else { Access::Off }),
                    u32::MAX,
                    n,
                ),
                None => (None, u32::MAX, u32::MAX),
            },
        }
    }
}

/// `sched_switch(bool preempt, struct task_struct *prev, struct task_struct *next,
/// unsigned int prev_state)` (kernel/sched/core.c `__schedule`; `prev_state` since 5.18).
/// Runs on prev's CPU before the switch: current == prev.
#[inline(always)]
fn on_switch<M: Mem>(prev: u64, next: u64, prev_state: u64) {
    // current == prev: a helper call, unless prev's fields are typed loads.
    let (prev_tgid, prev_tid) = if M::TYPED {
        task_ids::<M>(prev)
    } else {
        current_ids()
    };
    let (next_tgid, next_tid) = task_ids::<M>(next);
    let Some(state) = CPU_STATE.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: this CPU's slot; nothing else runs on this CPU during the program.
    let st = unsafe { &mut *state };
    let prev_target = if setting!(system_wide) == 0 && st.next_tgid == prev_tgid && prev_tgid != 0 {
        st.next_target != 0
    } else {
        interesting(prev_tgid)
    };
    let next_target = interesting(next_tgid);
    st.next_tgid = next_tgid;
    st.next_target = next_target as u32;
    let involves = prev_target || next_target;

    let (new, nr_user, rdpmc) = model::<M>(setting!(arm64_model) != 0, next);
    let last = st.access;
    let prev_access = if last == 0 {
        Access::Unknown
    } else {
        Access::from_u8((last - 1) as u8)
    };
    let access = new.unwrap_or(prev_access);
    let changed = access != prev_access;
    if changed {
        st.access = access as u32 + 1;
    }
    if !involves && !changed {
        return;
    }
    let r = SchedSwitch {
        h: header::<SchedSwitch>(next_tgid, next_tid),
        prev_pid: prev_tgid,
        prev_tid,
        prev_state,
        next_nr_user: nr_user,
        next_rdpmc_allowed: rdpmc,
        access: access as u8,
        prev_access: prev_access as u8,
        source: AccessSource::Model as u8,
        involves_target: involves as u8,
        _pad: 0,
        next_comm: comm::<M>(next),
    };
    emit(&r);
}

/// `task->comm`: typed, two 8-byte loads inside the array (one load may not be wider than
/// what the verifier walks to).
#[inline(always)]
fn comm<M: Mem>(task: u64) -> [u8; 16] {
    let off = off!(task_comm);
    if off == NO_OFFSET {
        return [0; 16]; // and no load at NO_OFFSET + 8
    }
    if !M::TYPED {
        return M::read(task, off).unwrap_or([0; 16]);
    }
    let lo: u64 = M::read(task, off).unwrap_or(0);
    let hi: u64 = M::read(task, off.wrapping_add(8)).unwrap_or(0);
    let mut c = [0u8; 16];
    c[..8].copy_from_slice(&lo.to_le_bytes());
    c[8..].copy_from_slice(&hi.to_le_bytes());
    c
}

#[btf_tracepoint(function = "sched_switch")]
pub fn sched_switch_btf(ctx: BtfTracePointContext) -> i32 {
    let prev_state: u32 = ctx.arg(3);
    on_switch::<Typed>(ctx.arg(1), ctx.arg(2), u64::from(prev_state));
    0
}

#[raw_tracepoint(tracepoint = "sched_switch")]
pub fn sched_switch_raw(ctx: RawTracePointContext) -> i32 {
    let prev_state: u64 = ctx.arg(3);
    on_switch::<Checked>(ctx.arg(1), ctx.arg(2), prev_state & 0xffff_ffff);
    0
}

/// Fallback: the plain tracepoint record (offsets from its tracefs `format` file) has only
/// thread ids, so the incoming task's thread group and its perf state are unknown. Emitted
/// when the outgoing task (current) is a target; `pid` of the incoming side is 0.
#[tracepoint(category = "sched", name = "sched_switch")]
pub fn sched_switch_tp(ctx: TracePointContext) -> u32 {
    let (prev_tgid, prev_tid) = current_ids();
    let (next_pid, prev_state, next_comm) = (
        off!(tp_switch_next_pid),
        off!(tp_switch_prev_state),
        off!(tp_switch_next_comm),
    );
    if !interesting(prev_tgid) || next_pid == NO_OFFSET {
        return 0;
    }
    // SAFETY: offsets come from this tracepoint's format file; read_at is a checked probe read.
    let next_tid: i32 = unsafe { ctx.read_at(next_pid as usize) }.unwrap_or(0);
    let prev_state: i64 = if prev_state == NO_OFFSET {
        0
    } else {
        // SAFETY: as above.
        unsafe { ctx.read_at(prev_state as usize) }.unwrap_or(0)
    };
    let next_comm: [u8; 16] = if next_comm == NO_OFFSET {
        [0; 16]
    } else {
        // SAFETY: as above.
        unsafe { ctx.read_at(next_comm as usize) }.unwrap_or([0; 16])
    };
    let r = SchedSwitch {
        h: header::<SchedSwitch>(0, next_tid as u32),
        prev_pid: prev_tgid,
        prev_tid,
        prev_state: prev_state as u64,
        next_nr_user: u32::MAX,
        next_rdpmc_allowed: u32::MAX,
        access: Access::Unknown as u8,
        prev_access: Access::Unknown as u8,
        source: AccessSource::None as u8,
        involves_target: 1,
        _pad: 0,
        next_comm,
    };
    emit(&r);
    0
}

/// `sched_migrate_task(struct task_struct *p, int dest_cpu)` (kernel/sched/core.c
/// `set_task_cpu`). Runs on any CPU; `p->cpu` is still the origin. Like switches, only those
/// of interesting tasks (system-wide: possible perf users): a migration matters to a task
/// whose events can be on the wrong CPU.
#[inline(always)]
fn on_migrate<M: Mem>(p: u64, dest_cpu: u32) {
    let (tgid, tid) = task_ids::<M>(p);
    if !interesting(tgid) {
        return;
    }
    emit(&Migrate {
        h: header::<Migrate>(tgid, tid),
        orig_cpu: M::read(p, off!(task_cpu)).unwrap_or(u32::MAX),
        dest_cpu,
    });
}

#[btf_tracepoint(function = "sched_migrate_task")]
pub fn sched_migrate_btf(ctx: BtfTracePointContext) -> i32 {
    on_migrate::<Typed>(ctx.arg(0), ctx.arg(1));
    0
}

#[raw_tracepoint(tracepoint = "sched_migrate_task")]
pub fn sched_migrate_raw(ctx: RawTracePointContext) -> i32 {
    let dest: u64 = ctx.arg(1);
    on_migrate::<Checked>(ctx.arg(0), dest as u32);
    0
}

/// `sched_process_fork(struct task_struct *parent, struct task_struct *child)` (kernel/fork.c
/// `kernel_clone`), in the parent. A child process of a target becomes a target here, before it
/// can run, so nothing it does is missed.
#[inline(always)]
fn on_fork<M: Mem>(child: u64) {
    let (tgid, tid) = current_ids();
    if !wanted(tgid) {
        return;
    }
    let (child_tgid, child_tid) = task_ids::<M>(child);
    if setting!(system_wide) == 0 && child_tgid != tgid && child_tgid != 0 {
        // A full set is counted as a drop: the child's events would be missed.
        if TARGETS.insert(child_tgid, 1u8, 0).is_err() {
            crate::maps::count_drop();
        }
    }
    emit(&Fork {
        h: header::<Fork>(tgid, tid),
        child_pid: child_tgid,
        child_tid,
    });
}

#[btf_tracepoint(function = "sched_process_fork")]
pub fn sched_fork_btf(ctx: BtfTracePointContext) -> i32 {
    on_fork::<Typed>(ctx.arg(1));
    0
}

#[raw_tracepoint(tracepoint = "sched_process_fork")]
pub fn sched_fork_raw(ctx: RawTracePointContext) -> i32 {
    on_fork::<Checked>(ctx.arg(1));
    0
}

/// `sched_process_exec(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)`
/// (fs/exec.c `exec_binprm`), in the task after the new image is loaded (comm already set).
#[inline(always)]
fn on_exec() {
    let (tgid, tid) = current_ids();
    if !wanted(tgid) {
        return;
    }
    if HOLD_EXEC.get(0).copied().unwrap_or(0) != 0 {
        // Before the record: user space answers the record with SIGCONT, which must come
        // after the SIGSTOP (a SIGCONT first would leave the process stopped for good).
        // SAFETY: helper without preconditions; it signals the current thread group, which
        // stops on its way back to user space.
        unsafe { generated::bpf_send_signal(SIGSTOP) };
    }
    emit(&Exec {
        h: header::<Exec>(tgid, tid),
        comm: bpf_get_current_comm().unwrap_or([0; 16]),
    });
}

#[btf_tracepoint(function = "sched_process_exec")]
pub fn sched_exec_btf(_ctx: BtfTracePointContext) -> i32 {
    on_exec();
    0
}

#[raw_tracepoint(tracepoint = "sched_process_exec")]
pub fn sched_exec_raw(_ctx: RawTracePointContext) -> i32 {
    on_exec();
    0
}

/// `sched_process_exit(struct task_struct *p[, bool group_dead])` (kernel/exit.c `do_exit`),
/// in the exiting thread. `signal->live` has already been decremented there, so 0 means the
/// whole group is gone (works on kernels with and without the `group_dead` argument). The
/// group's tgid then leaves the target set (pids are reused).
#[inline(always)]
fn on_exit<M: Mem>(p: u64) {
    let (tgid, tid) = current_ids();
    if !wanted(tgid) {
        return;
    }
    let signal: u64 = M::read(p, off!(task_signal)).unwrap_or(0);
    let group_dead = match M::read::<i32>(signal, off!(signal_live)) {
        Some(live) => live == 0,
        None => tid == tgid,
    };
    if group_dead && setting!(system_wide) == 0 {
        let _ = TARGETS.remove(tgid);
    }
    emit(&Exit {
        h: header::<Exit>(tgid, tid),
        group_dead: group_dead as u32,
        _pad: 0,
    });
}

#[btf_tracepoint(function = "sched_process_exit")]
pub fn sched_exit_btf(ctx: BtfTracePointContext) -> i32 {
    on_exit::<Typed>(ctx.arg(0));
    0
}

#[raw_tracepoint(tracepoint = "sched_process_exit")]
pub fn sched_exit_raw(ctx: RawTracePointContext) -> i32 {
    on_exit::<Checked>(ctx.arg(0));
    0
}
