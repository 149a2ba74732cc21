#!/usr/bin/python3
"""cairnd serving clients over https: mutual TLS with etcdctl 3.4 and python3-etcd3, the
failures a user relies on (unverified server, missing or foreign client certificate), plaintext
beside TLS, --auto-tls, and start-up errors that name the problem."""
import json
import os
import unittest

import tls_harness as h


class MutualTlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = h.TempDir()
        cls.dir = cls.tmp.__enter__()
        h.make_certs(cls.dir)
        p = cls.p
        cls.http_port = h.free_port()
        cls.server = h.Cairnd(cls.dir, "m0", client_scheme="https", flags=[
            "--cert-file", p("server.crt"), "--key-file", p("server.key"),
            "--trusted-ca-file", p("ca.crt"), "--client-cert-auth"])
        # A second, plaintext client listener: http URLs ignore the TLS flags.
        cls.plain_url = f"http://127.0.0.1:{cls.http_port}"
        cls.server.flags += ["--listen-client-urls", f"{cls.server.client_url},{cls.plain_url}"]
        cls.good = ["--cacert", p("ca.crt"), "--cert", p("client.crt"), "--key", p("client.key")]
        cls.server.start().wait_ready(cls.good)

    @classmethod
    def p(cls, name):
        return os.path.join(cls.dir, name)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.tmp.__exit__(None, None, None)

    def ctl(self, flags, args):
        return h.etcdctl(self.server.client_url, flags + args)

    def test_etcdctl_with_ca_and_client_cert_puts_and_gets(self):
        _, err, rc = self.ctl(self.good, ["put", "k1", "v1"])
        self.assertEqual(rc, 0, err)
        out, err, rc = self.ctl(self.good, ["get", "k1"])
        self.assertEqual((out, rc), ("k1\nv1\n", 0), err)

    def test_without_cacert_the_server_is_not_trusted(self):
        out, err, rc = self.ctl(["--cert", self.p("client.crt"), "--key", self.p("client.key")], ["get", "k1"])
        self.assertNotEqual(rc, 0, out)
        self.assertEqual(out, "")

    def test_without_client_certificate_the_call_fails(self):
        out, err, rc = self.ctl(["--cacert", self.p("ca.crt")], ["get", "k1"])
        self.assertNotEqual(rc, 0, out)
        self.assertEqual(out, "")

    def test_client_certificate_from_another_ca_fails(self):
        out, err, rc = self.ctl(["--cacert", self.p("ca.crt"), "--cert", self.p("other.crt"),
                                 "--key", self.p("other.key")], ["get", "k1"])
        self.assertNotEqual(rc, 0, out)
        self.assertEqual(out, "")

    def test_plaintext_listener_beside_tls_needs_no_certificates(self):
        _, err, rc = self.ctl(self.good, ["put", "plain", "yes"])
        self.assertEqual(rc, 0, err)
        out, err, rc = h.etcdctl(self.plain_url, ["get", "plain"])
        self.assertEqual((out, rc), ("plain\nyes\n", 0), err)
        # ...and the https port refuses plaintext.
        out, _, rc = h.etcdctl(self.server.client_url.replace("https", "http"), ["get", "plain"])
        self.assertNotEqual(rc, 0, out)

    def test_member_list_advertises_https(self):
        out, err, rc = self.ctl(self.good, ["-w", "json", "member", "list"])
        self.assertEqual(rc, 0, err)
        urls = json.loads(out)["members"][0]["clientURLs"]
        self.assertEqual(urls, [self.server.client_url])

    def test_python_etcd3_with_client_certificate(self):
        import etcd3
        client = etcd3.client(host="127.0.0.1", port=self.server.client_port, ca_cert=self.p("ca.crt"),
                              cert_key=self.p("client.key"), cert_cert=self.p("client.crt"), timeout=5)
        try:
            client.put("py", "tls")
            value, _ = client.get("py")
            self.assertEqual(value, b"tls")
        finally:
            client.close()
        bare = etcd3.client(host="127.0.0.1", port=self.server.client_port, ca_cert=self.p("ca.crt"), timeout=3)
        try:
            with self.assertRaises(Exception):
                bare.get("py")
        finally:
            bare.close()


class StartupTest(unittest.TestCase):
    def setUp(self):
        self.tmp = h.TempDir()
        self.dir = self.tmp.__enter__()

    def tearDown(self):
        self.tmp.__exit__(None, None, None)

    def test_https_without_cert_and_key_exits_non_zero_naming_the_flags(self):
        rc, out = h.Cairnd(self.dir, "m0", client_scheme="https").run_to_exit()
        self.assertNotEqual(rc, 0, out)
        self.assertIn("--cert-file, --key-file", out)

    def test_https_peer_url_without_peer_cert_exits_non_zero(self):
        rc, out = h.Cairnd(self.dir, "m0", peer_scheme="https").run_to_exit()
        self.assertNotEqual(rc, 0, out)
        self.assertIn("--peer-cert-file, --peer-key-file", out)

    def test_unreadable_or_bad_certificate_file_is_named(self):
        bad = os.path.join(self.dir, "bad.crt")
        with open(bad, "w") as f:
            f.write("not a certificate\n")
        key = os.path.join(self.dir, "missing.key")
        rc, out = h.Cairnd(self.dir, "m0", client_scheme="https",
                           flags=["--cert-file", bad, "--key-file", key]).run_to_exit()
        self.assertNotEqual(rc, 0, out)
        self.assertIn(bad, out)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "m0", "member")), "data dir touched")

    def test_auto_tls_serves_https_with_a_generated_certificate(self):
        server = h.Cairnd(self.dir, "m0", client_scheme="https", flags=["--auto-tls"]).start()
        try:
            # etcdctl 3.4 honours --insecure-skip-tls-verify only with --insecure-transport=false.
            skip = ["--insecure-skip-tls-verify", "--insecure-transport=false"]
            server.wait_ready(skip)
            _, err, rc = h.etcdctl(server.client_url, skip + ["put", "a", "b"])
            self.assertEqual(rc, 0, err)
            self.assertTrue(os.path.exists(os.path.join(self.dir, "m0", "fixtures", "client", "cert.pem")))
            # A self-signed certificate is not trusted by default.
            out, _, rc = h.etcdctl(server.client_url, ["get", "a"])
            self.assertNotEqual(rc, 0, out)
        finally:
            server.stop()


if __name__ == "__main__":
    h.main()
