#!/bin/sh
# flip-workload.sh: the demo with kernel.perf_user_access flipped 1 -> 0 a second after its
# events are open (the `flip` scenario traces this whole script).
pmuwatch demo --counts /tmp/flip.counts --duration 4 &
demo=$!
# Wait (up to 60 s) until the demo holds perf events: its fds show as anon_inode:[perf_event].
i=0
while [ "$(ls -l /proc/$demo/fd 2>/dev/null | grep -c perf_event)" -lt 1 ] && [ $i -lt 600 ]; do
  i=$((i + 1))
  sleep 0.1
done
sleep 1
echo 0 > /proc/sys/kernel/perf_user_access
wait $demo
