// The interpreter's entropy (wasi random_get: os.urandom, random.seed,
// secrets, the hash secret), served from a pool that node:crypto refills
// POOL bytes at a time. Emscripten's random_get calls randomFillSync once
// per call, and libc's getentropy asks for at most 256 bytes a call, so a
// stateless run's `random` seeding (2,496 bytes) took ten of them, ~0.12 ms
// of every trivial request. The bytes are the same CSPRNG output, each
// handed out once and never again; the pool lives in this thread's JS heap,
// outside the wasm heap, where no run can read it.
//
// pooledRandomGet(memory, mark) -> random_get(buf, size): `memory()` is the
// wasm memory; `mark(off, len)` marks the heap range written for the
// tracked restore (isolation.mjs), before the bytes land.
import { randomFillSync } from "node:crypto";

const POOL = 64 * 1024;

export function pooledRandomGet(memory, mark) {
  const pool = Buffer.allocUnsafe(POOL);
  let at = POOL; // nothing in the pool yet
  return (buf, size) => {
    const heap = new Uint8Array(memory().buffer);
    // The range as the glue's subarray() took it: clamped to the heap.
    const off = Math.min(buf >>> 0, heap.length);
    const end = Math.min(off + (size >>> 0), heap.length);
    if (end <= off) return 0;
    mark(off, end - off);
    if (end - off > POOL / 4) {
      // Big requests straight from the source: no copy.
      randomFillSync(heap, off, end - off);
      return 0;
    }
    for (let p = off; p < end; ) {
      if (at === POOL) {
        randomFillSync(pool);
        at = 0;
      }
      const n = Math.min(end - p, POOL - at);
      pool.copy(heap, p, at, at + n);
      // Served: never again.
      pool.fill(0, at, at + n);
      at += n;
      p += n;
    }
    return 0;
  };
}
