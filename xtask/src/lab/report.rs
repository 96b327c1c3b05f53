//! `pmuwatch record -- <demo>` then `pmuwatch report --json` in the guest, against the demo's
//! own counts and the lab's ground truth: the tool's counts equal the demo's per outcome, every
//! trap is decoded as a counter read, findings name the right CPUs and PMUs, and the tool used
//! the best hooks the kernel offers (fentry on 6.12, kprobe on 6.1) and says so.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{
    checks::{self, Checks, Output},
    console::{Console, Pmu},
    demo::{self, count},
    doctor::in_range,
    insn,
    scenario::Scenario,
};

pub fn check(k: &mut Checks, c: &Console, s: Scenario, series: &str) {
    let n = s.name();
    let Some(r) = report(k, c, n) else { return };
    coverage(k, r, series);
    lanes(k, c, r);
    let Output::Json(d) = demo::report(c, n) else {
        return k.skip("tool = demo", "no demo counts to compare with");
    };
    let lost = count(r, "totals.lost").unwrap_or(0);
    if !k.check(
        "tool: nothing lost",
        lost == 0,
        format!(
            "{lost} records lost ({} fed to the engine)",
            r["totals"]["records"]
        ),
    ) {
        return;
    }
    // Only the demo's own threads: in some scenarios other traced processes read too.
    let Some(pid) = d["pid"].as_u64() else {
        return k.fail("tool = demo", "the demo's report has no pid");
    };
    let mine = process_counts(r, pid);
    if !k.check(
        "tool: demo's threads",
        mine.threads > 0,
        format!("{} threads of pid {pid} in the report", mine.threads),
    ) {
        return;
    }
    counts(k, &mine.counts, &d["total"]);
    direct_reads(k, &mine.counts, &d["total"]);
    traps(k, c, n, &mine.counts, &d["total"]);
    let direct = count(&mine.counts, "direct_reads").unwrap_or(0) > 0;
    let trapped = count(&d["total"], "traps").unwrap_or(0) > 0;
    findings(k, c, r, s, direct, trapped);
}

struct Process {
    threads: usize,
    /// The tasks' `counts` summed field by field (same shape as one task's).
    counts: Value,
}

/// The counts of every task of process `pid`, summed.
fn process_counts(r: &Value, pid: u64) -> Process {
    let mut counts = Value::Null;
    let mut threads = 0;
    for t in list(r, "tasks").filter(|t| t["pid"] == pid) {
        threads += 1;
        add(&mut counts, &t["counts"]);
    }
    Process { threads, counts }
}

fn add(sum: &mut Value, v: &Value) {
    match (sum, v) {
        (s @ Value::Null, v) => *s = v.clone(),
        (Value::Number(a), Value::Number(b)) => {
            if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
                *a = (x + y).into();
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            for (key, bv) in b {
                add(a.entry(key.clone()).or_insert(Value::Null), bv);
            }
        }
        _ => {}
    }
}

/// The report's JSON, or why there is none (recorded as a check).
fn report<'a>(k: &mut Checks, c: &'a Console, n: &str) -> Option<&'a Value> {
    if c.steps.contains_key(&format!("{n}.demo")) {
        k.skip("tool", "pmuwatch record not built yet: the demo ran alone");
        return None;
    }
    let Some(rec) = c.steps.get(&format!("{n}.record")) else {
        k.fail("tool", "the scenario did not run pmuwatch record");
        return None;
    };
    if rec.rc != Some(0) {
        let tail = rec.stderr[rec.stderr.len().saturating_sub(3)..].join(" / ");
        k.fail(
            "tool: record",
            format!("`pmuwatch record` exited {:?}: {tail}", rec.rc),
        );
        return None;
    }
    match checks::output(c, &format!("{n}.report"), &format!("{n}.report")) {
        Output::Json(v) => Some(v),
        Output::NotBuilt(why) => {
            k.skip("tool", why);
            None
        }
        Output::Failed(why) => {
            k.fail("tool: report", why);
            None
        }
        Output::Absent => {
            k.fail("tool: report", "record left no trace file");
            None
        }
    }
}

