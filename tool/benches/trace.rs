//! Trace file figures (issue 5): record throughput (events/s through the writer into a file:
//! encode, zstd, checksum, write), bytes per event on disk, reader throughput, and
//! `pmuwatch report` wall time and peak memory (max RSS of the child) for files of 1 M and
//! 10 M events: bounded memory shows as the same peak for both.
//!
//! `cargo bench -p tool --bench trace` (release build). `PMW_BENCH_EVENTS=N` changes the big
//! file's size; `PMW_BENCH_DIR` where files go (default: a temporary directory).
//! The stream is `trace::synth` (demo-like mix: 40% direct reads, 30% switches, 10%
//! migrations, 10% read(2), traps, ioctls, drops).

use std::{
    hint::black_box,
    path::Path,
    process::{Command, Stdio},
    time::Instant,
};

use common::Event;
use pmuwatch::trace::{Meta, Target, TraceReader, TraceWriter, Trailer, synth};

const BIN: &str = env!("CARGO_BIN_EXE_pmuwatch");
/// Events generated once and written repeatedly (timestamps shifted), so generation is not
/// timed.
const CHUNK: usize = 1_000_000;

fn main() {
    // `cargo test --benches` runs benches with `--bench` absent: do a tiny smoke run then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let big: usize = std::env::var("PMW_BENCH_EVENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if quick { 20_000 } else { 10_000_000 });
    let tmp = tempfile::tempdir().expect("temporary directory");
    let dir = std::env::var_os("PMW_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let chunk: Vec<Event> = synth::events(CHUNK.min(big), 42);
    let small = (big / 10).max(1);

    let small_path = dir.join("bench-small.pmw");
    let big_path = dir.join("bench-big.pmw");
    write(&small_path, &chunk, small);
    let (secs, bytes) = write(&big_path, &chunk, big);
    println!(
        "record: {big} events in {secs:.2} s = {:.2} M events/s through the writer",
        big as f64 / secs / 1e6
    );
    println!(
        "disk: {bytes} bytes = {:.2} bytes/event ({} raw bytes/event before zstd)",
        bytes as f64 / big as f64,
        chunk.iter().map(|e| e.bytes().len()).sum::<usize>() / chunk.len()
    );

    let t = Instant::now();
    let mut r = TraceReader::open(&big_path).expect("bench file opens");
    let mut n = 0usize;
    for e in r.by_ref() {
        black_box(e.header().ts_ns);
        n += 1;
    }
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(n, big);
    assert!(!r.damage().any(), "{}", r.damage().describe());
    println!(
        "read: {n} events in {secs:.2} s = {:.2} M events/s (reader only)",
        n as f64 / secs / 1e6
    );

    for (label, path, events) in [("small", &small_path, small), ("big", &big_path, big)] {
        let (secs, maxrss_kib) = report(path);
        println!(
            "report --json, {label} file ({events} events): {secs:.2} s, peak RSS {:.1} MiB",
            maxrss_kib as f64 / 1024.0
        );
    }
}

/// Writes `n` events (the chunk again and again, later each time); returns seconds, bytes.
fn write(path: &Path, chunk: &[Event], n: usize) -> (f64, u64) {
    let meta = Meta::now(vec!["bench".into()], Target::default());
    let span = chunk.last().map_or(0, |e| e.header().ts_ns) + 1;
    let t = Instant::now();
    let mut w = TraceWriter::create(path, &meta).expect("bench file");
    let mut left = n;
    let mut round = 0u64;
    while left > 0 {
        for e in chunk.iter().take(left) {
            let mut e = *e;
            e.header_mut().ts_ns += round * span;
            w.push(&e).expect("write");
        }
        left = left.saturating_sub(chunk.len());
        round += 1;
    }
    let (file, stats) = w.finish(&Trailer::default()).expect("finish");
    file.sync_all().expect("sync");
    (t.elapsed().as_secs_f64(), stats.file_bytes)
}

/// Runs `pmuwatch report --json FILE`; returns wall seconds and the child's max RSS in KiB.
#[expect(
    clippy::zombie_processes,
    reason = "reaped by wait4, which also gives its rusage"
)]
fn report(path: &Path) -> (f64, i64) {
    let t = Instant::now();
    let child = Command::new(BIN)
        .args(["report", "--json"])
        .arg(path)
        .stdout(Stdio::null())
        .spawn()
        .expect("pmuwatch runs");
    let mut status = 0;
    // SAFETY: zeroed rusage is a valid out value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child with valid out pointers.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut ru) };
    assert_eq!(pid, child.id() as i32, "wait4");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "report failed"
    );
    (t.elapsed().as_secs_f64(), ru.ru_maxrss)
}
