//! `--no-tui`, the text mode for scripts and CI logs, run as the built binary:
//! - live on the built-in demo (root, real probes): the opening line, well-formed status
//!   lines that only count up, each finding printed once, a summary that adds up, the demo
//!   stopped at the end;
//! - `replay FILE --no-tui` on a synthetic trace (no root) and on a recording of the demo
//!   (root): the summary equals the engine's totals as `report --json` gives them for the same
//!   file.
//!
//! Nothing here depends on timing beyond "the demo runs a few seconds": status lines are
//! checked for form and order, never for how many arrived.

mod ui_support;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_pmuwatch");

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pmuwatch-ui-text-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// Runs the binary; stdout on success, a panic with both streams otherwise.
fn run(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run pmuwatch");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "pmuwatch {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `name value name value ...` -> map (`reads ok 3 seq-retry 0 ...` after the first word).
fn pairs(words: &[&str]) -> BTreeMap<String, u64> {
    words
        .chunks(2)
        .filter_map(|c| match c {
            [k, v] => Some((k.to_string(), v.parse().ok()?)),
            _ => None,
        })
        .collect()
}

/// One `[   12.345s] events N (R/s) lost L | tasks T | reads ... | migrations M toggles G |
/// findings F` line.
#[derive(Debug)]
struct Status {
    ms: u64,
    events: u64,
    lost: u64,
    tasks: u64,
    findings: u64,
}

/// The time stamp of a `[   1.234s] ...` line and the rest, for status and finding lines.
fn stamped(line: &str) -> Option<(u64, &str)> {
    let rest = line.strip_prefix('[')?;
    let (t, rest) = rest.split_once("s] ")?;
    let (s, ms) = t.trim().split_once('.')?;
    Some((
        s.parse::<u64>().ok()? * 1000 + ms.parse::<u64>().ok()?,
        rest,
    ))
}

fn status(line: &str) -> Option<Status> {
    let (ms, rest) = stamped(line)?;
    // Finding lines are stamped too: only `events ...` lines are status lines.
    let rest = rest.strip_prefix("events ")?;
    let parts: Vec<&str> = rest.split(" | ").collect();
    assert_eq!(parts.len(), 5, "status line shape: {line}");
    let head: Vec<&str> = parts[0].split_whitespace().collect();
    assert_eq!(head.len(), 4, "events N (R/s) lost L: {line}");
    assert!(
        head[1].starts_with('(') && head[1].ends_with("/s)"),
        "{line}"
    );
    assert_eq!(head[2], "lost", "{line}");
    let reads = pairs(&parts[2].split_whitespace().collect::<Vec<_>>()[1..]);
    assert_eq!(
        reads.keys().collect::<Vec<_>>(),
        [
            "index0-fallback",
            "ok",
            "seq-retry",
            "silent-wrong-pmu",
            "trap"
        ],
        "{line}"
    );
    let more = pairs(&parts[3].split_whitespace().collect::<Vec<_>>());
    assert!(more.contains_key("migrations") && more.contains_key("toggles"));
    Some(Status {
        ms,
        events: head[0].parse().ok()?,
        lost: head[3].parse().ok()?,
        tasks: parts[1].strip_prefix("tasks ")?.parse().ok()?,
        findings: parts[4].strip_prefix("findings ")?.parse().ok()?,
    })
}

/// One row of the summary's task table.
#[derive(Debug, PartialEq, Eq)]
struct TaskLine {
    pid: u64,
    tid: u64,
    ok: u64,
    seq_retry: u64,
    fallback: u64,
    trap: u64,
    wrong: u64,
    migrations: u64,
    toggles: u64,
}

/// The closing summary, parsed.
#[derive(Debug, Default)]
struct Summary {
    target: String,
    events: u64,
    lost: u64,
    probes: Vec<String>,
    /// `reads ...` and `traps ...` lines, by name.
    counts: BTreeMap<String, u64>,
    tasks: Vec<TaskLine>,
    more_tasks: u64,
    /// `top`: tasks seen that hold no user-readable event and made no direct read.
    other_tasks: u64,
    /// cpu -> (toggles, traps, aborts)
    cpus: BTreeMap<u64, (u64, u64, u64)>,
    /// (rule, text)
    findings: Vec<(String, String)>,
    note: Option<String>,
}

fn summary(out: &str) -> Summary {
    let mut lines = out
        .lines()
        .skip_while(|l| !l.starts_with("summary: "))
        .peekable();
    let mut s = Summary {
        target: lines
            .next()
            .expect("a summary")
            .trim_start_matches("summary: ")
            .to_string(),
        ..Summary::default()
    };
    let mut section = "";
    let mut n_findings = None;
    while let Some(l) = lines.next() {
        let words: Vec<&str> = l.split_whitespace().collect();
        if let Some(h) = ["tasks:", "cpus:", "findings:"]
            .into_iter()
            .find(|h| l.starts_with(h))
        {
            section = h;
            if h == "findings:" {
                n_findings = words.get(1).and_then(|n| n.parse::<usize>().ok());
            }
            continue;
        }
        if let Some(n) = l.strip_prefix("note: ") {
            s.note = Some(n.to_string());
            continue;
        }
        match section {
            "" => match words.first().copied() {
                Some("events") => {
                    s.events = words[1].parse().expect("events N");
                    assert_eq!(words[4], "batches", "{l}");
                }
                Some("lost") | Some("LOST") => s.lost = words[1].parse().expect("lost N"),
                Some("probe") => s.probes.push(l.trim_start()["probe ".len()..].to_string()),
                Some("reads") => s.counts.extend(pairs(&words[1..])),
                Some("traps") => s.counts.extend(pairs(&words)),
                _ => panic!("unexpected summary line: {l}"),
            },
            "tasks:" if words.first() == Some(&"...") => {
                s.more_tasks = words[1].parse().expect("... N more tasks");
            }
            "tasks:" if l.trim_start().starts_with('(') => {
                let n = words[0].trim_start_matches('(');
                s.other_tasks = n.parse().expect("(N other tasks seen ...)");
            }
            "tasks:" => {
                // pid tid comm... then seven numbers (a comm may hold spaces).
                let n: Vec<u64> = words.iter().filter_map(|w| w.parse().ok()).collect();
                assert!(words.len() >= 9 && n.len() >= 9, "task row: {l}");
                let tail = &words[words.len() - 7..];
                let t: Vec<u64> = tail.iter().map(|w| w.parse().expect("count")).collect();
                s.tasks.push(TaskLine {
                    pid: words[0].parse().expect("pid"),
                    tid: words[1].parse().expect("tid"),
                    ok: t[0],
                    seq_retry: t[1],
                    fallback: t[2],
                    trap: t[3],
                    wrong: t[4],
                    migrations: t[5],
                    toggles: t[6],
                });
            }
            "cpus:" => {
                let n = words.len();
                assert!(n >= 6, "cpu row: {l}");
                let num = |w: &str| w.parse::<u64>().expect("cpu count");
                s.cpus.insert(
                    num(words[0]),
                    (num(words[n - 3]), num(words[n - 2]), num(words[n - 1])),
                );
            }
            // The read site under a finding (when the reader was probed).
            "findings:" if l.trim_start().starts_with("at: ") => {
                assert!(
                    !s.findings.is_empty(),
                    "a site line before any finding: {l}"
                );
            }
            "findings:" => {
                let (rule, text) = l
                    .trim_start()
                    .split_once(' ')
                    .and_then(|(_sev, rest)| rest.split_once(": "))
                    .unwrap_or_else(|| panic!("finding line: {l}"));
                let fix = lines.next().expect("a fix line under each finding");
                assert!(fix.trim_start().starts_with("fix: "), "{fix}");
                s.findings.push((rule.to_string(), text.to_string()));
            }
            _ => unreachable!(),
        }
    }
    assert_eq!(
        n_findings,
        Some(s.findings.len()),
        "`findings: N` and the list agree"
    );
    s
}

/// Status lines, checked: the clock and every count only go up.
fn statuses(out: &str) -> Vec<Status> {
    let v: Vec<Status> = out.lines().filter_map(status).collect();
    for w in v.windows(2) {
        assert!(w[0].ms <= w[1].ms, "{w:?}");
        assert!(w[0].events <= w[1].events, "{w:?}");
        assert!(w[0].lost <= w[1].lost, "{w:?}");
        assert!(w[0].findings <= w[1].findings, "{w:?}");
    }
    v
}

/// Findings printed as they appear (`[t] finding SEV rule: text; fix: remedy`): rule names.
fn printed_findings(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(stamped)
        .filter_map(|(_, rest)| rest.strip_prefix("finding "))
        .map(|r| {
            r.split_whitespace()
                .nth(1)
                .expect("severity and rule")
                .trim_end_matches(':')
                .to_string()
        })
        .collect()
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// The summary of `replay FILE --no-tui` against `report --json FILE`: same engine, same
/// stream, so the same numbers.
fn assert_summary_is_the_engine_s(s: &Summary, report: &Value) {
    let t = &report["totals"];
    assert_eq!(s.events, u(&t["records"]), "events = records fed");
    assert_eq!(s.lost, u(&t["lost"]), "lost");
    let r = &t["reads"];
    for (name, key) in [
        ("ok", "ok"),
        ("seq-retry", "seq_retry"),
        ("index0-fallback", "index0_fallback"),
        ("trap", "trap"),
        ("silent-wrong-pmu", "silent_wrong_pmu"),
    ] {
        assert_eq!(s.counts[name], u(&r[key]), "reads {name}");
    }
    for (name, key) in [
        ("traps", "traps"),
        ("fallback-reads", "fallback_reads"),
        ("migrations", "migrations"),
        ("toggles", "toggles"),
        ("perf-opens", "perf_opens"),
        ("ioctls", "ioctls"),
    ] {
        assert_eq!(s.counts[name], u(&t[key]), "{name}");
    }
    // Findings: the same set (the report lists them by last occurrence, the summary in the
    // order they appeared).
    let want: BTreeSet<(String, String)> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().expect("kind").to_string(),
                f["text"].as_str().expect("text").to_string(),
            )
        })
        .collect();
    let got: BTreeSet<(String, String)> = s.findings.iter().cloned().collect();
    assert_eq!(got, want, "findings");
    assert_eq!(s.findings.len(), want.len(), "each finding once");
    // CPUs: toggles, traps, aborts (traps + fallbacks) per lane.
    for c in report["cpus"].as_array().expect("cpus") {
        let cpu = u(&c["cpu"]);
        let want = (
            u(&c["toggles"]),
            u(&c["traps"]),
            u(&c["traps"]) + u(&c["fallbacks"]),
        );
        assert_eq!(s.cpus.get(&cpu), Some(&want), "cpu {cpu}");
    }
    assert_eq!(
        s.cpus.len(),
        report["cpus"].as_array().map_or(0, |a| a.len())
    );
    // Tasks: every row shown is the engine's row for that thread.
    let tasks = report["tasks"].as_array().expect("tasks");
    assert_eq!(s.tasks.len() as u64 + s.more_tasks, tasks.len() as u64);
    assert_eq!(
        s.other_tasks, 0,
        "replay lists every task, not only holders"
    );
    for row in &s.tasks {
        let e = tasks
            .iter()
            .find(|e| u(&e["tid"]) == row.tid)
            .unwrap_or_else(|| panic!("task {} not in the report", row.tid));
        let c = &e["counts"];
        let r = &c["reads"];
        let want = TaskLine {
            pid: u(&e["pid"]),
            tid: row.tid,
            ok: u(&r["ok"]),
            seq_retry: u(&r["seq_retry"]),
            fallback: u(&r["index0_fallback"]),
            trap: u(&r["trap"]),
            wrong: u(&r["silent_wrong_pmu"]),
            migrations: u(&c["migrations"]),
            toggles: u(&c["toggles"]),
        };
        assert_eq!(row, &want, "task {}", row.tid);
    }
}

