//! The user side of a perf event, from the syscall tracepoints of target tasks:
//! `perf_event_open` (attr, args, result fd or -errno), then `ioctl`, `mmap`, `read` and `close`
//! on the fds it returned, and every `munmap` of a perf user (user space matches the ranges to
//! perf mappings).
//!
//! Each call is an enter/exit pair: the enter program stashes the arguments per thread in
//! [`PENDING`], the exit program adds the return value and emits one record. Calls of a perf
//! user on fds that are not perf fds cost one hash lookup and emit nothing.
//!
//! Record layout of every `syscalls/sys_enter_*` / `sys_exit_*` tracepoint (kernel
//! `struct syscall_trace_enter { struct trace_entry ent; int nr; unsigned long args[]; }` and
//! `struct syscall_trace_exit { struct trace_entry ent; int nr; long ret; }`): an 8-byte common
//! header, the syscall number, then 8-byte arguments from offset 16, or the return value at 16.
//!
//! `read`, `close`, `mmap` and `munmap` run for every process on the machine: each program
//! first asks [`maybe_perf_user`] (one inlined array lookup) and returns at once for a process
//! that never entered `perf_event_open` while traced; only then come the hash lookups.
//! The same on every 64-bit arch; user space checks it against the tracepoint `format` files
//! before attaching.

use aya_ebpf::{
    EbpfContext,
    helpers::{bpf_get_current_task_btf, bpf_probe_read_user, generated},
    macros::{map, tracepoint},
    maps::LruHashMap,
    programs::TracePointContext,
};
use common::{
    event::{Munmap, PerfClose, PerfIoctl, PerfMmap, PerfOpen, PerfRead},
    perf::{self, PerfEventAttrHead},
};

use crate::{
    maps::{current_ids, emit, header, is_target, mark_perf_user, maybe_perf_user, off},
    mem::{Mem, Typed},
};

/// Offset of `args[0]` in a `sys_enter_*` record.
const ARGS: usize = 16;
/// Offset of `ret` in a `sys_exit_*` record.
const RET: usize = 16;

/// Which call a [`Pending`] entry belongs to (a thread is in one syscall at a time, but an exit
/// can be missed, e.g. when the programs were attached mid-call: the tag keeps a stale entry
/// from being taken for another call).
#[repr(u32)]
#[derive(Clone, Copy, PartialEq, Eq)]
enum Call {
    PerfOpen = 1,
    Ioctl = 2,
    Mmap = 3,
    Munmap = 4,
    Read = 5,
    Close = 6,
}

/// Arguments of a call in flight, keyed by thread id.
#[repr(C)]
#[derive(Clone, Copy)]
struct Pending {
    call: u32,
    _pad: u32,
    args: [u64; 5],
}

/// Calls in flight. LRU so that entries whose exit never came (a killed task) age out.
#[map]
static PENDING: LruHashMap<u32, Pending> = LruHashMap::with_max_entries(16384, 0);

/// An open perf fd of a thread group (fds are shared by the threads of a process).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct FdKey {
    pub tgid: u32,
    pub fd: u32,
}

/// What is known of an open perf fd.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct FdInfo {
    /// [`EXEC_GEN`] of the process when the fd was opened.
    pub exec_gen: u32,
    /// 1 when opened with `PERF_FLAG_FD_CLOEXEC`: the fd is gone after the next exec.
    pub cloexec: u32,
}

/// Perf fds of target processes: set by a successful `perf_event_open`, removed by `close`.
/// LRU so that fds of processes that exited without closing them cannot fill the map.
#[map]
pub static PERF_FDS: LruHashMap<FdKey, FdInfo> = LruHashMap::with_max_entries(65536, 0);

/// Successful execs per target process (absent = 0). An exec closes the close-on-exec perf
/// fds without a `close` call; their entries go stale, and this counter tells them apart.
#[map]
static EXEC_GEN: LruHashMap<u32, u32> = LruHashMap::with_max_entries(16384, 0);

