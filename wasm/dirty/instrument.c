/* Build-time instrumentation of a wasm module's memory writes (isolation.mjs,
 * "tracked restore"): every instruction that can write linear memory also
 * marks the grain (2 ** GRAIN_SHIFT bytes, 4 KiB) it writes in a dirty byte
 * map, so that the reset after a stateless run copies back only the grains a
 * run could have changed.
 *
 *   instrument [--side] in.wasm out.wasm
 *
 * The map lives in linear memory at the address in the global __dirty_base
 * (0 until the runtime allocates the map, after start-up: every mark is
 * guarded by it, so the stores of instantiation and start-up mark nothing;
 * they all happen before the pristine image is taken, which makes them part
 * of it). The main module defines and exports the global; a side module
 * (--side, loaded by dlopen into the same memory) imports it as
 * env.__dirty_base, which Emscripten's dynamic linker resolves to the main
 * module's export.
 *
 * What is rewritten, and how:
 * - every store (plain, atomic; there are no SIMD stores in Pyodide, and a
 *   module with any is refused): its address operand P becomes
 *     (block (local.set $a P)
 *            (if (local.tee $b base) (i32.store8 ($b + (($a+offset)>>GRAIN_SHIFT)) 1))
 *            (local.get $a))
 *   or, when P is a local.get or a constant (no side effect, same value when
 *   read twice with nothing in between), P itself twice. P is evaluated once,
 *   before the stored value, as before. A store of more than one byte marks
 *   the grains of its first and of its last byte (wasm allows any alignment,
 *   so even a "naturally aligned" store may cross a grain).
 *   $a and $b are two i32 locals added to each function that stores (it is
 *   made anew with them: binaryen 108's C API cannot add a local to a
 *   function). They were globals: a global is a load or a store of the
 *   instance's memory at each use, where V8 keeps a local in a register,
 *   and the mark is on every store the interpreter makes. Each is read right
 *   after it is set with nothing that can run in between (the mark is plain
 *   stores), and nested stores inside P finish before it is set, so one pair
 *   serves all of a function's stores.
 * - atomic read-modify-write and compare-exchange: the same, on their address.
 * - memory.fill / memory.copy: replaced by calls of helpers taking the same
 *   operands in the same order, which mark the whole destination range, then
 *   do the operation.
 * - memory.init, SIMD stores and any expression kind this tool does not know:
 *   refused (exit 1), never passed through unmarked.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <binaryen-c.h>

#define BASE "__dirty_base"
#define RANGE "__dirty_range"
#define FILL "__dirty_fill"
#define COPY "__dirty_copy"
#define TAMPER "__dirty_tampered"
/* The map's grain: one byte of the map per 4 KiB of memory. A trivial run
 * writes in some hundreds of places all over the heap (allocator pools,
 * reference counts, caches): `1+1` marks 460 grains of 4 KiB in 315 runs
 * (1.8 MiB to copy back), or 680 of 1 KiB in 456 runs (0.7 MiB). The copy
 * costs per place more than per byte (each is a cache and TLB miss in the
 * pristine image), so 1 KiB restored no faster, and its map is 4 times the
 * size to scan. Exported as the global __dirty_grain, which the runtime and
 * the glue (isolation.mjs, glue-helpers.js) read: this is the one place it
 * is set.
 * The map's size (MAP_BYTES): one byte per grain of a 4 GiB memory, so that
 * every mark lands in the map whatever the address. */
#ifndef GRAIN_SHIFT
#define GRAIN_SHIFT 12
#endif
#define GRAIN "__dirty_grain"
#define MAP_BYTES (1u << (32 - GRAIN_SHIFT))
/* The length of Pyodide's JS reference table (libhiwire's, a wasm table of
 * externrefs), as an exported function: the reset puts the table's slots
 * back (isolation.mjs) and needs its length, which libhiwire gives only by
 * trapping past the end (tens of microseconds a reset). Not the table
 * itself: binaryen 108 writes every table export as table 0. */
#define HIWIRE_GET "_hiwire_get"
#define HIWIRE_SIZE "__hiwire_size"

static BinaryenModuleRef mod;
static const char *fname;
static long n_stores, n_rmw, n_bulk;
/* The function being walked: its added locals $a (the address) and $b (the
 * map's base), and whether any mark uses them. */
