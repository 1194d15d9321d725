// sandkitd's JavaScript and TypeScript context driver: one JSON request per line on stdin
// ({"code", "env"}), run in a vm context kept between requests. Protocol lines on fd 1 are a
// 0x1E byte, one JSON object and a newline; anything else on fd 1 or 2 is plain output. Each
// request ends with {"type":"done"} on fd 1 and fd 2 (so sandkitd knows both are drained).
// Its argument is the language; SANDKIT_TYPESCRIPT may name the TypeScript compiler package.
'use strict';
const fs = require('fs');
const util = require('util');
const vm = require('vm');
const readline = require('readline');

const typescript = process.argv[1] === 'typescript';

// Node's own pieces of its REPL (node runs this with --expose-internals): acorn, to find a
// cell's import and export declarations, and the rewriting that gives a cell top-level await
// with its declarations kept. Without them (another Node), code runs as it is.
function internal(name) {
  try {
    return require(name);
  } catch {
    return null;
  }
}
const acorn = internal('internal/deps/acorn/acorn/dist/acorn');
const topLevelAwait = internal('internal/repl/await');

// What strips a TypeScript cell's types: Node's own stripper where it has one, else the
// TypeScript compiler (SANDKIT_TYPESCRIPT or one on the usual paths). Neither: the cell runs as
// JavaScript and an annotation is a SyntaxError that says why.
function typeStripper() {
  if (!typescript) return null;
  const builtin = require('module').stripTypeScriptTypes;
  if (typeof builtin === 'function') {
    return (code) => builtin(code, { mode: 'transform' });
  }
  const ts = internal(process.env.SANDKIT_TYPESCRIPT || 'typescript');
  if (!ts || typeof ts.transpileModule !== 'function') return null;
  const compilerOptions = {
    target: ts.ScriptTarget.ESNext,
    module: ts.ModuleKind.ESNext,
    // Imports stay as written (a later cell may use what one imports).
    verbatimModuleSyntax: true,
    isolatedModules: true,
  };
  return (code) => {
    const out = ts.transpileModule(code, { compilerOptions, reportDiagnostics: true });
    const first = out.diagnostics && out.diagnostics[0];
    if (first) {
      const text = ts.flattenDiagnosticMessageText(first.messageText, '\n');
      const at = first.file && first.start !== undefined && first.file.getLineAndCharacterOfPosition(first.start);
      throw new SyntaxError(at ? `${text} (line ${at.line + 1}, column ${at.character + 1})` : text);
    }
    return out.outputText;
  };
}
const stripTypes = typeStripper();
delete process.env.SANDKIT_TYPESCRIPT;

const MARK = '\x1e';
const CHUNK = 64 * 1024;

function writeAll(fd, text) {
  const buf = Buffer.from(text);
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(fd, buf, off);
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e;
    }
  }
}

function emit(msg) {
  writeAll(1, MARK + JSON.stringify(msg) + '\n');
}

// Output is sent as it is written, a console.log at a time, unless it comes in a burst: past
// BURST chunks within WAIT_MS, what follows is held and sent together once WAIT_MS old, when
// CHUNK of it has gathered, or before any other message. A loop's thousands of lines are then a
// few chunks (as ipykernel batches them), while a few lines keep their order with what a child
// process writes to fd 1 itself.
const WAIT_MS = 50;
const BURST = 16;
const held = { kind: 'stdout', text: '', since: 0 };
const window = { start: -WAIT_MS, sent: 0 };
let heldTimer = null;

function maySend(now) {
  if (now - window.start >= WAIT_MS) {
    window.start = now;
    window.sent = 0;
  }
  return ++window.sent <= BURST;
}

function sendHeld() {
  if (heldTimer) clearTimeout(heldTimer);
  heldTimer = null;
  const text = held.text;
  held.text = '';
  for (let i = 0; i < text.length; i += CHUNK) emit({ type: held.kind, text: text.slice(i, i + CHUNK) });
}

function send(msg) {
  sendHeld();
  emit(msg);
}

