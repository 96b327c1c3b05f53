//! Parses a guest's console: the `@@` lines that lab/init and lab/lib.sh print. Anything else
//! (kernel messages, the tool's own chatter) is kept only for the failure tail.

use std::collections::BTreeMap;

use serde_json::Value;

/// A PMU as sysfs shows it in the guest: the lab's ground truth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pmu {
    pub name: String,
    pub ty: u32,
    pub cpus: String,
}

/// One command a scenario ran (`step` in lab/lib.sh).
#[derive(Debug, Default, Clone)]
pub struct Step {
    pub args: String,
    pub rc: Option<i32>,
    pub stderr: Vec<String>,
    /// Guest uptime at start and end, seconds.
    pub start_s: Option<f64>,
    pub end_s: Option<f64>,
}

/// A direct read of PMCCNTR_EL0 by a process that opened no event (`mrs_all` in lab/lib.sh).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mrs {
    pub label: String,
    pub cpu: u32,
    /// `None` when the read trapped (SIGILL).
    pub value: Option<u64>,
}

#[derive(Debug, Default)]
pub struct Console {
    pub kernel: Option<String>,
    pub ncpu: Option<u32>,
    pub pmus: Vec<Pmu>,
    /// Every `kernel.perf_user_access` value printed, in order (the first is the boot default).
    pub user_access: Vec<u32>,
    pub btf: Option<bool>,
    pub steps: BTreeMap<String, Step>,
    /// `@@json NAME ...`: `Ok(None)` when the file was empty or missing.
    pub json: BTreeMap<String, Result<Option<Value>, String>>,
    pub mrs: Vec<Mrs>,
    /// `@@insn NAME COUNT "insn":"HEX"`: trap records by instruction bytes, per scenario.
    pub trap_insns: BTreeMap<String, Vec<(u64, String)>>,
    /// `@@b64 NAME LINE` (with `--keep-traces`): the trace file of scenario NAME, base64.
    pub traces: BTreeMap<String, String>,
    pub errors: Vec<String>,
    pub done: bool,
}

impl Console {
    pub fn parse(text: &str) -> Console {
        let mut c = Console::default();
        for line in text.lines() {
            // A kernel message may have started the line; our marker still opens our part.
            let Some(at) = line.find("@@") else { continue };
            let line = line[at + 2..].trim_end_matches('\r');
            let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
            match tag {
                "init" => {
                    c.kernel = word(rest, "kernel").map(str::to_string);
                    c.ncpu = word(rest, "ncpu").and_then(|v| v.parse().ok());
                }
                "pmu" => c.pmu(rest),
                "sysctl" => {
                    if let Some(v) = word(rest, "perf_user_access").and_then(|v| v.parse().ok()) {
                        c.user_access.push(v);
                    }
                }
                "btf" => c.btf = Some(rest == "present"),
                "run" => {
                    let mut it = rest.splitn(3, ' ');
                    let (name, at, args) = (it.next(), it.next(), it.next());
                    let step = c.steps.entry(name.unwrap_or("").to_string()).or_default();
                    step.start_s = at.and_then(|v| v.parse().ok());
                    step.args = args.unwrap_or("").to_string();
                }
                "rc" => {
                    let mut it = rest.split(' ');
                    let (name, rc, at) = (it.next(), it.next(), it.next());
                    let step = c.steps.entry(name.unwrap_or("").to_string()).or_default();
                    step.rc = rc.and_then(|v| v.parse().ok());
                    step.end_s = at.and_then(|v| v.parse().ok());
                }
                "stderr" => {
                    let (name, msg) = rest.split_once(' ').unwrap_or((rest, ""));
                    let step = c.steps.entry(name.to_string()).or_default();
                    step.stderr.push(msg.to_string());
                }
                "json" => {
                    let (name, body) = rest.split_once(' ').unwrap_or((rest, "-"));
                    let v = match body {
                        "-" => Ok(None),
                        b => serde_json::from_str(b).map(Some).map_err(|e| e.to_string()),
                    };
                    c.json.insert(name.to_string(), v);
                }
                "mrs" => c.mrs(rest),
                "insn" => c.insn(rest),
                "b64" => {
                    let (name, chunk) = rest.split_once(' ').unwrap_or((rest, ""));
                    c.traces
                        .entry(name.to_string())
                        .or_default()
                        .push_str(chunk);
                }
                "error" => c.errors.push(rest.to_string()),
                "done" => c.done = true,
                _ => {}
            }
        }
        c
    }

    fn pmu(&mut self, rest: &str) {
        let name = rest.split(' ').next().unwrap_or("").to_string();
        let ty = word(rest, "type").and_then(|v| v.parse().ok());
        let cpus = word(rest, "cpus").unwrap_or("-").to_string();
        if let Some(ty) = ty {
            self.pmus.push(Pmu { name, ty, cpus });
        }
    }

