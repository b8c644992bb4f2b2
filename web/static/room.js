// A room's shared text in a <textarea>, kept converging by operational
// transform (ot.js): local edits apply at once and are sent through the OT
// client state machine (one operation in flight, later edits composed into a
// buffer); others' operations are transformed against what we have not had
// acknowledged yet and applied around the caret. Protocol: docs/protocol.md,
// "Rooms"; clients/python/switchboard_client/room.py does the same in Python.
//
// Everything counts Unicode code points, as the server does; the textarea's
// selection offsets are UTF-16 units and are converted at the edges.
//
// Others' cursors and selections are drawn over the textarea: a hidden mirror
// holds the same text with the same font and wrapping (it also sizes the
// editor, so the textarea never scrolls inside), and a Range over the mirror's
// text gives where each position is on the screen. Each cursor's name flag
// sits in the editor's right margin, on the cursor's line, over no text.

import { OTClient, Selection, cpIndex, cpLength, normalize, unitIndex } from "./ot.js";

const PRESENCE_MS = 150; // at most one presence message this often
const TYPING_MS = 1500; // "typing" this long after the last keystroke
const OP_GAP_MS = 25; // between operations: the server takes 50 edits a second per connection
const RATE_LIMITED_RETRY_MS = 1000;

const isHigh = (u) => u >= 0xd800 && u <= 0xdbff;
const isLow = (u) => u >= 0xdc00 && u <= 0xdfff;

// "Ben Okafor" -> "BO": a flag in a narrow margin.
function initials(name) {
  const words = String(name).trim().split(/\s+/).filter(Boolean);
  return words.slice(0, 2).map((w) => [...w][0].toUpperCase()).join("") || "?";
}