const printer = (kind) => (...args) => {
  if (held.text && held.kind !== kind) sendHeld();
  const now = performance.now();
  if (!held.text) held.since = now;
  held.kind = kind;
  held.text += util.format(...args) + '\n';
  // A loop that keeps the event loop busy never lets the timer run: its writes send what is due.
  if (held.text.length >= CHUNK || now - held.since >= WAIT_MS || (!heldTimer && maySend(now))) sendHeld();
  else heldTimer ??= setTimeout(sendHeld, WAIT_MS);
};

const sandboxConsole = {
  log: printer('stdout'),
  info: printer('stdout'),
  debug: printer('stdout'),
  dir: (v) => printer('stdout')(util.inspect(v)),
  warn: printer('stderr'),
  error: printer('stderr'),
  trace: (...args) => printer('stderr')(new Error(util.format(...args)).stack),
};

const context = vm.createContext({
  console: sandboxConsole,
  require,
  process,
  Buffer,
  URL,
  TextEncoder,
  TextDecoder,
  fetch: globalThis.fetch,
  setTimeout,
  clearTimeout,
  setInterval,
  clearInterval,
  setImmediate,
  clearImmediate,
  queueMicrotask,
  structuredClone,
  module: { exports: {} },
});

function publish(value) {
  const text = typeof value === 'string' ? value : util.inspect(value);
  send({ type: 'result', is_main_result: true, text, extra: {} });
}

function report(err) {
  const isError = err !== null && typeof err === 'object' && 'message' in err;
  send({
    type: 'error',
    name: isError && err.name ? String(err.name) : 'Error',
    value: isError ? String(err.message) : String(err),
    traceback: isError && err.stack ? String(err.stack) : String(err),
  });
}

