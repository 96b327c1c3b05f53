//! Live tests of the perf syscall and trap probes on the running kernel (root only; skipped
//! with a message otherwise).
//!
//! A forked child runs a fixed script of perf calls (opens that succeed and fail, ioctls, mmap,
//! munmap, reads, closes, counter reads that trap) and logs what it did and what each call
//! returned into shared memory: the ground truth. The probes must report exactly that log,
//! call by call, for the target child, and nothing for an identical child that is not a target.

use std::{
    mem::MaybeUninit,
    ptr,
    sync::atomic::{AtomicPtr, AtomicUsize, Ordering},
};

use aya::{
    Ebpf, EbpfLoader,
    maps::{HashMap, MapData, PerCpuArray, RingBuf},
};
use common::{
    Event,
    config::{KernelOffsets, NO_OFFSET, Settings},
    insn, perf,
};
use pmuwatch::probe::{
    EBPF_OBJECT,
    coverage::{Coverage, Method, Status},
    offsets, syscalls, traps,
};

// ---- what the child did ----------------------------------------------------------------------

/// One traced call as the child saw it, and as the probes must report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    Open {
        attr_type: u32,
        attr_size: u32,
        config: u64,
        config1: u64,
        config2: u64,
        attr_flags: u64,
        pid: i32,
        cpu: i32,
        group_fd: i32,
        flags: u32,
        ret: i64,
    },
    Ioctl {
        fd: i32,
        cmd: u32,
        arg: u64,
        ret: i64,
    },
    Mmap {
        fd: i32,
        prot: u32,
        len: u64,
        ret: i64,
    },
    Munmap {
        addr: u64,
        len: u64,
        ret: i64,
    },
    Read {
        fd: i32,
        count: u64,
        ret: i64,
    },
    Close {
        fd: i32,
        ret: i64,
    },
    /// `counter_read`: the instruction at `ip` decodes as this arch's counter read.
    Trap {
        signo: u32,
        si_code: i32,
        ip: u64,
        counter_read: bool,
    },
}

const LOG_CAP: usize = 64;

/// The child's log, in a shared anonymous mapping made before fork.
#[repr(C)]
struct Log {
    n: AtomicUsize,
    items: [MaybeUninit<Seen>; LOG_CAP],
}

impl Log {
    fn push(&self, s: Seen) {
        let i = self.n.fetch_add(1, Ordering::SeqCst);
        if i < LOG_CAP {
            // SAFETY: slot `i` is written once, by the one child process using this log.
            unsafe { ptr::write(self.items[i].as_ptr().cast_mut(), s) };
        }
    }

    fn items(&self) -> Vec<Seen> {
        let n = self.n.load(Ordering::SeqCst);
        assert!(n <= LOG_CAP, "child log overflow: {n}");
        // SAFETY: the first n slots were written by the child, which has exited.
        (0..n)
            .map(|i| unsafe { self.items[i].assume_init() })
            .collect()
    }
}

/// A [`Log`] in memory shared with a child to be forked.
struct SharedLog(*mut Log);

impl SharedLog {
    fn new() -> SharedLog {
        let size = size_of::<Log>();
        // SAFETY: a fresh anonymous shared mapping; zeroed memory is an empty log.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED, "mmap of the shared log");
        SharedLog(p.cast())
    }

    fn log(&self) -> &Log {
        // SAFETY: mapped for our lifetime; only atomics and write-once slots inside.
        unsafe { &*self.0 }
    }
}

impl Drop for SharedLog {
    fn drop(&mut self) {
        // SAFETY: unmaps the mapping made in `new`.
        unsafe { libc::munmap(self.0.cast(), size_of::<Log>()) };
    }
}

// ---- the child's script (async-signal-safe: no allocation, no locks, raw libc only) -----------

/// A `PERF_ATTR_SIZE_VER1` attr: the head is all these tests set.
type Attr = common::perf::PerfEventAttrHead;

