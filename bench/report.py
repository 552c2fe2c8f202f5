#!/usr/bin/env python3
"""Turn the measurements of scripts/bench.sh into a Markdown report.

Subcommands:
  vm-timings  read an Envoy log and print when each VM finished configuring
  criterion   read `cargo bench` output and print one line per benchmark
  markdown    read the results file and print the report

The results file has one measurement a line: a kind, then key=value pairs;
a `name=` pair, when present, is last and takes the rest of the line.
"""

import argparse
import datetime
import os
import platform
import re
import statistics
import subprocess
import sys
import time

CASES = [
    ("a", "direct_response on the webhook path, no plugin (the ceiling)"),
    ("b", "the filter, 10 rules"),
    ("c", "the filter, 100,000 site rules + 1,000 recurring rules"),
    ("d_with", "other path to the upstream, plugin (100k rules) in the chain"),
    ("d_without", "other path to the upstream, no plugin"),
    ("d_route_off", "other path to the upstream, plugin (10 rules) disabled on that route"),
]
SHAPES = [
    ("saturated", "saturating load"),
    ("one_connection", "one connection, one request at a time"),
]
LOG_LINE = re.compile(r"^\[(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d+)\]\[(\d+)\]\[\w+\]\[\w+\] (.*)$")
UNITS_NS = {"ps": 0.001, "ns": 1.0, "µs": 1_000.0, "us": 1_000.0, "ms": 1_000_000.0, "s": 1_000_000_000.0}


def parse_record(line):
    kind, _, rest = line.strip().partition(" ")
    fields = {}
    name_at = rest.find("name=")
    if kind == "criterion" and name_at >= 0:
        fields["name"] = rest[name_at + len("name="):]
        rest = rest[:name_at]
    for key, value in re.findall(r"(\w+)=(\S+)", rest):
        fields[key] = value
    return kind, fields


def read_results(path):
    records = []
    with open(path, encoding="utf-8") as results:
        for line in results:
            if line.strip():
                records.append(parse_record(line))
    return records


def log_time(text):
    """Return a log timestamp (Envoy writes local time) as Unix seconds."""
    moment = datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f")
    return time.mktime(moment.timetuple()) + moment.microsecond / 1_000_000


def vm_timings(arguments):
    """Print the milliseconds from the push to the first wasm VM creation and
    to each VM's `configured` line for the new rules."""
    pushed = float(arguments.after.split()[0])
    created = None
    configured = []
    with open(arguments.log, encoding="utf-8", errors="replace") as envoy_log:
        for line in envoy_log:
            match = LOG_LINE.match(line)
            if not match:
                continue
            moment = log_time(match.group(1))
            if moment < pushed:
                continue
            message = match.group(3)
            if created is None and "Wasm created" in message:
                created = moment
            if f"configured: {arguments.rules} rules" in message:
                configured.append((moment, match.group(2)))

    if created is not None:
        print(f"step=wasm_created push_ms={(created - pushed) * 1000:.1f}")
    for position, (moment, thread) in enumerate(configured, start=1):
        print(f"step=configured vm={position} thread={thread} push_ms={(moment - pushed) * 1000:.1f}")


def criterion(arguments):
    """Print `criterion low_ns= median_ns= high_ns= name=` for each result in
    `cargo bench` output; the name may stand on the line before `time:`."""
    previous = ""
    with open(arguments.output, encoding="utf-8", errors="replace") as output:
        for line in output:
            line = line.rstrip("\n")
            match = re.search(r"time:\s+\[([^\]]+)\]", line)
            if not match:
                if line.strip() and not line.startswith(" "):
                    previous = line.strip()
                continue
            name = line[: line.find("time:")].strip() or previous
            values = match.group(1).split()
            if len(values) != 6:
                continue
            low, median, high = (float(values[i]) * UNITS_NS[values[i + 1]] for i in (0, 2, 4))
            print(f"criterion low_ns={low:.0f} median_ns={median:.0f} high_ns={high:.0f} name={name}")


