//! In-process pipeline figures for `cargo xtask bench` (issue 8), on one core, from the
//! synthetic stream of `pmuwatch::trace::synth` (shaped like a demo recording).
//!
//! `bench_pipeline rate N`: events/s through each stage (decode of ring-buffer bytes, engine,
//! recorder = trace writer with zstd into a sink) and all three chained, as one JSON line.
//! `bench_pipeline write FILE N`: writes an N-event synthetic trace (for the memory figure of
//! `pmuwatch report FILE`).
//! `bench_pipeline migrate N`: the CPU-migration-heavy workload of the overhead figure: moves
//! itself to the next allowed CPU N times (each a migration and a context switch) and prints
//! `Total time: S [sec]` like `perf bench`.
//!
//! A figure is the best of a few passes: on a loaded machine the best pass is the closest to
//! what the code costs, the others measure the neighbours.

use std::{hint::black_box, path::Path, process::ExitCode, time::Instant};

use anyhow::{Context, bail};
use common::Event;
use pmuwatch::{
    engine::{Engine, Facts},
    trace::{Meta, Target, TraceWriter, Trailer, synth},
};

const PASSES: usize = 3;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_pipeline: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
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
        _ => bail!("usage: bench_pipeline rate N | write FILE N | migrate N"),
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
    Meta::now(vec!["bench_pipeline".into()], Target::default())
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