const PERF_TYPE_HARDWARE: u32 = 0;
const PERF_TYPE_SOFTWARE: u32 = 1;
const PERF_COUNT_SW_TASK_CLOCK: u64 = 1;
const PERF_FLAG_FD_CLOEXEC: u32 = 8;
/// disabled | exclude_kernel | exclude_hv.
const ATTR_FLAGS: u64 = perf::ATTR_DISABLED | perf::ATTR_EXCLUDE_KERNEL | perf::ATTR_EXCLUDE_HV;
const IOC_ENABLE: u32 = 0x2400;
const IOC_DISABLE: u32 = 0x2401;
const IOC_RESET: u32 = 0x2403;
const IOC_BOGUS: u32 = 0x24ff;

fn errno_ret(r: i64) -> i64 {
    if r < 0 {
        // SAFETY: reads this thread's errno.
        -i64::from(unsafe { *libc::__errno_location() })
    } else {
        r
    }
}

/// Opens `attr` (by value: the kernel may write its size back into it) and logs the call with
/// the attr as passed.
fn open(log: &Log, mut attr: Attr, pid: i32) -> i64 {
    let passed = attr;
    let seen = move |ret| Seen::Open {
        attr_type: passed.type_,
        attr_size: passed.size,
        config: passed.config,
        config1: passed.config1,
        // The probe reports config2 only for attrs that have it (VER1 = 72 bytes and up).
        config2: if passed.size >= 72 { passed.config2 } else { 0 },
        attr_flags: passed.flags,
        pid,
        cpu: -1,
        group_fd: -1,
        flags: PERF_FLAG_FD_CLOEXEC,
        ret,
    };
    // SAFETY: attr is a valid perf_event_attr (its size field says how much the kernel reads).
    let r = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &raw mut attr,
            pid,
            -1,
            -1,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    let ret = errno_ret(r);
    log.push(seen(ret));
    ret
}

fn ioctl(log: Option<&Log>, fd: i32, cmd: u32, arg: u64) {
    // SAFETY: perf ioctls take an integer argument.
    let ret = errno_ret(unsafe { libc::ioctl(fd, cmd as _, arg) } as i64);
    if let Some(log) = log {
        log.push(Seen::Ioctl { fd, cmd, arg, ret });
    }
}

fn read(log: Option<&Log>, fd: i32, count: usize) {
    let mut buf = [0u8; 64];
    // SAFETY: buf holds count <= 64 bytes.
    let ret = errno_ret(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), count) } as i64);
    if let Some(log) = log {
        log.push(Seen::Read {
            fd,
            count: count as u64,
            ret,
        });
    }
}

fn close(log: Option<&Log>, fd: i32) {
    // SAFETY: plain close.
    let ret = errno_ret(unsafe { libc::close(fd) } as i64);
    if let Some(log) = log {
        log.push(Seen::Close { fd, ret });
    }
}

fn munmap(log: &Log, addr: *mut libc::c_void, len: usize) {
    // SAFETY: unmaps a mapping the script made.
    let ret = errno_ret(unsafe { libc::munmap(addr, len) } as i64);
    log.push(Seen::Munmap {
        addr: addr as u64,
        len: len as u64,
        ret,
    });
}

/// The log the trap handler writes to (set in the child only).
static TRAP_LOG: AtomicPtr<Log> = AtomicPtr::new(ptr::null_mut());

#[cfg(target_arch = "x86_64")]
const TRAP_SIGNAL: i32 = libc::SIGSEGV;
#[cfg(target_arch = "aarch64")]
const TRAP_SIGNAL: i32 = libc::SIGILL;

