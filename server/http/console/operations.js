// The operators' other pages: participants (health, circuit, register and deregister), the
// audit trail, and the live figures.

import {call} from './api.js';
import {errorBox, h, pager, show, table, when} from './dom.js';

export async function renderParticipants(ctx) {
  const message = h('div', {id: 'registry-result'});
  const form =
      h('form', {
        class: 'filters',
        id: 'register-form',
        onsubmit: async (e) => {
          e.preventDefault();
          const data = Object.fromEntries(new FormData(e.target));
          try {
            await call('settle.v1.Registry/RegisterParticipant', data);
            ctx.rerender();
          } catch (err) {
            message.replaceChildren(errorBox(err));
          }
        }
      },
        h('label', {}, 'Name', h('input', {name: 'name', required: true, size: 16})),
        h('label', {}, 'Endpoint (host:port)',
          h('input', {name: 'endpoint', required: true, size: 24})),
        h('button', {type: 'submit'}, 'Register'));
  let list;
  try {
    list = (await call('settle.v1.Registry/ListParticipants', {})).participants || [];
  } catch (err) {
    if (ctx.live()) show(h('h1', {}, 'Participants'), errorBox(err));
    return;
  }
  if (!ctx.live()) return;
  const deregister = async (name) => {
    const answer = await ctx.confirm({
      title: `Deregister ${name}`,
      text:
          'New payments can no longer use it. Refused while an active transaction has a branch there.',
      button: 'Deregister',
      needsOperator: false,
      needsReason: false,
    });
    if (!answer) return;
    try {
      await call('settle.v1.Registry/DeregisterParticipant', {name});
      ctx.rerender();
    } catch (err) {
      message.replaceChildren(errorBox(err));
    }
  };
  show(
      h('h1', {}, 'Participants'),
      table(
          [
            'Name', 'Endpoint', 'Registered', 'Last answer', 'Calls in flight', 'Failures in a row',
            'Circuit', 'Last error', ''
          ],
          list.map((p) => {
            const health = p.health || {};
            return h(
                'tr', {'data-participant': p.name}, h('td', {}, p.name),
                h('td', {class: 'mono'}, p.endpoint), h('td', {}, when(p.registeredTime)),
                h('td', {}, when(health.lastSuccess)),
                h('td', {class: 'calls'}, health.callsInFlight),
                h('td', {}, health.consecutiveFailures),
                h('td', {},
                  health.circuitOpen ? h('span', {class: 'state NEEDS_ATTENTION'}, 'OPEN') :
                                       'closed'),
                h('td', {}, health.lastError),
                h('td', {},
                  h('button', {type: 'button', onclick: () => deregister(p.name)}, 'Deregister…')));
          })),
      h('h2', {}, 'Register a participant (operator role)'), form, message);
  ctx.every(10000, () => ctx.rerender());
}

const AUDIT_PAGE_SIZE = 100;
// Page tokens of the audit pages passed, for Previous.
const auditBehind = [];

// The audit trail, newest first, a page at a time.
export async function renderAudit(params, ctx) {
  if (!params.page) auditBehind.length = 0;
  let r;
  try {
    r = await call('settle.v1.Coordinator/ListOperatorCommands', {
      pageSize: AUDIT_PAGE_SIZE,
      pageToken: params.page || '',
      newestFirst: true,
    });
  } catch (err) {
    if (ctx.live()) show(h('h1', {}, 'Audit trail'), errorBox(err));
    return;
  }
  if (!ctx.live()) return;
  const commands = r.commands || [];
  show(
      h('h1', {}, 'Audit trail'),
      h('p', {},
        'Every abort, retry, resolve, drain, register and deregister, recorded before it ran; newest first.'),
      table(
          ['Time', 'Who', 'On behalf of', 'Action', 'Target', 'Reason', 'Outcome'],
          commands.map(
              (c) =>
                  h('tr', {}, h('td', {}, when(c.time)), h('td', {class: 'who'}, c.who),
                    h('td', {}, c.onBehalfOf), h('td', {}, c.action),
                    h('td', {class: 'mono'},
                      /^s\d+-/.test(c.target) ?
                          h('a', {href: `#/txn/${encodeURIComponent(c.target)}`}, c.target) :
                          c.target),
                    h('td', {class: 'reason'}, c.reason),
                    h('td', {},
                      !c.finished      ? 'unfinished' :
                          c.code === 0 ? 'OK' :
                                         `${c.code}: ${c.error}`)))),
      pager({
        trail: auditBehind,
        token: params.page,
        next: r.nextPageToken,
        go: (page) => location.hash = page ? `#/audit?page=${encodeURIComponent(page)}` : '#/audit',
        what: `${commands.length} shown, newest first`,
      }));
}

