"""The disk's fdatasync rate: how many small durable writes per second one thread gets.

A single-client durable put cannot beat it (each needs at least one fdatasync), so it bounds
the 'sequential put, 1 client' row for both servers. Two figures, because the file system
makes them differ a lot: appending to a growing file (every fdatasync also commits the new
size), and overwriting a file already written in full (data only), which is what a WAL with
preallocated segments sees.
"""
import os
import time


def _rate(fd, seconds, block, offset_of):
    payload = b"\0" * block
    count = 0
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        os.pwrite(fd, payload, offset_of(count))
        os.fdatasync(fd)
        count += 1
    return count / (time.monotonic() - start)


def fdatasync_rates(directory, seconds=1.5, block=4096):
    """Returns (appending, overwriting) fdatasync'ed 4 KiB writes per second."""
    path = os.path.join(directory, "fdatasync-probe")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        appending = _rate(fd, seconds, block, lambda n: n * block)
        size = 16 << 20
        os.ftruncate(fd, 0)
        os.pwrite(fd, b"\0" * size, 0)
        os.fsync(fd)
        overwriting = _rate(fd, seconds, block, lambda n: (n * block) % size)
        return appending, overwriting
    finally:
        os.close(fd)
        os.unlink(path)
