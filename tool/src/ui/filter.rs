//! The `/` filter: space-separated terms, all of which must match.
//!
//! - `cpu=N`, `pid=N`, `tid=N`: exact field match;
//! - a bare number: pid or tid;
//! - a word: part of the task name (tasks) or of the event kind (timeline), any case;
//! - `!term`: the term must not match (`!sched` hides context switches).
//!
//! Parsed once when typed; matching does no formatting or allocation, so filtering the whole
//! timeline every frame stays cheap.

use common::Event;

use super::model::TaskRow;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Term {
    Cpu(u32),
    Pid(u32),
    Tid(u32),
    Id(u32),
    Word(String),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// What the user typed.
    pub text: String,
    terms: Vec<(bool, Term)>,
}

fn parse_term(t: &str) -> Term {
    let num = |s: &str| s.parse::<u32>().ok();
    if let Some((k, v)) = t.split_once('=')
        && let Some(n) = num(v)
    {
        match k {
            "cpu" => return Term::Cpu(n),
            "pid" => return Term::Pid(n),
            "tid" => return Term::Tid(n),
            _ => {}
        }
    }
    match num(t) {
        Some(n) => Term::Id(n),
        None => Term::Word(t.to_ascii_lowercase()),
    }
}

fn contains_ci(hay: &str, needle_lower: &str) -> bool {
    if needle_lower.is_empty() {
        return true;
    }
    hay.as_bytes()
        .windows(needle_lower.len())
        .any(|w| w.eq_ignore_ascii_case(needle_lower.as_bytes()))
}

/// Name bytes up to the first NUL.
pub fn comm_str(c: &[u8; 16]) -> &str {
    let n = c.iter().position(|&b| b == 0).unwrap_or(c.len());
    std::str::from_utf8(&c[..n]).unwrap_or("?")
}

impl Filter {
    pub fn new(text: &str) -> Filter {
        let terms = text
            .split_whitespace()
            .filter_map(|t| match t.strip_prefix('!') {
                Some("") => None,
                Some(rest) => Some((true, parse_term(rest))),
                None => Some((false, parse_term(t))),
            })
            .collect();
        Filter {
            text: text.to_string(),
            terms,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    fn all(&self, one: impl Fn(&Term) -> bool) -> bool {
        self.terms.iter().all(|(neg, t)| one(t) != *neg)
    }

    pub fn matches_task(&self, t: &TaskRow) -> bool {
        self.all(|term| match term {
            Term::Cpu(c) => t.cpu == Some(*c),
            Term::Pid(p) => t.pid == *p,
            Term::Tid(p) => t.tid == *p,
            Term::Id(n) => t.pid == *n || t.tid == *n,
            Term::Word(w) => contains_ci(&t.comm, w),
        })
    }

    pub fn matches_event(&self, e: &Event) -> bool {
        let h = e.header();
        self.all(|term| match term {
            Term::Cpu(c) => h.cpu == *c,
            Term::Pid(p) => h.pid == *p,
            Term::Tid(p) => h.tid == *p,
            Term::Id(n) => h.pid == *n || h.tid == *n,
            Term::Word(w) => {
                contains_ci(e.kind().name(), w)
                    || match e {
                        Event::SchedSwitch(s) => contains_ci(comm_str(&s.next_comm), w),
                        Event::Comm(c) => contains_ci(comm_str(&c.comm), w),
                        Event::Exec(x) => contains_ci(comm_str(&x.comm), w),
                        _ => false,
                    }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use common::{Migrate, SchedSwitch, decode::event, header_for};

    use super::*;

    #[test]
    fn terms_combine_and_negate() {
        let t = TaskRow {
            pid: 10,
            tid: 11,
            comm: "Demo-reader".into(),
            cpu: Some(2),
            ..Default::default()
        };
        assert!(Filter::new("").matches_task(&t));
        assert!(Filter::new("demo").matches_task(&t));
        assert!(Filter::new("11 cpu=2").matches_task(&t));
        assert!(!Filter::new("11 cpu=3").matches_task(&t));
        assert!(!Filter::new("!reader").matches_task(&t));
        assert!(Filter::new("pid=10 !tid=10").matches_task(&t));
        assert!(Filter::new("! ").is_empty());
    }

    #[test]
    fn events_match_on_kind_fields_and_names() {
        let mut s = SchedSwitch {
            h: header_for::<SchedSwitch>(1, 0, 7, 8),
            ..Default::default()
        };
        s.next_comm[..4].copy_from_slice(b"demo");
        let s = event(s);
        let m = event(Migrate {
            h: header_for::<Migrate>(0, 0, 7, 9),
            ..Default::default()
        });
        assert!(Filter::new("sched").matches_event(&s));
        assert!(Filter::new("DEMO").matches_event(&s));
        assert!(!Filter::new("!sched").matches_event(&s));
        assert!(Filter::new("!sched").matches_event(&m));
        assert!(Filter::new("9").matches_event(&m));
        assert!(Filter::new("cpu=1").matches_event(&s));
        assert!(!Filter::new("cpu=1").matches_event(&m));
    }
}
