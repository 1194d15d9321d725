"""The official Python package's asyncio API (`AsyncSandbox`, `e2b` 2.63.0, and
`e2b_code_interpreter.AsyncSandbox` 2.11.5) against sandkitd: lifecycle, listing, commands
(callbacks, background handles, stdin and stream_input, connect), files (every write and read
format, watch_dir), terminals, pause and resume, metrics, the code interpreter and asyncio.gather
of all of these, each awaited as a Python user of E2B awaits it. One line per check; the last line is the totals. Run by tests/run-python.mjs.

Each check runs in an event loop of its own (harness.check); a sandbox object outlives its loop,
a handle (command, terminal, watch) does not, so handles are made and ended within one check."""

import asyncio
import base64
import os
import uuid

from e2b import (
    AsyncSandbox,
    CommandExitException,
    FileNotFoundException,
    FilesystemEventType,
    FileType,
    InvalidArgumentException,
    PtySize,
    SandboxException,
    SandboxQuery,
    SandboxState,
)
from harness import check, equal, finish

run = f"pyasync-{uuid.uuid4().hex[:8]}"
created = []  # every sandbox made here, killed by the last check
state = {}


async def create(cls=AsyncSandbox, **kwargs):
    sbx = await cls.create(**kwargs)
    created.append(sbx)
    return sbx


async def until(predicate, what, tries=100, pause=0.05):
    """Awaits until predicate() (sync or async) is true, or fails naming what was awaited."""
    for _ in range(tries):
        got = predicate()
        if asyncio.iscoroutine(got):
            got = await got
        if got:
            return got
        await asyncio.sleep(pause)
    raise AssertionError(f"{what}: not within {tries * pause:.1f} s")


async def killed(handle):
    """Kills a command or terminal and waits for its end (a killed one ends with an error)."""
    await handle.kill()
    try:
        await asyncio.wait_for(handle.wait(), 10)
    except CommandExitException:
        pass


def now_for(when):
    from datetime import datetime, timezone

    return datetime.now(timezone.utc) if when.tzinfo else datetime.utcnow()


@check("async lifecycle: AsyncSandbox.create with metadata, envs and timeout; get_info; is_running")
async def _():
    sbx = await create(metadata={"run": run, "n": "0"}, envs={"GREETING": "hi"}, timeout=120)
    state["a"] = sbx
    info = await sbx.get_info()
    equal(info.sandbox_id, sbx.sandbox_id, "sandbox_id")
    equal((info.metadata.get("run"), info.metadata.get("n")), (run, "0"), "metadata")
    equal(info.state, SandboxState.RUNNING, "state")
    equal(await sbx.is_running(), True, "is_running")
    span = (info.end_at - info.started_at).total_seconds()
    if not 118 <= span <= 122:
        raise AssertionError(f"end_at - started_at is {span} s, not 120")
    equal((await sbx.commands.run("echo $GREETING")).stdout, "hi\n", "the create's envs")
    same = await AsyncSandbox.get_info(sbx.sandbox_id)
    equal(same.metadata.get("run"), run, "get_info as a classmethod")


@check("async lifecycle: set_timeout moves the end (instance and classmethod); AsyncSandbox.connect reaches the same sandbox")
async def _():
    a = state["a"]
    await a.set_timeout(300)
    info = await a.get_info()
    span = (info.end_at - now_for(info.end_at)).total_seconds()
    if not 290 <= span <= 305:
        raise AssertionError(f"the end is {span} s away, not 300")
    await AsyncSandbox.set_timeout(a.sandbox_id, 240)
    info = await a.get_info()
    span = (info.end_at - now_for(info.end_at)).total_seconds()
    if not 230 <= span <= 245:
        raise AssertionError(f"after the classmethod the end is {span} s away, not 240")
    again = await AsyncSandbox.connect(a.sandbox_id)
    equal(again.sandbox_id, a.sandbox_id, "the connected sandbox's id")
    equal((await again.commands.run("echo $GREETING")).stdout, "hi\n", "a command through the connection")
    equal(await a.connect(), a, "the instance's connect returns the sandbox")


