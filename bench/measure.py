#!/usr/bin/env python3
"""Run a command, print wall time and peak memory (max RSS of the child) as one JSON line.

usage: measure.py LABEL OUTFILE -- CMD...   (OUTFILE receives the command's stdout; '-' discards)
"""
import json, resource, subprocess, sys, time

label, outfile = sys.argv[1], sys.argv[2]
cmd = sys.argv[sys.argv.index("--") + 1:]
out = subprocess.DEVNULL if outfile == "-" else open(outfile, "wb")
start = time.monotonic()
proc = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE)
wall = time.monotonic() - start
peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
if proc.returncode != 0:
    sys.stderr.write(proc.stderr.decode(errors="replace")[-2000:])
    sys.exit(f"{label}: exit {proc.returncode}")
result = {"label": label, "wall_s": round(wall, 3), "peak_mb": round(peak_mb, 1)}
# A dry run reports "dry run: N requests ..." on stderr: derive the request rate from it.
for line in proc.stderr.decode(errors="replace").splitlines():
    if line.startswith("dry run: "):
        n = int(line.split()[2])
        result["requests"] = n
        result["requests_per_s"] = round(n / wall)
print(json.dumps(result))
