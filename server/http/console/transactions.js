// The transactions pages: the list with its filters and cursor paging, and one transaction
// with its branches, the saga's steps, the decision and the operator's actions.

import {call} from './api.js';
import {describe, errorBox, h, pager, short, show, stateBadge, table, when} from './dom.js';

const ACTIVE = [
  'TXN_STATE_PREPARING', 'TXN_STATE_PRECOMMITTING', 'TXN_STATE_COMMITTING', 'TXN_STATE_ABORTING',
  'TXN_STATE_COMPENSATING'
];
const STATE_FILTERS = {
  '': {label: 'any state'},
  active: {label: 'active', states: ACTIVE},
  stuck: {label: 'stuck', stuckOnly: true},
  attention: {label: 'needs attention', states: ['TXN_STATE_NEEDS_ATTENTION']},
  committed: {label: 'committed', states: ['TXN_STATE_COMMITTED']},
  aborted: {label: 'aborted', states: ['TXN_STATE_ABORTED']},
};
const MODES = {
  '': 'any mode',
  MODE_TWO_PHASE: 'two-phase',
  MODE_SAGA: 'saga',
  MODE_THREE_PHASE: 'three-phase'
};
const PAGE_SIZE = 50;

// Page tokens already passed, per filter, so that "Previous" can go back.
let pagesBehind = {filter: '', tokens: []};

function hashFor(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v) q.set(k, v);
  return `#/transactions?${q}`;
}

