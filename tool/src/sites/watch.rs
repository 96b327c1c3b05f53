//! Keeps uprobes on every read site of the targets: scans files as targets start, exec and
//! map libraries; attaches `read_site` at each site and `reader_return` on known reader
//! functions. Files are scanned once; the probes cover every process mapping them (the kernel
//! programs filter on the target set).

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
};

use aya::{
    Ebpf,
    programs::{
        UProbe,
        uprobe::{UProbeAttachLocation, UProbeAttachPoint, UProbeScope},
    },
};
use common::Event;

use super::{KNOWN_READERS, ReaderFn, Site, lines::Lines, procmaps, scan, symbols::Symbols};
use crate::probe::coverage::{Coverage, Method, Status};

/// Cookie bits the `read_site` program decodes (probe-ebpf/src/reads.rs).
fn cookie(site: &Site) -> u64 {
    let counter = site.counter.map_or(0xff, |c| u64::from(c.min(0xfe)));
    u64::from(site.id) | (u64::from(site.reg & 0xff) << 32) | (counter << 40)
}

/// Read-site uprobes for the targets of one session.
#[derive(Default)]
pub struct ReadWatch {
    sites: Vec<Site>,
    readers: Vec<ReaderFn>,
    scanned: HashSet<PathBuf>,
    /// Thread groups whose current image's mappings have been scanned.
    scanned_pids: HashSet<u32>,
    loaded: bool,
    /// Attach or scan failures, one line each (shown in coverage).
    pub errors: Vec<String>,
}

impl ReadWatch {
    pub fn sites(&self) -> &[Site] {
        &self.sites
    }

    pub fn readers(&self) -> &[ReaderFn] {
        &self.readers
    }

    /// Loads the uprobe programs now, while every map they use is still open: the live
    /// source gives some maps away (the target set is dropped once the target runs), and a
    /// program loaded after that fails ("fd is not pointing to valid bpf_map"), so read sites
    /// found later (a reader started by a shell) would never be probed.
    pub fn load(&mut self, ebpf: &mut Ebpf) {
        for name in ["read_site", "reader_return"] {
            if let Err(e) = self.program(ebpf, name) {
                self.errors.push(format!("{name}: {e:#}"));
            }
        }
    }

    /// Scans and probes the files a running process maps.
    pub fn add_pid(&mut self, ebpf: &mut Ebpf, pid: u32) {
        if !self.scanned_pids.insert(pid) {
            return;
        }
        for f in procmaps::of_pid(pid).unwrap_or_default() {
            self.add_file(ebpf, &f);
        }
    }

    /// Scans again the mappings of the processes that made perf syscalls: a reader library
    /// mapped after that (dlopen) gets its read sites probed within one rescan period, and
    /// only its reads before that are missed. Processes that are gone are forgotten.
    pub fn rescan(&mut self, ebpf: &mut Ebpf) {
        let pids: Vec<u32> = self.scanned_pids.iter().copied().collect();
        for pid in pids {
            match procmaps::of_pid(pid) {
                Some(files) => {
                    for f in files {
                        self.add_file(ebpf, &f);
                    }
                }
                None => {
                    self.scanned_pids.remove(&pid);
                }
            }
        }
    }

    /// Follows a batch of records: an exec gives a process a new image, scanned right away
    /// (a reader that never makes a perf syscall, e.g. one reading a counter left open, is
    /// probed too; a short-lived one may be gone or done before the probes are in: attaching
    /// is asynchronous); the first perf syscall after it scans again for the reader libraries
    /// mapped since (files already scanned cost nothing).
    pub fn observe(&mut self, ebpf: &mut Ebpf, events: &[Event]) {
        for e in events {
            match e {
                Event::Exec(x) => {
                    self.scanned_pids.remove(&x.h.pid);
                    for f in procmaps::of_pid(x.h.pid).unwrap_or_default() {
                        self.add_file(ebpf, &f);
                    }
                }
                Event::PerfOpen(o) if !self.scanned_pids.contains(&o.h.pid) => {
                    self.add_pid(ebpf, o.h.pid)
                }
                Event::PerfMmap(m) if !self.scanned_pids.contains(&m.h.pid) => {
                    self.add_pid(ebpf, m.h.pid)
                }
                _ => {}
            }
        }
    }