/// Logs the trap and steps over the counter read.
extern "C" fn on_trap(sig: i32, info: *mut libc::siginfo_t, uc: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo and ucontext to an SA_SIGINFO handler.
    unsafe {
        let uc = uc.cast::<libc::ucontext_t>();
        #[cfg(target_arch = "x86_64")]
        let pc = &mut (*uc).uc_mcontext.gregs[libc::REG_RIP as usize];
        #[cfg(target_arch = "aarch64")]
        let pc = &mut (*uc).uc_mcontext.pc;
        let ip = *pc as u64;
        let bytes = core::slice::from_raw_parts(ip as *const u8, 4);
        let counter_read = insn::decode_at(cfg!(target_arch = "aarch64"), bytes).is_some();
        let log = TRAP_LOG.load(Ordering::SeqCst);
        if !log.is_null() {
            (*log).push(Seen::Trap {
                signo: sig as u32,
                si_code: (*info).si_code,
                ip,
                counter_read,
            });
        }
        *pc += if cfg!(target_arch = "aarch64") { 4 } else { 2 };
    }
}

/// Executes this arch's user counter read; traps where user access is off.
#[inline(never)]
fn counter_read() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        let (lo, hi): (u32, u32);
        // SAFETY: rdpmc of counter 0; a #GP becomes SIGSEGV, handled by `on_trap`.
        unsafe { core::arch::asm!("rdpmc", in("ecx") 0u32, out("eax") lo, out("edx") hi) };
        u64::from(hi) << 32 | u64::from(lo)
    }
    #[cfg(target_arch = "aarch64")]
    {
        let v: u64;
        // SAFETY: mrs of the cycle counter; an undefined-instruction trap becomes SIGILL.
        unsafe { core::arch::asm!("mrs {v}, pmccntr_el0", v = out(reg) v) };
        v
    }
}

fn install_trap_handler(log: &Log) {
    TRAP_LOG.store(ptr::from_ref(log).cast_mut(), Ordering::SeqCst);
    // SAFETY: a zeroed sigaction with an SA_SIGINFO handler is valid.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_trap as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO;
        libc::sigaction(TRAP_SIGNAL, &sa, ptr::null_mut());
    }
}

/// Which parts of the script to run.
#[derive(Clone, Copy)]
struct Script {
    syscalls: bool,
    traps: u32,
}

/// The whole script; returns a non-zero step number where a call the rest depends on failed.
fn script(log: &Log, what: Script) -> i32 {
    install_trap_handler(log);
    for _ in 0..what.traps {
        std::hint::black_box(counter_read());
    }
    if !what.syscalls {
        return 0;
    }
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    let sw = Attr {
        type_: PERF_TYPE_SOFTWARE,
        size: size_of::<Attr>() as u32,
        config: PERF_COUNT_SW_TASK_CLOCK,
        flags: ATTR_FLAGS,
        ..Attr::default()
    };
    let fd = open(log, sw, 0);
    if fd < 0 {
        return 1;
    }
    let fd = fd as i32;
    // Hardware cycles with arm64's user-access bits: fails where there is no hardware PMU.
    let hw = Attr {
        type_: PERF_TYPE_HARDWARE,
        size: size_of::<Attr>() as u32,
        config1: 3,
        config2: 0x55,
        flags: ATTR_FLAGS,
        ..Attr::default()
    };
    let hw_fd = open(log, hw, me);
    // A size below PERF_ATTR_SIZE_VER0 always fails (E2BIG).
    let bad = Attr {
        size: 8,
        config2: 0x66,
        ..sw
    };
    open(log, bad, 0);

    for (cmd, arg) in [
        (IOC_ENABLE, 0),
        (IOC_DISABLE, 0),
        (IOC_RESET, 0),
        (IOC_ENABLE, 1),
        (IOC_BOGUS, 0),
    ] {
        ioctl(Some(log), fd, cmd, arg);
    }
    // Not a perf fd: stdin's ioctl is not reported.
    ioctl(None, 0, libc::FIONREAD as u32, 0);

    // SAFETY: maps the event's user page, as direct readers do.
    let page = unsafe {
        libc::mmap(
            ptr::null_mut(),
            4096,
            libc::PROT_READ,
            libc::MAP_SHARED,
            fd,
            0,
        )
    };
    log.push(Seen::Mmap {
        fd,
        prot: libc::PROT_READ as u32,
        len: 4096,
        ret: if page == libc::MAP_FAILED {
            errno_ret(-1)
        } else {
            page as i64
        },
    });
    if page == libc::MAP_FAILED {
        return 2;
    }
    // Anonymous memory: its mmap is not a perf mmap, but every munmap is reported.
    // SAFETY: a fresh private anonymous mapping.
    let anon = unsafe {
        libc::mmap(
            ptr::null_mut(),
            8192,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if anon == libc::MAP_FAILED {
        return 3;
    }
    munmap(log, anon, 8192);

    read(Some(log), fd, 8);
    // Too small a buffer for the value: fails (ENOSPC), still a perf read.
    read(Some(log), fd, 4);
    for _ in 0..what.traps {
        std::hint::black_box(counter_read());
    }
    munmap(log, page, 4096);
    close(Some(log), fd);
    // The number is free again: a plain file likely gets it, and its calls are not perf calls.
    // SAFETY: opening a path literal.
    let null = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY) };
    read(None, null, 8);
    ioctl(None, null, libc::FIONREAD as u32, 0);
    close(None, null);
    // Already closed: not a perf fd any more.
    close(None, fd);
    if hw_fd >= 0 {
        close(Some(log), hw_fd as i32);
    }
    0
}

