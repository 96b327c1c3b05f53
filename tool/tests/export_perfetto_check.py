"""Decodes a pmuwatch Perfetto export with Perfetto's own compiled schema and checks it.

Usage: export_perfetto_check.py TRACE EXPECTED_JSON. Exits non-zero with a message on the
first mismatch. Needs `pip install perfetto protobuf` (`cargo xtask setup` does it).
"""
import json
import sys
from collections import Counter, defaultdict

try:
    from google.protobuf import unknown_fields
    from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import Trace, TrackEvent
except ImportError as e:  # pragma: no cover
    sys.exit(f"perfetto python package missing ({e}); fix: run `cargo xtask setup`")


def fail(msg):
    sys.exit(f"perfetto check: {msg}")


def check_no_unknown_fields(msg, where):
    if len(unknown_fields.UnknownFieldSet(msg)):
        fail(f"unknown fields in {where} ({type(msg).__name__})")
    for field, value in msg.ListFields():
        if field.message_type is None:
            continue
        repeated = getattr(field, "is_repeated", None)
        if repeated is None:  # protobuf < 5.28
            repeated = field.label == field.LABEL_REPEATED
        items = value if repeated else [value]
        for i, m in enumerate(items):
            check_no_unknown_fields(m, f"{where}.{field.name}[{i}]")


def main():
    path, expected = sys.argv[1], json.loads(sys.argv[2])
    data = open(path, "rb").read()
    trace = Trace.FromString(data)
    # Every byte must mean a field of the schema: a wrong field number or wire type would
    # decode as an unknown field and be silently ignored by the UI.
    check_no_unknown_fields(trace, "trace")
    tracks = {}
    names = Counter()
    depth = defaultdict(int)
    last_ts = {}
    flows_begun, flows_ended = set(), set()
    counters = defaultdict(int)
    for i, p in enumerate(trace.packet):
        if p.trusted_packet_sequence_id != 1:
            fail(f"packet {i} has no sequence id")
        if p.HasField("track_descriptor"):
            d = p.track_descriptor
            tracks[d.uuid] = d
            continue
        if not p.HasField("track_event"):
            fail(f"packet {i} is neither a track descriptor nor a track event")
        ev = p.track_event
        if ev.track_uuid not in tracks:
            fail(f"packet {i} uses track {ev.track_uuid:#x} before it is declared")
        ts = p.timestamp
        if not expected["min_ts"] <= ts <= expected["max_ts"] + 2_000_000_000:
            fail(f"packet {i} timestamp {ts} outside the recording")
        if ts < last_ts.get(ev.track_uuid, 0):
            fail(f"packet {i}: time goes backwards on track {tracks[ev.track_uuid]} {ev} {ts} < {last_ts[ev.track_uuid]}")
        last_ts[ev.track_uuid] = ts
        if ev.type == TrackEvent.TYPE_SLICE_BEGIN:
            depth[ev.track_uuid] += 1
        elif ev.type == TrackEvent.TYPE_SLICE_END:
            depth[ev.track_uuid] -= 1
            if depth[ev.track_uuid] < 0:
                fail(f"packet {i}: slice end without a begin")
        elif ev.type == TrackEvent.TYPE_INSTANT:
            names[ev.name.split(" CPU")[0]] += 1
        elif ev.type == TrackEvent.TYPE_COUNTER:
            if not tracks[ev.track_uuid].HasField("counter"):
                fail(f"packet {i}: counter value on a non-counter track")
            counters[tracks[ev.track_uuid].name] += ev.counter_value
        flows_begun.update(ev.flow_ids)
        flows_ended.update(ev.terminating_flow_ids)
    if not flows_ended <= flows_begun:
        fail(f"flows ended that never began: {sorted(flows_ended - flows_begun)[:5]}")
    if expected["flows_min"] > len(flows_ended):
        fail(f"{len(flows_ended)} terminated flows, expected at least {expected['flows_min']}")
    by_name = {d.name: d for d in tracks.values() if d.name}
    for cpu in range(expected["cpus"]):
        for n in (f"CPU {cpu}", f"CPU {cpu} user access"):
            if n not in by_name:
                fail(f"no track {n!r}; have {sorted(by_name)}")
    threads = {d.thread.tid: d.thread for d in tracks.values() if d.HasField("thread")}
    for tid, name in expected["threads"].items():
        t = threads.get(int(tid))
        if t is None or t.thread_name != name or t.pid != expected["pid"]:
            fail(f"thread {tid}: {t}")
    for n, want in expected["instants"].items():
        if names[n] != want:
            fail(f"{names[n]} instants named {n!r}, expected {want}; all: {dict(names)}")
    for n, want in expected["counters"].items():
        if counters[n] != want:
            fail(f"counter {n!r} sums to {counters[n]}, expected {want}")
    print(f"perfetto check: ok: {len(trace.packet)} packets, {len(tracks)} tracks")


main()
