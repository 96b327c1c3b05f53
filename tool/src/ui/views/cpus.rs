//! CPUs: one lane per CPU, grouped by the core PMU that counts there (big.LITTLE and hybrid
//! machines show one group per CPU type): running task, user access, toggles/s, traps and
//! aborted reads.

use ratatui::{buffer::Buffer, layout::Rect, style::Style};

use super::{Theme, compact, put, sparkline, style_row};
use crate::ui::{app::App, model::CpuRow};
use common::Access;

/// A line of the view: a group heading or a CPU (index into the snapshot's CPUs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Line {
    Group(usize),
    Cpu(usize),
}

/// CPUs in lanes: grouped by PMU in order of first appearance, CPU order within a group.
fn lines(cpus: &[CpuRow]) -> Vec<Line> {
    let mut groups: Vec<Option<&str>> = Vec::new();
    for c in cpus {
        if !groups.contains(&c.pmu.as_deref()) {
            groups.push(c.pmu.as_deref());
        }
    }
    let mut out = Vec::with_capacity(cpus.len() + groups.len());
    for g in groups {
        let mut members: Vec<usize> = (0..cpus.len())
            .filter(|&i| cpus[i].pmu.as_deref() == g)
            .collect();
        members.sort_by_key(|&i| cpus[i].cpu);
        out.push(Line::Group(members[0]));
        out.extend(members.into_iter().map(Line::Cpu));
    }
    out
}

fn group_title(cpus: &[CpuRow], first: usize) -> String {
    let c = &cpus[first];
    let ids: Vec<u32> = cpus
        .iter()
        .filter(|o| o.pmu == c.pmu)
        .map(|o| o.cpu)
        .collect();
    let list = crate::sys::format_cpu_list(&ids);
    let kind = c
        .kind
        .as_deref()
        .map(|k| format!(" ({k})"))
        .unwrap_or_default();
    match &c.pmu {
        Some(p) => format!("PMU {p}{kind}: CPUs {list}"),
        None => format!("no hardware PMU{kind}: CPUs {list}"),
    }
}

pub fn render(app: &App, area: Rect, buf: &mut Buffer, t: Theme) {
    let cpus = &app.shown.snap.cpus;
    put(
        buf,
        area,
        1,
        0,
        "CPU    ACCESS  RUNNING               TOGGLES/S                   TRAPS ABORTS",
        t.title(),
    );
    if cpus.is_empty() {
        put(
            buf,
            area,
            1,
            2,
            "no CPU activity yet (waiting for events)",
            t.dim(),
        );
        return;
    }
    let lines = lines(cpus);
    let rows = area.height.saturating_sub(1) as usize;
    // The selection counts lanes in display order; scroll so it is visible.
    let selected = app.cpus.selected.min(cpus.len() - 1);
    let sel_line = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| matches!(l, Line::Cpu(_)))
        .nth(selected)
        .map_or(0, |(n, _)| n);
    let offset = sel_line.saturating_sub(rows.saturating_sub(1));
    // Fixed columns: 1 + cpu 7 + access 8 + running 22 + spark + rate 7 + traps 6 + aborts 7.
    let spark_w = (area.width as usize).saturating_sub(1 + 7 + 8 + 22 + 7 + 6 + 7 + 2);
    let mut s = String::new();
    for (n, line) in lines.iter().enumerate().skip(offset).take(rows) {
        let y = (n - offset) as u16 + 1;
        match *line {
            Line::Group(first) => {
                put(buf, area, 1, y, &group_title(cpus, first), t.title());
            }
            Line::Cpu(i) => {
                let c = &cpus[i];
                s.clear();
                let mut x = put(buf, area, 1, y, &format!("cpu{:<4}", c.cpu), Style::new());
                let (word, style) = match c.access {
                    Access::On => ("ON", t.on()),
                    Access::Off => ("off", Style::new()),
                    Access::Unknown => ("?", t.dim()),
                };
                let nx = put(buf, area, x, y, word, style);
                if !c.exact && c.access != Access::Unknown {
                    put(buf, area, nx, y, "~", t.dim());
                }
                x += 8;
                let running = match &c.running {
                    Some(r) => format!("{:>7} {:<14.14}", r.tid, r.comm),
                    None => format!("{:>7} {:<14}", "-", "idle"),
                };
                x = put(buf, area, x, y, &running, Style::new()) + 1;
                let hist = c.toggle_history.iter().copied();
                x = put(buf, area, x, y, &sparkline(hist, spark_w), Style::new());
                x = put(
                    buf,
                    area,
                    x,
                    y,
                    &format!("{:>7}", compact(c.toggles_per_s)),
                    Style::new(),
                );
                let ts = if c.traps > 0 { t.bad() } else { Style::new() };
                x = put(buf, area, x, y, &format!("{:>6}", compact(c.traps)), ts);
                let a = if c.aborts > 0 { t.warn() } else { Style::new() };
                put(buf, area, x, y, &format!("{:>7}", compact(c.aborts)), a);
                if n == sel_line {
                    put(buf, area, 0, y, ">", t.selected());
                    style_row(buf, area, y, t.selected());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(id: u32, pmu: Option<&str>) -> CpuRow {
        CpuRow {
            cpu: id,
            pmu: pmu.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn lanes_group_by_pmu_in_first_seen_order() {
        let cpus = vec![
            cpu(2, Some("a72")),
            cpu(0, Some("a53")),
            cpu(3, Some("a72")),
            cpu(1, Some("a53")),
            cpu(4, None),
        ];
        use Line::*;
        assert_eq!(
            lines(&cpus),
            vec![
                Group(0),
                Cpu(0),
                Cpu(2),
                Group(1),
                Cpu(1),
                Cpu(3),
                Group(4),
                Cpu(4)
            ]
        );
        assert_eq!(group_title(&cpus, 0), "PMU a72: CPUs 2-3");
        assert_eq!(group_title(&cpus, 4), "no hardware PMU: CPUs 4");
    }
}
