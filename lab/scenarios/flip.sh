# kernel.perf_user_access flipped 1 -> 0 while the demo's events are open: the page still shows
# an index until the next reschedule, but mrs already traps; then reads fall back (index 0).
# The flip is part of the traced command (/bin/flip-workload.sh), so the tool sees the write.
doctor --no-attach
user_access 1
traced flip flip-workload.sh
echo "@@sysctl perf_user_access=$(cat /proc/sys/kernel/perf_user_access)"
