//! Pipeline rates (decode, engine, recorder, chained; one core, synthetic stream) and peak
//! memory of `pmuwatch report` on a large synthetic trace.

use std::process::Command;

use anyhow::{Context, bail};

use super::{Bins, Row, si};

pub fn rates(bins: &Bins, events: u64) -> anyhow::Result<Vec<Row>> {
    eprintln!("bench: pipeline rates over {events} synthetic events");
    let v = helper_json(bins, &["rate".to_string(), events.to_string()])?;
    let rate = |k: &str| v.get(k).and_then(serde_json::Value::as_f64).unwrap_or(0.0);
    let row = |what: &str, k: &str, goal: &str| Row {
        part: "pipeline",
        what: what.to_string(),
        value: format!("{}/s", si(rate(k))),
        note: format!("events, one core, best of 3 passes{goal}"),
    };
    Ok(vec![
        row("decode (ring-buffer bytes -> Event)", "decode_per_s", ""),
        row("engine (feed)", "engine_per_s", "; goal 5 M/s"),
        row(
            "recorder (trace writer, zstd)",
            "record_per_s",
            "; goal 2 M/s",
        ),
        row("decode + engine + recorder", "chained_per_s", ""),
    ])
}

/// Read-site scan rate: what each new image costs system-wide (every exec's files are
/// scanned once). Files: pmuwatch itself, and `perf` with the libraries it links, where present.
pub fn scan(bins: &Bins) -> anyhow::Result<Vec<Row>> {
    let mut files = vec![bins.pmuwatch.display().to_string()];
    if let Ok(out) = Command::new("ldd").arg("/usr/bin/perf").output() {
        files.push("/usr/bin/perf".into());
        files.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| l.split_whitespace().find(|w| w.starts_with('/')))
                .map(String::from),
        );
    }
    let args: Vec<String> = std::iter::once("scan".to_string())
        .chain(files.iter().cloned())
        .collect();
    let v = helper_json(bins, &args)?;
    let num = |k: &str| v.get(k).and_then(serde_json::Value::as_f64).unwrap_or(0.0);
    Ok(vec![Row {
        part: "pipeline",
        what: "read-site scan (read + find counter reads)".into(),
        value: format!("{}B/s", si(num("bytes") / num("secs").max(1e-9))),
        note: format!(
            "{} files, {:.1} MB in {:.1} ms, {} sites; best of 3",
            files.len(),
            num("bytes") / 1e6,
            num("secs") * 1e3,
            num("sites")
        ),
    }])
}

/// Runs `pmuwatch bench-helper ARGS` and parses the JSON it prints.
fn helper_json(bins: &Bins, args: &[String]) -> anyhow::Result<serde_json::Value> {
    let what = args.first().map_or("", String::as_str);
    let out = bins
        .helper_cmd()
        .args(args)
        .output()
        .with_context(|| format!("could not start pmuwatch bench-helper {what}"))?;
    if !out.status.success() {
        bail!(
            "pmuwatch bench-helper {what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    serde_json::from_slice(&out.stdout)
        .with_context(|| format!("pmuwatch bench-helper {what} printed no JSON"))
}

pub fn memory(bins: &Bins, events: u64) -> anyhow::Result<Vec<Row>> {
    let dir = std::env::temp_dir().join(format!("pmuwatch-bench-mem-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("big.pmw");
    eprintln!("bench: writing a {events}-event synthetic trace");
    crate::util::run(
        bins.helper_cmd()
            .arg("write")
            .arg(&file)
            .arg(events.to_string()),
    )?;
    let size = std::fs::metadata(&file).map_or(0, |m| m.len());
    eprintln!("bench: pmuwatch report on it");
    let t = std::time::Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(&bins.pmuwatch)
        .args(["report", "--json"])
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .output()
        .context("could not start /usr/bin/time (apt-get install time)")?;
    let secs = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    if !out.status.success() {
        bail!(
            "pmuwatch report failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let kib: u64 = String::from_utf8_lossy(&out.stderr)
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .context("/usr/bin/time printed no peak RSS")?;
    Ok(vec![Row {
        part: "memory",
        what: format!("pmuwatch report, {} events", si(events as f64)),
        value: format!("{:.1} MiB", kib as f64 / 1024.0),
        note: format!(
            "peak RSS; file {:.1} MiB, read in {secs:.1} s ({}/s)",
            size as f64 / (1 << 20) as f64,
            si(events as f64 / secs)
        ),
    }])
}