function isoOrUndefined(local) {
  if (!local) return undefined;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

function listRequest(params) {
  const filter = STATE_FILTERS[params.state || ''] || STATE_FILTERS[''];
  return {
    states: filter.states || [],
    stuckOnly: Boolean(filter.stuckOnly),
    mode: params.mode || 'MODE_UNSPECIFIED',
    participant: params.participant || '',
    beginAfter: isoOrUndefined(params.from),
    beginBefore: isoOrUndefined(params.to),
    pageSize: PAGE_SIZE,
    pageToken: params.page || '',
  };
}

// A transaction id has its shard's name, a dash and 16 hex digits ("s0-0001a2b3c4d5e6f7");
// anything else is looked up as an idempotency key.
function lookup(q) {
  const byId = /^[a-z0-9]{1,32}-[0-9a-f]{16}$/.test(q);
  return call('settle.v1.Coordinator/GetTransaction', byId ? {txnId: q} : {idempotencyKey: q});
}

function row(t) {
  const participants = [...new Set((t.branches || []).map((b) => b.participant))].join(', ');
  return h(
      'tr', {'data-txn': t.txnId},
      h('td', {class: 'mono'}, h('a', {href: `#/txn/${encodeURIComponent(t.txnId)}`}, t.txnId)),
      h('td', {class: 'mono key'}, t.idempotencyKey), h('td', {}, short(t.mode, 'MODE_')),
      h('td', {}, stateBadge(t.state, t.stuck)), h('td', {}, when(t.beginTime)),
      h('td', {}, when(t.decisionTime)), h('td', {}, participants), h('td', {}, t.reason));
}

const HEADERS =
    ['Id', 'Idempotency key', 'Mode', 'State', 'Began', 'Decided', 'Participants', 'Reason'];

function select(name, options, value) {
  return h(
      'select', {name},
      Object.entries(options).map(
          ([v, label]) =>
              h('option', {value: v, selected: v === (value || '')},
                typeof label === 'string' ? label : label.label)));
}

export function renderList(params, ctx) {
  const filterKey = JSON.stringify({...params, page: undefined, refresh: undefined});
  if (pagesBehind.filter !== filterKey) pagesBehind = {filter: filterKey, tokens: []};
  const results = h('div', {id: 'results'}, 'Loading…');
  const form =
      h('form', {
        class: 'filters',
        id: 'filters',
        onsubmit: (e) => {
          e.preventDefault();
          const data = Object.fromEntries(new FormData(e.target));
          data.refresh = data.refresh ? '1' : '';
          location.hash = hashFor(data);
        }
      },
        h('label', {}, 'State', select('state', STATE_FILTERS, params.state)),
        h('label', {}, 'Mode', select('mode', MODES, params.mode)),
        h('label', {}, 'Participant',
          h('input', {name: 'participant', value: params.participant || '', size: 12})),
        h('label', {}, 'Began from',
          h('input', {name: 'from', type: 'datetime-local', step: 1, value: params.from || ''})),
        h('label', {}, 'to',
          h('input', {name: 'to', type: 'datetime-local', step: 1, value: params.to || ''})),
        h('label', {}, 'Id or idempotency key',
          h('input', {name: 'q', value: params.q || '', size: 24})),
        h('label', {}, 'Auto-refresh',
          h('input', {name: 'refresh', type: 'checkbox', checked: params.refresh === '1'})),
        h('button', {type: 'submit'}, 'Find'));
  show(h('h1', {}, 'Transactions'), form, results);

  const load = async () => {
    try {
      if (params.q) {
        const t = await lookup(params.q);
        results.replaceChildren(table(HEADERS, [row(t)]));
        return;
      }
      const r = await call('settle.v1.Coordinator/ListTransactions', listRequest(params));
      const txns = r.transactions || [];
      results.replaceChildren(
          txns.length ? table(HEADERS, txns.map(row)) :
                        h('p', {class: 'notice'}, 'No transaction matches.'),
          pager({
            trail: pagesBehind.tokens,
            token: params.page,
            next: r.nextPageToken,
            go: (page) => location.hash = hashFor({...params, page}),
            what: `${txns.length} shown, oldest first`,
          }));
    } catch (err) {
      results.replaceChildren(errorBox(err));
    }
  };
  load();
  if (params.refresh === '1') ctx.every(5000, load);
}

function decisionOf(t) {
  const s = short(t.state, 'TXN_STATE_');
  if (s === 'COMMITTED' || s === 'COMMITTING') return 'COMMIT';
  if (['ABORTED', 'ABORTING', 'COMPENSATING', 'NEEDS_ATTENTION'].includes(s)) return 'ABORT';
  return 'undecided';
}

function branchRows(t) {
  return (t.branches || [])
      .map(
          (b) => h(
              'tr', {}, h('td', {}, b.branchId), h('td', {}, b.participant), h('td', {}, b.step),
              h('td', {}, short(b.state, 'BRANCH_STATE_')), h('td', {}, b.attempts),
              h('td', {}, b.lastError), h('td', {}, when(b.nextRetryTime)), h('td', {}, b.reason)));
}

function sagaSteps(t) {
  if (t.mode !== 'MODE_SAGA') return null;
  const steps = new Map();
  for (const b of t.branches || []) {
    if (!steps.has(b.step)) steps.set(b.step, []);
    steps.get(b.step).push(`${b.participant}: ${short(b.state, 'BRANCH_STATE_')}`);
  }
  return [
    h('h2', {}, 'Saga steps (compensated newest first)'),
    h('ol', {start: 0},
      [...steps.keys()].sort((a, b) => a - b).map((s) => h('li', {}, steps.get(s).join(' · '))))
  ];
}

export async function renderDetail(id, ctx) {
  let t;
  try {
    t = await call('settle.v1.Coordinator/GetTransaction', {txnId: id});
  } catch (err) {
    if (ctx.live()) show(h('h1', {}, `Transaction ${id}`), errorBox(err));
    return;
  }
  if (!ctx.live()) return;
  const state = short(t.state, 'TXN_STATE_');
  const message = h('div', {id: 'action-result'});
  const act = async (kind) => {
    const needsOperator = kind !== 'abort';
    const answer = await ctx.confirm({
      title: {abort: 'Abort', retry: 'Retry now', resolve: 'Resolve by hand'}[kind] + ` ${t.txnId}`,
      text: {
        abort: 'The transaction is not decided yet: every participant will be told to abort.',
        retry: 'The refused compensations are tried again now.',
        resolve: 'Marks the saga ABORTED, resolved by hand: say what was done.',
      }[kind],
      button: {abort: 'Abort it', retry: 'Retry now', resolve: 'Mark resolved'}[kind],
      needsOperator,
    });
    if (!answer) return;
    const method = {
      abort: 'AbortTransaction',
      retry: 'RetryTransaction',
      resolve: 'ResolveTransaction'
    }[kind];
    const request = {txnId: t.txnId, reason: answer.reason};
    if (needsOperator) request.operator = answer.operator;
    try {
      await call(`settle.v1.Coordinator/${method}`, request);
      ctx.rerender();
    } catch (err) {
      message.replaceChildren(errorBox(err));
    }
  };
  const actions =
      h('div', {class: 'actions'},
        ['PREPARING', 'PRECOMMITTING'].includes(state) ?
            h('button', {class: 'danger', id: 'action-abort', onclick: () => act('abort')},
              'Abort…') :
            null,
        state === 'NEEDS_ATTENTION' ?
            h('button', {id: 'action-retry', onclick: () => act('retry')}, 'Retry now…') :
            null,
        state === 'NEEDS_ATTENTION' ?
            h('button', {class: 'danger', id: 'action-resolve', onclick: () => act('resolve')},
              'Resolve…') :
            null);
  show(
      h('h1', {}, 'Transaction ', h('span', {class: 'mono'}, t.txnId), ' ',
        stateBadge(t.state, t.stuck)),
      h('dl', {class: 'summary'}, h('dt', {}, 'Idempotency key'),
        h('dd', {class: 'mono', id: 'detail-key'}, t.idempotencyKey), h('dt', {}, 'Mode'),
        h('dd', {}, short(t.mode, 'MODE_')), h('dt', {}, 'Decision'),
        h('dd', {id: 'detail-decision'}, decisionOf(t)), h('dt', {}, 'Began'),
        h('dd', {}, when(t.beginTime)), h('dt', {}, 'Prepare deadline'),
        h('dd', {}, when(t.deadline)), h('dt', {}, 'Decided'), h('dd', {}, when(t.decisionTime)),
        h('dt', {}, 'Finished'), h('dd', {}, when(t.finishTime)), h('dt', {}, 'Reason'),
        h('dd', {}, t.reason), h('dt', {}, 'Refused branch'),
        h('dd', {}, t.refusedBranch >= 0 ? t.refusedBranch : '')),
      actions, message, h('h2', {}, 'Branches'),
      table(
          ['#', 'Participant', 'Step', 'State', 'Attempts', 'Last error', 'Next retry', 'Reason'],
          branchRows(t)),
      sagaSteps(t), h('h2', {}, 'Operator actions'),
      (t.operatorActions || []).length ?
          table(
              ['Time', 'Action', 'Operator', 'Reason'],
              t.operatorActions.map(
                  (a) =>
                      h('tr', {}, h('td', {}, when(a.time)), h('td', {}, a.action),
                        h('td', {}, a.operator), h('td', {}, a.reason)))) :
          h('p', {}, 'None.'),
      h('h2', {}, 'Raw JSON'),
      h('pre', {class: 'raw', id: 'raw-json'}, JSON.stringify(t, null, 2)));
  if (!['COMMITTED', 'ABORTED'].includes(state)) {
    ctx.every(5000, async () => {
      try {
        const fresh = await call('settle.v1.Coordinator/GetTransaction', {txnId: id});
        if (JSON.stringify(fresh) !== JSON.stringify(t)) ctx.rerender();
      } catch (err) {
        message.replaceChildren(h('div', {class: 'error'}, `refresh: ${describe(err)}`));
      }
    });
  }
}
