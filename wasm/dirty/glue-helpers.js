// Put into Pyodide's glue by instrument-glue.mjs, after `var Module=...;`
// (function declarations: hoisted, so the whole glue sees them). The map is
// isolation.mjs's: one byte per grain (2 ** __dirtyShift bytes, the wasm
// module's __dirty_grain, set with the base) at __dirtyBase in the heap.
// __dirtyOff: marking paths switched off on purpose (tests/limits only).
var __dirtyBase = 0, __dirtyShift = 12, __dirtyEnd = 0, __dirtyAll = false, __dirtyOff = {};
// A write into the map itself (the glue writes where the wasm code points
// it: a read() into a buffer, a string, a struct) comes only from an
// interpreter whose memory safety a run broke, and could clear the marks of
// what it wrote: it raises the escape flag, so the restores are full from
// then on (as a wasm store into the map sets __dirty_tampered, instrument.c).
function __dirtyInMap(off, end) {
  if (end > __dirtyBase && off < __dirtyEnd) __dirtyAll = true;
}
// Only grains inside the heap: a write outside it is dropped by the typed
// array, and a mark there would stay in the map (which is scanned up to the
// heap's size).
function __dirtyMark(off, len) {
  if (!__dirtyBase || !(len > 0)) return;
  var u8 = HEAPU8, last = Math.min(off + len, u8.length) - 1;
  __dirtyInMap(off, last + 1);
  for (var p = off >>> __dirtyShift, e = last >>> __dirtyShift; last >= 0 && p <= e; p++) u8[__dirtyBase + p] = 1;
}
function __dirtyI(i, size) {
  var o = i * size;
  if (__dirtyBase && !__dirtyOff.index && o >= 0 && o < HEAPU8.length) {
    __dirtyInMap(o, o + size);
    HEAPU8[__dirtyBase + (o >>> __dirtyShift)] = 1;
  }
  return i;
}
function __dirtyRel(x, n, d) {
  if (x === undefined) return d;
  x = Math.trunc(+x) || 0;
  return x < 0 ? Math.max(n + x, 0) : Math.min(x, n);
}
function __dirtySet(v, src, off) {
  var b = v.BYTES_PER_ELEMENT;
  if (!__dirtyOff.set) __dirtyMark(v.byteOffset + (off === undefined ? 0 : Math.trunc(+off) || 0) * b, src.length * b);
  return v.set(src, off);
}
function __dirtyFill(v, val, a, c) {
  var n = v.length, b = v.BYTES_PER_ELEMENT, s = __dirtyRel(a, n, 0), e = __dirtyRel(c, n, n);
  if (!__dirtyOff.fill) __dirtyMark(v.byteOffset + s * b, (e - s) * b);
  return v.fill(val, a, c);
}
function __dirtyCopy(v, t, a, c) {
  var n = v.length, b = v.BYTES_PER_ELEMENT, to = __dirtyRel(t, n, 0), s = __dirtyRel(a, n, 0), e = __dirtyRel(c, n, n);
  if (!__dirtyOff.copy) __dirtyMark(v.byteOffset + to * b, Math.min(e - s, n - to) * b);
  return v.copyWithin(t, a, c);
}
function __dirtySub(v, a, c) {
  var n = v.length, b = v.BYTES_PER_ELEMENT, s = __dirtyRel(a, n, 0), e = __dirtyRel(c, n, n);
  if (!__dirtyOff.sub) __dirtyMark(v.byteOffset + s * b, (e - s) * b);
  return v.subarray(a, c);
}
function __dirtyArg(v, off, len) {
  if (!__dirtyOff.arg) __dirtyMark(off >>> 0, len);
  return v;
}
function __dirtyEsc(x) {
  __dirtyAll = true;
  return x;
}
Module.__dirty = {
  setBase: function (b, shift) { __dirtyBase = b >>> 0; __dirtyShift = shift; __dirtyEnd = __dirtyBase + 2 ** (32 - shift); },
  takeAll: function () { var a = __dirtyAll; __dirtyAll = false; return a; },
  switchOff: function (what) { __dirtyOff[what] = true; },
};
