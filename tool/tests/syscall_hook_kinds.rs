//! Benchmark (ignored by default; root): what the *kind* of syscall hook costs a read(2) on
//! this kernel, with empty programs, so that only the hook machinery is measured (issue 8).
//!
//!     cargo test -p tool --test syscall_hook_kinds -- --ignored --nocapture
//!
//! Per round, ns per read(2) and per write(2) of /dev/null (median of 7 x 100,000): bare; an empty program on
//! the per-syscall tracepoints `syscalls/sys_enter_read` + `sys_exit_read` (what
//! probe-ebpf/src/syscalls.rs attaches: the kernel builds a perf trace record before the
//! program runs); an empty `raw_tp` program on `sys_enter` + `sys_exit` (called directly with
//! the registers, for every syscall). bpf_stats cannot see the difference: it only times the
//! program. Figures only, no timed assertions.

use std::{hint::black_box, time::Instant};

use aya::{
    EbpfLoader,
    programs::{RawTracePoint, TracePoint},
};
use pmuwatch::probe::EBPF_OBJECT;

const ROUNDS: usize = 6;

/// ns per read(2) and per write(2) of /dev/null: the read is hooked, the write shows what a
/// hook kind costs the syscalls pmuwatch does not trace.
fn ns_per_call() -> (f64, f64) {
    (ns_per(false), ns_per(true))
}

fn ns_per(write: bool) -> f64 {
    // SAFETY: a constant C string path.
    let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
    assert!(fd >= 0, "open /dev/null");
    let mut buf = [0u8; 8];
    let mut v: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..100_000 {
                // SAFETY: buf holds 8 bytes.
                black_box(unsafe {
                    if write {
                        libc::write(fd, buf.as_ptr().cast(), 8)
                    } else {
                        libc::read(fd, buf.as_mut_ptr().cast(), 8)
                    }
                });
            }
            t.elapsed().as_nanos() as f64 / 100_000.0
        })
        .collect();
    // SAFETY: our fd.
    unsafe { libc::close(fd) };
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[test]
#[ignore = "benchmark: run by hand as root with --ignored --nocapture"]
fn read_cost_per_syscall_hook_kind() {
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root");
        return;
    }
    eprintln!(
        "ns per call of /dev/null, read(2) / write(2): bare | tracepoint enter+exit read | raw_tp sys_enter+sys_exit"
    );
    for round in 0..ROUNDS {
        let bare = ns_per_call();
        let mut tp = EbpfLoader::new().load(EBPF_OBJECT).expect("load");
        {
            let p: &mut TracePoint = tp
                .program_mut("canary_tracepoint")
                .expect("canary_tracepoint")
                .try_into()
                .expect("a tracepoint program");
            p.load().expect("load canary_tracepoint");
            p.attach("syscalls", "sys_enter_read").expect("attach");
            p.attach("syscalls", "sys_exit_read").expect("attach");
        }
        let with_tp = ns_per_call();
        drop(tp);
        let mut raw = EbpfLoader::new().load(EBPF_OBJECT).expect("load");
        {
            let p: &mut RawTracePoint = raw
                .program_mut("canary_raw_tp")
                .expect("canary_raw_tp")
                .try_into()
                .expect("a raw_tp program");
            p.load().expect("load canary_raw_tp");
            p.attach("sys_enter").expect("attach");
            p.attach("sys_exit").expect("attach");
        }
        let with_raw = ns_per_call();
        drop(raw);
        eprintln!(
            "round {round}: {:.0} / {:.0} | {:.0} / {:.0} | {:.0} / {:.0}",
            bare.0, bare.1, with_tp.0, with_tp.1, with_raw.0, with_raw.1
        );
    }
}
