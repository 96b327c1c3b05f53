//! The person-readable doctor report.

use std::io::{self, Write};

use super::Report;
use crate::sys::{CpusFrom, UserRead, attach::Status, format_cpu_list};

pub fn write(out: &mut impl Write, r: &Report) -> io::Result<()> {
    let f = &r.facts;
    writeln!(out, "kernel      {} ({})", f.kernel, f.arch)?;
    // CPUs grouped by (type, PMU), as consecutive runs.
    let mut groups: Vec<(Option<&str>, Option<&str>, Vec<u32>)> = Vec::new();
    for c in f.cpus.iter().filter(|c| c.online) {
        let key = (c.kind.as_deref(), c.pmu.as_deref());
        match groups.last_mut() {
            Some(g) if (g.0, g.1) == key => g.2.push(c.id),
            _ => groups.push((key.0, key.1, vec![c.id])),
        }
    }
    for (i, (kind, pmu, ids)) in groups.iter().enumerate() {
        writeln!(
            out,
            "{:<12}{:<8}{} -> {}",
            if i == 0 { "cpus" } else { "" },
            format_cpu_list(ids),
            kind.unwrap_or("unknown type"),
            pmu.map_or("no core PMU".to_string(), |p| format!("PMU {p}")),
        )?;
    }
    let offline: Vec<u32> = f.cpus.iter().filter(|c| !c.online).map(|c| c.id).collect();
    if !offline.is_empty() {
        writeln!(out, "{:<12}{} offline", "", format_cpu_list(&offline))?;
    }
    writeln!(
        out,
        "pmus        {:>4}  {:<28}{:<14}user read",
        "type", "name", "cpus"
    )?;
    for p in &f.pmus {
        let cpus = match p.cpus_from {
            CpusFrom::None => "-".to_string(),
            CpusFrom::Cpumask => format!("mask {}", format_cpu_list(&p.cpus)),
            _ => format_cpu_list(&p.cpus),
        };
        let user = match &p.user_read {
            Some(UserRead::FormatRdpmc { field }) => format!("rdpmc = {field}"),
            Some(UserRead::RdpmcFile { value }) => format!("rdpmc file = {value}"),
            None if p.core => "no".to_string(),
            None => "-".to_string(),
        };
        let name = if p.core {
            format!("{} (core)", p.name)
        } else {
            p.name.clone()
        };
        writeln!(
            out,
            "            {:>4}  {name:<28}{cpus:<14}{user}",
            p.type_id
        )?;
    }
    let opt = |v: Option<String>| v.unwrap_or_else(|| "absent".to_string());
    writeln!(
        out,
        "sysctl      kernel.perf_user_access={}  kernel.perf_event_paranoid={}",
        opt(f.perf_user_access.map(|v| v.to_string())),
        opt(f.perf_event_paranoid.map(|v| v.to_string()))
    )?;
    let yes = |b: bool| if b { "yes" } else { "no" };
    writeln!(
        out,
        "btf         {}   kprobes {}   uprobes {}",
        yes(f.btf),
        yes(f.kprobes),
        yes(f.uprobes)
    )?;
    writeln!(
        out,
        "tracefs     {}   bpffs {}",
        opt(f.tracefs.clone()).replace("absent", "not mounted"),
        opt(f.bpffs.clone()).replace("absent", "not mounted")
    )?;
    writeln!(out, "attach")?;
    for a in &f.attach {
        let status = match a.status {
            Status::Works => "works",
            Status::Refused => "refused",
            Status::NotChecked => "not checked",
        };
        let why = match (&a.status, &a.reason) {
            (Status::Works, _) => a.target.clone(),
            (_, Some(r)) => r.clone(),
            _ => String::new(),
        };
        writeln!(out, "  {:<12}{status:<13}{why}", a.method.as_str())?;
    }
    for n in &r.notes {
        writeln!(out, "note: {n}")?;
    }
    for n in &r.not_checked {
        writeln!(out, "not checked: {n}")?;
    }
    writeln!(out, "verdict")?;
    for v in &r.verdicts {
        writeln!(out, "  [{:<4}] {}", v.level.as_str(), v.text)?;
    }
    Ok(())
}
