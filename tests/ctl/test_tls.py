#!/usr/bin/python3
"""TLS flags: cairnctl and etcdctl against a server that requires client certificates
(--cacert/--cert/--key over https://), server verification failures, and
--insecure-skip-tls-verify. Certificates are made with the openssl command line.
SERVER_KIND=etcd|cairnd; both take etcd's TLS flags, so a server that does not start with them
fails the test."""
import os
import sys
import unittest

import ctl_harness as h

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tls"))
from tls_harness import make_certs  # noqa: E402  (ca, other-ca, server, client, other)

CAIRNCTL = h.cairnctl_path()
KIND, BINARY = h.server_binary()


class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = h.TempDir()
        cls.dir = cls.tmp.__enter__()
        make_certs(cls.dir)
        p = lambda n: os.path.join(cls.dir, n)
        cls.server = h.Server(KIND, BINARY, cls.dir, "tls")
        cls.server.scheme = "https"
        cls.server.extra = ["--cert-file", p("server.crt"), "--key-file", p("server.key"),
                            "--trusted-ca-file", p("ca.crt"), "--client-cert-auth"]
        cls.client_flags = ["--cacert", p("ca.crt"), "--cert", p("client.crt"), "--key", p("client.key")]
        try:
            cls.server.start(probe_flags=cls.client_flags)
        except RuntimeError:
            cls.server.stop()
            cls.tmp.__exit__(None, None, None)
            raise
        cls.url = f"https://{cls.server.endpoint}"
        out, err, rc = h.run(h.ETCDCTL, cls.url, cls.client_flags + ["put", "foo", "bar"])
        assert rc == 0, err

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.tmp.__exit__(None, None, None)

    def compare(self, args):
        want = h.run(h.ETCDCTL, self.url, args)
        got = h.run(CAIRNCTL, self.url, args)
        self.assertEqual(want, got, f"args: {args}")
        return got

    def test_mutual_tls(self):
        out, _, rc = self.compare(self.client_flags + ["get", "foo"])
        self.assertEqual((out, rc), ("foo\nbar\n", 0))
        self.compare(self.client_flags + ["-w", "json", "get", "foo"])

    def test_https_endpoint_without_scheme_needs_insecure_transport_false(self):
        flags = self.client_flags + ["--insecure-transport=false"]
        want = h.run(h.ETCDCTL, self.server.endpoint, flags + ["get", "foo"])
        got = h.run(CAIRNCTL, self.server.endpoint, flags + ["get", "foo"])
        self.assertEqual(want, got)

    def test_untrusted_server_fails_and_skip_verify_connects(self):
        p = lambda n: os.path.join(self.dir, n)
        wrong_ca = ["--cacert", p("other-ca.crt"), "--cert", p("client.crt"), "--key", p("client.key"),
                    "--dial-timeout", "1s", "--command-timeout", "2s"]
        out, err, rc = h.run(CAIRNCTL, self.url, wrong_ca + ["get", "foo"])
        self.assertEqual((out, rc), ("", 1), err)
        self.assertIn("Error: ", err)
        skip = wrong_ca + ["--insecure-skip-tls-verify"]
        got = h.run(CAIRNCTL, self.url, skip + ["get", "foo"])
        self.assertEqual(got, ("foo\nbar\n", "", 0))

    def test_empty_tls_flag_is_rejected_like_etcdctl(self):
        self.compare(["--cacert", "", "get", "foo"])


if __name__ == "__main__":
    h.main()
