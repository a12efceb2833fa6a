// Building the page. Every value from the coordinator enters the DOM as a text node or an
// attribute value set through the DOM, never as markup: a key or a reason that holds
// "<script>" is shown as those characters.

// h('td', {class: 'mono'}, 'text', otherNode): an element with attributes and children.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on'))
      el.addEventListener(name.slice(2), value);
    else
      el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// Replaces the page's content.
export function show(...children) {
  const page = document.getElementById('page');
  page.replaceChildren();
  append(page, children);
}

export function table(headers, rows) {
  return h(
      'table', {}, h('thead', {}, h('tr', {}, headers.map((t) => h('th', {}, t)))),
      h('tbody', {}, rows));
}

// Cursor paging over a listing's page tokens: First, Previous, Next. `trail` holds the tokens
// of the pages passed, so that Previous can go back; go(token) shows the page at `token`.
export function pager({trail, token, next, go, what}) {
  const button = (id, label, disabled, onclick) =>
      h('button', {type: 'button', id, disabled, onclick}, label);
  return h(
      'div', {class: 'pager'},
      button(
          'first-page', 'First', !token,
          () => {
            trail.length = 0;
            go('');
          }),
      button('prev-page', 'Previous', trail.length === 0, () => go(trail.pop())),
      button('next-page', 'Next', !next, () => {
        trail.push(token || '');
        go(next);
      }), h('span', {}, `${what}, page ${trail.length + 1}`));
}

export function errorBox(err) {
  return h('div', {class: 'error', role: 'alert'}, describe(err));
}

export function describe(err) {
  if (err && err.status) return `${err.status}: ${err.message}`;
  return String(err && err.message ? err.message : err);
}

// "2026-12-07 06:12:03.120" in the browser's time zone; "" for an unset time.
export function when(ts) {
  if (!ts) return '';
  const d = new Date(ts);
  if (Number.isNaN(d.getTime()) || d.getTime() <= 0) return '';
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.` +
      `${pad(d.getMilliseconds(), 3)}`;
}

// "TXN_STATE_NEEDS_ATTENTION" -> "NEEDS_ATTENTION".
export function short(enumName, prefix) {
  return String(enumName || '').replace(prefix, '');
}

export function stateBadge(state, stuck) {
  const s = short(state, 'TXN_STATE_');
  return [
    h('span', {class: `state ${s}`}, s), stuck ? h('span', {class: 'state stuck'}, 'STUCK') : null
  ];
}