static BinaryenIndex loc_a, loc_b;
static int uses_locals;

static void die(const char *what) {
    fprintf(stderr, "instrument: %s (in function %s)\n", what, fname ? fname : "?");
    exit(1);
}

static BinaryenExpressionRef i32c(int32_t v) {
    return BinaryenConst(mod, BinaryenLiteralInt32(v));
}
static BinaryenExpressionRef base(void) {
    return BinaryenGlobalGet(mod, BASE, BinaryenTypeInt32());
}
static BinaryenExpressionRef local_b(void) {
    return BinaryenLocalGet(mod, loc_b, BinaryenTypeInt32());
}

/* (i32.store8 ($b + ((addr + offset) >> GRAIN_SHIFT)) 1) */
static BinaryenExpressionRef mark_one(BinaryenExpressionRef addr, uint32_t offset) {
    if (offset)
        addr = BinaryenBinary(mod, BinaryenAddInt32(), addr, i32c((int32_t)offset));
    BinaryenExpressionRef grain = BinaryenBinary(mod, BinaryenShrUInt32(), addr, i32c(GRAIN_SHIFT));
    BinaryenExpressionRef at = BinaryenBinary(mod, BinaryenAddInt32(), local_b(), grain);
    return BinaryenStore(mod, 1, 0, 1, at, i32c(1), BinaryenTypeInt32());
}

/* (if ((addr + offset + bytes - 1) - $b) <u MAP_BYTES + bytes - 1
 *   (global.set tampered 1)): the store writes into the map itself. Only an
 * interpreter whose memory safety is broken does that (the map is one
 * allocation nobody else is given; its marks are stores this tool adds and
 * the JS glue's, neither of which is instrumented), and it could clear the
 * marks of the pages it wrote, which the next restore would then skip. The
 * flag is a global, out of reach of every store; isolation.mjs restores in
 * full for good once it is set. */
static BinaryenExpressionRef guard(BinaryenExpressionRef addr, uint32_t offset, uint32_t bytes) {
    uint32_t span = offset + bytes - 1;
    if (span)
        addr = BinaryenBinary(mod, BinaryenAddInt32(), addr, i32c((int32_t)span));
    BinaryenExpressionRef rel = BinaryenBinary(mod, BinaryenSubInt32(), addr, local_b());
    BinaryenExpressionRef in =
        BinaryenBinary(mod, BinaryenLtUInt32(), rel, i32c((int32_t)(MAP_BYTES + bytes - 1)));
    return BinaryenIf(mod, in, BinaryenGlobalSet(mod, TAMPER, i32c(1)), NULL);
}

/* (if (local.tee $b base) (then mark the first grain; mark the last grain)):
 * a store of n > 1 bytes may cross into the next grain (wasm allows any
 * alignment), so both of its ends are marked; usually the same byte of the
 * map twice. `addr` is side-effect free (a local or a constant). */
static BinaryenExpressionRef mark(BinaryenExpressionRef addr, uint32_t offset, uint32_t bytes) {
    BinaryenExpressionRef st[3];
    BinaryenIndex n = 0;
    st[n++] = guard(BinaryenExpressionCopy(addr, mod), offset, bytes);
    if (bytes > 1)
        st[n++] = mark_one(BinaryenExpressionCopy(addr, mod), offset + bytes - 1);
    st[n++] = mark_one(addr, offset);
    uses_locals = 1;
    return BinaryenIf(mod, BinaryenLocalTee(mod, loc_b, base(), BinaryenTypeInt32()),
                      BinaryenBlock(mod, NULL, st, n, BinaryenTypeNone()), NULL);
}

static BinaryenExpressionRef marked_ptr(BinaryenExpressionRef ptr, uint32_t offset,
                                        uint32_t bytes) {
    BinaryenExpressionId id = BinaryenExpressionGetId(ptr);
    if (BinaryenExpressionGetType(ptr) != BinaryenTypeInt32()) {
        if (BinaryenExpressionGetType(ptr) == BinaryenTypeUnreachable())
            return ptr; /* never writes */
        die("a memory address that is not i32 (memory64 is not supported)");
    }
    BinaryenExpressionRef kids[3];
    if (id == BinaryenLocalGetId() || id == BinaryenConstId()) {
        kids[0] = mark(BinaryenExpressionCopy(ptr, mod), offset, bytes);
        kids[1] = ptr;
        return BinaryenBlock(mod, NULL, kids, 2, BinaryenTypeInt32());
    }
    kids[0] = BinaryenLocalSet(mod, loc_a, ptr);
    kids[1] = mark(BinaryenLocalGet(mod, loc_a, BinaryenTypeInt32()), offset, bytes);
    kids[2] = BinaryenLocalGet(mod, loc_a, BinaryenTypeInt32());
    return BinaryenBlock(mod, NULL, kids, 3, BinaryenTypeInt32());
}

