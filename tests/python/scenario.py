"""The official Python package (`e2b` 2.63.0) against sandkitd: lifecycle, listing, commands
(stdin sent and streamed), terminals, files (several at once, signed URLs), accounts made in
the sandbox, and `files.watch_dir` (which polls through CreateWatcher / GetWatcherEvents /
RemoveWatcher), a full disk, network egress rules (against the test internet of
tests/harness/outside.mjs). One line per check, as the JS runners print them; the last line is
the totals.

Run by tests/run-python.mjs, which starts the test internet and sandkitd and sets
E2B_API_URL, E2B_SANDBOX_URL, E2B_API_KEY and SANDKIT_WORLD."""

import json
import os
import time
import uuid

from e2b import (
    ALL_TRAFFIC,
    CommandExitException,
    FilesystemEventType,
    NotEnoughSpaceException,
    Sandbox,
    SandboxException,
    SandboxQuery,
    SandboxState,
)
from harness import check, equal, finish

created = []


def create(**kwargs):
    sbx = Sandbox.create(**kwargs)
    created.append(sbx)
    return sbx


def time_now(info):
    from datetime import datetime, timezone

    return datetime.now(timezone.utc) if info.end_at.tzinfo else datetime.utcnow()


run = f"py-{uuid.uuid4().hex[:8]}"
state = {}


@check("lifecycle: create with metadata, envs and timeout; get_info; is_running")
def _():
    sbx = create(metadata={"run": run, "n": "0"}, envs={"GREETING": "hi"}, timeout=120)
    state["a"] = sbx
    info = sbx.get_info()
    equal(info.sandbox_id, sbx.sandbox_id, "sandbox_id")
    equal(info.metadata.get("run"), run, "metadata")
    equal(sbx.is_running(), True, "is_running")
    span = (info.end_at - info.started_at).total_seconds()
    if not 118 <= span <= 122:
        raise AssertionError(f"end_at - started_at is {span} s, not 120")


@check("lifecycle: set_timeout moves the end; connect by id reaches the same sandbox")
def _():
    a = state["a"]
    a.set_timeout(300)
    info = a.get_info()
    span = (info.end_at - time_now(info)).total_seconds()
    if not 290 <= span <= 305:
        raise AssertionError(f"the end is {span} s away, not 300")
    again = Sandbox.connect(a.sandbox_id)
    equal(again.commands.run("echo $GREETING").stdout, "hi\n", "a command through the connection")


@check("list: SandboxQuery by metadata and state, paged with limit and next_token")
def _():
    for n in ("1", "2"):
        create(metadata={"run": run, "n": n}, timeout=120)
    paginator = Sandbox.list(query=SandboxQuery(metadata={"run": run}, state=[SandboxState.RUNNING]), limit=2)
    ids, pages = [], 0
    while paginator.has_next:
        ids += [s.sandbox_id for s in paginator.next_items()]
        pages += 1
    equal(sorted(ids), sorted(s.sandbox_id for s in created), "listed ids")
    equal(pages, 2, "pages of 2")
    none = Sandbox.list(query=SandboxQuery(metadata={"run": "no-such-run"})).next_items()
    equal(none, [], "an unmatched filter")


@check("commands: run with envs, cwd and user; non-zero exit raises CommandExitException")
def _():
    a = state["a"]
    r = a.commands.run("echo $X $PWD $(whoami)", envs={"X": "x"}, cwd="/tmp", user="root")
    equal(r.stdout, "x /tmp root\n", "stdout")
    try:
        a.commands.run("echo out; echo err >&2; exit 3")
        raise AssertionError("exit 3 did not raise")
    except CommandExitException as e:
        equal((e.exit_code, e.stdout, e.stderr), (3, "out\n", "err\n"), "the exception")


@check("commands: stdout streams to on_stdout; a background command is killed")
def _():
    a = state["a"]
    chunks = []
    a.commands.run("for i in 1 2 3; do echo $i; sleep 0.05; done", on_stdout=chunks.append)
    equal("".join(chunks), "1\n2\n3\n", "streamed stdout")
    h = a.commands.run("sleep 60", background=True)
    if not any(p.pid == h.pid for p in a.commands.list()):
        raise AssertionError(f"pid {h.pid} is not listed")
    equal(a.commands.kill(h.pid), True, "kill")
    try:
        h.wait()
        raise AssertionError("a killed command ended normally")
    except CommandExitException:
        pass


