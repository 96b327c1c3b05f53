//! Record layouts. Field comments give the source of each value.

/// Stable record kind ids. Never reuse a number.
#[repr(u16)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    SchedSwitch = 1,
    Migrate = 2,
    Trap = 3,
    PerfOpen = 4,
    PerfIoctl = 5,
    PerfMmap = 6,
    Munmap = 7,
    PerfRead = 8,
    PerfClose = 9,
    Fork = 10,
    Exec = 11,
    Exit = 12,
    DirectRead = 13,
    ReaderCall = 14,
    PageSample = 15,
    Lost = 16,
    Comm = 17,
    Sysctl = 18,
    HookToggle = 19,
}

impl Kind {
    pub const ALL: [Kind; 19] = [
        Kind::SchedSwitch,
        Kind::Migrate,
        Kind::Trap,
        Kind::PerfOpen,
        Kind::PerfIoctl,
        Kind::PerfMmap,
        Kind::Munmap,
        Kind::PerfRead,
        Kind::PerfClose,
        Kind::Fork,
        Kind::Exec,
        Kind::Exit,
        Kind::DirectRead,
        Kind::ReaderCall,
        Kind::PageSample,
        Kind::Lost,
        Kind::Comm,
        Kind::Sysctl,
        Kind::HookToggle,
    ];

    pub fn from_u16(v: u16) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| *k as u16 == v)
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::SchedSwitch => "sched_switch",
            Kind::Migrate => "migrate",
            Kind::Trap => "trap",
            Kind::PerfOpen => "perf_open",
            Kind::PerfIoctl => "perf_ioctl",
            Kind::PerfMmap => "perf_mmap",
            Kind::Munmap => "munmap",
            Kind::PerfRead => "perf_read",
            Kind::PerfClose => "perf_close",
            Kind::Fork => "fork",
            Kind::Exec => "exec",
            Kind::Exit => "exit",
            Kind::DirectRead => "direct_read",
            Kind::ReaderCall => "reader_call",
            Kind::PageSample => "page_sample",
            Kind::Lost => "lost",
            Kind::Comm => "comm",
            Kind::Sysctl => "sysctl",
            Kind::HookToggle => "hook_toggle",
        }
    }
}

/// Start of every record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// [`Kind`] as u16.
    pub kind: u16,
    /// Size of the whole record (header included) in bytes.
    pub size: u16,
    /// CPU the event happened on (`bpf_get_smp_processor_id`).
    pub cpu: u32,
    /// CLOCK_MONOTONIC nanoseconds (`bpf_ktime_get_ns`).
    pub ts_ns: u64,
    /// Thread group id of the task the event is about.
    pub pid: u32,
    /// Thread id of the task the event is about.
    pub tid: u32,
}

/// Access state of user counter reads on a CPU, as the model or a hook saw it.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    Off = 0,
    On = 1,
    Unknown = 2,
}

impl Access {
    pub fn from_u8(v: u8) -> Access {
        match v {
            0 => Access::Off,
            1 => Access::On,
            _ => Access::Unknown,
        }
    }
}

/// Where an access value came from.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AccessSource {
    /// Computed from the incoming task's state at `sched_switch` (tp_btf).
    Model = 0,
    /// Not known: the switch came from a source without task struct access.
    None = 1,
}

/// `sched_switch`. Header pid/tid = the incoming (next) task.
/// Emitted when prev or next is a target task, or when the CPU's access state changed.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedSwitch {
    pub h: Header,
    pub prev_pid: u32,
    pub prev_tid: u32,
    /// `prev->__state` at switch (0 = preempted while runnable).
    pub prev_state: u64,
    /// arm64 model: `next->perf_event_ctxp->nr_user` (0 when no context). u32::MAX = unknown.
    pub next_nr_user: u32,
    /// x86 model: `next->mm->context.perf_rdpmc_allowed`. u32::MAX = unknown.
    pub next_rdpmc_allowed: u32,
    /// [`Access`] on this CPU after the switch, per the model.
    pub access: u8,
    /// [`Access`] on this CPU before the switch (the CPU's last state).
    pub prev_access: u8,
    /// [`AccessSource`].
    pub source: u8,
    /// 1 when either side is a target task.
    pub involves_target: u8,
    pub _pad: u32,
    pub next_comm: [u8; 16],
}

/// `sched_migrate_task`. Header pid/tid = the migrated task; header.cpu = where it was seen.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Migrate {
    pub h: Header,
    pub orig_cpu: u32,
    pub dest_cpu: u32,
}

