//! A small text form of record streams, for golden tests, examples and bug reports:
//!
//! ```text
//! # ts cpu pid tid kind field=value ...
//! 1ms   0 100 100 sysctl perf_user_access=1 rdpmc_mode=-1 paranoid=2
//! 2ms   0 100 100 perf_open attr_type=10 config=0x11 config1=0x2 target_pid=0 cpu_arg=-1 ret=3
//! 3ms   0 100 100 trap signo=4 si_code=1 ip=0x4005d0 word=0xd53b9d00
//! ```
//!
//! `ts` takes `ns` (default), `us`, `ms` or `s`, with decimals (`1.5ms`). Field names are the
//! record's (`common::event`); numbers are decimal or `0x` hex, may be negative. Extras:
//! `comm=NAME` / `next_comm=NAME`, trap `insn=0f33` (hex bytes) or `word=0xd53b9d00` (one arm64
//! instruction), which also set `insn_len`; `access=on|off|unknown` and `prev_access=`;
//! `source=model|none`; `reg=rdpmc|pmccntr|pmevcntr|pmxevcntr|pmselr`; `hook=` by name or number.
//! `involves_target` defaults to 1, `counter` and `site` of `direct_read` to unknown, and
//! `next_nr_user`/`next_rdpmc_allowed` to unknown.

use common::{
    Access, AccessSource, Comm, DirectRead, Event, Exec, Exit, Fork, Header, Hook, HookToggle,
    Kind, Lost, Migrate, Munmap, PageSample, PerfClose, PerfIoctl, PerfMmap, PerfOpen, PerfRead,
    ReadReg, ReaderCall, SchedSwitch, Sysctl, Trap, decode::event,
};

/// A parse error with its line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    pub line: usize,
    pub msg: String,
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.msg)
    }
}

impl std::error::Error for ScriptError {}

/// Parses a whole script.
pub fn parse(text: &str) -> Result<Vec<Event>, ScriptError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let ev = parse_line(line).map_err(|msg| ScriptError { line: i + 1, msg })?;
        out.push(ev);
    }
    Ok(out)
}

fn int(v: &str) -> Result<i128, String> {
    let (neg, body) = match v.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, v),
    };
    let body = body.replace('_', "");
    let n = if let Some(h) = body.strip_prefix("0x") {
        i128::from_str_radix(h, 16)
    } else {
        body.parse::<i128>()
    }
    .map_err(|_| format!("not a number: {v}"))?;
    Ok(if neg { -n } else { n })
}

fn num<T: TryFrom<i128>>(v: &str) -> Result<T, String> {
    let n = int(v)?;
    T::try_from(n).map_err(|_| format!("out of range: {v}"))
}

/// `1.5ms` -> 1_500_000.
fn ts(v: &str) -> Result<u64, String> {
    let (digits, mul) = if let Some(d) = v.strip_suffix("ns") {
        (d, 1.0)
    } else if let Some(d) = v.strip_suffix("us") {
        (d, 1e3)
    } else if let Some(d) = v.strip_suffix("ms") {
        (d, 1e6)
    } else if let Some(d) = v.strip_suffix('s') {
        (d, 1e9)
    } else {
        (v, 1.0)
    };
    if mul == 1.0 {
        return num(digits);
    }
    let f: f64 = digits.parse().map_err(|_| format!("bad time: {v}"))?;
    if f.is_nan() || f < 0.0 {
        return Err(format!("bad time: {v}"));
    }
    Ok((f * mul).round() as u64)
}

fn comm(v: &str) -> [u8; 16] {
    let mut c = [0u8; 16];
    for (d, s) in c.iter_mut().zip(v.bytes().take(15)) {
        *d = s;
    }
    c
}

fn access(v: &str) -> Result<u8, String> {
    Ok(match v {
        "on" => Access::On as u8,
        "off" => Access::Off as u8,
        "unknown" => Access::Unknown as u8,
        n => num(n)?,
    })
}

fn hex_bytes(v: &str) -> Result<([u8; 16], u32), String> {
    let v = v.replace([',', ' '], "");
    if !v.len().is_multiple_of(2) || v.len() > 32 {
        return Err(format!("bad insn bytes: {v}"));
    }
    let mut b = [0u8; 16];
    for i in 0..v.len() / 2 {
        b[i] = u8::from_str_radix(&v[2 * i..2 * i + 2], 16).map_err(|_| format!("bad hex: {v}"))?;
    }
    Ok((b, (v.len() / 2) as u32))
}

macro_rules! fields {
    ($rec:ident, $k:expr, $v:expr, { $($name:literal => $field:ident),* $(,)? }) => {
        match $k {
            $($name => $rec.$field = num($v)?,)*
            other => return Err(format!("unknown field {other}")),
        }
    };
}