@check("async list: AsyncSandbox.list with a metadata query, paged by limit (has_next, next_items)")
async def _():
    for n in ("1", "2"):
        await create(metadata={"run": run, "n": n}, timeout=120)
    paginator = AsyncSandbox.list(query=SandboxQuery(metadata={"run": run}), limit=2)
    ids, pages = [], 0
    while paginator.has_next:
        page = await paginator.next_items()
        if len(page) > 2:
            raise AssertionError(f"a page of {len(page)} with limit 2")
        ids += [s.sandbox_id for s in page]
        pages += 1
    equal(sorted(ids), sorted(s.sandbox_id for s in created), "listed ids")
    equal(pages, 2, "pages of 2")
    running = AsyncSandbox.list(query=SandboxQuery(metadata={"run": run, "n": "1"}, state=[SandboxState.RUNNING]))
    one = await running.next_items()
    equal([s.metadata.get("n") for s in one], ["1"], "a two-key metadata query with a state")
    equal(running.has_next, False, "has_next after the only page")
    none = await AsyncSandbox.list(query=SandboxQuery(metadata={"run": "no-such-run"})).next_items()
    equal(none, [], "an unmatched filter")


@check("async commands: run with envs, cwd and user; exit 3 raises CommandExitException with stdout and stderr")
async def _():
    a = state["a"]
    r = await a.commands.run("echo $X $PWD $(whoami)", envs={"X": "x"}, cwd="/tmp", user="root")
    equal((r.stdout, r.stderr, r.exit_code), ("x /tmp root\n", "", 0), "the result")
    equal((await a.commands.run("whoami")).stdout, "user\n", "the default user")
    try:
        await a.commands.run("echo out; echo err >&2; exit 3")
        raise AssertionError("exit 3 did not raise")
    except CommandExitException as e:
        equal((e.exit_code, e.stdout, e.stderr), (3, "out\n", "err\n"), "the exception")


@check("async commands: on_stdout and on_stderr callbacks, plain and async (an async one is awaited while the command runs)")
async def _():
    a = state["a"]
    out, err = [], []
    r = await a.commands.run(
        "for i in 1 2 3; do echo $i; echo e$i >&2; sleep 0.05; done",
        on_stdout=out.append,
        on_stderr=err.append,
    )
    equal(("".join(out), "".join(err)), ("1\n2\n3\n", "e1\ne2\ne3\n"), "plain callbacks")
    equal((r.stdout, r.stderr), ("1\n2\n3\n", "e1\ne2\ne3\n"), "the result's output")
    seen = []
    go = f"/tmp/go-{uuid.uuid4().hex[:6]}"

    async def on_stdout(chunk):
        seen.append(f"out:{chunk.strip()}")
        # The command waits for this file: an async callback not awaited in time would hang it.
        if "one" in chunk:
            await a.files.write(go, "go")

    async def on_stderr(chunk):
        await asyncio.sleep(0)
        seen.append(f"err:{chunk.strip()}")

    r = await a.commands.run(
        f"echo one; echo two >&2; while [ ! -f {go} ]; do sleep 0.05; done; echo three",
        on_stdout=on_stdout,
        on_stderr=on_stderr,
        timeout=30,
    )
    equal(r.stdout, "one\nthree\n", "stdout")
    # Order holds within a pipe; stdout and stderr are separate pipes, read apart (as envd does).
    by_pipe = ([s for s in seen if s.startswith("out:")], [s for s in seen if s.startswith("err:")])
    equal(by_pipe, (["out:one", "out:three"], ["err:two"]), "what the async callbacks saw")


@check("async commands: a background handle: commands.list shows it, wait gives its result, kill ends it")
async def _():
    a = state["a"]
    h = await a.commands.run("sleep 0.3; echo done", background=True)
    equal(h.exit_code, None, "exit_code while running")
    listed = await a.commands.list()
    mine = next((p for p in listed if p.pid == h.pid), None)
    if mine is None:
        raise AssertionError(f"pid {h.pid} is not in {[p.pid for p in listed]}")
    equal((mine.cmd, mine.args[-1]), ("/bin/bash", "sleep 0.3; echo done"), "the listed command")
    result = await h.wait()
    equal((result.stdout, result.exit_code, h.exit_code, h.stdout), ("done\n", 0, 0, "done\n"), "the result")

    long = await a.commands.run("sleep 60", background=True)
    equal(await long.kill(), True, "handle.kill")
    try:
        await long.wait()
        raise AssertionError("a killed command ended normally")
    except CommandExitException as e:
        if e.exit_code == 0:
            raise AssertionError(f"a killed command's exit code is 0 ({e.error!r})")
    equal(await a.commands.kill(long.pid), False, "commands.kill of the ended command")
    other = await a.commands.run("sleep 60", background=True)
    equal(await a.commands.kill(other.pid), True, "commands.kill")
    try:
        await other.wait()
        raise AssertionError("a killed command ended normally")
    except CommandExitException:
        pass
    left = [p.pid for p in await a.commands.list() if p.pid in (long.pid, other.pid)]
    equal(left, [], "killed commands listed")


