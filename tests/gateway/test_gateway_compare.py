"""HTTP on the client port, etcd 3.4 vs cairnd: the same HTTP/1.1 requests to both servers'
client URL (/health, /version, /metrics and the v3 JSON gateway), answers compared field by field
(response headers' ids and revisions left out); gRPC clients (etcdctl, python3-etcd3) on the same
port in the same run; bad input that must not stop the server.

Run with Debian's /usr/bin/python3; CAIRND=<path> selects the binary.
"""

import base64
import http.client
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "compat"))

import etcd3.etcdrpc as etcdrpc  # noqa: E402
import grpc  # noqa: E402

from harness import ServerPairTest, etcdctl, main_or_skip  # noqa: E402


def b64(text):
    return base64.b64encode(text.encode()).decode()


def host_port(server):
    host, port = server.endpoint.split(":")
    return host, int(port)


def request(server, path, body=None, method="POST", headers=None):
    """One request on its own connection: (status, content type, parsed JSON or text)."""
    conn = http.client.HTTPConnection(*host_port(server), timeout=10)
    try:
        data = body if isinstance(body, (bytes, type(None))) else (
            body if isinstance(body, str) else json.dumps(body)).encode()
        conn.request(method, path, body=data, headers=headers or {})
        resp = conn.getresponse()
        raw = resp.read().decode()
        ctype = resp.getheader("Content-Type", "")
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw
        return resp.status, ctype, parsed
    finally:
        conn.close()


def strip_headers(value):
    """Drops every "header" object (cluster/member ids, revisions, terms differ by design)."""
    if isinstance(value, dict):
        return {k: strip_headers(v) for k, v in value.items() if k != "header"}
    if isinstance(value, list):
        return [strip_headers(v) for v in value]
    return value


class StreamReader:
    """A streaming POST read on a thread: every newline-terminated JSON object it receives."""

    def __init__(self, server, path, body, headers=None):
        self.conn = http.client.HTTPConnection(*host_port(server), timeout=15)
        self.sock = socket.create_connection(host_port(server), timeout=15)
        self.conn.sock = self.sock  # kept: http.client lets go of it once the answer says "close"
        self.conn.request("POST", path, body=body.encode(), headers=headers or {})
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.objects = []
        self.done = threading.Event()
        self.cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    break
                line = line.strip()
                if line:
                    with self.cv:
                        self.objects.append(json.loads(line))
                        self.cv.notify_all()
        except Exception:  # noqa: BLE001  the connection was closed under the reader
            pass
        finally:
            self.done.set()
            with self.cv:
                self.cv.notify_all()

    def wait_for(self, count, timeout=10):
        with self.cv:
            self.cv.wait_for(lambda: len(self.objects) >= count or self.done.is_set(), timeout)
            return list(self.objects)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()
        self.sock.close()


