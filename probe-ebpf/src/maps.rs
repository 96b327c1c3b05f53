//! Maps and helpers shared by every probe domain: the one ring buffer, the target set, drop
//! counters, load-time settings.

use aya_ebpf::{
    bindings::BPF_RB_NO_WAKEUP,
    helpers::{bpf_get_current_pid_tgid, bpf_get_smp_processor_id, bpf_ktime_get_ns},
    macros::map,
    maps::{Array, HashMap, PerCpuArray, RingBuf},
};
use common::{
    config::{KernelOffsets, Settings},
    event::{Header, Record},
};

/// Every record goes through this one ring buffer. User space polls it (records are submitted
/// without wakeup so that tracing `sched_switch` does not wake the reader on every switch).
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(8 << 20, 0);

/// Thread group ids being traced (value unused). Forks of a target are added in the kernel.
#[map]
pub static TARGETS: HashMap<u32, u8> = HashMap::with_max_entries(16384, 0);

/// Slots of [`PERF_USERS`]: a power of two.
const PERF_USER_SLOTS: u32 = 1 << 16;

/// Processes that may hold perf fds, by `tgid % PERF_USER_SLOTS`: non-zero once a target
/// whose tgid falls in the slot entered `perf_event_open` (set at enter, before the fd
/// exists, so nothing done with the fd is missed). Never cleared: a slot shared with another
/// tgid, or left by a process that exited, only sends that process down the exact (slower)
/// checks behind it. An array lookup the verifier inlines: this is how the syscall probes and
/// the system-wide `sched_switch` let every process without perf fds go in a few instructions
/// (issue 8: read(2) of every process paid two hash lookups before).
#[map]
pub static PERF_USERS: Array<u32> = Array::with_max_entries(PERF_USER_SLOTS, 0);

/// False when thread group `tgid` has certainly never opened a perf event while traced.
#[inline(always)]
pub fn maybe_perf_user(tgid: u32) -> bool {
    PERF_USERS
        .get(tgid & (PERF_USER_SLOTS - 1))
        .is_some_and(|v| *v != 0)
}

/// Marks thread group `tgid` as a possible perf fd holder (see [`PERF_USERS`]).
#[inline(always)]
pub fn mark_perf_user(tgid: u32) {
    if let Some(p) = PERF_USERS.get_ptr_mut(tgid & (PERF_USER_SLOTS - 1)) {
        // SAFETY: a slot of an array map; a plain store of a constant, so concurrent markers
        // cannot undo each other.
        unsafe { *p = 1 };
    }
}

/// Records dropped because the ring buffer was full, per CPU (index 0).
#[map]
pub static DROPS: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Kernel struct offsets from BTF, set by user space at load time.
#[unsafe(no_mangle)]
pub(crate) static OFFSETS: KernelOffsets = KernelOffsets::unknown();

/// Run settings, set by user space at load time.
#[unsafe(no_mangle)]
pub(crate) static SETTINGS: Settings = Settings::default_const();

/// One field of [`OFFSETS`]: a single volatile load (volatile keeps the compiler from folding
/// in the default value; one field at a time, because copying the whole struct costs ~10 ns on
/// every context switch).
macro_rules! off {
    ($f:ident) => {
        // SAFETY: a plain global the loader may rewrite before load.
        unsafe { core::ptr::read_volatile(core::ptr::addr_of!($crate::maps::OFFSETS.$f)) }
    };
}
pub(crate) use off;

/// One field of [`SETTINGS`], as [`off!`] reads one offset.
macro_rules! setting {
    ($f:ident) => {
        // SAFETY: as for `off!`.
        unsafe { core::ptr::read_volatile(core::ptr::addr_of!($crate::maps::SETTINGS.$f)) }
    };
}
pub(crate) use setting;

/// (tgid, tid) of the current task.
#[inline(always)]
pub fn current_ids() -> (u32, u32) {
    let id = bpf_get_current_pid_tgid();
    ((id >> 32) as u32, id as u32)
}

/// True when events of thread group `tgid` are wanted: a target, or everyone in system-wide
/// mode, but never pmuwatch itself.
#[inline(always)]
pub fn is_target(tgid: u32) -> bool {
    if tgid == setting!(own_tgid) {
        return false;
    }
    // SAFETY: the value is only tested for presence.
    setting!(system_wide) != 0 || unsafe { TARGETS.get(&tgid) }.is_some()
}

/// A header for record type `R` about task (tgid, tid), stamped now on this CPU.
#[inline(always)]
pub fn header<R: Record>(tgid: u32, tid: u32) -> Header {
    Header {
        kind: R::KIND as u16,
        size: R::SIZE as u16,
        // SAFETY: helpers with no preconditions.
        cpu: unsafe { bpf_get_smp_processor_id() },
        ts_ns: unsafe { bpf_ktime_get_ns() },
        pid: tgid,
        tid,
    }
}

/// Sends a record; a full ring buffer is counted in `DROPS`, never silent.
#[inline(always)]
pub fn emit<R: Record + 'static>(r: &R) {
    if EVENTS.output::<R>(r, BPF_RB_NO_WAKEUP as u64).is_err() {
        count_drop();
    }
}

#[inline(always)]
pub fn count_drop() {
    if let Some(p) = DROPS.get_ptr_mut(0) {
        // SAFETY: per-CPU slot, only this CPU writes it while this program runs.
        unsafe { *p += 1 };
    }
}
