//! `pmuwatch record` (issues 3 and 5): the live source -> a trace file.
//!
//! The file is opened before anything starts (a bad path fails at once) and always ends up a
//! valid trace: when the probes cannot start (not root, no such pid), it still holds the
//! doctor snapshot and a trailer naming the failure, which is what a bug report needs. Ctrl-C
//! and SIGTERM stop the source, drain what is in flight and finish the file; a second signal
//! finishes it at once. Blocks go to disk at least every second, so a crash of anything
//! loses at most that.

use std::{
    fs::File,
    io,
    path::Path,
    process::ExitCode,
    time::{Duration, Instant},
};

use common::Event;
use serde_json::{Value, json};
use tokio::signal::unix::{SignalKind, signal};

use crate::{
    cli::RecordArgs,
    probe::{End, LiveSource, SourceOptions},
    trace::{Meta, Target, TraceWriter, Trailer, WriteStats, meta::unix_now_ns, writer},
};

/// Longest time events wait in memory before their block is written.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

pub fn run(a: &RecordArgs) -> anyhow::Result<ExitCode> {
    let t = &a.target;
    let given = [t.pid.is_some(), !t.command.is_empty(), t.system_wide];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(crate::error::fix(
            "record needs exactly one target",
            "give `-- COMMAND`, `-p PID` or `--system-wide`",
        ));
    }
    let file = writer::create_file(&a.output).map_err(|e| {
        crate::error::fix(
            format!("cannot create {}: {e}", a.output.display()),
            "choose a writable path with -o",
        )
    })?;
    let mut meta = Meta::now(
        std::env::args().collect(),
        Target {
            pid: t.pid,
            command: t.command.clone(),
            system_wide: t.system_wide,
        },
    );
    meta.facts = serde_json::to_value(crate::sys::Facts::live()).unwrap_or(Value::Null);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Listen before the (slow) probe load: a signal during start-up is seen by the first
    // loop turn instead of killing the recorder before the file is finished.
    let signals = {
        let _rt = rt.enter();
        Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        }
    };
    let started = Instant::now();
    let mut opts = SourceOptions::from_target(t);
    opts.quiet_child = false;
    let source = match LiveSource::start(&opts) {
        Ok(s) => s,
        Err(err) => {
            // Keep what is known: a short, valid file with the snapshot and the reason.
            let w = TraceWriter::new(file, &meta)?;
            let trailer = Trailer {
                stop_reason: format!("could not start: {err:#}"),
                end_unix_ns: unix_now_ns(),
                ..Trailer::default()
            };
            let (file, _) = w.finish(&trailer)?;
            file.sync_all()?;
            eprintln!(
                "pmuwatch: {} holds the system snapshot only (no events)",
                a.output.display()
            );
            return Err(err);
        }
    };
    meta.coverage = serde_json::to_value(source.coverage()).unwrap_or(Value::Null);
    meta.sites = serde_json::to_value(source.sites()).unwrap_or(Value::Null);
    meta.extra
        .insert("notes".into(), json!(source.probes().notes.clone()));
    if let Some(pid) = source.target_pid() {
        meta.extra.insert("target_pid".into(), json!(pid));
    }
    let w = TraceWriter::new(file, &meta)?;
    rt.block_on(record(source, w, signals, &a.output, started))
}

struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

