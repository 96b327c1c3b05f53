//! The first page of a perf event mapping and the libperf seqlock protocol that reads a counter
//! through it (`perf_mmap__read_self`). The protocol is a pure function over a [`PageView`] and a
//! counter-reader closure, so it is tested against pages in memory.

use std::{
    ptr::NonNull,
    sync::atomic::{Ordering, compiler_fence},
};

/// The head of `struct perf_event_mmap_page` (include/uapi/linux/perf_event.h), as far as the
/// read protocol needs it. The kernel's layout is fixed ABI; the asserts below pin it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerfEventMmapPage {
    pub version: u32,
    pub compat_version: u32,
    /// Seqlock: changes whenever the kernel rewrites the page (sched in/out, enable, disable).
    pub lock: u32,
    /// Hardware counter number + 1; 0 = the event is not on a counter now (read(2) instead).
    pub index: u32,
    /// Add the counter's value to this.
    pub offset: i64,
    pub time_enabled: u64,
    pub time_running: u64,
    /// Bit field; see [`CAP_USER_RDPMC`].
    pub capabilities: u64,
    /// Width in bits of the value the counter read returns (sign-extend from it).
    pub pmc_width: u16,
    pub time_shift: u16,
    pub time_mult: u32,
}

const _: () = {
    assert!(std::mem::offset_of!(PerfEventMmapPage, lock) == 8);
    assert!(std::mem::offset_of!(PerfEventMmapPage, index) == 12);
    assert!(std::mem::offset_of!(PerfEventMmapPage, offset) == 16);
    assert!(std::mem::offset_of!(PerfEventMmapPage, capabilities) == 40);
    assert!(std::mem::offset_of!(PerfEventMmapPage, pmc_width) == 48);
};

/// `cap_user_rdpmc` is bit 2 of `capabilities` (after `cap_bit0`, `cap_bit0_is_deprecated`).
pub const CAP_USER_RDPMC: u64 = 1 << 2;

/// Field reads of a perf page. Live pages change under the reader (the kernel rewrites them at
/// every reschedule of the task), so implementations must read the memory each time.
pub trait PageView {
    fn lock(&self) -> u32;
    fn index(&self) -> u32;
    fn offset(&self) -> i64;
    fn capabilities(&self) -> u64;
    fn pmc_width(&self) -> u16;
    fn cap_user_rdpmc(&self) -> bool {
        self.capabilities() & CAP_USER_RDPMC != 0
    }
}

/// A mapped page of a live event, read with volatile loads.
#[derive(Clone, Copy, Debug)]
pub struct MappedPage {
    page: NonNull<PerfEventMmapPage>,
}

// SAFETY: the page is only read (volatile loads of plain integers); the kernel is its only writer.
unsafe impl Send for MappedPage {}

impl MappedPage {
    /// # Safety
    /// `page` must point to a live, readable perf event mapping for as long as the value is used.
    pub unsafe fn new(page: NonNull<PerfEventMmapPage>) -> Self {
        MappedPage { page }
    }

    pub fn as_ptr(&self) -> *mut PerfEventMmapPage {
        self.page.as_ptr()
    }
}

macro_rules! volatile_field {
    ($self:ident, $field:ident) => {
        // SAFETY: `new` requires a live readable mapping; the field is a plain integer.
        unsafe { std::ptr::addr_of!((*$self.page.as_ptr()).$field).read_volatile() }
    };
}

impl PageView for MappedPage {
    fn lock(&self) -> u32 {
        volatile_field!(self, lock)
    }
    fn index(&self) -> u32 {
        volatile_field!(self, index)
    }
    fn offset(&self) -> i64 {
        volatile_field!(self, offset)
    }
    fn capabilities(&self) -> u64 {
        volatile_field!(self, capabilities)
    }
    fn pmc_width(&self) -> u16 {
        volatile_field!(self, pmc_width)
    }
}

/// A counter read that raised a signal (caught, the instruction skipped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trap {
    pub signal: i32,
}

