"""gRPC helpers shared by the python tests: the readiness probe the harnesses wait on, and the
(code, details) of a call's error for comparing two servers' answers.

Needs grpc and python3-etcd3's generated stubs (Debian's /usr/bin/python3). No side effects on
import.
"""

import grpc
import etcd3.etcdrpc as etcdrpc


def grpc_error(call):
    """Runs call(); returns (code name, details) of the grpc.RpcError it raised, or None if it
    succeeded."""
    try:
        call()
    except grpc.RpcError as e:
        return (e.code().name, e.details())
    return None


def kv_answers(endpoint, key, timeout, answering_codes=()):
    """True once a Range of `key` on a plaintext `endpoint` (host:port) is answered: success, or
    an error whose code is in answering_codes (a member with auth on serves, but refuses an
    anonymous call with INVALID_ARGUMENT). A Range is linearizable, so on a cluster this also
    means a leader exists. Raises the grpc.RpcError otherwise."""
    try:
        with grpc.insecure_channel(endpoint) as channel:
            etcdrpc.KVStub(channel).Range(etcdrpc.RangeRequest(key=key), timeout=timeout)
    except grpc.RpcError as e:
        if e.code() not in answering_codes:
            raise
    return True
