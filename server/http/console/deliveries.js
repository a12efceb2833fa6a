// settle-notifier's page, on the notifier's own HTTP port: webhook deliveries by state (dead
// letters among them), each with its attempts, and a resend of a delivered or dead one.

import {call} from './api.js';
import {errorBox, h, short, show, table, when} from './dom.js';

const STATES = {
  '': 'any state',
  DELIVERY_STATE_PENDING: 'pending',
  DELIVERY_STATE_DELIVERED: 'delivered',
  DELIVERY_STATE_DEAD: 'dead letters'
};
const PAGE_SIZE = 50;

function micros(us) {
  return Number(us) > 0 ? when(new Date(Number(us) / 1000).toISOString()) : '';
}

function lastAttempt(d) {
  const a = (d.attempts || []).at(-1);
  if (!a) return '';
  return `${micros(a.atMicros)}: ${Number(a.httpStatus) ? `HTTP ${a.httpStatus}` : 'no answer'}` +
      (a.error ? ` (${a.error})` : '');
}

export async function renderDeliveries(params, ctx) {
  const message = h('div', {id: 'delivery-result'});
  let r;
  try {
    r = await call('settle.v1.NotifierAdmin/ListDeliveries', {
      state: params.state || 'DELIVERY_STATE_UNSPECIFIED',
      pageSize: PAGE_SIZE,
      pageToken: params.page || '',
    });
  } catch (err) {
    if (ctx.live()) show(h('h1', {}, 'Deliveries'), errorBox(err));
    return;
  }
  if (!ctx.live()) return;
  const resend = async (id) => {
    const answer = await ctx.confirm({
      title: `Resend ${id}`,
      text:
          'The merchant gets this result again, with the whole retry schedule; it deduplicates by the id.',
      button: 'Resend',
      needsOperator: false,
      needsReason: false,
    });
    if (!answer) return;
    try {
      await call('settle.v1.NotifierAdmin/ResendDelivery', {id});
      ctx.rerender();
    } catch (err) {
      message.replaceChildren(errorBox(err));
    }
  };
  const deliveries = r.deliveries || [];
  const query = (extra) => `#/deliveries?${new URLSearchParams({...params, ...extra})}`;
  show(
      h('h1', {}, 'Webhook deliveries'),
      h('form', {
        class: 'filters',
        id: 'delivery-filters',
        onsubmit: (e) => {
          e.preventDefault();
          location.hash = query({state: new FormData(e.target).get('state'), page: ''});
        }
      },
        h('label', {}, 'State',
          h('select', {name: 'state'},
            Object.entries(STATES).map(
                ([v, label]) =>
                    h('option', {value: v, selected: v === (params.state || '')}, label)))),
        h('button', {type: 'submit'}, 'Show')),
      message,
      deliveries.length ?
          table(
              [
                'Id (transaction/branch)', 'Recipient', 'Webhook', 'State', 'Attempts',
                'Last attempt', 'Received', 'Next attempt', ''
              ],
              deliveries.map((d) => {
                const state = short(d.state, 'DELIVERY_STATE_');
                return h(
                    'tr', {'data-delivery': d.id}, h('td', {class: 'mono'}, d.id),
                    h('td', {}, d.recipient), h('td', {class: 'mono'}, d.url),
                    h('td', {},
                      h('span', {class: `state ${state === 'DEAD' ? 'NEEDS_ATTENTION' : state}`},
                        state)),
                    h('td', {}, (d.attempts || []).length), h('td', {}, lastAttempt(d)),
                    h('td', {}, micros(d.receivedMicros)), h('td', {}, micros(d.nextAttemptMicros)),
                    h('td', {},
                      state === 'PENDING' ?
                          '' :
                          h('button',
                            {type: 'button', class: 'resend', onclick: () => resend(d.id)},
                            'Resend…')));
              })) :
          h('p', {class: 'notice'}, 'No delivery matches.'),
      h('div', {class: 'pager'},
        h('button', {
          type: 'button',
          id: 'first-page',
          disabled: !params.page,
          onclick: () => {
            location.hash = query({page: ''});
          }
        },
          'First'),
        h('button', {
          type: 'button',
          id: 'next-page',
          disabled: !r.nextPageToken,
          onclick: () => {
            location.hash = query({page: r.nextPageToken});
          }
        },
          'Next')));
  ctx.every(10000, () => ctx.rerender());
}
