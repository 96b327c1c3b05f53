#!/bin/sh
# mrs-all.sh LABEL: on each CPU, a fresh process that opened no event reads PMCCNTR_EL0
# (mrs-cycles); prints `@@mrs LABEL cpu=N trap` (SIGILL) or `@@mrs LABEL cpu=N value=V`.
for c in $(seq 0 $(($(grep -c ^processor /proc/cpuinfo) - 1))); do
  v=$(taskset -c "$c" mrs-cycles 2>/dev/null)
  rc=$?
  if [ $rc -eq 132 ]; then
    echo "@@mrs $1 cpu=$c trap"
  else
    echo "@@mrs $1 cpu=$c value=$v rc=$rc"
  fi
done
