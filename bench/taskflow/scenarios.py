"""TaskFlow (Python) side of the taskbox side-by-side benchmark.

Runs ONE repetition of one scenario and prints exactly one JSON line on
stdout::

    {"scenario": "chain", "size": 1000, "seconds": 12.3, "units": 1000,
     "taskflow": "6.5.0"}

``seconds`` is the wall time of the measured region only (imports, argument
parsing, building the flow objects and one-time set-up such as creating the
database schema, starting Redis or the first engine load of the process, see
``warm_up``, are outside it; each scenario's docstring says exactly what is
inside). ``size`` is the number of tasks in one flow and
``units`` is what was measured: tasks for the single-flow scenarios, flows for
``retry`` and jobs for ``conductor``. The parallel scenarios also report
``workers``.

Usage (from the repo root, after ``bench/taskflow/setup.sh``)::

    target/taskflow-venv/bin/python bench/taskflow/scenarios.py SCENARIO \
        [--size N] [--workers W] [--flows F] [--jobs J] \
        [--redis-port P] [--db PATH]

Scenarios: chain, unordered, sleep, retry, durable, conductor.
Any failure (a flow not SUCCESS, a job not consumed, ...) exits non-zero with
a message on stderr.
"""

import argparse
import contextlib
import importlib.metadata
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from taskflow import engines
from taskflow import retry
from taskflow import states
from taskflow import task
from taskflow.conductors import backends as conductor_backends
from taskflow.jobs import backends as job_backends
from taskflow.patterns import linear_flow
from taskflow.patterns import unordered_flow
from taskflow.persistence import backends as persistence_backends
from taskflow.persistence import models

TASKFLOW_VERSION = importlib.metadata.version("taskflow")

#: Seconds each task of the ``sleep`` scenario sleeps.
SLEEP_SECONDS = 0.05

#: Executions of the ``retry`` scenario's task that fail before one succeeds.
RETRY_FAILURES = 4

#: Attempts allowed by the ``retry`` scenario's ``retry.Times`` controller.
RETRY_ATTEMPTS = 5

#: How often (seconds) the conductor polls the jobboard when it found no job.
#: TaskFlow's default is 0.5 s; since the jobs are posted while the conductor
#: is already idle-polling, that default would add a random 0-0.5 s of idle
#: time to the measurement, so a short poll is used instead.
CONDUCTOR_WAIT_TIMEOUT = 0.01

#: Upper bound (seconds) on waiting for the conductor to consume all jobs.
CONDUCTOR_DEADLINE = 600

#: Per-scenario defaults for the options a scenario uses.
DEFAULTS = {
    "chain": {"size": 1000},
    "unordered": {"size": 1000, "workers": 2},
    "sleep": {"size": 64, "workers": 64},
    "retry": {"flows": 200},
    "durable": {"size": 200},
    "conductor": {"size": 10, "jobs": 20, "redis_port": 6399},
}


class BenchError(Exception):
    """A scenario did not do what it should have (reported, exit 1)."""


# --------------------------------------------------------------------------
# Tasks and flow builders shared by the scenarios.


class Noop(task.Task):
    """A task that takes nothing and does nothing."""

    def execute(self):
        return None


class Increment(task.Task):
    """A near no-op task: returns its input ``x`` plus one."""

    def execute(self, x):
        return x + 1


class Sleep(task.Task):
    """A task that sleeps ``SLEEP_SECONDS`` (stands for blocking I/O)."""

    def execute(self):
        time.sleep(SLEEP_SECONDS)


class Flaky(task.Task):
    """A task that fails its first ``failures`` executions, then succeeds.

    The count lives in the instance, and every flow run builds its own
    instance, so each flow run sees the same number of failures.
    """

    def __init__(self, failures, **kwargs):
        super().__init__(**kwargs)
        self._failures_left = failures

    def execute(self):
        if self._failures_left > 0:
            self._failures_left -= 1
            raise RuntimeError("planned failure")
        return "ok"


def chain_flow(size):
    """Linear flow of ``size`` Increment tasks, each fed by the previous one.

    Task 0 reads ``start`` (given in the store) and provides ``x1``; task i
    reads ``x<i>`` and provides ``x<i+1>``; so ``x<size>`` ends up as
    ``start + size``. Module level, so conductors can re-import it by name
    as the flow factory of a job.
    """
    flow = linear_flow.Flow("chain-%d" % size)
    for i in range(size):
        source = "start" if i == 0 else "x%d" % i
        flow.add(
            Increment(
                name="t%d" % i, rebind={"x": source}, provides="x%d" % (i + 1)
            )
        )
    return flow


def unordered_of(task_cls, size):
    """Unordered flow of ``size`` independent instances of ``task_cls``."""
    flow = unordered_flow.Flow("%s-%d" % (task_cls.__name__.lower(), size))
    flow.add(*[task_cls(name="t%d" % i) for i in range(size)])
    return flow


