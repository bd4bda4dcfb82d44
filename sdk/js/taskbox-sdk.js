// Write taskbox tasks and retry controllers in JavaScript.
//
// A task module's default export is `task({...})`: its `execute` receives the
// arguments as one object, decoded from the JSON the host passes, and what it
// returns, encoded as JSON, is the task's result.
//
//     import { task, Failure, info } from "taskbox-sdk";
//
//     export default task({
//       name: "divide",
//       description: "Divides two integers.",
//       requires: ["numerator", "denominator"],
//       provides: "quotient",
//       execute({ numerator, denominator }) {
//         if (denominator === 0) {
//           throw new Failure("math.division-by-zero", "cannot divide by zero");
//         }
//         info(`dividing ${numerator} by ${denominator}`);
//         return Math.trunc(numerator / denominator);
//       },
//       revert(args, result, flowFailures) {
//         info(`forgetting ${result} after ${flowFailures.length} failure(s)`);
//       },
//     });
//
// `revert(args, result, flowFailures)` is optional: `result` is execute's
// result (`null` when execute failed or never returned) and `flowFailures`
// an array of `AtomFailure`, why the flow is reverting. Reverts do not
// insist on the required arguments, which they may not use.
//
// A retry controller's default export is `retry({...})` with
// `execute(args, history)`, `onFailure(args, history)` returning a
// `Decision`, and optionally `revert(args, history)`.
//
// Options of both: `name` (required), `version` (default "0.1.0"),
// `description`, `requires` and `optional` (argument names), and `provides`:
// a name (the whole result), an array of names (the elements of a result
// array) or an object `{ name: "key" }` (`result[key]` under `name`).
// A missing required argument (or `null`) fails the call with kind
// `invalid-arguments`; a missing optional one is `undefined`.
//
// Throwing a `Failure` fails the call with its kind, message and details.
// Throwing anything else fails it with kind `exception`, the error's name and
// message as the message and its stack in `details`. A result JSON cannot
// encode (a BigInt, a cycle) fails with `invalid-result`, and so does a
// Promise: calls are synchronous, nothing would await it.
//
// Outside a component (say, in unit tests under Node) the options object's
// functions can be called directly; logging writes to standard error and
// progress reports are dropped.

export const INVALID_ARGUMENTS = "invalid-arguments";
export const INVALID_RESULT = "invalid-result";
export const EXCEPTION = "exception";

const LEVELS = ["trace", "debug", "info", "warn", "error"];

/** Why a call failed: a dotted `kind` a retry controller can reason on, a
 * human `message` and optional JSON `details`. */
export class Failure extends Error {
  constructor(kind, message, details = undefined) {
    super(`${kind}: ${message}`);
    this.name = "Failure";
    this.kind = kind;
    this.message = message;
    this.details = details;
  }
}

/** A failure together with the name of the atom it happened in. */
export class AtomFailure {
  constructor(atom, failure) {
    this.atom = atom;
    this.failure = failure;
  }

  toString() {
    return `atom \`${this.atom}\` failed: ${this.failure.kind}: ${this.failure.message}`;
  }
}

/** What a retry controller has seen so far: `attempts`, oldest first, each
 * `{ value, failures }`, and `failure`, its own when its execute failed. */
export class History {
  constructor(attempts = [], failure = null) {
    this.attempts = attempts;
    this.failure = failure;
  }

  /** The newest attempt, or `undefined`. */
  last() {
    return this.attempts[this.attempts.length - 1];
  }

  /** The failures of the newest attempt. */
  lastFailures() {
    return this.last()?.failures ?? [];
  }
}

/** How a retry controller resolves a failure in its scope. */
export const Decision = Object.freeze({
  /** Revert the scope and run it again. */
  RETRY: "retry",
  /** Revert the scope, then defer to the enclosing retry if any. */
  REVERT: "revert",
  /** Revert the whole flow. */
  REVERT_ALL: "revert-all",
});

// --- host powers -------------------------------------------------------------

