"""What the Python scenarios share: one line per check, as the JS runners print them, and the
totals line that tests/run-python.mjs reads."""

import asyncio
import os
import sys
import time
import traceback

passed = 0
failed = 0


def _report(name, started, detail, err):
    global passed, failed
    if err is None:
        took = time.monotonic() - started
        extra = f" — {detail}" if detail else ""
        timing = f" ({took:.1f} s)" if took >= 1 else ""
        print(f"ok    python: {name}{extra}{timing}", flush=True)
        passed += 1
    else:
        reason = f"{type(err).__name__}: {err}".replace("\n", " ⏎ ")
        print(f"FAIL  python: {name} — {reason}", flush=True)
        traceback.print_exception(err)
        failed += 1


def check(name):
    """Runs the decorated function (a coroutine function is run to its end) as one check."""

    def run(fn):
        started = time.monotonic()
        try:
            detail = asyncio.run(fn()) if asyncio.iscoroutinefunction(fn) else fn()
        except Exception as err:  # every failure is reported, none stops the run
            _report(name, started, None, err)
        else:
            _report(name, started, detail, None)
        return fn

    return run


def equal(actual, expected, what):
    if actual != expected:
        raise AssertionError(f"{what}: expected {expected!r}, got {actual!r}")


def finish():
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.stderr.flush()
    # Leaves without the interpreter's teardown. The official client's HTTP layer (pyqwest) reads
    # each stream chunk on a Rust thread, which stays parked after a watch is stopped or a handle
    # disconnected; when the last kill ends those streams during Python's teardown, that thread
    # takes the GIL of a finalizing interpreter and aborts the process (SIGABRT or SIGBUS, seen
    # about once in four runs) after every check has passed.
    os._exit(1 if failed or not passed else 0)
