"""Unit tests of taskbox_sdk under plain CPython.

Run by scripts/test-sdks.sh, which puts componentize-py's generated
bindings (world `retry`, whose `types` interface is the task world's too) on
PYTHONPATH, so the exports can be called as the component would call them.
"""

import json
import unittest
from typing import Optional

import taskbox_sdk
from componentize_py_types import Err
from taskbox_sdk import Decision, Failure, History, retry, task
from wit_world.imports import types


class FakeHost:
    """Records what the SDK sends to the host's log and progress."""

    class Level:
        TRACE, DEBUG, INFO, WARN, ERROR = "trace", "debug", "info", "warn", "error"

    def __init__(self):
        self.logs = []
        self.progress = []

    def log(self, level, message):
        self.logs.append((level, message))

    def update_progress(self, fraction):
        self.progress.append(fraction)


class SdkTest(unittest.TestCase):
    def setUp(self):
        taskbox_sdk._registered.clear()
        self.host = FakeHost()
        self._host = taskbox_sdk._host
        taskbox_sdk._host = lambda: self.host

    def tearDown(self):
        taskbox_sdk._host = self._host

    def exports(self, world="task"):
        return taskbox_sdk._export(world)()

    def failure_of(self, call):
        with self.assertRaises(Err) as caught:
            call()
        return caught.exception.value


class TaskTest(SdkTest):
    def test_describe_derives_name_arguments_and_provides(self):
        @task(provides="total", version="1.2.3")
        def add_up(x: int, y: Optional[int], z: int | None, w: int = 4, v=None) -> int:
            """Adds things."""
            return x

        info = self.exports().describe()
        self.assertEqual(
            (info.name, info.version, info.description), ("add-up", "1.2.3", "Adds things.")
        )
        self.assertEqual(info.requires, ["x"])
        self.assertEqual(info.optional, ["y", "z", "w", "v"])
        self.assertEqual(info.provides, types.Provides_Single("total"))

    def test_provides_forms(self):
        for provides, wire in [
            (None, types.Provides_None_()),
            (["q", "r"], types.Provides_Positional(["q", "r"])),
            ({"city": "address_city"}, types.Provides_Keyed([("city", "address_city")])),
        ]:
            taskbox_sdk._registered.clear()
            task(provides=provides)(lambda: None)
            self.assertEqual(self.exports().describe().provides, wire)
        with self.assertRaises(TypeError):
            task(provides=3)(lambda: None)

    def test_execute_decodes_arguments_and_encodes_the_result(self):
        @task(provides="out", name="echo")
        def echo(text: str, times: int = 2, sep: Optional[str] = None):
            info = (sep or "").join([text] * times)
            taskbox_sdk.info(info)
            taskbox_sdk.progress(1)
            return {"text": info}

        self.assertEqual(json.loads(self.exports().execute('{"text": "ab"}')), {"text": "abab"})
        out = self.exports().execute('{"text": "a", "times": 3, "sep": "-", "extra": 1}')
        self.assertEqual(json.loads(out), {"text": "a-a-a"})
        self.assertEqual(self.host.logs, [("info", "abab"), ("info", "a-a-a")])
        self.assertEqual(self.host.progress, [1.0, 1.0])
        self.assertEqual(echo("x", 1), {"text": "x"})

    def test_bad_arguments_are_invalid_arguments(self):
        @task
        def needs(count: int, ratio: float, flag: bool, items: list, anything):
            return None

        good = {"count": 1, "ratio": 1, "flag": True, "items": [], "anything": {}}
        self.assertEqual(self.exports().execute(json.dumps(good)), "null")
        for args, needle in [
            ("[1]", "JSON object"),
            ("{nope", "not valid JSON"),
            (json.dumps({**good, "count": None}), "missing required argument `count`"),
            (json.dumps({**good, "count": True}), "`count`: expected an integer, got a boolean"),
            (json.dumps({**good, "ratio": "1"}), "`ratio`: expected a number"),
            (json.dumps({**good, "items": {}}), "`items`: expected a list, got an object"),
        ]:
            failure = self.failure_of(lambda: self.exports().execute(args))
            self.assertEqual(failure.kind, "invalid-arguments", args)
            self.assertIn(needle, failure.message)

    def test_failures_exceptions_and_results(self):
        @task
        def fails(mode: str):
            if mode == "failure":
                raise Failure("payment.declined", "no", {"last4": "0002"})
            if mode == "exception":
                return 1 / 0
            if mode == "memory":
                raise MemoryError()
            return {1, 2}

        failure = self.failure_of(lambda: self.exports().execute('{"mode": "failure"}'))
        self.assertEqual(
            (failure.kind, failure.message, json.loads(failure.details)),
            ("payment.declined", "no", {"last4": "0002"}),
        )
        failure = self.failure_of(lambda: self.exports().execute('{"mode": "exception"}'))
        self.assertEqual((failure.kind, failure.message), ("exception", "ZeroDivisionError: division by zero"))
        self.assertIn("1 / 0", json.loads(failure.details)["traceback"])
        failure = self.failure_of(lambda: self.exports().execute('{"mode": "set"}'))
        self.assertEqual(failure.kind, "invalid-result")
        with self.assertRaises(MemoryError):
            self.exports().execute('{"mode": "memory"}')

    def test_revert_gets_arguments_result_and_flow_failures(self):
        seen = []

        @task(provides="r")
        def reserve(sku: str, quantity: int):
            return {"id": sku}

        @reserve.revert
        def release(sku, result, flow_failures):
            seen.append((sku, result, [str(f) for f in flow_failures]))

        wire = types.AtomFailure("ship", types.Failure("shipping.x", "far", None))
        self.exports().revert('{"sku": "a", "quantity": 1}', '{"id": "a"}', [wire])
        self.exports().revert('{"sku": "b", "quantity": 1}', None, [])
        self.assertEqual(
            seen,
            [("a", {"id": "a"}, ["atom `ship` failed: shipping.x: far"]), ("b", None, [])],
        )
        with self.assertRaises(TypeError) as caught:
            reserve.revert(lambda colour: None)
        self.assertIn("`colour`", str(caught.exception))

    def test_a_task_without_revert_reverts_doing_nothing(self):
        task(lambda: 1)
        self.assertIsNone(self.exports().revert("{}", "1", []))

    def test_one_plugin_per_component(self):
        task(lambda: 1)
        task(lambda: 2)
        with self.assertRaises(RuntimeError):
            self.exports()
        taskbox_sdk._registered.clear()

        @retry
        def r(history):
            return 1

        with self.assertRaises(RuntimeError) as caught:
            self.exports("task")
        self.assertIn("build it as world `retry`", str(caught.exception))