/// What ended the recording loop.
enum Stop {
    Source(Option<End>),
    Signal(&'static str),
}

async fn record(
    mut source: LiveSource,
    mut w: TraceWriter<File>,
    mut sig: Signals,
    path: &Path,
    started: Instant,
) -> anyhow::Result<ExitCode> {
    let mut batch: Vec<Event> = Vec::with_capacity(4096);
    let mut last_flush = Instant::now();
    let mut signalled: Option<&'static str> = None;
    let stop = loop {
        let more = tokio::select! {
            r = source.next_batch(&mut batch) => r?,
            _ = sig.int.recv() => { on_signal(&mut source, &mut signalled, "interrupted (SIGINT)"); true }
            _ = sig.term.recv() => { on_signal(&mut source, &mut signalled, "terminated (SIGTERM)"); true }
        };
        if let Err(e) = write_batch(&mut w, &batch, &mut last_flush) {
            source.stop();
            return Err(write_error(e, path, w.stats()));
        }
        batch.clear();
        if signalled == Some("twice") {
            break Stop::Signal("interrupted twice: in-flight events not drained");
        }
        if !more {
            break match signalled {
                Some(s) => Stop::Signal(s),
                None => Stop::Source(source.end()),
            };
        }
    };
    let reason = match stop {
        Stop::Signal(s) => s.to_string(),
        Stop::Source(Some(End::TargetExited)) => match source.exit_status() {
            Some(st) => format!("target exited ({st})"),
            None => "target exited".to_string(),
        },
        Stop::Source(Some(End::DurationOver)) => "duration over".to_string(),
        Stop::Source(None) => "source ended".to_string(),
    };
    let s = source.stats();
    let mut trailer = Trailer {
        stop_reason: reason.clone(),
        end_unix_ns: unix_now_ns(),
        ..Trailer::default()
    };
    trailer.extra.insert(
        "source".into(),
        json!({"records": s.records, "undecodable": s.undecodable, "lost": s.lost}),
    );
    // Read sites and coverage as they ended: sites found after the start (a shell's child at
    // exec, a library mapped later) are only known now. Readers prefer these to the meta's.
    trailer.extra.insert(
        "sites".into(),
        serde_json::to_value(source.sites()).unwrap_or(Value::Null),
    );
    trailer
        .extra
        .insert("notes".into(), json!(source.probes().notes.clone()));
    trailer.extra.insert(
        "coverage".into(),
        serde_json::to_value(source.coverage()).unwrap_or(Value::Null),
    );
    if let Some(st) = source.exit_status() {
        trailer
            .extra
            .insert("target_exit_code".into(), json!(st.code()));
    }
    let stats = w.stats();
    let (file, stats) = w
        .finish(&trailer)
        .map_err(|e| write_error(e, path, stats))?;
    file.sync_all().map_err(|e| write_error(e, path, stats))?;
    eprintln!(
        "{}",
        summary(
            path,
            &stats,
            s.lost,
            s.undecodable,
            started.elapsed(),
            &reason
        )
    );
    Ok(ExitCode::SUCCESS)
}

fn on_signal(source: &mut LiveSource, signalled: &mut Option<&'static str>, what: &'static str) {
    if signalled.is_some() {
        *signalled = Some("twice");
    } else {
        *signalled = Some(what);
        // Stop the target and drain what is in flight; the loop ends when the source does.
        source.stop();
    }
}

fn write_batch(
    w: &mut TraceWriter<File>,
    batch: &[Event],
    last_flush: &mut Instant,
) -> io::Result<()> {
    for e in batch {
        w.push(e)?;
    }
    if last_flush.elapsed() >= FLUSH_EVERY {
        w.flush_block()?;
        *last_flush = Instant::now();
    }
    Ok(())
}

fn write_error(e: io::Error, path: &Path, stats: WriteStats) -> anyhow::Error {
    let fix = if e.raw_os_error() == Some(libc::ENOSPC) {
        "free disk space; the file reads back up to its last complete block"
    } else {
        "check the disk; the file reads back up to its last complete block"
    };
    crate::error::fix(
        format!(
            "writing {} failed after {} events: {e}",
            path.display(),
            stats.events
        ),
        fix,
    )
}

/// The closing line: what was written and what was lost.
pub fn summary(
    path: &Path,
    s: &WriteStats,
    lost: u64,
    undecodable: u64,
    took: Duration,
    reason: &str,
) -> String {
    let per_event = if s.events > 0 {
        s.file_bytes as f64 / s.events as f64
    } else {
        0.0
    };
    let mut line = format!(
        "recorded {} events in {:.1} s to {} ({} bytes, {:.1} bytes/event); stop: {reason}",
        s.events,
        took.as_secs_f64(),
        path.display(),
        s.file_bytes,
        per_event
    );
    if lost > 0 {
        line.push_str(&format!(
            "; {lost} events dropped by the kernel (ring buffer full)"
        ));
    }
    if undecodable > 0 {
        line.push_str(&format!("; {undecodable} undecodable records skipped"));
    }
    line
}