@check("commands: stdin=True takes send_stdin, stream_input (each chunk delivered as it is sent) and close_stdin; commands.connect follows a running command")
def _():
    a = state["a"]
    h = a.commands.run("while read line; do echo \"got $line\" | tee -a /tmp/py-stdin.log; done", background=True, stdin=True)
    a.commands.send_stdin(h.pid, "one\n")

    def logged():
        try:
            return a.files.read("/tmp/py-stdin.log")
        except Exception:
            return ""

    def chunks():
        yield "two\n"
        # The first chunk is in the process before the stream has ended.
        for _attempt in range(100):
            if "got two" in logged():
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"the first streamed chunk did not arrive while the stream was open: {logged()!r}")
        yield b"three\n"

    a.commands.stream_input(h.pid, chunks())
    # Connected once the streamed lines are answered: it sees only what comes after.
    for _attempt in range(100):
        if "got three" in logged():
            break
        time.sleep(0.05)
    follower = a.commands.connect(h.pid)
    a.commands.send_stdin(h.pid, "four\n")
    a.commands.close_stdin(h.pid)
    result = h.wait()
    equal(result.stdout, "got one\ngot two\ngot three\ngot four\n", "what the command read, in order")
    equal(follower.wait().stdout, "got four\n", "what the connected handle saw after it connected")
    try:
        a.commands.stream_input(99999, ["x"])
        raise AssertionError("input to no process was taken")
    except SandboxException as e:
        if "not found" not in str(e).lower():
            raise


@check("pty: a terminal of a given size, resized, typed into (send_stdin and stream_input), shows the new size and the answer")
def _():
    from e2b import PtySize

    a = state["a"]
    term = a.pty.create(PtySize(rows=24, cols=80))
    a.pty.resize(term.pid, PtySize(rows=30, cols=101))
    a.pty.send_stdin(term.pid, b"stty size; echo $((6 * 7))\n")
    a.pty.stream_input(term.pid, [b"echo $TERM\n", b"exit\n"])
    out = []
    term.wait(on_pty=lambda data: out.append(bytes(data)))
    text = b"".join(out).decode(errors="replace")
    for want in ("30 101", "42", "xterm-256color"):
        if want not in text:
            raise AssertionError(f"{want!r} not in the terminal's output: {text[-400:]!r}")
    other = a.pty.create(PtySize(rows=24, cols=80))
    equal(a.pty.kill(other.pid), True, "kill of a second terminal")


@check("files: write_files (multipart, octet-stream, gzip, metadata), read as a stream, a missing file raises FileNotFoundException")
def _():
    from e2b import FileNotFoundException
    from e2b.sandbox.filesystem.filesystem import WriteEntry

    f = state["a"].files
    infos = f.write_files([WriteEntry(path="py-many/a.txt", data="A"), WriteEntry(path="py-many/b.bin", data=b"\x01\x02")])
    equal(sorted(i.name for i in infos), ["a.txt", "b.bin"], "the entries written (multipart)")
    f.write_files([WriteEntry(path="py-many/c.txt", data="C" * 5000)], use_octet_stream=True, gzip=True, metadata={"Owner": "py"})
    equal(f.read("py-many/c.txt"), "C" * 5000, "a gzip octet-stream upload")
    equal(f.get_info("py-many/c.txt").metadata, {"owner": "py"}, "the upload's metadata (keys lowercased)")
    streamed = b"".join(f.read("py-many/b.bin", format="stream"))
    equal(streamed, b"\x01\x02", "a file read as a stream")
    try:
        f.read("py-many/none.txt")
        raise AssertionError("reading a missing file did not raise")
    except FileNotFoundException:
        pass


