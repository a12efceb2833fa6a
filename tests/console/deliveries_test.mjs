// settle-notifier's deliveries page in Debian's headless Chromium, on the notifier's own HTTP
// port (tests/integration/notifier_test.cc starts it with results dead-lettered). The page shows
// only what that port maps, lists the dead letters with their attempts, and resends one.

import assert from 'node:assert/strict';
import {browser, confirmWith, env, noProblems, session, shots, step, visit} from './browser.mjs';

const dead = env('SETTLE_DEAD_IDS').split(',');
const resent = dead[0];

const page = await session(null);  // Loopback without roles: no sign-in.
await page.waitForSelector('h1');
const nav = await page.$$eval('header nav a:not([hidden])', (a) => a.map((e) => e.textContent));
assert.deepEqual(nav, ['Deliveries'], 'the notifier\'s port offers its own page only');
await visit(page, '#/deliveries?state=DELIVERY_STATE_DEAD', 'tr[data-delivery]');
const rows = await page.$$eval('tr[data-delivery]', (r) => r.map((e) => e.dataset.delivery));
assert.deepEqual(rows.sort(), [...dead].sort());
const attempts = await page.$eval(`tr[data-delivery="${resent}"] td:nth-child(5)`, (e) => e.textContent);
assert.equal(attempts, '3', 'two waits of the schedule: three attempts');
await page.screenshot({path: `${shots}/deliveries.png`});
noProblems(page, 'the dead letters');
step('the dead letters are listed with their attempts');

await page.click(`tr[data-delivery="${resent}"] button.resend`);
await confirmWith(page);
// Resent: no longer dead, so it leaves this filter; the other stays.
await page.waitForFunction((id) => !document.querySelector(`tr[data-delivery="${id}"]`), {timeout: 15000}, resent);
assert.deepEqual(await page.$$eval('tr[data-delivery]', (r) => r.map((e) => e.dataset.delivery)),
                 dead.filter((id) => id !== resent));
await visit(page, '#/deliveries?state=DELIVERY_STATE_DELIVERED', 'h1');
await page.waitForSelector(`tr[data-delivery="${resent}"]`, {timeout: 15000});
noProblems(page, 'the resend');
step('one dead letter was resent and delivered');
await browser.close();