/* Visits e's children (replacing them by what visiting returns), then
 * returns e or what replaces it. */
static BinaryenExpressionRef visit(BinaryenExpressionRef e);

#define KID(get, set)                                                                              \
    do {                                                                                           \
        BinaryenExpressionRef c_ = get(e);                                                         \
        if (c_)                                                                                    \
            set(e, visit(c_));                                                                     \
    } while (0)
#define KIDS(num, getat, setat)                                                                    \
    do {                                                                                           \
        BinaryenIndex n_ = num(e);                                                                 \
        for (BinaryenIndex i_ = 0; i_ < n_; i_++)                                                  \
            setat(e, i_, visit(getat(e, i_)));                                                     \
    } while (0)

static BinaryenExpressionRef visit(BinaryenExpressionRef e) {
    if (!e)
        return e;
    BinaryenExpressionId id = BinaryenExpressionGetId(e);
    if (id == BinaryenBlockId()) {
        KIDS(BinaryenBlockGetNumChildren, BinaryenBlockGetChildAt, BinaryenBlockSetChildAt);
    } else if (id == BinaryenIfId()) {
        KID(BinaryenIfGetCondition, BinaryenIfSetCondition);
        KID(BinaryenIfGetIfTrue, BinaryenIfSetIfTrue);
        KID(BinaryenIfGetIfFalse, BinaryenIfSetIfFalse);
    } else if (id == BinaryenLoopId()) {
        KID(BinaryenLoopGetBody, BinaryenLoopSetBody);
    } else if (id == BinaryenBreakId()) {
        KID(BinaryenBreakGetValue, BinaryenBreakSetValue);
        KID(BinaryenBreakGetCondition, BinaryenBreakSetCondition);
    } else if (id == BinaryenSwitchId()) {
        KID(BinaryenSwitchGetValue, BinaryenSwitchSetValue);
        KID(BinaryenSwitchGetCondition, BinaryenSwitchSetCondition);
    } else if (id == BinaryenCallId()) {
        KIDS(BinaryenCallGetNumOperands, BinaryenCallGetOperandAt, BinaryenCallSetOperandAt);
    } else if (id == BinaryenCallIndirectId()) {
        KIDS(BinaryenCallIndirectGetNumOperands, BinaryenCallIndirectGetOperandAt,
             BinaryenCallIndirectSetOperandAt);
        KID(BinaryenCallIndirectGetTarget, BinaryenCallIndirectSetTarget);
    } else if (id == BinaryenLocalSetId()) {
        KID(BinaryenLocalSetGetValue, BinaryenLocalSetSetValue);
    } else if (id == BinaryenGlobalSetId()) {
        KID(BinaryenGlobalSetGetValue, BinaryenGlobalSetSetValue);
    } else if (id == BinaryenLoadId()) {
        KID(BinaryenLoadGetPtr, BinaryenLoadSetPtr);
    } else if (id == BinaryenStoreId()) {
        KID(BinaryenStoreGetPtr, BinaryenStoreSetPtr);
        KID(BinaryenStoreGetValue, BinaryenStoreSetValue);
        if (BinaryenStoreGetBytes(e) > 16)
            die("a store wider than 16 bytes");
        BinaryenStoreSetPtr(e, marked_ptr(BinaryenStoreGetPtr(e), BinaryenStoreGetOffset(e),
                                          BinaryenStoreGetBytes(e)));
        n_stores++;
    } else if (id == BinaryenAtomicRMWId()) {
        KID(BinaryenAtomicRMWGetPtr, BinaryenAtomicRMWSetPtr);
        KID(BinaryenAtomicRMWGetValue, BinaryenAtomicRMWSetValue);
        BinaryenAtomicRMWSetPtr(e, marked_ptr(BinaryenAtomicRMWGetPtr(e),
                                              BinaryenAtomicRMWGetOffset(e),
                                              BinaryenAtomicRMWGetBytes(e)));
        n_rmw++;
    } else if (id == BinaryenAtomicCmpxchgId()) {
        KID(BinaryenAtomicCmpxchgGetPtr, BinaryenAtomicCmpxchgSetPtr);
        KID(BinaryenAtomicCmpxchgGetExpected, BinaryenAtomicCmpxchgSetExpected);
        KID(BinaryenAtomicCmpxchgGetReplacement, BinaryenAtomicCmpxchgSetReplacement);
        BinaryenAtomicCmpxchgSetPtr(e, marked_ptr(BinaryenAtomicCmpxchgGetPtr(e),
                                                  BinaryenAtomicCmpxchgGetOffset(e),
                                                  BinaryenAtomicCmpxchgGetBytes(e)));
        n_rmw++;
    } else if (id == BinaryenAtomicWaitId()) {
        KID(BinaryenAtomicWaitGetPtr, BinaryenAtomicWaitSetPtr);
        KID(BinaryenAtomicWaitGetExpected, BinaryenAtomicWaitSetExpected);
        KID(BinaryenAtomicWaitGetTimeout, BinaryenAtomicWaitSetTimeout);
    } else if (id == BinaryenAtomicNotifyId()) {
        KID(BinaryenAtomicNotifyGetPtr, BinaryenAtomicNotifySetPtr);
        KID(BinaryenAtomicNotifyGetNotifyCount, BinaryenAtomicNotifySetNotifyCount);
    } else if (id == BinaryenMemoryFillId() || id == BinaryenMemoryCopyId()) {
        BinaryenExpressionRef ops[3];
        int fill = id == BinaryenMemoryFillId();
        if (fill) {
            ops[0] = visit(BinaryenMemoryFillGetDest(e));
            ops[1] = visit(BinaryenMemoryFillGetValue(e));
            ops[2] = visit(BinaryenMemoryFillGetSize(e));
        } else {
            ops[0] = visit(BinaryenMemoryCopyGetDest(e));
            ops[1] = visit(BinaryenMemoryCopyGetSource(e));
            ops[2] = visit(BinaryenMemoryCopyGetSize(e));
        }
        n_bulk++;
        return BinaryenCall(mod, fill ? FILL : COPY, ops, 3, BinaryenTypeNone());
    } else if (id == BinaryenUnaryId()) {
        KID(BinaryenUnaryGetValue, BinaryenUnarySetValue);
    } else if (id == BinaryenBinaryId()) {
        KID(BinaryenBinaryGetLeft, BinaryenBinarySetLeft);
        KID(BinaryenBinaryGetRight, BinaryenBinarySetRight);
    } else if (id == BinaryenSelectId()) {
        KID(BinaryenSelectGetIfTrue, BinaryenSelectSetIfTrue);
        KID(BinaryenSelectGetIfFalse, BinaryenSelectSetIfFalse);
        KID(BinaryenSelectGetCondition, BinaryenSelectSetCondition);
    } else if (id == BinaryenDropId()) {
        KID(BinaryenDropGetValue, BinaryenDropSetValue);
    } else if (id == BinaryenReturnId()) {
        KID(BinaryenReturnGetValue, BinaryenReturnSetValue);
    } else if (id == BinaryenMemoryGrowId()) {
        KID(BinaryenMemoryGrowGetDelta, BinaryenMemoryGrowSetDelta);
    } else if (id == BinaryenRefIsId()) {
        KID(BinaryenRefIsGetValue, BinaryenRefIsSetValue);
    } else if (id == BinaryenRefAsId()) {
        KID(BinaryenRefAsGetValue, BinaryenRefAsSetValue);
    } else if (id == BinaryenRefEqId()) {
        KID(BinaryenRefEqGetLeft, BinaryenRefEqSetLeft);
        KID(BinaryenRefEqGetRight, BinaryenRefEqSetRight);
    } else if (id == BinaryenTableGetId()) {
        KID(BinaryenTableGetGetIndex, BinaryenTableGetSetIndex);
    } else if (id == BinaryenTableSetId()) {
        KID(BinaryenTableSetGetIndex, BinaryenTableSetSetIndex);
        KID(BinaryenTableSetGetValue, BinaryenTableSetSetValue);
    } else if (id == BinaryenTableGrowId()) {
        KID(BinaryenTableGrowGetValue, BinaryenTableGrowSetValue);
        KID(BinaryenTableGrowGetDelta, BinaryenTableGrowSetDelta);
    } else if (id == BinaryenTryId()) {
        KID(BinaryenTryGetBody, BinaryenTrySetBody);
        KIDS(BinaryenTryGetNumCatchBodies, BinaryenTryGetCatchBodyAt, BinaryenTrySetCatchBodyAt);
    } else if (id == BinaryenThrowId()) {
        KIDS(BinaryenThrowGetNumOperands, BinaryenThrowGetOperandAt, BinaryenThrowSetOperandAt);
    } else if (id == BinaryenTupleMakeId()) {
        KIDS(BinaryenTupleMakeGetNumOperands, BinaryenTupleMakeGetOperandAt,
             BinaryenTupleMakeSetOperandAt);
    } else if (id == BinaryenTupleExtractId()) {
        KID(BinaryenTupleExtractGetTuple, BinaryenTupleExtractSetTuple);
    } else if (id == BinaryenNopId() || id == BinaryenLocalGetId() || id == BinaryenGlobalGetId() ||
               id == BinaryenConstId() || id == BinaryenMemorySizeId() ||
               id == BinaryenUnreachableId() || id == BinaryenAtomicFenceId() ||
               id == BinaryenPopId() || id == BinaryenRefNullId() || id == BinaryenRefFuncId() ||
               id == BinaryenTableSizeId() || id == BinaryenRethrowId() ||
               id == BinaryenDataDropId()) {
        /* no children, no write */
    } else if (id == BinaryenMemoryInitId()) {
        die("memory.init outside start-up is not supported");
    } else {
        char msg[64];
        snprintf(msg, sizeof msg, "unsupported expression kind %u", (unsigned)id);
        die(msg);
    }
    return e;
}

