"""etcd 3.4's whole v3 API for the python tests, from the repository's own protos (api/).

python3-etcd3's generated stubs predate learners and etcd 3.4's newer fields (Member.isLearner,
MemberPromote, StatusResponse.raftAppliedIndex/errors/dbSizeInUse/isLearner), so a test that needs
them builds the message classes here (python3-etcd3 has none at all for the Lock and Election
services): protoc (a build dependency) compiles api/etcdserverpb/rpc.proto, api/v3lockpb/v3lock.proto
and api/v3electionpb/v3election.proto to a descriptor set, loaded into a private descriptor pool so that it cannot clash with
python3-etcd3's classes of the same names. Requests may be any message with the same wire form
(python3-etcd3's too): they are sent as their serialized bytes.

No side effects on import; the first messages()/Stubs() call runs protoc once.
"""

import os
import subprocess
import tempfile

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

API_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "api")
PROTOC = os.environ.get("PROTOC", "protoc")

# package -> its proto file under api/
PROTO_FILES = {
    "etcdserverpb": "etcdserverpb/rpc.proto",
    "v3lockpb": "v3lockpb/v3lock.proto",
    "v3electionpb": "v3electionpb/v3election.proto",
}

_pool = None
_classes = {}


class _Messages:
    """One package's messages and enums by their short names: api.StatusResponse, api.NOSPACE."""

    def __init__(self, pool, file_name):
        self._pool = pool
        self._factory = message_factory.MessageFactory(pool)
        self._file = pool.FindFileByName(file_name)

    def __getattr__(self, name):
        if name in self._file.message_types_by_name:
            cls = self._factory.GetPrototype(self._file.message_types_by_name[name])
            setattr(self, name, cls)
            return cls
        for enum in self._file.enum_types_by_name.values():
            if name in enum.values_by_name:
                return enum.values_by_name[name].number
        raise AttributeError(name)

    def service(self, name):
        return self._file.services_by_name[name]

    def output_class(self, method):
        return self._factory.GetPrototype(method.output_type)


def _descriptor_pool():
    global _pool
    if _pool is None:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "api.pb")
            subprocess.run([PROTOC, "-I", API_DIR, "--include_imports", "--descriptor_set_out", out]
                           + list(PROTO_FILES.values()), check=True, capture_output=True, timeout=60)
            with open(out, "rb") as f:
                files = descriptor_pb2.FileDescriptorSet.FromString(f.read())
        pool = descriptor_pool.DescriptorPool()
        for file in files.file:
            pool.Add(file)
        _pool = pool
    return _pool


def messages(package="etcdserverpb"):
    """The messages of one package of PROTO_FILES (all share one pool, so that an election
    LeaderResponse's kv is the same class as etcdserverpb's RangeResponse kvs)."""
    if package not in _classes:
        _classes[package] = _Messages(_descriptor_pool(), PROTO_FILES[package])
    return _classes[package]


class Stub:
    """One service on a channel: stub.Status(request, timeout=...) as gRPC's generated stubs, for
    unary, server-streaming and bidirectional methods alike. `package`: a key of PROTO_FILES
    (Stub(channel, "Lock", "v3lockpb"))."""

    def __init__(self, channel, service, package="etcdserverpb"):
        api = messages(package)
        descriptor = api.service(service)
        for method in descriptor.methods:
            path = f"/{package}.{service}/{method.name}"
            response = api.output_class(method)
            kinds = (method.client_streaming, method.server_streaming)
            make = {(False, False): channel.unary_unary, (False, True): channel.unary_stream,
                    (True, True): channel.stream_stream, (True, False): channel.stream_unary}[kinds]
            setattr(self, method.name, make(path, request_serializer=lambda m: m.SerializeToString(),
                                            response_deserializer=response.FromString))
