# sandkitd's Python context driver. It reads one JSON request per line on stdin
# ({"code", "env"}), runs the code in a namespace kept between requests, and writes what
# happens as protocol lines on fd 1: a 0x1E byte, one JSON object, a newline. Anything else
# on fd 1 or fd 2 (a subprocess's output) is passed on by sandkitd as plain stdout/stderr.
# Each request ends with {"type": "done"} on fd 1 and on fd 2, so that sandkitd knows both
# streams are drained.
import ast
import base64
import io
import json
import linecache
import os
import signal
import sys
import threading
import time
import traceback
import warnings

MARK = "\x1e"
CHUNK = 64 * 1024
_lock = threading.RLock()
_running = False
# The driver runs from `python -c`: its frames are the ones with this file name.
DRIVER_FILE = (lambda: 0).__code__.co_filename


def _write_fd(fd, data):
    while data:
        n = os.write(fd, data)
        data = data[n:]


def _emit(msg):
    # A value JSON has no form for (a result's exotic object) is sent as its str().
    _write_fd(1, (MARK + json.dumps(msg, default=str) + "\n").encode("utf-8", "replace"))


def send(msg):
    with _lock:
        _send_held()
        _emit(msg)


# Output is sent as it is written, whole lines at a time (so a print() is one chunk), unless it
# comes in a burst: past BURST chunks within WAIT, what follows is held and sent together once
# WAIT old, when CHUNK of it has gathered, or before any other message. A loop's thousands of
# lines are then a few chunks (as ipykernel batches them), while a few lines keep their order
# with what a subprocess writes to fd 1 itself. A line not ended yet (a prompt) waits for its
# end, WAIT at most.
_held = {"kind": "stdout", "parts": [], "size": 0, "since": 0.0}
_window = {"start": 0.0, "sent": 0}
WAIT = 0.05
BURST = 16


def _may_send(now):
    if now - _window["start"] >= WAIT:
        _window["start"] = now
        _window["sent"] = 0
    _window["sent"] += 1
    return _window["sent"] <= BURST


def _send_held(whole_lines=False):
    """Sends what is held (only up to its last line's end, if whole_lines)."""
    if not _held["parts"]:
        return
    text = "".join(_held["parts"])
    n = text.rfind("\n") + 1 if whole_lines else len(text)
    for i in range(0, n, CHUNK):
        _emit({"type": _held["kind"], "text": text[i : min(i + CHUNK, n)]})
    rest = text[n:]
    _held["parts"] = [rest] if rest else []
    _held["size"] = len(rest)
    _held["since"] = time.monotonic()


def _flusher():
    while True:
        time.sleep(WAIT)
        with _lock:
            if _held["parts"] and time.monotonic() - _held["since"] >= WAIT:
                _send_held()


class Stream(io.TextIOBase):
    """sys.stdout / sys.stderr: writes become protocol lines in one sequence, so order is kept."""

    def __init__(self, kind, fd):
        self._kind = kind
        self._fd = fd

    def writable(self):
        return True

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError("write() argument must be str, not %s" % type(s).__name__)
        if not s:
            return 0
        with _lock:
            if _held["parts"] and _held["kind"] != self._kind:
                _send_held()
            now = time.monotonic()
            if not _held["parts"]:
                _held["kind"] = self._kind
                _held["since"] = now
            # Pieces, joined when sent: a burst's thousands of writes are not copied each time.
            _held["parts"].append(s)
            _held["size"] += len(s)
            if _held["size"] >= CHUNK:
                _send_held(whole_lines="\n" in s)
            elif "\n" in s and _may_send(now):
                _send_held(whole_lines=True)
        return len(s)

    def flush(self):
        with _lock:
            _send_held()

    def isatty(self):
        return False

    def fileno(self):
        return self._fd

    @property
    def encoding(self):
        return "utf-8"


# Wire keys of the MIME types IPython's display system knows.
WIRE_KEYS = {
    "text/plain": "text",
    "text/html": "html",
    "text/markdown": "markdown",
    "image/svg+xml": "svg",
    "image/png": "png",
    "image/jpeg": "jpeg",
    "application/pdf": "pdf",
    "text/latex": "latex",
    "application/json": "json",
    "application/javascript": "javascript",
    "e2b/data": "data",
    "e2b/chart": "chart",
}

REPR_METHODS = [
    ("_repr_html_", "text/html"),
    ("_repr_markdown_", "text/markdown"),
    ("_repr_svg_", "image/svg+xml"),
    ("_repr_png_", "image/png"),
    ("_repr_jpeg_", "image/jpeg"),
    ("_repr_pdf_", "application/pdf"),
    ("_repr_latex_", "text/latex"),
    ("_repr_json_", "application/json"),
    ("_repr_javascript_", "application/javascript"),
]


