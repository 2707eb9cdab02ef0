#!/usr/bin/env python3
"""Run a command, print wall time and peak memory (max RSS of the child) as one JSON line.

usage: measure.py LABEL OUTFILE -- CMD...   (OUTFILE receives the command's stdout; '-' discards)

OK_EXITS (default "0") lists the exit codes that count as success, comma-separated (a run stopped
by --max-duration exits 5). RUNS (default 3) repeats the command; the figures are the median run's, with the range of wall
times, because a shared 2-core machine varies by a quarter from run to run.
"""
import os, statistics
import json, resource, subprocess, sys, time

label, outfile = sys.argv[1], sys.argv[2]
cmd = sys.argv[sys.argv.index("--") + 1:]
runs = []
ok_exits = {int(x) for x in os.environ.get("OK_EXITS", "0").split(",")}
for _ in range(int(os.environ.get("RUNS", "3"))):
    out = subprocess.DEVNULL if outfile == "-" else open(outfile, "wb")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.monotonic()
    proc = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE)
    wall = time.monotonic() - start
    if proc.returncode not in ok_exits:
        sys.stderr.write(proc.stderr.decode(errors="replace")[-2000:])
        sys.exit(f"{label}: exit {proc.returncode}")
    runs.append((wall, proc.stderr.decode(errors="replace")))
# ru_maxrss of children is the largest child so far: every run does the same work.
peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
walls = sorted(w for w, _ in runs)
wall = statistics.median(walls)
stderr = runs[0][1]
result = {"label": label, "runs": len(runs), "wall_s": round(wall, 3),
          "wall_range_s": [round(walls[0], 3), round(walls[-1], 3)], "peak_mb": round(peak_mb, 1)}
# A dry run reports "dry run: N requests ..." on stderr: derive the request rate from it.
for line in stderr.splitlines():
    if line.startswith("dry run: "):
        n = int(line.split()[2])
        result["requests"] = n
        result["requests_per_s"] = round(n / wall)
print(json.dumps(result))
