"""etcd's metric names on cairnd's /metrics, checked against real etcd 3.4.

One cairnd (and one etcd 3.4, when /usr/bin/etcd exists) on 127.0.0.1 get the same etcdctl
workload: puts, a delete, a two-op txn, a lease grant/keep-alive/revoke, a compaction and a read of
a compacted revision (an error), a /health call. Then:
  - cairnd's /metrics moved as the workload says (gRPC calls by method and code, mvcc op counts,
    WAL fsync histogram, leases, health checks, leader);
  - every name cairnd promises (PROMISED below, the list the README documents) is served by cairnd
    with etcd's type and etcd's label names, and by etcd too unless marked cluster-only, so a typo
    on either side fails.
Exits 77 (skipped) when cairnd is missing."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from loopback_ports import free_port  # noqa: E402
from server_process import (ETCD_BIN as ETCD, ServerProcess, StartError,  # noqa: E402
                            loopback_url, member_command)

CAIRND = os.environ.get("CAIRND", "")
ETCDCTL = shutil.which("etcdctl") or "/usr/bin/etcdctl"

# name: (type, label names). Names etcd only serves once it has peers are in CLUSTER_ONLY.
PROMISED = {
    "etcd_server_has_leader": ("gauge", set()),
    "etcd_server_is_leader": ("gauge", set()),
    "etcd_server_is_learner": ("gauge", set()),
    "etcd_server_leader_changes_seen_total": ("counter", set()),
    "etcd_server_proposals_committed_total": ("gauge", set()),
    "etcd_server_proposals_applied_total": ("gauge", set()),
    "etcd_server_proposals_pending": ("gauge", set()),
    "etcd_server_proposals_failed_total": ("counter", set()),
    "etcd_server_slow_apply_total": ("counter", set()),
    "etcd_server_quota_backend_bytes": ("gauge", set()),
    "etcd_server_id": ("gauge", {"server_id"}),
    "etcd_server_version": ("gauge", {"server_version"}),
    "etcd_cluster_version": ("gauge", {"cluster_version"}),
    "etcd_server_health_success": ("counter", set()),
    "etcd_server_health_failures": ("counter", set()),
    "etcd_disk_wal_fsync_duration_seconds": ("histogram", set()),
    "etcd_disk_backend_commit_duration_seconds": ("histogram", set()),
    "etcd_disk_wal_write_bytes_total": ("gauge", set()),
    "etcd_mvcc_db_total_size_in_bytes": ("gauge", set()),
    "etcd_mvcc_db_total_size_in_use_in_bytes": ("gauge", set()),
    "etcd_mvcc_put_total": ("counter", set()),
    "etcd_mvcc_delete_total": ("counter", set()),
    "etcd_mvcc_range_total": ("counter", set()),
    "etcd_mvcc_txn_total": ("counter", set()),
    "etcd_debugging_mvcc_put_total": ("counter", set()),
    "etcd_debugging_mvcc_delete_total": ("counter", set()),
    "etcd_debugging_mvcc_range_total": ("counter", set()),
    "etcd_debugging_mvcc_txn_total": ("counter", set()),
    "etcd_debugging_mvcc_db_total_size_in_bytes": ("gauge", set()),
    "etcd_debugging_mvcc_current_revision": ("gauge", set()),
    "etcd_debugging_mvcc_compact_revision": ("gauge", set()),
    "etcd_debugging_lease_granted_total": ("counter", set()),
    "etcd_debugging_lease_revoked_total": ("counter", set()),
    "etcd_debugging_lease_renewed_total": ("counter", set()),
    "etcd_debugging_lease_ttl_total": ("histogram", set()),
    "etcd_debugging_server_lease_expired_total": ("counter", set()),
    "etcd_network_active_peers": ("gauge", {"Local", "Remote"}),
    "etcd_network_peer_sent_failures_total": ("counter", {"To"}),
    "etcd_network_peer_sent_bytes_total": ("counter", {"To"}),
    "etcd_network_peer_received_bytes_total": ("counter", {"From"}),
    "etcd_network_snapshot_send_success": ("counter", {"To"}),
    "etcd_network_snapshot_send_failures": ("counter", {"To"}),
    "grpc_server_started_total": ("counter", {"grpc_type", "grpc_service", "grpc_method"}),
    "grpc_server_handled_total": ("counter", {"grpc_type", "grpc_service", "grpc_method", "grpc_code"}),
    "grpc_server_msg_received_total": ("counter", {"grpc_type", "grpc_service", "grpc_method"}),
    "grpc_server_msg_sent_total": ("counter", {"grpc_type", "grpc_service", "grpc_method"}),
    "process_cpu_seconds_total": ("counter", set()),
    "process_resident_memory_bytes": ("gauge", set()),
    "process_virtual_memory_bytes": ("gauge", set()),
    "process_virtual_memory_max_bytes": ("gauge", set()),
    "process_open_fds": ("gauge", set()),
    "process_max_fds": ("gauge", set()),
    "process_start_time_seconds": ("gauge", set()),
}
CLUSTER_ONLY = {"etcd_network_active_peers", "etcd_network_peer_sent_failures_total",
                "etcd_network_peer_sent_bytes_total", "etcd_network_peer_received_bytes_total",
                "etcd_network_snapshot_send_success", "etcd_network_snapshot_send_failures"}

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{family: {"type": t, "samples": [(name, {labels}, value)]}}"""
    families, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            families.setdefault(name, {"type": kind, "samples": []})
            continue
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"unparsable line: {line!r}"
        name, labels, value = m.group(1), dict(LABEL.findall(m.group(3) or "")), float(m.group(4))
        family = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and types.get(name[: -len(suffix)]) == "histogram":
                family = name[: -len(suffix)]
        families.setdefault(family, {"type": types.get(family, "untyped"), "samples": []})
        families[family]["samples"].append((name, labels, value))
    return families


