#!/usr/bin/python3
"""A watch notices a connection that went silent (--keepalive-time/--keepalive-timeout).

Between the client and the server sits a TCP relay on loopback. Once the watch is running, the
relay stops passing bytes on the connections it has (they stay open: a server that vanished, a
dropped NAT entry) while still relaying new ones. The client's HTTP/2 pings then go unanswered, it
drops the connection, reconnects and resumes the watch, so a put made meanwhile still reaches it.
Without pings the watch would wait forever. Done with etcdctl and cairnctl (SERVER_KIND picks the
server); both have a 10 s floor under --keepalive-time, so each case takes about 15 s.
"""
import queue
import select
import socket
import subprocess
import threading
import time

import ctl_harness as h
from loopback_ports import free_port

CAIRNCTL = h.cairnctl_path()


class Relay:
    """Relays 127.0.0.1:port to the server; freeze() stalls the connections open at that moment."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.port = free_port()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(16)
        self.pairs = []          # [client socket, server socket, frozen flag (a list of one bool)]
        self.lock = threading.Lock()
        self.closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            pair = [client, server, [False]]
            with self.lock:
                if self.closing:
                    client.close()
                    server.close()
                    return
                self.pairs.append(pair)
            threading.Thread(target=self._pump, args=(pair,), daemon=True).start()

    def _pump(self, pair):
        client, server, frozen = pair
        other = {client: server, server: client}
        while not self.closing:
            if frozen[0]:
                time.sleep(0.1)  # hold everything; the sockets stay open
                continue
            ready, _, _ = select.select([client, server], [], [], 0.1)
            for s in ready:
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    return
                if frozen[0]:
                    return  # a byte read after the freeze is dropped, as a dead path drops it
                try:
                    other[s].sendall(data)
                except OSError:
                    return

    def freeze(self):
        with self.lock:
            for _, _, frozen in self.pairs:
                frozen[0] = True
            return len(self.pairs)

    def close(self):
        with self.lock:
            self.closing = True
        self.listener.close()
        with self.lock:
            for client, server, _ in self.pairs:
                client.close()
                server.close()


def lines_of(proc):
    q = queue.Queue()

    def read():
        for line in iter(proc.stdout.readline, b""):
            q.put(line.decode().rstrip("\n"))
        q.put(None)
    threading.Thread(target=read, daemon=True).start()
    return q


def wait_for(q, wanted, timeout):
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            line = q.get(timeout=max(0.05, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        if line == wanted:
            return seen
    raise AssertionError(f"no {wanted!r} within {timeout}s; watch printed {seen}")


class KeepaliveTest(h.OneServerTest):
    def check_tool(self, binary, key):
        relay = Relay(self.server.client_port)
        try:
            watch = subprocess.Popen([binary, "--endpoints", f"127.0.0.1:{relay.port}", "--keepalive-time", "2s",
                                      "--keepalive-timeout", "2s", "watch", key],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=h.etcdctl_env())
            self.procs.append(watch)
            out = lines_of(watch)
            # Puts until the first shows up: the watch may still be starting.
            deadline = time.monotonic() + 15
            while True:
                h.run(h.ETCDCTL, self.server.endpoint, ["put", key, "before"])
                try:
                    wait_for(out, "before", 1)
                    break
                except AssertionError:
                    if time.monotonic() > deadline:
                        raise
            self.assertGreaterEqual(relay.freeze(), 1)
            _, err, rc = h.run(h.ETCDCTL, self.server.endpoint, ["put", key, "during"])
            self.assertEqual(rc, 0, err)
            # 10 s between pings, 2 s to answer, then a new connection and the resumed watch.
            wait_for(out, "during", 45)
            self.assertIsNone(watch.poll(), "the watch must keep running")
        finally:
            relay.close()

    def test_etcdctl(self):
        self.check_tool(h.ETCDCTL, "ka-etcdctl")

    def test_cairnctl(self):
        self.check_tool(CAIRNCTL, "ka-cairnctl")


if __name__ == "__main__":
    h.main()