#[test]
fn replay_text_of_a_synthetic_trace_sums_up_like_report() {
    let d = scratch("synth");
    let file = d.join("t.pmw");
    // 7 s of trace time (10 us apart): status lines at 0 and 5 s of trace time.
    ui_support::write_trace(&file, 700_000);
    let f = file.to_str().expect("utf-8 path");
    let out = run(&["replay", f, "--no-tui"]);
    let first = out.lines().next().expect("output");
    assert!(
        first.starts_with(&format!(
            "pmuwatch: watching replay {f} (pid 4242); probes: "
        )),
        "{first}"
    );
    let st = statuses(&out);
    let times: Vec<u64> = st.iter().map(|s| s.ms / 1000).collect();
    assert_eq!(times, [0, 5], "a line every 5 s of trace time:\n{out}");
    let s = summary(&out);
    assert!(s.target.starts_with("replay "), "{}", s.target);
    let last = st.last().expect("status lines");
    assert!(last.events <= s.events && last.findings as usize <= s.findings.len());
    assert_eq!(last.tasks, s.tasks.len() as u64 + s.more_tasks);
    assert_eq!(printed_findings(&out).len(), s.findings.len(), "{out}");
    assert!(s.counts["index0-fallback"] > 0 && s.counts["migrations"] > 0);
    let report: Value = serde_json::from_str(&run(&["report", "--json", f])).expect("json");
    assert_summary_is_the_engine_s(&s, &report);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn live_text_on_the_demo_prints_status_findings_and_a_summary() {
    if !is_root() {
        eprintln!("skipped: needs root for the probes (CI runs as root)");
        return;
    }
    let out = run(&["--no-tui", "--duration", "6"]);
    let first = out.lines().next().expect("output");
    let pid: u32 = first
        .strip_prefix("pmuwatch: watching built-in demo, pid ")
        .and_then(|r| r.split(';').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("opening line: {first}"));
    assert!(first.contains("; probes: sched_switch"), "{first}");
    let st = statuses(&out);
    assert!(!st.is_empty(), "at least the first status line:\n{out}");
    let s = summary(&out);
    assert_eq!(s.target, format!("built-in demo, pid {pid}"));
    // The opening line's methods are the summary's.
    let probes = first.split_once("; probes: ").map(|(_, p)| p).unwrap_or("");
    assert_eq!(probes, s.probes.join(", "));
    // The summary comes after the last status line, with everything that arrived.
    let last = st.last().expect("status lines");
    assert!(last.events <= s.events, "{last:?} vs {}", s.events);
    assert!(last.lost <= s.lost);
    assert!(s.events > 0);
    // The careless demo's readers are there and read.
    let readers: Vec<&TaskLine> = s
        .tasks
        .iter()
        .filter(|t| t.pid == u64::from(pid) && t.tid != t.pid)
        .collect();
    assert!(!readers.is_empty(), "the demo's reader threads:\n{out}");
    let reads = |t: &TaskLine| t.ok + t.seq_retry + t.fallback + t.trap + t.wrong;
    assert!(readers.iter().map(|t| reads(t)).sum::<u64>() > 0, "{out}");
    // Each read has one outcome and one thread: the threads shown never have more than the
    // whole stream.
    for (name, f) in [
        ("trap", (|t: &TaskLine| t.trap) as fn(&TaskLine) -> u64),
        ("index0-fallback", |t: &TaskLine| t.fallback),
    ] {
        let shown: u64 = s.tasks.iter().map(f).sum();
        assert!(shown <= s.counts[name], "{name}: {shown} > total\n{out}");
    }
    // Each finding printed once as it appeared, all of them in the summary.
    assert_eq!(printed_findings(&out).len(), s.findings.len(), "{out}");
    // A trap finding names the demo's read site, probed and symbolised.
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("at: ")
                && l.contains(" at pmuwatch_demo_read_counter+")),
        "{out}"
    );
    assert!(
        !s.findings.is_empty(),
        "the careless demo goes wrong:\n{out}"
    );
    let note = s.note.as_deref().unwrap_or("");
    assert!(
        note.starts_with("duration over") || note.starts_with("target exited"),
        "{note}"
    );
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "the demo (pid {pid}) was stopped"
    );
}

