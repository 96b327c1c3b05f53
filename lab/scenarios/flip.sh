# kernel.perf_user_access flipped 1 -> 0 while the demo's events are open: the page still shows
# an index until the next reschedule, but mrs already traps; then reads fall back (index 0).
# The flip is part of the traced command, so it lands at the same point of the demo's run with
# or without `record`, and the tool sees the sysctl write.
doctor --no-attach
user_access 1
traced flip sh -c 'pmuwatch demo --counts /tmp/flip.counts --duration 4 &
  sleep 1.5; echo 0 > /proc/sys/kernel/perf_user_access; wait'
echo "@@sysctl perf_user_access=$(cat /proc/sys/kernel/perf_user_access)"