def median_of(records, case, shape, key):
    values = [
        float(fields[key])
        for kind, fields in records
        if kind == "wrk" and fields["case"] == case and fields["shape"] == shape
    ]
    return statistics.median(values) if values else None


def requests_per_second(fields):
    return int(fields["requests"]) / (int(fields["duration_us"]) / 1_000_000)


def machine_lines():
    cpu_model = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    memory_kib = 0
    with open("/proc/meminfo", encoding="utf-8") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    commit = git("rev-parse", "--short=12", "HEAD")
    dirty = " with uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else ""
    return [
        f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {os.cpu_count()} cores (nproc), {memory_kib / 1024 / 1024:.1f} GiB memory, {cpu_model}, "
        f"Linux {platform.release()}",
        f"- source: commit {commit}{dirty}",
    ]


def git(*arguments):
    try:
        return subprocess.run(["git", *arguments], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def verdict(value, goal, higher_is_better):
    if value is None:
        return "not measured"
    met = value >= goal if higher_is_better else value <= goal
    return "met" if met else "missed"


def markdown(arguments):
    records = read_results(arguments.results)
    for _, fields in records:
        if "requests" in fields:
            fields["rps"] = requests_per_second(fields)
    metrics = {}
    for kind, fields in records:
        if kind == "metric":
            metrics.setdefault(fields["name"], []).append(float(fields["value"]))

    lines = ["### Run", ""]
    lines += machine_lines()
    lines += [
        f"- command: `{arguments.command}` ({arguments.settings})",
        f"- Envoy {arguments.envoy_version.removeprefix('version: ')}, wrk with 1 thread",
        "",
    ]

    lines += load_section(records)
    goals = goal_values(records, metrics)
    lines += configuration_section(records, metrics)
    lines += memory_section(records, goals)
    lines += criterion_section(records)
    lines += goals_section(goals, metrics)
    print("\n".join(lines))


def load_section(records):
    lines = ["### Throughput and latency", ""]
    for shape, description in SHAPES:
        connections = next(
            (fields["connections"] for kind, fields in records if kind == "wrk" and fields["shape"] == shape), "?"
        )
        runs = sum(1 for kind, fields in records if kind == "wrk" and fields["shape"] == shape and fields["case"] == "a")
        lines += [
            f"{description.capitalize()} ({connections} connection(s)), median of {runs} run(s):",
            "",
            "| case | requests/s | p50 | p99 | errors |",
            "|---|---|---|---|---|",
        ]
        for case, case_description in CASES:
            rps = median_of(records, case, shape, "rps")
            if rps is None:
                continue
            p50 = median_of(records, case, shape, "p50_us")
            p99 = median_of(records, case, shape, "p99_us")
            errors = sum(
                int(fields[key])
                for kind, fields in records
                if kind == "wrk" and fields["case"] == case and fields["shape"] == shape
                for key in fields
                if key.startswith("errors_")
            )
            lines.append(f"| {case}: {case_description} | {rps:,.0f} | {p50:.0f} µs | {p99:.0f} µs | {errors} |")
        lines.append("")

        ratio_lines = []
        for label, numerator, denominator in [
            ("b/a", "b", "a"),
            ("c/a", "c", "a"),
            ("d with/without", "d_with", "d_without"),
            ("d route off/without", "d_route_off", "d_without"),
        ]:
            top = median_of(records, numerator, shape, "rps")
            bottom = median_of(records, denominator, shape, "rps")
            if top is not None and bottom:
                ratio_lines.append(f"{label} {top / bottom:.3f}")
        p99_a = median_of(records, "a", shape, "p99_us")
        p99_c = median_of(records, "c", shape, "p99_us")
        lines.append("Ratios of requests/s: " + ", ".join(ratio_lines) + ".")
        if p99_a is not None and p99_c is not None:
            lines.append(f"p99 of c minus p99 of a: {p99_c - p99_a:+.0f} µs.")
        lines.append("")
    return lines


def configuration_section(records, metrics):
    lines = ["### Configuring 100,000 rules", ""]
    size = metrics.get("config_bytes_100k", [0])[0]
    lines.append(f"The plugin configuration with 101,000 rules is {size / 1_048_576:.1f} MiB of JSON.")
    lines.append("")
    lines += ["| measurement | ms |", "|---|---|"]
    for kind, fields in records:
        if kind == "reconfigure":
            lines.append(
                f"| ECDS push ({fields['format']} file) to the first response that uses it | "
                f"{float(fields['push_to_response_ms']):.0f} |"
            )
    for kind, fields in records:
        if kind == "vm_configure":
            label = "VM created (wasm log)" if fields["step"] == "wasm_created" else (
                f"VM {fields['vm']} (thread {fields['thread']}) logged `configured`"
            )
            lines.append(f"| ECDS push ({fields['format']}) to {label} | {float(fields['push_ms']):.0f} |")
    for kind, fields in records:
        if kind == "memory" and fields["workers"] == min_workers(records):
            lines.append(
                f"| Envoy start to first response, {fields['rules']} rules (static bootstrap) | "
                f"{fields['startup_to_response_ms']} |"
            )
    cli = metrics.get("cli_check_ms")
    if cli:
        lines.append(f"| host CLI `check` (read, parse, compile; native), median of {len(cli)} | {statistics.median(cli):.0f} |")
    lines.append("")
    return lines


def min_workers(records):
    return min(fields["workers"] for kind, fields in records if kind == "memory")


def memory_section(records, goals):
    lines = ["### Resident memory (VmRSS)", ""]
    lines += ["| workers | rules | VmRSS after start and 8 requests | VMs that logged `configured` |", "|---|---|---|---|"]
    for kind, fields in records:
        if kind == "memory":
            lines.append(
                f"| {fields['workers']} | {fields['rules']} | {int(fields['rss_kib']) / 1024:.1f} MiB | "
                f"{fields['configured_vms']} |"
            )
    for kind, fields in records:
        if kind == "memory_after_load":
            lines.append(
                f"| {fields['workers']} | {fields['rules']}, after the load runs | {int(fields['rss_kib']) / 1024:.1f} MiB | |"
            )
    lines.append("")
    if goals.get("memory_per_vm_mib") is not None:
        lines.append(
            f"The 100,000 rules add {goals['memory_total_mib']:.1f} MiB at the lower worker count, "
            f"{goals['memory_per_vm_mib']:.1f} MiB per VM that configured them. One more worker adds "
            f"{goals['memory_mib_per_worker']:.1f} MiB more with the rules than without them, "
            "which is the figure per worker."
        )
        lines.append("")
    return lines


def criterion_section(records):
    results = [fields for kind, fields in records if kind == "criterion"]
    if not results:
        return []
    lines = ["### Host benchmarks (`cargo bench --bench decide`)", "", "| benchmark | median |", "|---|---|"]
    for fields in results:
        lines.append(f"| {fields['name']} | {float(fields['median_ns']) / 1000:.2f} µs |")
    lines.append("")
    return lines


def goal_values(records, metrics):
    goals = {}
    a = median_of(records, "a", "saturated", "rps")
    c = median_of(records, "c", "saturated", "rps")
    if a and c is not None:
        goals["throughput_c_over_a"] = c / a
    with_filter = median_of(records, "d_with", "saturated", "rps")
    without = median_of(records, "d_without", "saturated", "rps")
    if with_filter is not None and without:
        goals["throughput_d"] = with_filter / without
    route_off = median_of(records, "d_route_off", "saturated", "rps")
    if route_off is not None and without:
        goals["throughput_d_route_off"] = route_off / without
    p99_a = median_of(records, "a", "one_connection", "p99_us")
    p99_c = median_of(records, "c", "one_connection", "p99_us")
    if p99_a is not None and p99_c is not None:
        goals["p99_c_minus_a_us"] = p99_c - p99_a

    steps = [fields for kind, fields in records if kind == "vm_configure" and fields["format"] == "pb"]
    created = [float(fields["push_ms"]) for fields in steps if fields["step"] == "wasm_created"]
    configured = sorted(float(fields["push_ms"]) for fields in steps if fields["step"] == "configured")
    if created and configured:
        # The first VM configures alone, right after its creation; the others
        # start when it has finished and run side by side.
        goals["configure_ms_per_vm"] = configured[0] - created[0]
        if len(configured) > 1:
            goals["configure_ms_parallel_vm"] = configured[-1] - configured[0]

    memory = {
        (int(fields["workers"]), fields["rules"]): int(fields["rss_kib"])
        for kind, fields in records
        if kind == "memory"
    }
    vms = {
        (int(fields["workers"]), fields["rules"]): int(fields["configured_vms"])
        for kind, fields in records
        if kind == "memory"
    }
    worker_counts = sorted({workers for workers, _ in memory})
    if len(worker_counts) >= 2:
        low, high = worker_counts[0], worker_counts[1]
        total = memory[(low, "100k")] - memory[(low, "0")]
        extra = (memory[(high, "100k")] - memory[(high, "0")]) - total
        goals["memory_total_mib"] = total / 1024
        goals["memory_per_vm_mib"] = total / 1024 / max(vms[(low, "100k")], 1)
        goals["memory_mib_per_worker"] = extra / (high - low) / 1024

    wasm = metrics.get("wasm_bytes")
    if wasm:
        goals["wasm_bytes"] = wasm[0]
    return goals


def goals_section(goals, metrics):
    rows = [
        ("c/a throughput (saturating load)", "≥ 0.95", goals.get("throughput_c_over_a"), "{:.3f}", 0.95, True),
        ("d, with filter / without (saturating load)", "≥ 0.98", goals.get("throughput_d"), "{:.3f}", 0.98, True),
        (
            "d, plugin disabled on that route / without (saturating load)",
            "≥ 0.98",
            goals.get("throughput_d_route_off"),
            "{:.3f}",
            0.98,
            True,
        ),
        ("p99 of c minus p99 of a (one connection)", "≤ 100 µs", goals.get("p99_c_minus_a_us"), "{:+.0f} µs", 100, False),
        (
            "configure 100,000 rules, first VM (ECDS, binary protobuf)",
            "≤ 200 ms per VM",
            goals.get("configure_ms_per_vm"),
            "{:.0f} ms",
            200,
            False,
        ),
        (
            "configure 100,000 rules, later VMs side by side (ECDS, binary protobuf)",
            "≤ 200 ms per VM",
            goals.get("configure_ms_parallel_vm"),
            "{:.0f} ms",
            200,
            False,
        ),
        ("memory for 100,000 rules, per worker", "≤ 40 MiB", goals.get("memory_mib_per_worker"), "{:.1f} MiB", 40, False),
        (".wasm size", "≤ 1 MiB", goals.get("wasm_bytes"), "{:,.0f} bytes", 1_048_576, False),
    ]
    lines = ["### Against the goals", "", "| figure | goal | measured | |", "|---|---|---|---|"]
    for label, goal_text, value, value_format, goal, higher in rows:
        measured_text = value_format.format(value) if value is not None else "-"
        lines.append(f"| {label} | {goal_text} | {measured_text} | {verdict(value, goal, higher)} |")
    lines.append("")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    timings = commands.add_parser("vm-timings")
    timings.add_argument("--log", required=True)
    timings.add_argument("--after", required=True, help="Unix time of the push, in seconds")
    timings.add_argument("--rules", required=True, help="rule count in the `configured` line")

    bench = commands.add_parser("criterion")
    bench.add_argument("--output", required=True)

    report = commands.add_parser("markdown")
    report.add_argument("--results", required=True)
    report.add_argument("--command", required=True)
    report.add_argument("--settings", required=True)
    report.add_argument("--envoy-version", required=True)

    arguments = parser.parse_args()
    if arguments.command == "vm-timings":
        vm_timings(arguments)
    elif arguments.command == "criterion":
        criterion(arguments)
    else:
        markdown(arguments)
    return 0


if __name__ == "__main__":
    sys.exit(main())
