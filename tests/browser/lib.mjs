/*
 * lib.mjs — the browser tests' harness: a real kilnd on a free port with a
 * temporary data dir (as tests/e2e/conftest.py does), Debian's chromium
 * through playwright-core, screenshots, reading zips, and a small runner.
 *
 * The binary is $KILND (the Makefile sets it), else ../../build/kilnd.
 * Screenshots go to $SCREENSHOTS, else ../../build/screenshots.  The runner
 * runs the tests one after another, prints one line per test and a summary
 * line "browser: N passed, N failed", and exits 1 when one failed.
 */
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '..', '..');
export const KILND = process.env.KILND || path.join(ROOT, 'build', 'kilnd');
export const SHOTS = process.env.SCREENSHOTS || path.join(ROOT, 'build', 'screenshots');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

export function assert(cond, msg) {
  if (!cond) throw new Error('assertion failed: ' + msg);
}

export function eq(got, want, msg) {
  const g = JSON.stringify(got);
  const w = JSON.stringify(want);
  if (g !== w) throw new Error(msg + ': got ' + g + ', want ' + w);
}

/* Polls fn until it returns a truthy value; throws msg after timeout ms. */
export async function until(fn, msg, timeout = 30000, every = 50) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) { last = e; }
    await sleep(every);
  }
  throw new Error('timed out (' + timeout + ' ms): ' + msg + (last instanceof Error ? ' — ' + last.message : ''));
}

/*
 * One HTTP request with node:http (not fetch(), which Debian's node 18 may
 * lack): resolves to {status, headers, text, json}.  With head, only the
 * status and headers are read and the connection is closed (an event stream
 * never ends).
 */
export function request(url, { method = 'GET', headers = {}, body, head = false } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      if (head) {
        resolve({ status: res.statusCode, headers: res.headers });
        res.destroy();
        return;
      }
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try { json = JSON.parse(text); } catch (e) { json = null; }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(30000, () => req.destroy(new Error('no answer from ' + url)));
    req.end(body);
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

/* One kilnd process with its own data dir; stop() ends it and checks it ended cleanly. */
export class Kilnd {
  constructor(args = []) {
    this.args = args;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kiln-browser-'));
    this.logPath = path.join(this.dir, 'kilnd.log');
  }

  async start() {
    for (let attempt = 0; attempt < 5; attempt++) {
      this.port = await freePort();
      const log = fs.openSync(this.logPath, 'a');
      this.proc = spawn(KILND, ['--listen', '127.0.0.1:' + this.port, '--data-dir', path.join(this.dir, 'data'),
        ...this.args], { stdio: ['ignore', log, log] });
      fs.closeSync(log);
      this.exited = new Promise((r) => this.proc.once('exit', (code, sig) => r({ code, sig })));
      const ok = await this.ready();
      if (ok) break;
      this.proc.kill('SIGKILL');
      await this.exited;
      this.proc = null;
    }
    if (!this.proc) throw new Error('kilnd did not start:\n' + this.log());
    this.url = 'http://127.0.0.1:' + this.port;
    const tok = path.join(this.dir, 'data', 'admin.token');
    this.token = fs.existsSync(tok) ? fs.readFileSync(tok, 'utf8').trim() : '';
    return this;
  }

  async ready() {
    const end = Date.now() + 10000;
    while (Date.now() < end) {
      if (this.proc.exitCode !== null) return false;
      try {
        const r = await request('http://127.0.0.1:' + this.port + '/healthz');
        if (r.status === 200) return true;
      } catch (e) { /* not yet */ }
      await sleep(30);
    }
    return false;
  }

  log() {
    try { return fs.readFileSync(this.logPath, 'utf8'); } catch (e) { return ''; }
  }

  /* The API from the test itself, with the admin's token. */
  api(method, p, body) {
    const headers = { Authorization: 'Bearer ' + this.token };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    return request(this.url + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  }

  /* The status of GET path with the token, without reading the body. */
  async status(p) {
    return (await request(this.url + p, { headers: { Authorization: 'Bearer ' + this.token }, head: true })).status;
  }

  async stop() {
    if (!this.proc) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc && this.proc.kill('SIGKILL'), 20000);
    const { code, sig } = await this.exited;
    clearTimeout(t);
    this.proc = null;
    const log = this.log();
    if (code !== 0) throw new Error('kilnd ended with ' + (code ?? sig) + ' on SIGTERM:\n' + log);
    if (log.includes('Sanitizer:') || log.includes('runtime error:')) throw new Error('sanitizer report:\n' + log);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

let browser = null;

export async function launch() {
  if (!browser) {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update',
        '--no-first-run', '--disable-dev-shm-usage']
    });
  }
  return browser;
}