    fn mrs(&mut self, rest: &str) {
        let label = rest.split(' ').next().unwrap_or("").to_string();
        let Some(cpu) = word(rest, "cpu").and_then(|v| v.parse().ok()) else {
            return;
        };
        let value = word(rest, "value").and_then(|v| v.parse().ok());
        let trapped = rest.split(' ').any(|w| w == "trap");
        if trapped || value.is_some() {
            self.mrs.push(Mrs { label, cpu, value });
        } else {
            self.errors.push(format!("mrs-cycles failed: {rest}"));
        }
    }

    fn insn(&mut self, rest: &str) {
        let mut it = rest.split(' ');
        let (name, n, insn) = (it.next(), it.next(), it.next());
        let hex = insn
            .and_then(|i| i.strip_prefix("\"insn\":\""))
            .and_then(|i| i.strip_suffix('"'));
        match (name, n.and_then(|n| n.parse().ok()), hex) {
            (Some(name), Some(n), Some(hex)) => self
                .trap_insns
                .entry(name.to_string())
                .or_default()
                .push((n, hex.to_string())),
            _ => self.errors.push(format!("bad @@insn line: {rest}")),
        }
    }

    /// The hardware PMUs (the `armv8_*` ones), without software PMUs like `software`/`kprobe`.
    pub fn hw_pmus(&self) -> Vec<&Pmu> {
        self.pmus
            .iter()
            .filter(|p| p.name.starts_with("armv8"))
            .collect()
    }
}

/// Decodes standard base64 (as busybox `base64` writes it); None on a bad character.
pub fn base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in text.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            b' ' | b'\t' | b'\r' | b'\n' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// `key=value` among space-separated words.
fn word<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    s.split(' ')
        .find_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
[    0.000000] Booting Linux on physical CPU 0x0000000000 [0x000f0510]\r
@@init kernel=6.12.107+deb13-arm64 ncpu=4 uptime=3.21\r
@@pmu armv8_cortex_a53 type=10 cpus=0-1\r
@@pmu armv8_cortex_a72 type=11 cpus=2-3\r
@@pmu software type=1 cpus=-\r
@@sysctl perf_user_access=0 perf_event_paranoid=3\r
@@btf present\r
@@run doctor 3.50 pmuwatch doctor --json\r
@@rc doctor 1 3.61\r
@@stderr doctor pmuwatch: doctor: not built yet\r
@@json doctor -\r
@@sysctl perf_user_access=1\r
[    5.1] some kernel line @@json x.counts {\"ok\": 3,  \"traps\": [1, 2]}\r
@@json bad {\"ok\": \r
@@insn pua0 3 \"insn\":\"009d3bd5\"\r
@@mrs before cpu=0 trap\r
@@mrs after cpu=2 value=12345 rc=0\r
@@mrs after cpu=3 value= rc=1\r
@@done uptime=9.9\r
";

    #[test]
    fn marker_lines_become_facts_steps_and_json() {
        let c = Console::parse(SAMPLE);
        assert_eq!(c.kernel.as_deref(), Some("6.12.107+deb13-arm64"));
        assert_eq!(c.ncpu, Some(4));
        assert_eq!(c.hw_pmus().len(), 2);
        assert_eq!(
            c.pmus[1],
            Pmu {
                name: "armv8_cortex_a72".into(),
                ty: 11,
                cpus: "2-3".into()
            }
        );
        assert_eq!(c.user_access, vec![0, 1]);
        assert_eq!(c.btf, Some(true));
        let d = &c.steps["doctor"];
        assert_eq!((d.rc, d.start_s, d.end_s), (Some(1), Some(3.5), Some(3.61)));
        assert_eq!(
            d.stderr,
            vec!["pmuwatch: doctor: not built yet".to_string()]
        );
        assert_eq!(c.json["doctor"], Ok(None));
        assert_eq!(
            c.json["x.counts"].as_ref().unwrap().as_ref().unwrap()["ok"],
            3
        );
        assert!(c.json["bad"].is_err());
        assert_eq!(c.trap_insns["pua0"], vec![(3, "009d3bd5".to_string())]);
        assert_eq!(c.mrs.len(), 2);
        assert_eq!(c.mrs[0].value, None);
        assert_eq!(c.mrs[1].value, Some(12345));
        assert_eq!(c.errors.len(), 1, "a failed helper is an error, not a read");
        assert!(c.done);
    }

    #[test]
    fn trace_lines_decode_to_the_file() {
        let c = Console::parse("@@b64 pua1 cG11d2F0\r\n@@b64 pua1 Y2gK\r\n");
        assert_eq!(base64(&c.traces["pua1"]).unwrap(), b"pmuwatch\n");
        assert_eq!(base64("YQ=="), Some(b"a".to_vec()));
        assert_eq!(base64("a*b"), None);
    }

    #[test]
    fn a_console_cut_short_is_not_done() {
        let c = Console::parse("@@init kernel=6.1.0 ncpu=4\n@@run doctor 1.0 pmuwatch doctor\n");
        assert!(!c.done);
        assert_eq!(c.steps["doctor"].rc, None);
    }
}
