# kernel.perf_user_access flipped 1 -> 0 while the demo's events are open: the page still shows
# an index until the next reschedule, but mrs already traps.
doctor --no-attach
user_access 1
traced flip --duration 3 &
sleep 1.5
user_access 0
wait