@check("async commands: stdin=True: send_stdin (commands and handle) reaches the command, close_stdin ends its input; input a stdin cannot take is a SandboxException")
async def _():
    a = state["a"]
    chunks = []
    h = await a.commands.run("cat; echo eof", background=True, stdin=True, on_stdout=chunks.append)
    await a.commands.send_stdin(h.pid, "hello\n")
    await until(lambda: "hello\n" in "".join(chunks), "the echo of the first line")
    await h.send_stdin(b"bytes too\n")
    await until(lambda: "bytes too\n" in "".join(chunks), "the echo of bytes")
    await h.close_stdin()
    result = await asyncio.wait_for(h.wait(), 10)
    equal(result.stdout, "hello\nbytes too\neof\n", "stdout after close_stdin")

    h = await a.commands.run("wc -c", background=True, stdin=True)
    await h.send_stdin("12345")
    await a.commands.close_stdin(h.pid)
    equal((await asyncio.wait_for(h.wait(), 10)).stdout.strip(), "5", "wc -c after commands.close_stdin")

    # Input a stdin cannot take is the process's state, not a bad argument: envd answers
    # failed_precondition, which the package raises as a plain SandboxException.
    async def refused(what, call):
        try:
            await call()
        except InvalidArgumentException as e:
            raise AssertionError(f"{what}: InvalidArgumentException ({e}), where envd's is a SandboxException")
        except SandboxException as e:
            if "stdin not enabled or closed" not in str(e):
                raise AssertionError(f"{what}: {e}")
        else:
            raise AssertionError(f"{what} was taken")

    h = await a.commands.run("cat; sleep 30", background=True, stdin=True)
    await h.close_stdin()
    await refused("send_stdin after close_stdin", lambda: h.send_stdin("late\n"))
    await h.close_stdin()  # a second close is no error, as in envd
    await killed(h)
    h = await a.commands.run("sleep 30", background=True)
    await refused("send_stdin to a command without stdin=True", lambda: a.commands.send_stdin(h.pid, "x"))
    await killed(h)


@check("async commands and pty: stream_input sends ordered input over one stream (async with), to a command and to a terminal")
async def _():
    a = state["a"]
    chunks = []
    h = await a.commands.run("cat", background=True, stdin=True, on_stdout=chunks.append)
    async with a.commands.stream_input(h.pid) as stream:
        for i in range(20):
            await stream.send(f"line {i}\n")
        await stream.send(b"bytes\n")
    await until(lambda: "bytes\n" in "".join(chunks), "the streamed input's echo")
    equal("".join(chunks), "".join(f"line {i}\n" for i in range(20)) + "bytes\n", "the echo, in order")
    await h.close_stdin()
    equal((await asyncio.wait_for(h.wait(), 10)).exit_code, 0, "cat after close_stdin")

    out = bytearray()
    term = await a.pty.create(size=PtySize(rows=24, cols=80), on_data=out.extend)
    try:
        stream = a.pty.stream_input(term.pid)
        for part in (b"echo S", b"$((3*", b"7))\n"):
            await stream.send(part)
        await stream.close()
        await until(lambda: b"S21" in out, f"the terminal's echo in {bytes(out)[-200:]!r}")
    finally:
        await killed(term)


@check("async commands: commands.connect(pid) to a running command gets its later output and its end")
async def _():
    a = state["a"]
    go = f"/tmp/go-{uuid.uuid4().hex[:6]}"
    first = []
    h = await a.commands.run(
        f"echo before; while [ ! -f {go} ]; do sleep 0.05; done; echo after; exit 7",
        background=True,
        on_stdout=first.append,
    )
    await until(lambda: "before\n" in "".join(first), "the first output")
    await h.disconnect()
    later = []

    async def on_stdout(chunk):
        later.append(chunk)

    again = await a.commands.connect(h.pid, on_stdout=on_stdout)
    equal(again.pid, h.pid, "the connected pid")
    await a.files.write(go, "go")
    try:
        await asyncio.wait_for(again.wait(), 15)
        raise AssertionError("exit 7 did not raise")
    except CommandExitException as e:
        equal((e.exit_code, e.stdout), (7, "after\n"), "the connected command's end")
    equal("".join(later), "after\n", "on_stdout of the connection")
    equal("".join(first), "before\n", "the disconnected handle got nothing more")