/// The tool's count for each of the demo's, exact (migrations: the kernel sees at least those
/// the demo noticed between two rounds). `r`: the demo's process counts.
fn counts(k: &mut Checks, r: &Value, d: &Value) {
    let pairs: &[(&str, &[&str], bool)] = &[
        ("traps", &["traps"], true),
        ("fallback_reads", &["read_syscalls"], true),
        ("reads.index0_fallback", &["index0_fallbacks"], true),
        ("perf_opens", &["opens_ok", "opens_failed"], true),
        ("ioctls", &["ioctls"], true),
        ("mmaps", &["mmaps"], true),
        // Those of perf mappings (the probe reports every munmap; the engine matches ranges).
        ("munmaps", &["munmaps"], true),
        ("closes", &["closes"], true),
        ("migrations", &["migrations"], false),
    ];
    let mut bad = Vec::new();
    let mut seen = Vec::new();
    for &(tool, demo, exact) in pairs {
        let t = count(r, tool);
        let want: Option<u64> = demo.iter().map(|key| count(d, key)).sum();
        let ok = match (t, want) {
            (Some(t), Some(w)) => (exact && t == w) || (!exact && t >= w),
            _ => false,
        };
        let short = tool.rsplit('.').next().unwrap_or(tool);
        let line = format!("{short} {} (demo {})", show(t), show(want));
        if ok { seen.push(line) } else { bad.push(line) }
    }
    k.check(
        "tool = demo: syscalls, traps, migrations",
        bad.is_empty(),
        if bad.is_empty() {
            seen.join(", ")
        } else {
            format!("differ: {}; equal: {}", bad.join(", "), seen.join(", "))
        },
    );
}

/// Direct reads by outcome; they need the read-site uprobes, which the recording may lack.
/// `r`: the demo's process counts.
fn direct_reads(k: &mut Checks, r: &Value, d: &Value) {
    let name = "tool = demo: direct reads by outcome";
    if count(r, "direct_reads").unwrap_or(0) == 0 {
        return k.skip(
            name,
            "the recording holds no direct-read records (read-site uprobes)",
        );
    }
    let pairs = [
        ("ok", "reads_ok"),
        ("seq_retry", "seq_retries"),
        ("silent_wrong_pmu", "careless_silent"),
        ("trap", "traps"),
    ];
    let mut bad = Vec::new();
    let mut seen = Vec::new();
    for (tool, demo) in pairs {
        let t = count(r, &format!("reads.{tool}"));
        let w = count(d, demo);
        let line = format!("{tool} {} (demo {})", show(t), show(w));
        if t.is_some() && t == w {
            seen.push(line)
        } else {
            bad.push(line)
        }
    }
    let total = count(r, "direct_reads").unwrap_or(0);
    // Every counter read instruction that ran: consistent, retried, silent (careless) or
    // trapped (careless, or careful ones caught between the page check and the read: `flip`).
    // Not `careless_reads`: it leaves out careful traps and counts careless reads that had no
    // instruction to run.
    let executed: u64 = pairs.iter().filter_map(|(_, key)| count(d, key)).sum();
    k.check(
        "tool = demo: direct reads seen",
        total == executed,
        format!("{total} direct-read records; the demo executed {executed} counter reads"),
    );
    k.check(
        name,
        bad.is_empty(),
        if bad.is_empty() {
            seen.join(", ")
        } else {
            format!("differ: {}; equal: {}", bad.join(", "), seen.join(", "))
        },
    );
}

/// Every SIGILL the demo caught is a counter read for the tool (none left undecoded, the same
/// number), and every trap record in the trace holds an instruction that decodes, by the lab's
/// own decoder, as PMCCNTR_EL0 or PMEVCNTR<n>_EL0.
fn traps(k: &mut Checks, c: &Console, n: &str, mine: &Value, d: &Value) {
    let want = count(d, "traps").unwrap_or(0);
    if want == 0 {
        return;
    }
    let other = count(mine, "other_signals").unwrap_or(0);
    let trapped = count(mine, "traps").unwrap_or(0);
    let name = "tool: every trap decoded";
    let Some(insns) = c.trap_insns.get(n) else {
        let why = match checks::output(c, &format!("{n}.export"), "-") {
            Output::NotBuilt(why) => why,
            _ => "no trap records exported".into(),
        };
        k.fail(name, format!("{trapped} traps (demo {want}); {why}"));
        return;
    };
    let mut regs: BTreeMap<String, u64> = BTreeMap::new();
    let mut bad = Vec::new();
    for (count, hex) in insns {
        match insn::word(hex).and_then(insn::counter_read) {
            Some(reg) => *regs.entry(reg).or_default() += count,
            None => bad.push(format!("{count} x {hex:?}")),
        }
    }
    let records: u64 = insns.iter().map(|(count, _)| count).sum();
    let regs: Vec<String> = regs.iter().map(|(r, n)| format!("{n} {r}")).collect();
    k.check(
        name,
        other == 0 && trapped == want && records >= want && bad.is_empty(),
        format!(
            "{trapped} counter-read traps (demo {want}), {other} other signals; trap records: {}{}",
            regs.join(", "),
            if bad.is_empty() {
                String::new()
            } else {
                format!("; not counter reads: {}", bad.join(", "))
            }
        ),
    );
}

