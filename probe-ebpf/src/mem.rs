//! How the programs read kernel memory at offsets user space computed from this kernel's BTF.
//!
//! Two ways, one interface ([`Mem`]), so that each probe body is written once:
//! - [`Checked`]: `bpf_probe_read_kernel`, for programs whose pointers are plain numbers to the
//!   verifier (`raw_tp`, kprobes). A helper call: about 60 ns per read on the dev VM, more than
//!   all the rest of `sched_switch` together (issue 8).
//! - [`Typed`]: a plain load through a pointer the verifier knows the BTF type of (`tp_btf`
//!   arguments, `bpf_get_current_task_btf`, `bpf_task_pt_regs`). The offsets live in frozen
//!   `.rodata`, so the verifier reads them as constants, checks each load against the
//!   kernel's BTF (the field must exist there, with that size) and JITs it as a move with a
//!   fault fixup (a bad pointer reads 0). A kernel that refuses this refuses the whole
//!   program, and user space falls back to the `raw_tp` twin (visible in the coverage).

use aya_ebpf::helpers::bpf_probe_read_kernel;
use common::config::NO_OFFSET;

pub(crate) trait Mem {
    /// True where [`Mem::read`] is a direct load (so a few more reads cost next to nothing).
    const TYPED: bool;

    /// The `T` at `base + off`; `None` for a null base or an offset this kernel lacks (and,
    /// for [`Checked`], a failed read).
    fn read<T: Copy>(base: u64, off: u32) -> Option<T>;
}

pub(crate) struct Checked;

impl Mem for Checked {
    const TYPED: bool = false;

    #[inline(always)]
    fn read<T: Copy>(base: u64, off: u32) -> Option<T> {
        if base == 0 || off == NO_OFFSET {
            return None;
        }
        // SAFETY: bpf_probe_read_kernel copes with any address (a bad one fails, no fault).
        unsafe { bpf_probe_read_kernel((base + u64::from(off)) as *const T) }.ok()
    }
}

pub(crate) struct Typed;

impl Mem for Typed {
    const TYPED: bool = true;

    /// `T` must be the size of the field at `off` (the verifier rejects a load that spans two
    /// fields) and `base` a BTF-typed pointer.
    #[inline(always)]
    fn read<T: Copy>(base: u64, off: u32) -> Option<T> {
        if base == 0 || off == NO_OFFSET {
            return None;
        }
        // SAFETY: the verifier checks this load against the pointee's BTF and rewrites it as
        // a faulting-safe load; volatile keeps it a single load of exactly `T`'s size.
        Some(unsafe { core::ptr::read_volatile((base + u64::from(off)) as *const T) })
    }
}
