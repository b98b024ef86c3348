"""``python -m bench [--n N] [--only SECTION ...]``: service throughput on embedded Kafka + PG.

Each section is a module with ``async def run(env, n, warmup) -> list[row]``; a row is a dict with
``section``, ``what``, ``value``, ``target``, ``pass`` (None for reference figures) and optionally
``detail`` (a ``Timed.as_dict()``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import classifier, e2e, enforcement, intake
from devstack.embedded import EmbeddedKafka, EmbeddedPostgres
from tests.harness import service_env

SECTIONS: dict[str, Any] = {
    "intake": intake,
    "classifier": classifier,
    "enforcement": enforcement,
    "e2e": e2e,
}
ROOT = Path(__file__).resolve().parents[1]


def _print(rows: list[dict[str, Any]]) -> None:
    w = max(len(r["what"]) for r in rows)
    head = f"{'what':<{w}}  {'value':>10}  {'target':>12}  result"
    print(head)
    print("-" * len(head))
    for r in rows:
        res = "-" if r["pass"] is None else ("PASS" if r["pass"] else "FAIL")
        print(f"{r['what']:<{w}}  {r['value']:>10}  {r['target']:>12}  {res}")
    print()
    for r in rows:
        if "detail" in r:
            d = r["detail"]
            print(
                f"  {r['what'].split(' (')[0]}: n={d['n']} total={d['total_s']}s "
                f"(start-up to first output {d['startup_s']}s, first->last {d['steady_s']}s, "
                f"steady {d['steady_rate_per_s']}/s, CPU {d['cpu_us_per_message']} us per message)"
                + (f"; every round: {d['rounds_per_s']} /s" if "rounds_per_s" in d else "")
            )
        elif "rounds_per_s" in r:
            print(f"  {r['what'].split(' (')[0]}: every round: {r['rounds_per_s']} /s")
        elif "rounds" in r:
            print(f"  {r['what'].split(' (')[0]}, round by round: {r['rounds']}")


async def _bench(
    kafka: EmbeddedKafka, pg: EmbeddedPostgres, args: argparse.Namespace
) -> tuple[list[Any], dict[str, Any]]:
    env = service_env(kafka, pg, "")
    env["log_level"] = "WARNING"
    rows: list[Any] = []
    details: dict[str, Any] = {}
    for name, module in SECTIONS.items():
        if args.only and name not in args.only:
            continue
        if module is e2e:
            got, details["e2e"] = await e2e.run_stack(
                kafka,
                pg,
                rates=args.rates,
                seconds=args.seconds,
                probes=args.probes,
                burst=args.burst,
            )
            rows.extend(got)
        else:
            rows.extend(await module.run(env, args.n, args.warmup))
    return rows, details


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench")
    p.add_argument("--n", type=int, default=20_000, help="messages per timed run")
    p.add_argument("--warmup", type=int, default=300, help="untimed warm-up messages per run")
    p.add_argument("--only", nargs="*", choices=list(SECTIONS), default=[], help="sections to run")
    p.add_argument("--out", type=Path, default=ROOT / ".bench" / "results.json")
    p.add_argument(
        "--rates",
        type=float,
        nargs="+",
        default=[250, 500, 1000, 1500],
        help="e2e: offered notices per second, one run each",
    )
    p.add_argument("--seconds", type=float, default=30, help="e2e: seconds per offered rate")
    p.add_argument("--probes", type=int, default=20, help="e2e: single notices on the idle stack")
    p.add_argument(
        "--burst", type=float, default=2000, help="e2e: notices/s of the 30 s burst (0: none)"
    )
    raw = list(sys.argv[1:] if argv is None else argv)
    if raw[:1] == ["e2e"]:  # python -m bench e2e [...]: the end-to-end section alone
        raw = [*raw[1:], "--only", "e2e"]
    args = p.parse_args(raw)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger().setLevel(logging.WARNING)

    # A short path: the socket lives in the data dir and socket paths are limited to ~100 bytes.
    datadir = Path(tempfile.gettempdir()) / f"tnsb-{os.getpid()}"
    kafka = EmbeddedKafka()
    pg = EmbeddedPostgres(datadir)
    started = time.monotonic()
    try:
        kafka.start()
        pg.start()
        bench = _bench(kafka, pg, args)
        rows, details = asyncio.run(asyncio.wait_for(bench, 3600))
    finally:
        try:
            pg.stop()
        finally:
            kafka.stop()
            shutil.rmtree(datadir, ignore_errors=True)
    print(
        f"bench: n={args.n} warm-up={args.warmup} cpus={os.cpu_count()} "
        f"python={platform.python_version()} wall={time.monotonic() - started:.1f}s"
    )
    _print(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "n": args.n,
                "warmup": args.warmup,
                "cpus": os.cpu_count(),
                "rows": rows,
                **details,
            },
            indent=2,
            default=str,
        )
    )
    print(f"\nwrote {args.out}")
    if "e2e" in details:
        chart = args.out.with_name("e2e.png")
        e2e.chart(details["e2e"], chart)
        print(f"wrote {chart}")
    return 0 if all(r["pass"] is not False for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
