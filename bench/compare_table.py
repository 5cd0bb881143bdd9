#!/usr/bin/env python3
"""Prints the etcd / ZooKeeper / Almanac table from bench/compare.sh's results (JSON lines).

usage: compare_table.py RESULTS.jsonl
Markdown: the floor measurements, the side-by-side table with Almanac's ratios against each other
system, and the goals 1-3 of issue 17 at every delay, each marked MET or NOT MET:
1. at every client count throughput >= ZooKeeper's and p99 <= ZooKeeper's; at 64 clients
   >= 1.3x ZooKeeper and >= 2.5x etcd;
2. server CPU per write <= 0.5x etcd's at 16 and 64 clients;
3. single-client p50 <= 1.25x the floor (zone RTT + fdatasync, measured around the run) and
   <= ZooKeeper's p50.
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
    systems = [s for s in ("etcd", "zookeeper", "almanac") if any(r["sys"] == s for r in runs)]
    names = {"etcd": "etcd", "zookeeper": "ZooKeeper", "almanac": "Almanac"}
    short = {"etcd": "E", "zookeeper": "Z", "almanac": "A"}
    header = ["delay", "clients"]
    for s in systems:
        header += [f"{names[s]} ops/s", f"{names[s]} p50", f"{names[s]} p99", f"{names[s]} CPU s/1k"]
    others = [s for s in systems if s != "almanac"] if "almanac" in systems else []
    for o in others:
        header += [f"ops/s A/{short[o]}", f"p50 A/{short[o]}", f"p99 A/{short[o]}", f"CPU A/{short[o]}"]
    header.append("fdatasync p50 around " + " / ".join(short[s] for s in systems))
    print("| " + " | ".join(header) + " |")
    print("|" + "---:|" * len(header))

    def cells(r):
        if not r:
            return ["–"] * 4
        x = r["result"]
        err = f" ({x['errors']} err)" if x.get("errors") else ""
        return [f"{x['ops_s']:.0f}{err}", f"{x['p50_ms']:.2f}", f"{x['p99_ms']:.2f}", f"{r['cpu_s_per_1000_ops']:.3f}"]

    def ratios(a, o):
        if not (a and o):
            return ["–"] * 4
        ax, ox = a["result"], o["result"]
        return [f"{ratio(ax['ops_s'], ox['ops_s']):.2f}x", f"{ratio(ax['p50_ms'], ox['p50_ms']):.2f}x",
                f"{ratio(ax['p99_ms'], ox['p99_ms']):.2f}x",
                f"{ratio(a['cpu_s_per_1000_ops'], o['cpu_s_per_1000_ops']):.2f}x"]

    for d in delays:
        for n in clients:
            row = [f"{d} ms", str(n)]
            for s in systems:
                row += cells(by.get((s, d, n)))
            for o in others:
                row += ratios(by.get(("almanac", d, n)), by.get((o, d, n)))
            row.append(" / ".join(f"{around(r)[1]:.2f}" if r else "–" for r in (by.get((s, d, n)) for s in systems)))
            print("| " + " | ".join(row) + " |")
    print()
    print("Latencies in ms. CPU s/1k: CPU seconds (user + system) of the three server processes per 1000 "
          "acknowledged writes, over the measured window. A/E, A/Z: Almanac / etcd, Almanac / ZooKeeper. Last column: "
          "mean fdatasync p50 of the floor measurements just before and just after each system's run (the disk's phase "
          "at the time).")
    print()

    # Wake-ups: on these 2 cores every context switch is a thread put to sleep and woken again.
    if any("switches_per_op" in r for r in runs):
        print("Context switches per write (every thread of the three server processes, over the measured window):")
        print()
        print("| delay | clients | " + " | ".join(names[s] for s in systems) + " |")
        print("|---:|---:|" + "---:|" * len(systems))
        for d in delays:
            for n in clients:
                row = [f"{d} ms", str(n)]
                for s in systems:
                    r = by.get((s, d, n))
                    row.append(f"{r['switches_per_op']:.2f}" if r and "switches_per_op" in r else "–")
                print("| " + " | ".join(row) + " |")
        print()

    # Goals of issue 17, at every delay measured.
    def verdict(ok):
        return "MET" if ok else "NOT MET"

    for d in delays:
        a = {n: by.get(("almanac", d, n)) for n in clients}
        z = {n: by.get(("zookeeper", d, n)) for n in clients}
        e = {n: by.get(("etcd", d, n)) for n in clients}
        for n in clients:
            if a[n] and z[n]:
                t = ratio(a[n]["result"]["ops_s"], z[n]["result"]["ops_s"])
                p = ratio(a[n]["result"]["p99_ms"], z[n]["result"]["p99_ms"])
                need = 1.3 if n >= 64 else 1.0
                extra = ""
                ok = t >= need and p <= 1
                if n >= 64 and e[n]:
                    te = ratio(a[n]["result"]["ops_s"], e[n]["result"]["ops_s"])
                    extra = f", throughput {te:.2f}x etcd (>= 2.5x)"
                    ok = ok and te >= 2.5
                print(f"- Goal 1 ({d} ms, {n} clients): throughput {t:.2f}x ZooKeeper (>= {need}x), p99 {p:.2f}x "
                      f"ZooKeeper's (<= 1x){extra}: {verdict(ok)}")
        for n in [c for c in clients if c >= 16]:
            if a[n] and e[n]:
                c = ratio(a[n]["cpu_s_per_1000_ops"], e[n]["cpu_s_per_1000_ops"])
                print(f"- Goal 2 ({d} ms, {n} clients): server CPU per write {c:.2f}x etcd's (<= 0.5x): {verdict(c <= 0.5)}")
        if a.get(1):
            rtt, fs = around(a[1])
            fl = rtt + fs
            x = a[1]["result"]["p50_ms"] / fl
            zp = f", ZooKeeper p50 {z[1]['result']['p50_ms']:.2f} ms" if z.get(1) else ""
            ok = x <= 1.25 and (not z.get(1) or a[1]["result"]["p50_ms"] <= z[1]["result"]["p50_ms"])
            print(f"- Goal 3 ({d} ms, 1 client): Almanac p50 {a[1]['result']['p50_ms']:.2f} ms = {x:.2f}x the floor "
                  f"{fl:.2f} ms (zone RTT {rtt:.2f} + fdatasync {fs:.2f}, measured just before and after; <= 1.25x){zp} "
                  f"(Almanac <= ZooKeeper): {verdict(ok)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
