//! `pmuwatch doctor --json` in the guest against the lab's ground truth (docs/doctor-json.md):
//! the PMUs with their types and CPUs as sysfs shows them, each CPU's PMU, the sysctl, and
//! the attach methods this kernel really offers (kprobes on both, fentry on 6.12 only).

use serde_json::Value;

use super::{
    checks::{Checks, Output},
    console::Console,
};

/// `attach`: whether doctor's attach checks ran (they load canary programs: seconds under TCG).
pub fn check(k: &mut Checks, c: &Console, series: &str, attach: bool) {
    let d = match super::checks::output(c, "doctor", "doctor") {
        Output::Json(v) => v,
        Output::NotBuilt(why) => return k.skip("doctor", why),
        Output::Failed(why) => return k.fail("doctor", why),
        Output::Absent => return k.fail("doctor", "the scenario did not run pmuwatch doctor"),
    };
    let facts = &d["facts"];
    k.check(
        "doctor: kernel",
        facts["kernel"].as_str() == c.kernel.as_deref() && facts["arch"] == "aarch64",
        format!("says {} {}", facts["kernel"], facts["arch"]),
    );
    pmus(k, c, facts);
    cpus(k, c, facts);
    k.check(
        "doctor: sysctl",
        facts["perf_user_access"] == 0 && facts["btf"] == true,
        format!(
            "says perf_user_access {} (guest: {:?}), btf {}",
            facts["perf_user_access"],
            c.user_access.first(),
            facts["btf"]
        ),
    );
    let hetero = c.hw_pmus().len() == 2;
    let want = if hetero {
        "several_pmu_types"
    } else {
        "one_pmu_type"
    };
    k.check(
        "doctor: verdict",
        verdict(d, want) && verdict(d, "user_access_off"),
        format!(
            "expected verdicts {want} and user_access_off; got {}",
            verdict_codes(d)
        ),
    );
    if attach {
        methods(k, d, series);
    }
}

/// Core PMUs: the same names, types and CPUs as sysfs, each offering user reads by config1:1.
fn pmus(k: &mut Checks, c: &Console, facts: &Value) {
    let said: Vec<String> = facts["pmus"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["core"] == true)
        .map(|p| {
            let cpus: Vec<String> = p["cpus"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| c.to_string())
                .collect();
            format!(
                "{} type {} cpus {} user_read {}",
                p["name"].as_str().unwrap_or("?"),
                p["type"],
                range(&cpus),
                p["user_read"]["field"].as_str().unwrap_or("none")
            )
        })
        .collect();
    let truth: Vec<String> = c
        .hw_pmus()
        .iter()
        .map(|p| {
            format!(
                "{} type {} cpus {} user_read config1:1",
                p.name, p.ty, p.cpus
            )
        })
        .collect();
    k.check(
        "doctor: pmus",
        said == truth,
        format!("says [{}]; sysfs [{}]", said.join(", "), truth.join(", ")),
    );
}

/// Every CPU names the PMU whose `cpus` holds it.
fn cpus(k: &mut Checks, c: &Console, facts: &Value) {
    let said: Vec<String> = facts["cpus"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|cpu| format!("{}:{}", cpu["id"], cpu["pmu"].as_str().unwrap_or("none")))
        .collect();
    let truth: Vec<String> = (0..c.ncpu.unwrap_or(0))
        .map(|id| {
            let pmu = c
                .hw_pmus()
                .into_iter()
                .find(|p| in_range(&p.cpus, id))
                .map_or("none", |p| p.name.as_str());
            format!("{id}:{pmu}")
        })
        .collect();
    k.check(
        "doctor: cpus",
        said == truth,
        format!("says [{}]; sysfs [{}]", said.join(" "), truth.join(" ")),
    );
}

/// kprobe works on both kernels; fentry on 6.12, refused with ENOTSUPP (524) on 6.1.
fn methods(k: &mut Checks, d: &Value, series: &str) {
    let status = |m: &str| -> (String, Option<i64>) {
        let e = d["facts"]["attach"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["method"] == m);
        (
            e.and_then(|a| a["status"].as_str())
                .unwrap_or("missing")
                .to_string(),
            e.and_then(|a| a["errno"].as_i64()),
        )
    };
    let fentry_ok = series != "6.1";
    let mut bad = Vec::new();
    for m in ["tp_btf", "kprobe", "uprobe", "fentry"] {
        let (st, errno) = status(m);
        let ok = match (m, fentry_ok) {
            ("fentry", false) => st == "refused" && errno == Some(524),
            _ => st == "works",
        };
        if !ok {
            bad.push(format!("{m} {st} {errno:?}"));
        }
    }
    let want = if fentry_ok {
        "tp_btf, kprobe, uprobe, fentry work"
    } else {
        "tp_btf, kprobe, uprobe work, fentry refused (524)"
    };
    k.check(
        "doctor: attach methods",
        bad.is_empty(),
        if bad.is_empty() {
            want.to_string()
        } else {
            format!("expected {want}; got {}", bad.join(", "))
        },
    );
}

fn verdict(d: &Value, code: &str) -> bool {
    d["verdicts"]
        .as_array()
        .is_some_and(|v| v.iter().any(|x| x["code"] == code))
}

fn verdict_codes(d: &Value) -> String {
    d["verdicts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x["code"].as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `0-1`, `0-3`, `2`: the sysfs spelling of a list of CPU numbers (consecutive ones here).
fn range(cpus: &[String]) -> String {
    match (cpus.first(), cpus.last()) {
        (Some(a), Some(b)) if a == b => a.clone(),
        (Some(a), Some(b)) => format!("{a}-{b}"),
        _ => "-".into(),
    }
}

/// Whether a sysfs CPU list (`0-1`, `0-3`, `0,2`) holds `cpu`.
pub fn in_range(list: &str, cpu: u32) -> bool {
    list.split(',').any(|part| match part.split_once('-') {
        Some((a, b)) => {
            matches!((a.parse::<u32>(), b.parse::<u32>()), (Ok(a), Ok(b)) if (a..=b).contains(&cpu))
        }
        None => part.parse() == Ok(cpu),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_in_sysfs_spelling() {
        assert!(in_range("0-1", 1));
        assert!(!in_range("0-1", 2));
        assert!(in_range("0,2-3", 3));
        assert!(!in_range("-", 0));
        assert_eq!(range(&["2".into(), "3".into()]), "2-3");
    }
}