/// A forked child that runs `script` once released.
struct Child {
    pid: i32,
    go: i32,
}

impl Child {
    fn spawn(log: &SharedLog, what: Script) -> Child {
        let mut fds = [0i32; 2];
        // SAFETY: pipe fills two fds.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: the child only makes raw libc calls and exits with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            // SAFETY: in the child: wait for the go byte, run, exit without unwinding.
            unsafe {
                libc::close(fds[1]);
                let mut b = 0u8;
                libc::read(fds[0], (&raw mut b).cast(), 1);
                libc::close(fds[0]);
                libc::_exit(script(log.log(), what));
            }
        }
        // SAFETY: the parent keeps only the write end.
        unsafe { libc::close(fds[0]) };
        Child { pid, go: fds[1] }
    }

    /// Releases the child and waits for it; panics unless it ran its script through.
    fn run(self) {
        // SAFETY: writes one byte to our pipe end, then reaps our own child.
        unsafe {
            assert_eq!(libc::write(self.go, [1u8].as_ptr().cast(), 1), 1);
            libc::close(self.go);
            let mut status = 0;
            assert_eq!(libc::waitpid(self.pid, &mut status, 0), self.pid);
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "child script failed: wait status {status:#x}"
            );
        }
    }
}

// ---- the probes --------------------------------------------------------------------------

fn is_root() -> bool {
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    eprintln!("skipped: loading eBPF programs needs root");
    false
}

fn load() -> Ebpf {
    load_with(&offsets::running_kernel())
}

fn load_with(o: &KernelOffsets) -> Ebpf {
    let settings = Settings {
        own_tgid: std::process::id(),
        ..Settings::default()
    };
    EbpfLoader::new()
        .override_global("SETTINGS", &settings, true)
        .override_global("OFFSETS", o, true)
        .load(EBPF_OBJECT)
        .expect("load the eBPF object")
}

fn add_target(ebpf: &mut Ebpf, pid: i32) {
    let mut targets: HashMap<&mut MapData, u32, u8> =
        HashMap::try_from(ebpf.map_mut("TARGETS").expect("TARGETS")).expect("TARGETS type");
    targets.insert(pid as u32, 1, 0).expect("insert target");
}

/// Every record in the ring buffer now, and the drop count.
fn drain(ebpf: &mut Ebpf) -> (Vec<Event>, u64) {
    let drops: PerCpuArray<&MapData, u64> =
        PerCpuArray::try_from(ebpf.map("DROPS").expect("DROPS")).expect("DROPS type");
    let dropped = drops.get(&0, 0).expect("DROPS[0]").iter().sum();
    let mut ring = RingBuf::try_from(ebpf.map_mut("EVENTS").expect("EVENTS")).expect("ring");
    let mut events = Vec::new();
    while let Some(item) = ring.next() {
        events.push(common::decode(&item).expect("decodable record"));
    }
    (events, dropped)
}

