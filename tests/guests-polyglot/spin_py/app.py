"""A Python task that never returns, for the CPU deadline test: the host
must end it with `limit.timeout` like any other guest."""

from taskbox_sdk import task


@task(provides="never")
def spin_py() -> int:
    """Counts forever."""
    n = 0
    while True:
        n += 1
