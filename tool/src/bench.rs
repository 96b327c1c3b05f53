//! `pmuwatch bench-helper` (hidden): the in-process parts of `cargo xtask bench` (issue 8),
//! in the release binary itself so that the bench needs no extra build. One core, the
//! synthetic stream of [`crate::trace::synth`] (shaped like a demo recording).
//!
//! `rate N`: events/s through each stage (decode of ring-buffer bytes, engine, recorder =
//! trace writer with zstd into a sink) and all three chained, as one JSON line.
//! `write FILE N`: writes an N-event synthetic trace (for the memory figure of
//! `pmuwatch report FILE`).
//! `migrate N`: the CPU-migration-heavy workload of the overhead figure: moves itself to the
//! next allowed CPU N times (each a migration and a context switch) and prints
//! `Total time: S [sec]` like `perf bench`.
//! `scan FILE...`: reads and scans each file for counter-read sites as a new image is scanned
//! live (system-wide, every exec's files); prints `{"bytes": B, "secs": S, "sites": N}` (best
//! of a few passes).
//! `tasks N`: N threads alive at once, each with a perf event it opens, reads and closes (the
//! live memory figure: N task rows in the engine).
//! `flood THREADS SECS RATE`: THREADS threads each `read(2)` a software perf event RATE times
//! a second (0: as fast as they can) for SECS seconds (the drop figure: one record per read);
//! prints `{"reads": N, "secs": S}`.
//!
//! A figure is the best of a few passes: on a loaded machine the best pass is the closest to
//! what the code costs, the others measure the neighbours.

use std::{hint::black_box, path::Path, process::ExitCode, time::Instant};

use anyhow::{Context, bail};
use common::Event;

use crate::{
    engine::{Engine, Facts},
    trace::{Meta, Target, TraceWriter, Trailer, synth},
};

const PASSES: usize = 3;

/// Runs `bench-helper ARGS`.
pub fn run(args: &[String]) -> anyhow::Result<ExitCode> {
    helper(args)?;
    Ok(ExitCode::SUCCESS)
}

fn helper(args: &[String]) -> anyhow::Result<()> {
    let count = |s: Option<&String>| -> anyhow::Result<usize> {
        s.context("missing event count")?
            .parse()
            .context("the event count is not a number")
    };
    match args.first().map(String::as_str) {
        Some("rate") => rate(count(args.get(1))?),
        Some("write") => {
            let path = args.get(1).context("missing FILE")?;
            write(Path::new(path), count(args.get(2))?)
        }
        Some("migrate") => migrate(count(args.get(1))?),
        Some("scan") => scan_files(&args[1..]),
        Some("tasks") => tasks(count(args.get(1))?),
        Some("flood") => flood(
            count(args.get(1))?,
            count(args.get(2))?,
            count(args.get(3))?,
        ),
        _ => bail!(
            "usage: pmuwatch bench-helper rate N | write FILE N | migrate N | scan FILE... | tasks N | flood THREADS SECS RATE"
        ),
    }
}

/// Best (shortest) of [`PASSES`] timings of `f`, in seconds.
fn best(mut f: impl FnMut()) -> f64 {
    (0..PASSES)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn rate(n: usize) -> anyhow::Result<()> {
    let events = synth::events(n, 1);
    // The ring buffer's view: records back to back, each padded to 8 bytes.
    let mut wire = Vec::with_capacity(n * 64);
    let mut offsets = Vec::with_capacity(n);
    for e in &events {
        offsets.push(wire.len());
        wire.extend_from_slice(e.bytes());
        wire.resize(wire.len().next_multiple_of(8), 0);
    }
    let decode = best(|| {
        for &o in &offsets {
            black_box(common::decode(&wire[o..]).ok());
        }
    });
    let engine = best(|| {
        let mut eng = Engine::new(Facts::default());
        eng.feed_all(&events);
        black_box(eng.summary());
    });
    let record = best(|| {
        let _ = write_to(std::io::sink(), &events);
    });
    let chained = best(|| {
        let mut eng = Engine::new(Facts::default());
        let Ok(mut w) = TraceWriter::new(std::io::sink(), &meta()) else {
            return;
        };
        for &o in &offsets {
            if let Ok(e) = common::decode(&wire[o..]) {
                eng.feed(&e);
                let _ = w.push(&e);
            }
        }
        let _ = w.finish(&Trailer::default());
        black_box(eng.summary());
    });
    let per_s = |secs: f64| n as f64 / secs;
    println!(
        "{}",
        serde_json::json!({
            "events": n,
            "decode_per_s": per_s(decode),
            "engine_per_s": per_s(engine),
            "record_per_s": per_s(record),
            "chained_per_s": per_s(chained),
        })
    );
    Ok(())
}

fn meta() -> Meta {
    Meta::now(
        vec!["pmuwatch".into(), "bench-helper".into()],
        Target::default(),
    )
}

fn write_to<W: std::io::Write>(out: W, events: &[Event]) -> std::io::Result<W> {
    let mut w = TraceWriter::new(out, &meta())?;
    for e in events {
        w.push(e)?;
    }
    Ok(w.finish(&Trailer::default())?.0)
}

fn write(path: &Path, n: usize) -> anyhow::Result<()> {
    let mut w = TraceWriter::create(path, &meta())
        .with_context(|| format!("cannot create {}", path.display()))?;
    // Streamed: 10 M events never sit in memory here.
    for e in synth::Synth::new(synth::Shape::default()).take(n) {
        w.push(&e)?;
    }
    w.finish(&Trailer::default())?;
    Ok(())
}

fn scan_files(files: &[String]) -> anyhow::Result<()> {
    if files.is_empty() {
        bail!("missing FILE");
    }
    let (mut bytes, mut sites) = (0, 0);
    let secs = best(|| {
        (bytes, sites) = (0, 0);
        for f in files {
            // Unreadable or not ELF: skipped, as the live scan skips it (with a note).
            let Ok(data) = std::fs::read(f) else { continue };
            bytes += data.len();
            sites += crate::sites::scan::scan(&data).map_or(0, |v| v.len());
        }
    });
    println!(r#"{{"bytes": {bytes}, "secs": {secs:.6}, "sites": {sites}}}"#);
    Ok(())
}

fn migrate(n: usize) -> anyhow::Result<()> {
    // SAFETY: cpu_set_t is plain data; the libc calls get valid pointers and sizes.
    let allowed: Vec<usize> = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            bail!("sched_getaffinity: {}", std::io::Error::last_os_error());
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    };
    if allowed.len() < 2 {
        bail!("the migration workload needs at least 2 allowed CPUs");
    }
    let t = Instant::now();
    for i in 0..n {
        let cpu = allowed[i % allowed.len()];
        // SAFETY: as above.
        let rc = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set)
        };
        if rc != 0 {
            bail!("sched_setaffinity: {}", std::io::Error::last_os_error());
        }
    }
    println!("Total time: {:.6} [sec]", t.elapsed().as_secs_f64());
    Ok(())
}

