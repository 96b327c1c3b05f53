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
    pub _pad: u32,
}

impl Default for KernelOffsets {
    fn default() -> Self {
        KernelOffsets {
            task_pid: NO_OFFSET,
            task_tgid: NO_OFFSET,
            task_mm: NO_OFFSET,
            task_comm: NO_OFFSET,
            task_perf_event_ctxp: NO_OFFSET,
            ctx_nr_user: NO_OFFSET,
            mm_perf_rdpmc_allowed: NO_OFFSET,
            _pad: 0,
        }
    }
}

#[cfg(feature = "user")]
// SAFETY: `#[repr(C)]` u32 fields only.
unsafe impl aya::Pod for KernelOffsets {}
