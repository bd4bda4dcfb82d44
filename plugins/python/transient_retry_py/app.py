"""The `transient-retry` retry controller in Python: runs its scope again
while every failure is transient (a timeout, a network hiccup) and the
attempt budget lasts; any other failure, or a spent budget, reverts the
scope.

The same controller as the Rust plugin in plugins/retry/transient-retry: the
same arguments, decisions and logs.

Arguments, both optional:

- `budget` (default 3): the most attempts in total, the first included.
- `transient` (default `["limit.timeout", "net.", "io.timeout"]`): the
  failure kinds worth retrying. A kind is transient when it equals an entry
  or, for an entry ending in `.`, starts with it.

`execute` provides the number of the attempt it starts (1 for the first).
"""

from taskbox_sdk import Decision, History, info, retry, warn

# Most attempts in total when no `budget` is given.
DEFAULT_BUDGET = 3

# Transient failure kinds when no `transient` is given.
DEFAULT_TRANSIENT = ["limit.timeout", "net.", "io.timeout"]


@retry(provides="attempt")
def transient_retry(history: History, budget: int | None = None, transient: list | None = None) -> int:
    """Retries its scope while every failure is transient and fewer than
    `budget` attempts (default 3) have run; reverts it otherwise."""
    # `transient` is a parameter so that the controller describes it as an
    # argument; only on_failure reads it.
    attempt = len(history.attempts) + 1
    info(f"starting attempt {attempt} of at most {DEFAULT_BUDGET if budget is None else budget}")
    return attempt


@transient_retry.on_failure
def decide(history: History, budget: int | None = None, transient: list | None = None) -> Decision:
    """Decides whether the scope runs again."""
    budget = DEFAULT_BUDGET if budget is None else budget
    transient = DEFAULT_TRANSIENT if transient is None else transient
    failures = [(f.atom, f.failure) for f in history.last_failures()]
    if history.failure is not None:
        failures.append(("the retry controller", history.failure))
    if not failures:
        warn("reverting: no failure is recorded, so none can be judged transient")
        return Decision.REVERT
    for atom, failure in failures:
        if not is_transient(failure.kind, transient):
            warn(
                f"reverting: `{atom}` failed with `{failure.kind}`, which is not transient"
                f" ({failure.message})"
            )
            return Decision.REVERT
    attempts = len(history.attempts)
    if attempts >= budget:
        warn(f"reverting: the budget of {budget} attempt(s) is spent after {attempts}")
        return Decision.REVERT
    kinds = ", ".join(failure.kind for _, failure in failures)
    info(
        f"retrying after transient failure(s) {kinds}: attempt {attempts + 1} of at most {budget} next"
    )
    return Decision.RETRY


@transient_retry.revert
def scope_reverted(history: History) -> None:
    """Nothing to undo: the controller only logs that its scope reverts."""
    info(f"scope reverted after {len(history.attempts)} attempt(s)")


def is_transient(kind: str, transient: list) -> bool:
    """Whether a failure of `kind` is transient by the `transient` patterns."""
    return any(kind == p or (p.endswith(".") and kind.startswith(p)) for p in transient)
