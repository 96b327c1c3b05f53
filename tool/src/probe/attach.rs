//! Attach one signal's program from a list of methods, best first; every attempt lands in
//! [`Coverage`], so the user sees which source is in use and why a better one was refused.

use aya::{
    Btf, Ebpf,
    programs::{BtfTracePoint, FEntry, FExit, KProbe, RawTracePoint, TracePoint},
};

use super::coverage::{Coverage, Method, Status};

/// One way to get a signal: the program's name in the object and where it goes.
#[derive(Clone, Copy, Debug)]
pub enum Try<'a> {
    TpBtf {
        prog: &'a str,
        tp: &'a str,
    },
    RawTp {
        prog: &'a str,
        tp: &'a str,
    },
    Tracepoint {
        prog: &'a str,
        category: &'a str,
        name: &'a str,
    },
    Fentry {
        prog: &'a str,
        func: &'a str,
    },
    Fexit {
        prog: &'a str,
        func: &'a str,
    },
    Kprobe {
        prog: &'a str,
        func: &'a str,
    },
    Kretprobe {
        prog: &'a str,
        func: &'a str,
    },
}

impl Try<'_> {
    fn method(&self) -> Method {
        match self {
            Try::TpBtf { .. } => Method::TpBtf,
            Try::RawTp { .. } => Method::RawTp,
            Try::Tracepoint { .. } => Method::Tracepoint,
            Try::Fentry { .. } => Method::Fentry,
            Try::Fexit { .. } => Method::Fexit,
            Try::Kprobe { .. } => Method::Kprobe,
            Try::Kretprobe { .. } => Method::Kretprobe,
        }
    }

    fn hook(&self) -> String {
        match self {
            Try::TpBtf { tp, .. } | Try::RawTp { tp, .. } => (*tp).to_string(),
            Try::Tracepoint { category, name, .. } => format!("{category}/{name}"),
            Try::Fentry { func, .. }
            | Try::Fexit { func, .. }
            | Try::Kprobe { func, .. }
            | Try::Kretprobe { func, .. } => (*func).to_string(),
        }
    }

    fn prog(&self) -> &str {
        match self {
            Try::TpBtf { prog, .. }
            | Try::RawTp { prog, .. }
            | Try::Tracepoint { prog, .. }
            | Try::Fentry { prog, .. }
            | Try::Fexit { prog, .. }
            | Try::Kprobe { prog, .. }
            | Try::Kretprobe { prog, .. } => prog,
        }
    }
}

/// What the kernel offers beyond what loading shows: BTF (tp_btf, fentry) and kprobes.
pub struct Kernel<'a> {
    pub btf: Option<&'a Btf>,
    pub kprobes: bool,
    /// Methods not to try (to exercise the fallbacks, or to avoid a method known to misbehave).
    pub skip: &'a [Method],
}

