// The operator's console in Debian's headless Chromium, against a stack the caller started
// (tests/integration/console_test.cc passes its addresses, tokens and transactions in the
// environment). Exits non-zero on the first broken expectation, naming it.
//   - every page loads with no console error, no failed request and no CSP violation;
//   - filters and paging find one payment among thousands;
//   - a key and reasons holding markup are shown as text, never run;
//   - a parked saga is resolved and an undecided payment aborted through the console; the
//     audit page shows who and why;
//   - a read-only identity sees the pages and gets every action refused.
// Screenshots of the main pages go to $SETTLE_SCREENSHOT_DIR.

import assert from 'node:assert/strict';
import {browser, confirmWith, env, noProblems, session, shots, step, text, visit} from './browser.mjs';

const parked = env('SETTLE_PARKED_TXN');
const kept = env('SETTLE_KEPT_TXN');
const undecided = env('SETTLE_UNDECIDED_TXN');
const targetKey = env('SETTLE_TARGET_KEY');
const hostileKey = env('SETTLE_HOSTILE_KEY');

// --- The operator ---
const ops = await session(env('SETTLE_OPS_TOKEN'));
await ops.waitForSelector('#results table');
noProblems(ops, 'the transactions page');
step('signed in as ops; the transactions page loaded');

// Paging: the target is far down the oldest-first list, found by following "Next".
let pages = 1;
for (;;) {
  const keys = await ops.$$eval('#results td.key', (cells) => cells.map((c) => c.textContent));
  if (keys.includes(targetKey)) break;
  assert.ok(!(await ops.$eval('#next-page', (b) => b.disabled)), `${targetKey} is on no page`);
  const first = keys[0];
  await ops.click('#next-page');
  await ops.waitForFunction((k) => {
    const cell = document.querySelector('#results td.key');
    return cell && cell.textContent !== k;
  }, {}, first);
  ++pages;
}
assert.ok(pages > 10, `${targetKey} should be many pages in, found on page ${pages}`);
await ops.click('#prev-page');
await ops.waitForFunction((n) => document.querySelector('.pager span')?.textContent.endsWith(`page ${n}`),
                         {timeout: 15000}, pages - 1);
noProblems(ops, 'paging');
step(`paging found ${targetKey} on page ${pages}`);

// Filters: by key; by state; by mode and participant; by a time range that holds nothing.
await visit(ops, `#/transactions?q=${encodeURIComponent(targetKey)}`, '#results table');
assert.deepEqual(await ops.$$eval('#results td.key', (c) => c.map((e) => e.textContent)), [targetKey]);
await visit(ops, '#/transactions?state=attention', '#results table');
const attention = await ops.$$eval('#results tr[data-txn]', (rows) => rows.map((r) => r.dataset.txn));
assert.deepEqual(attention.sort(), [parked, kept].sort());
await visit(ops, '#/transactions?mode=MODE_SAGA&participant=gateway', '#results table');
const sagaModes = await ops.$$eval('#results tr[data-txn] td:nth-child(3)', (c) => c.map((e) => e.textContent));
assert.deepEqual(sagaModes, ['SAGA', 'SAGA']);
const later = new Date(Date.now() + 3600e3);
const local = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60e3).toISOString().slice(0, 19);
await visit(ops, `#/transactions?from=${local(later)}`, '#results p.notice');
// The form builds the same query as the links above.
await ops.select('select[name=state]', 'committed');
await ops.click('#filters button[type=submit]');
await ops.waitForFunction(() => location.hash.includes('state=committed'));
await ops.waitForNetworkIdle({idleTime: 200});
noProblems(ops, 'the filters');
step('filters by key, state, mode, participant and time range');

// Markup in a key is text.
await visit(ops, `#/transactions?q=${encodeURIComponent(hostileKey)}`, '#results table');
assert.equal(await text(ops, '#results td.key'), hostileKey);
await ops.click('#results td.mono a');
await ops.waitForSelector('#detail-key');
assert.equal(await text(ops, '#detail-key'), hostileKey);
assert.equal(await ops.evaluate(() => document.querySelectorAll('main script, main img').length), 0);
noProblems(ops, 'a key holding markup');

// Every page, and its screenshot.
await visit(ops, `#/txn/${parked}`, '#action-resolve');
assert.equal(await text(ops, '#detail-decision'), 'ABORT');
assert.match(await ops.$eval('main', (m) => m.textContent), /Saga steps/);
await ops.screenshot({path: `${shots}/transaction.png`, fullPage: true});
await visit(ops, '#/participants', 'tr[data-participant=gateway]');
// The held payment's Prepare, waiting on the participant that never answers.
assert.equal(await text(ops, 'tr[data-participant=slow] td.calls'), '1');
await ops.screenshot({path: `${shots}/participants.png`});
await visit(ops, '#/figures', '#now-in-flight');
// The seeded payments are in the figures already: the interval still open counts up to now.
const committed = await ops.$$eval('main tbody tr td:nth-child(3)',
                                   (c) => c.reduce((sum, e) => sum + Number(e.textContent), 0));