@check("files: signed upload_url and download_url work with plain HTTP; a wrong signature is refused")
def _():
    import urllib.error
    import urllib.request

    a = state["a"]
    path = "/home/user/py-signed.txt"
    boundary = "sandkit-py-boundary"
    body = f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n\r\nsigned\r\n--{boundary}--\r\n".encode()
    up = urllib.request.Request(a.upload_url(path, use_signature_expiration=60), data=body, method="POST", headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(up) as res:
        equal(res.status, 200, "the upload's status")
    with urllib.request.urlopen(a.download_url(path)) as res:
        equal(res.read(), b"signed", "the download")
    bad = a.download_url(path).replace("signature=v1_", "signature=v1_x")
    try:
        urllib.request.urlopen(bad)
        raise AssertionError("a wrong signature was taken")
    except urllib.error.HTTPError as e:
        equal(e.code, 401, "the status of a wrong signature")


@check("files: write, read, list, exists, get_info, rename, make_dir, remove")
def _():
    f = state["a"].files
    f.write("py/a.txt", "hello")
    f.write("py/b.bin", b"\x00\xff")
    equal(f.read("py/a.txt"), "hello", "text")
    equal(bytes(f.read("py/b.bin", format="bytes")), b"\x00\xff", "bytes")
    equal(sorted(e.name for e in f.list("py")), ["a.txt", "b.bin"], "list")
    equal(f.get_info("py/a.txt").size, 5, "size")
    equal(f.make_dir("py/sub"), True, "make_dir")
    f.rename("py/a.txt", "py/sub/a.txt")
    equal((f.exists("py/a.txt"), f.exists("py/sub/a.txt")), (False, True), "after rename")
    f.remove("py/sub")
    equal(f.exists("py/sub"), False, "after remove")
    f.remove("py/never-was")


@check("accounts: one made in the sandbox (useradd, a group) runs commands and writes files at once")
def _():
    a = state["a"]
    a.commands.run("groupadd -g 2200 pycrew && useradd -m -u 1700 -G pycrew pyada", user="root")
    r = a.commands.run("id", user="pyada")
    equal(r.stdout.strip(), "uid=1700(pyada) gid=1700(pyada) groups=1700(pyada),2200(pycrew)", "id")
    a.files.write("hello.txt", "hi", user="pyada")
    info = a.files.get_info("/home/pyada/hello.txt")
    equal((info.owner, info.group), ("pyada", "pyada"), "owner and group of the upload")


@check("files: watch_dir (polling watchers) sees a write, then stops")
def _():
    f = state["a"].files
    f.make_dir("/home/user/pywatch")
    handle = f.watch_dir("/home/user/pywatch")
    try:
        f.write("/home/user/pywatch/x.txt", "x")
        events = []
        for _ in range(50):
            events += handle.get_new_events()
            if any(e.name == "x.txt" and e.type == FilesystemEventType.WRITE for e in events):
                break
            time.sleep(0.1)
        kinds = [(e.name, e.type.value if hasattr(e.type, "value") else e.type) for e in events]
        if not any(e.name == "x.txt" and e.type == FilesystemEventType.CREATE for e in events):
            raise AssertionError(f"no create of x.txt in {kinds}")
        if not any(e.name == "x.txt" and e.type == FilesystemEventType.WRITE for e in events):
            raise AssertionError(f"no write of x.txt in {kinds}")
    finally:
        handle.stop()
    try:
        handle.get_new_events()
        raise AssertionError("a stopped watcher still answers")
    except Exception as e:
        if isinstance(e, AssertionError):
            raise


@check("public URL: a protected port wants e2b-traffic-access-token (403 without, 200 with), as the seed's requests example")
def _():
    import json
    import urllib.error
    import urllib.request

    sbx = create(network={"allow_public_traffic": False})
    token = sbx.traffic_access_token
    if not token:
        raise AssertionError(f"traffic_access_token is {token!r}")
    sbx.commands.run(
        "node -e \"require('node:http').createServer((q, s) => s.end(q.headers.host)).listen(8080)\"",
        background=True,
    )
    url = f"http://{sbx.get_host(8080)}/"
    for _attempt in range(100):
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers={"e2b-traffic-access-token": token})) as res:
                equal(res.read().decode(), sbx.get_host(8080), "the Host the server saw")
                break
        except urllib.error.HTTPError as e:
            if e.code != 502:
                raise
            time.sleep(0.05)
    else:
        raise AssertionError("the server never answered")
    try:
        urllib.request.urlopen(url)
        raise AssertionError("no 403 without the token")
    except urllib.error.HTTPError as e:
        equal(e.code, 403, "status without the token")
        equal(json.loads(e.read())["code"], 403, "JSON code")


