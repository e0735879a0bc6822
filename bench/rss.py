#!/usr/bin/env python3
"""Resident memory of `edgeway run`: idle, and while 10,000 simulated devices publish to it.

Starts the gateway with its embedded mosquitto, reads VmRSS from /proc, starts
`edgeway device --simulate N` against the same broker, and reads VmRSS and VmHWM again.
With --detector ensemble the gateway keeps the anomaly-detector ensemble's state per key too;
--save-interval S sets analytics.save_interval_s (snapshots of that state).
Usage: rss.py EDGEWAY_BINARY [--devices N] [--seconds S] [--detector sigma|ensemble]
              [--save-interval S]
"""
import argparse, os, re, signal, subprocess, sys, tempfile, time


def status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0  # MiB
    return float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("edgeway")
    ap.add_argument("--devices", type=int, default=10000)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--detector", choices=["sigma", "ensemble"], default="sigma")
    ap.add_argument("--save-interval", type=float, default=900)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = open(os.path.join(tmp, "gw.log"), "w+")
        config = os.path.join(tmp, "edgeway.yaml")
        with open(config, "w") as f:
            f.write(f"analytics:\n  detector: {a.detector}\n  save_interval_s: {a.save_interval}\n")
        gw = subprocess.Popen([a.edgeway, "run", "-c", config, "--store", os.path.join(tmp, "rss.db"),
                               "--summary-json", os.path.join(tmp, "s.json"), "--http", "127.0.0.1:0"],
                              stdout=log, stderr=subprocess.STDOUT)
        url = None
        deadline = time.time() + 20
        while time.time() < deadline and url is None:
            time.sleep(0.1)
            log.seek(0)
            m = re.search(r"on (tcp://[0-9.]+:\d+)", log.read())
            url = m.group(1) if m else None
        if url is None:
            print("rss: gateway did not start", file=sys.stderr)
            gw.kill()
            return 1
        start = time.time()
        time.sleep(2)
        idle = status(gw.pid, "VmRSS")
        print(f"gateway idle: {idle:.1f} MiB resident (started in under {time.time() - start - 2 + 0.1:.1f} s)")
        dev = subprocess.Popen([a.edgeway, "device", "--simulate", str(a.devices), "--broker", url,
                                "--interval", "1", "--duration", str(a.seconds),
                                "--anomaly-every", "0", "--stuck-every", "0", "--log-level", "warn"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(a.seconds * 0.8)
        loaded = status(gw.pid, "VmRSS")
        dev.wait()
        time.sleep(1)
        peak = status(gw.pid, "VmHWM")
        stop = time.time()
        gw.send_signal(signal.SIGTERM)
        gw.wait(timeout=30)
        stop = time.time() - stop
        import json
        s = json.load(open(os.path.join(tmp, "s.json")))
        print(f"gateway ({a.detector}) with {a.devices} devices at 1 msg/s each: {loaded:.1f} MiB resident, "
              f"peak {peak:.1f} MiB; {s['devices']} devices, {s['keys']} keys, "
              f"{s['readings_stored']} readings stored; {s['analytics_states_saved']} key states saved "
              f"by snapshots every {a.save_interval:g} s; stopped in {stop:.1f} s, "
              f"peak {s['peak_resident_bytes'] / 2**20:.1f} MiB with the stop's final save")
    return 0


if __name__ == "__main__":
    sys.exit(main())
