// The operator's console: one page, routed by the URL's fragment. Plain ES modules, no
// framework and no build step (they are few and small); served by the coordinator's HTTP port,
// which answers the calls they make with the same access check as gRPC.

import {config, hasToken, setToken} from './api.js';
import {renderDeliveries} from './deliveries.js';
import {errorBox, show} from './dom.js';
import {renderAudit, renderFigures, renderParticipants} from './operations.js';
import {renderDetail, renderList} from './transactions.js';

let timers = [];
let routeVersion = 0;
let home = '/transactions';  // The first page this port serves (the notifier's: deliveries).

function clearTimers() {
  for (const t of timers) clearInterval(t);
  timers = [];
}

// Renders the page the fragment names; timers of the previous page stop.
function render() {
  clearTimers();
  const version = ++routeVersion;
  const ctx = {
    // Runs `fn` every `ms` while this page is shown.
    every: (ms, fn) => {
      if (version === routeVersion) timers.push(setInterval(fn, ms));
    },
    rerender: () => {
      if (version === routeVersion) render();
    },
    // False once another page replaced this one (an answer that comes late is dropped).
    live: () => version === routeVersion,
    confirm,
  };
  const [path, query] = (location.hash.slice(1) || home).split('?');
  const params = Object.fromEntries(new URLSearchParams(query || ''));
  for (const a of document.querySelectorAll('header nav a')) {
    a.classList.toggle('current', path.startsWith(a.getAttribute('href').slice(1)));
  }
  if (path.startsWith('/txn/')) return renderDetail(decodeURIComponent(path.slice(5)), ctx);
  if (path === '/participants') return renderParticipants(ctx);
  if (path === '/figures') return renderFigures(ctx);
  if (path === '/audit') return renderAudit(params, ctx);
  if (path === '/deliveries') return renderDeliveries(params, ctx);
  return renderList(params, ctx);
}

// Asks for a reason (and the operator's name) and a second click; null when cancelled.
function confirm({title, text, button, needsOperator = true, needsReason = true}) {
  const dialog = document.getElementById('confirm');
  const reason = document.getElementById('confirm-reason');
  const operator = document.getElementById('confirm-operator');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = button;
  document.getElementById('confirm-operator-label').hidden = !needsOperator;
  operator.required = needsOperator;
  operator.value = sessionStorage.getItem('settle.operator') || '';
  reason.parentElement.hidden = !needsReason;
  reason.required = needsReason;
  reason.value = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      if (dialog.returnValue !== 'ok') return resolve(null);
      if (needsOperator) sessionStorage.setItem('settle.operator', operator.value.trim());
      resolve({reason: reason.value.trim(), operator: operator.value.trim()});
    }, {once: true});
    dialog.returnValue = '';
    dialog.showModal();
  });
}

function login() {
  const dialog = document.getElementById('login');
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      setToken(document.getElementById('login-token').value.trim());
      document.getElementById('login-token').value = '';
      resolve();
    }, {once: true});
    dialog.showModal();
  });
}

async function start() {
  let auth = 'none';
  try {
    const c = await config();
    auth = c.auth;
    // Only the pages of the services this port maps are offered.
    const links = [...document.querySelectorAll('header nav a')];
    for (const a of links) a.hidden = !c.services.includes(a.dataset.service);
    const first = links.find((a) => !a.hidden);
    if (first) home = first.getAttribute('href').slice(1);
  } catch (err) {
    show(errorBox(err));
    return;
  }
  if (auth === 'token') {
    const logout = document.getElementById('logout');
    logout.hidden = false;
    logout.addEventListener('click', () => {
      setToken('');
      location.reload();
    });
    if (!hasToken()) await login();
  }
  window.addEventListener('hashchange', render);
  render();
}

start();