/// A synchronous signal that a counter read can raise (SIGILL on arm64, SIGSEGV on x86), from
/// `signal_generate`. Header = the faulting task. Decode `insn` with [`crate::insn`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trap {
    pub h: Header,
    pub signo: u32,
    pub si_code: i32,
    /// User instruction pointer at the fault (`bpf_task_pt_regs`); 0 when unknown.
    pub ip: u64,
    /// Instruction bytes read at `ip` (x86: up to 15, arm64: 4, little endian).
    pub insn: [u8; 16],
    /// Valid bytes in `insn`; 0 when they could not be read.
    pub insn_len: u32,
    /// 1 when the signal is delivered to the task (not ignored/blocked-and-dropped).
    pub result: u32,
}

/// `perf_event_open` (enter + exit). Header = the caller.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerfOpen {
    pub h: Header,
    pub attr_type: u32,
    pub attr_size: u32,
    pub config: u64,
    pub config1: u64,
    pub config2: u64,
    /// The attr bitfield word (disabled = bit 0, inherit = bit 1, exclude_kernel = bit 5 ...).
    pub attr_flags: u64,
    /// `pid` argument (-1 = any task, 0 = self).
    pub target_pid: i32,
    /// `cpu` argument (-1 = any CPU).
    pub cpu_arg: i32,
    pub group_fd: i32,
    pub flags: u32,
    /// New fd, or -errno.
    pub ret: i64,
}

/// `ioctl` on a perf fd. Header = the caller.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerfIoctl {
    pub h: Header,
    pub fd: i32,
    pub cmd: u32,
    pub arg: u64,
    pub ret: i64,
}

/// `mmap` of a perf fd. Header = the caller.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerfMmap {
    pub h: Header,
    pub fd: i32,
    pub prot: u32,
    pub len: u64,
    /// Mapped address, or -errno.
    pub ret: i64,
}

/// `munmap` by a target task (user space matches the range to perf mappings).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Munmap {
    pub h: Header,
    pub addr: u64,
    pub len: u64,
    pub ret: i64,
}

/// `read(2)` on a perf fd: the slow path a reader falls back to.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerfRead {
    pub h: Header,
    pub fd: i32,
    pub _pad: u32,
    pub count: u64,
    pub ret: i64,
}

/// `close` of a perf fd.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerfClose {
    pub h: Header,
    pub fd: i32,
    pub _pad: u32,
    pub ret: i64,
}

/// `sched_process_fork`. Header = the parent.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fork {
    pub h: Header,
    pub child_pid: u32,
    pub child_tid: u32,
}

/// `sched_process_exec`. Header = the task after exec.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exec {
    pub h: Header,
    pub comm: [u8; 16],
}

/// `sched_process_exit`. Header = the exiting thread.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exit {
    pub h: Header,
    /// 1 when the whole thread group is gone (last thread).
    pub group_dead: u32,
    pub _pad: u32,
}

/// What register a direct read site reads.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReadReg {
    /// x86 `rdpmc`; counter number from ECX.
    X86Rdpmc = 1,
    /// arm64 `mrs PMCCNTR_EL0`.
    Pmccntr = 2,
    /// arm64 `mrs PMEVCNTR<n>_EL0`.
    Pmevcntr = 3,
    /// arm64 `mrs PMXEVCNTR_EL0` (counter picked by PMSELR).
    Pmxevcntr = 4,
    /// arm64 `msr PMSELR_EL0`.
    PmselrWrite = 5,
    Unknown = 0,
}

impl ReadReg {
    pub fn from_u32(v: u32) -> ReadReg {
        match v {
            1 => ReadReg::X86Rdpmc,
            2 => ReadReg::Pmccntr,
            3 => ReadReg::Pmevcntr,
            4 => ReadReg::Pmxevcntr,
            5 => ReadReg::PmselrWrite,
            _ => ReadReg::Unknown,
        }
    }
}

/// A direct counter read about to execute (uprobe on the read site). Header = the reader.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirectRead {
    pub h: Header,
    pub ip: u64,
    /// Read-site id as given to the uprobe (index in the site table), u32::MAX = unknown.
    pub site: u32,
    /// [`ReadReg`].
    pub reg: u32,
    /// Counter number: ECX on x86, n of PMEVCNTR<n>, 31 for PMCCNTR, u32::MAX = unknown.
    pub counter: u32,
    pub _pad: u32,
}

/// Return of a known reader function (libperf, PAPI), from a uretprobe.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReaderCall {
    pub h: Header,
    /// Reader function id (index in the site table).
    pub func: u32,
    pub _pad: u32,
    pub ret: i64,
}

