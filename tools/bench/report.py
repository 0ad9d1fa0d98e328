"""The bench result (runner.run_bench's document) as a plain-text table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tools.bench.studies import NGINX
from tools.bench.targets import DEFAULTS, DIRECT, ENVOY

TARGET_ORDER = (ENVOY, DIRECT, DEFAULTS)
STUDY_TARGETS = (ENVOY, DIRECT, NGINX)
RATIO_NAMES = ("envoy/direct", "ours/defaults", "site/defaults")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Columns padded to their widest cell; the first column left-aligned, the others right-aligned."""
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        parts = [
            str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(row) for row in rows)]


def number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _cells(section: dict[str, Any], level_key: str) -> dict[tuple[str, int, str, str], dict[str, Any]]:
    return {(c["workload"], c[level_key], c["variant"], c["target"]): c for c in section["cells"]}


def _ratio(section: dict[str, Any], name: str, workload: str, level: int, metric: str) -> float | None:
    for row in section["ratios"]:
        if (row["name"], row["workload"], row["concurrency"], row["metric"]) == (name, workload, level, metric):
            return row["value"]
    return None


def _levels(section: dict[str, Any], level_key: str) -> list[tuple[str, int]]:
    seen: list[tuple[str, int]] = []
    for cell in section["cells"]:
        pair = (cell["workload"], cell[level_key])
        if pair not in seen:
            seen.append(pair)
    return seen


def deploy_lines(deploy: dict[str, Any]) -> list[str]:
    rows = [
        [deploy[key]["name"], number(deploy[key]["seconds"] / 60), times(deploy["ratios"].get(f"anchor/{key}"))]
        for key in ("dev", "prod")
    ]
    rows.append([deploy["anchor"]["name"], number(deploy["anchor"]["seconds"] / 60), "1.00x"])
    lines = ["Deploy: modeled time from `pulumi up` to a serving site (critical path of the real graph)"]
    lines += table(["stack", "minutes", "anchor/ours"], rows)
    for key in ("dev", "prod"):
        path = " -> ".join(step["step"].split(" ")[0].split(":")[-1] for step in deploy[key]["critical_path"])
        lines.append(f"  {key} critical path: {path}")
    return lines + availability_lines(deploy)


def availability_lines(deploy: dict[str, Any]) -> list[str]:
    """The scale-out topology's time to ready and rolling replacement, and both topologies' failover."""
    if "scale_out" not in deploy:
        return []
    rows = [[deploy["scale_out"]["name"] + ": time to a serving site", number(deploy["scale_out"]["seconds"] / 60)]]
    if deploy.get("rolling_replacement"):
        rows.append([deploy["rolling_replacement"]["name"], number(deploy["rolling_replacement"]["seconds"] / 60)])
    lines = ["", "Scale-out (modeled)", *table(["what", "minutes"], rows), "", "Failover (modeled)"]
    failover_rows = [[f"{path['name']}: {path['note']}", number(path["seconds"])] for path in deploy["failover"]]
    return lines + table(["case", "seconds"], failover_rows)


def dicom_lines(dicom: dict[str, Any], runs: int) -> list[str]:
    cells = _cells(dicom, "associations")
    rows = []
    for workload, level in _levels(dicom, "associations"):
        row = [f"{workload} x{dicom['workloads'][workload]['instances']}", str(level)]
        for target in TARGET_ORDER:
            cell = cells.get((workload, level, "ours", target))
            if cell is None:
                row.append("-")
                continue
            flag = "" if cell["complete"] else "!"
            row.append(
                f"{number(cell['median']['instances_per_s'])}/s {number(cell['median']['mb_per_s'], 2)} MB/s{flag}"
            )
        row += [times(_ratio(dicom, name, workload, level, "instances_per_s")) for name in RATIO_NAMES]
        rows.append(row)
    sizes = ", ".join(
        f"{name}: {w['description']} ({number(w['bytes_each'] / 1024)} KiB)" for name, w in dicom["workloads"].items()
    )
    lines = [f"DICOM C-STORE ingest, median of {runs} run(s) ({sizes})"]
    lines += table(["workload", "assoc", "envoy-tls", "direct", "defaults", *RATIO_NAMES], rows)
    failures = sum(c.get("first_attempt_failures", 0) for c in dicom["cells"])
    if failures:
        lines.append(f"  {failures} C-STORE(s) failed on first attempt and were resent (counted in the time)")
    if any(not c["complete"] for c in dicom["cells"]):
        lines.append("  ! some instances were never acknowledged in that cell")
    return lines


