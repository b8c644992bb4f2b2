// Operational transform for plain text: a port of switchboard_ot (clients/python/switchboard_ot), the
// same algorithms with the same results (tests/web/test_ot_js.py compares
// them on random cases).
//
// An operation is an array of components walking the whole document:
//   a positive integer retains that many characters,
//   a string inserts it,
//   a negative integer deletes that many characters.
// Positions and lengths count Unicode code points (what Array.from(text)
// counts), never UTF-16 units: "😀" is one character here, as on the server.
// Strings stay JavaScript strings; the helpers below walk them by code point.

export class OTError extends Error {
  constructor(message) {
    super(message);
    this.name = "OTError";
  }
}

// -- code points -------------------------------------------------------------

const isHigh = (u) => u >= 0xd800 && u <= 0xdbff;
const isLow = (u) => u >= 0xdc00 && u <= 0xdfff;

// How many code points `text` holds (Array.from(text).length, without the array).
export function cpLength(text) {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    if (isHigh(text.charCodeAt(i)) && i + 1 < text.length && isLow(text.charCodeAt(i + 1))) i++;
    n++;
  }
  return n;
}

// The UTF-16 index `count` code points after UTF-16 index `from` (at most the end).
export function unitIndex(text, count, from = 0) {
  let i = from;
  while (count > 0 && i < text.length) {
    i += isHigh(text.charCodeAt(i)) && i + 1 < text.length && isLow(text.charCodeAt(i + 1)) ? 2 : 1;
    count--;
  }
  return i;
}

// How many code points the first `units` UTF-16 units of `text` hold (a
// position that falls inside a surrogate pair counts the pair as passed).
export function cpIndex(text, units) {
  let n = 0;
  for (let i = 0; i < units && i < text.length; i++) {
    if (isHigh(text.charCodeAt(i)) && i + 1 < text.length && isLow(text.charCodeAt(i + 1))) i++;
    n++;
  }
  return n;
}

// text[start:end] in code points, as Python slices a str (end omitted: to the end).
export function cpSlice(text, start, end) {
  const from = unitIndex(text, start);
  return end === undefined ? text.slice(from) : text.slice(from, unitIndex(text, end - start, from));
}

const isInsert = (c) => typeof c === "string";
const isRetain = (c) => typeof c === "number" && c > 0;
const isDelete = (c) => typeof c === "number" && c < 0;

// -- building and checking ---------------------------------------------------

// Appends components in normal form (the ot.js TextOperation methods).
class Builder {
  constructor() {
    this.ops = [];
  }

  retain(n) {
    if (n <= 0) return;
    const ops = this.ops;
    const last = ops[ops.length - 1];
    if (isRetain(last)) ops[ops.length - 1] = last + n;
    else ops.push(n);
  }

  insert(text) {
    if (!text) return;
    const ops = this.ops;
    const last = ops[ops.length - 1];
    if (isInsert(last)) {
      ops[ops.length - 1] = last + text;
    } else if (isDelete(last)) {
      // Insert before a delete at the same place (normal form).
      const before = ops.length >= 2 ? ops[ops.length - 2] : undefined;
      if (isInsert(before)) ops[ops.length - 2] = before + text;
      else ops.splice(ops.length - 1, 0, text);
    } else {
      ops.push(text);
    }
  }

  delete(n) {
    if (n <= 0) return;
    const ops = this.ops;
    const last = ops[ops.length - 1];
    if (isDelete(last)) ops[ops.length - 1] = last - n;
    else ops.push(-n);
  }
}

// The same operation in normal form.
export function normalize(op) {
  const out = new Builder();
  for (const c of op) {
    if (isInsert(c)) out.insert(c);
    else if (c > 0) out.retain(c);
    else out.delete(-c);
  }
  return out.ops;
}

// `op` as an operation, or OTError saying what is wrong with it.
export function check(op, { maxComponents = 10_000 } = {}) {
  if (!Array.isArray(op)) throw new OTError("an operation is a list of components");
  if (op.length > maxComponents) throw new OTError(`an operation has at most ${maxComponents} components`);
  op.forEach((c, i) => {
    if (typeof c === "number" && Number.isInteger(c)) {
      if (c === 0) throw new OTError(`component ${i} is 0: retain with n > 0, delete with -n < 0`);
    } else if (typeof c === "string") {
      if (!c) throw new OTError(`component ${i} inserts nothing`);
    } else {
      throw new OTError(`component ${i} must be an integer (retain/delete) or a string (insert)`);
    }
  });
  return op;
}

