#!/usr/bin/env python3
"""What the anomaly detectors catch of the faults sensors have, and how soon.

Each fault starts at reading 3000 of 4000 of a series of AR(1) noise (phi 0.8, sd 1), plain and on
a daily cycle (288 readings a day, amplitude 3 sd), in --seeds series each. Every series is
replayed by `edgeway detect` as the gateway judges it: the ensemble at its
analytics.anomaly_threshold (--threshold, 0.5 by default), and the seed's 3-sigma rule over its
window of 50 readings. An alert is an anomaly or a stuck insight. A fault is caught when an alert
comes within 200 readings of its start (a spike: within 8); the delay is in readings from the
start, the median over the series that caught it. Before the fault, after each detector's warmup,
every alert is a false alarm: the last lines give their rate and the chance that one falls in a
200-reading stretch, which is what a catch of a slow fault is worth against it.
With --glitch K, every series also reads 20 + K (K sd above its mean) at each reading of
--glitch-at (1500 by default; several may be given): a sensor's glitch, the same value each time
as a fault code is (a reset value, a saturated converter). The table says what is caught after
it; the glitches' own alerts are not counted as false alarms.
Usage: events.py [--edgeway build/release/edgeway] [--seeds 10] [--threshold 0.5] [--glitch K]
                 [--glitch-at N [N ...]]
"""
import argparse, concurrent.futures, csv, math, os, random, re, statistics, subprocess, sys
import tempfile

ONSET, LENGTH, WARMUP = 3000, 4000, 300
CATCH, SPIKE_CATCH = 200, 8
DAY = 288
SIGMA_ALERT = math.erf(3 / math.sqrt(2))  # the sigma detector's score at |z| = 3


def ar1(rng, n, phi=0.8):
    x, out = 0.0, []
    for _ in range(n):
        x = phi * x + rng.gauss(0, math.sqrt(1 - phi * phi))
        out.append(x)
    return out


# Each fault maps (clean series, its noise) to the series with the fault from ONSET on.
def shift(k):
    return lambda v, e: [x + (k if i >= ONSET else 0) for i, x in enumerate(v)]


def noise(k):
    return lambda v, e: [x + ((k - 1) * e[i] if i >= ONSET else 0) for i, x in enumerate(v)]


def drift(rate):
    return lambda v, e: [x + (rate * (i - ONSET) if i >= ONSET else 0) for i, x in enumerate(v)]


def spike(k):
    return lambda v, e: [x + (k if i == ONSET else 0) for i, x in enumerate(v)]


def stuck():
    return lambda v, e: [x if i < ONSET else v[ONSET - 1] for i, x in enumerate(v)]


FAULTS = [
    ("level shift 2 sd", shift(2)), ("level shift 3 sd", shift(3)), ("level shift 5 sd", shift(5)),
    ("noise x2", noise(2)), ("noise x3", noise(3)),
    ("drift 0.01 sd/reading", drift(0.01)), ("drift 0.03 sd/reading", drift(0.03)),
    ("spike 4 sd", spike(4)), ("spike 6 sd", spike(6)), ("spike 10 sd", spike(10)),
    ("stuck at its last value", stuck()),
]
BASES = [("AR(1) noise", 0.0), ("daily cycle + noise", 3.0)]
DETECTORS = ["ensemble", "sigma"]


def alerts(edgeway, path, detector, threshold):
    """Rows (0-based) with an alert: a score at the alert threshold, or a stuck insight."""
    out = path + "." + detector
    cmd = [edgeway, "detect", "--input", path, "--output", out, "--detector", detector]
    if detector == "ensemble":
        cmd += ["--threshold", str(threshold)]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"events.py: {' '.join(cmd)} failed: {run.stderr.strip()}")
    limit = threshold if detector == "ensemble" else SIGMA_ALERT
    with open(out) as f:
        rows = {i for i, r in enumerate(list(csv.reader(f))[1:]) if float(r[2]) >= limit}
    # Stuck insights, by their row; not the other reports (the cycle found).
    stuck = re.findall(r"\(row (\d+), line \d+\): \S+ has read ", run.stderr)
    rows |= {int(m) - 1 for m in stuck}
    return sorted(rows)