/// A software task-clock event of the calling thread, readable with read(2).
fn task_clock() -> anyhow::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    let mut attr = [0u64; 17];
    attr[0] = 1 | (136u64 << 32); // PERF_TYPE_SOFTWARE, size 136
    attr[1] = 1; // PERF_COUNT_SW_TASK_CLOCK
    // SAFETY: a valid 136-byte perf_event_attr; PERF_FLAG_FD_CLOEXEC.
    let fd = unsafe { libc::syscall(libc::SYS_perf_event_open, attr.as_ptr(), 0, -1, -1, 8) };
    if fd < 0 {
        bail!("perf_event_open: {}", std::io::Error::last_os_error());
    }
    // SAFETY: a new fd we own.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}

fn read_once(fd: &std::os::fd::OwnedFd) {
    use std::os::fd::AsRawFd;
    let mut buf = [0u8; 8];
    // SAFETY: buf holds 8 bytes.
    black_box(unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), 8) });
}

fn tasks(n: usize) -> anyhow::Result<()> {
    use std::sync::{Arc, Barrier};
    let up = Arc::new(Barrier::new(n + 1));
    let down = Arc::new(Barrier::new(n + 1));
    let mut threads = Vec::with_capacity(n);
    for _ in 0..n {
        let (up, down) = (up.clone(), down.clone());
        let t = std::thread::Builder::new()
            .stack_size(64 << 10)
            .spawn(move || {
                let fd = task_clock().ok();
                if let Some(fd) = &fd {
                    read_once(fd);
                }
                up.wait();
                down.wait();
                fd.is_some()
            })
            .context("cannot start a thread")?;
        threads.push(t);
    }
    up.wait();
    // All N alive, each with its event: give a live viewer a moment to show them.
    std::thread::sleep(std::time::Duration::from_millis(500));
    down.wait();
    let ok = threads
        .into_iter()
        .filter_map(|t| t.join().ok())
        .filter(|&ok| ok)
        .count();
    println!("{}", serde_json::json!({"tasks": n, "with_event": ok}));
    Ok(())
}

fn flood(threads: usize, secs: usize, rate: usize) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let end = std::time::Duration::from_secs(secs as u64);
    let workers: Vec<_> = (0..threads.max(1))
        .map(|_| {
            std::thread::spawn(move || -> anyhow::Result<u64> {
                let fd = task_clock()?;
                let start = Instant::now();
                let mut reads = 0u64;
                while start.elapsed() < end {
                    // Paced: catch up to RATE reads per second of elapsed time, in bursts.
                    let due = if rate == 0 {
                        reads + 1000
                    } else {
                        (start.elapsed().as_secs_f64() * rate as f64) as u64
                    };
                    while reads < due {
                        read_once(&fd);
                        reads += 1;
                    }
                    if rate != 0 {
                        std::thread::sleep(std::time::Duration::from_micros(200));
                    }
                }
                Ok(reads)
            })
        })
        .collect();
    let mut reads = 0;
    for w in workers {
        reads += w
            .join()
            .map_err(|_| anyhow::anyhow!("a flood thread panicked"))??;
    }
    println!(
        "{}",
        serde_json::json!({"reads": reads, "secs": t0.elapsed().as_secs_f64()})
    );
    Ok(())
}
