#!/usr/bin/env python3
"""Runs a command and reports wall time and peak memory as one JSON line.

Peak anonymous memory (RssAnon: heap, stacks; not the page cache behind a mapped file) and
peak RSS (VmHWM, which counts mapped file pages too) are sampled from /proc every 5 ms,
over the process and its children.

usage: measure.py [--stdout FILE] -- CMD ARGS...
"""
import json, os, subprocess, sys, time

def tree(pid):
    out = [pid]
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/children") as f:
                out += [c for c in map(int, f.read().split())]
    except OSError:
        pass
    return out

def status(pid):
    vals = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("RssAnon", "VmHWM"):
                    vals[k] = int(v.split()[0])
    except OSError:
        pass
    return vals

def main():
    args = sys.argv[1:]
    stdout = None
    if args[:1] == ["--stdout"]:
        stdout = open(args[1], "wb")
        args = args[2:]
    if args[:1] == ["--"]:
        args = args[1:]
    t0 = time.monotonic()
    p = subprocess.Popen(args, stdout=stdout or subprocess.DEVNULL, stderr=subprocess.PIPE)
    anon = hwm = 0
    while p.poll() is None:
        a = h = 0
        for pid in tree(p.pid):
            s = status(pid)
            a += s.get("RssAnon", 0)
            h = max(h, s.get("VmHWM", 0))
        anon, hwm = max(anon, a), max(hwm, h)
        time.sleep(0.005)
    wall = time.monotonic() - t0
    err = p.stderr.read().decode(errors="replace")
    print(json.dumps({"wall_s": round(wall, 3), "peak_anon_mib": round(anon / 1024, 1),
                      "peak_rss_mib": round(hwm / 1024, 1), "exit": p.returncode,
                      "stderr": err[-300:]}))

main()