def wire_history(*values, failure=None):
    attempts = [
        types.Attempt(v, [types.AtomFailure("fetch", types.Failure("net.timeout", "slow", '{"a": 1}'))])
        for v in values
    ]
    return types.History(attempts, failure)


class RetryTest(SdkTest):
    def define(self):
        @retry(provides="attempt")
        def budgeted(history: History, budget: int = 3) -> int:
            return len(history.attempts) + 1

        @budgeted.on_failure
        def decide(history: History, budget: int = 3):
            if budget < 0:
                return "retry"
            return Decision.RETRY if len(history.attempts) < budget else Decision.REVERT

        @budgeted.revert
        def undo(history):
            taskbox_sdk.info(f"undone after {len(history.attempts)}")

        return budgeted

    def test_describe_leaves_history_out(self):
        self.define()
        info = self.exports("retry").describe()
        self.assertEqual((info.requires, info.optional), ([], ["budget"]))

    def test_execute_revert_and_on_failure_see_the_history(self):
        self.define()
        exports = self.exports("retry")
        self.assertEqual(exports.execute(wire_history("1", "2"), "{}"), "3")
        self.assertEqual(exports.on_failure(wire_history("1"), "{}"), types.Decision.RETRY)
        self.assertEqual(exports.on_failure(wire_history("1", "2", "3"), "{}"), types.Decision.REVERT)
        exports.revert(wire_history("1"), "{}")
        self.assertEqual(self.host.logs, [("info", "undone after 1")])

    def test_history_comes_from_the_wire(self):
        history = taskbox_sdk._from_wire_history(
            wire_history("1", '{"a": [2]}', "not json", failure=types.Failure("k", "m", None))
        )
        self.assertEqual([a.value for a in history.attempts], [1, {"a": [2]}, "not json"])
        self.assertEqual(history.last_failures()[0].failure, Failure("net.timeout", "slow", {"a": 1}))
        self.assertEqual(history.failure, Failure("k", "m"))

    def test_on_failure_reverts_everything_when_it_cannot_decide(self):
        self.define()
        exports = self.exports("retry")
        for args in ['{"budget": "two"}', "[1]", '{"budget": -1}']:
            self.assertEqual(exports.on_failure(wire_history("1"), args), types.Decision.REVERT_ALL, args)
        self.assertEqual(len(self.host.logs), 3)
        self.assertTrue(all(level == "error" for level, _ in self.host.logs))

    def test_a_retry_needs_on_failure(self):
        retry(lambda history: 1)
        with self.assertRaises(RuntimeError):
            self.exports("retry")


if __name__ == "__main__":
    unittest.main()