function newClientId() {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// The operation turning `old` into `now` (one replaced span: common prefix and
// suffix), in code points. `caret` (UTF-16, in `now`) is where the edit ended,
// which places an insert inside a run of equal characters where it was typed.
export function diff(old, now, caret = now.length) {
  const oldLen = old.length;
  const newLen = now.length;
  let suffix = 0;
  const maxSuffix = Math.min(oldLen, newLen, Math.max(0, newLen - caret));
  while (suffix < maxSuffix && old.charCodeAt(oldLen - 1 - suffix) === now.charCodeAt(newLen - 1 - suffix)) suffix++;
  if (suffix > 0 && isLow(old.charCodeAt(oldLen - suffix))) suffix--; // never half a character
  let prefix = 0;
  const maxPrefix = Math.min(oldLen, newLen) - suffix;
  while (prefix < maxPrefix && old.charCodeAt(prefix) === now.charCodeAt(prefix)) prefix++;
  if (prefix > 0 && isHigh(old.charCodeAt(prefix - 1))) prefix--;
  return normalize([
    cpLength(old.slice(0, prefix)),
    now.slice(prefix, newLen - suffix),
    -cpLength(old.slice(prefix, oldLen - suffix)),
    cpLength(old.slice(oldLen - suffix)),
  ]);
}

// An operation's inverse as far as positions go (the deleted text itself is
// not needed to move a cursor back over it).
function inverseShape(op) {
  return op.map((c) => (typeof c === "string" ? -cpLength(c) : c > 0 ? c : "\u0000".repeat(-c)));
}

export class Room {
  // live: a Live (live.js); id: the room's id; name: how others see us;
  // editor: the element holding textarea, mirror and marks; onChange(room):
  // called when anything shown around the editor changes.
  constructor({ live, id, name, editor, onChange = () => {} }) {
    this.live = live;
    this.id = id;
    this.topic = `room:${id}`;
    this.name = name;
    this.clientId = newClientId();
    this.onChange = onChange;
    this.textarea = editor.querySelector("textarea");
    this.mirror = editor.querySelector(".mirror");
    this.marks = editor.querySelector(".marks");
    this.editor = editor;
    this.mirrorText = document.createTextNode("");
    this.mirror.replaceChildren(this.mirrorText, document.createTextNode("\u200b"));

    this.ot = null; // an OTClient once the room's text is here
    this.joined = false; // subscribed on the current connection
    this.meta = null; // the room's description from the snapshot
    this.role = null;
    this.participants = new Map(); // client_id -> {client_id, name, colour, role, status, selection (ours, in code points)}
    this.outstandingEdits = 0; // local edits in the operation in flight...
    this.bufferedEdits = 0; // ...and in the buffer
    this.error = null; // the last refusal or subscription error, shown
    this.lost = null; // our copy when unsent edits were lost to a reset

    this.lastOpAt = 0;
    this.opTimer = null;
    this.presenceTimer = null;
    this.typingTimer = null;
    this.lastPresenceAt = 0;
    this.sentSelection = null; // the selection last sent (ours, moved with the text)
    this.sentStatus = "active";
    this.typingUntil = 0;
    this.touched = false; // has the user put a caret in the text yet

    this.textarea.readOnly = true;
    this.textarea.addEventListener("input", () => this._input());
    this.textarea.addEventListener("focus", () => { this.touched = true; this._presenceSoon(); });
    this.textarea.addEventListener("select", () => this._presenceSoon());
    document.addEventListener("selectionchange", () => {
      if (document.activeElement === this.textarea) this._presenceSoon();
    });
    document.addEventListener("visibilitychange", () => this._presenceSoon());
    new ResizeObserver(() => this.render()).observe(editor);

    this.handle = this._subscribe();
  }

  // -- what the page shows ----------------------------------------------------

  get pending() {
    return this.outstandingEdits + this.bufferedEdits;
  }

  get text() {
    return this.ot ? this.ot.text : "";
  }

  // -- the subscription -------------------------------------------------------

  _subscribe() {
    return this.live.subscribe(this.topic, {
      params: () => ({ client_id: this.clientId, name: this.name }),
      onSnapshot: (snapshot) => this._snapshot(snapshot),
      onResumed: () => this._resumed(),
      onEvent: (event) => this._event(event),
      onPresence: (message) => this._presence(message),
      onError: (error) => {
        if (error.code === "connection_lost") return; // subscribed again on the next connection
        this.error = error;
        this.onChange(this);
      },
    });
  }

  // The connection dropped (live.js tells the page); sends wait for the resume.
  disconnected() {
    this.joined = false;
    this.onChange(this);
  }

  _snapshot(snapshot) {
    const previous = this.ot;
    if (previous && previous.state !== "synchronized" && previous.text !== snapshot.text) {
      // Away too long to replay: unsent edits cannot be placed any more. The
      // room's text wins; our copy stays on the page to copy from.
      this.lost = previous.text;
    }
    const caret = this._selection();
    // One session: operation ids keep counting, so the server never takes a
    // new operation for a resend of an old one.
    this.ot = new OTClient(snapshot.rev, snapshot.text, previous ? previous.nextId : 1);
    this.handle.seq = snapshot.rev;
    this.meta = snapshot.room;
    this.outstandingEdits = this.bufferedEdits = 0;
    this.joined = true;
    this.error = null;
    this.participants.clear(); // the full list follows
    this._show(caret && this._clamp(caret));
    this.sentSelection = null;
    this._presenceSoon();
    this.onChange(this);
  }

  _resumed() {
    // The operations we missed follow as events (our own among them count as
    // acknowledgements); the one still unacknowledged goes again with its id.
    this.joined = true;
    this.error = null;
    this.sentSelection = null; // the server forgot our cursor with the connection
    if (this.ot && this.ot.resend()) this._sendOutstanding();
    this._presenceSoon();
    this.onChange(this);
  }

  _event(event) {
    if (event.name !== "doc.op" || !this.ot) return;
    const data = event.data;
    const ot = this.ot;
    if (data.rev <= ot.rev) return; // seen already
    if (data.rev !== ot.rev + 1) {
      this._resync(); // should not happen: start over from the room's text
      return;
    }
    if (data.client_id === this.clientId) {
      this._acked(ot, data.rev); // ours, replayed after a reconnect: the lost ack
      return;
    }
    const selection = this._selection();
    const op = ot.remote(data.op);
    for (const p of this.participants.values()) {
      if (p.selection) p.selection = p.selection.transform(op, p.client_id === data.client_id);
    }
    if (this.sentSelection) this.sentSelection = this.sentSelection.transform(op);
    this._show(selection && selection.transform(op));
  }

  _presence(message) {
    if (message.participants) {
      this.participants.clear();
      for (const p of message.participants) this.participants.set(p.client_id, this._participant(p));
    } else if (message.left) {
      this.participants.delete(message.left);
    } else if (message.participant) {
      const p = message.participant;
      this.participants.set(p.client_id, this._participant(p));
    }
    const me = this.participants.get(this.clientId);
    if (me) {
      this.role = me.role;
      this.textarea.readOnly = !this.ot || me.role === "viewer";
    }
    this.render();
    this.onChange(this);
  }

  // A participant as the server sent it, with the selection brought into our
  // copy: the server's text at our revision, plus our unacknowledged edits.
  _participant(p) {
    let selection = null;
    if (p.selection && p.client_id !== this.clientId && this.ot) {
      selection = new Selection(p.selection.anchor, p.selection.head);
      if (this.ot.outstanding) selection = selection.transform(this.ot.outstanding.op);
      if (this.ot.buffer) selection = selection.transform(this.ot.buffer);
      selection = this._clamp(selection);
    }
    return { ...p, selection };
  }

  // -- local edits --------------------------------------------------------------

  _input() {
    const ot = this.ot;
    if (!ot) return;
    const now = this.textarea.value;
    if (now === ot.text) return;
    const op = diff(ot.text, now, this.textarea.selectionEnd);
    for (const p of this.participants.values()) {
      if (p.selection && p.client_id !== this.clientId) p.selection = p.selection.transform(op);
    }
    if (this.sentSelection) this.sentSelection = this.sentSelection.transform(op, true);
    const out = ot.local(op);
    if (out) {
      this.outstandingEdits = 1;
      this._transmit();
    } else {
      this.bufferedEdits += 1;
    }
    this.touched = true;
    this.typingUntil = Date.now() + TYPING_MS;
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this._presenceSoon(), TYPING_MS + 10);
    this._presenceSoon();
    this.render();
    this.onChange(this);
  }

  // Send the operation in flight, spaced out under the server's edit rate.
  _transmit() {
    if (this.opTimer) return;
    const wait = this.lastOpAt + OP_GAP_MS - Date.now();
    if (wait > 0) {
      this.opTimer = setTimeout(() => {
        this.opTimer = null;
        this._sendOutstanding();
      }, wait);
    } else {
      this._sendOutstanding();
    }
  }

  _sendOutstanding() {
    const ot = this.ot;
    if (!ot || !ot.outstanding || !this.joined) return; // sent when the room resumes
    // Others' operations may have come in since it was made (it waited for its
    // turn, or for the connection): send it as transformed over them, based
    // on the revision we are at, or the server would transform it twice.
    const out = ot.resend();
    this.lastOpAt = Date.now();
    const message = { type: "doc.op", room: this.id, rev: out.rev, op: out.op, client_op_id: out.clientOpId };
    this.live.request(message).then(
      (ack) => this._acked(ot, ack.rev),
      (error) => this._refused(ot, out, error),
    );
  }

  _acked(ot, rev) {
    if (ot !== this.ot) return; // from before a reset
    const seen = ot.rev;
    const next = ot.ack(rev);
    if (ot.rev === seen) return; // a resend confirmed again
    if (rev !== ot.rev) {
      this._resync();
      return;
    }
    // No event comes for our own operation: the topic's seq moves with the ack,
    // or live.js would take the next event for a gap.
    this.handle.seq = ot.rev;
    this.outstandingEdits = next ? this.bufferedEdits : 0;
    this.bufferedEdits = 0;
    if (next) this._transmit();
    this.onChange(this);
  }

  _refused(ot, out, error) {
    // From before a reset, or a second copy of an operation since confirmed.
    if (ot !== this.ot || !ot.outstanding || ot.outstanding.clientOpId !== out.clientOpId) return;
    if (error.code === "connection_lost") return; // resent when the room resumes
    if (error.code === "rate_limited") {
      setTimeout(() => {
        if (this.ot === ot && ot.outstanding && ot.outstanding.clientOpId === out.clientOpId) this._sendOutstanding();
      }, RATE_LIMITED_RETRY_MS);
      return;
    }
    // Refused (too large, too old, not allowed...): nothing was applied. Start
    // again from the room's text; the edit is kept on the page to copy.
    this.error = error;
    this._resync();
  }

  // Take the room's text afresh: subscribe again without `since` on a new
  // connection (frames still in flight on the old one are dropped with it).
  _resync() {
    this.joined = false;
    this.handle.seq = null;
    this.live.restart();
    this.onChange(this);
  }

  // -- presence -----------------------------------------------------------------

  _presenceSoon() {
    if (this.presenceTimer) return;
    const wait = Math.max(0, this.lastPresenceAt + PRESENCE_MS - Date.now());
    this.presenceTimer = setTimeout(() => {
      this.presenceTimer = null;
      this._sendPresence();
    }, wait);
  }

  _sendPresence() {
    const ot = this.ot;
    if (!ot || !this.joined) return;
    const selection = this.touched ? this._selection() : null;
    const status = document.hidden ? "idle" : Date.now() < this.typingUntil ? "typing" : "active";
    const same = selection === null ? this.sentSelection === null : selection.equals(this.sentSelection);
    if (same && status === this.sentStatus) return;
    // The server reads the selection at our revision: take out what it has not
    // applied yet (the buffer, then the operation in flight); it moves the
    // cursor over our operations itself when it applies them.
    let theirs = selection;
    if (theirs && ot.buffer) theirs = theirs.transform(inverseShape(ot.buffer));
    if (theirs && ot.outstanding) theirs = theirs.transform(inverseShape(ot.outstanding.op));
    const sent = this.live.send({
      type: "presence",
      room: this.id,
      rev: ot.rev,
      selection: theirs && { anchor: theirs.anchor, head: theirs.head },
      status,
    });
    if (!sent) return;
    this.lastPresenceAt = Date.now();
    this.sentSelection = selection;
    this.sentStatus = status;
    const me = this.participants.get(this.clientId);
    if (me && me.status !== status) {
      me.status = status;
      this.onChange(this);
    }
  }

  // -- the textarea ---------------------------------------------------------------

  // Our selection in code points (anchor, head), or null before the text is here.
  _selection() {
    const ta = this.textarea;
    if (!this.ot) return null;
    const text = ta.value;
    const start = cpIndex(text, ta.selectionStart);
    const end = cpIndex(text, ta.selectionEnd);
    return ta.selectionDirection === "backward" ? new Selection(end, start) : new Selection(start, end);
  }

  _clamp(selection) {
    const n = cpLength(this.ot.text);
    return new Selection(Math.min(selection.anchor, n), Math.min(selection.head, n));
  }

  // Show the OT client's text, with our selection where it moved to.
  _show(selection) {
    const ta = this.textarea;
    const text = this.ot.text;
    if (ta.value !== text) ta.value = text;
    if (selection) {
      const anchor = unitIndex(text, selection.anchor);
      const head = unitIndex(text, selection.head);
      ta.setSelectionRange(Math.min(anchor, head), Math.max(anchor, head), anchor > head ? "backward" : "forward");
    }
    const me = this.participants.get(this.clientId);
    ta.readOnly = Boolean(me && me.role === "viewer");
    this.render();
  }

  // -- others' cursors ------------------------------------------------------------

  render() {
    const text = this.textarea.value;
    if (this.mirrorText.data !== text) this.mirrorText.data = text;
    const box = this.editor.getBoundingClientRect();
    const style = getComputedStyle(this.mirror);
    const geometry = {
      box,
      left: parseFloat(style.paddingLeft) + parseFloat(style.borderLeftWidth),
      top: parseFloat(style.paddingTop) + parseFloat(style.borderTopWidth),
      line: parseFloat(style.lineHeight) || 24,
    };
    // The margin right of the text (the padding beyond the left one).
    const margin = Math.max(0, parseFloat(style.paddingRight) - parseFloat(style.paddingLeft));
    const marginLeft = box.width - parseFloat(style.borderRightWidth) - margin;
    const flagsAt = new Map(); // line top -> flags already on it
    const marks = [];
    for (const p of this.participants.values()) {
      if (p.client_id === this.clientId || !p.selection) continue;
      const anchor = unitIndex(text, p.selection.anchor);
      const head = unitIndex(text, p.selection.head);
      if (anchor !== head) {
        const range = document.createRange();
        range.setStart(this.mirrorText, Math.min(anchor, head));
        range.setEnd(this.mirrorText, Math.max(anchor, head));
        for (const r of range.getClientRects()) {
          const mark = document.createElement("div");
          mark.className = "mark-range";
          mark.style.left = `${r.left - box.left}px`;
          mark.style.top = `${r.top - box.top}px`;
          mark.style.width = `${Math.max(r.width, 4)}px`;
          mark.style.height = `${r.height}px`;
          mark.style.backgroundColor = p.colour;
          marks.push(mark);
        }
      }
      const at = this._caretAt(head, geometry);
      const caret = document.createElement("div");
      caret.className = "mark-caret";
      caret.dataset.client = p.client_id;
      caret.dataset.at = String(p.selection.head);
      caret.style.left = `${at.left}px`;
      caret.style.top = `${at.top}px`;
      caret.style.height = `${at.height}px`;
      caret.style.backgroundColor = p.colour;
      const flag = document.createElement("span");
      flag.className = "mark-flag";
      flag.textContent = margin >= 80 ? p.name : initials(p.name);
      flag.style.backgroundColor = p.colour;
      // In the margin, on the caret's line; a second flag on a line goes below.
      const line = Math.round(at.top);
      const before = flagsAt.get(line) || 0;
      flagsAt.set(line, before + 1);
      flag.style.left = `${marginLeft - at.left}px`;
      flag.style.top = `calc(${before} * 1.5em)`;
      flag.style.maxWidth = `${Math.max(0, margin - 8)}px`;
      caret.append(flag);
      marks.push(caret);
    }
    this.marks.replaceChildren(...marks);
  }

  // Where a caret at UTF-16 offset `unit` of the mirror's text is, relative to
  // the editor. An empty line has no box to measure: step back over the line
  // breaks to the last character that has one, then down as many lines.
  _caretAt(unit, { box, left, top, line }) {
    const text = this.mirrorText.data;
    const range = document.createRange();
    let lines = 0;
    for (let u = unit; ; ) {
      range.setStart(this.mirrorText, u);
      range.collapse(true);
      const rects = range.getClientRects();
      if (rects.length) {
        const r = rects[0];
        return {
          left: lines ? left : r.left - box.left,
          top: r.top - box.top + lines * line,
          height: r.height || line,
        };
      }
      if (u === 0) break;
      if (text.charCodeAt(u - 1) === 10) lines++;
      u -= 1;
    }
    return { left, top: top + lines * line, height: line };
  }
}