// The host's `log` and `update-progress`, bound by the component's entry
// module; unbound (native Node) they fall back to stderr and nothing.
let host = null;

/** Writes `message` to the host's log at `level` (trace, debug, info, warn, error). */
export function log(level, message) {
  if (!LEVELS.includes(level)) {
    throw new TypeError(`unknown log level ${JSON.stringify(level)}; use one of ${LEVELS.join(", ")}`);
  }
  if (host) {
    host.log(level, String(message));
  } else {
    console.error(`[${level}] ${message}`);
  }
}

export const trace = (message) => log("trace", message);
export const debug = (message) => log("debug", message);
export const info = (message) => log("info", message);
export const warn = (message) => log("warn", message);
export const error = (message) => log("error", message);

/** Reports the call's progress as a fraction in [0, 1]. */
export function progress(fraction) {
  if (host) host.updateProgress(Number(fraction));
}

// --- what a plugin is -----------------------------------------------------------

function names(owner, key, value) {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((n) => typeof n === "string")) {
    throw new TypeError(`${owner}: ${key} must be an array of argument names`);
  }
  return [...value];
}

function checkProvides(owner, provides) {
  const ok =
    provides === undefined ||
    provides === null ||
    typeof provides === "string" ||
    (Array.isArray(provides) && provides.every((n) => typeof n === "string")) ||
    (typeof provides === "object" &&
      !Array.isArray(provides) &&
      Object.values(provides).every((k) => typeof k === "string"));
  if (!ok) {
    throw new TypeError(
      `${owner}: provides must be a name, an array of names or an object of name -> result key`,
    );
  }
  return provides ?? null;
}

function define(world, spec, functions) {
  if (!spec || typeof spec !== "object") throw new TypeError(`${world}(...) takes an options object`);
  if (typeof spec.name !== "string" || spec.name === "") {
    throw new TypeError(`${world}: give it a name, e.g. { name: "reserve-stock", ... }`);
  }
  const owner = `${world} ${spec.name}`;
  for (const [fn, needed] of functions) {
    if (needed ? typeof spec[fn] !== "function" : spec[fn] !== undefined && typeof spec[fn] !== "function") {
      throw new TypeError(`${owner}: ${fn} must be a function`);
    }
  }
  const plugin = {
    world,
    ...spec,
    version: spec.version ?? "0.1.0",
    description: spec.description ?? "",
    requires: names(owner, "requires", spec.requires),
    optional: names(owner, "optional", spec.optional),
    provides: checkProvides(owner, spec.provides),
  };
  return Object.freeze(plugin);
}

/** Defines a task; make it the module's default export. See the top of this file. */
export function task(spec) {
  return define("task", spec, [["execute", true], ["revert", false]]);
}

/** Defines a retry controller; make it the module's default export. */
export function retry(spec) {
  return define("retry", spec, [["execute", true], ["onFailure", true], ["revert", false]]);
}

// --- the component's exports --------------------------------------------------------

function jsonType(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return `a ${typeof value}`;
}

// The arguments object from JSON `text`; `requires` are checked present.
function decodeArgs(text, requires) {
  let args;
  try {
    args = JSON.parse(text);
  } catch (e) {
    throw new Failure(INVALID_ARGUMENTS, `arguments are not valid JSON: ${e.message}`);
  }
  if (args === null || typeof args !== "object" || Array.isArray(args)) {
    throw new Failure(INVALID_ARGUMENTS, `arguments must be a JSON object, not ${jsonType(args)}`);
  }
  for (const name of requires) {
    if (args[name] === undefined || args[name] === null) {
      throw new Failure(INVALID_ARGUMENTS, `missing required argument \`${name}\``);
    }
  }
  return args;
}

