// sandkitd's JavaScript context driver: one JSON request per line on stdin ({"code", "env"}),
// run in a vm context kept between requests. Protocol lines on fd 1 are a 0x1E byte, one JSON
// object and a newline; anything else on fd 1 or 2 is plain output. Each request ends with
// {"type":"done"} on fd 1 and fd 2 (so sandkitd knows both are drained).
'use strict';
const fs = require('fs');
const util = require('util');
const vm = require('vm');
const readline = require('readline');

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

function send(msg) {
  writeAll(1, MARK + JSON.stringify(msg) + '\n');
}

const printer = (kind) => (...args) => {
  const text = util.format(...args) + '\n';
  for (let i = 0; i < text.length; i += CHUNK) send({ type: kind, text: text.slice(i, i + CHUNK) });
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

let cells = 0;
async function run(req) {
  const restore = withEnv(req.env);
  try {
    cells += 1;
    let value = vm.runInContext(req.code || '', context, {
      filename: `<cell-${cells}>`,
      breakOnSigint: true,
    });
    // A promise (an async function's result) is waited for, as a notebook does.
    if (value && typeof value.then === 'function') value = await value;
    if (value !== undefined) publish(value);
  } catch (err) {
    report(err);
  } finally {
    restore();
    send({ type: 'done' });
    writeAll(2, MARK + '{"type":"done"}\n');
  }
}

// Outside an execution an interrupt means nothing.
process.on('SIGINT', () => {});
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