def replay(job):
    edgeway, tmp, threshold, (glitch, glitch_at), b, f, seed = job
    (base, amplitude), (fault, inject) = BASES[b], FAULTS[f]
    # The same noise for every fault of a seed: the series differ only from the fault on.
    e = ar1(random.Random(seed), LENGTH)
    clean = [20 + amplitude * math.sin(2 * math.pi * i / DAY) + x for i, x in enumerate(e)]
    for at in glitch_at:
        clean[at] = 20 + glitch  # a fault code: the same value each time
    path = os.path.join(tmp, f"{b}-{f}-{seed}.csv")
    with open(path, "w") as out:
        out.write("timestamp,value\n")
        for i, v in enumerate(inject(clean, e)):
            out.write(f"{1700000000 + 300 * i},{v:.5f}\n")
    return (base, fault, seed), {d: alerts(edgeway, path, d, threshold) for d in DETECTORS}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--edgeway", default="build/release/edgeway")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--threshold", type=float, default=0.5,
                    help="the ensemble's analytics.anomaly_threshold")
    ap.add_argument("--glitch", type=float, default=0,
                    help="a glitch this many sd above the mean in every series")
    ap.add_argument("--glitch-at", type=int, nargs="+", default=[1500],
                    help=f"the glitch's readings, before the faults at {ONSET}")
    a = ap.parse_args()
    if a.seeds < 1:
        sys.exit("events.py: --seeds must be at least 1")
    if not all(WARMUP <= at < ONSET for at in a.glitch_at):
        sys.exit(f"events.py: --glitch-at must be from {WARMUP} to {ONSET - 1}")
    with tempfile.TemporaryDirectory() as tmp:
        jobs = [(a.edgeway, tmp, a.threshold, (a.glitch, a.glitch_at), b, f, s)
                for b in range(len(BASES)) for f in range(len(FAULTS)) for s in range(a.seeds)]
        with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
            results = dict(pool.map(replay, jobs))

    print(f"Faults from reading {ONSET} of {LENGTH}, {a.seeds} series each; caught: an alert within "
          f"{CATCH} readings ({SPIKE_CATCH} for a spike), median delay in readings")
    print(f"ensemble at threshold {a.threshold}; sigma: the seed's 3-sigma rule over 50 readings")
    if a.glitch:
        print(f"after a glitch of {a.glitch:g} sd at reading {', '.join(map(str, a.glitch_at))}")
    head = "".join(f"{b:>32}" for b, _ in BASES)
    print(f"{'':24}{head}")
    print(f"{'fault':24}" + "".join(f"{d:>16}" for _ in BASES for d in DETECTORS))
    for fault, _ in FAULTS:
        line = f"{fault:24}"
        within = SPIKE_CATCH if fault.startswith("spike") else CATCH
        for base, _ in BASES:
            for d in DETECTORS:
                delays = []
                for s in range(a.seeds):
                    rows = results[(base, fault, s)][d]
                    after = [r - ONSET for r in rows if ONSET <= r <= ONSET + within]
                    if after:
                        delays.append(after[0])
                delay = str(statistics.median_low(delays)) if delays else "-"
                line += f"{f'{len(delays)}/{a.seeds}':>9} {delay:>6}"
        print(line)
    # Before the fault (the same readings for every fault of a seed), after each detector's warmup
    # (the sigma rule judges from its 10th reading): alerts, and 200-reading stretches with one.
    rate, stretches = "", ""
    for base, _ in BASES:
        for d in DETECTORS:
            start = WARMUP if d == "ensemble" else 10
            befores = [[r for r in results[(base, FAULTS[0][0], s)][d] if start <= r < ONSET and
                        not (a.glitch and any(at <= r <= at + SPIKE_CATCH for at in a.glitch_at))]
                       for s in range(a.seeds)]
            rate += f"{1e4 * sum(map(len, befores)) / (a.seeds * (ONSET - start)):>16.1f}"
            hit = [any(lo <= r < lo + CATCH for r in before) for before in befores
                   for lo in range(start, ONSET - CATCH + 1, CATCH)]
            stretches += f"{100 * sum(hit) / len(hit):>15.0f}%"
    print(f"{'false alarms per 10,000':24}{rate}")
    print(f"{'stretches with an alarm':24}{stretches}")


if __name__ == "__main__":
    main()
