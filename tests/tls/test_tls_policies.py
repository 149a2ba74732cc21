#!/usr/bin/python3
"""etcd's certificate policies, run against real etcd 3.4 and cairnd with the same flags, which
must accept and refuse the same connections:
  --client-crl-file               revoked client certificates are refused, and a CRL replaced while
                                  the server runs applies to the next connection;
  --client-cert-allowed-hostname  the client certificate's SANs must cover the name;
  --peer-cert-allowed-cn          a member whose certificate has another CN cannot join;
  --cipher-suites                 TLS 1.2 handshakes offer only the listed suites (TLS 1.3 is not
                                  configurable, in Go as in OpenSSL), unknown names stop start-up.
Certificates and CRLs are made with the openssl CLI in a temp dir."""
import os
import socket
import subprocess
import time
import unittest

import tls_harness as h

ETCD = "/usr/bin/etcd"


class Etcd(h.Cairnd):
    """Real etcd 3.4 with the same flags (cairnd takes etcd's names)."""

    def command(self):
        return [ETCD] + super().command()[1:]


CA_CONFIG = """[ ca ]
default_ca = test_ca
[ test_ca ]
dir = .
database = index.txt
new_certs_dir = .
certificate = ca.crt
private_key = ca.key
default_md = sha256
default_crl_days = 2
policy = any_name
[ any_name ]
commonName = supplied
"""

# name -> (CN, SANs); every leaf is signed by ca and usable as server and client.
LEAVES = {
    "server": ("server", "IP:127.0.0.1"),
    "client": ("client", "DNS:client.example,IP:127.0.0.1"),
    "revoked": ("revoked", "DNS:client.example,IP:127.0.0.1"),
    "member": ("member", "IP:127.0.0.1"),
    "stranger": ("stranger", "IP:127.0.0.1"),
}


def make_certs(d):
    with open(os.path.join(d, "ca.cnf"), "w") as f:
        f.write(CA_CONFIG)
    open(os.path.join(d, "index.txt"), "w").close()
    h.openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
              "-days", "2", "-subj", "/CN=test-ca", cwd=d)
    for name, (cn, sans) in LEAVES.items():
        with open(os.path.join(d, f"{name}.ext"), "w") as f:
            f.write(f"subjectAltName={sans}\nextendedKeyUsage=serverAuth,clientAuth\n")
        h.openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                  "-subj", f"/CN={cn}", cwd=d)
        h.openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                  "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext", cwd=d)


def revoke(d, *names):
    """Writes crl.pem anew, revoking exactly `names`, and puts it in place by renaming over the
    old file (whole, as a renewal should be)."""
    open(os.path.join(d, "index.txt"), "w").close()
    for name in names:
        h.openssl("ca", "-config", "ca.cnf", "-revoke", f"{name}.crt", cwd=d)
    h.openssl("ca", "-config", "ca.cnf", "-gencrl", "-out", "crl.pem.new", cwd=d)
    os.replace(os.path.join(d, "crl.pem.new"), os.path.join(d, "crl.pem"))


def creds(d, name):
    p = lambda f: os.path.join(d, f)
    return ["--cacert", p("ca.crt"), "--cert", p(f"{name}.crt"), "--key", p(f"{name}.key")]


def put_works(server, d, name):
    return h.etcdctl(server.client_url, creds(d, name) + ["put", "k", name])[2] == 0


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def handshake_works(port, *openssl_args):
    """Whether a TLS handshake with these s_client options completes (stdin closed at once)."""
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-alpn", "h2"] + list(openssl_args),
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=15)
    return r.returncode == 0


class PolicyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(ETCD, os.X_OK):
            raise unittest.SkipTest("etcd not installed")
        cls.tmp = h.TempDir()
        cls.d = cls.tmp.__enter__()
        make_certs(cls.d)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.__exit__(None, None, None)

    def server(self, cls, name, flags, ready_as="client"):
        p = lambda f: os.path.join(self.d, f)
        server = cls(self.d, f"{name}-{cls.__name__.lower()}", client_scheme="https", flags=[
            "--cert-file", p("server.crt"), "--key-file", p("server.key"),
            "--trusted-ca-file", p("ca.crt"), "--client-cert-auth"] + list(flags))
        self.addCleanup(server.stop)
        server.start().wait_ready(creds(self.d, ready_as))
        return server

    def both(self, check):
        """check(server_class) -> observations; they must be equal for etcd and cairnd."""
        etcd, cairnd = check(Etcd), check(h.Cairnd)
        self.assertEqual(etcd, cairnd, "etcd's observations first")
        return cairnd

    def test_client_crl_refuses_revoked_certificates_and_follows_a_new_list(self):
        def check(cls):
            revoke(self.d, "revoked")
            server = self.server(cls, "crl", ["--client-crl-file", os.path.join(self.d, "crl.pem")])
            seen = [("client", put_works(server, self.d, "client")),
                    ("revoked", put_works(server, self.d, "revoked"))]
            revoke(self.d, "revoked", "client")            # a new list while the server runs
            seen.append(("client after its revocation", put_works(server, self.d, "client")))
            server.stop()
            return seen
        seen = self.both(check)
        self.assertEqual(seen, [("client", True), ("revoked", False), ("client after its revocation", False)])

    def test_client_cert_allowed_hostname(self):
        def check(cls):
            seen = []
            for allowed in ("client.example", "CLIENT.example", "127.0.0.1", "other.example", "*.example"):
                p = lambda f: os.path.join(self.d, f)
                server = cls(self.d, f"host-{cls.__name__.lower()}", client_scheme="https", flags=[
                    "--cert-file", p("server.crt"), "--key-file", p("server.key"),
                    "--trusted-ca-file", p("ca.crt"), "--client-cert-auth",
                    "--client-cert-allowed-hostname", allowed])
                self.addCleanup(server.stop)
                server.start()
                # A refused name refuses every connection, so readiness cannot be probed with a
                # put: wait for the port, then try once with a generous timeout.
                h.wait_until(lambda: port_open(server.client_port) or server.proc.poll() is not None,
                             20, "the listener")
                seen.append((allowed, put_works(server, self.d, "client")))
                server.stop()
            return seen
        seen = self.both(check)
        self.assertEqual(seen, [("client.example", True), ("CLIENT.example", True), ("127.0.0.1", True),
                                ("other.example", False), ("*.example", False)])

    def test_cipher_suites(self):
        def check(cls):
            server = self.server(cls, "ciphers", ["--cipher-suites", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"])
            port = server.client_port
            p = lambda f: os.path.join(self.d, f)
            cert = ["-cert", p("client.crt"), "-key", p("client.key")]
            seen = [("listed suite", handshake_works(port, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256", *cert)),
                    ("other suite", handshake_works(port, "-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384", *cert)),
                    ("tls 1.3", handshake_works(port, "-tls1_3", *cert)),
                    ("etcdctl", put_works(server, self.d, "client"))]
            server.stop()
            return seen
        seen = self.both(check)
        self.assertEqual(seen, [("listed suite", True), ("other suite", False), ("tls 1.3", True), ("etcdctl", True)])

    def test_unknown_cipher_suite_stops_start_up(self):
        for cls in (Etcd, h.Cairnd):
            server = cls(self.d, f"badcipher-{cls.__name__.lower()}", client_scheme="https", flags=[
                "--cert-file", os.path.join(self.d, "server.crt"), "--key-file", os.path.join(self.d, "server.key"),
                "--cipher-suites", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,FOO"])
            code, output = server.run_to_exit()
            self.assertNotEqual(code, 0, cls.__name__)
            self.assertIn('unexpected TLS cipher suite "FOO"', output, cls.__name__)

    def test_peer_cert_allowed_cn(self):
        """Two members with https peer URLs and --peer-cert-allowed-cn member: they form a cluster
        when both certificates have CN "member", and never do when the second has another CN."""
        def cluster_forms(cls, second_cert):
            p = lambda f: os.path.join(self.d, f)
            names = ("a", "b")
            members = [cls(self.d, f"peer-{n}-{second_cert}-{cls.__name__.lower()}", peer_scheme="https")
                       for n in names]
            initial = ",".join(f"{m.name}={m.peer_url}" for m in members)
            for m, cert in zip(members, ("member", second_cert)):
                m.initial_cluster = initial
                m.flags = ["--peer-cert-file", p(f"{cert}.crt"), "--peer-key-file", p(f"{cert}.key"),
                           "--peer-trusted-ca-file", p("ca.crt"), "--peer-client-cert-auth",
                           "--peer-cert-allowed-cn", "member"]
                self.addCleanup(m.stop)
                m.start()
            deadline = time.time() + 15
            formed = False
            while time.time() < deadline and not formed:
                formed = h.etcdctl(members[0].client_url, ["put", "k", "v"], timeout=10)[2] == 0
            for m in members:
                m.stop()
            return formed

        def check(cls):
            return [("both CN member", cluster_forms(cls, "member")),
                    ("second CN stranger", cluster_forms(cls, "stranger"))]
        seen = self.both(check)
        self.assertEqual(seen, [("both CN member", True), ("second CN stranger", False)])


if __name__ == "__main__":
    h.main()
