"""Soak: two nodes on one PostgreSQL and one Redis, customers and staff chatting through
injected faults, and an account of every message at the end (docs/DESIGN.md budgets:
0 lost, 0 duplicated, reconnect p95 <= 5 s after the server is back).

The bench starts a private PostgreSQL (initdb + pg_ctl in a temporary directory) and a
private redis-server, both on free ports of 127.0.0.1, and two ``porchlight serve`` nodes
(tests/cluster.py). Customers (one conversation each) and staff consoles are real
python-socketio clients split across the nodes that behave as the widget and the console do
(soak_clients.py on soak_link.py: outbox, resend by ``client_msg_id``, resume by ``seq``,
the widget's reconnect schedule). Customers write at a steady rate; staff accept every ring
and answer a share of what arrives. Meanwhile faults run on a schedule:

- ``kill``: ``kill -9`` of a node (alternately A and B), started again after ``--down`` s;
- ``sigstop``: a node stopped with SIGSTOP for ``--stop-seconds``, then SIGCONT;
- ``redis``: the Redis server killed and started again (empty) after ``--down`` s;
- ``pg_terminate``: every connection to the bench database ended (``pg_terminate_backend``);
- ``pg_restart``: the PostgreSQL server stopped (``-m immediate``: no checkpoint, crash
  recovery on start) and started again after ``--down`` s;
- ``storm``: ``--storm-sockets`` extra idle widget sockets (bench/soak_storm.py) are opened
  on node B, then node B is killed (-9) and restarted: they all redial at once, with B's
  chatting clients among them.

After each fault, for every client it touched (a disconnect or a failed acknowledgement
between the fault and the server being back, or a call in flight when it came back) the
figure is the time from "back" to the client's first successful acknowledgement: the node
answers /healthz again (kill, storm), SIGCONT (sigstop), Redis answers (redis), PostgreSQL
accepts connections again (pg_*). Then the database is read and checked against what was
acknowledged so far.

At the end the outboxes are flushed (bounded), every client catches up as after a reconnect,
and every customer replays its conversation from seq 0. Definitions:

- acknowledged: ``message.send`` answered ok (each ``client_msg_id`` once);
- stored: rows in ``messages`` with a ``client_msg_id`` the bench sent;
- lost: acknowledged but not stored as acknowledged (conversation, seq, body); or sent and
  never acknowledged nor refused once the outboxes were flushed; or stored but missing from
  the customer's or the assigned staff member's view after the final catch-up;
- duplicated: a ``client_msg_id`` or a body stored in more than one row; a view holding one
  seq with two contents, or one ``client_msg_id`` at two seqs; two ok acknowledgements of one
  ``client_msg_id`` with different seqs.

Reported too, without failing the run: final refusals; "requeued" system messages (a staff
member's grace ran out, which no fault here should cause: every console is back within
seconds); consoles connected and synced that the fleet counts as gone (no socket row);
messages a client first held at the final catch-up (a lost hint that nothing later
repaired); tracebacks and ERROR lines in the node logs.

The run exits 1 on any loss or duplicate (2 if the run itself failed).

    .venv/bin/python bench/soak.py [--quick] [--json out.json] [--logs DIR]
                                   [--postgres user@host:port] [--messages N] ...

``--quick`` is a few minutes (20 conversations, 800 messages, 7 faults, 300 storm sockets);
the defaults (120 conversations, 10,000 customer messages, 21 faults, 2,000 storm sockets)
take about 25-35 minutes. ``--postgres`` uses a database on a shared server instead of a
private one: its restarts then become connection terminations.

The pieces: soak_fleet.py (parameters, nodes, clients), soak_faults.py (the plan, the
injector, recovery), soak_account.py (the checks), soak_services.py (PostgreSQL),
soak_storm.py (the idle sockets' worker process).

Only 127.0.0.1 is used. Everything it starts is stopped, and its temporary files deleted
(node, Redis and PostgreSQL logs are copied to ``--logs`` first, or next to the temporary
directory when the run fails).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import secrets
import shutil
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any

from soak_account import finish
from soak_faults import Injector, kinds_summary, plan_faults
from soak_fleet import (
    GOAL_P95_MS,
    LABELS,
    QUICK,
    RUN_TIMEOUT,
    Cluster,
    Fleet,
    Parameters,
    PrivateRedis,
    log,
    node_settings,
)
from soak_services import Postgres, PrivatePostgres, SharedPostgres

# -- the run --------------------------------------------------------------------------------


async def drive(fleet: Fleet, injector: Injector) -> int:
    """Customers write at ``rate``, round the conversations by weight (one talker gets
    ``talker_share``), until ``messages`` are written and the faults are over."""
    p = fleet.params
    rng = random.Random(p.seed)
    others = (1 - p.talker_share) / max(1, len(fleet.customers) - 1)
    weights = [p.talker_share] + [others] * (len(fleet.customers) - 1)
    interval = 1 / p.rate
    next_at = time.monotonic()
    written = 0
    while written < p.messages or not injector.done:
        delay = next_at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        rng.choices(fleet.customers, weights)[0].say(fleet.run)
        written += 1
        next_at = max(next_at + interval, time.monotonic() - 1.0)
    return written


def node_log_problems(workdir: Path) -> dict[str, int]:
    """Tracebacks and ERROR lines per node log (a sign of a server-side bug)."""
    found = {}
    for path in sorted(workdir.glob("node-*.log")):
        text = path.read_text(errors="replace")
        found[path.stem] = text.count("Traceback") + text.count(" ERROR ")
    return found


async def soak(p: Parameters, shared_pg: str | None, logs: Path | None) -> dict[str, Any]:
    run = secrets.token_hex(3)
    workdir = Path(tempfile.mkdtemp(prefix=f"porchlight-soak-{run}-"))
    failed = True
    try:
        async with AsyncExitStack() as stack:
            postgres: Postgres
            if shared_pg:
                postgres = SharedPostgres(shared_pg)
            else:
                private = PrivatePostgres(workdir / "pg")
                await asyncio.to_thread(private.init)
                await asyncio.to_thread(private.start)
                stack.callback(private.stop, "fast")
                postgres = private
            database = f"porchlight_soak_{run}"
            await postgres.create_database(database)
            if shared_pg:
                stack.push_async_callback(postgres.drop_database, database)
            redis = PrivateRedis(workdir)
            redis.start()
            stack.callback(redis.kill)
            cluster = Cluster(postgres.url(database), redis.url, workdir)
            stack.push_async_callback(cluster.stop)
            nodes = {name: cluster.node(f"node-{name}", **node_settings()) for name in "ab"}
            for node in nodes.values():
                node.spawn()
            await asyncio.gather(*(node.ready() for node in nodes.values()))
            fleet = Fleet(p, run, workdir, postgres, database, redis, cluster, nodes)
            stack.push_async_callback(fleet.close_clients)
            log(f"run {run}: nodes up; opening {p.conversations} conversations, {p.staff} staff")
            await fleet.open_clients()
            faults, notes = plan_faults(p, postgres.restartable)
            log(f"{len(faults)} faults: {', '.join(f.kind + ':' + f.target for f in faults)}")
            started = time.monotonic()
            load_before = os.getloadavg()
            injector = Injector(fleet, started)
            injecting = asyncio.create_task(injector.run(faults))
            written = await drive(fleet, injector)
            await injecting
            log(f"{written} customer messages written; flushing and checking")
            account = await finish(fleet)
            elapsed = time.monotonic() - started
            report = {
                "benchmark": "soak",
                "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "run": run,
                "machine": {
                    "nproc": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                    # The machine is shared: how busy it was (1, 5, 15 min), start and end.
                    "load_average": [list(load_before), list(os.getloadavg())],
                },
                "parameters": asdict(p),
                "postgres": "shared " + shared_pg if shared_pg else "private (initdb, pg_ctl)",
                "notes": notes,
                "soak_s": round(elapsed, 1),
                "faults": [asdict(r) for r in injector.results],
                "kinds": kinds_summary(injector.results),
                "account": account,
                "node_log_problems": node_log_problems(workdir),
            }
            failed = account["lost"] > 0 or account["duplicated"] > 0
            return report
    finally:
        keep = logs or (workdir.parent / f"{workdir.name}-logs" if failed else None)
        if keep is not None:
            keep_logs(workdir, keep)
            log(f"logs kept in {keep}")
        shutil.rmtree(workdir, ignore_errors=True)


def keep_logs(workdir: Path, keep: Path) -> None:
    keep.mkdir(parents=True, exist_ok=True)
    for path in workdir.glob("*.log"):
        shutil.copy2(path, keep / path.name)
    pg_log = workdir / "pg" / "postgres.log"
    if pg_log.exists():
        shutil.copy2(pg_log, keep / "postgres.log")


def table(report: dict[str, Any]) -> str:
    head = (
        f"{'fault':<17}{'n':>3}{'affected':>9}{'stuck':>6}{'p50 ms':>8}{'p95 ms':>8}"
        f"{'max ms':>8}{'err':>5}{'acked':>7}{'stored':>7}{'lost':>5}{'dup':>4}"
        f"{'requeued':>9}{'forgot':>7}"
    )
    lines = [
        "reconnect: from the server being back to each touched client's first ok "
        "acknowledgement; err: failed acknowledgements after it was back; acked..forgot: the "
        "account after the last fault of the kind",
        head,
    ]
    for row in report["kinds"]:
        ms, check = row["reconnect_ms"], row["check"]
        lines.append(
            f"{LABELS[row['kind']]:<17}{row['faults']:>3}{row['affected']:>9}{row['stuck']:>6}"
            f"{ms.get('p50', '-'):>8}{ms.get('p95', '-'):>8}{ms.get('max', '-'):>8}"
            f"{row['errors_after_back']:>5}{check.get('acked', 0):>7}{check.get('stored', 0):>7}"
            f"{check.get('lost', 0):>5}{check.get('dup', 0):>4}"
            f"{check.get('requeued', 0):>9}{check.get('forgotten', 0):>7}"
        )
        for storm in row.get("storm", []):
            lines.append(
                f"{'  idle sockets':<17}{'':>3}{storm['sockets']:>9}"
                f"{storm['sockets'] - storm['back']:>6}{storm.get('p50', '-'):>8}"
                f"{storm.get('p95', '-'):>8}{storm.get('max', '-'):>8}"
            )
        if "hints_resumed_ms" in row:
            values = row["hints_resumed_ms"]["values"]
            lines.append(f"  cross-node hints back both ways after (ms): {values}")
    a = report["account"]
    lines += [
        "",
        f"sent {a['sent']}, acknowledged {a['acknowledged']}, stored {a['stored']}, "
        f"lost {a['lost']}, duplicated {a['duplicated']}",
        f"lost: {a['lost_detail']}",
        f"duplicated: {a['duplicated_detail']}",
        f"refused {a['refused']} (stored anyway: {a['refused_but_stored']}); seq gaps "
        f"{a['seq_gaps']}; requeued {a['requeued']}; consoles forgotten while connected "
        f"{a['forgotten_consoles']}; replays from 0 wrong {a['replay_from_0_wrong']}; "
        f"seen only at the final catch-up {a['seen_only_at_final_catch_up']}; "
        f"drops {a['drops']}",
        f"node log tracebacks/errors: {report['node_log_problems']}",
    ]
    if a["client_errors"]:
        lines.append(f"client errors ({a['client_error_count']}): {a['client_errors']}")
    return "\n".join(lines)


def parse(argv: list[str] | None) -> tuple[Parameters, argparse.Namespace]:
    cli = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    cli.add_argument("--quick", action="store_true", help="a few minutes, fewer of everything")
    defaults = Parameters()
    for name, value in asdict(defaults).items():
        cli.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=None)
    cli.add_argument("--postgres", help="user@host:port of a shared server (default: private)")
    cli.add_argument("--json", type=Path, help="also write the JSON report here")
    cli.add_argument("--logs", type=Path, help="copy the node, Redis and PostgreSQL logs here")
    args = cli.parse_args(argv)
    values = {**asdict(defaults), **(QUICK if args.quick else {})}
    for name in asdict(defaults):
        given = getattr(args, name)
        if given is not None:
            values[name] = given
    return Parameters(**values), args


def main(argv: list[str] | None = None) -> int:
    p, args = parse(argv)
    try:
        report = asyncio.run(asyncio.wait_for(soak(p, args.postgres, args.logs), RUN_TIMEOUT))
    except Exception as error:
        log(f"the soak failed: {error!r}")
        raise SystemExit(2) from error
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    print(json.dumps({k: v for k, v in report.items() if k != "faults"}, indent=2))
    worst = max((r["reconnect_ms"].get("p95", 0) for r in report["kinds"]), default=0)
    a = report["account"]
    verdict = "ok" if a["lost"] == 0 and a["duplicated"] == 0 else "FAILED"
    print(
        f"verdict: {verdict} (lost {a['lost']}, duplicated {a['duplicated']}); worst reconnect "
        f"p95 {worst} ms (goal {GOAL_P95_MS} ms)"
    )
    return 0 if verdict == "ok" else 1


if __name__ == "__main__":
    raise SystemExit(main())