@check("async files: write str and bytes, write_files (a list, one streamed from an async iterable); read as text, bytes and stream")
async def _():
    f = state["a"].files
    info = await f.write("pyasync/a.txt", "hello")
    equal((info.name, info.path, info.type), ("a.txt", "/home/user/pyasync/a.txt", FileType.FILE), "write's WriteInfo")
    await f.write("/home/user/pyasync/b.bin", b"\x00\xff")
    big = os.urandom(3 << 20)

    async def chunks():
        for i in range(0, len(big), 1 << 20):
            await asyncio.sleep(0)
            yield big[i : i + (1 << 20)]

    written = await f.write_files(
        [
            {"path": "pyasync/many/one.txt", "data": "one"},
            {"path": "pyasync/many/two.bin", "data": b"two"},
        ]
    )
    paths = sorted(w.path for w in written)
    equal(paths, ["/home/user/pyasync/many/one.txt", "/home/user/pyasync/many/two.bin"], "write_files' paths")
    streamed = await f.write_files([{"path": "pyasync/big.bin", "data": chunks()}])
    equal([w.name for w in streamed], ["big.bin"], "the streamed upload's WriteInfo")
    equal(await f.read("pyasync/a.txt"), "hello", "text (the default format)")
    equal(await f.read("pyasync/a.txt", format="text"), "hello", "format='text'")
    data = await f.read("pyasync/b.bin", format="bytes")
    equal((type(data).__name__, bytes(data)), ("bytearray", b"\x00\xff"), "format='bytes'")
    equal(await f.read("pyasync/many/one.txt"), "one", "a file of write_files")
    equal(bytes(await f.read("pyasync/many/two.bin", format="bytes")), b"two", "the other file of write_files")
    got = bytearray()
    async with await f.read("pyasync/big.bin", format="stream") as stream:
        async for chunk in stream:
            got += chunk
    equal((len(got), bytes(got) == big), (len(big), True), "format='stream' of the 3 MiB streamed upload")


@check("async files: list, exists, get_info, rename, make_dir, remove; a missing file raises FileNotFoundException")
async def _():
    f = state["a"].files
    equal(sorted(e.name for e in await f.list("pyasync")), ["a.txt", "b.bin", "big.bin", "many"], "list")
    deep = sorted(e.path for e in await f.list("pyasync", depth=2) if e.type == FileType.FILE and "many" in e.path)
    equal(deep, ["/home/user/pyasync/many/one.txt", "/home/user/pyasync/many/two.bin"], "list depth=2")
    info = await f.get_info("pyasync/a.txt")
    equal((info.name, info.size, info.type, info.owner), ("a.txt", 5, FileType.FILE, "user"), "get_info")
    equal(await f.make_dir("pyasync/sub"), True, "make_dir")
    equal(await f.make_dir("pyasync/sub"), False, "make_dir of an existing directory")
    moved = await f.rename("pyasync/a.txt", "pyasync/sub/a.txt")
    equal(moved.path, "/home/user/pyasync/sub/a.txt", "rename's EntryInfo")
    equal((await f.exists("pyasync/a.txt"), await f.exists("pyasync/sub/a.txt")), (False, True), "after rename")
    await f.remove("pyasync/sub")
    equal(await f.exists("pyasync/sub"), False, "after remove")
    await f.remove("pyasync/never-was")
    for what, call in (
        ("read", lambda: f.read("pyasync/never-was")),
        ("read bytes", lambda: f.read("pyasync/never-was", format="bytes")),
        ("read stream", lambda: f.read("pyasync/never-was", format="stream")),
        ("get_info", lambda: f.get_info("pyasync/never-was")),
    ):
        try:
            await call()
            raise AssertionError(f"{what} of a missing file succeeded")
        except FileNotFoundException:
            pass


