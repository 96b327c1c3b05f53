//! Check results and the helpers every scenario uses: a step's JSON (or why there is none) and
//! the lab's own facts (kernel, CPUs, PMUs, sysctl defaults) as the guest's sysfs shows them.

use std::fmt;

use serde_json::Value;

use super::console::{Console, Step};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    /// Could not run: the command it needs is not built yet (or an earlier step failed).
    Skip,
}

#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub verdict: Verdict,
    pub detail: String,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = match self.verdict {
            Verdict::Pass => "ok  ",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "skip",
        };
        write!(f, "{v} {}: {}", self.name, self.detail)
    }
}

#[derive(Debug, Default)]
pub struct Checks(pub Vec<Check>);

impl Checks {
    pub fn check(&mut self, name: &str, ok: bool, detail: impl Into<String>) -> bool {
        let verdict = if ok { Verdict::Pass } else { Verdict::Fail };
        self.push(name, verdict, detail.into());
        ok
    }

    pub fn skip(&mut self, name: &str, why: impl Into<String>) {
        self.push(name, Verdict::Skip, why.into());
    }

    pub fn fail(&mut self, name: &str, why: impl Into<String>) {
        self.push(name, Verdict::Fail, why.into());
    }

    fn push(&mut self, name: &str, verdict: Verdict, detail: String) {
        self.0.push(Check {
            name: name.into(),
            verdict,
            detail,
        });
    }

    pub fn count(&self, v: Verdict) -> usize {
        self.0.iter().filter(|c| c.verdict == v).count()
    }
}

/// What a step left behind.
pub enum Output<'a> {
    Json(&'a Value),
    /// The command is still a stub on main (`... not built yet`): its checks are skipped.
    NotBuilt(String),
    /// It ran and failed, or printed no JSON; the text says how.
    Failed(String),
    /// The scenario never got to run it.
    Absent,
}

/// The JSON a step printed (`json_key`), judged with the step's exit status and stderr.
pub fn output<'a>(c: &'a Console, step: &str, json_key: &str) -> Output<'a> {
    let Some(s) = c.steps.get(step) else {
        return Output::Absent;
    };
    if let Some(line) = s.stderr.iter().find(|l| l.contains("not built yet")) {
        return Output::NotBuilt(line.clone());
    }
    match (s.rc, c.json.get(json_key)) {
        (Some(0), Some(Ok(Some(v)))) => Output::Json(v),
        (Some(0), Some(Err(e))) => Output::Failed(format!("`{}` printed bad JSON: {e}", s.args)),
        (Some(0), _) => Output::Failed(format!("`{}` printed no JSON", s.args)),
        (Some(rc), _) => Output::Failed(format!("`{}` exited {rc}: {}", s.args, stderr_tail(s))),
        (None, _) => Output::Failed(format!("`{}` never finished", s.args)),
    }
}

fn stderr_tail(s: &Step) -> String {
    let n = s.stderr.len();
    s.stderr[n.saturating_sub(3)..].join(" / ")
}

/// The facts of the lab itself, checked on every boot: if these are off, nothing else means
/// anything. `hetero`: the two-PMU device tree is in use.
pub fn lab_facts(k: &mut Checks, c: &Console, series: &str, hetero: bool) {
    let kernel = c.kernel.as_deref().unwrap_or("?");
    k.check(
        "kernel",
        kernel.starts_with(&format!("{series}.")),
        format!("guest runs {kernel}, expected {series}.x"),
    );
    k.check(
        "cpus",
        c.ncpu == Some(4),
        format!("{:?} CPUs, expected 4", c.ncpu),
    );
    let got: Vec<String> = c
        .hw_pmus()
        .iter()
        .map(|p| format!("{} type {} cpus {}", p.name, p.ty, p.cpus))
        .collect();
    let want = expected_pmus(series, hetero);
    k.check(
        "pmus",
        got == want,
        format!(
            "sysfs shows [{}], expected [{}]",
            got.join(", "),
            want.join(", ")
        ),
    );
    k.check(
        "defaults",
        c.user_access.first() == Some(&0) && c.btf == Some(true),
        format!(
            "perf_user_access at boot {:?} (expected 0), BTF {:?}",
            c.user_access.first(),
            c.btf
        ),
    );
}

/// What sysfs shows: the two PMU types are 8/9 on 6.1 and 10/11 on 6.12 (the software, tracepoint,
/// breakpoint, kprobe, uprobe... PMUs take the numbers before them).
pub fn expected_pmus(series: &str, hetero: bool) -> Vec<String> {
    let first = if series == "6.1" { 8 } else { 10 };
    if hetero {
        vec![
            format!("armv8_cortex_a53 type {first} cpus 0-1"),
            format!("armv8_cortex_a72 type {} cpus 2-3", first + 1),
        ]
    } else {
        vec![format!("armv8_pmuv3 type {first} cpus 0-3")]
    }
}