assert.ok(committed >= 2000, `the figures count ${committed} committed payments, not the 2000 seeded`);
assert.equal(await text(ops, '#now-in-flight'), '3');  // Two parked sagas, the held payment.
await ops.screenshot({path: `${shots}/figures.png`});
await visit(ops, '#/transactions', '#results table');
await ops.screenshot({path: `${shots}/transactions.png`});
noProblems(ops, 'the pages');
step('every page loaded; screenshots written');

// A participant name holding markup: refused by the coordinator, its message shown as text.
await visit(ops, '#/participants', '#register-form');
await ops.type('#register-form input[name=name]', '<script>window.__pwned=1</script>');
await ops.type('#register-form input[name=endpoint]', '127.0.0.1:1');
await ops.click('#register-form button[type=submit]');
await ops.waitForSelector('#registry-result .error');
assert.match(await text(ops, '#registry-result .error'), /^INVALID_ARGUMENT: .*<script>window.__pwned=1<\/script>/);
noProblems(ops, 'a refused registration', [/status of 400/]);

// The parked saga, resolved through the console with a reason, confirmed.
await visit(ops, `#/txn/${parked}`, '#action-resolve');
await ops.click('#action-resolve');
const reason = 'refunded by bank transfer #88 <img src=x onerror="window.__pwned=1">';
await confirmWith(ops, {operator: 'Dana (on call)', reason});
await ops.waitForFunction(() => document.querySelector('h1 .state')?.textContent === 'ABORTED', {timeout: 15000});
assert.equal(await ops.$$eval('#action-resolve', (b) => b.length), 0);
// The audit page: who (the token's identity), on whose behalf and why, as text.
await visit(ops, '#/audit', 'table');
const resolveRow = await ops.$$eval('main tbody tr', (rows, id) => rows
  .map((r) => [...r.children].map((c) => c.textContent))
  .find((cells) => cells[3] === 'resolve' && cells[4] === id), parked);
assert.ok(resolveRow, 'the audit page shows the resolve');
assert.deepEqual(resolveRow.slice(1, 7), ['ops', 'Dana (on call)', 'resolve', parked, reason, 'OK']);
const newest = await ops.$eval('main tbody tr', (r) => [...r.children].map((c) => c.textContent));
assert.deepEqual(newest.slice(3, 5), ['resolve', parked], 'the newest command comes first');
await ops.screenshot({path: `${shots}/audit.png`});
assert.equal(await ops.evaluate(() => window.__pwned), undefined);
noProblems(ops, 'resolving');
step('the parked saga was resolved; the audit shows who and why');

// An undecided payment (a participant never answers), aborted with a reason.
await visit(ops, `#/txn/${undecided}`, '#action-abort');
assert.equal(await text(ops, '#detail-decision'), 'undecided');
await ops.click('#action-abort');
await confirmWith(ops, {reason: 'customer cancelled at the till'});
await ops.waitForFunction(() => ['ABORTING', 'ABORTED'].includes(document.querySelector('h1 .state')?.textContent),
                         {timeout: 15000});
assert.equal(await text(ops, '#detail-decision'), 'ABORT');
noProblems(ops, 'the abort');
step('an undecided payment was aborted');

// --- A read-only identity: sees the pages, every action refused, nothing changed ---
const viewer = await session(env('SETTLE_VIEWER_TOKEN'));
await viewer.waitForSelector('#results table');
await visit(viewer, '#/audit', 'table');
await visit(viewer, '#/figures', '#now-in-flight');
noProblems(viewer, 'the read-only pages');
const refused = [/status of 403/];
await visit(viewer, `#/txn/${kept}`, '#action-retry');
for (const action of ['#action-retry', '#action-resolve']) {
  await viewer.click(action);
  await confirmWith(viewer, {operator: 'Watcher', reason: 'trying'});
  await viewer.waitForSelector('#action-result .error');
  assert.match(await text(viewer, '#action-result .error'), /^PERMISSION_DENIED: .*watcher/);
  await viewer.evaluate(() => document.querySelector('#action-result').replaceChildren());
}
await visit(viewer, '#/participants', '#register-form');
await viewer.type('#register-form input[name=name]', 'sneaky');
await viewer.type('#register-form input[name=endpoint]', '127.0.0.1:1');
await viewer.click('#register-form button[type=submit]');
await viewer.waitForSelector('#registry-result .error');
assert.match(await text(viewer, '#registry-result .error'), /^PERMISSION_DENIED/);
await viewer.click('tr[data-participant=gateway] button');
await confirmWith(viewer);
await viewer.waitForFunction(() => /PERMISSION_DENIED/.test(document.querySelector('#registry-result')?.textContent));
noProblems(viewer, 'the refused actions', refused);
await visit(viewer, `#/txn/${kept}`, '#action-retry');
assert.equal(await viewer.$eval('h1 .state', (e) => e.textContent), 'NEEDS_ATTENTION');
step('the read-only identity was refused every action');

await browser.close();
step('done');