@check("async files: watch_dir with an async on_event sees create and write; recursive=True sees a subdirectory's; stop calls on_exit")
async def _():
    f = state["a"].files
    await f.make_dir("/home/user/pyawatch/deep")
    events, exits = [], []

    async def on_event(e):
        await asyncio.sleep(0)
        events.append(e)

    handle = await f.watch_dir("/home/user/pyawatch", on_event=on_event, on_exit=exits.append)
    try:
        await f.write("/home/user/pyawatch/x.txt", "x")
        kinds = lambda: [(e.name, e.type.value) for e in events]  # noqa: E731
        await until(lambda: ("x.txt", "write") in kinds(), "a write of x.txt", tries=100, pause=0.05)
        if ("x.txt", "create") not in kinds():
            raise AssertionError(f"no create of x.txt in {kinds()}")
        await f.write("/home/user/pyawatch/deep/y.txt", "y")
        await asyncio.sleep(0.5)
        if any(e.name.endswith("y.txt") for e in events):
            raise AssertionError(f"a non-recursive watch saw the subdirectory's file: {kinds()}")
    finally:
        await handle.stop()
    equal(exits, [None], "on_exit after stop")

    deep = []
    handle = await f.watch_dir("/home/user/pyawatch", on_event=deep.append, recursive=True)
    try:
        await f.write("/home/user/pyawatch/deep/z.txt", "z")
        await until(
            lambda: any(e.name == "deep/z.txt" and e.type == FilesystemEventType.WRITE for e in deep),
            f"a write of deep/z.txt (seen {[(e.name, e.type.value) for e in deep]})",
        )
        await f.remove("/home/user/pyawatch/x.txt")
        await until(
            lambda: any(e.name == "x.txt" and e.type == FilesystemEventType.REMOVE for e in deep),
            "a remove of x.txt",
        )
    finally:
        await handle.stop()
    try:
        await f.watch_dir("/home/user/no-such-dir", on_event=deep.append)
        raise AssertionError("a watch of a missing directory started")
    except FileNotFoundException:
        pass


@check("async pty: create with a size and on_data; typed commands' output arrives; resize; kill")
async def _():
    a = state["a"]
    out = bytearray()

    async def on_data(data):
        out.extend(data)

    term = await a.pty.create(size=PtySize(rows=24, cols=80), on_data=on_data, envs={"PYA": "pty"})
    try:
        await a.pty.send_stdin(term.pid, b"stty size; echo M$((40+2))$PYA\n")
        await until(lambda: b"M42pty" in out, f"the echo in {bytes(out)[-200:]!r}")
        if b"24 80" not in out:
            raise AssertionError(f"stty size before the resize: {bytes(out)[-200:]!r}")
        await a.pty.resize(term.pid, PtySize(rows=30, cols=100))
        await a.pty.send_stdin(term.pid, b"stty size; echo R$((1+1))\n")
        await until(lambda: b"R2" in out, f"the second echo in {bytes(out)[-200:]!r}")
        if b"30 100" not in out:
            raise AssertionError(f"stty size after the resize: {bytes(out)[-200:]!r}")
        listed = [p.pid for p in await a.commands.list()]
        if term.pid not in listed:
            raise AssertionError(f"the terminal {term.pid} is not listed in {listed}")
    finally:
        killed = await a.pty.kill(term.pid)
    equal(killed, True, "pty.kill")
    try:
        await asyncio.wait_for(term.wait(), 10)
        raise AssertionError("a killed terminal ended normally")
    except CommandExitException:
        pass
    equal(await a.pty.kill(term.pid), False, "a second pty.kill")

    # A terminal ended from inside: `exit` gives its status.
    ended = await a.pty.create(size=PtySize(rows=10, cols=40), on_data=lambda d: None)
    await a.pty.send_stdin(ended.pid, b"exit 0\n")
    equal((await asyncio.wait_for(ended.wait(), 10)).exit_code, 0, "exit code of `exit 0`")


async def count_at_least(count, n):
    return await count() >= n


