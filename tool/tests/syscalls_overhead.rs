//! Benchmark (ignored by default; root): what the syscall probes cost the traced system.
//!
//!     cargo test -p tool --test syscalls_overhead -- --ignored --nocapture
//!
//! (The dev profile is fine: the cost measured is in the kernel, the loop only calls read.)
//!
//! Prints nanoseconds per `read(2)` with and without the probes attached, for a process that
//! is not a target (every read on the system pays this) and for a target reading a perf fd
//! (each read becomes a `PerfRead` record). Figures only, no timed assertions.

use std::{hint::black_box, time::Instant};

use aya::{
    Ebpf, EbpfLoader,
    maps::{HashMap, MapData, RingBuf},
};
use common::config::Settings;
use pmuwatch::probe::{EBPF_OBJECT, coverage::Coverage, offsets, syscalls};

const RUNS: usize = 7;
/// Fewer than the ring buffer holds (8 MiB / 48-byte records) so nothing drops mid-run.
const READS: usize = 100_000;

fn load() -> Ebpf {
    // own_tgid 0: this process is traced like any other (a target or not, by TARGETS).
    let settings = Settings::default();
    EbpfLoader::new()
        .override_global("SETTINGS", &settings, true)
        .override_global("OFFSETS", &offsets::running_kernel(), true)
        .load(EBPF_OBJECT)
        .expect("load")
}

/// A software event of this process, readable with read(2).
fn perf_fd() -> i32 {
    let mut attr = [0u64; 17];
    attr[0] = 1 | (136u64 << 32); // PERF_TYPE_SOFTWARE, size
    attr[1] = 1; // PERF_COUNT_SW_TASK_CLOCK
    // SAFETY: a valid perf_event_attr of 136 bytes.
    let fd = unsafe { libc::syscall(libc::SYS_perf_event_open, attr.as_ptr(), 0, -1, -1, 8) };
    assert!(fd >= 0, "perf_event_open");
    fd as i32
}

/// Median ns per read of `fd` over RUNS runs; `between` runs after each (to drain the ring).
fn ns_per_read(fd: i32, mut between: impl FnMut()) -> f64 {
    let mut buf = [0u8; 8];
    let mut runs: Vec<f64> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..READS {
                // SAFETY: buf holds 8 bytes.
                black_box(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), 8) });
            }
            let ns = t.elapsed().as_nanos() as f64 / READS as f64;
            between();
            ns
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[RUNS / 2]
}

#[test]
#[ignore = "benchmark: run by hand as root with --ignored --nocapture"]
fn read_syscall_cost_with_and_without_the_probes() {
    // SAFETY: no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 0, "needs root");
    // SAFETY: opening a path literal.
    let null = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY) };
    let pfd = perf_fd();
    let base_null = ns_per_read(null, || {});
    let base_perf = ns_per_read(pfd, || {});

    let mut ebpf = load();
    let mut cov = Coverage::default();
    syscalls::attach(&mut ebpf, &mut cov, &offsets::running_kernel()).expect("attach");
    let not_target = ns_per_read(null, || {});
    {
        let mut t: HashMap<&mut MapData, u32, u8> =
            HashMap::try_from(ebpf.map_mut("TARGETS").expect("TARGETS")).expect("TARGETS");
        t.insert(std::process::id(), 1, 0).expect("target");
    }
    // Only perf_event_open calls made while attached register a perf fd.
    let traced_fd = perf_fd();
    let mut ring = RingBuf::try_from(ebpf.take_map("EVENTS").expect("EVENTS")).expect("ring");
    let mut records = 0usize;
    let target_other = ns_per_read(null, || {});
    let target_perf = ns_per_read(traced_fd, || {
        while ring.next().is_some() {
            records += 1;
        }
    });
    assert!(
        records >= RUNS * READS,
        "every perf read was recorded ({records})"
    );
    println!("read(2), ns per call, median of {RUNS} x {READS}:");
    println!("  not attached: /dev/null {base_null:.0}, perf fd {base_perf:.0}");
    println!("  attached, not a target: /dev/null {not_target:.0}");
    println!(
        "  attached, target: /dev/null {target_other:.0}, perf fd (recorded) {target_perf:.0}"
    );
}