def retry_flow(index):
    """Linear flow with ``retry.Times`` around one ``Flaky`` task."""
    flow = linear_flow.Flow(
        "retry-%d" % index,
        retry=retry.Times(RETRY_ATTEMPTS, name="times", provides="attempt"),
    )
    flow.add(Flaky(RETRY_FAILURES, name="flaky", provides="outcome"))
    return flow


def check_success(engine, what):
    """Raise BenchError unless the engine's flow ended in SUCCESS."""
    state = engine.storage.get_flow_state()
    if state != states.SUCCESS:
        raise BenchError("%s ended in state %s, not SUCCESS" % (what, state))


def check_chain_result(engine, size, start=0):
    """Raise BenchError unless a chain flow computed ``start + size``."""
    check_success(engine, "chain flow")
    last = engine.storage.fetch("x%d" % size)
    if last != start + size:
        raise BenchError("chain computed %r, expected %r" % (last, start + size))


def warm_up():
    """Load and run a one-task flow, untimed.

    The first ``engines.load`` of a process scans the installed entry points
    (stevedore) for the engine drivers: ~0.1 s of one-time set-up that would
    otherwise land in the first timed region, and mostly in short flows.
    """
    flow = linear_flow.Flow("warm-up")
    flow.add(Noop(name="noop"))
    engines.load(flow, engine="serial").run()


def timed(func):
    """Call ``func()`` and return (its result, elapsed wall seconds)."""
    began = time.perf_counter()
    result = func()
    return result, time.perf_counter() - began


def load_and_run(flow, **load_options):
    """Load ``flow`` into an engine and run it; return the engine.

    This is what a user pays per flow, and what the scenarios time.
    """
    engine = engines.load(flow, **load_options)
    engine.run()
    return engine


# --------------------------------------------------------------------------
# Scenarios. Each returns the fields of the JSON line besides "scenario" and
# "taskflow".


def scenario_chain(size, **_):
    """Linear chain of ``size`` Increment tasks, serial engine, in memory.

    Timed: ``engines.load`` (which creates the in-memory flow detail and
    compiles the flow) + ``engine.run()``. Not timed: building the flow.
    """
    flow = chain_flow(size)
    engine, seconds = timed(
        lambda: load_and_run(flow, store={"start": 0}, engine="serial")
    )
    check_chain_result(engine, size)
    return {"size": size, "seconds": seconds, "units": size}


def _parallel_unordered(task_cls, size, workers):
    """Run an unordered flow of ``task_cls`` on a parallel thread engine.

    Timed: ``engines.load`` + ``engine.run()`` (the engine creates, starts
    and shuts down its own pool of ``workers`` threads inside ``run()``).
    Not timed: building the flow.
    """
    flow = unordered_of(task_cls, size)
    engine, seconds = timed(
        lambda: load_and_run(
            flow, engine="parallel", executor="threaded", max_workers=workers
        )
    )
    check_success(engine, "unordered flow")
    return {"size": size, "workers": workers, "seconds": seconds, "units": size}


def scenario_unordered(size, workers, **_):
    """Unordered flow of ``size`` Noop tasks, parallel engine, ``workers``
    threads. Timed region: see ``_parallel_unordered``."""
    return _parallel_unordered(Noop, size, workers)


def scenario_sleep(size, workers, **_):
    """Unordered flow of ``size`` tasks sleeping ``SLEEP_SECONDS`` each,
    parallel engine with ``workers`` threads. Timed region: see
    ``_parallel_unordered``."""
    return _parallel_unordered(Sleep, size, workers)


def scenario_retry(flows, **_):
    """``flows`` separate runs of a flow whose one task succeeds on its fifth
    try under ``retry.Times(5)``, each with its own serial engine.

    Timed: for every flow, ``engines.load`` + ``engine.run()`` (4 failures,
    4 reverts, 4 retries, 1 success). Not timed: building the ``flows`` flow
    objects (done up front) and checking the outcomes (done afterwards).
    """
    pending = [retry_flow(i) for i in range(flows)]

    def run_all():
        return [load_and_run(flow, engine="serial") for flow in pending]

    done, seconds = timed(run_all)
    for engine in done:
        check_success(engine, "retry flow")
        if engine.storage.fetch("outcome") != "ok":
            raise BenchError("retried task did not end with its result")
        attempts = engine.storage.fetch("attempt")
        if attempts != RETRY_FAILURES + 1:
            raise BenchError("flow took %r attempts, expected %d"
                             % (attempts, RETRY_FAILURES + 1))
    return {"size": 1, "seconds": seconds, "units": flows}


