"""Formatting compare-etcd's results as Markdown tables (readable on a terminal too)."""


def _fmt(value, digits=0):
    if value is None:
        return "—"
    if digits == 0:
        return "{:,.0f}".format(value)
    return "{:,.{}f}".format(value, digits)


def _ratio(a, b):
    if a is None or b is None or not b:
        return None
    return a / b


def _pct(a, b):
    r = _ratio(a, b)
    return None if r is None else 100 * r


def _markdown(header, rows):
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    out = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out)


def throughput_table(workloads, best):
    """best[(server, workload name)] -> cairn-bench summary dict (with server CPU), or missing."""
    header = ["workload", "etcd /s", "cairn /s", "cairn/etcd", "ceiling /s", "etcd % ceil", "cairn % ceil",
              "etcd µs CPU/req", "cairn µs CPU/req", "null µs CPU/req", "etcd p99 ms", "cairn p99 ms"]
    rows = []
    for w in workloads:
        e, c, n = (best.get((s, w.name)) for s in ("etcd", "cairnd", "null"))
        rate = lambda r: r["requests_per_s"] if r else None
        cpu = lambda r: r["server_cpu_us_per_request"] if r else None
        p99 = lambda r: r["latency_ms"]["p99"] if r else None
        rows.append([w.label, _fmt(rate(e)), _fmt(rate(c)), _fmt(_ratio(rate(c), rate(e)), 2), _fmt(rate(n)),
                     _fmt(_pct(rate(e), rate(n)), 1), _fmt(_pct(rate(c), rate(n)), 1), _fmt(cpu(e), 1),
                     _fmt(cpu(c), 1), _fmt(cpu(n), 1), _fmt(p99(e), 2), _fmt(p99(c), 2)])
    return _markdown(header, rows)


def sync_ceiling_lines(workloads, best):
    """One line per workload measured against the null server that syncs once per write."""
    lines = []
    for w in workloads:
        s = best.get(("null-sync", w.name))
        if not s:
            continue
        e, c = (best.get((k, w.name)) for k in ("etcd", "cairnd"))
        rate = lambda r: r["requests_per_s"] if r else None
        lines.append("Sync ceiling for '{}' = the null server answering each write only after appending it to a "
                     "zero-filled file and fdatasyncing (concurrent writes share one sync), nothing else: {}/s "
                     "({} µs CPU/req), which is {}x etcd; cairn reaches {}% of it, etcd {}%."
                     .format(w.label, _fmt(rate(s)), _fmt(s["server_cpu_us_per_request"], 1),
                             _fmt(_ratio(rate(s), rate(e)), 2), _fmt(_pct(rate(c), rate(s)), 1),
                             _fmt(_pct(rate(e), rate(s)), 1)))
    return lines


def startup_table(startup):
    """startup[server] -> dict with ready_empty_s, ready_loaded_s, loaded_keys, rss_bytes, rss_keys."""
    header = ["measure", "etcd", "cairn", "cairn/etcd"]
    e = startup.get("etcd", {})
    c = startup.get("cairnd", {})
    keys = e.get("loaded_keys") or c.get("loaded_keys") or 0
    rss_keys = e.get("rss_keys") or c.get("rss_keys") or 0
    rows = []
    for label, key, scale, digits in (
            ("restart to first linearizable Range, 0 keys (s)", "ready_empty_s", 1, 3),
            ("restart to first linearizable Range, {:,} keys (s)".format(keys), "ready_loaded_s", 1, 3),
            ("RSS after writing {:,} keys of 256 B (MiB)".format(rss_keys), "rss_bytes", 1 / 2**20, 1),
            ("of which private memory, RssAnon (MiB)", "private_bytes", 1 / 2**20, 1),
            ("data file on disk then (MiB)", "data_file_bytes", 1 / 2**20, 1),
            ("RSS after the restart with {:,} keys (MiB)".format(keys), "rss_after_restart_bytes", 1 / 2**20, 1)):
        ev = e.get(key)
        cv = c.get(key)
        ev = ev * scale if ev is not None else None
        cv = cv * scale if cv is not None else None
        rows.append([label, _fmt(ev, digits), _fmt(cv, digits), _fmt(_ratio(cv, ev), 2)])
    return _markdown(header, rows)
