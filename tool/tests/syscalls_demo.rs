//! Acceptance of the syscall and trap probes against `pmuwatch demo --careless` (root only;
//! skipped with a message otherwise): the probes' counts of perf_event_open calls (ok and
//! failed), ioctls (by command, failures), mmaps, munmaps of those pages, reads, closes and traps
//! must equal the demo's own counts exactly, per thread where the demo reports per thread.

use std::{
    collections::{BTreeMap, BTreeSet},
    io::{Read, Write},
    process::{Command, Stdio},
    time::Duration,
};

use aya::{
    Ebpf, EbpfLoader,
    maps::{HashMap, MapData, PerCpuArray, RingBuf},
};
use common::{Event, config::Settings, insn};
use pmuwatch::probe::{EBPF_OBJECT, coverage::Coverage, offsets, syscalls, traps};
use serde_json::Value;

const IOC_ENABLE: u32 = 0x2400;
const IOC_DISABLE: u32 = 0x2401;
const IOC_RESET: u32 = 0x2403;

fn load() -> Ebpf {
    let settings = Settings {
        own_tgid: std::process::id(),
        ..Settings::default()
    };
    let mut ebpf = EbpfLoader::new()
        .override_global("SETTINGS", &settings, true)
        .override_global("OFFSETS", &offsets::running_kernel(), true)
        .load(EBPF_OBJECT)
        .expect("load the eBPF object");
    let mut cov = Coverage::default();
    syscalls::attach(&mut ebpf, &mut cov, &offsets::running_kernel()).expect("attach syscalls");
    traps::attach(&mut ebpf, &mut cov).expect("attach traps");
    for line in cov.summary_lines() {
        eprintln!("coverage: {line}");
    }
    ebpf
}

/// `pmuwatch demo ARGS` held before it starts until [`Held::release`], so that its pid can be
/// made a target before it runs an instruction of its own: a shell waits for a line on stdin,
/// then execs the demo in place (same pid). (`pre_exec` cannot hold it: `spawn` waits for the
/// exec.)
struct Held {
    child: std::process::Child,
}