class GatewayCompareTest(ServerPairTest):

    def both(self, path, body=None, method="POST", headers=None):
        return [request(s, path, body, method, headers) for s in self.servers()]

    def assertSame(self, path, body=None, method="POST", headers=None, what=None):
        """Same HTTP status, content type family and body (headers stripped) from both."""
        ref, subj = self.both(path, body, method, headers)
        self.assertEqual(ref[0], subj[0], f"{what or path}: HTTP status (etcd {ref}, cairnd {subj})")
        self.assertEqual(ref[1].split(";")[0], subj[1].split(";")[0], f"{what or path}: content type")
        self.assertEqual(strip_headers(ref[2]), strip_headers(subj[2]), f"{what or path}: body")
        return ref, subj

    def test_operator_endpoints_on_the_client_port(self):
        for s in self.servers():
            status, _, body = request(s, "/health", method="GET")
            self.assertEqual(status, 200, s.kind)
            self.assertEqual(body["health"], "true", s.kind)
            status, ctype, body = request(s, "/version", method="GET")
            self.assertEqual(status, 200, s.kind)
            self.assertIn("application/json", ctype)
            self.assertEqual(set(body), {"etcdserver", "etcdcluster"}, s.kind)
            status, _, text = request(s, "/metrics", method="GET")
            self.assertEqual(status, 200, s.kind)
            self.assertIn("# TYPE", text, s.kind)
            # CORS as etcd's default (--cors '*'): a browser's preflight and the allow headers.
            conn = http.client.HTTPConnection(*host_port(s), timeout=10)
            try:
                conn.request("OPTIONS", "/v3/kv/range")
                resp = conn.getresponse()
                resp.read()
                self.assertEqual(resp.status, 200, s.kind)
                self.assertEqual(resp.getheader("Access-Control-Allow-Origin"), "*", s.kind)
                self.assertIn("authorization", resp.getheader("Access-Control-Allow-Headers"), s.kind)
            finally:
                conn.close()

    def test_kv_requests_answer_alike(self):
        self.assertSame("/v3/kv/put", {"key": b64("foo"), "value": b64("bar")})
        self.assertSame("/v3/kv/put", {"key": b64("foo2"), "value": b64("x"), "bogus": 1})  # unknown field
        self.assertSame("/v3/kv/range", {"key": b64("foo")})
        self.assertSame("/v3beta/kv/range", {"key": b64("foo"), "range_end": b64("fop"), "count_only": True})
        self.assertSame("/v3/kv/range", {"key": b64("foo"), "range_end": b64("fop"), "limit": "1"})
        self.assertSame("/v3/kv/txn", {
            "compare": [{"key": b64("foo"), "result": "EQUAL", "target": "VALUE", "value": b64("bar")}],
            "success": [{"request_range": {"key": b64("foo")}},
                        {"request_put": {"key": b64("foo"), "value": b64("baz"), "prev_kv": True}}],
            "failure": [{"request_delete_range": {"key": b64("foo")}}]})
        self.assertSame("/v3/kv/txn", {
            "compare": [{"key": b64("foo"), "result": "EQUAL", "target": "VERSION", "version": "9"}],
            "failure": [{"request_range": {"key": b64("foo")}}]})
        self.assertSame("/v3/kv/deleterange", {"key": b64("foo2"), "prev_kv": True})
        self.assertSame("/v3/kv/compaction", {"revision": "2"})
        self.assertSame("/v3/kv/compaction", {"revision": "1000"}, what="future compaction")
        self.assertSame("/v3/kv/range", {"key": b64("foo"), "revision": "1"}, what="compacted read")
        self.assertSame("/v3/kv/range", "", what="empty body")  # key not provided

    def test_lease_cluster_and_maintenance(self):
        self.assertSame("/v3/lease/grant", {"TTL": 60, "ID": 77})
        self.assertSame("/v3/kv/put", {"key": b64("leased"), "value": b64("v"), "lease": "77"})
        ref, subj = self.both("/v3/lease/timetolive", {"ID": "77", "keys": True})
        for r in (ref, subj):
            self.assertEqual(r[0], 200)
            self.assertEqual(r[2]["ID"], "77")
            self.assertEqual(r[2]["grantedTTL"], "60")
            self.assertEqual(r[2]["keys"], [b64("leased")])
        self.assertSame("/v3/kv/lease/leases", {})
        self.assertSame("/v3/lease/revoke", {"ID": "77"})
        self.assertSame("/v3/kv/lease/revoke", {"ID": "77"}, what="revoke twice")
        self.assertSame("/v3/kv/range", {"key": b64("leased")}, what="key gone with its lease")
        self.assertSame("/v3/maintenance/alarm", {})
        ref, subj = self.both("/v3/cluster/member/list", {})
        self.assertEqual(ref[0], subj[0])
        self.assertEqual(len(ref[2]["members"]), len(subj[2]["members"]))
        self.assertEqual(set(ref[2]["members"][0]), set(subj[2]["members"][0]))
        self.assertEqual(ref[2]["members"][0]["name"], subj[2]["members"][0]["name"])
        ref, subj = self.both("/v3/maintenance/status", {})
        self.assertEqual(ref[0], subj[0])
        for field in ("version", "dbSize", "leader", "raftIndex", "raftTerm"):
            self.assertIn(field, subj[2], f"status lacks {field}: {subj[2]}")
        self.assertEqual(subj[2]["leader"], subj[2]["header"]["member_id"])

    def test_lease_keepalive_stream(self):
        self.assertSame("/v3/lease/grant", {"TTL": 60, "ID": 78})
        for s in self.servers():
            stream = StreamReader(s, "/v3/lease/keepalive", '{"ID":78}{"ID":78}')
            try:
                self.assertEqual(stream.status, 200, s.kind)
                got = stream.wait_for(2)
                self.assertEqual(len(got), 2, f"{s.kind}: {got}")
                for obj in got:
                    self.assertEqual(strip_headers(obj), {"result": {"ID": "78", "TTL": "60"}}, s.kind)
            finally:
                stream.close()

    def test_watch_stream_receives_a_put(self):
        answers = []
        for s in self.servers():
            stream = StreamReader(s, "/v3/watch", json.dumps({"create_request": {"key": b64("w")}}))
            try:
                self.assertEqual(stream.status, 200, s.kind)
                created = stream.wait_for(1)
                self.assertTrue(created and created[0]["result"].get("created"), f"{s.kind}: {created}")
                request(s, "/v3/kv/put", {"key": b64("w"), "value": b64("1")})
                request(s, "/v3/kv/deleterange", {"key": b64("w")})
                got = stream.wait_for(3)
                self.assertEqual(len(got), 3, f"{s.kind}: {got}")
                answers.append([strip_headers(o) for o in got])
            finally:
                stream.close()
        # The event kvs carry revisions; both servers start from an empty store, so they match.
        self.assertEqual(answers[0], answers[1])
        # A watch on a compacted revision is cancelled with the compaction revision.
        for s in self.servers():
            request(s, "/v3/kv/put", {"key": b64("w"), "value": b64("2")})
            status, _, body = request(s, "/v3/kv/range", {"key": b64("w")})
            rev = int(body["header"]["revision"])
            request(s, "/v3/kv/compaction", {"revision": str(rev)})
            stream = StreamReader(s, "/v3/watch", json.dumps({"create_request": {"key": b64("w"),
                                                                                 "start_revision": "1"}}))
            try:
                got = stream.wait_for(2)
                self.assertEqual(len(got), 2, f"{s.kind}: {got}")
                self.assertTrue(got[1]["result"].get("canceled"), f"{s.kind}: {got}")
                self.assertEqual(got[1]["result"].get("compact_revision"), str(rev), s.kind)
            finally:
                stream.close()

    def test_watch_stream_with_a_body_still_arriving(self):
        """A chunked body kept open: each watch request is sent as it arrives. cairnd only: etcd
        3.4's Go HTTP/1 server answers nothing until the request body has ended."""
        for s in (self.subj,):
            sock = socket.create_connection(host_port(s), timeout=10)
            try:
                sock.sendall(b"POST /v3/watch HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")

                def chunk(obj):
                    data = json.dumps(obj).encode()
                    sock.sendall(b"%x\r\n%s\r\n" % (len(data), data))

                got = b""

                def read_until(count):
                    nonlocal got
                    while got.count(b'{"result"') < count:
                        data = sock.recv(65536)
                        if not data:
                            break
                        got += data

                chunk({"create_request": {"key": b64("a")}})
                read_until(1)
                request(s, "/v3/kv/put", {"key": b64("a"), "value": b64("1")})
                read_until(2)
                chunk({"create_request": {"key": b64("b")}})  # a second watcher, later, same stream
                read_until(3)
                request(s, "/v3/kv/put", {"key": b64("b"), "value": b64("2")})
                read_until(4)
                results = [strip_headers(json.loads(line)) for line in got.split(b"\r\n")
                           if line.startswith(b"{")]
                self.assertEqual(len(results), 4, f"{s.kind}: {got!r}")
                self.assertTrue(results[0]["result"]["created"])
                self.assertEqual(results[1]["result"]["events"][0]["kv"]["key"], b64("a"))
                self.assertTrue(results[2]["result"]["created"])
                self.assertEqual(results[3]["result"]["events"][0]["kv"]["key"], b64("b"))
                self.assertNotEqual(results[0]["result"].get("watch_id"), results[2]["result"].get("watch_id"))
            finally:
                sock.close()
        self.assertTrue(self.subj.running())

    def test_errors_answer_alike(self):
        ref, subj = self.both("/v3/kv/range", '{"key":"Zm9v"')  # malformed JSON
        for r in (ref, subj):
            self.assertEqual(r[0], 400)
            self.assertEqual(r[2]["code"], 3)
            self.assertEqual(r[2]["error"], r[2]["message"])
        self.assertSame("/v3/lease/revoke", {"ID": "12345"})   # 404, code 5, etcd's text
        self.assertSame("/v3/kv/nothing", {})                  # 404 "Not Found"
        self.assertSame("/v3/kv/range", method="GET")          # 405
        self.assertSame("/nothing", {})                        # 404 page not found
        ref, subj = self.both("/v3/watch", '{"create_request": {"key":"Zm9v"')
        for r in (ref, subj):
            self.assertEqual(r[0], 500)
            self.assertEqual(r[2]["code"], 2)
        big = {"key": b64("big"), "value": base64.b64encode(b"A" * (1700 * 1000)).decode()}
        self.assertSame("/v3/kv/put", big, what="request over --max-request-bytes")
        # Past gRPC's own allowance as well: etcd answers with gRPC's words (code 8), so do we.
        huge = {"key": b64("big"), "value": base64.b64encode(b"A" * (2 * 1024 * 1024)).decode()}
        ref, subj = self.both("/v3/kv/put", huge)
        self.assertEqual((ref[0], ref[2]["code"]), (subj[0], subj[2]["code"]), f"{ref} / {subj}")
        self.assertTrue(self.subj.running())

    def test_auth_through_the_gateway(self):
        self.assertSame("/v3/auth/user/add", {"name": "root", "password": "pw"})
        self.assertSame("/v3/auth/role/add", {"name": "root"})
        self.assertSame("/v3/auth/user/grant", {"user": "root", "role": "root"})
        self.assertSame("/v3/auth/user/add", {"name": "alice", "password": "a"})
        self.assertSame("/v3/auth/enable", {})
        self.assertSame("/v3/kv/range", {"key": b64("foo")}, what="no token")
        self.assertSame("/v3/auth/authenticate", {"name": "root", "password": "bad"})
        tokens = []
        for s in self.servers():
            status, _, body = request(s, "/v3/auth/authenticate", {"name": "root", "password": "pw"})
            self.assertEqual(status, 200, f"{s.kind}: {body}")
            tokens.append(body["token"])
        answers = []
        for s, token in zip(self.servers(), tokens):
            answers.append(request(s, "/v3/auth/user/list", {}, headers={"Authorization": token}))
        self.assertEqual(answers[0][0], answers[1][0])
        self.assertEqual(strip_headers(answers[0][2]), strip_headers(answers[1][2]))
        self.assertSame("/v3/kv/range", {"key": b64("foo")}, headers={"Authorization": "garbage"},
                        what="invalid token")
        for s, token in zip(self.servers(), tokens):
            status, _, body = request(s, "/v3/auth/disable", {}, headers={"Authorization": token})
            self.assertEqual(status, 200, f"{s.kind}: {body}")

    def test_grpc_clients_share_the_port_and_bad_http_does_not_hurt(self):
        s = self.subj
        # Junk, a torn request, a request line without a head end, a TLS hello on plaintext.
        for junk in (b"\x00\x01garbage\r\n\r\n", b"POST /v3/kv/put HTTP/1.1\r\nContent-Length: 100\r\n\r\n{",
                     b"GET /health HTTP/1.1\r\n", b"\x16\x03\x01\x00\xa5\x01\x00", b"PR", b"",
                     b"POST /v3/watch HTTP/1.1\r\nContent-Length: 33\r\n\r\n{\"create_request\":{\"key\":\"dw==\"}}"):
            with socket.create_connection(host_port(s), timeout=5) as c:
                c.sendall(junk)
                time.sleep(0.05)
        self.assertTrue(s.running(), s.log_tail())
        status, _, _ = request(s, "/v3/kv/put", {"key": b64("g"), "value": b64("http")})
        self.assertEqual(status, 200)
        r = etcdctl(s, "get", "g", "--print-value-only")
        self.assertEqual((r.rc, r.stdout.strip()), (0, "http"), r)
        r = etcdctl(s, "put", "g", "grpc")
        self.assertEqual(r.rc, 0, r)
        status, _, body = request(s, "/v3/kv/range", {"key": b64("g")})
        self.assertEqual(base64.b64decode(body["kvs"][0]["value"]), b"grpc")
        client = s.client()
        try:
            value, _ = client.get("g")
            self.assertEqual(value, b"grpc")
            client.put("big", b"x" * (1024 * 1024))  # a large message over the handed-over connection
            value, _ = client.get("big")
            self.assertEqual(len(value), 1024 * 1024)
        finally:
            client.close()
        # The handed-over connections carry the server's channel arguments: its message size
        # limit (--max-request-bytes + 512 KiB), not gRPC's default 4 MiB.
        with grpc.insecure_channel(s.endpoint, options=[("grpc.max_send_message_length", 64 << 20)]) as ch:
            kv = etcdrpc.KVStub(ch)
            with self.assertRaises(grpc.RpcError) as caught:
                kv.Put(etcdrpc.PutRequest(key=b"k", value=b"x" * 3_000_000), timeout=10)
            self.assertEqual(caught.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        # Keep-alive: two requests on one connection.
        conn = http.client.HTTPConnection(*host_port(s), timeout=10)
        try:
            for _ in range(2):
                conn.request("POST", "/v3/kv/range", body=json.dumps({"key": b64("g")}).encode())
                resp = conn.getresponse()
                self.assertEqual(resp.status, 200)
                resp.read()
        finally:
            conn.close()
        self.assertTrue(s.running(), s.log_tail())


if __name__ == "__main__":
    main_or_skip()
