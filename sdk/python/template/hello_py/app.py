"""A taskbox task in Python: greets someone, and takes the greeting back when
the flow it ran in fails later.

Build:  bash scripts/plugin-py.sh DIR       (or: just plugin-py DIR)
Run:    taskbox run DIR/flow.toml --plugins target/plugins
"""

from taskbox_sdk import Failure, info, task


@task(provides="greeting")
def greet(name: str, punctuation: str = "!") -> str:
    """Greets `name`. Fails with `greet.nobody` when the name is empty."""
    if not name.strip():
        raise Failure("greet.nobody", "there is nobody to greet", {"name": name})
    greeting = f"Hello, {name}{punctuation}"
    info(f"greeted {name}")
    return greeting


@greet.revert
def take_back(name: str, result: str | None) -> None:
    """Undoes `greet`; here it only logs what it takes back."""
    if result is None:
        info(f"nothing to take back from {name}")
    else:
        info(f'took back "{result}"')
