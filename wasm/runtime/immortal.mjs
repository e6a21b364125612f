// Makes every live object of an interpreter immortal (PEP 683): twice per
// worker build, with the same code. Once at build time, on the start-up
// snapshot's objects, which are then frozen out of the collector's reach
// (snapshot.mjs); and once at each worker's pristine capture (isolation.mjs),
// on what the boot made after the restore, which is all the collector still
// tracks. scopebox_worker/immortal.py says why, and finds the objects.
//
// `helper` is that Python module (a PyProxy, or anything with its four
// names); `heap32` returns an Int32Array over the whole wasm memory. The
// counts are written into the heap from here: Python has no way to set one.
// The layout is checked on a probe first: its count read at its address, as
// a 32-bit word at offset 0 (ob_refcnt of a 32-bit, non-free-threaded
// build); any other value and nothing is written. Returns how many objects
// were made immortal.
export function immortalizeLive(helper, heap32) {
  const found = helper.candidates();
  const [probe, count, ...lists] = found.toJs();
  found.destroy();
  const heap = heap32();
  if (heap[probe >>> 2] !== count) throw new Error(`immortalize: unexpected object layout (${heap[probe >>> 2]} at the probe, ${count} expected)`);
  const IMMORTAL = helper.IMMORTAL, MORTAL_MAX = helper.MORTAL_MAX;
  // Each list's items, read in place: a PyListObject is (ob_refcnt,
  // ob_type, ob_size, ob_item) on a 32-bit build, checked against the
  // length and first item Python gave.
  const addrs = [];
  for (let k = 0; k < lists.length; k += 3) {
    const [list, length, first] = lists.slice(k, k + 3);
    const items = heap[(list >>> 2) + 3] >>> 0;
    if (heap[(list >>> 2) + 2] !== length || (length > 0 && heap[items >>> 2] >>> 0 !== first)) throw new Error("immortalize: unexpected list layout");
    addrs.push(new Uint32Array(heap.buffer, items, length));
  }
  // Immortal already (statics, interned strings, repeats): left as they
  // are. One indexed pass (~145,000 addresses for the snapshot or a cold
  // boot, a few thousand at a capture after a restore): iterating the
  // views ran 30-100 ms, unoptimised. A count that is no count ends the
  // boot (or the build) with the writes made so far, which no run ever sees.
  let n = 0;
  for (const view of addrs) {
    for (let k = 0; k < view.length; k++) {
      const w = view[k] >>> 2;
      const c = heap[w];
      if (!(c > 0)) throw new Error(`immortalize: count ${c} at ${view[k]}`);
      if (c >= MORTAL_MAX) continue;
      heap[w] = IMMORTAL;
      n++;
    }
  }
  helper.confirm();
  return n;
}