def label_names(family):
    names = set()
    for _, labels, _ in family["samples"]:
        names |= set(labels) - {"le"}
    return names


def value(families, name, **labels):
    family = families.get(name) or families.get(re.sub(r"_(bucket|sum|count)$", "", name))
    assert family is not None, f"{name} not served"
    for sample, got, v in family["samples"]:
        if sample == name and all(got.get(k) == want for k, want in labels.items()):
            return v
    raise AssertionError(f"no sample {name} {labels}")


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return parse(r.read().decode())


def health(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


class Node(ServerProcess):
    """One started member (named "default") with a metrics listener; serving once /health is 200."""

    STOP_TIMEOUT_S = 10

    def __init__(self, binary, tmp, name):
        super().__init__(name, os.path.join(tmp, name + ".log"))
        self.binary = binary
        self.client, self.peer, self.metrics = free_port(), free_port(), free_port()
        self.data = os.path.join(tmp, name)
        self.spawn()
        try:
            self.wait_until_serving(lambda: health(self.metrics) == 200, 30, interval=0.1,
                                    retry_on=(OSError,))
        except StartError:
            self.kill()
            raise

    def command(self):
        return member_command(self.binary, "default", self.data, loopback_url(self.client),
                              loopback_url(self.peer),
                              extra_flags=["--listen-metrics-urls", loopback_url(self.metrics)])

    def ctl(self, *args, stdin="", check=True):
        env = dict(os.environ, ETCDCTL_API="3")
        r = subprocess.run([ETCDCTL, "--endpoints", f"127.0.0.1:{self.client}", *args], input=stdin,
                           capture_output=True, text=True, timeout=20, env=env)
        if check and r.returncode != 0:
            raise AssertionError(f"etcdctl {args}: {r.stderr}")
        return r


def workload(node):
    for i in range(5):
        node.ctl("put", f"k{i}", f"v{i}")
    node.ctl("del", "k4")
    out = node.ctl("txn", "--interactive=false", stdin='value("k0") = "v0"\n\nput k0 w0\nget k1\n\n\n').stdout
    assert "SUCCESS" in out, out
    lease = re.search(r"lease ([0-9a-f]+) granted", node.ctl("lease", "grant", "60").stdout).group(1)
    node.ctl("lease", "keep-alive", "--once", lease)
    node.ctl("lease", "revoke", lease)
    node.ctl("compact", "4")
    bad = node.ctl("get", "k0", "--rev", "2", check=False)
    assert bad.returncode != 0 and "compacted" in bad.stderr, bad.stderr
    assert health(node.metrics) == 200


class EtcdMetricsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="cairn-metrics-")
        cls.nodes = []
        try:
            cls.cairnd = Node(CAIRND, cls.tmp, "cairnd")
            cls.nodes.append(cls.cairnd)
            cls.etcd = None
            if os.path.exists(ETCD):
                cls.etcd = Node(ETCD, cls.tmp, "etcd")
                cls.nodes.append(cls.etcd)
            for n in cls.nodes:
                workload(n)
            cls.cairnd_metrics = scrape(cls.cairnd.metrics)
            cls.etcd_metrics = scrape(cls.etcd.metrics) if cls.etcd else None
        except BaseException:
            cls.tearDownClass()  # unittest does not call it when setUpClass fails
            raise

    @classmethod
    def tearDownClass(cls):
        for n in cls.nodes:
            n.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_values_follow_the_workload(self):
        m = self.cairnd_metrics
        kv = dict(grpc_service="etcdserverpb.KV", grpc_type="unary")
        self.assertEqual(value(m, "grpc_server_handled_total", grpc_method="Put", grpc_code="OK", **kv), 5)
        self.assertEqual(value(m, "grpc_server_started_total", grpc_method="Put", **kv), 5)
        self.assertEqual(value(m, "grpc_server_handled_total", grpc_method="DeleteRange", grpc_code="OK", **kv), 1)
        self.assertEqual(value(m, "grpc_server_handled_total", grpc_method="Txn", grpc_code="OK", **kv), 1)
        self.assertEqual(value(m, "grpc_server_handled_total", grpc_method="Range", grpc_code="OutOfRange", **kv), 1)
        self.assertEqual(value(m, "grpc_server_handled_total", grpc_method="Compact", grpc_code="OK", **kv), 1)
        # A method never called is listed at 0, so rate() works from the start.
        self.assertEqual(value(m, "grpc_server_handled_total", grpc_method="Defragment", grpc_code="OK",
                               grpc_service="etcdserverpb.Maintenance", grpc_type="unary"), 0)
        lease = dict(grpc_service="etcdserverpb.Lease")
        self.assertEqual(value(m, "grpc_server_handled_total", grpc_method="LeaseGrant", grpc_code="OK", **lease), 1)
        self.assertGreaterEqual(value(m, "grpc_server_msg_received_total", grpc_method="LeaseKeepAlive",
                                      grpc_type="bidi_stream", **lease), 1)
        # put_total: 5 puts + the txn's put; range_total: the txn's get (the failed read did not run).
        self.assertEqual(value(m, "etcd_mvcc_put_total"), 6)
        self.assertEqual(value(m, "etcd_mvcc_delete_total"), 1)
        self.assertEqual(value(m, "etcd_mvcc_txn_total"), 1)
        self.assertGreaterEqual(value(m, "etcd_mvcc_range_total"), 1)
        self.assertEqual(value(m, "etcd_debugging_mvcc_put_total"), 6)
        self.assertEqual(value(m, "etcd_debugging_mvcc_compact_revision"), 4)
        self.assertEqual(value(m, "etcd_debugging_mvcc_current_revision"), 8)
        self.assertEqual(value(m, "etcd_debugging_lease_granted_total"), 1)
        self.assertEqual(value(m, "etcd_debugging_lease_revoked_total"), 1)
        self.assertEqual(value(m, "etcd_debugging_lease_renewed_total"), 1)
        self.assertEqual(value(m, "etcd_debugging_lease_ttl_total_bucket", le="64"), 1)
        self.assertEqual(value(m, "etcd_debugging_lease_ttl_total_bucket", le="32"), 0)
        self.assertGreater(value(m, "etcd_disk_wal_fsync_duration_seconds_count"), 0)
        self.assertEqual(value(m, "etcd_disk_wal_fsync_duration_seconds_bucket", le="+Inf"),
                         value(m, "etcd_disk_wal_fsync_duration_seconds_count"))
        self.assertGreaterEqual(value(m, "etcd_disk_backend_commit_duration_seconds_count"), 9)
        self.assertGreater(value(m, "etcd_disk_wal_write_bytes_total"), 0)
        self.assertEqual(value(m, "etcd_server_has_leader"), 1)
        self.assertEqual(value(m, "etcd_server_is_leader"), 1)
        self.assertEqual(value(m, "etcd_server_leader_changes_seen_total"), 1)
        self.assertEqual(value(m, "etcd_server_proposals_failed_total"), 0)
        self.assertGreaterEqual(value(m, "etcd_server_proposals_applied_total"), 10)
        self.assertGreaterEqual(value(m, "etcd_server_health_success"), 2)  # readiness probes and workload
        self.assertEqual(value(m, "etcd_server_health_failures"), 0)
        self.assertEqual(value(m, "etcd_server_quota_backend_bytes"), 2 * 1024 ** 3)
        self.assertGreater(value(m, "etcd_mvcc_db_total_size_in_bytes"), 0)
        self.assertGreater(value(m, "process_resident_memory_bytes"), 1 << 20)
        self.assertGreater(value(m, "process_open_fds"), 3)
        self.assertAlmostEqual(value(m, "process_start_time_seconds"), time.time(), delta=600)
        self.assertFalse([n for n in m if n.startswith("go_")])

    def test_promised_names_have_etcds_types_and_labels(self):
        m = self.cairnd_metrics
        for name, (kind, labels) in PROMISED.items():
            with self.subTest(name=name):
                self.assertTrue(name in m, f"cairnd does not serve {name}")
                self.assertEqual(m[name]["type"], kind)
                if m[name]["samples"]:
                    self.assertEqual(label_names(m[name]), labels)
        if self.etcd_metrics is None:
            self.skipTest("no /usr/bin/etcd to compare with")
        e = self.etcd_metrics
        for name, (kind, labels) in PROMISED.items():
            if name in CLUSTER_ONLY:
                continue
            with self.subTest(etcd=name):
                self.assertTrue(name in e, f"etcd does not serve {name}")
                self.assertEqual(e[name]["type"], kind)
                self.assertEqual(label_names(e[name]), labels)

    maxDiff = None

    def test_grpc_series_match_etcds_for_the_same_calls(self):
        if self.etcd_metrics is None:
            self.skipTest("no /usr/bin/etcd to compare with")
        # Unary calls only: a stream the client closes ends OK on cairnd, Unavailable on etcd 3.4
        # (its handler sees the cancelled context), which etcd-mixin's failed-gRPC alert counts.
        def nonzero(fams, name):
            return {tuple(sorted(l.items())): v for _, l, v in fams[name]["samples"]
                    if v and l["grpc_type"] == "unary"}
        for name in ("grpc_server_started_total", "grpc_server_handled_total"):
            with self.subTest(name=name):
                self.assertEqual(nonzero(self.cairnd_metrics, name), nonzero(self.etcd_metrics, name))
        # Buckets of the disk histograms are etcd's.
        for name in ("etcd_disk_wal_fsync_duration_seconds", "etcd_disk_backend_commit_duration_seconds"):
            les = lambda fams: [float(l["le"]) for s, l, _ in fams[name]["samples"] if s.endswith("_bucket")]
            self.assertEqual(les(self.cairnd_metrics), les(self.etcd_metrics))


if __name__ == "__main__":
    if not CAIRND or not os.path.exists(CAIRND):
        print("CAIRND not set or missing; skipping")
        sys.exit(77)
    unittest.main()
