//! `pmuwatch report` (issue 5): a trace file through the same engine as the live view, then
//! findings with remedies, task and CPU tables, counts, drops and coverage; or `--json`.
//!
//! Memory stays bounded for any file size: the reader holds one block, the engine bounds its
//! own tables.

pub mod facts;
mod text;

use std::{io::Write, path::Path, process::ExitCode};

use serde_json::{Value, json};

use crate::{
    cli::ReportArgs,
    engine::{Engine, Summary},
    trace::{FileInfo, Meta, Trailer},
};

/// Everything a report shows.
#[derive(Clone, Debug)]
pub struct Report {
    pub path: String,
    pub meta: Meta,
    pub trailer: Option<Trailer>,
    pub file: FileInfo,
    /// Set when the trace's machine facts could not be used (judged without PMU facts).
    pub facts_note: Option<String>,
    pub summary: Summary,
}

pub fn run(a: &ReportArgs) -> anyhow::Result<ExitCode> {
    let report = build(&a.file)?;
    let out = if a.json {
        let mut s = serde_json::to_string_pretty(&json_value(&report))?;
        s.push('\n');
        s
    } else {
        text::render(&report)
    };
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// Reads the whole trace through the engine.
pub fn build(path: &Path) -> anyhow::Result<Report> {
    let mut reader = crate::trace::open(path)?;
    let facts = facts::from_meta(&reader.meta().facts);
    let facts_note = match (&facts, reader.meta().facts.is_null()) {
        (Some(_), _) => None,
        (None, true) => Some("the trace has no machine facts".to_string()),
        (None, false) => Some("the trace's machine facts did not read".to_string()),
    };
    let mut engine = Engine::new(facts.unwrap_or_default());
    for e in reader.by_ref() {
        engine.feed(&e);
    }
    // End of the file: reads still waiting for their thread's next record executed.
    engine.flush();
    Ok(Report {
        path: path.display().to_string(),
        meta: reader.meta().clone(),
        trailer: reader.trailer().cloned(),
        file: reader.info(),
        facts_note,
        summary: engine.summary(),
    })
}

impl Report {
    /// Read sites at the end of the recording (the trailer's; sites found after the start are
    /// only there), or at its start when the file has no trailer.
    pub fn sites(&self) -> &Value {
        self.trailer_value("sites").unwrap_or(&self.meta.sites)
    }

    /// Probe coverage at the end of the recording, or at its start without a trailer.
    pub fn coverage(&self) -> &Value {
        self.trailer_value("coverage")
            .unwrap_or(&self.meta.coverage)
    }

    /// Things the recorder said about its own coverage ("mounted tracefs", "read sites
    /// probed late"), as they were at the end.
    pub fn notes(&self) -> Vec<String> {
        let v = self
            .trailer_value("notes")
            .or_else(|| self.meta.extra.get("notes"));
        v.and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }

    /// The read sites as a table indexed by id (entries that do not read are skipped).
    pub fn site_table(&self) -> Vec<crate::sites::Site> {
        self.sites()
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| serde_json::from_value(s.clone()).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn trailer_value(&self, key: &str) -> Option<&Value> {
        self.trailer
            .as_ref()
            .and_then(|t| t.extra.get(key))
            .filter(|v| !v.is_null())
    }
}

/// `report --json`: the engine's summary with `file`, `recording` and `coverage` beside it.
pub fn json_value(r: &Report) -> Value {
    let mut v = serde_json::to_value(&r.summary).unwrap_or_else(|_| json!({}));
    let mut file = serde_json::to_value(&r.file).unwrap_or(Value::Null);
    if let Value::Object(f) = &mut file {
        f.insert("path".into(), json!(r.path));
        f.insert("cut".into(), json!(r.file.damage.describe()));
    }
    let recording = json!({
        "tool_version": r.meta.tool_version,
        "start_unix_ns": r.meta.start_unix_ns,
        "start_monotonic_ns": r.meta.start_monotonic_ns,
        "command_line": r.meta.command_line,
        "target": r.meta.target,
        "trailer": r.trailer,
        "facts": r.meta.facts,
        "facts_note": r.facts_note,
        "sites": r.sites(),
        "notes": r.notes(),
    });
    if let Value::Object(o) = &mut v {
        o.insert("file".into(), file);
        o.insert("recording".into(), recording);
        o.insert("coverage".into(), r.coverage().clone());
    }
    v
}
