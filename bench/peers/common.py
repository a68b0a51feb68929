"""bench/peers/common.py -- what every Python peer shares: arguments, the
fixed pseudo-random durations of W4, RSS readings, percentiles and the
RESULT line the runner parses. Mirrors common.lua."""
import gc
import math
import sys
import time

DEFAULT_N = {"W1": 100000, "W2": 100000, "W3": 1000000, "W4": 100000,
             "W5": 100000, "W6": 100}

MSG = b"x" * 63 + b"\n"          # the 64-byte echo message
now = time.monotonic              # CLOCK_MONOTONIC, as the Lua peers use


def args():
    """peer.py W [N] [seconds]; seconds only matters for W6."""
    a = sys.argv[1:]
    if not a or a[0] not in DEFAULT_N:
        sys.exit("usage: peer.py W1|W2|W3|W4|W5|W6 [N] [seconds]")
    w = a[0]
    n = int(a[1]) if len(a) > 1 else DEFAULT_N[w]
    secs = float(a[2]) if len(a) > 2 else 2.0
    return w, n, secs


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


_cpu0 = None


def mark():
    """Start of the timed window: result() then adds cpu_s, the process's
    CPU time since, which other load on the machine does not inflate."""
    global _cpu0
    _cpu0 = time.process_time()


def settle():
    """W2: a full collection just before the timed window, so what the
    set-up left is not charged to the cancel (as common.lua does)."""
    gc.collect()


def result(w, *kv):
    if _cpu0 is not None:
        kv = kv + ("cpu_s", time.process_time() - _cpu0)
    parts = ["RESULT", w]
    for k, v in zip(kv[::2], kv[1::2]):
        parts.append("%s=%s" % (k, ("%.6g" % v) if isinstance(v, float) else v))
    print(" ".join(parts), flush=True)


def durations(n):
    """x <- (1103515245 x + 12345) mod 2^31 from seed 42; d = x / 2^31 * 0.5"""
    x, d = 42, []
    for _ in range(n):
        x = (1103515245 * x + 12345) % 2147483648
        d.append(x / 2147483648 * 0.5)
    return d


def mem():
    """VmRSS and VmHWM in bytes."""
    rss = hwm = 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024
    return rss, hwm


def mem_baseline():
    """Collect garbage, reset VmHWM to the current RSS, return the RSS."""
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    return mem()[0]


def percentile(sorted_list, p):
    return sorted_list[max(0, math.ceil(len(sorted_list) * p) - 1)]


def report_w4(w, n, total, late):
    check(len(late) == n and all(x is not None for x in late),
          "W4: not every sleeper woke")
    mean = sum(late) / n
    late.sort()
    result(w, "overhead_per_task_us", (total - 0.5) / n * 1e6,
           "total_s", total, "late_mean_ms", mean * 1e3,
           "late_p99_ms", percentile(late, 0.99) * 1e3,
           "late_min_ms", late[0] * 1e3, "n", n)


def report_w6(w, clients, reqs, elapsed, lat):
    check(reqs > 0 and len(lat) == reqs,
          "W6: %d requests, %d latencies" % (reqs, len(lat)))
    lat.sort()
    result(w, "rps", reqs / elapsed, "p99_ms", percentile(lat, 0.99) * 1e3,
           "requests", reqs, "clients", clients, "seconds", elapsed)