@check("async pause: pause() freezes a counting sandbox (second is False, state paused, is_running False); connect resumes; beta_pause as a classmethod")
async def _():
    sbx = await create(metadata={"run": run, "n": "paused"})
    await sbx.commands.run(
        "sh -c 'i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done'",
        background=True,
    )

    async def count():
        try:
            return int((await sbx.files.read("/tmp/count")).strip() or 0)
        except Exception:
            return 0

    await until(lambda: count_at_least(count, 3), "the counter")
    before = await count()
    equal(await sbx.pause(), True, "pause")
    equal(await sbx.pause(), False, "a second pause")
    equal((await AsyncSandbox.get_info(sbx.sandbox_id)).state, SandboxState.PAUSED, "state while paused")
    equal(await sbx.is_running(), False, "is_running while paused")
    await asyncio.sleep(1.5)
    resumed = await sbx.connect()
    after = await count()
    if after - before >= 15:
        raise AssertionError(f"counted {after - before} times while paused")
    await until(lambda: count_at_least(count, after + 1), "the counter after the resume")
    equal((await resumed.get_info()).state, SandboxState.RUNNING, "state after connect")

    equal(await AsyncSandbox.beta_pause(sbx.sandbox_id), True, "AsyncSandbox.beta_pause")
    equal((await sbx.get_info()).state, SandboxState.PAUSED, "state after beta_pause")
    again = await AsyncSandbox.connect(sbx.sandbox_id)
    equal(await again.is_running(), True, "is_running after AsyncSandbox.connect")
    mark = await count()
    await until(lambda: count_at_least(count, mark + 1), "the counter after the second resume")


@check("async metrics: get_metrics of a busy sandbox shows its CPU; the classmethod too")
async def _():
    sbx = await create()
    await sbx.commands.run("timeout 20 sh -c 'while :; do :; done'", background=True)

    async def busy():
        return next((m for m in await sbx.get_metrics() if m.cpu_used_pct > 20), None)

    sample = await until(busy, "a sample showing the busy loop", tries=150, pause=0.1)
    equal((sample.cpu_count, sample.mem_total), (2, 512 * 2**20), "cpu_count, mem_total")
    if not 0 < sample.mem_used < sample.mem_total:
        raise AssertionError(f"mem_used {sample.mem_used}")
    if not 0 < sample.disk_used < sample.disk_total:
        raise AssertionError(f"disk_used {sample.disk_used} of {sample.disk_total}")
    if not await AsyncSandbox.get_metrics(sbx.sandbox_id):
        raise AssertionError("the classmethod found no samples")


@check("async code interpreter: e2b_code_interpreter.AsyncSandbox runs code with kept state, on_stdout (async too), errors, a context (restarted, removed) and a matplotlib PNG")
async def _():
    from e2b_code_interpreter import AsyncSandbox as CodeSandbox

    sbx = await create(CodeSandbox, timeout=120)
    await sbx.run_code("x = 1")
    equal((await sbx.run_code("x + 1")).text, "2", "x + 1")

    lines, async_lines, errs = [], [], []

    async def on_stdout_async(m):
        await asyncio.sleep(0)
        async_lines.append(m.line)

    printed = await sbx.run_code(
        "import sys\nprint('hi')\nprint('oops', file=sys.stderr)", on_stdout=lines.append, on_stderr=errs.append
    )
    equal(("".join(printed.logs.stdout), "".join(printed.logs.stderr)), ("hi\n", "oops\n"), "logs")
    equal(("".join(m.line for m in lines), [m.error for m in errs]), ("hi\n", [True]), "on_stdout and on_stderr")
    await sbx.run_code("for i in range(3): print(i)", on_stdout=on_stdout_async)
    equal("".join(async_lines), "0\n1\n2\n", "an async on_stdout")

    called = []
    failed = await sbx.run_code("1 / 0", on_error=called.append)
    equal((failed.error.name, failed.error.value), ("ZeroDivisionError", "division by zero"), "the error")
    if "ZeroDivisionError" not in failed.error.traceback:
        raise AssertionError(f"traceback {failed.error.traceback!r}")
    equal([e.name for e in called], ["ZeroDivisionError"], "on_error")
    equal(failed.text, None, "no main result")

    ctx = await sbx.create_code_context(cwd="/tmp")
    equal((ctx.language, ctx.cwd), ("python", "/tmp"), "the context's fields")
    await sbx.run_code("y = 5", context=ctx)
    equal((await sbx.run_code("y * 2", context=ctx)).text, "10", "a context's state")
    equal((await sbx.run_code("import os\nos.getcwd()", context=ctx)).text, "/tmp", "a context's cwd")
    equal((await sbx.run_code("y")).error.name, "NameError", "the default context does not see it")
    if ctx.id not in [c.id for c in await sbx.list_code_contexts()]:
        raise AssertionError("the context is not listed")
    await sbx.restart_code_context(ctx)
    equal((await sbx.run_code("y", context=ctx)).error.name, "NameError", "y after restart_code_context")
    await sbx.remove_code_context(ctx.id)
    if ctx.id in [c.id for c in await sbx.list_code_contexts()]:
        raise AssertionError("a removed context is listed")

    probe = await sbx.run_code("import matplotlib")
    if probe.error:
        if probe.error.name in ("ModuleNotFoundError", "ImportError"):
            return "matplotlib is not in the sandbox's interpreter: the PNG part was skipped"
        raise AssertionError(f"import matplotlib: {probe.error.name}: {probe.error.value}")
    chart = await sbx.run_code("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.show()")
    equal(chart.error, None, "the chart's error")
    png = next((r for r in chart.results if r.png), None)
    if png is None:
        raise AssertionError(f"no PNG among {len(chart.results)} results")
    if not png.png.startswith("iVBORw0KGgo") or not base64.b64decode(png.png).startswith(b"\x89PNG\r\n\x1a\n"):
        raise AssertionError(f"not a base64 PNG: {png.png[:20]!r}")
    if "png" not in png.formats():
        raise AssertionError(f"formats {list(png.formats())}")


