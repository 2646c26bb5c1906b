"""The Markdown report and results.json of one run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks import chart, targets

METHOD = """\
## Method

* Every system runs in a fresh worker process (`python -m benchmarks.worker`) with
  Django settings of its own; the propagation writer is one more process.
* A **request** is what a Django request costs the system: `request_started`
  (with Django's own receivers), the system's per-request hook, 100 reads of
  different keys spread over the store, `request_finished`. The plain dict's
  request is the 100 reads alone: the floor. Loops are generated from one template
  so every system runs the same bytecode around its reads.
* Timing: one request to load, a warm-up, then {rounds} rounds of about
  {round_ms:g} ms each with the garbage collector off; the median is shown with the
  min–max of the rounds. Each "x plain" ratio is the median, round by round, of
  the system's time over a plain dict's doing the same reads (with equal but
  distinct key objects, as from any store) timed in alternate rounds of the same
  process: on a shared machine absolute times drift, such ratios and the counts
  hold. Speed-ups between two systems divide their ratios.
* **Round trips** are counted at the socket (memcached, Redis: one `sendall` is one
  command or pipeline) or client level (kazoo requests, SQL statements through
  Django's `execute_wrapper`), per request, in the requesting thread; they do not
  depend on the machine. "Network" adds them up, counting SQL only on PostgreSQL.
  Django closes memcached connections at `request_finished` (`close_caches`), so
  memcached systems reconnect once per request: that is the "connects" column.
* **Propagation**: another OS process changes one key; after its acknowledgement
  this process serves requests (one per {pace_ms:g} ms) until one returns the new
  value. "First request after change" is the duration of that request: for the
  systems that sync per request it is the reload.
* **Paired reloads** (target 6): our ModelDict and RedisDict share one process with
  the original's dict on the same stores and take turns: another instance writes
  one key, then `sync()` reloads the whole store; the ratio is the median of the
  per-pair ratios, so machine load hits both sides alike.
* **Memory**: Python allocations (tracemalloc) still held after a fresh reader
  served one request over the large store.
"""


def _us(ns: float | None) -> str:
    if ns is None:
        return "–"
    us = ns / 1e3
    return f"{us:,.0f}" if us >= 100 else f"{us:,.2f}" if us < 10 else f"{us:,.1f}"


def _ns(ns: float | None) -> str:
    return "–" if ns is None else f"{ns:,.0f}" if ns >= 10 else f"{ns:.1f}"


def _spread(stat: dict[str, Any] | None, unit=_us) -> str:
    if not stat:
        return "–"
    if stat["rounds"] == 1:
        return unit(stat["median"])
    return f"{unit(stat['median'])} [{unit(stat['min'])}–{unit(stat['max'])}]"


def _count(value: Any) -> str:
    if isinstance(value, list):
        return f"{value[0]}–{value[1]}"
    return str(value)


def _ratio(value: float | None, floor: float | None) -> str:
    if value is None or not floor:
        return "–"
    return f"{value / floor:,.1f}x" if value / floor < 100 else f"{value / floor:,.0f}x"


def reference_size(options: dict[str, Any]) -> int:
    sizes = options["sizes"]
    return 1000 if 1000 in sizes else sizes[0]


def _propagation(change: dict[str, Any] | None) -> str:
    if not change:
        return "–"
    if not change["propagated"]:
        return "not seen"
    requests = sorted(change["requests"])[len(change["requests"]) // 2]
    latency = change["latency"]
    text = f"{requests} req, {latency['median'] / 1e6:.2f} ms"
    if "p99" in latency:
        text += f" (p99 {latency['p99'] / 1e6:.2f} ms, {latency['rounds']} rounds)"
    return text if change["writer"] == "another process" else text + " (same process)"


def main_table(gathered: dict[str, Any]) -> list[str]:
    results, size = gathered["results"], reference_size(gathered["options"])
    head = [
        "System", "Per-request hook", f"Request, µs ({size:,} keys)", "x plain",
        "Read, ns", "x plain", "Queries", "Round trips", "Connects",
        "Change seen after", "1st request after change, µs", "Memory, KiB",
    ]  # fmt: skip
    rows = [head, ["---"] * len(head)]
    for system in gathered["systems"]:
        r = results.get(system.name, {})
        if "requests" not in r:
            reason = r.get("skipped") or "failed (see results.json)"
            rows.append([system.label, system.hook_text, reason, *[""] * 9])
            continue
        request, counts = r["requests"][str(size)], r["counts"][str(size)]
        read = r.get("hot_read", {}).get("median")
        read_ratio = r.get("hot_read", {}).get("ratio", {}).get("median")
        change = r.get("change") or {}
        rows.append([
            system.label, r.get("hook", system.hook_text), _spread(request),
            _ratio(request["ratio"]["median"], 1), _ns(read), _ratio(read_ratio, 1),
            _count(counts["queries"]), _count(counts["network"]),
            _count(counts["connects"]), _propagation(r.get("change")),
            _us((change.get("first_request") or {}).get("median")),
            f"{r['memory']['bytes'] / 1024:,.0f}",
        ])  # fmt: skip
    return ["| " + " | ".join(row) + " |" for row in rows]


def sizes_table(gathered: dict[str, Any]) -> list[str]:
    results, sizes = gathered["results"], gathered["options"]["sizes"]
    head = ["System"] + [f"{size:,} keys: µs (x plain)" for size in sizes]
    rows = [head, ["---"] * len(head)]
    for system in gathered["systems"]:
        requests = results.get(system.name, {}).get("requests")
        if not requests:
            continue
        cells = []
        for size in sizes:
            stat = requests[str(size)]
            cells.append(f"{_spread(stat)} ({_ratio(stat['ratio']['median'], 1)})")
        rows.append([system.label, *cells])
    return ["| " + " | ".join(row) + " |" for row in rows]


def counts_table(gathered: dict[str, Any]) -> list[str]:
    results, size = gathered["results"], reference_size(gathered["options"])
    names = ["queries", "memcached", "redis", "zookeeper", "connects", "background"]
    head = ["System", "Request", *names]
    rows = [head, ["---"] * len(head)]
    for system in gathered["systems"]:
        r = results.get(system.name, {})
        if "counts" not in r:
            continue
        rows.append([system.label, "unchanged"] + [
            _count(r["counts"][str(size)].get(n, 0)) for n in names
        ])  # fmt: skip
        change = r.get("change")
        if change:
            label = f"after a change ({change['counted_requests']} req)"
            rows.append(
                ["", label] + [_count(change["counts"].get(n, 0)) for n in names]
            )
    return ["| " + " | ".join(row) + " |" for row in rows]


def targets_section(gathered: dict[str, Any]) -> list[str]:
    lines = ["## Targets", ""]
    for title, verdict, detail in targets.check_all(
        gathered["results"], gathered["systems"]
    ):
        mark = {"met": "**met**", "not met": "**NOT MET**"}.get(verdict, verdict)
        lines.append(f"- {mark}: {title}. {detail}.")
    return lines


def environment_section(environment: dict[str, Any]) -> list[str]:
    lines = ["## Environment", ""]
    for key in ("date", "cpu", "cores", "platform", "python", "django_durabledict"):
        lines.append(f"- {key.replace('_', '-')}: {environment[key]}")
    start, end = environment.get("load_average_start"), environment["load_average"]
    lines.append(
        f"- load average (1, 5, 15 min): {start} at the start, {end} at the end"
    )
    packages = ", ".join(f"{k} {v}" for k, v in environment["packages"].items())
    servers = ", ".join(f"{k} {v}" for k, v in environment["servers"].items())
    return [*lines, f"- packages: {packages}", f"- servers: {servers}"]


def render(gathered: dict[str, Any], chart_name: str | None) -> str:
    options, size = gathered["options"], reference_size(gathered["options"])
    kind = (
        "smoke run (one short round: timings are rough)"
        if options["rounds"] == 1
        else "full run"
    )
    lines = ["# django-durabledict benchmarks", "", f"`python -m benchmarks`: {kind}."]
    lines += ["", *targets_section(gathered), "", f"## Per request ({size:,} keys)", ""]
    lines += main_table(gathered)
    if chart_name:
        lines += ["", f"![Per-request cost and round trips]({chart_name})"]
    lines += ["", "## Per request by store size", "", *sizes_table(gathered)]
    lines += ["", "## Round trips per request", "", *counts_table(gathered), ""]
    pace = 0.5
    lines.append(
        METHOD.format(
            rounds=options["rounds"],
            round_ms=options["round_seconds"] * 1e3,
            pace_ms=pace,
        )
    )
    return "\n".join([*lines, *environment_section(gathered["environment"]), ""])


def write_sample(out: Path, where: Path) -> None:
    """Copy a run's report to the committed sample, REPORT.md and REPORT.png."""
    text = (out / "report.md").read_text()
    if (out / "chart.png").exists():
        (where / "REPORT.png").write_bytes((out / "chart.png").read_bytes())
        text = text.replace("](chart.png)", "](REPORT.png)")
    (where / "REPORT.md").write_text(text)


def write(gathered: dict[str, Any], out: Path) -> str:
    """Write report.md, results.json and chart.png into *out*; return the report."""
    out.mkdir(parents=True, exist_ok=True)
    data = {key: value for key, value in gathered.items() if key != "systems"}
    data["labels"] = {s.name: s.label for s in gathered["systems"]}
    (out / "results.json").write_text(json.dumps(data, indent=1))
    chart_name = chart.draw(gathered, out / "chart.png")
    text = render(gathered, chart_name)
    (out / "report.md").write_text(text)
    return text