/// The findings each scenario must (and must not) produce, with the right CPUs and PMUs.
/// `direct`: the recording has direct-read records; silent wrong-PMU reads need them.
/// `trapped`: the demo caught traps (after a migration, in `hetero`: timing decides).
fn findings(k: &mut Checks, c: &Console, r: &Value, s: Scenario, direct: bool, trapped: bool) {
    let kinds: Vec<&str> = list(r, "findings")
        .filter_map(|f| f["kind"].as_str())
        .collect();
    let has = |kind: &str| kinds.contains(&kind);
    let mut hetero = vec!["wrong-cpu-type"];
    if direct {
        hetero.push("silent-wrong-pmu");
    }
    if trapped {
        hetero.push("trap-wrong-pmu");
    }
    let (need, forbid): (&[&str], &[&str]) = match s {
        Scenario::Pua1 => (
            &[],
            &["trap-wrong-pmu", "silent-wrong-pmu", "sysctl-off", "trap"],
        ),
        Scenario::Pua0 => (&["sysctl-off"], &["silent-wrong-pmu"]),
        Scenario::Hetero => (&hetero, &["sysctl-off"]),
        Scenario::Flip => (&["sysctl-flipped"], &[]),
        Scenario::LeftOpen => (&[], &["trap-wrong-pmu", "silent-wrong-pmu"]),
    };
    let missing: Vec<&&str> = need.iter().filter(|n| !has(n)).collect();
    let wrong: Vec<&&str> = forbid.iter().filter(|n| has(n)).collect();
    k.check(
        "tool: findings",
        missing.is_empty() && wrong.is_empty(),
        format!(
            "kinds [{}]; missing {missing:?}, unexpected {wrong:?}{}",
            kinds.join(", "),
            if direct {
                ""
            } else {
                " (no direct-read records: silent wrong-PMU reads not checked)"
            }
        ),
    );
    if s == Scenario::Hetero {
        wrong_pmu_cpus(k, c, r);
    }
    if s == Scenario::LeftOpen {
        left_open(k, c, r);
    }
}

/// A wrong-PMU finding names a PMU and only CPUs outside that PMU.
fn wrong_pmu_cpus(k: &mut Checks, c: &Console, r: &Value) {
    let pmus = c.hw_pmus();
    let mut bad = Vec::new();
    let mut seen = 0;
    for f in list(r, "findings").filter(|f| {
        ["wrong-cpu-type", "silent-wrong-pmu", "trap-wrong-pmu"]
            .contains(&f["kind"].as_str().unwrap_or(""))
    }) {
        seen += 1;
        let text = f["text"].as_str().unwrap_or("");
        let named: Vec<&&Pmu> = pmus.iter().filter(|p| text.contains(&p.name)).collect();
        let cpus: Vec<u32> = list(f, "cpus")
            .filter_map(|v| v.as_u64())
            .map(|v| v as u32)
            .collect();
        let ok = match named.as_slice() {
            [p] => !cpus.is_empty() && cpus.iter().all(|&cpu| !in_range(&p.cpus, cpu)),
            _ => false,
        };
        if !ok {
            bad.push(format!("{} cpus {cpus:?}: {text}", f["kind"]));
        }
    }
    k.check(
        "tool: findings name the right CPUs and PMUs",
        seen > 0 && bad.is_empty(),
        if bad.is_empty() {
            format!("{seen} wrong-PMU findings, each on CPUs outside the PMU it names")
        } else {
            bad.join(" | ")
        },
    );
}

/// The tool's access-left-open CPUs are among those where a fresh process read without a trap.
fn left_open(k: &mut Checks, c: &Console, r: &Value) {
    let name = "tool: access left open";
    let open: Vec<u32> = c
        .mrs
        .iter()
        .filter(|m| m.label == "after" && m.value.is_some())
        .map(|m| m.cpu)
        .collect();
    if count(r, "totals.direct_reads").unwrap_or(0) == 0 {
        return k.skip(
            name,
            "the recording holds no direct-read records (read-site uprobes)",
        );
    }
    let found: Vec<(Vec<u64>, &str)> = list(r, "findings")
        .filter(|f| f["kind"] == "access-left-open")
        .map(|f| {
            (
                list(f, "cpus").filter_map(Value::as_u64).collect(),
                f["text"].as_str().unwrap_or(""),
            )
        })
        .collect();
    let named: Vec<u64> = found.iter().flat_map(|(c, _)| c.clone()).collect();
    k.check(
        name,
        !open.is_empty() && !named.is_empty() && named.iter().all(|c| open.contains(&(*c as u32))),
        format!("tool names CPUs {named:?}; reads without a trap on CPUs {open:?}"),
    );
}

