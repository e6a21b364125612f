;; The capture's span encoder (image.mjs, spansOf), as wasm: a JS loop over
;; every word of every changed page was the capture's biggest cost besides
;; the scan (and slow until V8 optimised it, which on a busy machine takes a
;; while). image.mjs embeds this module's bytes as hex; tests/lint checks
;; that they are what `wasm-as spans.wat` (binaryen) makes of this file.
;;
;; s(a, b, n, out): a and b are n pages of 4096 bytes each, back to back in
;; this memory (the live pages and their pristine bytes). For each page,
;; writes the runs of non-zero 32-bit words of a XOR b at out: a u32 head
;; (first word | words << 16), the words, and after the page's last run
;; 0xffffffff. A single zero word between two non-zero ones stays inside
;; the run (it costs what a new head does). Returns where the output ends.
;; Equal words are skipped two at a time (i64), the common case.
(module
  (memory (export "m") 1)
  (func (export "s") (param $a i32) (param $b i32) (param $n i32) (param $out i32) (result i32)
    ;; $w: the byte offset in the page; $first, $head: the open run's start
    ;; and where its head goes.
    (local $end i32) (local $w i32) (local $first i32) (local $head i32)
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $n) (i32.const 12))))
    (block $done
      (loop $page
        (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
        (local.set $w (i32.const 0))
        (block $page_done
          (loop $scan
            (block $found
              (loop $skip
                (br_if $page_done (i32.ge_u (local.get $w) (i32.const 4096)))
                (if (i32.eqz (i32.and (local.get $w) (i32.const 4)))
                  (then
                    (if (i64.eq (i64.load (i32.add (local.get $a) (local.get $w)))
                                (i64.load (i32.add (local.get $b) (local.get $w))))
                      (then
                        (local.set $w (i32.add (local.get $w) (i32.const 8)))
                        (br $skip)))))
                (br_if $found (i32.ne (i32.load (i32.add (local.get $a) (local.get $w)))
                                      (i32.load (i32.add (local.get $b) (local.get $w)))))
                (local.set $w (i32.add (local.get $w) (i32.const 4)))
                (br $skip)))
            (local.set $first (local.get $w))
            (local.set $head (local.get $out))
            (local.set $out (i32.add (local.get $out) (i32.const 4)))
            (block $span_done
              (loop $span
                (i32.store (local.get $out)
                  (i32.xor (i32.load (i32.add (local.get $a) (local.get $w)))
                           (i32.load (i32.add (local.get $b) (local.get $w)))))
                (local.set $out (i32.add (local.get $out) (i32.const 4)))
                (local.set $w (i32.add (local.get $w) (i32.const 4)))
                (br_if $span_done (i32.ge_u (local.get $w) (i32.const 4096)))
                (br_if $span (i32.ne (i32.load (i32.add (local.get $a) (local.get $w)))
                                     (i32.load (i32.add (local.get $b) (local.get $w)))))
                ;; A zero word: the run goes on only if the next one is not.
                (br_if $span_done (i32.ge_u (local.get $w) (i32.const 4092)))
                (br_if $span_done (i32.eq (i32.load offset=4 (i32.add (local.get $a) (local.get $w)))
                                          (i32.load offset=4 (i32.add (local.get $b) (local.get $w)))))
                (br $span)))
            (i32.store (local.get $head)
              (i32.or (i32.shr_u (local.get $first) (i32.const 2))
                      (i32.shl (i32.shr_u (i32.sub (local.get $w) (local.get $first)) (i32.const 2))
                               (i32.const 16))))
            (br $scan)))
        (i32.store (local.get $out) (i32.const -1))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (local.set $a (i32.add (local.get $a) (i32.const 4096)))
        (local.set $b (i32.add (local.get $b) (i32.const 4096)))
        (br $page)))
    (local.get $out)))