// [base length, target length]: the document's length before and after.
export function lengths(op) {
  let base = 0;
  let target = 0;
  for (const c of op) {
    if (isInsert(c)) {
      target += cpLength(c);
    } else if (c > 0) {
      base += c;
      target += c;
    } else {
      base -= c;
    }
  }
  return [base, target];
}

// How many characters an operation inserts.
export function inserted(op) {
  let n = 0;
  for (const c of op) if (isInsert(c)) n += cpLength(c);
  return n;
}

export function isNoop(op) {
  return op.every(isRetain);
}

// -- the algorithms ----------------------------------------------------------

// The document after the operation; OTError if it does not fit.
export function apply(doc, op) {
  const [base] = lengths(op);
  const length = cpLength(doc);
  if (base !== length) throw new OTError(`the operation covers ${base} characters but the document has ${length}`);
  const parts = [];
  let at = 0; // a UTF-16 index into doc
  for (const c of op) {
    if (isInsert(c)) {
      parts.push(c);
    } else if (c > 0) {
      const end = unitIndex(doc, c, at);
      parts.push(doc.slice(at, end));
      at = end;
    } else {
      at = unitIndex(doc, -c, at);
    }
  }
  return parts.join("");
}

// Python's next(iterator, None) over an array: undefined at the end.
function iterate(op) {
  let i = 0;
  return () => (i < op.length ? op[i++] : undefined);
}

// What is left of component `c` after `n` characters of it, or the next one.
function rest(c, n, more) {
  if (isInsert(c)) return n < cpLength(c) ? cpSlice(c, n) : more();
  if (c > 0) return n < c ? c - n : more();
  return n < -c ? c + n : more();
}

const size = (c) => (isInsert(c) ? cpLength(c) : Math.abs(c));

// One operation with the effect of `a` then `b`.
export function compose(a, b) {
  if (lengths(a)[1] !== lengths(b)[0]) {
    throw new OTError("cannot compose: the first operation's result is not the second's base");
  }
  const out = new Builder();
  const ia = iterate(a);
  const ib = iterate(b);
  let x = ia();
  let y = ib();
  while (x !== undefined || y !== undefined) {
    if (isDelete(x)) { // a deletes: b never saw it
      out.delete(-x);
      x = ia();
      continue;
    }
    if (isInsert(y)) { // b inserts: a never saw it
      out.insert(y);
      y = ib();
      continue;
    }
    if (x === undefined || y === undefined) throw new OTError("cannot compose: the operations do not line up");
    const n = Math.min(size(x), size(y));
    if (isInsert(x)) {
      if (y > 0) out.insert(cpSlice(x, 0, n)); // inserted, then kept
      // inserted, then deleted: nothing
    } else if (y > 0) { // kept, kept
      out.retain(n);
    } else { // kept, then deleted
      out.delete(n);
    }
    x = rest(x, n, ia);
    y = rest(y, n, ib);
  }
  return out.ops;
}

// For concurrent `a` and `b` on one document: [a', b'] such that
// apply(apply(d, a), b') === apply(apply(d, b), a'). Ties go to `a`.
export function transform(a, b) {
  if (lengths(a)[0] !== lengths(b)[0]) {
    throw new OTError("cannot transform: the operations are not on the same document");
  }
  const a2 = new Builder();
  const b2 = new Builder();
  const ia = iterate(a);
  const ib = iterate(b);
  let x = ia();
  let y = ib();
  while (x !== undefined || y !== undefined) {
    if (isInsert(x)) {
      a2.insert(x);
      b2.retain(cpLength(x));
      x = ia();
      continue;
    }
    if (isInsert(y)) {
      a2.retain(cpLength(y));
      b2.insert(y);
      y = ib();
      continue;
    }
    if (x === undefined || y === undefined) throw new OTError("cannot transform: the operations do not line up");
    const n = Math.min(Math.abs(x), Math.abs(y));
    if (x > 0 && y > 0) {
      a2.retain(n);
      b2.retain(n);
    } else if (x < 0 && y > 0) { // a deletes what b keeps
      a2.delete(n);
    } else if (y < 0 && x > 0) { // b deletes what a keeps
      b2.delete(n);
    }
    // both delete it: nothing is left to do on either side
    x = rest(x, n, ia);
    y = rest(y, n, ib);
  }
  return [a2.ops, b2.ops];
}