@check("pause: pause() stops a counting sandbox (a second pause is False, state paused); connect resumes it")
def _():
    sbx = create()
    sbx.commands.run(
        "sh -c 'i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done'",
        background=True,
    )

    def count():
        try:
            return int(sbx.files.read("/tmp/count").strip() or 0)
        except Exception:
            return 0

    for _attempt in range(100):
        if count() >= 3:
            break
        time.sleep(0.05)
    before = count()
    equal(sbx.pause(), True, "pause")
    equal(sbx.pause(), False, "a second pause")
    equal(Sandbox.get_info(sbx.sandbox_id).state, SandboxState.PAUSED, "state while paused")
    time.sleep(1.5)
    resumed = Sandbox.connect(sbx.sandbox_id)
    after = count()
    if after - before >= 15:
        raise AssertionError(f"counted {after - before} times while paused")
    for _attempt in range(100):
        if count() > after:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the counter did not go on after the resume")
    equal(resumed.get_info().state, SandboxState.RUNNING, "state after connect")


@check("metrics: get_metrics of a busy sandbox shows its CPU; the classmethod too")
def _():
    sbx = create()
    sbx.commands.run("timeout 20 sh -c 'while :; do :; done'", background=True)
    busy = None
    for _attempt in range(150):
        busy = next((m for m in sbx.get_metrics() if m.cpu_used_pct > 20), None)
        if busy:
            break
        time.sleep(0.1)
    if busy is None:
        raise AssertionError("no sample shows the busy loop")
    equal((busy.cpu_count, busy.mem_total), (2, 512 * 2**20), "cpu_count, mem_total")
    if not 0 < busy.mem_used < busy.mem_total:
        raise AssertionError(f"mem_used {busy.mem_used}")
    if not Sandbox.get_metrics(sbx.sandbox_id):
        raise AssertionError("the classmethod found no samples")


@check("pause: without memory, the files stay and the resume is a reboot")
def _():
    sbx = create()
    sbx.files.write("/home/user/kept", "kept")
    sbx.commands.run("sleep 600", background=True)
    equal(sbx.pause(keep_memory=False), True, "pause without memory")
    resumed = Sandbox.connect(sbx.sandbox_id)
    equal(resumed.files.read("/home/user/kept"), "kept", "files after the reboot")
    left = [p for p in resumed.commands.list() if "600" in " ".join(p.args or [])]
    equal(left, [], "processes after the reboot")


@check("snapshots and forks: create_snapshot(mode='filesystem') starts new sandboxes on the files; list, fork and delete; mode='full' is refused")
def _():
    sbx = create()
    sbx.files.write("/home/user/kept", "kept")
    snap = sbx.create_snapshot(name=run, mode="filesystem")
    equal(snap.names, [f"{run}:default"], "names")
    copy = create(template=snap.snapshot_id, metadata={"run": run})
    equal(copy.files.read("/home/user/kept"), "kept", "a file in the sandbox made from the snapshot")
    listed = [s.snapshot_id for s in sbx.list_snapshots().next_items()]
    equal(listed, [snap.snapshot_id], "the sandbox's snapshots")
    forks = sbx.fork(count=1, timeout=60)
    equal(len(forks), 1, "one fork")
    if isinstance(forks[0], Exception):
        raise forks[0]
    created.append(forks[0])
    equal(forks[0].files.read("/home/user/kept"), "kept", "a file in the fork")
    try:
        sbx.create_snapshot(mode="full")
        raise AssertionError("a snapshot with memory was made")
    except SandboxException as e:
        if "memory" not in str(e):
            raise
    equal(Sandbox.delete_snapshot(snap.snapshot_id), True, "deleted")
    equal(Sandbox.delete_snapshot(snap.snapshot_id), False, "deleted again")


