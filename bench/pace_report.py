#!/usr/bin/env python3
"""One pacing benchmark case → one JSON line (bench/pacing.sh and bench/limiters.sh).

Usage: pace_report.py DIR STATS_URL KIND DECLARED LIMIT WINDOW_S SHAPE
DIR holds summary.json (the run's --format json), stderr.log (its -v log) and delivered.jsonl
(the sandbox's delivery log); STATS_URL is the sandbox's /_sandbox/stats. LIMIT/WINDOW_S is the
server's real rate and SHAPE its optimum schedule: window (bursts of L every W), bucket (a burst
of L, then the refill) or smooth (one every W/L). Fields: see bench/pacing.sh.

The optimum is the later of two least times: the server's (its own shape) and the declared
rate's, read as at most L per any window W ((ceil(n/L)-1)*W), since the tool never exceeds the
declared rate. Until 2026-11-29 the declared rate counted only when its rate was slower, with
the server's shape otherwise: a token bucket 4/2s under a declared 4/2s was then measured
against a burst of 4 and one per 500 ms, which needs 7 sends in the first 2 s (0.866 at best).
That earlier figure is printed too, as pace_ratio_v1 / steady_ratio_v1.
"""
import json, math, re, sys, urllib.request
from datetime import datetime
d, stats_url, kind, rate, limit, window, shape = sys.argv[1:8]
limit, window = int(limit), float(window)
stats = json.load(urllib.request.urlopen(stats_url))
summary = json.load(open(f"{d}/summary.json"))
times = [datetime.fromisoformat(json.loads(l)["time"].replace("Z", "+00:00")).timestamp()
         for l in open(f"{d}/delivered.jsonl")]
dl, dw = rate.split("/"); dl, dw = int(dl), float(dw.rstrip("s"))
slower_is_declared = dl / dw < limit / window

def least(n, L, W, s):
    """The least time for n messages under L per W with schedule shape s."""
    if s == "window":
        return (math.ceil(n / L) - 1) * W
    if s == "bucket":
        return max(n - L, 0) * W / L
    return (n - 1) * W / L

def optimum(n):
    """The least time n messages need: the later of the server's and the declared rate's."""
    return max(least(n, limit, window, shape), least(n, dl, dw, "window"))

def optimum_v1(n):
    """The earlier metric: the server's alone, or the declared rate's when that is slower."""
    if slower_is_declared:
        return least(n, dl, dw, "window" if dw > 1 else "smooth")
    return least(n, limit, window, shape)

def ratio(ts, opt):
    span = ts[-1] - ts[0] if len(ts) > 1 else 0
    return round(opt / span, 3) if span > 0 else None

# The second half, from a burst's first message; mid-stream there is no initial burst, so a
# bucket's optimum is its refill rate.
L = dl if slower_is_declared else limit
W = dw if slower_is_declared else window
i0 = (len(times) // 2) // L * L
half = times[i0:]
m = len(half)
mid_shape = "smooth" if shape in ("bucket", "smooth") else shape
half_opt = max(least(m, limit, window, mid_shape), least(m, dl, dw, "window"))
half_opt_v1 = (m - 1) * W / L if shape in ("bucket", "smooth") and not slower_is_declared else optimum_v1(m)
# The first 429 as the client saw it (tracing's UTC timestamp on `POST … → 429`).
first_429 = None
for line in open(f"{d}/stderr.log", errors="replace"):
    if "→ 429" in line and first_429 is None:
        stamp = re.match(r"(\S+?)(\.\d+)?Z", line)
        if stamp:
            frac = float("0" + (stamp.group(2) or ""))
            first_429 = datetime.fromisoformat(stamp.group(1) + "+00:00").timestamp() + frac
client_429 = sum("→ 429" in line for line in open(f"{d}/stderr.log", errors="replace"))
after = None
if first_429 is not None:
    later = [t for t in times if t > first_429]
    if later and later[-1] > first_429:
        after = round(len(later) * W / L / (later[-1] - first_429), 3)
print(json.dumps({
    "kind": kind, "server": f"{limit}/{int(window)}s", "declared": rate,
    "messages": len(times), "elapsed_s": summary.get("elapsed_s"),
    "pace_ratio": ratio(times, optimum(len(times))), "steady_ratio": ratio(half, half_opt),
    "pace_ratio_v1": ratio(times, optimum_v1(len(times))), "steady_ratio_v1": ratio(half, half_opt_v1),
    "after_429": after,
    # A real limiter answers 429s itself: the sandbox behind it never sees them.
    "throttled_429": stats["rejected_rate"] or client_429, "duplicates": stats["duplicates"],
    "pace": summary.get("pace"),
}))
