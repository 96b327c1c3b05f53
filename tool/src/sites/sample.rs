//! `--no-read-probes`: instead of uprobes on read sites, sample the target's perf mmap pages
//! (`struct perf_event_mmap_page`: lock, index, offset, times) and emit a `PageSample` when
//! `lock` or `index` moved. Costs the target nothing; sees state, not individual reads.
//!
//! The page cannot be read through `process_vm_readv` or `/proc/PID/mem`: perf maps it as a
//! special mapping that remote access refuses (EFAULT / EIO, seen on 6.18). So pmuwatch takes
//! a copy of the target's perf fd (`pidfd_getfd`) and maps the same first page read-only
//! itself: the kernel updates one page for both mappings. Side effect on x86: pmuwatch's own
//! mm counts as having mapped the event (CR4.PCE while pmuwatch runs; pmuwatch never reads).

use std::collections::BTreeMap;

use common::{
    Event,
    decode::event,
    event::{Header, PageSample, Record},
};

/// The first fields of `struct perf_event_mmap_page` (include/uapi/linux/perf_event.h).
const PAGE_HEAD: usize = 56;
const CAP_USER_RDPMC: u64 = 1 << 2;

struct Page {
    tid: u32,
    fd: i32,
    len: u64,
    last: Option<(u32, u32)>,
    view: Option<View>,
}

/// Perf pages of target processes, keyed by (tgid, address).
#[derive(Default)]
pub struct PageSampler {
    pages: BTreeMap<(u32, u64), Page>,
    /// Reads that failed (process gone, page unmapped under us).
    pub failed_reads: u64,
}

impl PageSampler {
    /// Follows the mappings in a batch of records.
    pub fn observe(&mut self, events: &[Event]) {
        for e in events {
            match e {
                Event::PerfMmap(m) if m.ret > 0 => {
                    self.pages.insert(
                        (m.h.pid, m.ret as u64),
                        Page {
                            tid: m.h.tid,
                            fd: m.fd,
                            len: m.len,
                            last: None,
                            view: View::of(m.h.pid, m.fd),
                        },
                    );
                }
                Event::Munmap(u) if u.ret == 0 => {
                    let (pid, lo, hi) = (u.h.pid, u.addr, u.addr.saturating_add(u.len));
                    self.pages.retain(|&(p, a), pg| {
                        p != pid || a.saturating_add(pg.len) <= lo || a >= hi
                    });
                }
                Event::Exit(x) if x.group_dead != 0 => {
                    let pid = x.h.pid;
                    self.pages.retain(|&(p, _), _| p != pid);
                }
                Event::Exec(x) => {
                    let pid = x.h.pid;
                    self.pages.retain(|&(p, _), _| p != pid);
                }
                _ => {}
            }
        }
    }

    pub fn pages(&self) -> usize {
        self.pages.len()
    }

    /// Reads every page once; appends a `PageSample` for each that changed.
    pub fn sample(&mut self, now_ns: u64, cpu: u32, out: &mut Vec<Event>) {
        let mut gone = Vec::new();
        for (&(pid, addr), page) in self.pages.iter_mut() {
            let Some(head) = page
                .view
                .as_ref()
                .map(View::head)
                .or_else(|| read_remote(pid, addr))
            else {
                self.failed_reads += 1;
                gone.push((pid, addr));
                continue;
            };
            let s = parse(&head, page.fd);
            if page.last == Some((s.lock, s.index)) {
                continue;
            }
            page.last = Some((s.lock, s.index));
            out.push(event(PageSample {
                h: Header {
                    cpu,
                    ts_ns: now_ns,
                    pid,
                    tid: page.tid,
                    ..common::event::header_for::<PageSample>(0, 0, 0, 0)
                },
                ..s
            }));
        }
        for k in gone {
            self.pages.remove(&k);
        }
    }
}

/// Decodes the page head into a record (header left for the caller).
fn parse(b: &[u8; PAGE_HEAD], fd: i32) -> PageSample {
    let u32_at = |o: usize| u32::from_ne_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
    let u64_at = |o: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[o..o + 8]);
        u64::from_ne_bytes(a)
    };
    PageSample {
        h: Header::default(),
        fd,
        lock: u32_at(8),
        index: u32_at(12),
        offset: u64_at(16) as i64,
        time_enabled: u64_at(24),
        time_running: u64_at(32),
        cap_user_rdpmc: u32::from(u64_at(40) & CAP_USER_RDPMC != 0),
        pmc_width: u32::from(u16::from_ne_bytes([b[48], b[49]])),
        _pad: 0,
    }
}