@check("files: an upload to a full disk raises NotEnoughSpaceException (507); deleting lets writes in again")
def _():
    sbx = create()
    # The sandbox's own disk (sandkitd's --disk-size-mb), not the host's, which filling would take.
    size = int(sbx.commands.run("df -k --output=size / | tail -1").stdout.strip())
    if not 0 < size <= 2**20:
        raise AssertionError(f"the sandbox's / is not a disk of its own: {size} KiB")
    # Filled by allocation, not by writing: quick, and the host's image of it stays sparse.
    fill = "i=0; while fallocate -l 16M fill$i 2>/dev/null; do i=$((i+1)); done; "
    fill += "j=0; while fallocate -l 64K rest$j 2>/dev/null; do j=$((j+1)); done"
    sbx.commands.run(fill, cwd="/home/user")
    try:
        sbx.files.write("/home/user/more.bin", b"x" * (1 << 20))
    except NotEnoughSpaceException as err:
        reason = str(err)
    else:
        raise AssertionError("an upload to a full disk succeeded")
    sbx.commands.run("rm -f fill* rest*", cwd="/home/user")
    sbx.files.write("/home/user/more.bin", b"x" * (1 << 20))
    equal(sbx.files.get_info("/home/user/more.bin").size, 1 << 20, "the size written once there was space")
    return f"{size} KiB disk: {reason}"


@check("templates: Template.exists finds the server's templates, not a name it does not have")
def _():
    from e2b import Template

    equal(Template.exists("base"), True, "base")
    equal(Template.exists("code-interpreter-v1"), True, "code-interpreter-v1")
    equal(Template.exists(f"nonexistent-{uuid.uuid4()}"), False, "an unknown name")


@check("commands: sudo as E2B's user has it; a command's envs do not reach the next (E2B's own test)")
def _():
    sbx = Sandbox.create()
    created.append(sbx)
    equal(sbx.commands.run("sudo id -u").stdout, "0\n", "sudo id -u")
    equal(sbx.commands.run("echo $FOO", envs={"FOO": "bar"}).stdout.strip(), "bar", "scoped envs")
    second = sbx.commands.run('sudo echo "$FOO"')
    equal((second.exit_code, second.stdout.strip()), (0, ""), "the next command, through sudo")


