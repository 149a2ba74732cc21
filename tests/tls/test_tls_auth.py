#!/usr/bin/python3
"""Authentication by client certificate: with --client-cert-auth and auth enabled, a call that
carries no token runs as the user named by its verified certificate's Common Name, as etcd does.
The same etcdctl 3.4 script runs against real etcd 3.4 and against cairnd, and their answers
(stdout, the Error line, exit code) must match step for step."""
import os
import unittest

import tls_harness as h

ETCD = "/usr/bin/etcd"


class Etcd(h.Cairnd):
    """Real etcd 3.4 with the same flags (cairnd takes etcd's names)."""

    def command(self):
        return [ETCD] + super().command()[1:]


def make_user_certs(d):
    for name in ("root", "alice"):
        h.openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                  "-subj", f"/CN={name}", cwd=d)
        h.openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                  "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", "san.cnf", cwd=d)


# (certificate CN to connect with, extra etcdctl flags, etcdctl command)
SCRIPT = [
    ("client", [], ["user", "add", "root", "--new-user-password=rootpw"]),
    ("client", [], ["user", "grant-role", "root", "root"]),
    ("client", [], ["role", "add", "app"]),
    ("client", [], ["role", "grant-permission", "app", "readwrite", "/app/", "--prefix=true"]),
    ("client", [], ["user", "add", "alice", "--new-user-password=alicepw"]),
    ("client", [], ["user", "grant-role", "alice", "app"]),
    ("client", [], ["auth", "enable"]),
    ("root", [], ["put", "/other", "by-root"]),            # CN root: everything
    ("alice", [], ["put", "/app/x", "by-alice"]),         # inside alice's prefix
    ("alice", [], ["put", "/other", "by-alice"]),         # outside it
    ("alice", [], ["get", "/other"]),
    ("alice", [], ["get", "/app/x"]),
    ("client", [], ["get", "/app/x"]),                    # a CN that is no user
    ("alice", ["--user", "root:rootpw"], ["put", "/other", "token-wins"]),  # a token beats the CN
    ("root", [], ["get", "/other"]),
    ("alice", [], ["user", "list"]),                      # admin only
    ("root", [], ["user", "list"]),
    ("root", [], ["auth", "disable"]),
    ("client", [], ["get", "/other"]),
]


def error_line(stderr):
    lines = [l for l in stderr.splitlines() if l.startswith("Error")]
    return lines[-1] if lines else ""


class CertificateAuthTest(unittest.TestCase):
    def run_script(self, server_class, d):
        p = lambda name: os.path.join(d, name)
        server = server_class(d, server_class.__name__.lower(), client_scheme="https", flags=[
            "--cert-file", p("server.crt"), "--key-file", p("server.key"),
            "--trusted-ca-file", p("ca.crt"), "--client-cert-auth"])
        self.addCleanup(server.stop)
        creds = lambda cn: ["--cacert", p("ca.crt"), "--cert", p(f"{cn}.crt"), "--key", p(f"{cn}.key")]
        server.start().wait_ready(creds("client"))
        answers = []
        for cn, extra, command in SCRIPT:
            out, err, rc = h.etcdctl(server.client_url, creds(cn) + extra + command)
            answers.append((cn, " ".join(extra + command), out, error_line(err), rc))
        server.stop()
        return answers

    def test_common_name_is_the_user_on_both_servers(self):
        if not os.access(ETCD, os.X_OK):
            self.skipTest("etcd not installed")
        with h.TempDir() as d:
            h.make_certs(d)
            make_user_certs(d)
            etcd = self.run_script(Etcd, d)
            cairn = self.run_script(h.Cairnd, d)
        diffs = [f"{e[0]}: {e[1]}\n  etcd:  {e[2:]}\n  cairn: {c[2:]}" for e, c in zip(etcd, cairn) if e != c]
        self.assertEqual(diffs, [], "\n".join(diffs))
        # What the comparison rests on, as etcd answered it.
        by_step = {(a[0], a[1]): a for a in etcd}
        self.assertEqual(by_step[("alice", "put /app/x by-alice")][4], 0)
        self.assertIn("permission denied", by_step[("alice", "put /other by-alice")][3])
        self.assertEqual(by_step[("root", "get /other")][2], "/other\ntoken-wins\n")


if __name__ == "__main__":
    h.main()
