//! The demo's own counts (`pmuwatch demo --counts`, keys in tool/src/demo/mod.rs) against what
//! the lab's kernel must make happen in each scenario: proof that the scenario really produced
//! the phenomenon the tool is then asked to see.

use serde_json::Value;

use super::{
    checks::{self, Checks, Output},
    console::Console,
    scenario::Scenario,
};

/// A condition on one count.
#[derive(Clone, Copy)]
pub enum Want {
    Zero,
    Positive,
    /// Equal to another count.
    Same(&'static str),
}

/// The demo's report for scenario `n`: from `record -- demo` when `record` ran it, else from
/// the demo alone.
pub fn report<'a>(c: &'a Console, n: &str) -> Output<'a> {
    let counts = format!("{n}.counts");
    match checks::output(c, &format!("{n}.demo"), &counts) {
        Output::Absent => checks::output(c, &format!("{n}.record"), &counts),
        o => o,
    }
}

pub fn check(k: &mut Checks, c: &Console, s: Scenario) {
    let d = match report(c, s.name()) {
        Output::Json(v) => v,
        Output::NotBuilt(why) => return k.skip("demo", why),
        Output::Failed(why) => return k.fail("demo", why),
        Output::Absent => return k.fail("demo", "the scenario did not run the demo"),
    };
    k.check(
        "demo: hardware events",
        d["backend"] == "hardware" && d["arch"] == "aarch64",
        format!("backend {}, events {}", d["backend"], d["plan"]["hardware"]),
    );
    use Want::*;
    let wants: &[(&str, Want)] = match s {
        Scenario::Pua1 => &[
            ("reads_ok", Positive),
            ("traps", Zero),
            ("careless_reads", Zero),
        ],
        Scenario::Pua0 => &[
            ("reads_ok", Zero),
            ("index0_fallbacks", Positive),
            ("careless_traps", Positive),
            ("careless_silent", Zero),
            ("traps", Same("careless_traps")),
            ("traps_by_signal.SIGILL", Same("traps")),
        ],
        // Traps after a migration depend on timing (seen 0..72 in 3 s): counted, not required.
        Scenario::Hetero => &[
            ("reads_ok", Positive),
            ("index0_fallbacks", Positive),
            ("careless_silent", Positive),
            ("migrations", Positive),
            ("traps_by_signal.SIGILL", Same("traps")),
        ],
        Scenario::Flip => &[
            ("reads_ok", Positive),
            ("index0_fallbacks", Positive),
            ("careless_reads", Zero),
            ("traps_by_signal.SIGILL", Same("traps")),
        ],
        Scenario::LeftOpen => &[("reads_ok", Positive), ("traps", Zero)],
    };
    let total = &d["total"];
    let mut bad = Vec::new();
    for &(key, want) in wants {
        let v = count(total, key);
        let ok = match want {
            Zero => v == Some(0),
            Positive => v.is_some_and(|v| v > 0),
            Same(other) => v.is_some() && v == count(total, other),
        };
        if !ok {
            bad.push(match want {
                Zero => format!("{key} {v:?}, expected 0"),
                Positive => format!("{key} {v:?}, expected > 0"),
                Same(o) => format!("{key} {v:?}, expected = {o} {:?}", count(total, o)),
            });
        }
    }
    let summary = [
        "reads",
        "reads_ok",
        "index0_fallbacks",
        "careless_silent",
        "traps",
        "migrations",
    ]
    .map(|key| {
        format!(
            "{key} {}",
            count(total, key).map_or("?".into(), |v| v.to_string())
        )
    })
    .join(", ");
    k.check(
        "demo: outcomes",
        bad.is_empty(),
        if bad.is_empty() {
            summary
        } else {
            format!("{}; counts: {summary}", bad.join("; "))
        },
    );
}

/// A count by path (`traps`, `traps_by_signal.SIGILL`).
pub fn count(v: &Value, path: &str) -> Option<u64> {
    path.split('.').try_fold(v, |v, k| v.get(k))?.as_u64()
}