def _is_figure(obj):
    mod = sys.modules.get("matplotlib.figure")
    return mod is not None and isinstance(obj, mod.Figure)


def _figure_png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def e2b_data(obj):
    """A pandas DataFrame's columns as lists (timestamps in ISO 8601, NaN as null): the `data`
    result E2B's template gives a DataFrame. None for anything else."""
    pandas = sys.modules.get("pandas")
    if pandas is None or not isinstance(obj, pandas.DataFrame):
        return None
    try:
        columns = obj.to_dict(orient="list")
    except Exception:
        return None

    def plain(v):
        try:
            if pandas.isna(v):  # NaN, NaT, None
                return None
        except (TypeError, ValueError):  # a list or an array in a cell
            pass
        if isinstance(v, pandas.Timestamp):
            return v.isoformat()
        item = getattr(v, "item", None)
        v = item() if callable(item) else v
        return None if isinstance(v, float) and v in (float("inf"), float("-inf")) else v

    return {str(k): [plain(v) for v in vs] for k, vs in columns.items()}


def e2b_chart(obj):
    """A matplotlib figure's chart (its type, title, labels, ticks and elements) as E2B's own
    extractor reads it, when it is installed (`e2b-charts`, as in E2B's template): the
    `chart` result. None for anything else, or when the figure cannot be read."""
    if not _is_figure(obj):
        return None
    try:
        from e2b_charts import chart_figure_to_dict

        return chart_figure_to_dict(obj)
    except Exception:
        return None


def add_e2b_formats(obj, data):
    """The formats E2B's template adds to a result: `e2b/data` and `e2b/chart`."""
    table = e2b_data(obj)
    if table is not None:
        data["e2b/data"] = table
    chart = e2b_chart(obj)
    if chart is not None:
        data["e2b/chart"] = chart


def mime_bundle(obj):
    data = {}
    if _is_figure(obj):
        data["image/png"] = _figure_png(obj)
    add_e2b_formats(obj, data)
    for method, mime in REPR_METHODS:
        f = getattr(obj, method, None)
        if not callable(f) or isinstance(obj, type):
            continue
        try:
            value = f()
        except Exception:
            continue
        if isinstance(value, tuple):
            value = value[0]
        if value is None:
            continue
        if isinstance(value, bytes):
            value = base64.b64encode(value).decode("ascii")
        data[mime] = value
    mimebundle = getattr(obj, "_repr_mimebundle_", None)
    if callable(mimebundle) and not isinstance(obj, type):
        try:
            extra = mimebundle()
            if isinstance(extra, tuple):
                extra = extra[0]
            if isinstance(extra, dict):
                for k, v in extra.items():
                    data.setdefault(k, v)
        except Exception:
            pass
    data["text/plain"] = repr(obj)
    return data


def publish(obj, main):
    publish_bundle(mime_bundle(obj), main)


def publish_bundle(data, main):
    data = dict(data)
    for mime, value in data.items():
        if isinstance(value, bytes):
            data[mime] = base64.b64encode(value).decode("ascii")
    msg = {"type": "result", "is_main_result": main}
    text = data.pop("text/plain", None)
    # As E2B's server does: a string's quotes are taken off its text.
    if text and len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1]
    if text is not None:
        msg["text"] = text
    for mime in list(data):
        key = WIRE_KEYS.get(mime)
        if key:
            msg[key] = data.pop(mime)
    msg["extra"] = data
    send(msg)


def display(*objs, **_kwargs):
    """IPython's display(), for the plain interpreter: each object as a non-main result."""
    for obj in objs:
        publish(obj, False)