/*
 * A page on kilnd's origin that records what the page reports: console
 * errors, uncaught exceptions, CSP violations, and the browser notifications it
 * shows (the real Notification is still called; the wrapper only counts).
 */
export async function openPage(k, opts = {}) {
  const b = await launch();
  const ctx = await b.newContext({
    viewport: opts.viewport || { width: 1280, height: 900 },
    acceptDownloads: true,
    permissions: opts.permissions || []
  });
  await ctx.addInitScript(() => {
    window.__kilnNotes = [];
    window.__kilnCsp = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__kilnCsp.push(e.violatedDirective + ' ' + e.blockedURI);
    });
    const N = window.Notification;
    if (N) {
      const Rec = function (title, o) {
        window.__kilnNotes.push({ title, body: o && o.body });
        return new N(title, o);
      };
      Object.defineProperty(Rec, 'permission', { get: () => N.permission });
      Rec.requestPermission = (...a) => N.requestPermission(...a);
      window.Notification = Rec;
    }
  });
  const page = await ctx.newPage();
  page.problems = [];
  page.responses = [];   // [path, status] of every answer the page got
  page.on('response', (r) => page.responses.push([new URL(r.url()).pathname, r.status()]));
  page.on('pageerror', (e) => page.problems.push('page error: ' + e.message));
  page.on('console', (m) => {
    // a failed request (the 401 of the auth probe, a 404 fallback) is logged as an error: not a fault
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
      page.problems.push('console: ' + m.text());
    }
  });
  page.setDefaultTimeout(20000);
  await page.goto(k.url + '/');
  return { ctx, page };
}

const AXE = path.join(HERE, 'node_modules', 'axe-core', 'axe.min.js');

/*
 * Checks the page as it is now with axe-core (WCAG 2.1 A and AA rules:
 * names and labels, contrast, roles, keyboard traps ...); throws naming every
 * violation and where it is.  axe is evaluated through the DevTools protocol,
 * which the page's Content-Security-Policy does not apply to.
 */
export async function accessible(page, where) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
    await page.evaluate(fs.readFileSync(AXE, 'utf8'));
  }
  const res = await page.evaluate(() => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    resultTypes: ['violations']
  }));
  const v = res.violations.map((x) => x.id + ' (' + x.impact + '): ' + x.help + ' — at ' +
    x.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', '));
  if (v.length) throw new Error('accessibility at ' + where + ':\n       ' + v.join('\n       '));
}

/* Saves a screenshot as SHOTS/<name>.png. */
export async function shot(page, name, full = true) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage: full });
}

/* The entries of a zip file (unzip -Z1), after checking it with unzip -t. */
export function zipEntries(file) {
  execFileSync('unzip', ['-tqq', file]);
  return execFileSync('unzip', ['-Z1', file], { encoding: 'utf8' }).split('\n').filter(Boolean);
}

/* One entry's bytes. */
export function zipRead(file, name) {
  return execFileSync('unzip', ['-p', file, name], { maxBuffer: 64 << 20 });
}

/* Thrown by a test that cannot run against this kilnd (a route it does not have yet). */
export class Skip extends Error {}

/* Runs the tests in order; a summary line; exit status 1 when one failed. */
export async function run(tests) {
  const only = process.env.ONLY;
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const t0 = Date.now();
  for (const [name, fn] of tests) {
    if (only && !name.includes(only)) continue;
    const t = Date.now();
    try {
      await fn();
      passed++;
      console.log('ok   ' + name + ' (' + ((Date.now() - t) / 1000).toFixed(1) + ' s)');
    } catch (e) {
      if (e instanceof Skip) {
        skipped++;
        console.log('skip ' + name + ': ' + e.message);
        continue;
      }
      failed++;
      console.log('FAIL ' + name + ' (' + ((Date.now() - t) / 1000).toFixed(1) + ' s)\n' +
        String(e && e.stack || e).split('\n').map((l) => '     ' + l).join('\n'));
    }
  }
  if (browser) await browser.close();
  console.log('browser: ' + passed + ' passed, ' + failed + ' failed' + (skipped ? ', ' + skipped + ' skipped' : '') + ' (' +
    ((Date.now() - t0) / 1000).toFixed(1) + ' s; screenshots in ' + SHOTS + ')');
  process.exit(failed ? 1 : 0);
}
