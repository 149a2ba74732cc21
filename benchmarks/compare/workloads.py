"""The workloads compare-etcd runs, and running one of them with cairn-bench.

Each workload is a cairn-bench command line (the same against every server) plus an
optional untimed preparation (e.g. filling the key space that a range workload reads).
"""
import json
import subprocess


class Workload:
    def __init__(self, name, label, args, full_total, quick_total, prepare=None, sync_ceiling=False):
        self.name = name
        self.label = label
        self.args = args
        self.full_total = full_total
        self.quick_total = quick_total
        self.prepare = prepare  # cairn-bench args run once per server before the first round
        # Also run against the null server that fdatasyncs once per write: the ceiling of a
        # workload bound by one sync per request.
        self.sync_ceiling = sync_ceiling

    def total(self, quick):
        return self.quick_total if quick else self.full_total


RANGE_KEYS = 10000
FILL_RANGE_KEYS = ["txn-put", "--txn-ops", "100", "--clients", "4", "--total", str(RANGE_KEYS // 100),
                   "--sequential-keys", "--key-space-size", str(RANGE_KEYS), "--val-size", "256"]

WORKLOADS = [
    Workload("put-seq-1", "sequential put, 1 client",
             ["put", "--clients", "1", "--conns", "1", "--sequential-keys", "--key-space-size", "1000000",
              "--val-size", "256"], 10000, 2000, sync_ceiling=True),
    Workload("put-64", "put, 64 clients",
             ["put", "--clients", "64", "--conns", "4", "--key-space-size", "100000", "--val-size", "256"],
             100000, 20000, sync_ceiling=True),
    Workload("range-l-64", "linearizable range, 64 clients",
             ["range", "--consistency", "l", "--clients", "64", "--conns", "4", "--key-space-size",
              str(RANGE_KEYS)], 100000, 20000, prepare=FILL_RANGE_KEYS),
    Workload("range-s-64", "serializable range, 64 clients",
             ["range", "--consistency", "s", "--clients", "64", "--conns", "4", "--key-space-size",
              str(RANGE_KEYS)], 100000, 20000, prepare=FILL_RANGE_KEYS),
    # --total is the number of puts; events delivered = watchers x puts.
    Workload("watch-fanout", "watch fan-out, 1000 watchers (events/s)",
             ["watch", "--watchers", "1000", "--watch-streams", "10", "--clients", "8", "--conns", "4",
              "--key-space-size", "1000", "--val-size", "64"], 500, 100),
    Workload("lease-keepalive", "lease keep-alive, 64 streams",
             ["lease-keepalive", "--clients", "64", "--conns", "4"], 100000, 20000),
]


def run_bench(bench, endpoint, args, timeout=600):
    """Runs cairn-bench with --json; returns its summary as a dict (raises on failure)."""
    command = [bench] + args + ["--endpoints", endpoint, "--json", "--no-progress"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode not in (0, 3) or not done.stdout.strip():
        raise RuntimeError("%s failed (%d): %s" % (" ".join(command), done.returncode, done.stderr.strip()))
    return json.loads(done.stdout)


def measure(server, bench, workload, quick):
    """One timed run of `workload` against `server`: the cairn-bench summary plus the server's
    CPU seconds spent meanwhile and per request."""
    args = workload.args + ["--total", str(workload.total(quick))]
    cpu_before = server.cpu_seconds()
    summary = run_bench(bench, server.endpoint, args)
    cpu = server.cpu_seconds() - cpu_before
    served = summary["requests"]
    # For watch fan-out the server's work is the events it delivers.
    summary["server_cpu_s"] = cpu
    summary["server_cpu_us_per_request"] = cpu * 1e6 / served if served else 0.0
    return summary