/* __dirty_range(d, n): marks the grains of [d, d + n). A range that wraps past
 * 4 GiB marks nothing more: the operation traps before writing. */
static void add_helpers(void) {
    BinaryenType i32 = BinaryenTypeInt32();
    BinaryenType p2[2] = {i32, i32}, p3[3] = {i32, i32, i32};
    BinaryenType vars[2] = {i32, i32}; /* $2 grain, $3 last */
#define L(i) BinaryenLocalGet(mod, i, i32)
    BinaryenExpressionRef last = BinaryenLocalSet(
        mod, 3,
        BinaryenBinary(mod, BinaryenShrUInt32(),
                       BinaryenBinary(mod, BinaryenSubInt32(),
                                      BinaryenBinary(mod, BinaryenAddInt32(), L(0), L(1)), i32c(1)),
                       i32c(GRAIN_SHIFT)));
    BinaryenExpressionRef first =
        BinaryenLocalSet(mod, 2, BinaryenBinary(mod, BinaryenShrUInt32(), L(0), i32c(GRAIN_SHIFT)));
    BinaryenExpressionRef body[3] = {
        BinaryenStore(mod, 1, 0, 1, BinaryenBinary(mod, BinaryenAddInt32(), base(), L(2)), i32c(1),
                      i32),
        BinaryenLocalSet(mod, 2, BinaryenBinary(mod, BinaryenAddInt32(), L(2), i32c(1))),
        BinaryenBreak(mod, "next", BinaryenBinary(mod, BinaryenLeUInt32(), L(2), L(3)), NULL),
    };
    BinaryenExpressionRef loop =
        BinaryenLoop(mod, "next", BinaryenBlock(mod, NULL, body, 3, BinaryenTypeNone()));
    /* the range meets the map: ((d + n - 1) - base) <u MAP_BYTES + n - 1 */
    BinaryenExpressionRef meets = BinaryenBinary(
        mod, BinaryenLtUInt32(),
        BinaryenBinary(mod, BinaryenSubInt32(),
                       BinaryenBinary(mod, BinaryenSubInt32(),
                                      BinaryenBinary(mod, BinaryenAddInt32(), L(0), L(1)), i32c(1)),
                       base()),
        BinaryenBinary(mod, BinaryenAddInt32(), i32c((int32_t)MAP_BYTES),
                       BinaryenBinary(mod, BinaryenSubInt32(), L(1), i32c(1))));
    BinaryenExpressionRef guarded[4] = {
        BinaryenIf(mod, meets, BinaryenGlobalSet(mod, TAMPER, i32c(1)), NULL), first, last,
        BinaryenIf(mod, BinaryenBinary(mod, BinaryenLeUInt32(), L(2), L(3)), loop, NULL)};
    BinaryenExpressionRef cond = BinaryenBinary(
        mod, BinaryenAndInt32(), BinaryenBinary(mod, BinaryenNeInt32(), base(), i32c(0)),
        BinaryenBinary(mod, BinaryenNeInt32(), L(1), i32c(0)));
    BinaryenAddFunction(
        mod, RANGE, BinaryenTypeCreate(p2, 2), BinaryenTypeNone(), vars, 2,
        BinaryenIf(mod, cond, BinaryenBlock(mod, NULL, guarded, 4, BinaryenTypeNone()), NULL));
    for (int fill = 0; fill < 2; fill++) {
        BinaryenExpressionRef args[2] = {L(0), L(2)};
        BinaryenExpressionRef steps[2] = {
            BinaryenCall(mod, RANGE, args, 2, BinaryenTypeNone()),
            fill ? BinaryenMemoryFill(mod, L(0), L(1), L(2))
                 : BinaryenMemoryCopy(mod, L(0), L(1), L(2)),
        };
        BinaryenAddFunction(mod, fill ? FILL : COPY, BinaryenTypeCreate(p3, 3), BinaryenTypeNone(),
                            NULL, 0, BinaryenBlock(mod, NULL, steps, 2, BinaryenTypeNone()));
    }
#undef L
}