/// How the reader treats a page that says "do not read the counter".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// libperf: `!cap_user_rdpmc || index == 0` -> read(2).
    Careful,
    /// Executes the counter read anyway, with `stale_index` (the last non-zero index seen) when
    /// the page says 0: what a reader that cached the index or raced a migration does.
    Careless { stale_index: u32 },
}

/// Why the protocol asks for read(2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// `index == 0`: the event is not on a counter (disabled, not scheduled, other CPU type).
    Index0,
    /// `cap_user_rdpmc == 0` with a non-zero index.
    NoCap,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Consistent direct read: `offset + sign_extend(counter(index - 1), pmc_width)`.
    Direct { value: u64, index: u32 },
    /// The page says read(2); the caller does it.
    Fallback(Fallback),
    /// Careless read with a stale index returned without trapping: a value from a counter the
    /// event does not own (the silent failure).
    CarelessSilent { value: u64, index: u32 },
    /// The counter read trapped. Not retried: a trap with an unchanged page (arm64 sysctl
    /// flipped while the event is open) would trap forever.
    Trapped {
        trap: Trap,
        index: u32,
        careless: bool,
    },
    /// The lock kept changing for [`MAX_RETRIES`] rounds.
    GaveUp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SelfRead {
    pub outcome: Outcome,
    /// Rounds repeated because `lock` changed during the read.
    pub retries: u32,
}

/// libperf loops forever; a bound keeps a broken page from hanging a thread.
pub const MAX_RETRIES: u32 = 1000;

/// Sign-extends the low `width` bits of a raw counter value (libperf's `<<=`, arithmetic `>>=`).
pub fn sign_extend(raw: u64, width: u16) -> i64 {
    if width == 0 || width >= 64 {
        return raw as i64;
    }
    let shift = 64 - u32::from(width);
    ((raw << shift) as i64) >> shift
}

/// One self-read of an event through its page. `counter(n)` executes the counter read
/// instruction for counter number `n` (= `index - 1`).
pub fn read_self<P, F>(page: &P, mode: Mode, mut counter: F) -> SelfRead
where
    P: PageView + ?Sized,
    F: FnMut(u32) -> Result<u64, Trap>,
{
    let mut retries = 0;
    loop {
        let seq = page.lock();
        // The kernel writes the page from this task's own CPU at reschedule: a compiler barrier
        // is what libperf uses and what is needed.
        compiler_fence(Ordering::SeqCst);
        let index = page.index();
        let offset = page.offset();
        let usable = page.cap_user_rdpmc() && index != 0;
        let (read_index, careless) = match mode {
            _ if usable => (index, false),
            Mode::Careful => {
                let why = if index == 0 {
                    Fallback::Index0
                } else {
                    Fallback::NoCap
                };
                return SelfRead {
                    outcome: Outcome::Fallback(why),
                    retries,
                };
            }
            Mode::Careless { stale_index } => {
                let stale = if index != 0 { index } else { stale_index };
                (stale.max(1), true)
            }
        };
        let width = page.pmc_width();
        let raw = counter(read_index - 1);
        compiler_fence(Ordering::SeqCst);
        let outcome = match raw {
            Err(trap) => Outcome::Trapped {
                trap,
                index: read_index,
                careless,
            },
            Ok(raw) => {
                let value = offset.wrapping_add(sign_extend(raw, width)) as u64;
                if page.lock() != seq {
                    retries += 1;
                    if retries >= MAX_RETRIES {
                        return SelfRead {
                            outcome: Outcome::GaveUp,
                            retries,
                        };
                    }
                    continue;
                }
                if careless {
                    Outcome::CarelessSilent {
                        value,
                        index: read_index,
                    }
                } else {
                    Outcome::Direct {
                        value,
                        index: read_index,
                    }
                }
            }
        };
        return SelfRead { outcome, retries };
    }
}