#[test]
fn top_text_lists_the_threads_that_read() {
    if !is_root() {
        eprintln!("skipped: needs root for the probes (CI runs as root)");
        return;
    }
    use std::{
        io::{BufRead, BufReader},
        sync::mpsc,
        time::{Duration, Instant},
    };
    // No duration: top runs until SIGTERM, sent once its output names the demo's readers,
    // so nothing here depends on how fast a loaded machine starts or delivers things.
    let mut top = Command::new(BIN)
        .args(["top", "--no-tui"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run pmuwatch top");
    let stdout = top.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut out = Vec::new();
    let next = |out: &mut Vec<String>| -> String {
        let left = deadline.saturating_duration_since(Instant::now());
        let l = rx
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("top's output ({e}):\n{}", out.join("\n")));
        out.push(l.clone());
        l
    };
    let first = next(&mut out);
    assert!(
        first.starts_with("pmuwatch: watching system-wide; probes: "),
        "{first}"
    );
    // The probes are in: a careless demo started now is seen from its first event.
    let demo = Command::new(BIN)
        .args(["demo", "--careless", "--duration", "2"])
        .output()
        .expect("run the demo");
    assert!(demo.status.success());
    let j: Value = serde_json::from_slice(&demo.stdout).expect("the demo's JSON");
    let demo_pid = u(&j["pid"]);
    let tids: Vec<String> = j["per_thread"]
        .as_array()
        .expect("per_thread")
        .iter()
        .map(|t| format!("thread {} ", u(&t["tid"])))
        .collect();
    // Its events may still be on their way: wait for a finding about one of its readers.
    while !{
        let l = next(&mut out);
        l.contains("] finding ") && tids.iter().any(|t| l.contains(t.as_str()))
    } {}
    // SAFETY: kill on the pid of a child we spawned and have not waited for.
    let rc = unsafe { libc::kill(top.id() as i32, libc::SIGTERM) };
    assert_eq!(rc, 0, "SIGTERM to top");
    out.extend(rx.iter());
    let _ = reader.join();
    let out = out.join("\n");
    assert!(top.wait().expect("top exits").success(), "{out}");
    let s = summary(&out);
    assert_eq!(s.target, "system-wide");
    let readers: Vec<&TaskLine> = s.tasks.iter().filter(|t| t.pid == demo_pid).collect();
    assert!(
        readers.iter().any(|t| t.trap + t.fallback + t.ok > 0),
        "the demo's readers (pid {demo_pid}) are listed with their reads:\n{out}"
    );
}

#[test]
fn replay_text_of_a_live_recording_equals_report() {
    if !is_root() {
        eprintln!("skipped: needs root to record (CI runs as root)");
        return;
    }
    let d = scratch("recording");
    let file = d.join("demo.pmw");
    let f = file.to_str().expect("utf-8 path");
    run(&[
        "record",
        "-o",
        f,
        "--",
        BIN,
        "demo",
        "--careless",
        "--duration",
        "3",
    ]);
    let out = run(&["replay", f, "--no-tui"]);
    let s = summary(&out);
    let st = statuses(&out);
    assert!(st.first().is_some_and(|s| s.ms == 0), "{out}");
    assert_eq!(printed_findings(&out).len(), s.findings.len(), "{out}");
    assert!(s.events > 0 && !s.findings.is_empty(), "{out}");
    let report: Value = serde_json::from_str(&run(&["report", "--json", f])).expect("json");
    assert_summary_is_the_engine_s(&s, &report);
    let _ = std::fs::remove_dir_all(&d);
}