@check("code interpreter: the official e2b-code-interpreter package runs code with kept state, output and errors, as root; DataFrames as data, images shown as PNGs, figures with their chart; python and javascript contexts listed from the start; JavaScript imports and awaits, TypeScript loses its types; R and Java as E2B's kernels")
def _():
    from e2b_code_interpreter import Sandbox as CodeSandbox

    sbx = CodeSandbox.create(timeout=120)
    created.append(sbx)
    equal([c.language for c in sbx.list_code_contexts()], ["python", "javascript"], "the default contexts")
    sbx.run_code("x = 1")
    equal(sbx.run_code("x + 1").text, "2", "x + 1")
    printed = sbx.run_code("print('hi')")
    equal("".join(printed.logs.stdout), "hi\n", "stdout")
    failed = sbx.run_code("1 / 0")
    equal(failed.error.name if failed.error else None, "ZeroDivisionError", "error name")
    ctx = sbx.create_code_context(cwd="/root")
    sbx.run_code("y = 5", context=ctx)
    equal(sbx.run_code("y * 2", context=ctx).text, "10", "a context's state")
    # As E2B's template: code runs as root, a DataFrame comes as `data`, a Pillow image shown
    # as a PNG.
    equal(sbx.run_code("import getpass, os\n(getpass.getuser(), os.getcwd())", context=ctx).text, "('root', '/root')", "user and cwd")
    table = sbx.run_code("import pandas as pd\npd.DataFrame({'a': [1, 2]})")
    equal(table.results[0].data, {"a": [1, 2]}, "a DataFrame's data")
    shown = sbx.run_code("from PIL import Image\nImage.new('RGB', (4, 4)).show()")
    equal([bool(r.png) for r in shown.results], [True], "an image shown")
    # A matplotlib figure shown: a PNG and the chart E2B's extractor reads from it, which the
    # official package turns into its chart classes.
    from e2b_code_interpreter.charts import LineChart

    plotted = sbx.run_code("import matplotlib.pyplot as plt\nplt.plot([1, 2], [3, 4], label='up')\nplt.title('Up')\nplt.show()")
    chart = plotted.results[0].chart
    equal(type(chart).__name__, LineChart.__name__, "the chart's class")
    equal((chart.title, [(e.label, e.points) for e in chart.elements]), ("Up", [("up", [(1.0, 3.0), (2.0, 4.0)])]), "the chart")
    # E2B's own kernel tests, and a declaration kept from an awaiting cell.
    imported = sbx.run_code("import { readFileSync } from 'fs'\nconsole.log(typeof readFileSync)", language="js")
    equal(imported.logs.stdout, ["function\n"], "a static import")
    equal(sbx.run_code("const got = await Promise.resolve('Hello World!')\ngot", language="js").text, "Hello World!", "a top-level await")
    equal(sbx.run_code("got.length", language="javascript").text, "12", "what the awaiting cell declared")
    typed = sbx.run_code("const message: string = 'Hello, World!'; console.log(message)", language="ts")
    equal(typed.logs.stdout, ["Hello, World!\n"], "a typed cell")
    # E2B's own R and Java kernel and variable tests.
    equal(sbx.run_code('print("Hello, World!")', language="r").logs.stdout, ['[1] "Hello, World!"\n'], "R's print")
    r_env = sbx.run_code("Sys.getenv('FOO')", envs={"FOO": "bar"}, language="r")
    equal(r_env.results[0].text.strip(), '[1] "bar"', "an R value with an execution variable")
    equal(sbx.run_code('System.out.println("Hello, World!")', language="java").logs.stdout[0], "Hello, World!", "Java's println")
    java_env = sbx.run_code('System.getProperty("FOO")', envs={"FOO": "bar"}, language="java")
    equal(java_env.results[0].text.strip(), "bar", "a Java execution variable")
    equal(sbx.run_code('System.getProperty("FOO", "default")', language="java").results[0].text.strip(), "default", "and after it")


@check("network: deny-all plus a domain reaches that name only; update_network (instance and static) changes it live; get_info shows the rules")
def _():
    world = json.loads(os.environ["SANDKIT_WORLD"])

    def reach(sbx, url):
        try:
            out = sbx.commands.run(f"curl -sS --max-time 5 {url}", timeout=30).stdout
            return "\"host\"" in out
        except CommandExitException:
            return False

    sbx = create(network={"deny_out": [ALL_TRAFFIC], "allow_out": ["api.example.test"]})
    equal(reach(sbx, "http://api.example.test/"), True, "the allowed name")
    equal(reach(sbx, "http://other.test/"), False, "another name on the same address")
    equal(reach(sbx, f"http://{world['second']}/"), False, "a denied address")
    sbx.update_network({"deny_out": [ALL_TRAFFIC], "allow_out": [world["second"]]})
    equal(reach(sbx, f"http://{world['second']}/"), True, "the address allowed by the update")
    equal(reach(sbx, "http://api.example.test/"), False, "the name the update took away")
    info = sbx.get_info()
    equal((info.network or {}).get("allow_out"), [world["second"]], "get_info().network allow_out")
    Sandbox.update_network(sbx.sandbox_id, {})
    equal(reach(sbx, "http://other.test/"), True, "everything, once the rules are cleared")
    offline = create(allow_internet_access=False)
    equal(reach(offline, f"http://{world['web']}/"), False, "allow_internet_access=False")


@check("lifecycle: kill, then the sandbox is gone")
def _():
    for sbx in created:
        equal(Sandbox.kill(sbx.sandbox_id), True, f"kill {sbx.sandbox_id}")
    equal(Sandbox.kill(created[0].sandbox_id), False, "a second kill")
    equal(state["a"].is_running(), False, "is_running after the kill")
    left = Sandbox.list(query=SandboxQuery(metadata={"run": run})).next_items()
    equal(left, [], "listed after the kills")


finish()
