#!/usr/bin/python3
"""Debian's etcdctl 3.4 against etcd 3.4 and the server under test, side by side.

Each test runs the same etcdctl script against a fresh etcd and a fresh subject
and fails on any difference in exit code, stdout or stderr once header
identities (cluster_id, member_id, raft_term) and log timestamps are masked.
Revisions are compared as they are: both servers start from an empty data dir
and see the same operations, so they must number revisions identically.

etcdctl 3.4 has no --count-only flag (it arrived in 3.5); count_only is
checked over raw gRPC in test_python_client.py instead.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Step  # noqa: E402


def seed_steps():
    """Keys whose create/mod revisions, versions and values sort differently."""
    return [
        Step("put", "b", "zeta"),
        Step("put", "a", "mu"),
        Step("put", "ab", "alpha"),
        Step("put", "abc", "omega"),
        Step("put", "c", "beta"),
        Step("put", "a", "gamma"),          # a: version 2
        Step("put", "b", "delta"),          # b: version 2
        Step("put", "b", "epsilon"),        # b: version 3
        Step("put", "dir/1", "one"),
        Step("put", "dir/2", "two"),
        Step("put", "dir/3", "three"),
        Step("put", "ключ", "значение с пробелами"),
        Step("put", "e", ""),               # empty value is legal
    ]


class EtcdctlPutGet(harness.ServerPairTest):

    def test_put_variants(self):
        self.compare(seed_steps() + [
            Step("put", "a", "again", "--prev-kv"),
            Step("put", "new", "first", "--prev-kv"),
            Step("put", "a", "json", "-w", "json"),
            Step("put", "a", "json2", "--prev-kv", "-w", "json"),
            Step("put", "a", "--ignore-value"),
            Step("get", "a", "-w", "json"),
            Step("put", "a", "fields", "-w", "fields"),
            Step("put", "stdin-key", stdin="value from stdin"),
            Step("get", "stdin-key", "--print-value-only"),
        ])

    def test_get_ranges(self):
        self.compare(seed_steps() + [
            Step("get", "a"),
            Step("get", "missing"),
            Step("get", "a", "--prefix"),
            Step("get", "dir/", "--prefix"),
            Step("get", "a", "c"),                  # [a, c)
            Step("get", "b", "--from-key"),
            Step("get", "", "--from-key"),
            Step("get", "a", "--prefix", "--limit", "2"),
            Step("get", "", "--from-key", "--limit", "1", "-w", "json"),
            Step("get", "a", "--prefix", "--limit", "0"),
            Step("get", "zzz", "--prefix"),
            Step("get", "a", "--hex"),
            Step("get", "ключ"),
            Step("get", "e", "-w", "json"),
            Step("get", "dir/", "--prefix", "-w", "json"),
            Step("get", "dir/", "--prefix", "-w", "fields"),
            Step("get", "missing", "-w", "json"),
        ])

    def test_get_revisions(self):
        self.compare(seed_steps() + [
            Step("get", "a", "--rev", "2"),         # before a existed
            Step("get", "a", "--rev", "3"),
            Step("get", "a", "--rev", "6"),
            Step("get", "b", "--rev", "7", "-w", "json"),
            Step("get", "", "--from-key", "--rev", "5"),
            Step("get", "", "--from-key", "--rev", "5", "-w", "json"),
            Step("get", "dir/", "--prefix", "--rev", "10", "-w", "json"),
            Step("get", "a", "--rev", "0"),         # 0 means current
        ])

    def test_get_sort_and_projection(self):
        steps = seed_steps()
        for target in ("CREATE", "KEY", "MODIFY", "VALUE", "VERSION"):
            for order in ("ASCEND", "DESCEND"):
                steps.append(Step("get", "", "--from-key", "--sort-by", target,
                                  "--order", order, "--keys-only"))
        steps += [
            Step("get", "", "--from-key", "--order", "DESCEND"),
            Step("get", "", "--from-key", "--sort-by", "VALUE"),   # order defaults
            Step("get", "", "--from-key", "--sort-by", "MODIFY", "--order", "DESCEND",
                 "--limit", "3", "-w", "json"),
            Step("get", "a", "--prefix", "--keys-only"),
            Step("get", "a", "--prefix", "--keys-only", "-w", "json"),
            Step("get", "a", "--prefix", "--print-value-only"),
            Step("get", "a", "--prefix", "--limit", "1", "-w", "json"),
            Step("get", "", "--from-key", "--keys-only", "--limit", "2", "--sort-by", "VERSION",
                 "--order", "DESCEND", "-w", "json"),
        ]
        self.compare(steps)


class EtcdctlWatch(harness.ServerPairTest):

    def test_watch_history(self):
        harness.run_script(self.ref, seed_steps())
        harness.run_script(self.subj, seed_steps())
        # (args, number of output lines the history produces)
        cases = [
            (("watch", "dir/", "--prefix", "--rev", "2"), 9),
            (("watch", "b", "--rev", "1", "--prev-kv"), 3 * 3 + 2 * 2),
            (("watch", "a", "c", "--rev", "4"), 5 * 3),
            (("watch", "", "--prefix", "--rev", "12"), 3 * 3),
        ]
        # Not compared: -w json, which shows how events are batched into
        # responses, a server's choice that clients don't depend on.
        diffs = []
        for args, lines in cases:
            r = harness.etcdctl_stream(self.ref, *args, lines=lines)
            s = harness.etcdctl_stream(self.subj, *args, lines=lines)
            steps = [Step(*args, compare_stderr=False)]
            diffs += harness.compare_scripts(steps, [r], [s])
        harness.fail_if_any(self, diffs, "\n".join(diffs))


class EtcdctlCluster(harness.ServerPairTest):

    def test_member_list(self):
        self.compare([
            Step("member", "list"),
            Step("member", "list", "-w", "json"),
        ])


class EtcdctlDelete(harness.ServerPairTest):

    def test_delete_variants(self):
        self.compare(seed_steps() + [
            Step("del", "missing"),
            Step("del", "c"),
            Step("get", "c", "--rev", "6"),
            Step("del", "a", "--prev-kv"),
            Step("del", "dir/", "--prefix"),
            Step("get", "", "--from-key", "--keys-only"),
            Step("put", "dir/x", "1"),
            Step("put", "dir/y", "2"),
            Step("del", "dir/", "--prefix", "--prev-kv"),
            Step("put", "dir/z", "3"),
            Step("del", "dir/", "--prefix", "--prev-kv", "-w", "json"),
            Step("del", "ab", "b", "-w", "json"),        # range [ab, b)
            Step("del", "e", "--from-key"),
            Step("get", "", "--from-key", "-w", "json"),
            Step("del", "nothing-here", "--prefix", "-w", "json"),
            Step("get", "a", "--rev", "3"),              # history survives deletion
        ])


def txn(compares, success, failure):
    return "\n".join(compares) + "\n\n" + "\n".join(success) + "\n\n" + \
        "\n".join(failure) + "\n\n"


class EtcdctlTxn(harness.ServerPairTest):

    def test_txn_from_stdin(self):
        self.compare(seed_steps() + [
            Step("txn", stdin=txn(['value("a") = "gamma"'], ["put a txn1"], ["put a bad"])),
            Step("txn", stdin=txn(['value("a") = "gamma"'], ["put a bad"], ["put a txn2"])),
            Step("txn", stdin=txn(['version("b") = "3"', 'create("b") = "2"'],
                                  ["get b", "put b txn3"], ["del b"])),
            Step("txn", stdin=txn(['mod("c") > "1000"'], ["del c"], ["get c", "get dir/ --prefix"])),
            Step("txn", stdin=txn(['create("nope") = "0"'], ["put nope created", "del c"], [])),
            Step("txn", "-w", "json",
                 stdin=txn(['value("a") != "x"'], ["get a", "put x 1", "del dir/1"], ["put y 1"])),
            Step("txn", "-w", "json",
                 stdin=txn(['version("b") < "1"'], [], ["get dir/ --prefix", "get x"])),
            Step("txn", stdin=txn([], ["put empty-compare yes"], [])),
            Step("txn", stdin=txn([], [], [])),
            Step("txn", stdin=txn(['value("a") > "a"', 'mod("b") < "100"'],
                                  ["del dir/ --prefix", "put a last"], [])),
            Step("get", "", "--from-key", "-w", "json"),
            Step("txn", stdin="not a compare\n\n\n"),   # client-side parse error
        ])


class EtcdctlCompaction(harness.ServerPairTest):

    def test_compaction(self):
        self.compare(seed_steps() + [
            Step("compaction", "5"),
            Step("get", "a", "--rev", "5"),
            Step("get", "a", "--rev", "6", "-w", "json"),
            Step("get", "", "--from-key", "--rev", "5", "--keys-only"),
            Step("compaction", "8", "--physical"),
            Step("get", "b", "--rev", "8"),
            Step("get", "", "--from-key", "-w", "json"),
            Step("put", "after", "compaction", "-w", "json"),
            Step("compaction", "14", "-w", "json"),
            Step("get", "", "--from-key", "--keys-only", "-w", "json"),
        ])


if __name__ == "__main__":
    harness.main_or_skip()