function withEnv(env) {
  const saved = {};
  for (const [k, v] of Object.entries(env || {})) {
    saved[k] = Object.prototype.hasOwnProperty.call(process.env, k) ? process.env[k] : undefined;
    process.env[k] = v;
  }
  return () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

// `import … from 'm'` as the dynamic import a script can run: `var` (not `const`), so that a
// cell run again may import again.
function importStatement(code, node) {
  const from = code.slice(node.source.start, node.source.end);
  const attributes = (node.attributes || []).map((a) => code.slice(a.start, a.end));
  const load = `await import(${from}${attributes.length ? `, { with: { ${attributes.join(', ')} } }` : ''})`;
  const names = [];
  let namespace = null;
  for (const s of node.specifiers) {
    if (s.type === 'ImportNamespaceSpecifier') namespace = s.local.name;
    else if (s.type === 'ImportDefaultSpecifier') names.push(`default: ${s.local.name}`);
    else {
      const imported = code.slice(s.imported.start, s.imported.end);
      names.push(imported === s.local.name ? imported : `${imported}: ${s.local.name}`);
    }
  }
  if (namespace) {
    const rest = names.length ? ` var { ${names.join(', ')} } = ${namespace};` : '';
    return `var ${namespace} = ${load};${rest}`;
  }
  return names.length ? `var { ${names.join(', ')} } = ${load};` : `${load};`;
}

// A cell's module syntax made script syntax: imports become dynamic imports, and `export` is
// dropped from what it declares (a cell is no module; what it declares stays in the context).
function withoutModuleSyntax(code) {
  if (!acorn || !/\b(import|export)\b/.test(code)) return code;
  let program;
  try {
    program = acorn.parse(code, {
      ecmaVersion: 'latest',
      sourceType: 'module',
      allowAwaitOutsideFunction: true,
      allowReturnOutsideFunction: true,
      allowHashBang: true,
    });
  } catch {
    return code; // not module syntax: the script compiler gives the error, if any
  }
  let out = '';
  let at = 0;
  for (const node of program.body) {
    let replacement = null;
    if (node.type === 'ImportDeclaration') {
      replacement = importStatement(code, node);
    } else if (node.type === 'ExportNamedDeclaration' || node.type === 'ExportDefaultDeclaration') {
      const inner = node.declaration;
      replacement = inner ? code.slice(inner.start, inner.end) : '';
      // A default export of a value, or of a function or class without a name, is an
      // expression once `export default` is gone.
      if (node.type === 'ExportDefaultDeclaration' && (!/Declaration$/.test(inner.type) || !inner.id)) {
        replacement = `(${replacement});`;
      }
    } else if (node.type === 'ExportAllDeclaration') {
      replacement = '';
    }
    if (replacement === null) continue;
    out += code.slice(at, node.start) + replacement;
    at = node.end;
  }
  return out + code.slice(at);
}

// The script a cell runs as, and whether its value comes wrapped ({ value }) in a promise, as
// it does when the cell awaits at top level.
function prepare(code) {
  if (stripTypes) code = stripTypes(code);
  code = withoutModuleSyntax(code);
  if (topLevelAwait && /\bawait\b/.test(code)) {
    let wrapped = null;
    try {
      // The newline keeps a last line's comment from swallowing the wrapper's end.
      wrapped = topLevelAwait.processTopLevelAwait(code + '\n');
    } catch {
      // Not parsable: run as it is, for the script compiler's own error.
    }
    if (wrapped !== null) return { script: wrapped, wrapped: true };
  }
  return { script: code, wrapped: false };
}

// A cell's `import()` goes to Node's own loader (relative to the working directory), and
// TypeScript to Node's own stripper where there is one. Node calls both experimental once per
// process, which is no output of the user's.
const OWN_EXPERIMENTS = /USE_MAIN_CONTEXT_DEFAULT_LOADER|stripTypeScriptTypes/;
const emitWarning = process.emitWarning;
process.emitWarning = function (warning, ...rest) {
  if (OWN_EXPERIMENTS.test(String((warning && warning.message) || warning))) return;
  return emitWarning.call(this, warning, ...rest);
};

// An interrupt while a cell waits (on a promise, not in its own code, which `breakOnSigint`
// stops) ends the wait with the error `breakOnSigint` gives; what the cell started goes on,
// and the context keeps its state.
let interrupt = null;
function interruptible(promise) {
  const interrupted = new Promise((_, reject) => {
    interrupt = () => {
      const err = new Error('Script execution was interrupted by `SIGINT`');
      err.code = 'ERR_SCRIPT_EXECUTION_INTERRUPTED';
      reject(err);
    };
  });
  return Promise.race([promise, interrupted]).finally(() => {
    interrupt = null;
  });
}

let cells = 0;
async function run(req) {
  const restore = withEnv(req.env);
  try {
    cells += 1;
    const { script, wrapped } = prepare(req.code || '');
    let value = vm.runInContext(script, context, {
      filename: `<cell-${cells}>`,
      breakOnSigint: true,
      importModuleDynamically: vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER,
    });
    if (wrapped) value = (await interruptible(value))?.value;
    // A promise (an async function's result) is waited for, as a notebook does.
    if (value && typeof value.then === 'function') value = await interruptible(value);
    if (value !== undefined) publish(value);
  } catch (err) {
    if (typescript && !stripTypes && err && err.name === 'SyntaxError') {
      err.message += ' (TypeScript runs as JavaScript here: sandkitd has no TypeScript compiler to strip types with; see --typescript)';
    }
    report(err);
  } finally {
    restore();
    send({ type: 'done' });
    writeAll(2, MARK + '{"type":"done"}\n');
  }
}

// An interrupt ends a cell's wait (see `interruptible`); outside one it means nothing.
process.on('SIGINT', () => {
  if (interrupt) interrupt();
});
// A callback or promise of user code failing later must not end the context: it is told on
// stderr (shown with the next execution's output).
const later = (err) => writeAll(2, `Uncaught ${err && err.stack ? err.stack : String(err)}\n`);
process.on('uncaughtException', later);
process.on('unhandledRejection', later);
let queue = Promise.resolve();
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  let req;
  try {
    req = JSON.parse(line);
  } catch {
    return;
  }
  queue = queue.then(() => run(req));
});