/// What a record says, in the child's terms (None: not a syscall or trap record).
fn seen(e: &Event) -> Option<Seen> {
    Some(match e {
        Event::PerfOpen(r) => Seen::Open {
            attr_type: r.attr_type,
            attr_size: r.attr_size,
            config: r.config,
            config1: r.config1,
            config2: r.config2,
            attr_flags: r.attr_flags,
            pid: r.target_pid,
            cpu: r.cpu_arg,
            group_fd: r.group_fd,
            flags: r.flags,
            ret: r.ret,
        },
        Event::PerfIoctl(r) => Seen::Ioctl {
            fd: r.fd,
            cmd: r.cmd,
            arg: r.arg,
            ret: r.ret,
        },
        Event::PerfMmap(r) => Seen::Mmap {
            fd: r.fd,
            prot: r.prot,
            len: r.len,
            ret: r.ret,
        },
        Event::Munmap(r) => Seen::Munmap {
            addr: r.addr,
            len: r.len,
            ret: r.ret,
        },
        Event::PerfRead(r) => Seen::Read {
            fd: r.fd,
            count: r.count,
            ret: r.ret,
        },
        Event::PerfClose(r) => Seen::Close {
            fd: r.fd,
            ret: r.ret,
        },
        Event::Trap(r) => Seen::Trap {
            signo: r.signo,
            si_code: r.si_code,
            ip: r.ip,
            counter_read: insn::decode_at(
                cfg!(target_arch = "aarch64"),
                &r.insn[..(r.insn_len as usize).min(16)],
            )
            .is_some(),
        },
        _ => return None,
    })
}

fn count(log: &[Seen], f: impl Fn(&Seen) -> bool) -> usize {
    log.iter().filter(|s| f(s)).count()
}

/// Runs `what` in a target child and in a non-target child at the same time; returns the
/// target's log and the records seen.
fn run_pair(ebpf: &mut Ebpf, what: Script) -> (Vec<Seen>, Vec<Event>) {
    let (log_t, log_o) = (SharedLog::new(), SharedLog::new());
    let target = Child::spawn(&log_t, what);
    let other = Child::spawn(&log_o, what);
    let target_pid = target.pid;
    add_target(ebpf, target_pid);
    let t = std::thread::spawn(move || other.run());
    target.run();
    t.join().expect("other child");
    let (events, dropped) = drain(ebpf);
    assert_eq!(dropped, 0, "records dropped");
    for e in &events {
        let h = e.header();
        assert_eq!(
            (h.pid, h.tid),
            (target_pid as u32, target_pid as u32),
            "record of a task that is not the target: {e:?}"
        );
    }
    (log_t.log().items(), events)
}

#[test]
fn perf_syscalls_and_traps_of_a_target_are_reported_exactly() {
    if !is_root() {
        return;
    }
    perf_syscalls_and_traps_reported_exactly(&offsets::running_kernel(), true);
}

/// The same with `read` as an enter/exit pair: where the exit-only program cannot be used
/// (here: the `pt_regs` offsets unknown, as on a kernel without them in BTF).
#[test]
fn perf_reads_are_reported_exactly_by_the_enter_exit_pair_too() {
    if !is_root() {
        return;
    }
    let o = KernelOffsets {
        regs_arg0: NO_OFFSET,
        ..offsets::running_kernel()
    };
    perf_syscalls_and_traps_reported_exactly(&o, false);
}

