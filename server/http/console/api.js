// Calls to the coordinator's HTTP/JSON port: POST /<service>/<method> with the request in
// protobuf's JSON mapping. The token, when the port checks tokens, is kept in this tab's
// sessionStorage only and sent as a bearer token; a browser with a client certificate sends
// that by itself.

const TOKEN = 'settle.token';

export class ApiError extends Error {
  constructor(httpStatus, body) {
    super(body && body.message ? body.message : `HTTP ${httpStatus}`);
    this.httpStatus = httpStatus;
    this.status = body && body.status ? body.status : `HTTP ${httpStatus}`;
  }
}

export function setToken(token) {
  if (token)
    sessionStorage.setItem(TOKEN, token);
  else
    sessionStorage.removeItem(TOKEN);
}

export function hasToken() {
  return sessionStorage.getItem(TOKEN) !== null;
}

// call('settle.v1.Coordinator/GetTransaction', {txnId: 's0-1'}) -> the response object.
export async function call(method, request = {}) {
  const headers = {'Content-Type': 'application/json'};
  const token = sessionStorage.getItem(TOKEN);
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(`/${method}`, {
    method: 'POST',
    headers,
    body: JSON.stringify(request),
    cache: 'no-store',
    credentials: 'same-origin',
  });
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

// How this port authenticates: {"auth": "token" | "certificate" | "none", "shard": "s0"}.
export async function config() {
  const res = await fetch('/console/config.json', {cache: 'no-store'});
  return res.json();
}
