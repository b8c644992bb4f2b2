// One WebSocket to the server, kept open: reconnects with exponential backoff
// (full jitter), says hello with a fresh token each time, resubscribes every
// topic with `since` = the last seq applied, and answers requests by id.
// The protocol is docs/protocol.md; the Python client does the same.

const BASE_MS = 500;
const CAP_MS = 30_000;

export function backoff(attempt, base = BASE_MS, cap = CAP_MS) {
  return Math.random() * Math.min(cap, base * 2 ** attempt);
}

export class RequestError extends Error {
  constructor(error) {
    super(error.message || error.code);
    this.code = error.code;
    this.field = error.field;
  }
}

export class Live {
  // url: ws(s)://host/ws; token: async () => a bearer token or null;
  // onState(state): "connecting", "live" or "offline".
  constructor({ url = defaultUrl(), token = async () => null, onState = () => {} } = {}) {
    this.url = url;
    this.token = token;
    this.onState = onState;
    this.subs = new Map(); // topic -> subscription
    this.pending = new Map(); // id -> {resolve, reject}
    this.nextId = 1;
    this.attempt = 0;
    this.ws = null;
    this.ready = false;
    this.closed = false;
    this.state = "";
    this.timer = null;
    this.pingTimer = null;
    this.lastHeard = 0;
    this.heartbeat = 30_000;
    this._online = () => { if (!this.ready) this._reconnectNow(); };
    addEventListener("online", this._online);
    this._open();
  }

  _setState(state) {
    if (state !== this.state) {
      this.state = state;
      this.onState(state);
    }
  }

  _open() {
    if (this.closed) return;
    this._setState(this.attempt ? "offline" : "connecting");
    let ws;
    try {
      ws = new WebSocket(this.url, "switchboard.v1");
    } catch (e) {
      this._retry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => this._welcome(ws);
    ws.onmessage = (m) => this._receive(ws, m.data);
    ws.onclose = () => this._lost(ws);
    ws.onerror = () => {}; // onclose follows
  }

  async _welcome(ws) {
    this.lastHeard = Date.now();
    try {
      const token = await this.token();
      if (ws !== this.ws) return;
      if (token) {
        const hello = await this._ask(ws, { type: "hello", token, client: "switchboard-web" });
        this.heartbeat = hello.heartbeat_ms || this.heartbeat;
        this.welcome = hello;
      }
      this.ready = true;
      this.attempt = 0;
      this._pings(ws);
      for (const sub of this.subs.values()) this._subscribe(ws, sub);
      this._setState("live");
    } catch (e) {
      if (ws === this.ws) ws.close(4000, "hello failed");
    }
  }

  _pings(ws) {
    clearInterval(this.pingTimer);
    const every = Math.max(1000, this.heartbeat / 2);
    this.pingTimer = setInterval(() => {
      if (ws !== this.ws) return;
      if (Date.now() - this.lastHeard > every * 3) {
        ws.close(4000, "no answer"); // a dead path: the browser may not notice for minutes
        this._lost(ws);
        return;
      }
      this._send(ws, { type: "ping", id: this.nextId++ });
    }, every);
  }

  _lost(ws) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.ready = false;
    clearInterval(this.pingTimer);
    for (const { reject } of this.pending.values()) reject(new RequestError({ code: "connection_lost", message: "the connection was lost; try again" }));
    this.pending.clear();
    for (const sub of this.subs.values()) sub.active = false;
    this._retry();
  }

  _retry() {
    if (this.closed) return;
    this._setState("offline");
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this._open(), backoff(this.attempt++));
  }

  _reconnectNow() {
    clearTimeout(this.timer);
    this.attempt = Math.min(this.attempt, 1);
    if (!this.ws) this._open();
  }

  _send(ws, msg) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  }

  _ask(ws, msg) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this._send(ws, { ...msg, id });
    });
  }

  _receive(ws, text) {
    if (ws !== this.ws) return;
    this.lastHeard = Date.now();
    let msg;
    try {
      msg = JSON.parse(text);
    } catch (e) {
      return;
    }
    if (msg.id !== undefined && this.pending.has(msg.id)) {
      const { resolve, reject } = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      if (msg.type === "error") reject(new RequestError(msg.error || msg));
      else resolve(msg);
      return;
    }
    const sub = this.subs.get(msg.topic);
    if (!sub) return;
    if (msg.type === "event") {
      if (sub.catchingUp || msg.seq <= sub.seq) return; // stale, or seen already
      if (msg.seq !== sub.seq + 1) { // a gap: should not happen; catch up again
        sub.catchingUp = true;
        this._send(ws, { type: "unsubscribe", id: this.nextId++, topic: sub.topic });
        this._subscribe(ws, sub);
        return;
      }
      sub.seq = msg.seq;
      sub.onEvent(msg);
    } else if (msg.type === "presence") {
      sub.onPresence(msg);
    }
  }

  async _subscribe(ws, sub) {
    const msg = { type: "subscribe", topic: sub.topic, ...sub.params() };
    if (sub.seq !== null && sub.seq !== undefined) msg.since = sub.seq;
    try {
      const answer = await this._ask(ws, msg);
      sub.active = true;
      sub.catchingUp = false;
      if (answer.resumed) {
        sub.onResumed(answer); // the missed events follow
      } else {
        sub.seq = answer.seq;
        sub.onSnapshot(answer.snapshot, answer);
      }
    } catch (e) {
      sub.onError(e);
    }
  }

  // Follow a topic. since: the seq the caller's state is at (null: send a
  // snapshot). Callbacks: onSnapshot(snapshot, answer), onEvent(event),
  // onResumed(answer), onPresence(msg), onError(error); params() gives
  // extra subscribe fields (a room's client_id and name).
  subscribe(topic, { since = null, params = () => ({}), onSnapshot = () => {}, onEvent = () => {}, onResumed = () => {}, onPresence = () => {}, onError = () => {} } = {}) {
    const sub = { topic, seq: since, params, onSnapshot, onEvent, onResumed, onPresence, onError, active: false, catchingUp: false };
    this.subs.set(topic, sub);
    if (this.ready) this._subscribe(this.ws, sub);
    return {
      get seq() { return sub.seq; },
      set seq(value) { sub.seq = value; },
      close: () => this.unsubscribe(topic),
    };
  }

  unsubscribe(topic) {
    if (this.subs.delete(topic) && this.ready) this._send(this.ws, { type: "unsubscribe", id: this.nextId++, topic });
  }

  // Send a request and wait for its answer; rejects with RequestError.
  request(msg) {
    if (!this.ready) return Promise.reject(new RequestError({ code: "connection_lost", message: "not connected; try again" }));
    return this._ask(this.ws, msg);
  }

  // Send without waiting (the answer, if any, is dropped).
  send(msg) {
    if (this.ready) this._send(this.ws, msg);
    return this.ready;
  }

  // Drop the connection and start again at once (a new token, say).
  restart() {
    if (this.ws) {
      const ws = this.ws;
      ws.close(1000, "restart");
      this._lost(ws);
      this.attempt = 0;
      this._reconnectNow();
    }
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    clearInterval(this.pingTimer);
    removeEventListener("online", this._online);
    if (this.ws) this.ws.close(1000, "bye");
    this.ws = null;
  }
}

export function defaultUrl() {
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
}
