# Helpers for the scenario scripts (sourced by /init). Every line meant for xtask starts with
# `@@`; JSON goes on one line so kernel messages cannot split it.

# step NAME CMD ARGS...: runs CMD, keeping stdout in /tmp/NAME.out; prints its exit status,
# the `@@` lines of its stdout and the last lines of its stderr.
step() {
  _name=$1; shift
  echo "@@run $_name $(uptime_s) $*"
  "$@" >"/tmp/$_name.out" 2>"/tmp/$_name.err"
  _rc=$?
  echo "@@rc $_name $_rc $(uptime_s)"
  grep '^@@' "/tmp/$_name.out"
  tail -n 20 "/tmp/$_name.err" | sed "s/^/@@stderr $_name /"
  return $_rc
}

# json NAME FILE: prints FILE (JSON) as one `@@json NAME ...` line, or `@@json NAME -`.
json() {
  if [ -s "$2" ]; then
    echo "@@json $1 $(tr -d '\n' < "$2")"
  else
    echo "@@json $1 -"
  fi
}

# user_access 0|1: sets kernel.perf_user_access and says so.
user_access() {
  echo "$1" > /proc/sys/kernel/perf_user_access
  echo "@@sysctl perf_user_access=$(cat /proc/sys/kernel/perf_user_access)"
}

uptime_s() { cut -d' ' -f1 /proc/uptime; }

# The facts every scenario checks first: doctor's view of this machine. Extra arguments go to
# doctor (`--no-attach` skips its canary programs, which take seconds under TCG).
doctor() {
  step doctor pmuwatch doctor --json "$@"
  json doctor /tmp/doctor.out
}

# traced NAME CMD ARGS...: CMD (which runs the demo with `--counts /tmp/NAME.counts`) under
# `pmuwatch record`, then `pmuwatch report --json` and `pmuwatch export --format jsonl`. Where `record` is not built yet, CMD runs
# alone so the demo's own checks still run.
traced() {
  _n=$1; shift
  rm -f "/tmp/$_n.counts"
  # --hold-exec: readers a script starts (flip, leftopen) are probed before their first read.
  if ! step "$_n.record" pmuwatch record --hold-exec -o "/tmp/$_n.pmw" -- "$@" \
      && grep -q "not built yet" "/tmp/$_n.record.err"; then
    step "$_n.demo" "$@"
  fi
  json "$_n.counts" "/tmp/$_n.counts"
  [ -e "/tmp/$_n.pmw" ] || return 0
  step "$_n.report" pmuwatch report --json "/tmp/$_n.pmw"
  json "$_n.report" "/tmp/$_n.report.out"
  # Every trap record's instruction bytes, counted: `@@insn NAME COUNT "insn":"HEX"`.
  step "$_n.export" pmuwatch export --format jsonl -o "/tmp/$_n.jsonl" "/tmp/$_n.pmw"
  # `cargo xtask lab --keep-traces`: the trace itself, base64, saved by xtask next to the console.
  if [ -n "$LAB_KEEP" ]; then
    base64 "/tmp/$_n.pmw" | sed "s/^/@@b64 $_n /"
  fi
  grep '"kind":"trap"' "/tmp/$_n.jsonl" | grep -o '"insn":"[0-9a-f]*"' | sort | uniq -c \
    | while read -r _cnt _insn; do echo "@@insn $_n $_cnt $_insn"; done
}