def sqlite_backend(path):
    """Fresh SQLAlchemy persistence backend on a new SQLite file at ``path``
    (any old file is deleted), with its schema created."""
    for stale in (path, path + "-journal", path + "-wal", path + "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(stale)
    backend = persistence_backends.fetch({"connection": "sqlite:///" + path})
    with contextlib.closing(backend.get_connection()) as conn:
        conn.upgrade()
    return backend


def count_rows(path, table):
    """Number of rows of ``table`` in the SQLite file at ``path``."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute("SELECT COUNT(*) FROM %s" % table).fetchone()[0]


@contextlib.contextmanager
def db_path(path):
    """Yield ``path``, or a path in a temporary directory removed afterwards
    when ``path`` is None."""
    if path is not None:
        yield os.path.abspath(path)
        return
    tmp = tempfile.mkdtemp(prefix="taskflow-bench-")
    try:
        yield os.path.join(tmp, "bench.sqlite")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def scenario_durable(size, db=None, **_):
    """The chain of ``scenario_chain`` persisted with SQLAlchemy to a fresh
    SQLite file at ``db`` (a temporary file when not given).

    Timed: ``engines.load`` (which saves the logbook and flow detail to the
    database) + ``engine.run()`` (which saves every atom's state changes and
    results). Not timed: building the flow, creating the database and its
    schema, and checking the rows afterwards.
    """
    flow = chain_flow(size)
    with db_path(db) as path:
        backend = sqlite_backend(path)
        with contextlib.closing(backend):
            book = models.LogBook("bench-durable")
            engine, seconds = timed(
                lambda: load_and_run(
                    flow,
                    store={"start": 0},
                    engine="serial",
                    backend=backend,
                    book=book,
                )
            )
            check_chain_result(engine, size)
        atoms = count_rows(path, "atomdetails")
        flows = count_rows(path, "flowdetails")
        if atoms < size or flows != 1:
            raise BenchError("database holds %d atom and %d flow details, "
                             "expected >= %d and 1" % (atoms, flows, size))
    return {"size": size, "seconds": seconds, "units": size}


def port_open(port):
    """True if something accepts TCP connections on 127.0.0.1:``port``."""
    with contextlib.closing(socket.socket()) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def redis_server(port):
    """Make sure a Redis server listens on 127.0.0.1:``port``.

    Uses one that already listens there; otherwise starts
    ``redis-server`` (no persistence) and always stops it on exit.
    """
    if port_open(port):
        print("using the Redis server already on port %d" % port,
              file=sys.stderr)
        yield
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise BenchError("redis-server not found (run bench/taskflow/setup.sh)")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not port_open(port):
            if proc.poll() is not None:
                raise BenchError("redis-server exited with %d" % proc.returncode)
            if time.monotonic() > deadline:
                raise BenchError("redis-server did not listen on port %d" % port)
            time.sleep(0.02)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def post_chain_job(board, backend, index, size):
    """Post one job running ``chain_flow(size)`` to ``board``.

    As TaskFlow requires, the job carries a logbook (saved in ``backend``)
    with one flow detail whose meta names the flow factory
    (``save_factory_details``); the conductor rebuilds the flow from it.
    """
    book = models.LogBook("bench-job-%d" % index)
    detail = models.FlowDetail("chain-%d" % size, uuid=str(uuid.uuid4()))
    book.add(detail)
    with contextlib.closing(backend.get_connection()) as conn:
        conn.save_logbook(book)
    engines.save_factory_details(detail, chain_flow, [size], {},
                                 backend=backend)
    return board.post("bench-job-%d" % index, book=book,
                      details={"flow_uuid": detail.uuid,
                               "store": {"start": 0}})


class ConsumptionWatcher:
    """Counts the conductor's job outcomes; wakes a waiter on the last one."""

    def __init__(self, expected):
        self.expected = expected
        self.consumed = 0
        self.failed = []
        self.finished_at = None
        self.all_done = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, event, details):
        """Conductor notifier callback."""
        with self._lock:
            if event == "job_consumed":
                self.consumed += 1
            else:
                self.failed.append("%s: %s" % (event, details.get("job")))
            if self.consumed + len(self.failed) >= self.expected:
                self.finished_at = time.perf_counter()
                self.all_done.set()