/* HIWIRE_SIZE: (table.size T), T the table _hiwire_get reads (its body is
 * one table.get). */
static void export_hiwire_size(void) {
    BinaryenExportRef ex = BinaryenGetExport(mod, HIWIRE_GET);
    BinaryenFunctionRef f = ex ? BinaryenGetFunction(mod, BinaryenExportGetValue(ex)) : NULL;
    BinaryenExpressionRef e = f ? BinaryenFunctionGetBody(f) : NULL;
    while (e && BinaryenExpressionGetId(e) == BinaryenBlockId() &&
           BinaryenBlockGetNumChildren(e) == 1)
        e = BinaryenBlockGetChildAt(e, 0);
    if (!e || BinaryenExpressionGetId(e) != BinaryenTableGetId())
        die("libhiwire's " HIWIRE_GET " is not one table.get: cannot find its table");
    BinaryenAddFunction(mod, HIWIRE_SIZE, BinaryenTypeNone(), BinaryenTypeInt32(), NULL, 0,
                        BinaryenTableSize(mod, BinaryenTableGetGetTable(e)));
    BinaryenAddFunctionExport(mod, HIWIRE_SIZE, HIWIRE_SIZE);
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* The module's functions as they were before the walk, and which of them
 * got marks (and so need their two locals). */
static BinaryenFunctionRef *funcs;
static char *marked;
static BinaryenIndex n_funcs;

static void *walk_all(void *arg) {
    (void)arg;
    for (BinaryenIndex i = 0; i < n_funcs; i++) {
        BinaryenFunctionRef f = funcs[i];
        BinaryenExpressionRef body = BinaryenFunctionGetBody(f);
        if (!body)
            continue; /* an import */
        fname = BinaryenFunctionGetName(f);
        loc_a = BinaryenFunctionGetNumLocals(f);
        loc_b = loc_a + 1;
        uses_locals = 0;
        BinaryenFunctionSetBody(f, visit(body));
        marked[i] = (char)uses_locals;
    }
    fname = NULL;
    return NULL;
}

/* Makes f anew with two more i32 locals ($a, $b), its walked body and
 * everything else as it was (the function's order in the module changes:
 * nothing refers to a function by its index but the binary, which binaryen
 * writes from names). */
static void add_locals(BinaryenFunctionRef f) {
    const char *name = BinaryenFunctionGetName(f);
    BinaryenType params = BinaryenFunctionGetParams(f), results = BinaryenFunctionGetResults(f);
    BinaryenIndex nvars = BinaryenFunctionGetNumVars(f), nlocals = BinaryenFunctionGetNumLocals(f);
    BinaryenType *vars = malloc((nvars + 2) * sizeof *vars);
    const char **names = calloc(nlocals, sizeof *names);
    if (!vars || !names)
        die("out of memory");
    for (BinaryenIndex i = 0; i < nvars; i++)
        vars[i] = BinaryenFunctionGetVar(f, i);
    vars[nvars] = vars[nvars + 1] = BinaryenTypeInt32();
    for (BinaryenIndex i = 0; i < nlocals; i++)
        if (BinaryenFunctionHasLocalName(f, i))
            names[i] = BinaryenFunctionGetLocalName(f, i);
    BinaryenExpressionRef body = BinaryenFunctionGetBody(f);
    BinaryenRemoveFunction(mod, name);
    BinaryenFunctionRef g = BinaryenAddFunction(mod, name, params, results, vars, nvars + 2, body);
    for (BinaryenIndex i = 0; i < nlocals; i++)
        if (names[i])
            BinaryenFunctionSetLocalName(g, i, names[i]);
    free(vars);
    free(names);
}

int main(int argc, char **argv) {
    int side = argc == 4 && !strcmp(argv[1], "--side");
    if (argc != 3 + side) {
        fprintf(stderr, "usage: instrument [--side] in.wasm out.wasm\n");
        return 2;
    }
    const char *in = argv[1 + side], *out = argv[2 + side];
    size_t len;
    char *bytes = slurp(in, &len);
    if (!bytes) {
        perror(in);
        return 1;
    }
    BinaryenSetDebugInfo(1); /* keep the name section */
    mod = BinaryenModuleRead(bytes, len);
    free(bytes);
    BinaryenModuleSetFeatures(mod, BinaryenFeatureAll());
    if (BinaryenGetGlobal(mod, BASE))
        die("module is already instrumented");

    /* Existing functions first: the helpers added below must not be walked
     * (their own stores are the marks). */
    n_funcs = BinaryenGetNumFunctions(mod);
    funcs = malloc(n_funcs * sizeof *funcs);
    marked = calloc(n_funcs, 1);
    if (!funcs || !marked)
        die("out of memory");
    for (BinaryenIndex i = 0; i < n_funcs; i++)
        funcs[i] = BinaryenGetFunctionByIndex(mod, i);
    pthread_attr_t attr;
    pthread_t th;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, (size_t)1 << 30); /* deep expression trees */
    if (pthread_create(&th, &attr, walk_all, NULL) || pthread_join(th, NULL))
        die("cannot start the walk");
    for (BinaryenIndex i = 0; i < n_funcs; i++)
        if (marked[i])
            add_locals(funcs[i]);

    if (side) {
        BinaryenAddGlobalImport(mod, BASE, "env", BASE, BinaryenTypeInt32(), 1);
        BinaryenAddGlobalImport(mod, TAMPER, "env", TAMPER, BinaryenTypeInt32(), 1);
    } else {
        BinaryenAddGlobal(mod, BASE, BinaryenTypeInt32(), 1, i32c(0));
        BinaryenAddGlobalExport(mod, BASE, BASE);
        BinaryenAddGlobal(mod, TAMPER, BinaryenTypeInt32(), 1, i32c(0));
        BinaryenAddGlobalExport(mod, TAMPER, TAMPER);
        BinaryenAddGlobal(mod, GRAIN, BinaryenTypeInt32(), 0, i32c(GRAIN_SHIFT));
        BinaryenAddGlobalExport(mod, GRAIN, GRAIN);
        export_hiwire_size();
    }
    add_helpers();
    if (!BinaryenModuleValidate(mod))
        die("the instrumented module does not validate");

    BinaryenModuleAllocateAndWriteResult r = BinaryenModuleAllocateAndWrite(mod, NULL);
    FILE *f = fopen(out, "wb");
    if (!f || fwrite(r.binary, 1, r.binaryBytes, f) != r.binaryBytes || fclose(f)) {
        perror(out);
        return 1;
    }
    fprintf(
        stderr,
        "instrument: %s: %ld stores, %ld atomic read-modify-writes, %ld bulk operations marked\n",
        out, n_stores, n_rmw, n_bulk);
    free(r.binary);
    BinaryenModuleDispose(mod);
    return 0;
}
