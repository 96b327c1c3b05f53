//! Golden streams: one folder per scenario under `tests/golden/`, written from what was seen
//! on real kernels (`shared/arm64-lab/README.md` "What was observed", and this x86 VM).
//!
//! Each folder has `facts` (the name of an `engine::examples` machine), `stream.txt` (records
//! in `engine::script` form, whose `#!` lines state what must come out), and the engine's
//! output: `expected.json` (the summary) and `findings.txt` (one finding a line). Regenerate
//! the outputs with `UPDATE_GOLDEN=1 cargo test -p tool --test engine_golden`; the `#!`
//! expectations are written by hand and never regenerated.

use std::{fs, path::Path};

use pmuwatch::engine::{Engine, Facts, Summary, examples, script};
use serde_json::Value;

fn facts(name: &str) -> Facts {
    match name.trim() {
        "x86_no_pmu" => examples::x86_no_pmu(),
        "arm64_homogeneous" => examples::arm64_homogeneous(),
        "arm64_hetero" => examples::arm64_hetero(),
        other => panic!("unknown facts {other}"),
    }
}

fn run(dir: &Path) -> (Summary, String) {
    let text = fs::read_to_string(dir.join("stream.txt")).unwrap();
    let events = script::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut engine = Engine::new(facts(&fs::read_to_string(dir.join("facts")).unwrap()));
    engine.feed_all(&events);
    engine.flush();
    let summary = engine.summary();
    let lines: String = summary
        .findings
        .iter()
        .map(|f| format!("[{:?}] {:?}: {}\n", f.severity, f.kind, f.line()))
        .collect();
    (summary, lines)
}

fn lookup<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| &v[k])
}

/// Checks the hand-written `#!` lines of a stream.
fn check_expectations(dir: &Path, summary: &Summary) {
    let text = fs::read_to_string(dir.join("stream.txt")).unwrap();
    let json = serde_json::to_value(summary).unwrap();
    let name = dir.file_name().unwrap().to_string_lossy();
    let kind_of = |f: &pmuwatch::engine::Finding| {
        serde_json::to_value(f.kind)
            .unwrap()
            .as_str()
            .unwrap()
            .to_string()
    };
    for line in text.lines().filter_map(|l| l.strip_prefix("#!")) {
        let line = line.trim();
        let (what, rest) = line.split_once(' ').unwrap_or((line, ""));
        match what {
            "total" => {
                for kv in rest.split_whitespace() {
                    let (k, v) = kv.split_once('=').unwrap();
                    let got = lookup(&json["totals"], k);
                    assert_eq!(got.as_u64(), Some(v.parse().unwrap()), "{name}: totals.{k}");
                }
            }
            "findings" => {
                let mut want: Vec<&str> = rest.split_whitespace().collect();
                let mut got: Vec<String> = summary.findings.iter().map(kind_of).collect();
                want.sort_unstable();
                got.sort_unstable();
                assert_eq!(got, want, "{name}: finding kinds");
            }
            "text" | "remedy" => {
                let (kind, expect) = rest.split_once(' ').unwrap();
                let f = summary
                    .findings
                    .iter()
                    .find(|f| kind_of(f) == kind)
                    .unwrap_or_else(|| panic!("{name}: no {kind} finding"));
                let got = if what == "text" { &f.text } else { &f.remedy };
                assert!(
                    got.starts_with(expect),
                    "{name}: {kind} {what}\n  got:  {got}\n  want: {expect}..."
                );
            }
            other => panic!("{name}: unknown expectation {other}"),
        }
    }
}

#[test]
fn golden_streams_give_the_expected_findings_and_summaries() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut dirs: Vec<_> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("stream.txt").exists())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 8, "golden scenarios missing: {dirs:?}");
    let mut stale = Vec::new();
    for dir in &dirs {
        let (summary, findings) = run(dir);
        check_expectations(dir, &summary);
        let json = serde_json::to_string_pretty(&summary).unwrap() + "\n";
        for (file, got) in [("expected.json", &json), ("findings.txt", &findings)] {
            let path = dir.join(file);
            if update {
                fs::write(&path, got).unwrap();
            } else if fs::read_to_string(&path).ok().as_ref() != Some(got) {
                stale.push(path.display().to_string());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "output differs from the golden files (check, then UPDATE_GOLDEN=1): {stale:#?}"
    );
}

#[test]
fn golden_outputs_do_not_depend_on_runs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/arm64_hetero_migration");
    let (a, fa) = run(&dir);
    let (b, fb) = run(&dir);
    assert_eq!(a, b);
    assert_eq!(fa, fb);
}