fn perf_syscalls_and_traps_reported_exactly(o: &KernelOffsets, read_exit_only: bool) {
    let mut ebpf = load_with(o);
    let mut cov = Coverage::default();
    syscalls::attach(&mut ebpf, &mut cov, o).expect("attach syscalls");
    traps::attach(&mut ebpf, &mut cov).expect("attach traps");
    let read_hook = cov.in_use("perf_read").map(|a| a.hook.clone());
    let want_hook = if read_exit_only {
        syscalls::READ_EXIT_HOOK
    } else {
        "syscalls/sys_enter_read"
    };
    assert_eq!(read_hook.as_deref(), Some(want_hook), "{cov:?}");
    for signal in [
        "perf_event_open",
        "perf_ioctl",
        "perf_mmap",
        "munmap",
        "perf_read",
        "perf_close",
    ] {
        let a = cov
            .in_use(signal)
            .unwrap_or_else(|| panic!("{signal}: {cov:?}"));
        assert_eq!(a.method, Method::Tracepoint);
    }
    assert_eq!(cov.in_use("traps").expect("traps").method, Method::TpBtf);

    let (log, events) = run_pair(
        &mut ebpf,
        Script {
            syscalls: true,
            traps: 2,
        },
    );
    let got: Vec<Seen> = events.iter().filter_map(seen).collect();
    assert_eq!(got, log);

    // The script really did what the comparison covers.
    assert_eq!(count(&log, |s| matches!(s, Seen::Open { .. })), 3);
    assert_eq!(
        count(&log, |s| matches!(s, Seen::Open { ret, .. } if *ret < 0)),
        2 - usize::from(
            log.iter()
                .any(|s| matches!(s, Seen::Open { attr_type: 0, ret, .. } if *ret >= 0))
        )
    );
    assert_eq!(count(&log, |s| matches!(s, Seen::Ioctl { .. })), 5);
    assert_eq!(count(&log, |s| matches!(s, Seen::Mmap { .. })), 1);
    assert_eq!(count(&log, |s| matches!(s, Seen::Munmap { .. })), 2);
    assert_eq!(count(&log, |s| matches!(s, Seen::Read { .. })), 2);
    let traps: Vec<&Seen> = log
        .iter()
        .filter(|s| matches!(s, Seen::Trap { .. }))
        .collect();
    if !has_hardware_pmu() {
        // Without a PMU every counter read traps, at the instruction itself.
        assert_eq!(traps.len(), 4, "{log:?}");
        for t in traps {
            let Seen::Trap {
                ip, counter_read, ..
            } = t
            else {
                unreachable!()
            };
            assert!(*ip != 0 && *counter_read, "{t:?}");
        }
        let trap = events.iter().find_map(|e| match e {
            Event::Trap(t) => Some(*t),
            _ => None,
        });
        let trap = trap.expect("a trap record");
        assert!(trap.insn_len >= 2 && trap.result == 1, "{trap:?}");
    }
}

#[test]
fn the_tracepoint_fallback_reports_traps_without_an_ip() {
    if !is_root() {
        return;
    }
    let mut ebpf = load();
    let mut cov = Coverage::default();
    traps::attach_fallback(&mut ebpf, &mut cov);
    assert_eq!(cov.attachments.len(), 1);
    assert_eq!(cov.attachments[0].status, Status::Active, "{cov:?}");
    let (log, events) = run_pair(
        &mut ebpf,
        Script {
            syscalls: false,
            traps: 3,
        },
    );
    let want: Vec<Seen> = log
        .iter()
        .map(|s| match *s {
            Seen::Trap { signo, si_code, .. } => Seen::Trap {
                signo,
                si_code,
                ip: 0,
                counter_read: false,
            },
            other => other,
        })
        .collect();
    let got: Vec<Seen> = events.iter().filter_map(seen).collect();
    assert_eq!(got, want);
    if !has_hardware_pmu() {
        assert_eq!(want.len(), 3);
    }
}

/// True where the core PMU exists (then counter reads may be allowed and not trap).
fn has_hardware_pmu() -> bool {
    [
        "/sys/bus/event_source/devices/cpu",
        "/sys/bus/event_source/devices/cpu_core",
    ]
    .iter()
    .any(|p| std::path::Path::new(p).exists())
        || std::fs::read_dir("/sys/bus/event_source/devices")
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with("armv8"))
            })
            .unwrap_or(false)
}