const PERF_FLAG_FD_CLOEXEC: u64 = 8;

#[inline(always)]
fn exec_gen(tgid: u32) -> u32 {
    // SAFETY: copied out.
    unsafe { EXEC_GEN.get(tgid) }.copied().unwrap_or(0)
}

/// The first `PERF_ATTR_SIZE_VER0` bytes, for callers whose attr is that short.
#[repr(C)]
#[derive(Clone, Copy)]
struct AttrVer0 {
    head: [u64; 7],
    config1: u64,
}

/// The attr of a `perf_event_open` in flight, keyed by thread id (read at enter).
#[map]
static OPEN_ATTRS: LruHashMap<u32, PerfEventAttrHead> = LruHashMap::with_max_entries(4096, 0);

/// A field of the tracepoint record: a direct context load (the verifier checks its bounds;
/// `read_at` would be a `bpf_probe_read` helper call, ~60 ns on the dev VM).
#[inline(always)]
fn field(ctx: &TracePointContext, off: usize) -> u64 {
    // SAFETY: an aligned 8-byte load inside the record (user space checked the layout).
    unsafe { core::ptr::read((ctx.as_ptr() as *const u8).add(off) as *const u64) }
}

#[inline(always)]
fn arg(ctx: &TracePointContext, n: usize) -> u64 {
    field(ctx, ARGS + 8 * n)
}

#[inline(always)]
fn ret(ctx: &TracePointContext) -> i64 {
    field(ctx, RET) as i64
}

/// Stashes the first `n` arguments of the current thread's call.
#[inline(always)]
fn stash(ctx: &TracePointContext, tid: u32, call: Call, n: usize) {
    let mut p = Pending {
        call: call as u32,
        _pad: 0,
        args: [0; 5],
    };
    let mut i = 0;
    while i < 5 {
        if i < n {
            p.args[i] = arg(ctx, i);
        }
        i += 1;
    }
    // A full map evicts the oldest entry (LRU); nothing to count here.
    let _ = PENDING.insert(tid, p, 0);
}

/// The current thread's ids and its stashed call `call`, if any. A process that may hold no
/// perf fd has stashed nothing (every stash is behind [`maybe_perf_user`] or, for
/// `perf_event_open`, after [`mark_perf_user`]): it returns before the hash lookup.
#[inline(always)]
fn taken(call: Call) -> Option<(u32, u32, [u64; 5])> {
    let (tgid, tid) = current_ids();
    if !maybe_perf_user(tgid) {
        return None;
    }
    take(tid, call).map(|a| (tgid, tid, a))
}

/// Takes the stashed arguments of the current thread's call, if it is `call`.
#[inline(always)]
fn take(tid: u32, call: Call) -> Option<[u64; 5]> {
    // SAFETY: the value is copied out before the entry is removed.
    let p = unsafe { PENDING.get(tid) }.copied()?;
    let _ = PENDING.remove(tid);
    (p.call == call as u32).then_some(p.args)
}

/// True when `fd` (a syscall argument) is an open perf fd of thread group `tgid`.
#[inline(always)]
fn is_perf_fd(tgid: u32, fd: u64) -> bool {
    // fds are ints: anything outside 0..=i32::MAX (e.g. -1 of an anonymous mmap) is not one.
    if fd > i32::MAX as u64 {
        return false;
    }
    let key = FdKey {
        tgid,
        fd: fd as u32,
    };
    // SAFETY: copied out.
    match unsafe { PERF_FDS.get(key) }.copied() {
        // A close-on-exec fd from before the last exec is closed, whatever the map says.
        Some(info) => info.cloexec == 0 || info.exec_gen == exec_gen(tgid),
        None => false,
    }
}

