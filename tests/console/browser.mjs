// What the console's browser tests share: Debian's headless Chromium through puppeteer-core, a
// signed-in page per identity that collects every console error, page error, failed request
// and CSP violation, and on a failure what each page showed (text and a screenshot).

import assert from 'node:assert/strict';
import {createHash, X509Certificate} from 'node:crypto';
import {mkdirSync, readFileSync} from 'node:fs';
import puppeteer from 'puppeteer-core';

export function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

export const url = env('SETTLE_CONSOLE_URL');
export const shots = env('SETTLE_SCREENSHOT_DIR');
mkdirSync(shots, {recursive: true});

const started = Date.now();
export function step(what) {
  console.log(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${what}`);
}

// Over HTTPS Chromium trusts exactly the test server's key (its SPKI hash), not any certificate.
function trustArgs() {
  if (!process.env.SETTLE_SERVER_CERT) return [];
  const spki = createHash('sha256')
    .update(new X509Certificate(readFileSync(process.env.SETTLE_SERVER_CERT)).publicKey
      .export({type: 'spki', format: 'der'}))
    .digest('base64');
  return [`--ignore-certificate-errors-spki-list=${spki}`];
}

export const browser = await puppeteer.launch({
  executablePath: env('CHROMIUM'),
  headless: true,
  // Chromium's sandbox cannot start as root (CI's containers); elsewhere it stays on. A
  // container's /dev/shm is often 64 MB: Chromium's shared memory goes to /tmp instead.
  args: [...trustArgs(), '--disable-dev-shm-usage',
         ...(process.getuid() === 0 ? ['--no-sandbox'] : [])],
});

const opened = [];
process.on('uncaughtException', async (err) => {
  console.error(err);
  for (const [i, page] of opened.entries()) {
    try {
      console.error(`page ${i} at ${page.url()}:\n${await page.$eval('main', (m) => m.innerText)}`);
      await page.screenshot({path: `${shots}/failure-${i}.png`, fullPage: true});
    } catch (e) {
      console.error(`page ${i}: ${e.message}`);
    }
  }
  process.exit(1);
});

// A page in its own browser context (its own sessionStorage) at the port's root, signed in with
// `token` when the port asks for one.
export async function session(token) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  opened.push(page);
  await page.setViewport({width: 1280, height: 860});
  page.problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warn') page.problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => page.problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => page.problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('dialog', (d) => {
    page.problems.push(`a script opened a ${d.type()} dialog: ${d.message()}`);
    d.dismiss();
  });
  const response = await page.goto(`${url}/`, {waitUntil: 'networkidle0'});
  assert.equal(response.status(), 200);
  assert.ok(page.url().endsWith('/console/'), `/ leads to the console, not ${page.url()}`);
  const csp = response.headers()['content-security-policy'];
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  if (token) {
    await page.waitForSelector('#login[open]');
    await page.type('#login-token', token);
    await page.click('#login-submit');
  }
  return page;
}

// Shows the page `hash` names and waits for `ready` and the network to settle.
export async function visit(page, hash, ready) {
  await page.evaluate((h) => { location.hash = h; }, hash);
  await page.waitForSelector(ready, {timeout: 15000});
  await page.waitForNetworkIdle({idleTime: 200});
}

export async function text(page, selector) {
  return page.$eval(selector, (e) => e.textContent);
}

// Fails on what the page reported since the last check, but for messages matching `allowed`.
export function noProblems(page, where, allowed = []) {
  const left = page.problems.filter((p) => !allowed.some((a) => a.test(p)));
  assert.deepEqual(left, [], `${where}: the browser reported problems`);
  page.problems.length = 0;
}

// The confirmation dialog of an action: fills what it asks and confirms.
export async function confirmWith(page, {operator, reason} = {}) {
  await page.waitForSelector('#confirm[open]');
  if (operator !== undefined) await page.type('#confirm-operator', operator);
  if (reason !== undefined) await page.type('#confirm-reason', reason);
  await page.click('#confirm-ok');
}
