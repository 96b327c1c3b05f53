//! `pmuwatch doctor`: can direct counter reads work on this machine, and where?
//! Facts (`sys`) + attach checks (`sys::attach`) -> verdicts (`verdict`, pure) -> text or
//! JSON (keys in docs/doctor-json.md).

mod text;
pub mod verdict;

use std::{io::Write, path::Path, process::ExitCode};

use serde::{Deserialize, Serialize};

pub use self::verdict::{Level, Verdict, verdicts};
use crate::{
    cli::DoctorArgs,
    error::fix,
    sys::{
        Facts,
        attach::{self, AttachCheck},
    },
};

/// Version of the `Report` JSON layout.
pub const REPORT_SCHEMA: u32 = 1;

/// Everything doctor found; `--json` prints it as is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: u32,
    /// Ran with effective uid 0.
    pub as_root: bool,
    /// System facts, with `facts.attach` filled (or marked not checked).
    pub facts: Facts,
    /// Notes on what was done on the way (mounts made).
    pub notes: Vec<String>,
    /// What could not be checked, and why.
    pub not_checked: Vec<String>,
    pub verdicts: Vec<Verdict>,
}

pub fn run(args: &DoctorArgs) -> anyhow::Result<ExitCode> {
    let report = build(args)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        text::write(&mut out, &report)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Gathers the report. Fails only where the check itself could not run (a `--root` with no
/// system files, an eBPF object the kernel will not take at all).
pub fn build(args: &DoctorArgs) -> anyhow::Result<Report> {
    let root_dir = args.root.as_deref().unwrap_or(Path::new("/"));
    let live = root_dir == Path::new("/");
    // SAFETY: geteuid has no preconditions and cannot fail.
    let is_root = unsafe { libc::geteuid() } == 0;
    let mut notes = Vec::new();
    let mut not_checked = Vec::new();
    if live && is_root && !args.no_attach {
        // Tracepoint canaries need tracefs; mount what is missing, as the probes do.
        for r in crate::sys::ensure_mounts_each() {
            match r {
                Ok(n) => notes.push(n),
                Err(e) => not_checked.push(format!("mounts: {e:#}")),
            }
        }
    }
    let mut facts = Facts::read(root_dir);
    if facts.kernel.is_empty() && facts.pmus.is_empty() && facts.cpus.is_empty() {
        return Err(fix(
            format!("no system files under {}", root_dir.display()),
            "point --root at a tree holding proc/ and sys/ (or leave it out)",
        ));
    }
    facts.attach = if args.no_attach {
        AttachCheck::not_checked("skipped (--no-attach)")
    } else if !live {
        AttachCheck::not_checked("--root reads files; programs load only on the live system")
    } else if !is_root {
        not_checked.push(
            "attach methods: loading eBPF programs needs root (run `sudo pmuwatch doctor`)"
                .to_string(),
        );
        AttachCheck::not_checked("needs root")
    } else {
        attach::check_all(&facts, crate::probe::EBPF_OBJECT)?
    };
    let verdicts = verdicts(&facts);
    Ok(Report {
        schema: REPORT_SCHEMA,
        as_root: is_root,
        facts,
        notes,
        not_checked,
        verdicts,
    })
}
