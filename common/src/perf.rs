//! `struct perf_event_attr` (include/uapi/linux/perf_event.h): user ABI, whose layout never
//! changes, only grows. The kernel programs read the head a caller passed
//! ([`PerfEventAttrHead`], `PERF_ATTR_SIZE_VER1`); user space opens events with the struct up
//! to `PERF_ATTR_SIZE_VER5` ([`PerfEventAttr`]).

/// The head up to `config2` (`PERF_ATTR_SIZE_VER1`, 72 bytes). A caller may pass only
/// `PERF_ATTR_SIZE_VER0` (64 bytes: no `config2`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerfEventAttrHead {
    pub type_: u32,
    pub size: u32,
    pub config: u64,
    pub sample_period: u64,
    pub sample_type: u64,
    pub read_format: u64,
    /// disabled:1, inherit:1, pinned:1, exclusive:1, exclude_user:1, exclude_kernel:1,
    /// exclude_hv:1, ... ([`ATTR_DISABLED`] and friends).
    pub flags: u64,
    pub wakeup_events: u32,
    pub bp_type: u32,
    /// `config1` (also `bp_addr`): bit 1 asks for user-space counter access on arm64 and x86.
    pub config1: u64,
    /// `config2` (also `bp_len`).
    pub config2: u64,
}

/// The struct up to `sample_max_stack` (`PERF_ATTR_SIZE_VER5`, Linux 4.17+).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerfEventAttr {
    pub head: PerfEventAttrHead,
    pub branch_sample_type: u64,
    pub sample_regs_user: u64,
    pub sample_stack_user: u32,
    pub clockid: i32,
    pub sample_regs_intr: u64,
    pub aux_watermark: u32,
    pub sample_max_stack: u16,
    pub reserved_2: u16,
}

pub const ATTR_SIZE_VER0: u32 = 64;
pub const ATTR_SIZE_VER1: u32 = 72;
pub const ATTR_SIZE_VER5: u32 = 112;
const _: () = assert!(core::mem::size_of::<PerfEventAttrHead>() == ATTR_SIZE_VER1 as usize);
const _: () = assert!(core::mem::size_of::<PerfEventAttr>() == ATTR_SIZE_VER5 as usize);

/// `flags` bits.
pub const ATTR_DISABLED: u64 = 1 << 0;
pub const ATTR_EXCLUDE_KERNEL: u64 = 1 << 5;
pub const ATTR_EXCLUDE_HV: u64 = 1 << 6;
