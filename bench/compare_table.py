#!/usr/bin/env python3
"""Prints the Almanac-vs-etcd table from bench/compare.sh's results (JSON lines).

usage: compare_table.py RESULTS.jsonl
Markdown: a floor table per delay, the side-by-side table with Almanac/etcd ratios, and the
targets of issue 5 (single client at the largest delay: p50 <= 1.2x floor; 16 and 64 clients:
throughput >= 2x etcd with a p99 no worse), each marked MET or NOT MET.
"""
import json
import sys


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def ratio(a, b):
    return a / b if b else float("nan")


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    rows = load(sys.argv[1])
    floors = [r for r in rows if r["kind"] == "floor"]
    runs = [r for r in rows if r["kind"] == "run"]
    machine = next((r for r in rows if r["kind"] == "machine"), {})
    end = next((r for r in rows if r["kind"] == "end"), {})
    if machine:
        print(f"machine: {machine['cores']} cores, kernel {machine['kernel']}, zones via {machine['zones']}, "
              f"data on {machine['disk']}, load average {machine['loadavg']} at start"
              + (f", {end['loadavg']} at end; {end['seconds']} s" if end else "") + f" ({machine['date']})")
        if "almanac_shards" in machine:
            print(f"Almanac: {machine['almanac_shards']} shard(s), snapshot every {machine['almanac_snapshot_every']} entries")
        print()

    delays = sorted({r["delay_ms"] for r in floors + runs})
    by_seq = {f["seq"]: f for f in floors}

    def around(run):
        """The floor measurements right before and right after a run: (RTT p50, fdatasync p50), means."""
        pair = [by_seq[k] for k in (run["floor_before"], run["floor_before"] + 1) if k in by_seq]
        rtt = sum(f["rtt_p50_ms"] for f in pair) / len(pair)
        fs = sum(f["fsync"]["p50_ms"] for f in pair) / len(pair)
        return rtt, fs

    print("Floor measurements, in run order (zone ping RTT p50; 4 KiB pwrite + fdatasync on the data disk):")
    print()
    print("| # | zone delay (one way) | zone RTT p50 (ms) | fdatasync p50 (ms) | fdatasync p99 (ms) |")
    print("|---:|---:|---:|---:|---:|")
    for f in floors:
        print(f"| {f['seq']} | {f['delay_ms']} ms | {f['rtt_p50_ms']:.3f} | {f['fsync']['p50_ms']:.3f} | {f['fsync']['p99_ms']:.3f} |")
    print()

    by = {(r["sys"], r["delay_ms"], r["result"]["clients"]): r for r in runs}
    clients = sorted({r["result"]["clients"] for r in runs})
    print("| delay | clients | etcd ops/s | etcd p50 | etcd p99 | etcd CPU s/1k | Almanac ops/s | Almanac p50 | Almanac p99 "
          "| Almanac CPU s/1k | ops/s A/E | p50 A/E | p99 A/E | CPU A/E | fdatasync p50 around E / A |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

    def cells(r):
        if not r:
            return ["–"] * 4
        x = r["result"]
        err = f" ({x['errors']} err)" if x.get("errors") else ""
        return [f"{x['ops_s']:.0f}{err}", f"{x['p50_ms']:.2f}", f"{x['p99_ms']:.2f}", f"{r['cpu_s_per_1000_ops']:.3f}"]

    for d in delays:
        for n in clients:
            e, a = by.get(("etcd", d, n)), by.get(("almanac", d, n))
            rs = ["–"] * 4
            if e and a:
                ex, ax = e["result"], a["result"]
                rs = [f"{ratio(ax['ops_s'], ex['ops_s']):.2f}x", f"{ratio(ax['p50_ms'], ex['p50_ms']):.2f}x",
                      f"{ratio(ax['p99_ms'], ex['p99_ms']):.2f}x",
                      f"{ratio(a['cpu_s_per_1000_ops'], e['cpu_s_per_1000_ops']):.2f}x"]
            fs = " / ".join(f"{around(r)[1]:.2f}" if r else "–" for r in (e, a))
            print(f"| {d} ms | {n} | " + " | ".join(cells(e) + cells(a) + rs) + f" | {fs} |")
    print()
    print("Latencies in ms. CPU s/1k: CPU seconds (user + system) of the three server processes per 1000 "
          "acknowledged writes, over the measured window. A/E: Almanac / etcd. Last column: mean fdatasync p50 of "
          "the floor measurements just before and just after each system's run (the disk's phase at the time).")
    print()

    # Targets.
    positive = [d for d in delays if d > 0]
    if positive:
        d = 0.5 if 0.5 in positive else max(positive)
        a1 = by.get(("almanac", d, 1))
        if a1:
            rtt, fs = around(a1)
            fl = rtt + fs
            x = a1["result"]["p50_ms"] / fl
            print(f"- Target 1 (single client at {d} ms): Almanac p50 {a1['result']['p50_ms']:.2f} ms = {x:.2f}x the floor "
                  f"{fl:.2f} ms (zone RTT {rtt:.2f} + fdatasync {fs:.2f}, measured just before and after; target <= 1.2x): "
                  f"{'MET' if x <= 1.2 else 'NOT MET'}")
    for d in delays:
        for n in [c for c in clients if c >= 16]:
            e, a = by.get(("etcd", d, n)), by.get(("almanac", d, n))
            if e and a:
                t = ratio(a["result"]["ops_s"], e["result"]["ops_s"])
                p = ratio(a["result"]["p99_ms"], e["result"]["p99_ms"])
                ok = t >= 2 and p <= 1
                print(f"- Target 2 ({n} clients, {d} ms): throughput {t:.2f}x etcd (>= 2x), p99 {p:.2f}x etcd's (<= 1x): "
                      f"{'MET' if ok else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
