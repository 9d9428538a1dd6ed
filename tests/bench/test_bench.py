"""The bench script works: its quick mode runs every part and reports real figures.

Not a performance test: nothing here asserts a rate, only that every section ran
against the real services and measured something.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench.apply_micro import measure as measure_apply_micro
from tests.bench.compare import main as compare_main
from tests.bench.cpu import CpuShare
from tests.bench.imports import ImportOptions, import_lines, run_import
from tests.bench.ingress import IngressFigures, Measured, WorkerFigures, ingress_lines
from tests.bench.publisher import measure as measure_publisher
from tests.bench.run import BenchOptions, main, run_bench
from tests.fixtures.wrk import parse_output

pytestmark = pytest.mark.timeout(240)


async def test_quick_bench_runs_every_section(tmp_path: Path) -> None:
    report = await run_bench(BenchOptions.quick(), tmp_path)
    figures = {line.figure: line for line in report.lines}
    ingress = figures["ingress req/s vs peer (1 worker, 64 conn)"]
    assert not ingress.value.startswith("0 "), ingress
    assert not ingress.reference.endswith(" 0 req/s"), ingress
    assert report.notes == [], report.notes  # every answer was 2xx
    spool = figures["store-and-forward req/s, broker paused (1 worker, 64 conn)"]
    assert not spool.value.startswith("0 "), spool
    assert "MiB" in figures["gateway peak RSS per worker (1 worker, 64 conn)"].value
    cpu = figures["CPU during the gateway runs (1 worker, 64 conn)"].value
    assert cpu.startswith("server "), cpu
    assert not cpu.startswith("server 0%"), cpu
    assert "wrk " in cpu, cpu
    assert "wrk 0%" not in cpu, cpu
    per_delivery = figures["server CPU per delivery (1 worker, 64 conn)"]
    assert not per_delivery.value.startswith("0 "), per_delivery
    assert "1.5x the peer's rate allows <= " in per_delivery.reference, per_delivery
    machine = figures["machine CPU per delivery, all processes (1 worker, 64 conn)"]
    assert " cores allow " in machine.reference, machine
    assert not machine.value.startswith("0 "), machine
    apply = next(line for line in report.lines if line.figure.startswith("apply events/s"))
    assert "3,000 mixed events" in apply.figure
    assert not apply.value.startswith("0 "), apply
    ledger = figures["apply events/s vs raw asyncpg writing the same ledger"]
    assert ledger.reference.startswith("raw asyncpg upsert + ledger COPY "), ledger
    assert not ledger.reference.endswith(" 0 rows/s"), ledger
    alone = figures["apply store path alone: prepared batches -> PostgreSQL, no broker"]
    assert not alone.value.startswith("0 "), alone
    split = figures["store path alone, per event: statement time, ledger claim / upserts"]
    claim, upserts = (float(part) for part in split.value.removesuffix(" us").split(" / "))
    assert claim > 0, split
    assert upserts > 0, split
    postgres = figures["PostgreSQL CPU per event"]  # the test database runs on this machine
    assert not postgres.value.startswith("0 "), postgres
    budget = figures["apply CPU per event, consumer + PostgreSQL + broker"]
    assert "cores allow" in budget.reference, budget
    burst = next(line for line in report.lines if line.figure.startswith("Google sync runs"))
    assert burst.value.startswith(("1 run", "2 run")), burst
    assert burst.reference.endswith("; 100 sync requests coalesced"), "each one new"
    imported = next(line for line in report.lines if line.figure.startswith("import s, 1,000"))
    assert imported.reference == "floor 1 s (0 s in fixed windows); 10 pages, 0 refused"
    table = report.render()
    assert table.count("\n|") == len(report.lines) + 1


def test_wrk_figures_are_parsed() -> None:
    out = (
        "Running 1s test\n"
        'BENCH {"requests":1200,"duration_us":2000000,"connect":0,"read":1,"write":0,'
        '"status":200,"timeout":0,"p50_us":1500,"p99_us":9000,"max_us":12000}\n'
    )
    result = parse_output(out)
    assert result.rps == 500.0
    assert (result.p50_ms, result.p99_ms, result.errors) == (1.5, 9.0, 1)
    assert not result.clean


def test_only_known_sections_are_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--only", "nonsense"])
    assert "invalid choice" in capsys.readouterr().err


def test_compare_refuses_a_baseline_that_is_not_a_checkout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert compare_main([str(tmp_path)]) == 2
    assert "is not a hookgate checkout" in capsys.readouterr().err


def test_cpu_lines_divide_the_cores_by_the_cpu_per_delivery() -> None:
    def figures(workers: int, rps: float, machine: float) -> WorkerFigures:
        measured = Measured(rps=rps, p50_ms=1.0, p99_ms=2.0, runs=())
        share = CpuShare(server=1.0, broker=0.2, load=0.1, machine=machine, cores=2)
        shares = {"kafka": share, "peer": share, "bare": share}
        return WorkerFigures(workers, measured, measured, measured, measured, 0, shares)

    one, two = figures(1, 5_000, 1.2), figures(2, 8_000, 2.0)
    lines = {line.figure: line for line in ingress_lines(IngressFigures({1: one, 2: two}), 64)}
    machine = lines["machine CPU per delivery, all processes (2 workers, 64 conn)"]
    assert machine.value == "250 us"  # 2.0 cores busy / 8,000 req/s
    assert (
        machine.reference == "2 cores allow 8,000 req/s at that cost; 1.5x the peer is 12,000 req/s"
    )
    ceiling = lines["ingress scaling: the machine's ceiling at the 2-worker cost"]
    assert (ceiling.value, ceiling.reference) == ("8,000 req/s", "1.7x one worker is 8,500 req/s")
    one_worker = lines["server CPU per delivery (1 worker, 64 conn)"]
    assert one_worker.value == "200 us"  # 1.0 core / 5,000 req/s
    assert one_worker.reference.endswith("1.5x the peer's rate allows <= 133 us")
    floor = lines["ingress mean latency floor, 64 open requests on one core (1 worker, 64 conn)"]
    assert floor.value == "12.8 ms"  # 64 requests x 200 us, one after another
    assert floor.reference.endswith("a mean under 20 ms asks <= 312 us per delivery")
    assert not any("floor" in name and "2 workers" in name for name in lines)


async def test_publisher_bench_measures_both_paths(tmp_path: Path) -> None:
    lines = {line.figure: line for line in await measure_publisher(0.5, 1, tmp_path)}
    rates = lines["Kafka path, 64 callers: records/s"]
    assert not rates.value.startswith("0 "), rates
    assert not rates.reference.endswith(" 0 records/s"), rates
    per_flush = float(rates.value.split("(")[1].split(" per flush")[0])
    assert per_flush > 1, "64 callers at once share flushes"
    cpu = lines["Kafka path, 16 callers: CPU per record, client / broker"]
    assert cpu.value.endswith(" us"), cpu
    assert not cpu.value.startswith("0.0 /"), cpu


async def test_apply_micro_bench_prepares_every_event() -> None:
    figures = await measure_apply_micro(600, rounds=2, batch=200)
    assert figures.failed == 0, "every event of the stream took the usual path"
    assert figures.decode_us > 0
    assert figures.prepare_us > figures.decode_us, "parsing and rows cost more than decoding"


async def test_import_bench_times_the_import_and_the_synced_apply() -> None:
    figures = await run_import(ImportOptions(people=300, limit=2, period=1.0, batch=200))
    lines = import_lines(figures)

    assert (figures.limited.pages, figures.unlimited.pages) == (3, 3)
    assert figures.limited.refused == 0
    assert (figures.floor_seconds, figures.window_floor_seconds) == (1.5, 1.0)
    assert 0 < figures.limited.seconds < 60
    assert 0 < figures.unlimited.seconds < 60
    assert figures.apply_rate > 0
    assert figures.raw.rows == 300
    assert lines[2].reference.startswith("raw asyncpg "), lines[2]