/// Tries each way in turn until one attaches; records every attempt. Returns the method in
/// use, or `None` when all were refused.
pub fn first_of(
    ebpf: &mut Ebpf,
    k: &Kernel<'_>,
    cov: &mut Coverage,
    signal: &str,
    tries: &[Try<'_>],
) -> Option<Method> {
    for t in tries {
        let status = match attach_one(ebpf, k, t) {
            Ok(()) => Status::Active,
            Err(s) => s,
        };
        let active = status == Status::Active;
        cov.push(signal, &t.hook(), t.method(), status);
        if active {
            return Some(t.method());
        }
    }
    None
}

fn attach_one(ebpf: &mut Ebpf, k: &Kernel<'_>, t: &Try<'_>) -> Result<(), Status> {
    if k.skip.contains(&t.method()) {
        return Err(Status::Unavailable("skipped on request".into()));
    }
    let btf = || {
        k.btf
            .ok_or_else(|| Status::Unavailable("no kernel BTF".into()))
    };
    if matches!(t, Try::Kprobe { .. } | Try::Kretprobe { .. }) && !k.kprobes {
        return Err(Status::Unavailable("kprobes not built in".into()));
    }
    let prog = ebpf
        .program_mut(t.prog())
        .ok_or_else(|| Status::Unavailable(format!("program {} not in the object", t.prog())))?;
    let refused =
        |stage: &str, e: &(dyn std::error::Error + 'static)| Status::Refused(short(stage, e));
    macro_rules! go {
        ($ty:ty, |$p:ident| $load:expr, $attach:expr) => {{
            let $p: &mut $ty = prog.try_into().map_err(|e| refused("type", &e))?;
            $load.map_err(|e| refused("load", &e))?;
            $attach.map_err(|e| refused("attach", &e))?;
            Ok(())
        }};
    }
    match *t {
        Try::TpBtf { tp, .. } => {
            let btf = btf()?;
            go!(BtfTracePoint, |p| p.load(tp, btf), p.attach())
        }
        Try::RawTp { tp, .. } => go!(RawTracePoint, |p| p.load(), p.attach(tp)),
        Try::Tracepoint { category, name, .. } => {
            go!(TracePoint, |p| p.load(), p.attach(category, name))
        }
        Try::Fentry { func, .. } => {
            let btf = btf()?;
            go!(FEntry, |p| p.load(func, btf), p.attach())
        }
        Try::Fexit { func, .. } => {
            let btf = btf()?;
            go!(FExit, |p| p.load(func, btf), p.attach())
        }
        Try::Kprobe { func, .. } | Try::Kretprobe { func, .. } => {
            go!(KProbe, |p| p.load(), p.attach(func, 0))
        }
    }
}

/// "load: EPERM (Operation not permitted)": the error on one short line, naming the errno
/// where there is one (the verifier log is kept out; it can be thousands of lines).
pub fn short(stage: &str, e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && let Some(n) = io.raw_os_error()
        {
            // 524 is kernel-internal (ENOTSUPP): libc has no text for it.
            let text = if n == 524 {
                "not supported by this kernel".to_string()
            } else {
                let t = std::io::Error::from_raw_os_error(n).to_string();
                t.split(" (os error").next().unwrap_or("").to_string()
            };
            return format!("{stage}: {} ({text})", errno_name(n));
        }
        cur = err.source();
    }
    let top = e.to_string();
    let top = top.split(". Verifier output").next().unwrap_or("");
    let mut text = format!("{stage}: {}", top.lines().next().unwrap_or("").trim());
    if text.len() > 200 {
        let mut cut = 200;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// Symbolic name of the errnos the kernel gives for refused programs.
pub fn errno_name(n: i32) -> String {
    match n {
        libc::EPERM => "EPERM".into(),
        libc::ENOENT => "ENOENT".into(),
        libc::ESRCH => "ESRCH".into(),
        libc::EACCES => "EACCES".into(),
        libc::EBUSY => "EBUSY".into(),
        libc::EINVAL => "EINVAL".into(),
        libc::E2BIG => "E2BIG".into(),
        libc::ENOSPC => "ENOSPC".into(),
        libc::EOPNOTSUPP => "EOPNOTSUPP".into(),
        // The kernel-internal ENOTSUPP, e.g. fentry on arm64 6.1.
        524 => "ENOTSUPP".into(),
        n => format!("errno {n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_one_short_line_with_the_errno() {
        let e = std::io::Error::from_raw_os_error(libc::EPERM);
        assert_eq!(short("load", &e), "load: EPERM (Operation not permitted)");
        let e = std::io::Error::from_raw_os_error(524);
        assert_eq!(
            short("attach", &e),
            "attach: ENOTSUPP (not supported by this kernel)"
        );
        let e = anyhow::anyhow!("line one. Verifier output: lots\nmore");
        let e: &(dyn std::error::Error + 'static) = e.as_ref();
        assert_eq!(short("attach", e), "attach: line one");
    }
}
