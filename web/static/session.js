// A console login, shared by the browser's tabs: the access token (15 min)
// and the refresh token live in localStorage; a token about to expire is
// renewed once for all tabs (under a Web Lock where the browser has them, as
// a spent refresh token used twice ends the login). REST calls go through
// `api`, which turns the server's errors into ApiError with code and field.

const KEY = "switchboard.session";
const EARLY_MS = 60_000; // renew a minute before expiry

export class ApiError extends Error {
  constructor(status, error) {
    super(error.message || `the server answered ${status}`);
    this.status = status;
    this.code = error.code || "http_error";
    this.field = error.field;
    this.retryAfter = null;
  }
}

function load() {
  try {
    return JSON.parse(localStorage.getItem(KEY)) || null;
  } catch (e) {
    return null;
  }
}

function save(answer) {
  const session = {
    access: answer.access_token,
    refresh: answer.refresh_token,
    expires: Date.now() + answer.expires_in * 1000,
    user: answer.user,
  };
  localStorage.setItem(KEY, JSON.stringify(session));
  return session;
}

export function current() {
  return load();
}

export function loggedIn() {
  return load() !== null;
}

async function post(path, body, bearer) {
  const headers = { "Content-Type": "application/json" };
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  const response = await fetch(path, { method: "POST", headers, body: JSON.stringify(body) });
  return answerOf(response);
}

async function answerOf(response) {
  if (response.status === 204) return null;
  let body = null;
  try {
    body = await response.json();
  } catch (e) {
    body = null;
  }
  if (!response.ok) {
    const error = new ApiError(response.status, (body && body.error) || {});
    error.retryAfter = response.headers.get("Retry-After");
    throw error;
  }
  return body;
}

export async function login(email, password) {
  return save(await post("/api/v1/auth/login", { email, password })).user;
}

async function renew(seen) {
  const now = load();
  if (!now) return null;
  if (now.refresh !== seen.refresh) return now; // another tab renewed it
  try {
    return save(await post("/api/v1/auth/refresh", { refresh_token: now.refresh }));
  } catch (e) {
    if (e instanceof ApiError && e.status < 500 && e.status !== 429) {
      localStorage.removeItem(KEY); // the login is over
      return null;
    }
    throw e;
  }
}

// A valid access token, or null when logged out.
export async function token() {
  const session = load();
  if (!session) return null;
  if (session.expires - EARLY_MS > Date.now()) return session.access;
  const fresh = navigator.locks
    ? await navigator.locks.request("switchboard.refresh", () => renew(session))
    : await renew(session);
  return fresh ? fresh.access : null;
}

export async function logout() {
  const session = load();
  localStorage.removeItem(KEY);
  if (session) {
    try {
      await post("/api/v1/auth/logout", {}, session.access);
    } catch (e) {
      /* gone already */
    }
  }
}

// A REST call with the login's token. Throws ApiError (status 401 with code
// "logged_out" when there is no login).
export async function api(method, path, body) {
  const bearer = await token();
  if (!bearer) throw new ApiError(401, { code: "logged_out", message: "you are not logged in" });
  const init = { method, headers: { Authorization: `Bearer ${bearer}` } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  return answerOf(await fetch(path, init));
}

// Keep tabs in step: a logout in one logs out all.
export function onChange(callback) {
  addEventListener("storage", (e) => {
    if (e.key === KEY) callback(load());
  });
}