function jsonOrString(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function toWire(failure) {
  return {
    kind: String(failure.kind),
    message: String(failure.message),
    details: failure.details === undefined || failure.details === null ? undefined : JSON.stringify(failure.details),
  };
}

const fromWire = (f) => new Failure(f.kind, f.message, f.details === undefined ? undefined : jsonOrString(f.details));
const fromWireAtom = (f) => new AtomFailure(f.atom, fromWire(f.failure));
const fromWireHistory = (h) =>
  new History(
    h.attempts.map((a) => ({ value: jsonOrString(a.value), failures: a.failures.map(fromWireAtom) })),
    h.failure === undefined ? null : fromWire(h.failure),
  );

/** Runs `body`, turning what it throws into the WIT `failure` the host gets. */
function run(body) {
  try {
    return body();
  } catch (e) {
    if (e instanceof Failure) throw toWire(e);
    const name = e?.name ?? typeof e;
    const text = e instanceof Error ? `${name}: ${e.message}` : `uncaught ${String(e)}`;
    throw toWire(new Failure(EXCEPTION, text, { type: name, stack: e?.stack ?? "" }));
  }
}

function encode(value) {
  if (typeof value?.then === "function") {
    throw new Failure(INVALID_RESULT, "execute returned a Promise; taskbox calls are synchronous, so return the value itself");
  }
  let text;
  try {
    text = JSON.stringify(value === undefined ? null : value);
  } catch (e) {
    throw new Failure(INVALID_RESULT, `cannot serialize the result: ${e.message}`);
  }
  if (text === undefined) throw new Failure(INVALID_RESULT, "cannot serialize the result");
  return text;
}

function taskInfo(plugin) {
  const p = plugin.provides;
  let provides;
  if (p === null) provides = { tag: "none" };
  else if (typeof p === "string") provides = { tag: "single", val: p };
  else if (Array.isArray(p)) provides = { tag: "positional", val: p };
  else provides = { tag: "keyed", val: Object.entries(p) };
  return {
    name: plugin.name,
    version: plugin.version,
    description: plugin.description,
    requires: plugin.requires,
    optional: plugin.optional,
    provides,
  };
}

const decisions = new Set(Object.values(Decision));

/**
 * The world's exports for `plugin` (a module's default export), with the
 * host's imports bound. Called by the entry module the build generates.
 */
export function exportsFor(world, plugin, hostImports) {
  if (!plugin || (plugin.world !== "task" && plugin.world !== "retry")) {
    throw new TypeError("the module's default export must be task({...}) or retry({...})");
  }
  if (plugin.world !== world) {
    throw new TypeError(`${plugin.name} is a ${plugin.world}, built as world ${world}`);
  }
  host = hostImports;
  const describe = () => taskInfo(plugin);
  if (world === "task") {
    return {
      describe,
      execute: (args) => run(() => encode(plugin.execute(decodeArgs(args, plugin.requires)))),
      revert: (args, result, flowFailures) =>
        run(() => {
          if (!plugin.revert) return;
          const previous = result === undefined ? null : jsonOrString(result);
          // Like the Rust SDK, revert does not insist on arguments it may not use.
          plugin.revert(decodeArgs(args, []), previous, flowFailures.map(fromWireAtom));
        }),
    };
  }
  const call = (fn, history, args, requires = plugin.requires) =>
    fn(decodeArgs(args, requires), fromWireHistory(history));
  return {
    describe,
    execute: (history, args) => run(() => encode(call(plugin.execute, history, args))),
    revert: (history, args) =>
      run(() => {
        if (plugin.revert) call(plugin.revert, history, args, []);
      }),
    onFailure: (history, args) => {
      let decision;
      try {
        decision = call(plugin.onFailure, history, args);
      } catch (e) {
        if (!(e instanceof Failure)) throw e;
        error(`on-failure cannot decode its arguments, so it reverts the whole flow: ${e.kind}: ${e.message}`);
        return Decision.REVERT_ALL;
      }
      if (!decisions.has(decision)) {
        error(`on-failure returned ${JSON.stringify(decision)}, not a Decision, so it reverts the whole flow`);
        return Decision.REVERT_ALL;
      }
      return decision;
    },
  };
}