function chart(intervals) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('class', 'chart');
  svg.setAttribute('viewBox', '0 0 900 160');
  svg.setAttribute('preserveAspectRatio', 'none');
  const rate = (i) => ({
    committed: i.committed / seconds(i),
    aborted: i.aborted / seconds(i),
    failed: i.failed / seconds(i),
  });
  const top =
      Math.max(1, ...intervals.map((i) => Object.values(rate(i)).reduce((a, b) => a + b, 0)));
  // 90 slots of 10 s, the newest on the right: a young history fills from the right.
  const slots = Math.max(90, intervals.length);
  const width = 900 / slots;
  intervals.forEach((interval, n) => {
    const x = (slots - intervals.length + n) * width;
    let y = 160;
    for (const [kind, value] of Object.entries(rate(interval))) {
      const height = (value / top) * 150;
      if (height <= 0) continue;
      y -= height;
      const rect = document.createElementNS(ns, 'rect');
      for (const [k, v] of Object.entries(
               {x, y, width: Math.max(1, width - 1), height, class: kind})) {
        rect.setAttribute(k, v);
      }
      svg.append(rect);
    }
  });
  return svg;
}

function seconds(i) {
  return Math.max(0.001, (new Date(i.end) - new Date(i.start)) / 1000);
}

export async function renderFigures(ctx) {
  let f;
  try {
    f = await call('settle.v1.Coordinator/GetFigures', {});
  } catch (err) {
    if (ctx.live()) show(h('h1', {}, 'Figures'), errorBox(err));
    return;
  }
  if (!ctx.live()) return;
  const intervals = f.intervals || [];
  const ms = (v) => (v ? Number(v).toFixed(1) : '');
  show(
      h('h1', {}, 'Figures'),
      h('div', {class: 'figures-now'},
        h('div', {}, h('b', {id: 'now-in-flight'}, f.inFlight), 'in flight'),
        h('div', {}, h('b', {}, f.stuck), 'stuck'),
        h('div', {}, h('b', {}, f.needsAttention), 'need attention')),
      h('h2', {}, 'Payments per second, last 15 minutes (committed, aborted, failed)'),
      chart(intervals),
      table(
          [
            'Interval end', 'Payments/s', 'Committed', 'Aborted', 'Failed', 'p50 ms', 'p90 ms',
            'p99 ms'
          ],
          intervals.slice().reverse().map(
              (i) =>
                  h('tr', {}, h('td', {}, when(i.end)),
                    h('td', {},
                      ((Number(i.committed) + Number(i.aborted) + Number(i.failed)) / seconds(i))
                          .toFixed(1)),
                    h('td', {}, i.committed), h('td', {}, i.aborted), h('td', {}, i.failed),
                    h('td', {}, ms(i.p50Ms)), h('td', {}, ms(i.p90Ms)), h('td', {}, ms(i.p99Ms))))),
      h('p', {},
        'From the coordinator\'s own metrics, sampled every 10 seconds; a restart starts them again.'));
  ctx.every(10000, () => ctx.rerender());
}
