#!/usr/bin/python3
"""cairnctl's `check perf` and `check datascale` against a real server (SERVER_KIND), next to
etcdctl 3.4: the same lines (progress line, verdicts, memory figure), exit codes consistent with
the verdict, the check's keys cleaned up, and the same argument errors. `check perf` runs for 3 s
through the test-only CAIRNCTL_CHECK_PERF_SECONDS; whether it PASSes depends on the machine, so
only the format and the consistency of the verdict with the exit code are asserted."""
import json
import re

import ctl_harness as h

CAIRNCTL = h.cairnctl_path()
TOOLS = {"cairnctl": CAIRNCTL, "etcdctl": h.ETCDCTL}
PERF_SECONDS = 3
PERF_RATE_S = 150  # etcdctl's "s" model: 150 writes/s

# A progress line of pb.v1 without a terminal: counters, percent, maybe the time left/taken.
PROGRESS = re.compile(r"^ \d+ / \d+ +\d+\.\d\d%( (\d+m\d\ds|[0-9.hms]+))?$")
VERDICTS = [
    re.compile(r"^(PASS: Throughput is|FAIL: Throughput too low:) -?\d+ writes/s$"),
    re.compile(r"^(PASS: Slowest request took|Slowest request took too long:) (\d+\.\d{6}|NaN)s$"),
    re.compile(r"^(PASS: Stddev is|Stddev too high:) (\d+\.\d{6}|NaN)s$"),
]
MEMORY = re.compile(r"^PASS: Approximate system memory used : -?\d+\.\d\d MB\.$")


def split_output(out):
    """(progress segments, the other lines) of a check's stdout."""
    progress, lines = [], []
    for line in out.split("\n"):
        if "\r" in line:
            parts = line.split("\r")
            if parts[0]:
                lines.append(parts[0])
            progress += [p for p in parts[1:]]
        elif line:
            lines.append(line)
    return progress, lines


class CheckTest(h.OneServerTest):
    def run_tool(self, tool, *args, env=None, timeout=60):
        out, err, rc = h.run(TOOLS[tool], self.server.endpoint, list(args), env=env, timeout=timeout)
        return out, err.strip(), rc

    def revision(self):
        out, _, _ = h.run(h.ETCDCTL, self.server.endpoint, ["get", "x", "-w", "json"])
        return int(json.loads(out)["header"]["revision"])

    def keys_under(self, prefix):
        out, _, _ = h.run(h.ETCDCTL, self.server.endpoint, ["get", prefix, "--prefix", "--keys-only"])
        return out

    def test_perf_prints_etcdctl_verdicts_and_cleans_up(self):
        before = self.revision()
        out, err, rc = self.run_tool("cairnctl", "check", "perf", "--prefix", "/ckp/", "--auto-compact",
                                     "--auto-defrag", env={"CAIRNCTL_CHECK_PERF_SECONDS": str(PERF_SECONDS)})
        progress, lines = split_output(out)
        self.assertTrue(progress, out)
        for seg in progress:
            self.assertRegex(seg, PROGRESS)
        self.assertTrue(progress[-1].startswith(f" {PERF_SECONDS} / {PERF_SECONDS} "), progress[-1])
        self.assertTrue(progress[-1].endswith(f"100.00% {PERF_SECONDS}s"), progress[-1])
        # After the bar: compaction and defragmentation (asked for), then the verdicts.
        deleted_at = int(re.match(r"^Compacting with revision (\d+)$", lines[0]).group(1))
        self.assertEqual(lines[1], f"Compacted with revision {deleted_at}")
        self.assertEqual(lines[2], f'Defragmenting "{self.server.endpoint}"')
        self.assertEqual(lines[3], f'Defragmented "{self.server.endpoint}"')
        verdict = lines[4:]
        errors = [line for line in verdict if line.startswith("FAIL: ERROR(") or line == "FAIL: too many errors"]
        verdict = verdict[len(errors):]
        self.assertEqual(len(verdict), 4, out)
        for line, pattern in zip(verdict, VERDICTS):
            self.assertRegex(line, pattern)
        all_pass = not errors and all(line.startswith("PASS: ") for line in verdict[:3])
        self.assertEqual(verdict[3], "PASS" if all_pass else "FAIL")
        self.assertEqual(rc, 0 if all_pass else 1, err)
        # The writes were paced at the model's rate (never above it) and all deleted afterwards.
        writes = deleted_at - 1 - before
        self.assertGreater(writes, PERF_SECONDS, "the load did not run")
        self.assertLessEqual(writes, PERF_SECONDS * PERF_RATE_S + 1)
        printed = int(re.search(r"(-?\d+) writes/s", verdict[0]).group(1))
        self.assertLessEqual(printed, writes // PERF_SECONDS + 1)
        self.assertEqual(self.keys_under("/ckp/"), "")

    def test_datascale_matches_etcdctl_and_cleans_up(self):
        results = {}
        for tool in TOOLS:
            out, err, rc = self.run_tool(tool, "check", "datascale", "--prefix", f"/ckd-{tool}/", timeout=90)
            self.assertEqual(rc, 0, f"{tool}: {err}")
            results[tool] = split_output(out)
            self.assertEqual(self.keys_under(f"/ckd-{tool}/"), "", f"{tool} left its keys")
        (c_progress, c_lines), (e_progress, e_lines) = results["cairnctl"], results["etcdctl"]
        self.assertEqual(c_lines[0], e_lines[0])
        self.assertEqual(c_lines[0], "Start data scale check for work load [10000 key-value pairs, "
                                     "1024 bytes per key-value, 50 concurrent clients].")
        for seg in c_progress:
            self.assertRegex(seg, PROGRESS)
        self.assertEqual(c_progress[0], e_progress[0])
        self.assertTrue(c_progress[-1].startswith(" 10000 / 10000  100.00% "), c_progress[-1])
        self.assertEqual(len(c_lines), 2, c_lines)
        self.assertRegex(c_lines[1], MEMORY)
        self.assertRegex(e_lines[1], MEMORY)

    def test_argument_errors_match_etcdctl(self):
        h.run(h.ETCDCTL, self.server.endpoint, ["put", "/busy/k", "v"])
        cases = [
            ["check", "perf", "--load", "huge"],
            ["check", "datascale", "--load", "q"],
            ["check", "perf", "--prefix", "/busy/"],
            ["check", "datascale", "--prefix", "/busy/"],
        ]
        for args in cases:
            with self.subTest(args=args):
                got = {tool: self.run_tool(tool, *args) for tool in TOOLS}
                self.assertEqual(got["cairnctl"], got["etcdctl"])
                self.assertIn(got["cairnctl"][2], (3, 4))
        self.assertIn("/busy/k", self.keys_under("/busy/"), "a refused check touched existing keys")


if __name__ == "__main__":
    h.main()
