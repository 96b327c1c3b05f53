//! The perf syscalls the demo makes, each one counted where it is made: perf_event_open, mmap
//! and munmap of the first page, ioctl ENABLE/DISABLE/RESET, read(2), close. The tool traces
//! exactly these calls, so every call here (ok or failed) must land in [`Counts`].

use std::{io, ptr::NonNull};

use common::perf::{
    ATTR_DISABLED, ATTR_EXCLUDE_HV, ATTR_EXCLUDE_KERNEL, ATTR_SIZE_VER5, PerfEventAttr,
    PerfEventAttrHead,
};

use super::{
    counts::{Counts, EventInfo},
    page::{MappedPage, PerfEventMmapPage},
};

const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 1 << 3;

pub const PERF_TYPE_HARDWARE: u32 = 0;
pub const PERF_TYPE_SOFTWARE: u32 = 1;
pub const PERF_TYPE_RAW: u32 = 4;
pub const PERF_COUNT_HW_CPU_CYCLES: u64 = 0;
pub const PERF_COUNT_HW_INSTRUCTIONS: u64 = 1;
pub const PERF_COUNT_SW_TASK_CLOCK: u64 = 1;
pub const PERF_COUNT_SW_CONTEXT_SWITCHES: u64 = 3;
/// Extended hardware type: `config = (pmu_type << 32) | PERF_COUNT_HW_*` (hybrid x86, arm64).
pub const PERF_PMU_TYPE_SHIFT: u32 = 32;

/// The ioctl commands the demo issues (`_IO('$', n)`, the same on x86_64 and aarch64).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ioctl {
    Enable,
    Disable,
    Reset,
}

impl Ioctl {
    fn request(self) -> libc::c_ulong {
        match self {
            Ioctl::Enable => 0x2400,
            Ioctl::Disable => 0x2401,
            Ioctl::Reset => 0x2403,
        }
    }
}

/// An open, mapped event of the calling thread (pid 0, cpu -1).
pub struct Event {
    pub info: EventInfo,
    fd: libc::c_int,
    page: MappedPage,
    page_len: usize,
    /// Last non-zero `index` a direct read used: what a careless reader reuses.
    pub last_index: u32,
}

/// Opens `spec` for the calling thread, user access requested, disabled, and maps its page.
/// Counts the open and the mmap; on a failed mmap the fd is closed (and counted).
pub fn open(spec: &EventInfo, counts: &mut Counts) -> io::Result<Event> {
    let attr = PerfEventAttr {
        head: PerfEventAttrHead {
            type_: spec.type_,
            size: ATTR_SIZE_VER5,
            config: spec.config,
            config1: spec.config1,
            // Disabled until ENABLE; user space only, so perf_event_paranoid 2 lets a normal
            // user.
            flags: ATTR_DISABLED | ATTR_EXCLUDE_KERNEL | ATTR_EXCLUDE_HV,
            ..Default::default()
        },
        ..Default::default()
    };
    // SAFETY: attr is a valid, sized perf_event_attr that outlives the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &attr as *const PerfEventAttr,
            0 as libc::pid_t,
            -1 as libc::c_int,
            -1 as libc::c_int,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    if fd < 0 {
        counts.opens_failed += 1;
        return Err(io::Error::last_os_error());
    }
    counts.opens_ok += 1;
    let fd = fd as libc::c_int;
    let page_len = page_size();
    // SAFETY: maps the event's first page read-only; the kernel validates fd and length.
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            page_len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            fd,
            0,
        )
    };
    let page = match NonNull::new(addr as *mut PerfEventMmapPage) {
        Some(p) if addr != libc::MAP_FAILED => p,
        _ => {
            let err = io::Error::last_os_error();
            counts.mmap_errors += 1;
            close_fd(fd, counts);
            return Err(err);
        }
    };
    counts.mmaps += 1;
    Ok(Event {
        info: spec.clone(),
        fd,
        // SAFETY: the mapping lives until `Event::close` unmaps it.
        page: unsafe { MappedPage::new(page) },
        page_len,
        last_index: 0,
    })
}

impl Event {
    pub fn page(&self) -> &MappedPage {
        &self.page
    }

    /// One counted ioctl; errors are counted, not fatal (the demo carries on).
    pub fn ioctl(&self, cmd: Ioctl, counts: &mut Counts) {
        counts.ioctls += 1;
        match cmd {
            Ioctl::Enable => counts.ioctls_by_cmd.enable += 1,
            Ioctl::Disable => counts.ioctls_by_cmd.disable += 1,
            Ioctl::Reset => counts.ioctls_by_cmd.reset += 1,
        }
        // SAFETY: the perf ioctls used here take no argument (0 = this event only).
        if unsafe { libc::ioctl(self.fd, cmd.request() as _, 0) } != 0 {
            counts.ioctl_errors += 1;
        }
    }

    /// The slow path: read(2) of the count (read_format 0: one u64).
    pub fn read_syscall(&self, counts: &mut Counts) -> Option<u64> {
        counts.read_syscalls += 1;
        let mut value = 0u64;
        // SAFETY: reads at most 8 bytes into `value`.
        let n = unsafe {
            libc::read(
                self.fd,
                (&mut value as *mut u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
        if n != std::mem::size_of::<u64>() as isize {
            counts.read_errors += 1;
            return None;
        }
        Some(value)
    }

    /// Unmaps the page and closes the fd, both counted.
    pub fn close(self, counts: &mut Counts) {
        // SAFETY: unmaps the mapping made in `open`; `self` is consumed, so no later reads.
        if unsafe { libc::munmap(self.page.as_ptr().cast(), self.page_len) } == 0 {
            counts.munmaps += 1;
        }
        close_fd(self.fd, counts);
    }
}

fn close_fd(fd: libc::c_int, counts: &mut Counts) {
    counts.closes += 1;
    // SAFETY: closes an fd this module opened and no longer uses.
    unsafe {
        libc::close(fd);
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
}