def web_lines(web: dict[str, Any], runs: int) -> list[str]:
    cells = _cells(web, "clients")
    rows = []
    for workload, level in _levels(web, "clients"):
        row = [f"{workload} x{web['workloads'][workload]['requests']}", str(level)]
        for target in TARGET_ORDER:
            cell = cells.get((workload, level, "ours", target))
            if cell is None:
                row.append("-")
                continue
            m = cell["median"]
            row.append(f"{number(m['requests_per_s'])}/s {number(m['p50_ms'], 2)}/{number(m['p99_ms'], 1)} ms")
        row.append(times(_ratio(web, "envoy/direct", workload, level, "requests_per_s")))
        row.append(times(_ratio(web, "envoy/direct", workload, level, "p50_ms")))
        row.append(times(_ratio(web, "ours/defaults", workload, level, "requests_per_s")))
        rows.append(row)
    lines = [f"Web {web['path']}: requests/s and p50/p99 latency, median of {runs} run(s)"]
    lines += table(
        [
            "workload",
            "clients",
            "envoy-https",
            "direct-http",
            "defaults-http",
            "envoy/direct",
            "p50 e/d",
            "ours/defaults",
        ],
        rows,
    )
    return lines


def variant_lines(variants: list[dict[str, Any]]) -> list[str]:
    if not variants:
        return ["Variants: none run"]
    rows = []
    for variant in variants:
        for c in variant["comparisons"]:
            unit = "inst/s" if c["kind"] == "dicom" else "req/s"
            rows.append(
                [
                    variant["name"],
                    f"{c['kind']} {c['workload']} x{c['concurrency']} {c['target']}",
                    f"{number(c['ours'])} {unit}",
                    f"{number(c['variant'])} {unit}",
                    times(c["ratio"]),
                ]
            )
        rows.append(
            [variant["name"], "geometric mean -> " + variant["verdict"], "", "", times(variant["geometric_mean_ratio"])]
        )
    lines = ["Variants: one setting changed in the rendered files, measured beside ours (ratio = variant/ours)"]
    lines += table(["variant", "cell", "ours", "variant", "ratio"], rows)
    lines += [f"  {v['name']}: {v['file']}: {v['setting']}" for v in variants]
    return lines


def program_lines(program: dict[str, Any]) -> list[str]:
    rows = [
        [
            entry["label"],
            str(entry["runs"]),
            number(entry["wall_seconds_median"], 2),
            number(entry["peak_rss_mb"]),
            str(entry["exit_status"]),
        ]
        for entry in (program["plan"], program["suite"])
    ]
    return ["Program: wall time (median) and peak RSS", *table(["command", "runs", "seconds", "peak MB", "exit"], rows)]


def format_report(result: dict[str, Any]) -> str:
    settings = result["settings"]
    mode = "QUICK (1 run, small counts: smoke figures, not for comparison)" if settings["mode"] == "quick" else "full"
    machine = result["machine"]
    header = [
        f"orthweb bench — {mode}",
        f"{result['started']}, {machine['cpus']} CPUs, load {machine['load_average_1m']} -> "
        f"{machine.get('load_average_1m_end', '?')}, {result.get('duration_seconds', '?')} s; "
        "ratios are medians of run-by-run ratios (runs interleaved)",
    ]
    if "deploy" not in result:  # `bench --studies-only`
        return "\n\n".join("\n".join(lines) for lines in (header, studies_lines(result["studies"])) if lines) + "\n"
    sections = [
        header,
        deploy_lines(result["deploy"]),
        dicom_lines(result["dicom"], settings["runs"]),
        web_lines(result["web"], settings["runs"]),
        studies_lines(result.get("studies")),
        variant_lines(result["variants"]),
        program_lines(result["program"]),
    ]
    return "\n\n".join("\n".join(lines) for lines in sections if lines) + "\n"


def studies_lines(studies: dict[str, Any] | None) -> list[str]:
    """Whole-study workloads: MB/s per target, ratios to direct and to nginx, the limit reached."""
    if not studies:
        return []
    rows = []
    for row in studies["rows"]:
        first = row[ENVOY].get("first_byte_s")
        rows.append(
            [
                row["workload"],
                *(number(row[target]["mb_per_s"]) for target in STUDY_TARGETS),
                number(row[ENVOY]["instances_per_s"]),
                times(row["envoy/direct"]),
                times(row["envoy/nginx-tls"]),
                "-" if first is None else f"{first:.2f}",
                row["limit"],
            ]
        )
    lines = [f"Whole studies: MB/s, median of {studies['settings']['runs']} run(s)"]
    lines += table(
        ["workload", *STUDY_TARGETS, "inst/s envoy", "envoy/direct", "envoy/nginx", "1st byte s", "limit"], rows
    )
    memory = ", ".join(f"{name} {mib:,.0f}" for name, mib in studies["peak_memory_mib"].items())
    return [*lines, f"  peak RSS, MiB: {memory}", *proxy_variant_lines(studies.get("variants", []))]


def proxy_variant_lines(variants: list[dict[str, Any]]) -> list[str]:
    """Envoy variants on the whole studies: each workload's MB/s and its ratio to ours."""
    if not variants:
        return []
    rows = [
        [variant["name"], c["workload"], number(c["mb_per_s"]), times(c["ratio"])]
        for variant in variants
        for c in variant["comparisons"]
    ]
    lines = ["", "Envoy variants on whole studies, beside ours on the same replicas (ratio = variant/ours)"]
    lines += table(["variant", "workload", "MB/s", "ratio"], rows)
    return lines + [f"  {v['name']}: {v['setting']}" for v in variants]