fn read_remote(pid: u32, addr: u64) -> Option<[u8; PAGE_HEAD]> {
    let mut buf = [0u8; PAGE_HEAD];
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: PAGE_HEAD,
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: PAGE_HEAD,
    };
    // SAFETY: one local iovec over our own buffer; the kernel checks the remote range.
    let n = unsafe { libc::process_vm_readv(pid as libc::pid_t, &local, 1, &remote, 1, 0) };
    (n == PAGE_HEAD as isize).then_some(buf)
}

/// Our own read-only mapping of a target's perf page, through a copy of its fd.
struct View {
    fd: libc::c_int,
    page: *const u8,
}

impl View {
    fn of(pid: u32, target_fd: i32) -> Option<View> {
        // SAFETY: plain syscalls on integers; every result is checked.
        unsafe {
            let pidfd = libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) as libc::c_int;
            if pidfd < 0 {
                return None;
            }
            let fd = libc::syscall(libc::SYS_pidfd_getfd, pidfd, target_fd, 0) as libc::c_int;
            libc::close(pidfd);
            if fd < 0 {
                return None;
            }
            // The fd may have been closed and reused since the mmap was seen: only a perf
            // event fd will do.
            let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap_or_default();
            if !link.to_string_lossy().contains("perf_event") {
                libc::close(fd);
                return None;
            }
            let p = libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ,
                libc::MAP_SHARED,
                fd,
                0,
            );
            if p == libc::MAP_FAILED {
                libc::close(fd);
                return None;
            }
            Some(View {
                fd,
                page: p as *const u8,
            })
        }
    }

    fn head(&self) -> [u8; PAGE_HEAD] {
        let mut b = [0u8; PAGE_HEAD];
        for (i, d) in b.iter_mut().enumerate() {
            // SAFETY: `page` is a live read-only mapping of at least one page; volatile
            // because the kernel writes it concurrently.
            *d = unsafe { self.page.add(i).read_volatile() };
        }
        b
    }
}

// SAFETY: the mapping is read-only and owned by the View; reads are volatile copies.
unsafe impl Send for View {}

impl Drop for View {
    fn drop(&mut self) {
        // SAFETY: our own mapping and fd, released once.
        unsafe {
            libc::munmap(self.page as *mut libc::c_void, 4096);
            libc::close(self.fd);
        }
    }
}

const _: () = assert!(PageSample::SIZE % 8 == 0);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_page_head_layout() {
        let mut b = [0u8; PAGE_HEAD];
        b[8..12].copy_from_slice(&7u32.to_ne_bytes());
        b[12..16].copy_from_slice(&3u32.to_ne_bytes());
        b[16..24].copy_from_slice(&(-5i64).to_ne_bytes());
        b[32..40].copy_from_slice(&99u64.to_ne_bytes());
        b[40..48].copy_from_slice(&(CAP_USER_RDPMC | 1).to_ne_bytes());
        b[48..50].copy_from_slice(&48u16.to_ne_bytes());
        let s = parse(&b, 4);
        assert_eq!((s.fd, s.lock, s.index, s.offset), (4, 7, 3, -5));
        assert_eq!((s.time_running, s.cap_user_rdpmc, s.pmc_width), (99, 1, 48));
    }

    #[test]
    fn samples_a_page_of_our_own_and_forgets_it_on_munmap() {
        // A page of our own memory stands in for a perf page: same read path.
        let mut page = vec![0u8; 4096];
        page[12] = 2; // index
        let addr = page.as_ptr() as u64;
        let pid = std::process::id();
        let mut s = PageSampler::default();
        let mut mm = common::event::PerfMmap {
            fd: 9,
            len: 4096,
            ret: addr as i64,
            ..Default::default()
        };
        mm.h.pid = pid;
        mm.h.tid = pid;
        s.observe(&[event(mm)]);
        let mut out = Vec::new();
        s.sample(1, 0, &mut out);
        s.sample(2, 0, &mut out); // unchanged: no second record
        assert_eq!(out.len(), 1);
        let Event::PageSample(p) = out[0] else {
            panic!("not a page sample")
        };
        assert_eq!((p.h.pid, p.fd, p.index), (pid, 9, 2));
        page[8] = 1; // lock moved
        s.sample(3, 0, &mut out);
        assert_eq!(out.len(), 2);
        let mut un = common::event::Munmap {
            addr,
            len: 4096,
            ..Default::default()
        };
        un.h.pid = pid;
        s.observe(&[event(un)]);
        assert_eq!(s.pages(), 0);
        drop(page);
    }
}