@check("async concurrency: asyncio.gather of creates, and of commands, file round trips, background handles and watches in them")
async def _():
    sbxs = await asyncio.gather(*[create(metadata={"run": run, "n": f"g{i}"}, timeout=120) for i in range(3)])
    equal(len({s.sandbox_id for s in sbxs}), 3, "three sandboxes")

    async def work(sbx, i):
        r = await sbx.commands.run(f"sleep 0.2; echo {i}-$(({i}*{i}))")
        await sbx.files.write(f"/tmp/f{i}", str(i) * 1000)
        return r.stdout, await sbx.files.read(f"/tmp/f{i}")

    jobs = [(sbx, i) for sbx in sbxs for i in range(15)]
    results = await asyncio.gather(*[work(sbx, i) for sbx, i in jobs])
    wrong = [i for (sbx, i), (out, back) in zip(jobs, results) if (out, back) != (f"{i}-{i * i}\n", str(i) * 1000)]
    equal(wrong, [], "jobs whose output or file came back wrong")

    outs = []
    handles = await asyncio.gather(
        *[sbxs[0].commands.run(f"sleep 1; echo {i}", background=True, on_stdout=outs.append) for i in range(30)]
    )
    ended = await asyncio.gather(*[h.wait() for h in handles])
    equal(sorted(int(r.stdout) for r in ended), list(range(30)), "30 background commands at once")
    equal(len(outs), 30, "their on_stdout calls")

    seen = [[] for _ in range(5)]
    watches = await asyncio.gather(*[sbxs[1].files.watch_dir("/tmp", on_event=events.append) for events in seen])
    try:
        await sbxs[1].files.write("/tmp/gathered.txt", "x")
        await until(
            lambda: all(any(e.name == "gathered.txt" and e.type == FilesystemEventType.WRITE for e in w) for w in seen),
            "a write event in each of 5 watches",
        )
    finally:
        await asyncio.gather(*[w.stop() for w in watches])


@check("async lifecycle: kill (instance and classmethod), a second kill is False, nothing made here is left")
async def _():
    a = state.get("a")
    errors = []
    for sbx in created:
        try:
            ok = await (sbx.kill() if sbx is a else AsyncSandbox.kill(sbx.sandbox_id))
            if ok is not True:
                errors.append(f"kill {sbx.sandbox_id}: {ok!r}")
        except Exception as e:  # every sandbox gets its kill, whatever one of them answers
            errors.append(f"kill {sbx.sandbox_id}: {type(e).__name__}: {e}")
    if errors:
        raise AssertionError("; ".join(errors))
    equal(await a.kill(), False, "a second kill (instance)")
    equal(await AsyncSandbox.kill(a.sandbox_id), False, "a second kill (classmethod)")
    equal(await a.is_running(), False, "is_running after the kill")
    paginator = AsyncSandbox.list()
    listed = []
    while paginator.has_next:
        listed += [s.sandbox_id for s in await paginator.next_items()]
    left = sorted(set(listed) & {s.sandbox_id for s in created})
    equal(left, [], "listed after the kills")
    # The context manager kills on the way out too.
    async with await AsyncSandbox.create(timeout=60) as short:
        created.append(short)
        equal((await short.commands.run("echo ok")).stdout, "ok\n", "inside async with")
    equal(await AsyncSandbox.kill(short.sandbox_id), False, "killed by async with")


finish()