// The operation that undoes `op` applied to `doc`.
export function invert(op, doc) {
  if (lengths(op)[0] !== cpLength(doc)) throw new OTError("cannot invert: the operation does not fit the document");
  const out = new Builder();
  let at = 0; // a UTF-16 index into doc
  for (const c of op) {
    if (isInsert(c)) {
      out.delete(cpLength(c));
    } else if (c > 0) {
      out.retain(c);
      at = unitIndex(doc, c, at);
    } else {
      const end = unitIndex(doc, -c, at);
      out.insert(doc.slice(at, end));
      at = end;
    }
  }
  return out.ops;
}

// Where a position (a cursor) is after `op`. Text inserted exactly at the
// position pushes it along when the operation is the position's owner's own
// typing (`own`); someone else's insert there leaves it before the new text.
export function transformIndex(index, op, own = false) {
  let moved = index;
  let left = index;
  for (const c of op) {
    if (isInsert(c)) {
      if (left === 0 && !own) break;
      moved += cpLength(c);
    } else if (c > 0) {
      left -= c;
    } else {
      moved -= Math.min(left, -c);
      left += c;
    }
    if (left < 0) break;
  }
  return moved;
}

// A cursor (anchor === head) or a selected range, in code points.
export class Selection {
  constructor(anchor, head = anchor) {
    this.anchor = anchor;
    this.head = head;
    Object.freeze(this);
  }

  transform(op, own = false) {
    return new Selection(transformIndex(this.anchor, op, own), transformIndex(this.head, op, own));
  }

  equals(other) {
    return other instanceof Selection && other.anchor === this.anchor && other.head === this.head;
  }
}

// -- the client's side -------------------------------------------------------

// An operation to send: its base revision and the client's id for it.
function outgoing(rev, op, clientOpId) {
  return Object.freeze({ rev, op, clientOpId });
}

// The client state machine (ot.js Client), sans-IO, as OTClient in ot.py:
//   synchronized: nothing unacknowledged;
//   awaiting_confirm: one operation sent, not yet acknowledged;
//   awaiting_with_buffer: one sent, and later local edits composed into one
//     buffered operation, sent when the first is acknowledged.
// Feed it local edits (local), the server's operations (remote) and
// acknowledgements (ack); send what they return. After a reconnect, resend()
// gives the unacknowledged operation again with the same clientOpId.
// One OTClient is one editing session: operation ids start at `nextId` (1).
export class OTClient {
  constructor(rev, text = "", nextId = 1) {
    this.rev = rev; // the server revision this client has seen
    this.text = text;
    this.outstanding = null; // {rev, op, clientOpId}
    this.buffer = null; // an operation
    this.nextId = nextId;
  }

  get state() {
    if (this.outstanding === null) return "synchronized";
    return this.buffer === null ? "awaiting_confirm" : "awaiting_with_buffer";
  }

  _send(op) {
    const out = outgoing(this.rev, op, this.nextId);
    this.nextId += 1;
    this.outstanding = out;
    return out;
  }

  // A local edit, already applied by the caller's editor: what to send now, if anything.
  local(op) {
    op = normalize(op); // the form the server keeps; transforms read it in order
    this.text = apply(this.text, op);
    if (this.outstanding === null) return this._send(op);
    this.buffer = this.buffer === null ? op : compose(this.buffer, op);
    return null;
  }

  // Someone else's operation from the server: what to apply locally.
  remote(op) {
    if (this.outstanding !== null) {
      const [mine, theirs] = transform(this.outstanding.op, op);
      op = theirs;
      this.outstanding = outgoing(this.outstanding.rev, mine, this.outstanding.clientOpId);
      if (this.buffer !== null) [this.buffer, op] = transform(this.buffer, op);
    }
    this.rev += 1;
    this.text = apply(this.text, op);
    return op;
  }

  // The server applied our outstanding operation: what to send next, if
  // anything. `rev` is the revision the acknowledgement names: one this
  // client has already seen (a resent operation confirmed again) is ignored.
  ack(rev = null) {
    if (rev !== null && rev !== undefined && rev <= this.rev) return null;
    if (this.outstanding === null) throw new OTError("an acknowledgement with nothing outstanding");
    this.rev += 1;
    this.outstanding = null;
    if (this.buffer !== null) {
      const buffer = this.buffer;
      this.buffer = null;
      return this._send(buffer);
    }
    return null;
  }

  // After a reconnect: the unacknowledged operation, based on the revision we know.
  resend() {
    if (this.outstanding === null) return null;
    this.outstanding = outgoing(this.rev, this.outstanding.op, this.outstanding.clientOpId);
    return this.outstanding;
  }
}
