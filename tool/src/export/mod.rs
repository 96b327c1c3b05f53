//! `pmuwatch export` (issue 5): a trace file -> Perfetto protobuf or JSON lines, streamed
//! (one block of the trace in memory at a time).

pub mod jsonl;
pub mod perfetto;
pub mod proto;

use std::{
    fs::File,
    io::{BufWriter, Write},
    os::unix::fs::OpenOptionsExt,
    path::Path,
    process::ExitCode,
};

use anyhow::Context;

use crate::cli::{ExportArgs, ExportFormat};

pub fn run(a: &ExportArgs) -> anyhow::Result<ExitCode> {
    let summary = export(&a.file, a.format, &a.output)?;
    eprintln!("{summary}");
    Ok(ExitCode::SUCCESS)
}

/// Converts `input` to `output`; returns a one-line summary (what was written, what the trace
/// had cut).
pub fn export(input: &Path, format: ExportFormat, output: &Path) -> anyhow::Result<String> {
    let mut reader = crate::trace::open(input)?;
    // Same privacy as the trace itself: task names, addresses, command lines.
    let file = File::options()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(output)
        .map_err(|e| {
            crate::error::fix(
                format!("cannot write {}: {e}", output.display()),
                "choose a writable path with -o",
            )
        })?;
    let out = BufWriter::with_capacity(1 << 20, file);
    let what = match format {
        ExportFormat::Perfetto => {
            let arm64 = reader.meta().facts.get("arch").and_then(|a| a.as_str()) == Some("aarch64");
            let mut p = perfetto::Perfetto::new(out, arm64);
            for e in reader.by_ref() {
                p.event(&e)?;
            }
            let (out, stats) = p.finish()?;
            finish_file(out)?;
            format!(
                "{} packets: {} tracks, {} slices, {} instants, {} flows, {} counter values",
                stats.packets,
                stats.tracks,
                stats.slices,
                stats.instants,
                stats.flows,
                stats.counters
            )
        }
        ExportFormat::Jsonl => {
            let mut out = out;
            let mut n = 0u64;
            for e in reader.by_ref() {
                serde_json::to_writer(&mut out, &jsonl::event_json(&e))?;
                out.write_all(b"\n")?;
                n += 1;
            }
            finish_file(out)?;
            format!("{n} events as JSON lines")
        }
    };
    let damage = reader.damage();
    let mut line = format!(
        "exported {} to {}: {what}",
        input.display(),
        output.display()
    );
    if damage.any() {
        line.push_str(&format!("; trace: {}", damage.describe()));
    }
    Ok(line)
}

fn finish_file(out: BufWriter<File>) -> anyhow::Result<()> {
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all().context("writing the export")?;
    Ok(())
}