def show_figures():
    """Every open matplotlib figure as a PNG result (what plt.show() means here), but for
    the one already shown as the main result."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return
    for num in plt.get_fignums():
        fig = plt.figure(num)
        if id(fig) not in shown_as_main:
            publish(fig, False)
    shown_as_main.clear()
    plt.close("all")


shown_as_main = set()


def _machinery(filename):
    return filename == DRIVER_FILE or os.sep + "IPython" + os.sep in filename


def report(exc):
    tb = exc.__traceback__
    # The driver's (and IPython's) own frames are not the user's business.
    while tb is not None and _machinery(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    send(
        {
            "type": "error",
            "name": type(exc).__name__,
            "value": str(exc),
            "traceback": text,
        }
    )


namespace = {"__name__": "__main__", "__builtins__": __builtins__, "display": display}
cells = 0


def run(code):
    global cells
    cells += 1
    filename = "<cell-%d>" % cells
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    tree = ast.parse(code, filename, "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, filename, "exec"), namespace)
    if last is not None:
        value = eval(compile(last, filename, "eval"), namespace)
        if value is not None:
            namespace["_"] = value
            publish(value, True)
            if _is_figure(value):
                sys.modules["matplotlib.pyplot"].close(value)
    show_figures()


def ipython_runner():
    """run(code) on IPython's InteractiveShell (magics, !cmd, display()), its output, results
    and errors sent as the plain runner's are; None when IPython is not importable."""
    try:
        from IPython.core.interactiveshell import InteractiveShell
        from traitlets.config import Config
    except Exception:
        return None
    config = Config()
    config.HistoryManager.enabled = False
    try:
        shell = InteractiveShell.instance(config=config)
    except Exception as exc:
        sys.__stderr__.write("sandkit: IPython could not start, using plain Python: %r\n" % exc)
        return None
    shell.displayhook.write_output_prompt = lambda: None
    shell.displayhook.write_format_data = lambda data, md=None: publish_bundle(data, True)
    shell.display_pub.publish = lambda data, *a, **k: publish_bundle(data, False)

    def show_error(*_args, **_kwargs):
        exc = sys.exc_info()[1] or getattr(sys, "last_value", None)
        if exc is not None:
            report(exc)

    shell.showtraceback = show_error
    shell.showsyntaxerror = show_error
    shell.user_ns.setdefault("display", display)

    def figure_png(fig):
        shown_as_main.add(id(fig))
        return _figure_png(fig)

    png = shell.display_formatter.formatters["image/png"]
    png.for_type_by_name("matplotlib.figure", "Figure", figure_png)
    ipython_format = shell.display_formatter.format

    def format_with_data(obj, include=None, exclude=None):
        data, metadata = ipython_format(obj, include=include, exclude=exclude)
        add_e2b_formats(obj, data)
        return data, metadata

    shell.display_formatter.format = format_with_data

    def run_cell(code):
        shell.run_cell(code, store_history=True)
        show_figures()

    return run_cell


class AfterImport:
    """Runs `then(module)` once the module `name` has been imported (by the user's code)."""

    def __init__(self, name, then):
        self.name, self.then, self.finding = name, then, False

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name or self.finding:
            return None
        self.finding = True
        try:
            import importlib.util

            spec = importlib.util.find_spec(fullname)
        finally:
            self.finding = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        load, then = spec.loader.exec_module, self.then

        def exec_module(module):
            load(module)
            try:
                then(module)
            except Exception:
                pass

        spec.loader.exec_module = exec_module
        return spec


def pillow_displays(image_module):
    """As E2B's template has Pillow: an image shown, or saved to a file name, is also a PNG
    result; showing opens no viewer (there is no screen)."""
    save = image_module.Image.save

    def save_and_display(image, fp, format=None, **params):
        if isinstance(fp, str):
            display(image)
        return save(image, fp, format, **params)

    image_module.Image.save = save_and_display
    image_module.Image.show = lambda image, title=None: display(image)


def with_env(env, body):
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        body()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def on_sigint(_sig, _frame):
    # An interrupt only means something while user code runs.
    if _running:
        raise KeyboardInterrupt


def main():
    global _running
    os.environ.setdefault("MPLBACKEND", "Agg")
    warnings.filterwarnings("ignore", message=".*non-interactive.*cannot be shown")
    signal.signal(signal.SIGINT, on_sigint)
    stdin = sys.stdin.buffer
    sys.stdin = open(os.devnull)
    sys.stdout = Stream("stdout", 1)
    sys.stderr = Stream("stderr", 2)
    threading.Thread(target=_flusher, daemon=True).start()
    sys.meta_path.insert(0, AfterImport("PIL.Image", pillow_displays))
    runner = None if os.environ.get("SANDKIT_PLAIN_PYTHON") else ipython_runner()
    runner = runner or run
    while True:
        line = stdin.readline()
        if not line:
            return
        try:
            req = json.loads(line)
        except ValueError:
            continue
        try:
            _running = True
            with_env(req.get("env") or {}, lambda: runner(req.get("code", "")))
        except BaseException as exc:  # noqa: B036 - KeyboardInterrupt and SystemExit too
            _running = False
            try:
                show_figures()
            except BaseException:
                pass
            report(exc)
        finally:
            _running = False
        send({"type": "done"})
        _write_fd(2, (MARK + '{"type":"done"}\n').encode())


main()
