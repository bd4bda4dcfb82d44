// Unit tests of taskbox-sdk.js under Node (`node --test sdk/js/`, run by
// scripts/test-sdks.sh): the exports are called as the component calls them.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Decision, Failure, exportsFor, info, progress, retry, task } from "./taskbox-sdk.js";

/** A host recording what the SDK sends it. */
function fakeHost() {
  const host = { logs: [], progress: [] };
  host.log = (level, message) => host.logs.push([level, message]);
  host.updateProgress = (fraction) => host.progress.push(fraction);
  return host;
}

/** What the export threw: the WIT failure record. */
function failureOf(call) {
  try {
    call();
  } catch (e) {
    return e;
  }
  assert.fail("expected a failure");
}

const reserve = task({
  name: "reserve-stock",
  description: "Reserves stock.",
  requires: ["sku", "quantity"],
  optional: ["note"],
  provides: "reservation",
  execute({ sku, quantity, note }) {
    if (quantity === 0) throw new Failure("stock.unavailable", "none", { sku });
    if (quantity < 0) return null.field;
    if (quantity === 7) return 7n;
    if (quantity === 8) return Promise.resolve(8);
    info(`reserved ${quantity} x ${sku}${note ? ` (${note})` : ""}`);
    progress(1);
    return { id: `rsv-${sku}` };
  },
  revert(args, result, flowFailures) {
    info(`released ${result?.id ?? "nothing"} for ${args.sku} after ${flowFailures.map(String).join("; ")}`);
  },
});

test("describe reports the options", () => {
  const info = exportsFor("task", reserve, fakeHost()).describe();
  assert.deepEqual(info, {
    name: "reserve-stock",
    version: "0.1.0",
    description: "Reserves stock.",
    requires: ["sku", "quantity"],
    optional: ["note"],
    provides: { tag: "single", val: "reservation" },
  });
  const provides = (p) => exportsFor("task", task({ name: "t", provides: p, execute() {} }), null).describe().provides;
  assert.deepEqual(provides(undefined), { tag: "none" });
  assert.deepEqual(provides(["q", "r"]), { tag: "positional", val: ["q", "r"] });
  assert.deepEqual(provides({ city: "address_city" }), { tag: "keyed", val: [["city", "address_city"]] });
});

test("mistakes in the options are errors at once", () => {
  assert.throws(() => task({ execute() {} }), /give it a name/);
  assert.throws(() => task({ name: "t" }), /execute must be a function/);
  assert.throws(() => task({ name: "t", execute() {}, provides: 3 }), /provides must be/);
  assert.throws(() => task({ name: "t", execute() {}, requires: "x" }), /requires must be/);
  assert.throws(() => retry({ name: "r", execute() {} }), /onFailure must be a function/);
  assert.throws(() => exportsFor("retry", reserve, null), /is a task, built as world retry/);
  assert.throws(() => exportsFor("task", {}, null), /default export must be/);
});

test("execute decodes arguments, logs and encodes the result", () => {
  const host = fakeHost();
  const { execute } = exportsFor("task", reserve, host);
  assert.equal(execute('{"sku": "a", "quantity": 2}'), '{"id":"rsv-a"}');
  assert.equal(execute('{"sku": "b", "quantity": 1, "note": "gift"}'), '{"id":"rsv-b"}');
  assert.deepEqual(host.logs, [
    ["info", "reserved 2 x a"],
    ["info", "reserved 1 x b (gift)"],
  ]);
  assert.deepEqual(host.progress, [1, 1]);
});

test("failures, exceptions and bad arguments become WIT failures", () => {
  const { execute } = exportsFor("task", reserve, fakeHost());
  assert.deepEqual(failureOf(() => execute('{"sku": "a", "quantity": 0}')), {
    kind: "stock.unavailable",
    message: "none",
    details: '{"sku":"a"}',
  });
  const thrown = failureOf(() => execute('{"sku": "a", "quantity": -1}'));
  assert.equal(thrown.kind, "exception");
  assert.match(thrown.message, /^TypeError: /);
  assert.equal(JSON.parse(thrown.details).type, "TypeError");
  assert.equal(failureOf(() => execute('{"sku": "a", "quantity": 7}')).kind, "invalid-result");
  assert.match(failureOf(() => execute('{"sku": "a", "quantity": 8}')).message, /returned a Promise/);
  for (const [args, needle] of [
    ['{"sku": "a"}', "missing required argument `quantity`"],
    ['{"sku": "a", "quantity": null}', "missing required argument `quantity`"],
    ["[1]", "must be a JSON object, not an array"],
    ["{nope", "not valid JSON"],
  ]) {
    const failure = failureOf(() => execute(args));
    assert.equal(failure.kind, "invalid-arguments", args);
    assert.ok(failure.message.includes(needle), failure.message);
  }
});

test("revert gets the arguments, the result and the flow failures", () => {
  const host = fakeHost();
  const { revert } = exportsFor("task", reserve, host);
  const ship = { atom: "ship", failure: { kind: "shipping.x", message: "far", details: undefined } };
  revert('{"sku": "a", "quantity": 1}', '{"id": "rsv-a"}', [ship]);
  revert('{"sku": "b", "quantity": 1}', undefined, []);
  assert.deepEqual(host.logs, [
    ["info", "released rsv-a for a after atom `ship` failed: shipping.x: far"],
    ["info", "released nothing for b after "],
  ]);
  const plain = exportsFor("task", task({ name: "t", execute() {} }), null);
  assert.equal(plain.revert("{}", "1", []), undefined);
});

test("a retry controller sees its history and decides", () => {
  const host = fakeHost();
  const controller = retry({
    name: "budget",
    optional: ["budget"],
    provides: "attempt",
    execute: (args, history) => history.attempts.length + 1,
    onFailure({ budget = 3 }, history) {
      if (budget < 0) return "maybe";
      return history.attempts.length < budget ? Decision.RETRY : Decision.REVERT;
    },
    revert: (args, history) => info(`gave up: ${history.lastFailures().map(String)}`),
  });
  const exports = exportsFor("retry", controller, host);
  const history = (...values) => ({
    attempts: values.map((value) => ({
      value,
      failures: [{ atom: "fetch", failure: { kind: "net.timeout", message: "slow", details: '{"a":1}' } }],
    })),
    failure: undefined,
  });
  assert.equal(exports.execute(history("1", "2"), "{}"), "3");
  assert.equal(exports.onFailure(history("1"), "{}"), "retry");
  assert.equal(exports.onFailure(history("1", "2", "3"), "{}"), "revert");
  assert.equal(exports.onFailure(history("1"), '{"budget": -1}'), "revert-all");
  assert.equal(exports.onFailure(history("1"), "[]"), "revert-all");
  exports.revert(history("1"), "{}");
  assert.deepEqual(host.logs.map(([level]) => level), ["error", "error", "info"]);
  assert.equal(host.logs[2][1], "gave up: atom `fetch` failed: net.timeout: slow");
});