/// The CPU lanes carry each CPU's PMU as sysfs has it.
fn lanes(k: &mut Checks, c: &Console, r: &Value) {
    let said: Vec<String> = list(r, "cpus")
        .map(|l| format!("{}:{}", l["cpu"], l["pmu"].as_str().unwrap_or("none")))
        .collect();
    let truth: Vec<String> = (0..c.ncpu.unwrap_or(0))
        .map(|cpu| {
            let pmu = c.hw_pmus().into_iter().find(|p| in_range(&p.cpus, cpu));
            format!("{cpu}:{}", pmu.map_or("none", |p| p.name.as_str()))
        })
        .collect();
    k.check(
        "tool: CPU lanes",
        said == truth,
        format!("says [{}]; sysfs [{}]", said.join(" "), truth.join(" ")),
    );
}

/// Driver hooks by fentry on 6.12; by kprobe on 6.1, where fentry is refused; shown in the
/// report's coverage.
fn coverage(k: &mut Checks, r: &Value, series: &str) {
    let active = |method: &str| -> Vec<String> {
        list(r, "coverage.attachments")
            .filter(|a| a["method"] == method && a["status"] == "active")
            .map(|a| a["hook"].as_str().unwrap_or("?").to_string())
            .collect()
    };
    let (fentry, kprobe) = (active("fentry"), active("kprobe"));
    let ok = if series == "6.1" {
        fentry.is_empty() && !kprobe.is_empty()
    } else {
        !fentry.is_empty()
    };
    let want = if series == "6.1" {
        "kprobe, no fentry"
    } else {
        "fentry"
    };
    k.check(
        "tool: best hooks",
        ok,
        format!(
            "expected {want}; fentry on [{}], kprobe on [{}]",
            fentry.join(", "),
            kprobe.join(", ")
        ),
    );
    // The cheap paths (issue 8) must verify on these kernels too, not fall back silently:
    // typed loads in tp_btf, read(2) from its exit alone (arm64: fd from orig_x0).
    let in_use = |signal: &str| {
        list(r, "coverage.attachments")
            .find(|a| a["signal"] == signal && a["status"] == "active")
            .map(|a| {
                format!(
                    "{} {}",
                    a["method"].as_str().unwrap_or("?"),
                    a["hook"].as_str().unwrap_or("?")
                )
            })
            .unwrap_or_else(|| "none".into())
    };
    let (switch, read) = (in_use("sched_switch"), in_use("perf_read"));
    k.check(
        "tool: cheap paths",
        switch.starts_with("tp_btf ") && read.contains("sys_exit_read (fd from pt_regs)"),
        format!("sched_switch by {switch}; perf_read by {read}"),
    );
}

fn list<'a>(v: &'a Value, path: &str) -> impl Iterator<Item = &'a Value> {
    path.split('.')
        .try_fold(v, |v, key| v.get(key))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn show(v: Option<u64>) -> String {
    v.map_or("?".into(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::lab::checks::Verdict;

    #[test]
    fn a_process_counts_are_its_threads_summed() {
        let r = json!({"tasks": [
            {"pid": 7, "counts": {"traps": 2, "reads": {"ok": 1, "trap": 2}}},
            {"pid": 8, "counts": {"traps": 5, "reads": {"ok": 5, "trap": 5}}},
            {"pid": 7, "counts": {"traps": 3, "reads": {"ok": 0, "trap": 3}}},
        ]});
        let p = process_counts(&r, 7);
        assert_eq!(p.threads, 2);
        assert_eq!(p.counts, json!({"traps": 5, "reads": {"ok": 1, "trap": 5}}));
        assert_eq!(process_counts(&r, 9).threads, 0);
    }

    #[test]
    fn careful_reads_that_trapped_were_executed_and_each_outcome_must_match() {
        // `flip`: two careful reads trapped (the sysctl went off between the page check and
        // the read); they are neither ok nor careless, but their instruction ran.
        let tool = json!({"direct_reads": 7, "reads": {"ok": 4, "seq_retry": 1,
            "silent_wrong_pmu": 0, "trap": 2}});
        let demo = json!({"reads_ok": 4, "seq_retries": 1, "careless_silent": 0, "traps": 2,
            "careless_reads": 0});
        let verdicts = |tool: &Value| -> Vec<Verdict> {
            let mut k = Checks::default();
            direct_reads(&mut k, tool, &demo);
            k.0.iter().map(|c| c.verdict).collect()
        };
        assert_eq!(verdicts(&tool), [Verdict::Pass, Verdict::Pass]);
        let mut split = tool.clone();
        split["reads"]["ok"] = json!(3);
        split["reads"]["seq_retry"] = json!(2);
        assert_eq!(verdicts(&split), [Verdict::Pass, Verdict::Fail]);
    }
}