/// One self-read of a live page with the real counter read, under a fixed symbol: pmuwatch
/// traces the return of known reader functions (`sites::KNOWN_READERS`, like libperf's
/// `perf_mmap__read_self`) to tell a seqlock retry (a second counter read within one call)
/// from the next call's read.
#[inline(never)]
#[unsafe(no_mangle)]
pub fn pmuwatch_demo_read_self(page: &MappedPage, mode: Mode) -> SelfRead {
    read_self(page, mode, super::counter::read)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// A page in memory whose fields the test (or the counter closure, standing in for the
    /// kernel) changes between reads.
    #[derive(Default)]
    struct FakePage {
        lock: Cell<u32>,
        index: Cell<u32>,
        offset: Cell<i64>,
        caps: Cell<u64>,
        width: Cell<u16>,
        lock_reads: Cell<u32>,
    }

    impl FakePage {
        fn new(index: u32, offset: i64, rdpmc: bool, width: u16) -> Self {
            let p = FakePage::default();
            p.index.set(index);
            p.offset.set(offset);
            p.caps.set(if rdpmc { CAP_USER_RDPMC } else { 0 });
            p.width.set(width);
            p
        }
        /// What the kernel does on reschedule: bump the lock (by 2, as observed) and rewrite.
        fn resched(&self, index: u32, offset: i64) {
            self.lock.set(self.lock.get() + 2);
            self.index.set(index);
            self.offset.set(offset);
        }
    }

    impl PageView for FakePage {
        fn lock(&self) -> u32 {
            self.lock_reads.set(self.lock_reads.get() + 1);
            self.lock.get()
        }
        fn index(&self) -> u32 {
            self.index.get()
        }
        fn offset(&self) -> i64 {
            self.offset.get()
        }
        fn capabilities(&self) -> u64 {
            self.caps.get()
        }
        fn pmc_width(&self) -> u16 {
            self.width.get()
        }
    }

    /// The real page layout through `MappedPage` must read the same fields the fake exposes.
    #[test]
    fn mapped_page_reads_the_kernel_layout() {
        let mut raw = PerfEventMmapPage {
            lock: 7,
            index: 3,
            offset: -5,
            capabilities: CAP_USER_RDPMC | 0b11,
            pmc_width: 48,
            ..Default::default()
        };
        // SAFETY: `raw` outlives `page`.
        let page = unsafe { MappedPage::new(NonNull::from(&mut raw)) };
        assert_eq!(page.lock(), 7);
        assert_eq!(page.index(), 3);
        assert_eq!(page.offset(), -5);
        assert!(page.cap_user_rdpmc());
        assert_eq!(page.pmc_width(), 48);
        let r = read_self(&page, Mode::Careful, |n| {
            assert_eq!(n, 2, "counter number is index - 1");
            Ok(100)
        });
        assert_eq!(
            r.outcome,
            Outcome::Direct {
                value: 95,
                index: 3
            }
        );
    }

    #[test]
    fn direct_read_adds_offset_to_the_sign_extended_counter() {
        let page = FakePage::new(32, 1000, true, 32);
        // 0xffff_fff0 in 32 bits is -16.
        let r = read_self(&page, Mode::Careful, |n| {
            assert_eq!(n, 31);
            Ok(0xdead_0000_ffff_fff0)
        });
        assert_eq!(
            r,
            SelfRead {
                outcome: Outcome::Direct {
                    value: 984,
                    index: 32
                },
                retries: 0
            }
        );
    }

    #[test]
    fn sign_extension_handles_edge_widths() {
        assert_eq!(sign_extend(0x8000_0000, 32), -0x8000_0000);
        assert_eq!(sign_extend(0x7fff_ffff, 32), 0x7fff_ffff);
        assert_eq!(sign_extend(0xffff_ffff_ffff, 48), -1);
        assert_eq!(sign_extend(u64::MAX, 64), -1);
        assert_eq!(sign_extend(5, 0), 5, "width 0 must not shift by 64");
    }

    #[test]
    fn lock_change_during_the_read_retries_with_the_new_page() {
        let page = FakePage::new(2, 10, true, 64);
        let mut calls = 0;
        let r = read_self(&page, Mode::Careful, |n| {
            calls += 1;
            if calls == 1 {
                // Preempted mid-read: the kernel rewrote the page (counter moved, new offset).
                assert_eq!(n, 1);
                page.resched(5, 500);
                Ok(1)
            } else {
                assert_eq!(n, 4);
                Ok(7)
            }
        });
        assert_eq!(calls, 2);
        assert_eq!(
            r,
            SelfRead {
                outcome: Outcome::Direct {
                    value: 507,
                    index: 5
                },
                retries: 1
            }
        );
    }

    #[test]
    fn lock_change_into_index_0_falls_back_on_the_retry() {
        let page = FakePage::new(2, 10, true, 64);
        let r = read_self(&page, Mode::Careful, |_| {
            // Migrated to a CPU of the other PMU type mid-read.
            page.resched(0, 10);
            Ok(1)
        });
        assert_eq!(
            r,
            SelfRead {
                outcome: Outcome::Fallback(Fallback::Index0),
                retries: 1
            }
        );
    }

    #[test]
    fn index_0_falls_back_without_touching_the_counter() {
        let page = FakePage::new(0, 10, true, 64);
        let r = read_self(&page, Mode::Careful, |_| {
            panic!("must not read the counter")
        });
        assert_eq!(r.outcome, Outcome::Fallback(Fallback::Index0));
        assert_eq!(r.retries, 0);
        // Software events: no rdpmc capability and index 0.
        let sw = FakePage::new(0, 10, false, 0);
        let r = read_self(&sw, Mode::Careful, |_| panic!("must not read the counter"));
        assert_eq!(r.outcome, Outcome::Fallback(Fallback::Index0));
    }

    #[test]
    fn missing_capability_falls_back_even_with_an_index() {
        let page = FakePage::new(3, 10, false, 64);
        let r = read_self(&page, Mode::Careful, |_| {
            panic!("must not read the counter")
        });
        assert_eq!(r.outcome, Outcome::Fallback(Fallback::NoCap));
    }

    #[test]
    fn careless_reader_uses_the_stale_index_on_index_0() {
        let page = FakePage::new(0, 0, true, 32);
        let r = read_self(&page, Mode::Careless { stale_index: 4 }, |n| {
            assert_eq!(n, 3);
            Err(Trap { signal: 4 })
        });
        assert_eq!(
            r.outcome,
            Outcome::Trapped {
                trap: Trap { signal: 4 },
                index: 4,
                careless: true
            }
        );
        // No index ever seen: counter 0 (index 1).
        let r = read_self(&page, Mode::Careless { stale_index: 0 }, |n| {
            assert_eq!(n, 0);
            Ok(9)
        });
        assert_eq!(r.outcome, Outcome::CarelessSilent { value: 9, index: 1 });
    }

    #[test]
    fn careless_reader_reads_normally_when_the_page_allows_it() {
        let page = FakePage::new(6, 1, true, 64);
        let r = read_self(&page, Mode::Careless { stale_index: 2 }, |n| {
            assert_eq!(n, 5);
            Ok(1)
        });
        assert_eq!(r.outcome, Outcome::Direct { value: 2, index: 6 });
    }

    #[test]
    fn trap_in_the_careful_path_is_reported_not_retried() {
        let page = FakePage::new(1, 0, true, 32);
        let mut calls = 0;
        let r = read_self(&page, Mode::Careful, |_| {
            calls += 1;
            Err(Trap { signal: 11 })
        });
        assert_eq!(calls, 1);
        assert_eq!(
            r.outcome,
            Outcome::Trapped {
                trap: Trap { signal: 11 },
                index: 1,
                careless: false
            }
        );
    }

    #[test]
    fn a_page_that_never_settles_gives_up() {
        let page = FakePage::new(1, 0, true, 64);
        let r = read_self(&page, Mode::Careful, |_| {
            page.resched(1, 0);
            Ok(0)
        });
        assert_eq!(r.outcome, Outcome::GaveUp);
        assert_eq!(r.retries, MAX_RETRIES);
        assert_eq!(page.lock_reads.get(), 2 * MAX_RETRIES);
    }
}
