#!/usr/bin/python3
"""grpc.health.v1.Health on the client port, as etcd 3.4 serves it (load balancers, Kubernetes
gRPC probes, grpc_health_probe): the same answers from real etcd and cairnd for Check on the
overall service and on an unknown one, and a Watch stream that starts SERVING. cairnd also turns
NOT_SERVING when it begins to shut down, which a Watch stream is told before it ends."""

import os
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

grpc = harness.grpc

SERVING = b"\x08\x01"
NOT_SERVING = b"\x08\x02"


def health_request(service):
    data = service.encode()
    return (b"\x0a" + bytes([len(data)]) + data) if data else b""


def raw(x):
    return x


class GrpcHealthTest(harness.ServerPairTest):

    def check(self, server, service):
        with server.channel() as ch:
            call = ch.unary_unary("/grpc.health.v1.Health/Check", request_serializer=raw,
                                  response_deserializer=raw)
            try:
                return ("ok", call(health_request(service), timeout=5))
            except grpc.RpcError as e:
                return (e.code().name, e.details())

    def test_check_answers_as_etcd(self):
        for service in ("", "etcdserverpb.KV"):
            with self.subTest(service=service):
                ref = self.check(self.ref, service)
                subj = self.check(self.subj, service)
                self.assertEqual(subj, ref)
        self.assertEqual(self.check(self.subj, ""), ("ok", SERVING))

    def test_watch_starts_serving_and_says_not_serving_at_shutdown(self):
        if self.subj.kind != "cairnd":
            self.skipTest("etcd 3.4 keeps saying SERVING while it stops")
        ch = self.subj.channel()
        self.addCleanup(ch.close)
        stream = ch.unary_stream("/grpc.health.v1.Health/Watch", request_serializer=raw,
                                 response_deserializer=raw)(b"", timeout=20)
        seen = []
        first = threading.Event()

        def read():
            try:
                for message in stream:
                    seen.append(message)
                    first.set()
            except grpc.RpcError:
                pass
            first.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        self.assertTrue(first.wait(10))
        self.assertEqual(seen[:1], [SERVING])
        self.subj.stop(signal.SIGTERM)
        reader.join(15)
        self.assertFalse(reader.is_alive(), "the Watch stream did not end at shutdown")
        self.assertEqual(seen, [SERVING, NOT_SERVING])


if __name__ == "__main__":
    harness.main_or_skip()