impl Held {
    fn spawn(args: &[&str]) -> Held {
        let child = Command::new("/bin/sh")
            .arg("-c")
            .arg("read go && exec \"$0\" demo \"$@\"")
            .arg(env!("CARGO_BIN_EXE_pmuwatch"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sh -c 'exec pmuwatch demo'");
        Held { child }
    }

    fn release(&mut self) {
        let mut stdin = self.child.stdin.take().expect("stdin");
        stdin.write_all(b"go\n").expect("release the demo");
    }
}

/// Counts of what the probes reported, in the demo's terms.
#[derive(Debug, Default)]
struct Seen {
    opens_ok: u64,
    opens_failed: u64,
    ioctls: u64,
    ioctls_by_cmd: BTreeMap<u32, u64>,
    ioctl_errors: u64,
    mmaps: u64,
    mmap_errors: u64,
    munmaps: u64,
    closes: u64,
    read_syscalls: u64,
    traps: u64,
    traps_sigsegv: u64,
    traps_sigill: u64,
    traps_not_counter_reads: u64,
    /// Per thread: (opens, ioctls, traps).
    per_tid: BTreeMap<u32, (u64, u64, u64)>,
    pids: BTreeSet<u32>,
}

impl Seen {
    fn add(&mut self, e: &Event, perf_pages: &mut BTreeSet<u64>) {
        let h = e.header();
        self.pids.insert(h.pid);
        let t = self.per_tid.entry(h.tid).or_default();
        match e {
            Event::PerfOpen(r) => {
                t.0 += 1;
                if r.ret >= 0 {
                    self.opens_ok += 1;
                } else {
                    self.opens_failed += 1;
                }
            }
            Event::PerfIoctl(r) => {
                t.1 += 1;
                self.ioctls += 1;
                *self.ioctls_by_cmd.entry(r.cmd).or_default() += 1;
                self.ioctl_errors += u64::from(r.ret < 0);
            }
            Event::PerfMmap(r) => {
                if r.ret < 0 {
                    self.mmap_errors += 1;
                } else {
                    self.mmaps += 1;
                    perf_pages.insert(r.ret as u64);
                }
            }
            // Every munmap of the target is reported; only those of perf pages count here.
            Event::Munmap(r) if r.ret == 0 && perf_pages.remove(&r.addr) => self.munmaps += 1,
            Event::PerfClose(_) => self.closes += 1,
            Event::PerfRead(_) => self.read_syscalls += 1,
            Event::Trap(r) => {
                t.2 += 1;
                self.traps += 1;
                match r.signo as i32 {
                    libc::SIGSEGV => self.traps_sigsegv += 1,
                    libc::SIGILL => self.traps_sigill += 1,
                    _ => {}
                }
                let bytes = &r.insn[..(r.insn_len as usize).min(16)];
                if r.ip == 0 || insn::decode_at(cfg!(target_arch = "aarch64"), bytes).is_none() {
                    self.traps_not_counter_reads += 1;
                }
            }
            _ => {}
        }
    }
}

fn drain(ring: &mut RingBuf<&mut MapData>, seen: &mut Seen, pages: &mut BTreeSet<u64>) {
    while let Some(item) = ring.next() {
        let e = common::decode(&item).expect("decodable record");
        seen.add(&e, pages);
    }
}

fn n(v: &Value, path: &[&str]) -> u64 {
    let mut v = v;
    for p in path {
        v = &v[p];
    }
    v.as_u64()
        .unwrap_or_else(|| panic!("demo report lacks {path:?}"))
}

#[test]
fn probe_counts_equal_the_careless_demos_own_counts() {
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: loading eBPF programs needs root");
        return;
    }
    let mut ebpf = load();
    let mut held = Held::spawn(&["--careless", "--duration", "1", "--threads", "2"]);
    let pid = held.child.id();
    {
        let mut targets: HashMap<&mut MapData, u32, u8> =
            HashMap::try_from(ebpf.map_mut("TARGETS").expect("TARGETS")).expect("TARGETS");
        targets.insert(pid, 1, 0).expect("add target");
    }
    held.release();

    let mut stdout = held.child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).map(|_| s)
    });
    let mut seen = Seen::default();
    let mut pages = BTreeSet::new();
    {
        let mut ring = RingBuf::try_from(ebpf.map_mut("EVENTS").expect("EVENTS")).expect("ring");
        // Drain while it runs (the ring buffer is finite), then once more after it exited:
        // every record is submitted before the process can be reaped.
        loop {
            drain(&mut ring, &mut seen, &mut pages);
            if held.child.try_wait().expect("wait").is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        drain(&mut ring, &mut seen, &mut pages);
    }
    let status = held.child.wait().expect("wait");
    let out = reader.join().expect("reader").expect("demo stdout");
    assert!(status.success(), "demo failed: {status}\n{out}");
    let drops: PerCpuArray<&MapData, u64> =
        PerCpuArray::try_from(ebpf.map("DROPS").expect("DROPS")).expect("DROPS");
    let dropped: u64 = drops.get(&0, 0).expect("DROPS[0]").iter().sum();
    assert_eq!(dropped, 0, "records dropped: no exact comparison possible");

    let report: Value = serde_json::from_str(&out).expect("demo JSON on stdout");
    assert_eq!(report["pid"].as_u64(), Some(u64::from(pid)));
    let t = &report["total"];
    eprintln!("probes saw: {seen:?}");
    assert_eq!(
        seen.pids,
        BTreeSet::from([pid]),
        "records of other processes"
    );

    assert_eq!(seen.opens_ok, n(t, &["opens_ok"]), "opens_ok");
    assert_eq!(seen.opens_failed, n(t, &["opens_failed"]), "opens_failed");
    assert_eq!(seen.ioctls, n(t, &["ioctls"]), "ioctls");
    for (cmd, key) in [
        (IOC_ENABLE, "ENABLE"),
        (IOC_DISABLE, "DISABLE"),
        (IOC_RESET, "RESET"),
    ] {
        let got = seen.ioctls_by_cmd.get(&cmd).copied().unwrap_or(0);
        assert_eq!(got, n(t, &["ioctls_by_cmd", key]), "ioctls {key}");
    }
    assert_eq!(seen.ioctl_errors, n(t, &["ioctl_errors"]), "ioctl_errors");
    assert_eq!(seen.mmaps, n(t, &["mmaps"]), "mmaps");
    assert_eq!(seen.mmap_errors, n(t, &["mmap_errors"]), "mmap_errors");
    assert_eq!(seen.munmaps, n(t, &["munmaps"]), "munmaps");
    assert_eq!(seen.closes, n(t, &["closes"]), "closes");
    assert_eq!(
        seen.read_syscalls,
        n(t, &["read_syscalls"]),
        "read_syscalls"
    );
    assert_eq!(seen.traps, n(t, &["traps"]), "traps");
    assert_eq!(
        seen.traps_sigsegv,
        n(t, &["traps_by_signal", "SIGSEGV"]),
        "SIGSEGV traps"
    );
    assert_eq!(
        seen.traps_sigill,
        n(t, &["traps_by_signal", "SIGILL"]),
        "SIGILL traps"
    );
    assert_eq!(
        seen.traps_not_counter_reads, 0,
        "every trap is at a counter read"
    );

    // Per thread: the demo's worker tids and the records' tids agree on opens and traps.
    let threads = report["per_thread"].as_array().expect("per_thread");
    for th in threads {
        let tid = n(th, &["tid"]) as u32;
        let c = &th["counts"];
        let (opens, ioctls, traps) = seen.per_tid.get(&tid).copied().unwrap_or_default();
        assert_eq!(
            opens,
            n(c, &["opens_ok"]) + n(c, &["opens_failed"]),
            "opens of thread {tid}"
        );
        assert_eq!(ioctls, n(c, &["ioctls"]), "ioctls of thread {tid}");
        assert_eq!(traps, n(c, &["traps"]), "traps of thread {tid}");
    }

    // The run exercised what the comparison is about (the demo guarantees this here: no PMU,
    // so hardware opens fail, software events fall back to read(2) and careless reads trap).
    assert!(seen.opens_ok > 0 && seen.ioctls > 0 && seen.read_syscalls > 0);
    if !std::path::Path::new("/sys/bus/event_source/devices/cpu").exists() {
        assert!(seen.opens_failed > 0, "hardware opens fail without a PMU");
        assert!(seen.traps > 0, "careless reads trap without a PMU");
    }
}