def scenario_conductor(size, jobs, redis_port, db=None, **_):
    """``jobs`` jobs, each a chain of ``size`` tasks, posted to a Redis
    jobboard and consumed by a blocking conductor (serial engine) running in
    a thread of this process.

    Logbooks live in in-memory persistence shared by the poster and the
    conductor (or in a fresh SQLite file when ``--db`` is given). The
    conductor is started and idle before posting, as in a deployment.

    Timed: from just before the first job is posted (which includes, per job,
    saving its logbook and flow detail with the factory details, and the
    post itself) until the conductor reports the last job consumed (claim,
    flow rebuilt by the factory, ``engines.load_from_detail`` + run, consume
    for every job). Not timed: starting Redis, connecting the jobboards,
    starting and stopping the conductor, checking the results.
    """
    with contextlib.ExitStack() as stack:
        stack.enter_context(redis_server(redis_port))
        if db is None:
            backend = persistence_backends.fetch({"connection": "memory://"})
        else:
            backend = sqlite_backend(os.path.abspath(db))
        stack.callback(backend.close)
        conf = {"board": "redis", "host": "127.0.0.1", "port": redis_port,
                # A namespace of its own, so that jobs left on a reused
                # server by an earlier run are never seen.
                "namespace": "taskflow-bench-%s" % uuid.uuid4().hex}
        boards = []
        for _role in ("poster", "conductor"):
            board = job_backends.fetch("bench", conf, persistence=backend)
            board.connect()
            stack.callback(board.close)
            boards.append(board)
        poster_board, conductor_board = boards

        conductor = conductor_backends.fetch(
            "blocking", "bench-conductor", conductor_board,
            persistence=backend, engine="serial",
            wait_timeout=CONDUCTOR_WAIT_TIMEOUT,
        )
        watcher = ConsumptionWatcher(jobs)
        for event in ("job_consumed", "job_abandoned", "job_trashed"):
            conductor.notifier.register(event, watcher)
        errors = []

        def conduct():
            try:
                conductor.run()
            except Exception as exc:  # reported by the main thread
                errors.append(exc)
                watcher.all_done.set()

        thread = threading.Thread(target=conduct, name="conductor",
                                  daemon=True)
        thread.start()

        def stop_conductor():
            conductor.stop()
            if not conductor.wait(timeout=30):
                raise BenchError("conductor did not stop")
            thread.join(timeout=30)

        stack.callback(stop_conductor)

        began = time.perf_counter()
        posted = [post_chain_job(poster_board, backend, i, size)
                  for i in range(jobs)]
        if not watcher.all_done.wait(timeout=CONDUCTOR_DEADLINE):
            raise BenchError("only %d of %d jobs consumed after %d s"
                             % (watcher.consumed, jobs, CONDUCTOR_DEADLINE))
        if errors:
            raise BenchError("conductor failed: %r" % errors[0])
        seconds = watcher.finished_at - began
        if watcher.failed:
            raise BenchError("jobs not consumed: %s" % "; ".join(watcher.failed))

        with contextlib.closing(backend.get_connection()) as conn:
            for job in posted:
                detail = conn.get_logbook(job.book.uuid).find(
                    job.details["flow_uuid"])
                if detail.state != states.SUCCESS:
                    raise BenchError("job %s flow ended in %s"
                                     % (job.name, detail.state))
        left = poster_board.job_count
        if left:
            raise BenchError("%d jobs still on the jobboard" % left)
    return {"size": size, "seconds": seconds, "units": jobs}


SCENARIOS = {
    "chain": scenario_chain,
    "unordered": scenario_unordered,
    "sleep": scenario_sleep,
    "retry": scenario_retry,
    "durable": scenario_durable,
    "conductor": scenario_conductor,
}


def parse_args(argv):
    """Parse the command line; fill per-scenario defaults."""
    parser = argparse.ArgumentParser(
        description="Run one repetition of one TaskFlow benchmark scenario "
                    "and print one JSON line.")
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--size", type=int, help="tasks per flow")
    parser.add_argument("--workers", type=int, help="threads (parallel engine)")
    parser.add_argument("--flows", type=int, help="flows (retry)")
    parser.add_argument("--jobs", type=int, help="jobs (conductor)")
    parser.add_argument("--redis-port", type=int, help="Redis port (conductor)")
    parser.add_argument("--db", help="SQLite file (durable; optional for "
                                     "conductor); deleted first")
    args = parser.parse_args(argv)
    for key, value in DEFAULTS[args.scenario].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    for key in ("size", "workers", "flows", "jobs"):
        value = getattr(args, key)
        if value is not None and value < 1:
            parser.error("--%s must be at least 1" % key)
    return args


def main(argv=None):
    """Entry point: run the scenario, print its JSON line, return the exit
    status."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    options = {k: v for k, v in vars(args).items() if k != "scenario"}
    try:
        warm_up()
        fields = SCENARIOS[args.scenario](**options)
    except Exception as exc:
        print("taskflow bench %s failed: %s: %s"
              % (args.scenario, type(exc).__name__, exc), file=sys.stderr)
        return 1
    line = {"scenario": args.scenario}
    line.update(fields)
    line["taskflow"] = TASKFLOW_VERSION
    print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    # Run everything from the module imported as ``scenarios`` rather than
    # from ``__main__``, so that the flow factory saved in job details
    # (``scenarios.chain_flow``) is re-importable by name, as conductors
    # require (this file's directory is first on sys.path).
    import scenarios

    sys.exit(scenarios.main())