/// Stashes a call on a perf fd (argument 0 is the fd, except for `mmap`).
#[inline(always)]
fn stash_fd_call(ctx: &TracePointContext, call: Call, fd_arg: usize, n: usize) {
    let (tgid, tid) = current_ids();
    if maybe_perf_user(tgid) && is_target(tgid) && is_perf_fd(tgid, arg(ctx, fd_arg)) {
        stash(ctx, tid, call, n);
    }
}

// ---- perf_event_open -------------------------------------------------------------------------

/// `SYSCALL_DEFINE5(perf_event_open, struct perf_event_attr __user *, attr_uptr, pid_t, pid,
/// int, cpu, int, group_fd, unsigned long, flags)` (kernel/events/core.c).
#[tracepoint(category = "syscalls", name = "sys_enter_perf_event_open")]
pub fn sys_enter_perf_event_open(ctx: TracePointContext) -> u32 {
    let (tgid, tid) = current_ids();
    if is_target(tgid) {
        // Before the fd exists: the other programs look at this slot first.
        mark_perf_user(tgid);
        stash(&ctx, tid, Call::PerfOpen, 5);
        // Read at enter: on E2BIG the kernel writes its own size back into the caller's attr.
        match read_attr(arg(&ctx, 0)) {
            Some(a) => {
                let _ = OPEN_ATTRS.insert(tid, a, 0);
            }
            None => {
                let _ = OPEN_ATTRS.remove(tid);
            }
        }
    }
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_perf_event_open")]
pub fn sys_exit_perf_event_open(ctx: TracePointContext) -> u32 {
    let Some((tgid, tid, args)) = taken(Call::PerfOpen) else {
        return 0;
    };
    let ret = ret(&ctx);
    let mut r = PerfOpen {
        h: header::<PerfOpen>(tgid, tid),
        target_pid: args[1] as i32,
        cpu_arg: args[2] as i32,
        group_fd: args[3] as i32,
        flags: args[4] as u32,
        ret,
        ..PerfOpen::default()
    };
    // SAFETY: copied out before removal.
    let stashed = unsafe { OPEN_ATTRS.get(tid) }.copied();
    let _ = OPEN_ATTRS.remove(tid);
    // Unreadable at enter (page not resident): the kernel has copied it by now, so try again.
    if let Some(a) = stashed.or_else(|| read_attr(args[0])) {
        r.attr_type = a.type_;
        r.attr_size = a.size;
        r.config = a.config;
        r.attr_flags = a.flags;
        r.config1 = a.config1;
        r.config2 = a.config2;
    }
    emit(&r);
    if ret >= 0 {
        let key = FdKey {
            tgid,
            fd: ret as u32,
        };
        // A full LRU map evicts its oldest fd; the map is sized far above what targets open.
        let info = FdInfo {
            exec_gen: exec_gen(tgid),
            cloexec: (args[4] & PERF_FLAG_FD_CLOEXEC != 0) as u32,
        };
        let _ = PERF_FDS.insert(key, info, 0);
    }
    0
}

/// The caller's `struct perf_event_attr` at `uptr`, `config2` zeroed where the attr is too short
/// to have one; None when unreadable (the call is still reported, attr fields zero).
#[inline(always)]
fn read_attr(uptr: u64) -> Option<PerfEventAttrHead> {
    // SAFETY: bpf_probe_read_user checks the user address; failures are handled.
    if let Ok(mut a) = unsafe { bpf_probe_read_user(uptr as *const PerfEventAttrHead) } {
        // `size` 0 means VER0 to the kernel; config2 only exists from VER1 on.
        if a.size < perf::ATTR_SIZE_VER1 {
            a.config2 = 0;
        }
        return Some(a);
    }
    // A VER0 attr at the very end of a mapping: read only its 64 bytes.
    // SAFETY: as above.
    let a = unsafe { bpf_probe_read_user(uptr as *const AttrVer0) }.ok()?;
    Some(PerfEventAttrHead {
        type_: a.head[0] as u32,
        size: (a.head[0] >> 32) as u32,
        config: a.head[1],
        sample_period: a.head[2],
        sample_type: a.head[3],
        read_format: a.head[4],
        flags: a.head[5],
        wakeup_events: a.head[6] as u32,
        bp_type: (a.head[6] >> 32) as u32,
        config1: a.config1,
        config2: 0,
    })
}

// ---- ioctl -----------------------------------------------------------------------------------

/// `SYSCALL_DEFINE3(ioctl, unsigned int, fd, unsigned int, cmd, unsigned long, arg)`.
#[tracepoint(category = "syscalls", name = "sys_enter_ioctl")]
pub fn sys_enter_ioctl(ctx: TracePointContext) -> u32 {
    stash_fd_call(&ctx, Call::Ioctl, 0, 3);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_ioctl")]
pub fn sys_exit_ioctl(ctx: TracePointContext) -> u32 {
    if let Some((tgid, tid, a)) = taken(Call::Ioctl) {
        emit(&PerfIoctl {
            h: header::<PerfIoctl>(tgid, tid),
            fd: a[0] as i32,
            cmd: a[1] as u32,
            arg: a[2],
            ret: ret(&ctx),
        });
    }
    0
}

// ---- mmap / munmap ---------------------------------------------------------------------------

/// `SYSCALL_DEFINE6(mmap, unsigned long, addr, unsigned long, len, unsigned long, prot,
/// unsigned long, flags, unsigned long, fd, unsigned long, off)` (x86_64 and arm64 alike).
#[tracepoint(category = "syscalls", name = "sys_enter_mmap")]
pub fn sys_enter_mmap(ctx: TracePointContext) -> u32 {
    stash_fd_call(&ctx, Call::Mmap, 4, 5);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_mmap")]
pub fn sys_exit_mmap(ctx: TracePointContext) -> u32 {
    if let Some((tgid, tid, a)) = taken(Call::Mmap) {
        emit(&PerfMmap {
            h: header::<PerfMmap>(tgid, tid),
            fd: a[4] as i32,
            prot: a[2] as u32,
            len: a[1],
            ret: ret(&ctx),
        });
    }
    0
}

/// `SYSCALL_DEFINE2(munmap, unsigned long, addr, size_t, len)`: every munmap of a target (the
/// kernel side cannot tell which ranges are perf mappings; user space can). Perf mappings are
/// never inherited (`VM_DONTCOPY`), so a process that opened no perf event has none.
#[tracepoint(category = "syscalls", name = "sys_enter_munmap")]
pub fn sys_enter_munmap(ctx: TracePointContext) -> u32 {
    let (tgid, tid) = current_ids();
    if maybe_perf_user(tgid) && is_target(tgid) {
        stash(&ctx, tid, Call::Munmap, 2);
    }
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_munmap")]
pub fn sys_exit_munmap(ctx: TracePointContext) -> u32 {
    if let Some((tgid, tid, a)) = taken(Call::Munmap) {
        emit(&Munmap {
            h: header::<Munmap>(tgid, tid),
            addr: a[0],
            len: a[1],
            ret: ret(&ctx),
        });
    }
    0
}

// ---- read ------------------------------------------------------------------------------------

/// `SYSCALL_DEFINE3(read, unsigned int, fd, char __user *, buf, size_t, count)`: on a perf fd,
/// the slow path a direct reader falls back to.
#[tracepoint(category = "syscalls", name = "sys_enter_read")]
pub fn sys_enter_read(ctx: TracePointContext) -> u32 {
    stash_fd_call(&ctx, Call::Read, 0, 3);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_read")]
pub fn sys_exit_read(ctx: TracePointContext) -> u32 {
    if let Some((tgid, tid, a)) = taken(Call::Read) {
        emit_read(tgid, tid, a[0], a[2], ret(&ctx));
    }
    0
}

/// The record of one read(2) of a perf fd, from either way of tracing it.
#[inline(always)]
fn emit_read(tgid: u32, tid: u32, fd: u64, count: u64, ret: i64) {
    emit(&PerfRead {
        h: header::<PerfRead>(tgid, tid),
        fd: fd as i32,
        _pad: 0,
        count,
        ret,
    });
}

/// `read` from its exit alone: the fd and count come from the user registers saved at
/// syscall entry (x86-64 `di`/`dx`; arm64 `orig_x0`, as `x0` holds the result by now, and
/// `x2`), offsets from BTF. read(2) is the busiest call these tracepoints see (one per context
/// switch in `perf bench sched pipe`) and every program run costs ~80 ns before it does
/// anything (issue 8), so one program instead of the enter/exit pair. User space attaches the
/// pair where this one is refused (`bpf_task_pt_regs` is 5.15+) or the offsets are unknown.
#[tracepoint(category = "syscalls", name = "sys_exit_read")]
pub fn sys_exit_read_regs(ctx: TracePointContext) -> u32 {
    let (tgid, tid) = current_ids();
    if !maybe_perf_user(tgid) || !is_target(tgid) {
        return 0;
    }
    // SAFETY: helpers without preconditions; the result is a BTF-typed `struct pt_regs *`.
    let regs = unsafe { generated::bpf_task_pt_regs(bpf_get_current_task_btf()) } as u64;
    let Some(fd) = Typed::read::<u64>(regs, off!(regs_arg0)) else {
        return 0;
    };
    if is_perf_fd(tgid, fd) {
        let count = Typed::read::<u64>(regs, off!(regs_arg2)).unwrap_or(0);
        emit_read(tgid, tid, fd, count, ret(&ctx));
    }
    0
}

// ---- close -----------------------------------------------------------------------------------

/// `SYSCALL_DEFINE1(close, unsigned int, fd)`. The fd leaves [`PERF_FDS`] at enter: the kernel
/// frees the number before the call returns, and another thread's `perf_event_open` may get
/// it back before this exit runs.
#[tracepoint(category = "syscalls", name = "sys_enter_close")]
pub fn sys_enter_close(ctx: TracePointContext) -> u32 {
    let (tgid, tid) = current_ids();
    if !maybe_perf_user(tgid) || !is_target(tgid) {
        return 0;
    }
    let fd = arg(&ctx, 0);
    if is_perf_fd(tgid, fd) {
        let _ = PERF_FDS.remove(FdKey {
            tgid,
            fd: fd as u32,
        });
        stash(&ctx, tid, Call::Close, 1);
    }
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_close")]
pub fn sys_exit_close(ctx: TracePointContext) -> u32 {
    if let Some((tgid, tid, a)) = taken(Call::Close) {
        emit(&PerfClose {
            h: header::<PerfClose>(tgid, tid),
            fd: a[0] as i32,
            _pad: 0,
            ret: ret(&ctx),
        });
    }
    0
}

// ---- exec ------------------------------------------------------------------------------------

/// A successful `execve`/`execveat` of a target: its close-on-exec perf fds are gone. Not
/// counted before its first `perf_event_open` ([`maybe_perf_user`]): the count only tells
/// execs after an fd's open from those before it.
#[inline(always)]
fn count_exec(ctx: &TracePointContext) {
    let (tgid, _) = current_ids();
    if maybe_perf_user(tgid) && ret(ctx) == 0 && is_target(tgid) {
        let _ = EXEC_GEN.insert(tgid, exec_gen(tgid).wrapping_add(1), 0);
    }
}

#[tracepoint(category = "syscalls", name = "sys_exit_execve")]
pub fn sys_exit_execve(ctx: TracePointContext) -> u32 {
    count_exec(&ctx);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_execveat")]
pub fn sys_exit_execveat(ctx: TracePointContext) -> u32 {
    count_exec(&ctx);
    0
}