fn parse_line(line: &str) -> Result<Event, String> {
    let mut it = line.split_whitespace();
    let mut next = |what: &str| it.next().ok_or_else(|| format!("missing {what}"));
    let h = Header {
        ts_ns: ts(next("ts")?)?,
        cpu: num(next("cpu")?)?,
        pid: num(next("pid")?)?,
        tid: num(next("tid")?)?,
        ..Header::default()
    };
    let kind_name = next("kind")?;
    let kind = Kind::ALL
        .into_iter()
        .find(|k| k.name() == kind_name)
        .ok_or_else(|| format!("unknown kind {kind_name}"))?;
    let pairs: Vec<(&str, &str)> = it
        .map(|kv| {
            kv.split_once('=')
                .ok_or_else(|| format!("expected key=value: {kv}"))
        })
        .collect::<Result<_, _>>()?;
    macro_rules! build {
        ($t:ident, $init:expr, |$r:ident, $k:ident, $v:ident| $body:expr) => {{
            let mut $r: $t = $init;
            *common::Record::header_mut(&mut $r) = h;
            for &($k, $v) in &pairs {
                $body;
            }
            event($r)
        }};
    }
    Ok(match kind {
        Kind::SchedSwitch => build!(
            SchedSwitch,
            SchedSwitch {
                next_nr_user: u32::MAX,
                next_rdpmc_allowed: u32::MAX,
                access: Access::Unknown as u8,
                prev_access: Access::Unknown as u8,
                source: AccessSource::Model as u8,
                involves_target: 1,
                ..Default::default()
            },
            |r, k, v| match k {
                "next_comm" | "comm" => r.next_comm = comm(v),
                "access" => r.access = access(v)?,
                "prev_access" => r.prev_access = access(v)?,
                "source" => {
                    r.source = match v {
                        "model" => AccessSource::Model as u8,
                        "none" => AccessSource::None as u8,
                        n => num(n)?,
                    }
                }
                _ => fields!(r, k, v, {
                    "prev_pid" => prev_pid, "prev_tid" => prev_tid, "prev_state" => prev_state,
                    "next_nr_user" => next_nr_user, "next_rdpmc_allowed" => next_rdpmc_allowed,
                    "involves_target" => involves_target,
                }),
            }
        ),
        Kind::Migrate => build!(Migrate, Migrate::default(), |r, k, v| fields!(r, k, v, {
            "orig_cpu" => orig_cpu, "dest_cpu" => dest_cpu,
        })),
        Kind::Trap => build!(Trap, Trap::default(), |r, k, v| match k {
            "insn" => (r.insn, r.insn_len) = hex_bytes(v)?,
            "word" => {
                let w: u32 = num(v)?;
                r.insn = [0; 16];
                r.insn[..4].copy_from_slice(&w.to_le_bytes());
                r.insn_len = 4;
            }
            _ => fields!(r, k, v, {
                "signo" => signo, "si_code" => si_code, "ip" => ip, "insn_len" => insn_len,
                "result" => result,
            }),
        }),
        Kind::PerfOpen => build!(
            PerfOpen,
            PerfOpen {
                target_pid: 0,
                cpu_arg: -1,
                group_fd: -1,
                ..Default::default()
            },
            |r, k, v| fields!(r, k, v, {
                "attr_type" => attr_type, "attr_size" => attr_size, "config" => config,
                "config1" => config1, "config2" => config2, "attr_flags" => attr_flags,
                "target_pid" => target_pid, "cpu_arg" => cpu_arg, "group_fd" => group_fd,
                "flags" => flags, "ret" => ret,
            })
        ),
        Kind::PerfIoctl => build!(PerfIoctl, PerfIoctl::default(), |r, k, v| match k {
            "cmd" => {
                r.cmd = match v {
                    "enable" => super::IOC_ENABLE,
                    "disable" => super::IOC_DISABLE,
                    "reset" => 0x2403,
                    n => num(n)?,
                }
            }
            _ => fields!(r, k, v, { "fd" => fd, "arg" => arg, "ret" => ret }),
        }),
        Kind::PerfMmap => build!(PerfMmap, PerfMmap::default(), |r, k, v| fields!(r, k, v, {
            "fd" => fd, "prot" => prot, "len" => len, "ret" => ret,
        })),
        Kind::Munmap => build!(Munmap, Munmap::default(), |r, k, v| fields!(r, k, v, {
            "addr" => addr, "len" => len, "ret" => ret,
        })),
        Kind::PerfRead => build!(PerfRead, PerfRead::default(), |r, k, v| fields!(r, k, v, {
            "fd" => fd, "count" => count, "ret" => ret,
        })),
        Kind::PerfClose => build!(
            PerfClose,
            PerfClose::default(),
            |r, k, v| fields!(r, k, v, {
                "fd" => fd, "ret" => ret,
            })
        ),
        Kind::Fork => build!(Fork, Fork::default(), |r, k, v| fields!(r, k, v, {
            "child_pid" => child_pid, "child_tid" => child_tid,
        })),
        Kind::Exec => build!(Exec, Exec::default(), |r, k, v| match k {
            "comm" => r.comm = comm(v),
            other => return Err(format!("unknown field {other}")),
        }),
        Kind::Exit => build!(Exit, Exit::default(), |r, k, v| fields!(r, k, v, {
            "group_dead" => group_dead,
        })),
        Kind::DirectRead => build!(
            DirectRead,
            DirectRead {
                site: u32::MAX,
                counter: u32::MAX,
                ..Default::default()
            },
            |r, k, v| match k {
                "reg" => {
                    r.reg = match v {
                        "rdpmc" => ReadReg::X86Rdpmc as u32,
                        "pmccntr" => ReadReg::Pmccntr as u32,
                        "pmevcntr" => ReadReg::Pmevcntr as u32,
                        "pmxevcntr" => ReadReg::Pmxevcntr as u32,
                        "pmselr" => ReadReg::PmselrWrite as u32,
                        n => num(n)?,
                    }
                }
                _ => fields!(r, k, v, { "ip" => ip, "site" => site, "counter" => counter }),
            }
        ),
        Kind::ReaderCall => build!(
            ReaderCall,
            ReaderCall::default(),
            |r, k, v| fields!(r, k, v, {
                "func" => func, "ret" => ret,
            })
        ),
        Kind::PageSample => build!(
            PageSample,
            PageSample::default(),
            |r, k, v| fields!(r, k, v, {
                "fd" => fd, "index" => index, "lock" => lock, "cap_user_rdpmc" => cap_user_rdpmc,
                "offset" => offset, "time_enabled" => time_enabled, "time_running" => time_running,
                "pmc_width" => pmc_width,
            })
        ),
        Kind::Lost => build!(Lost, Lost::default(), |r, k, v| fields!(r, k, v, {
            "count" => count,
        })),
        Kind::Comm => build!(Comm, Comm::default(), |r, k, v| match k {
            "comm" => r.comm = comm(v),
            other => return Err(format!("unknown field {other}")),
        }),
        Kind::Sysctl => build!(
            Sysctl,
            Sysctl {
                perf_user_access: -1,
                rdpmc_mode: -1,
                paranoid: -1,
                ..Default::default()
            },
            |r, k, v| fields!(r, k, v, {
                "perf_user_access" => perf_user_access, "rdpmc_mode" => rdpmc_mode,
                "paranoid" => paranoid,
            })
        ),
        Kind::HookToggle => build!(HookToggle, HookToggle::default(), |r, k, v| match k {
            "hook" => {
                r.hook = match v {
                    "armv8pmu_start" => Hook::Armv8PmuStart as u32,
                    "cr4_update_pce" => Hook::Cr4UpdatePce as u32,
                    "perf_clear_dirty_counters" => Hook::PerfClearDirtyCounters as u32,
                    "task_sched_in" => Hook::TaskSchedIn as u32,
                    "task_sched_out" => Hook::TaskSchedOut as u32,
                    "armpmu_add_wrong_cpu" => Hook::ArmpmuAddWrongCpu as u32,
                    n => num(n)?,
                }
            }
            "access" => r.access = access(v)? as u32,
            _ => fields!(r, k, v, { "value" => value }),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_headers_units_and_fields() {
        let evs = parse(
            "# comment\n\
             1.5ms 2 100 101 trap signo=4 si_code=1 ip=0x400 word=0xd53b9d00\n\
             2s 0 100 100 perf_open attr_type=10 config1=0x2 ret=-2\n\
             7 1 5 5 sched_switch prev_tid=4 access=on next_comm=demo\n",
        )
        .unwrap();
        assert_eq!(evs.len(), 3);
        let Event::Trap(t) = evs[0] else { panic!() };
        assert_eq!(
            (t.h.ts_ns, t.h.cpu, t.h.pid, t.h.tid),
            (1_500_000, 2, 100, 101)
        );
        assert_eq!(
            (t.insn_len, &t.insn[..4]),
            (4, &[0x00, 0x9d, 0x3b, 0xd5][..])
        );
        let Event::PerfOpen(o) = evs[1] else { panic!() };
        assert_eq!((o.h.ts_ns, o.ret, o.cpu_arg), (2_000_000_000, -2, -1));
        let Event::SchedSwitch(s) = evs[2] else {
            panic!()
        };
        assert_eq!((s.access, s.prev_tid), (Access::On as u8, 4));
        // Round trip through the ABI bytes.
        assert_eq!(common::decode(evs[2].bytes()).unwrap(), evs[2]);
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("1 0 1 1 trap\n2 0 1 1 bogus\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(parse("1 0 1 1 trap nope=1").is_err());
        assert!(parse("1 0 1 1 migrate orig_cpu=-1").is_err());
    }
}