/// Opens a close-on-exec perf fd A and an inheritable one B, then execs a shell that opens
/// files (getting A's number back: the loader's libraries, /dev/null) and closes B. Never
/// returns on success.
fn exec_script(log: &Log) -> i32 {
    // Only 0..2 open: A and B get 3 and 4, and the shell's first open gets A's number back.
    // SAFETY: closes inherited fds of this child only.
    unsafe { libc::syscall(libc::SYS_close_range, 3, u32::MAX, 0) };
    let sw = Attr {
        type_: PERF_TYPE_SOFTWARE,
        size: size_of::<Attr>() as u32,
        config: PERF_COUNT_SW_TASK_CLOCK,
        flags: ATTR_FLAGS,
        ..Attr::default()
    };
    if open(log, sw, 0) < 0 {
        return 1;
    }
    // SAFETY: as in `open`, without PERF_FLAG_FD_CLOEXEC.
    let b = unsafe { libc::syscall(libc::SYS_perf_event_open, &raw const sw, 0, -1, -1, 0) };
    if b < 0 {
        return 2;
    }
    log.push(Seen::Open {
        attr_type: sw.type_,
        attr_size: sw.size,
        config: sw.config,
        config1: 0,
        config2: 0,
        attr_flags: sw.flags,
        pid: 0,
        cpu: -1,
        group_fd: -1,
        flags: 0,
        ret: b,
    });
    // The shell closes B: that close must still be seen after the exec.
    log.push(Seen::Close {
        fd: b as i32,
        ret: 0,
    });
    // B's number as a C string, without allocating.
    let mut num = [0u8; 12];
    let mut digits = [0u8; 10];
    let (mut v, mut n) = (b as u32, 0);
    loop {
        digits[n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for i in 0..n {
        num[i] = digits[n - 1 - i];
    }
    let argv = [
        c"sh".as_ptr(),
        c"-c".as_ptr(),
        c"exec 7</dev/null; eval \"exec $0>&-\"".as_ptr(),
        num.as_ptr().cast(),
        ptr::null(),
    ];
    // SAFETY: NUL-terminated strings and argv.
    unsafe { libc::execv(c"/bin/sh".as_ptr(), argv.as_ptr()) };
    3
}

#[test]
fn close_on_exec_perf_fds_are_forgotten_at_exec_and_inherited_ones_kept() {
    if !is_root() {
        return;
    }
    let o = offsets::running_kernel();
    let mut ebpf = load_with(&o);
    let mut cov = Coverage::default();
    syscalls::attach(&mut ebpf, &mut cov, &o).expect("attach syscalls");
    assert_eq!(
        cov.in_use(syscalls::EXEC_SIGNAL).map(|a| a.method),
        Some(Method::Tracepoint),
        "{cov:?}"
    );
    let log = SharedLog::new();
    let mut fds = [0i32; 2];
    // SAFETY: pipe fills two fds.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: the child only makes raw libc calls and ends in exec or _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        // SAFETY: in the child: wait for the go byte, then the script.
        unsafe {
            libc::close(fds[1]);
            let mut b = 0u8;
            libc::read(fds[0], (&raw mut b).cast(), 1);
            libc::close(fds[0]);
            libc::_exit(exec_script(log.log()));
        }
    }
    // SAFETY: parent's side of the pipe.
    unsafe { libc::close(fds[0]) };
    add_target(&mut ebpf, pid);
    Child { pid, go: fds[1] }.run();
    let (events, dropped) = drain(&mut ebpf);
    assert_eq!(dropped, 0);
    // The shell's own munmaps are reported too (every munmap is); the rest must be exact.
    let got: Vec<Seen> = events
        .iter()
        .filter_map(seen)
        .filter(|s| !matches!(s, Seen::Munmap { .. }))
        .collect();
    assert_eq!(got, log.log().items());
}
