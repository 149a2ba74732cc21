"""Free TCP ports on 127.0.0.1 for the servers a test starts, shared by the python harnesses.

A port is picked, checked free, released, and bound by the server a little later. Ports that the
kernel hands out for bind(0) come from the ephemeral range, which is also where every outgoing
connection takes its source port: a member dialing its peers could take the port in between, and
the server then fails with "Address already in use". So ports are taken from below the ephemeral
range, which outgoing connections never use, starting at a place that depends on the process id
(so tests running at once start far apart) and never handing out the same port twice."""
import os
import socket

_LOW = 10000
_given = set()
_next = None


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _is_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port():
    global _next
    high = _ephemeral_low()
    span = high - _LOW
    if span < 1000:  # no room below the ephemeral range: let the kernel choose
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    if _next is None:
        _next = _LOW + (os.getpid() * 7919) % span
    for _ in range(span):
        port = _next
        _next = _LOW + (_next - _LOW + 1) % span
        if port not in _given and _is_free(port):
            _given.add(port)
            return port
    raise RuntimeError("no free port on 127.0.0.1 below the ephemeral range")