    /// Scans one file and attaches probes at its read sites; returns how many sites it added.
    pub fn add_file(&mut self, ebpf: &mut Ebpf, path: &Path) -> usize {
        // One file by one name: a command given as `./prog` and the same file seen in
        // /proc/PID/maps must not get two uprobes per site (each read would be seen twice,
        // and the first one settled as executed without a trap).
        // The rescan offers the same names every period: those seen cost no realpath.
        if self.scanned.contains(path) {
            return 0;
        }
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        self.scanned.insert(path.to_path_buf());
        if canonical != path && !self.scanned.insert(canonical.clone()) {
            return 0;
        }
        let path = canonical.as_path();
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) => {
                self.errors.push(format!("{}: {e}", path.display()));
                return 0;
            }
        };
        let found = match scan::scan(&data) {
            Ok(f) => f,
            Err(e) => {
                self.errors.push(format!("{}: {e}", path.display()));
                return 0;
            }
        };
        let Ok(file) = object::File::parse(&*data) else {
            return 0;
        };
        let syms = Symbols::read(&file);
        // DWARF is parsed only for files that have sites.
        let lines = if found.is_empty() {
            None
        } else {
            Lines::load(path, &file)
        };
        let first = self.sites.len();
        for f in found {
            let site = Site {
                id: self.sites.len() as u32,
                file: path.to_path_buf(),
                file_offset: f.file_offset,
                vaddr: f.vaddr,
                insn: scan::describe(&f.access),
                reg: f.access.reg as u32,
                counter: f.access.counter,
                symbol: syms.lookup(f.vaddr),
                line: lines.as_ref().and_then(|l| l.lookup(f.vaddr)),
            };
            if let Err(e) = self.attach_site(ebpf, &site) {
                self.errors
                    .push(format!("{} {:#x}: {e:#}", path.display(), site.file_offset));
            }
            self.sites.push(site);
        }
        for name in KNOWN_READERS {
            if syms.find(name).is_some() {
                let r = ReaderFn {
                    id: self.readers.len() as u32,
                    file: path.to_path_buf(),
                    symbol: (*name).to_string(),
                };
                if let Err(e) = self.attach_reader(ebpf, &r) {
                    self.errors
                        .push(format!("{} {}: {e:#}", path.display(), r.symbol));
                }
                self.readers.push(r);
            }
        }
        self.sites.len() - first
    }

    fn program<'a>(&mut self, ebpf: &'a mut Ebpf, name: &str) -> anyhow::Result<&'a mut UProbe> {
        let p: &mut UProbe = ebpf
            .program_mut(name)
            .ok_or_else(|| anyhow::anyhow!("BPF object has no {name} program"))?
            .try_into()?;
        if p.fd().is_err() {
            p.load()?;
        }
        self.loaded = true;
        Ok(p)
    }

    fn attach_site(&mut self, ebpf: &mut Ebpf, site: &Site) -> anyhow::Result<()> {
        let prog = self.program(ebpf, "read_site")?;
        prog.attach(
            UProbeAttachPoint {
                location: UProbeAttachLocation::AbsoluteOffset(site.file_offset),
                cookie: Some(cookie(site)),
            },
            &site.file,
            UProbeScope::AllProcesses,
        )?;
        Ok(())
    }

    fn attach_reader(&mut self, ebpf: &mut Ebpf, r: &ReaderFn) -> anyhow::Result<()> {
        let prog = self.program(ebpf, "reader_return")?;
        prog.attach(
            UProbeAttachPoint {
                location: UProbeAttachLocation::Symbol(&r.symbol),
                cookie: Some(u64::from(r.id)),
            },
            &r.file,
            UProbeScope::AllProcesses,
        )?;
        Ok(())
    }

    /// Coverage lines for the direct-read signal, as of now.
    pub fn report(&self, cov: &mut Coverage) {
        let files: HashSet<&PathBuf> = self.sites.iter().map(|s| &s.file).collect();
        cov.attachments
            .retain(|a| a.signal != "direct reads" && a.signal != "reader functions");
        let hook = format!("{} read sites in {} files", self.sites.len(), files.len());
        let status = if !self.errors.is_empty() && self.sites.is_empty() {
            Status::Refused(self.errors[0].clone())
        } else if self.sites.is_empty() {
            Status::Unavailable("no counter read instruction in the targets' mappings yet".into())
        } else {
            Status::Active
        };
        cov.push("direct reads", &hook, Method::Uprobe, status);
        if !self.readers.is_empty() {
            let names: Vec<&str> = self.readers.iter().map(|r| r.symbol.as_str()).collect();
            cov.push(
                "reader functions",
                &names.join(", "),
                Method::Uretprobe,
                Status::Active,
            );
        }
    }
}

/// The executable `command[0]` names: as given when it has a slash, else searched in PATH.
pub fn resolve_command(cmd: &str) -> Option<PathBuf> {
    if cmd.contains('/') {
        return Some(PathBuf::from(cmd));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(cmd))
            .find(|p| p.is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_packs_site_register_and_counter() {
        let mut s = Site {
            id: 7,
            file: "/x".into(),
            file_offset: 0,
            vaddr: 0,
            insn: String::new(),
            reg: common::event::ReadReg::Pmevcntr as u32,
            counter: Some(3),
            symbol: None,
            line: None,
        };
        assert_eq!(cookie(&s), 7 | (3 << 32) | (3 << 40));
        s.counter = None;
        assert_eq!(cookie(&s) >> 40, 0xff);
    }

    #[test]
    fn resolves_commands_through_path() {
        assert_eq!(resolve_command("./a"), Some(PathBuf::from("./a")));
        assert!(resolve_command("sh").is_some_and(|p| p.ends_with("sh")));
        assert_eq!(resolve_command("no-such-command-pmuwatch"), None);
    }
}
