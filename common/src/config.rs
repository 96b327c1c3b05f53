//! Load-time configuration handed to the kernel programs: kernel struct offsets computed in
//! user space from `/sys/kernel/btf/vmlinux` (Rust eBPF has no CO-RE) and run switches.

/// Offset value meaning "this field does not exist on this kernel".
pub const NO_OFFSET: u32 = u32::MAX;

/// Kernel struct field offsets in bytes, from BTF at run time.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelOffsets {
    pub task_pid: u32,
    pub task_tgid: u32,
    pub task_mm: u32,
    pub task_comm: u32,
    /// `task_struct.perf_event_ctxp` (a pointer since 6.2, an array of pointers before: the
    /// hardware context is element 0 either way).
    pub task_perf_event_ctxp: u32,
    /// `perf_event_context.nr_user` (5.17+, arm64 user access).
    pub ctx_nr_user: u32,
    /// `mm_struct.context` + `mm_context_t.perf_rdpmc_allowed` (x86 only).
    pub mm_perf_rdpmc_allowed: u32,
    /// `perf_event_context.nr_events`: 0 means the driver is not started for this task, so
    /// the CPU's user-access register keeps its last value (the "left open" case).
    pub ctx_nr_events: u32,
    /// `task_struct.cpu` (the CPU a task last ran on; `thread_info.cpu` on old kernels).
    pub task_cpu: u32,
    /// `task_struct.signal`.
    pub task_signal: u32,
    /// `signal_struct.live` (an `atomic_t`: 0 once the whole thread group is exiting).
    pub signal_live: u32,
    /// `struct pt_regs` offsets of a syscall's first and third argument as they stand at
    /// syscall exit (x86-64 `di`, `dx`; arm64 `orig_x0`, `regs[2]`).
    pub regs_arg0: u32,
    pub regs_arg2: u32,
    /// Plain `sched/sched_switch` tracepoint record fields, from its `format` file (fallback
    /// when neither `tp_btf` nor `raw_tp` attach).
    pub tp_switch_prev_pid: u32,
    pub tp_switch_prev_state: u32,
    pub tp_switch_next_pid: u32,
    pub tp_switch_next_comm: u32,
}

impl KernelOffsets {
    /// Every offset unknown.
    pub const fn unknown() -> Self {
        KernelOffsets {
            task_pid: NO_OFFSET,
            task_tgid: NO_OFFSET,
            task_mm: NO_OFFSET,
            task_comm: NO_OFFSET,
            task_perf_event_ctxp: NO_OFFSET,
            ctx_nr_user: NO_OFFSET,
            mm_perf_rdpmc_allowed: NO_OFFSET,
            ctx_nr_events: NO_OFFSET,
            task_cpu: NO_OFFSET,
            task_signal: NO_OFFSET,
            signal_live: NO_OFFSET,
            regs_arg0: NO_OFFSET,
            regs_arg2: NO_OFFSET,
            tp_switch_prev_pid: NO_OFFSET,
            tp_switch_prev_state: NO_OFFSET,
            tp_switch_next_pid: NO_OFFSET,
            tp_switch_next_comm: NO_OFFSET,
        }
    }
}

impl Default for KernelOffsets {
    fn default() -> Self {
        Self::unknown()
    }
}

/// Run settings handed to the kernel programs at load time.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Non-zero: every task is a target.
    pub system_wide: u32,
    /// pmuwatch's own tgid: never traced.
    pub own_tgid: u32,
    /// Non-zero on arm64 kernels (access model: PMUSERENR follows `nr_user`), zero on x86
    /// (CR4.PCE follows `mm->context.perf_rdpmc_allowed`).
    pub arm64_model: u32,
    /// `kernel.perf_user_access` at load (arm64); user space updates it through events.
    pub perf_user_access: u32,
}

impl Settings {
    pub const fn default_const() -> Self {
        Settings {
            system_wide: 0,
            own_tgid: 0,
            arm64_model: 0,
            perf_user_access: 0,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self::default_const()
    }
}

#[cfg(feature = "user")]
// SAFETY: `#[repr(C)]` u32 fields only.
unsafe impl aya::Pod for KernelOffsets {}

#[cfg(feature = "user")]
// SAFETY: `#[repr(C)]` u32 fields only.
unsafe impl aya::Pod for Settings {}