/// A sample of a target's `perf_event_mmap_page` taken from user space (`process_vm_readv`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageSample {
    pub h: Header,
    pub fd: i32,
    pub index: u32,
    pub lock: u32,
    pub cap_user_rdpmc: u32,
    pub offset: i64,
    pub time_enabled: u64,
    pub time_running: u64,
    pub pmc_width: u32,
    pub _pad: u32,
}

/// Records the kernel could not deliver (ring buffer full), per CPU (header.cpu).
/// Emitted by user space from the per-CPU drop counters.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lost {
    pub h: Header,
    /// Drops since the previous `Lost` record for this CPU.
    pub count: u64,
}

/// The name of a task (header pid/tid).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Comm {
    pub h: Header,
    pub comm: [u8; 16],
}

/// Current value of the sysctls that gate user access, emitted at start and on change.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sysctl {
    pub h: Header,
    /// `kernel.perf_user_access` (arm64), -1 where absent.
    pub perf_user_access: i32,
    /// x86 `/sys/bus/event_source/devices/cpu*/rdpmc`, -1 where absent.
    pub rdpmc_mode: i32,
    /// `kernel.perf_event_paranoid`.
    pub paranoid: i32,
    pub _pad: u32,
}

/// Which driver hook reported an access change.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hook {
    Unknown = 0,
    /// arm64 `armv8pmu_start` (PMUSERENR written on every sched-in).
    Armv8PmuStart = 1,
    /// x86 `cr4_update_pce`.
    Cr4UpdatePce = 2,
    /// x86 `perf_clear_dirty_counters`.
    PerfClearDirtyCounters = 3,
    /// `__perf_event_task_sched_in`.
    TaskSchedIn = 4,
    /// `__perf_event_task_sched_out`.
    TaskSchedOut = 5,
    /// arm64 `armpmu_add` returned -ENOENT: event on the wrong CPU type.
    ArmpmuAddWrongCpu = 6,
}

impl Hook {
    pub fn from_u32(v: u32) -> Hook {
        match v {
            1 => Hook::Armv8PmuStart,
            2 => Hook::Cr4UpdatePce,
            3 => Hook::PerfClearDirtyCounters,
            4 => Hook::TaskSchedIn,
            5 => Hook::TaskSchedOut,
            6 => Hook::ArmpmuAddWrongCpu,
            _ => Hook::Unknown,
        }
    }
}

/// Ground truth from a PMU driver hook (fentry/kprobe), where the kernel allows one.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HookToggle {
    pub h: Header,
    /// [`Hook`].
    pub hook: u32,
    /// [`Access`] after the hook, as u32.
    pub access: u32,
    /// Hook-specific value (return code, register value).
    pub value: i64,
}

/// Implemented by every record type: its kind and size.
pub trait Record: Copy {
    const KIND: Kind;
    const SIZE: usize = core::mem::size_of::<Self>();
    fn header(&self) -> &Header;
    fn header_mut(&mut self) -> &mut Header;
}

macro_rules! record {
    ($($t:ident),* $(,)?) => {$(
        impl Record for $t {
            const KIND: Kind = Kind::$t;
            fn header(&self) -> &Header { &self.h }
            fn header_mut(&mut self) -> &mut Header { &mut self.h }
        }
    )*};
}

record!(
    SchedSwitch,
    Migrate,
    Trap,
    PerfOpen,
    PerfIoctl,
    PerfMmap,
    Munmap,
    PerfRead,
    PerfClose,
    Fork,
    Exec,
    Exit,
    DirectRead,
    ReaderCall,
    PageSample,
    Lost,
    Comm,
    Sysctl,
    HookToggle,
);

/// A header filled for record type `R` (kind and size set).
pub fn header_for<R: Record>(cpu: u32, ts_ns: u64, pid: u32, tid: u32) -> Header {
    Header {
        kind: R::KIND as u16,
        size: R::SIZE as u16,
        cpu,
        ts_ns,
        pid,
        tid,
    }
}

#[cfg(feature = "user")]
mod pod {
    use super::*;
    macro_rules! pod {
        ($($t:ident),* $(,)?) => {$(
            // SAFETY: plain `#[repr(C)]` integers and byte arrays with explicit padding.
            unsafe impl aya::Pod for $t {}
        )*};
    }
    pod!(
        Header,
        SchedSwitch,
        Migrate,
        Trap,
        PerfOpen,
        PerfIoctl,
        PerfMmap,
        Munmap,
        PerfRead,
        PerfClose,
        Fork,
        Exec,
        Exit,
        DirectRead,
        ReaderCall,
        PageSample,
        Lost,
        Comm,
        Sysctl,
        HookToggle,
    );
}
