// sandkitd's Java context driver: a JShell that runs in this JVM, fed one request at a time
// on stdin (a line of decimal byte lengths, the code's and each variable's name's and value's,
// then those bytes). The code's snippets run in order, kept between requests; the value of the
// last one, when it is an expression or a variable's initializer, is the main result, as in
// IJava (E2B's Java kernel). Everything else is said as protocol lines on fd 1 (a 0x1E byte,
// one JSON object, a newline), each request ending with {"type":"done"} on fd 1 and fd 2.
// It is written to a file by sandkitd's wrapper and run by Java's source launcher.

import java.io.*;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.util.*;
import java.util.stream.Collectors;
import jdk.jshell.*;
import jdk.jshell.execution.LocalExecutionControl;
import jdk.jshell.spi.ExecutionControl;
import jdk.jshell.spi.ExecutionControlProvider;
import jdk.jshell.spi.ExecutionEnv;

public class SandkitDriver {
    static final OutputStream FD1 = new FileOutputStream(FileDescriptor.out);
    static final OutputStream FD2 = new FileOutputStream(FileDescriptor.err);

    static String json(String s) {
        StringBuilder b = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                default:
                    if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
                    else b.append(c);
            }
        }
        return b.append('"').toString();
    }

    /** Writes one protocol line, after any output held; fields alternate names and values already in JSON. */
    static synchronized void emit(OutputStream to, String... fields) {
        flushHeld();
        write(to, fields);
    }

    static void write(OutputStream to, String... fields) {
        StringBuilder b = new StringBuilder("\u001e{");
        for (int i = 0; i < fields.length; i += 2) {
            if (i > 0) b.append(',');
            b.append(json(fields[i])).append(':').append(fields[i + 1]);
        }
        try {
            to.write(b.append("}\n").toString().getBytes(StandardCharsets.UTF_8));
            to.flush();
        } catch (IOException e) {
            System.exit(0); // sandkitd is gone
        }
    }

    /**
     * Output is sent a write at a time, so that println's line and its end are two chunks, as in
     * E2B's kernel, unless it comes in a burst: past BURST chunks within WAIT_NS, what follows is
     * held and sent together (a loop's thousands of lines as a few chunks), in order, once
     * WAIT_NS old, once HELD_MAX has gathered, or before any other message.
     */
    static final long WAIT_NS = 50_000_000L;
    static final int BURST = 16;
    static final int HELD_MAX = 64 * 1024;
    /** Output held, in order: a run of one stream's text. */
    static final class Held {
        final String kind;
        final StringBuilder text = new StringBuilder();

        Held(String kind) { this.kind = kind; }
    }

    static final List<Held> held = new ArrayList<>();
    static int heldSize;
    static long heldSince;
    static long windowStart = System.nanoTime() - WAIT_NS;
    static int windowSent;

    static synchronized void output(String kind, String text) {
        long now = System.nanoTime();
        if (now - windowStart >= WAIT_NS) {
            windowStart = now;
            windowSent = 0;
        }
        if (held.isEmpty() && ++windowSent <= BURST) {
            write(FD1, "type", json(kind), "text", json(text));
            return;
        }
        if (held.isEmpty()) heldSince = now;
        if (held.isEmpty() || !held.get(held.size() - 1).kind.equals(kind)) held.add(new Held(kind));
        held.get(held.size() - 1).text.append(text);
        heldSize += text.length();
        if (heldSize >= HELD_MAX) flushHeld();
    }

    static synchronized void flushHeld() {
        for (Held h : held) write(FD1, "type", json(h.kind), "text", json(h.text.toString()));
        held.clear();
        heldSize = 0;
    }

    static synchronized void flushIfDue() {
        if (!held.isEmpty() && System.nanoTime() - heldSince >= WAIT_NS) flushHeld();
    }

    /**
     * What System.out and System.err write: stdout and stderr output. A subclass of PrintStream,
     * so println's line and its end are two writes, as in E2B's kernel.
     */
    static final class UserStream extends PrintStream {
        UserStream(String kind) {
            super(new Decoded(kind), true, StandardCharsets.UTF_8);
        }
    }

    static final class Decoded extends OutputStream {
        final String kind;
        final CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPLACE)
                .onUnmappableCharacter(CodingErrorAction.REPLACE);
        ByteBuffer pending = ByteBuffer.allocate(0);

        Decoded(String kind) { this.kind = kind; }

        @Override public void write(int b) { write(new byte[] {(byte) b}, 0, 1); }

        @Override public synchronized void write(byte[] data, int off, int len) {
            ByteBuffer in = ByteBuffer.allocate(pending.remaining() + len);
            in.put(pending).put(data, off, len).flip();
            CharBuffer out = CharBuffer.allocate(in.remaining() + 1);
            decoder.decode(in, out, false);
            pending = in.slice(); // a character cut between writes
            out.flip();
            if (out.hasRemaining()) output(kind, out.toString());
        }
    }

    /** Runs snippets in this JVM and keeps each one's value as an object, not only as text. */
    public static final class Capturing extends LocalExecutionControl {
        static Method target;
        static Object value;
        static final Method CALL;
        static {
            try {
                // Public, and made accessible: JShell's module calls it by reflection.
                CALL = Capturing.class.getMethod("call");
                CALL.setAccessible(true);
            } catch (NoSuchMethodException e) {
                throw new IllegalStateException(e);
            }
        }

        public static Object call() throws Throwable {
            try {
                value = target.invoke(null);
                return value;
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
        }

        @Override protected String invoke(Method doit) throws Exception {
            target = doit;
            value = null;
            // LocalExecutionControl runs it on a thread of its own, which stop() can end.
            return super.invoke(CALL);
        }
    }

    static final class Provider implements ExecutionControlProvider {
        @Override public String name() { return "sandkit"; }
        @Override public ExecutionControl generate(ExecutionEnv env, Map<String, String> params) {
            return new Capturing();
        }
    }

    static JShell shell;
    static volatile boolean running;

    static String render(Object value, String shown) {
        if (value != null && value.getClass().isArray()) return shown;
        return String.valueOf(value);
    }

    static void result(Object value, String shown) {
        emit(FD1, "type", json("result"), "is_main_result", "true", "text", json(render(value, shown)));
    }

    static void error(String name, String value, String traceback) {
        emit(FD1, "type", json("error"), "name", json(name), "value", json(value), "traceback", json(traceback));
    }

    /** The user's frames: the driver's, JShell's and reflection's are left out. */
    static String trace(Throwable t, String name) {
        StringBuilder b = new StringBuilder(name);
        if (t.getMessage() != null) b.append(": ").append(t.getMessage());
        b.append('\n');
        for (StackTraceElement f : t.getStackTrace()) {
            String c = f.getClassName();
            if (c.startsWith("SandkitDriver") || c.startsWith("jdk.jshell.") || c.startsWith("jdk.internal.")
                    || c.startsWith("java.lang.reflect.") || c.startsWith("java.lang.Thread")) continue;
            b.append("\tat ").append(f).append('\n');
        }
        return b.toString();
    }

    /** Runs one snippet; false when it failed (and the rest of the cell is skipped). */
    static boolean runSnippet(String source, boolean last) {
        // A declaration runs nothing: no value of an earlier snippet may pass for its own.
        Capturing.value = null;
        List<SnippetEvent> events = shell.eval(source);
        Object value = Capturing.value;
        for (SnippetEvent e : events) {
            if (e.causeSnippet() != null) continue;
            JShellException ex = e.exception();
            if (ex instanceof EvalException) {
                EvalException ev = (EvalException) ex;
                error(ev.getExceptionClassName(), ev.getMessage() == null ? "" : ev.getMessage(),
                        trace(ev, ev.getExceptionClassName()));
                return false;
            }
            if (ex instanceof UnresolvedReferenceException) {
                UnresolvedReferenceException ur = (UnresolvedReferenceException) ex;
                String what = "Attempted to use " + ur.getSnippet().source().trim()
                        + ", which cannot be used until " + String.join(", ",
                        shell.unresolvedDependencies(ur.getSnippet()).collect(Collectors.toList())) + " is declared";
                error("UnresolvedReferenceException", what, what + "\n");
                return false;
            }
            if (ex != null) {
                error(ex.getClass().getSimpleName(), String.valueOf(ex.getMessage()), trace(ex, ex.getClass().getName()));
                return false;
            }
            if (e.status() == Snippet.Status.REJECTED) {
                // javac's "location:" lines name JShell's wrapper class, not the user's code.
                String messages = shell.diagnostics(e.snippet())
                        .map(d -> d.getMessage(Locale.ROOT).lines()
                                .filter(l -> !l.trim().startsWith("location:"))
                                .collect(Collectors.joining("\n")))
                        .collect(Collectors.joining("\n"));
                error("CompilationException", messages, source.trim() + "\n" + messages + "\n");
                return false;
            }
            if (last) {
                switch (e.snippet().subKind()) {
                    case VAR_VALUE_SUBKIND:
                    case OTHER_EXPRESSION_SUBKIND:
                    case TEMP_VAR_EXPRESSION_SUBKIND:
                        if (e.value() != null && value != null) result(value, e.value());
                        break;
                    default:
                        break;
                }
            }
        }
        return true;
    }

    static void run(String code) {
        SourceCodeAnalysis analysis = shell.sourceCodeAnalysis();
        List<String> snippets = new ArrayList<>();
        SourceCodeAnalysis.CompletionInfo info = analysis.analyzeCompletion(code);
        while (info.completeness().isComplete()) {
            snippets.add(info.source());
            info = analysis.analyzeCompletion(info.remaining());
        }
        for (int i = 0; i < snippets.size(); i++) {
            if (!runSnippet(snippets.get(i), i == snippets.size() - 1)) return;
        }
        if (info.completeness() != SourceCodeAnalysis.Completeness.EMPTY) {
            String rest = info.remaining().trim();
            error("IncompleteSourceException", rest, "Incomplete input:\n" + rest + "\n");
        }
    }

    static String text(DataInputStream in, int n) throws IOException {
        byte[] b = new byte[n];
        in.readFully(b);
        return new String(b, StandardCharsets.UTF_8);
    }

    static String line(DataInputStream in) throws IOException {
        StringBuilder b = new StringBuilder();
        int c;
        while ((c = in.read()) != '\n') {
            if (c < 0) return null;
            b.append((char) c);
        }
        return b.toString();
    }

    public static void main(String[] args) throws Exception {
        // The wrapper wrote this file for the launcher, which has compiled it by now.
        if (args.length > 0) {
            Path dir = Paths.get(args[0]);
            Files.deleteIfExists(dir.resolve("SandkitDriver.java"));
            Files.deleteIfExists(dir);
        }
        DataInputStream in = new DataInputStream(new BufferedInputStream(System.in));
        System.setIn(new ByteArrayInputStream(new byte[0]));
        System.setOut(new UserStream("stdout"));
        System.setErr(new UserStream("stderr"));
        // As E2B's server gives a Java context the sandbox's variables: as system properties.
        String names = System.getenv("SANDKIT_PROPERTIES_FROM_ENV");
        if (names != null) {
            for (String name : names.split("\n")) {
                String v = System.getenv(name);
                if (!name.isEmpty() && v != null) System.setProperty(name, v);
            }
        }
        shell = JShell.builder()
                .executionEngine(new Provider(), Map.of())
                .out(System.out)
                .err(System.err)
                .in(System.in)
                .build();
        Thread flusher = new Thread(() -> {
            while (true) {
                try {
                    Thread.sleep(WAIT_NS / 1_000_000);
                } catch (InterruptedException e) {
                    return;
                }
                flushIfDue();
            }
        }, "sandkit-output");
        flusher.setDaemon(true);
        flusher.start();
        emit(FD1, "type", json("ready"));
        // An interrupt stops the running snippet; the context and its state stay.
        sun.misc.Signal.handle(new sun.misc.Signal("INT"), sig -> {
            if (running) shell.stop();
        });
        while (true) {
            String header = line(in);
            if (header == null) return;
            String[] sizes = header.trim().split(" ");
            String code = text(in, Integer.parseInt(sizes[0]));
            Map<String, String> env = new LinkedHashMap<>();
            for (int i = 1; i + 1 < sizes.length; i += 2) {
                env.put(text(in, Integer.parseInt(sizes[i])), text(in, Integer.parseInt(sizes[i + 1])));
            }
            Map<String, String> saved = new HashMap<>();
            for (Map.Entry<String, String> e : env.entrySet()) {
                saved.put(e.getKey(), System.getProperty(e.getKey()));
                System.setProperty(e.getKey(), e.getValue());
            }
            running = true;
            try {
                run(code);
            } catch (Throwable t) {
                error(t.getClass().getSimpleName(), String.valueOf(t.getMessage()), trace(t, t.getClass().getName()));
            } finally {
                running = false;
                for (Map.Entry<String, String> e : saved.entrySet()) {
                    if (e.getValue() == null) System.clearProperty(e.getKey());
                    else System.setProperty(e.getKey(), e.getValue());
                }
            }
            System.out.flush();
            System.err.flush();
            emit(FD1, "type", json("done"));
            emit(FD2, "type", json("done"));
        }
    }
}
