// Shared by the Node suite: a real `tillgate serve` process on a free loopback port with a throw-away
// SQLite database (as tests/client/conftest.py does), the official `stripe` library pointed at it
// with host/port/protocol, and bounded polling helpers.
'use strict';

const { spawn, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const Stripe = require('stripe');

const REPO = path.resolve(__dirname, '..', '..');
const BIN =
  process.env.TILLGATE_BIN ||
  path.join(process.env.CARGO_TARGET_DIR || path.join(REPO, 'target'), 'debug', 'tillgate');
const START_TIMEOUT_MS = Number(process.env.TILLGATE_START_TIMEOUT_MS || 30000);
const OUTCOME_WAIT_MS = 10000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function newKey() {
  return 'sk_test_' + crypto.randomBytes(12).toString('hex');
}

/** Options for the official library that point it at a local tillgate instead of Stripe. */
function clientOptions(port) {
  return {
    host: '127.0.0.1',
    port,
    protocol: 'http',
    maxNetworkRetries: 0,
    timeout: 20000,
    telemetry: false,
  };
}

class Server {
  constructor({ extraArgs = [], extraEnv = {} } = {}) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillgate-node-'));
    this.databaseUrl = `sqlite://${path.join(this.dir, 'tillgate.db')}`;
    this.logPath = path.join(this.dir, 'server.log');
    this.apiKey = newKey();
    this.extraArgs = extraArgs;
    this.extraEnv = extraEnv;
    this.proc = null;
  }

  get baseUrl() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    if (!fs.existsSync(BIN)) {
      throw new Error(`server binary ${BIN} does not exist (scripts/node-tests.sh builds it)`);
    }
    this.port = await freePort();
    const log = fs.openSync(this.logPath, 'a');
    const args = [
      'serve',
      '--listen',
      `127.0.0.1:${this.port}`,
      '--database-url',
      this.databaseUrl,
      ...this.extraArgs,
    ];
    this.proc = spawn(BIN, args, {
      cwd: this.dir,
      env: { ...process.env, RUST_LOG: 'info', ...this.extraEnv, TILLGATE_API_KEY: this.apiKey },
      stdio: ['ignore', log, log],
    });
    fs.closeSync(log);
    let exited = null;
    this.proc.on('exit', (code, signal) => {
      exited = { code, signal };
    });
    const deadline = Date.now() + START_TIMEOUT_MS;
    let last = 'not tried';
    while (Date.now() < deadline) {
      if (exited) {
        throw new Error(
          `tillgate serve exited (${JSON.stringify(exited)}) before /healthz answered\n${this.logTail()}`,
        );
      }
      try {
        const r = await fetch(this.baseUrl + '/healthz', { signal: AbortSignal.timeout(1000) });
        if (r.status === 200) return this;
        last = `HTTP ${r.status}`;
      } catch (e) {
        last = String(e);
      }
      await sleep(50);
    }
    this.stop();
    throw new Error(`/healthz not 200 within ${START_TIMEOUT_MS} ms (last: ${last})\n${this.logTail()}`);
  }

  /** The official library, as a POS would configure it, aimed at this server. */
  stripe(apiKey = this.apiKey) {
    return new Stripe(apiKey, clientOptions(this.port));
  }

  /** `tillgate keys create --account NAME` on this server's database: a second account's key. */
  createKey(account) {
    const out = execFileSync(BIN, ['keys', 'create', '--account', account, '--database-url', this.databaseUrl], {
      cwd: this.dir,
      encoding: 'utf8',
      timeout: 60000,
    });
    const lines = out.split('\n').filter((l) => l.trim());
    if (lines.length !== 1 || !lines[0].startsWith('sk_test_')) {
      throw new Error(`keys create printed ${JSON.stringify(out)}`);
    }
    return lines[0].trim();
  }

  logTail(n = 30) {
    try {
      return fs.readFileSync(this.logPath, 'utf8').split('\n').slice(-n).join('\n');
    } catch {
      return '(no log)';
    }
  }

  async stop() {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) {
      const done = new Promise((resolve) => this.proc.once('exit', resolve));
      this.proc.kill('SIGTERM');
      const t = setTimeout(() => this.proc.kill('SIGKILL'), 10000);
      await done;
      clearTimeout(t);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Polls fetchFn until cond(value) holds, at most timeoutMs; fails with the last value otherwise. */
async function waitFor(fetchFn, cond, { timeoutMs = OUTCOME_WAIT_MS, intervalMs = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let val = await fetchFn();
  while (!cond(val)) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(val)}`);
    }
    await sleep(intervalMs);
    val = await fetchFn();
  }
  return val;
}

const idOf = (x) => (x === null || x === undefined || typeof x === 'string' ? x : x.id);

async function newLocation(stripe) {
  return stripe.terminal.locations.create({
    display_name: 'Node store ' + crypto.randomBytes(3).toString('hex'),
    address: { line1: '1 Main St', city: 'Springfield', postal_code: '12345', state: 'IL', country: 'US' },
  });
}

async function newReader(stripe, location) {
  return stripe.terminal.readers.create({
    registration_code: 'simulated-wpe',
    location: location.id,
    label: 'Till ' + crypto.randomBytes(3).toString('hex'),
  });
}

/** process_payment_intent, present a card (simulated reader), wait for the outcome. */
async function pay(stripe, readerId, piId, number = '4242424242424242') {
  const r = await stripe.terminal.readers.processPaymentIntent(readerId, { payment_intent: piId });
  if (r.action?.type !== 'process_payment_intent') {
    throw new Error(`process_payment_intent answered ${JSON.stringify(r.action)}`);
  }
  await stripe.testHelpers.terminal.readers.presentPaymentMethod(readerId, { card_present: { number } });
  const reader = await waitFor(
    () => stripe.terminal.readers.retrieve(readerId),
    (x) => x.action?.type === 'process_payment_intent' && ['succeeded', 'failed'].includes(x.action?.status),
    { what: `reader ${readerId} to finish process_payment_intent` },
  );
  const pi = await waitFor(
    () => stripe.paymentIntents.retrieve(piId),
    (p) => p.status !== 'processing',
    { what: `${piId} to leave processing` },
  );
  return { reader, pi };
}

/** Calls fn, which must reject; returns the error. */
async function rejects(fn) {
  try {
    const res = await fn();
    throw Object.assign(new Error(`expected an error, the call succeeded with ${JSON.stringify(res)}`), {
      unexpected: true,
    });
  } catch (e) {
    if (e.unexpected) throw e;
    return e;
  }
}

module.exports = { Stripe, Server, waitFor, sleep, idOf, newLocation, newReader, pay, rejects, clientOptions };
