"""The disk's fdatasync rate: how many small durable appends per second one thread gets.

A single-client durable put cannot beat this (each needs at least one fdatasync), so it
bounds the 'sequential put from 1 client' row for both servers.
"""
import os
import time


def fdatasync_rate(directory, seconds=2.0, block=4096):
    path = os.path.join(directory, "fdatasync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        payload = b"\0" * block
        count = 0
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            os.write(fd, payload)
            os.fdatasync(fd)
            count += 1
        return count / (time.monotonic() - start)
    finally:
        os.close(fd)
        os.unlink(path)
