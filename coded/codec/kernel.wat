;; The codec's inner loops as WebAssembly SIMD (see kernel.ts for the contract each function meets;
;; the TypeScript kernel there is the reference the tests hold this one to).
;;
;; GF(2^8) multiply of 16 bytes by a coefficient c is the split-nibble table method: with
;; LO_c[i] = c * i and HI_c[i] = c * (i << 4) for i < 16 (two 16-byte tables per coefficient),
;; c * x = LO_c[x & 15] ^ HI_c[x >> 4] since multiplication distributes over XOR; i8x16.swizzle
;; looks up 16 bytes at once. The 256 pairs of tables (8 KiB) are written by the loader at $tab.
;; c = 1 (every GF(2) coefficient) is a plain v128 XOR; c = 0 does nothing.
;;
;; Offsets are plain byte addresses in the imported memory; lengths need not be multiples of 16
;; (a scalar tail finishes them, with the same tables read byte by byte).
(module
  (import "env" "mem" (memory 1))
  (import "env" "tab" (global $tab i32))

  ;; mem[dst..dst+len) ^= c * mem[src..src+len)
  (func (export "mul_add") (param $dst i32) (param $src i32) (param $len i32) (param $c i32)
    (local $end i32) (local $end16 i32) (local $t i32) (local $x i32)
    (local $lo v128) (local $hi v128) (local $m v128) (local $s v128)
    (if (i32.eqz (local.get $c)) (then (return)))
    (local.set $end (i32.add (local.get $dst) (local.get $len)))
    (local.set $end16 (i32.add (local.get $dst) (i32.and (local.get $len) (i32.const -16))))
    (if (i32.eq (local.get $c) (i32.const 1))
      (then
        (block $d64 (loop $l64
          (br_if $d64 (i32.gt_u (i32.add (local.get $dst) (i32.const 64)) (local.get $end16)))
          (v128.store offset=0 (local.get $dst) (v128.xor (v128.load offset=0 (local.get $dst)) (v128.load offset=0 (local.get $src))))
          (v128.store offset=16 (local.get $dst) (v128.xor (v128.load offset=16 (local.get $dst)) (v128.load offset=16 (local.get $src))))
          (v128.store offset=32 (local.get $dst) (v128.xor (v128.load offset=32 (local.get $dst)) (v128.load offset=32 (local.get $src))))
          (v128.store offset=48 (local.get $dst) (v128.xor (v128.load offset=48 (local.get $dst)) (v128.load offset=48 (local.get $src))))
          (local.set $dst (i32.add (local.get $dst) (i32.const 64)))
          (local.set $src (i32.add (local.get $src) (i32.const 64)))
          (br $l64)))
        (block $d16 (loop $l16
          (br_if $d16 (i32.ge_u (local.get $dst) (local.get $end16)))
          (v128.store (local.get $dst) (v128.xor (v128.load (local.get $dst)) (v128.load (local.get $src))))
          (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
          (local.set $src (i32.add (local.get $src) (i32.const 16)))
          (br $l16)))
        (block $d1 (loop $l1
          (br_if $d1 (i32.ge_u (local.get $dst) (local.get $end)))
          (i32.store8 (local.get $dst) (i32.xor (i32.load8_u (local.get $dst)) (i32.load8_u (local.get $src))))
          (local.set $dst (i32.add (local.get $dst) (i32.const 1)))
          (local.set $src (i32.add (local.get $src) (i32.const 1)))
          (br $l1)))
        (return)))
    (local.set $t (i32.add (global.get $tab) (i32.shl (local.get $c) (i32.const 5))))
    (local.set $lo (v128.load offset=0 (local.get $t)))
    (local.set $hi (v128.load offset=16 (local.get $t)))
    (local.set $m (i8x16.splat (i32.const 15)))
    (block $d64 (loop $l64
      (br_if $d64 (i32.gt_u (i32.add (local.get $dst) (i32.const 64)) (local.get $end16)))
      (local.set $s (v128.load offset=0 (local.get $src)))
      (v128.store offset=0 (local.get $dst) (v128.xor (v128.load offset=0 (local.get $dst)) (v128.xor
        (i8x16.swizzle (local.get $lo) (v128.and (local.get $s) (local.get $m)))
        (i8x16.swizzle (local.get $hi) (v128.and (i16x8.shr_u (local.get $s) (i32.const 4)) (local.get $m))))))
      (local.set $s (v128.load offset=16 (local.get $src)))
      (v128.store offset=16 (local.get $dst) (v128.xor (v128.load offset=16 (local.get $dst)) (v128.xor
        (i8x16.swizzle (local.get $lo) (v128.and (local.get $s) (local.get $m)))
        (i8x16.swizzle (local.get $hi) (v128.and (i16x8.shr_u (local.get $s) (i32.const 4)) (local.get $m))))))
      (local.set $s (v128.load offset=32 (local.get $src)))
      (v128.store offset=32 (local.get $dst) (v128.xor (v128.load offset=32 (local.get $dst)) (v128.xor
        (i8x16.swizzle (local.get $lo) (v128.and (local.get $s) (local.get $m)))
        (i8x16.swizzle (local.get $hi) (v128.and (i16x8.shr_u (local.get $s) (i32.const 4)) (local.get $m))))))
      (local.set $s (v128.load offset=48 (local.get $src)))
      (v128.store offset=48 (local.get $dst) (v128.xor (v128.load offset=48 (local.get $dst)) (v128.xor
        (i8x16.swizzle (local.get $lo) (v128.and (local.get $s) (local.get $m)))
        (i8x16.swizzle (local.get $hi) (v128.and (i16x8.shr_u (local.get $s) (i32.const 4)) (local.get $m))))))
      (local.set $dst (i32.add (local.get $dst) (i32.const 64)))
      (local.set $src (i32.add (local.get $src) (i32.const 64)))
      (br $l64)))
    (block $d16 (loop $l16
      (br_if $d16 (i32.ge_u (local.get $dst) (local.get $end16)))
      (local.set $s (v128.load (local.get $src)))
      (v128.store (local.get $dst) (v128.xor (v128.load (local.get $dst)) (v128.xor
        (i8x16.swizzle (local.get $lo) (v128.and (local.get $s) (local.get $m)))
        (i8x16.swizzle (local.get $hi) (v128.and (i16x8.shr_u (local.get $s) (i32.const 4)) (local.get $m))))))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (local.set $src (i32.add (local.get $src) (i32.const 16)))
      (br $l16)))
    (block $d1 (loop $l1
      (br_if $d1 (i32.ge_u (local.get $dst) (local.get $end)))
      (local.set $x (i32.load8_u (local.get $src)))
      (i32.store8 (local.get $dst) (i32.xor (i32.load8_u (local.get $dst)) (i32.xor
        (i32.load8_u offset=0 (i32.add (local.get $t) (i32.and (local.get $x) (i32.const 15))))
        (i32.load8_u offset=16 (i32.add (local.get $t) (i32.shr_u (local.get $x) (i32.const 4)))))))
      (local.set $dst (i32.add (local.get $dst) (i32.const 1)))
      (local.set $src (i32.add (local.get $src) (i32.const 1)))
      (br $l1))))

  ;; mem[dst..dst+len) = c * mem[dst..dst+len)
  (func (export "scale") (param $dst i32) (param $len i32) (param $c i32)
    (local $end i32) (local $end16 i32) (local $t i32) (local $x i32)
    (local $lo v128) (local $hi v128) (local $m v128) (local $s v128)
    (if (i32.eq (local.get $c) (i32.const 1)) (then (return)))
    (local.set $end (i32.add (local.get $dst) (local.get $len)))
    (local.set $end16 (i32.add (local.get $dst) (i32.and (local.get $len) (i32.const -16))))
    (local.set $t (i32.add (global.get $tab) (i32.shl (local.get $c) (i32.const 5))))
    (local.set $lo (v128.load offset=0 (local.get $t)))
    (local.set $hi (v128.load offset=16 (local.get $t)))
    (local.set $m (i8x16.splat (i32.const 15)))
    (block $d16 (loop $l16
      (br_if $d16 (i32.ge_u (local.get $dst) (local.get $end16)))
      (local.set $s (v128.load (local.get $dst)))
      (v128.store (local.get $dst) (v128.xor
        (i8x16.swizzle (local.get $lo) (v128.and (local.get $s) (local.get $m)))
        (i8x16.swizzle (local.get $hi) (v128.and (i16x8.shr_u (local.get $s) (i32.const 4)) (local.get $m)))))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (br $l16)))
    (block $d1 (loop $l1
      (br_if $d1 (i32.ge_u (local.get $dst) (local.get $end)))
      (local.set $x (i32.load8_u (local.get $dst)))
      (i32.store8 (local.get $dst) (i32.xor
        (i32.load8_u offset=0 (i32.add (local.get $t) (i32.and (local.get $x) (i32.const 15))))
        (i32.load8_u offset=16 (i32.add (local.get $t) (i32.shr_u (local.get $x) (i32.const 4))))))
      (local.set $dst (i32.add (local.get $dst) (i32.const 1)))
      (br $l1))))

  ;; mem[dst..dst+len) ^= sum over i < n of mem[coefs+i] * mem[src_i..src_i+len), src_i = i32 at list+4i.
  ;; Blocked: 64 bytes of dst stay in four registers while every term is added to them, so dst is
  ;; read and written once per block rather than once per term.
  (func (export "combine") (param $dst i32) (param $len i32) (param $n i32) (param $list i32) (param $coefs i32)
    (local $off i32) (local $end64 i32) (local $end16 i32) (local $i i32) (local $c i32) (local $s i32) (local $t i32) (local $x i32) (local $acc i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $lo v128) (local $hi v128) (local $m v128) (local $v v128)
    (local.set $m (i8x16.splat (i32.const 15)))
    (local.set $end64 (i32.and (local.get $len) (i32.const -64)))
    (local.set $end16 (i32.and (local.get $len) (i32.const -16)))
    ;; 64-byte blocks
    (block $dblk (loop $lblk
      (br_if $dblk (i32.ge_u (local.get $off) (local.get $end64)))
      (local.set $a0 (v128.load offset=0 (i32.add (local.get $dst) (local.get $off))))
      (local.set $a1 (v128.load offset=16 (i32.add (local.get $dst) (local.get $off))))
      (local.set $a2 (v128.load offset=32 (i32.add (local.get $dst) (local.get $off))))
      (local.set $a3 (v128.load offset=48 (i32.add (local.get $dst) (local.get $off))))
      (local.set $i (i32.const 0))
      (block $dterm (loop $lterm
        (br_if $dterm (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $c (i32.load8_u (i32.add (local.get $coefs) (local.get $i))))
        (if (i32.eqz (local.get $c)) (then (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $lterm))) ;; c = 0 adds nothing
        (local.set $s (i32.add (i32.load (i32.add (local.get $list) (i32.shl (local.get $i) (i32.const 2)))) (local.get $off)))
        (if (i32.eq (local.get $c) (i32.const 1))
          (then
            (local.set $a0 (v128.xor (local.get $a0) (v128.load offset=0 (local.get $s))))
            (local.set $a1 (v128.xor (local.get $a1) (v128.load offset=16 (local.get $s))))
            (local.set $a2 (v128.xor (local.get $a2) (v128.load offset=32 (local.get $s))))
            (local.set $a3 (v128.xor (local.get $a3) (v128.load offset=48 (local.get $s)))))
          (else
            (local.set $t (i32.add (global.get $tab) (i32.shl (local.get $c) (i32.const 5))))
            (local.set $lo (v128.load offset=0 (local.get $t)))
            (local.set $hi (v128.load offset=16 (local.get $t)))
            (local.set $v (v128.load offset=0 (local.get $s)))
            (local.set $a0 (v128.xor (local.get $a0) (v128.xor
              (i8x16.swizzle (local.get $lo) (v128.and (local.get $v) (local.get $m)))
              (i8x16.swizzle (local.get $hi) (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $m))))))
            (local.set $v (v128.load offset=16 (local.get $s)))
            (local.set $a1 (v128.xor (local.get $a1) (v128.xor
              (i8x16.swizzle (local.get $lo) (v128.and (local.get $v) (local.get $m)))
              (i8x16.swizzle (local.get $hi) (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $m))))))
            (local.set $v (v128.load offset=32 (local.get $s)))
            (local.set $a2 (v128.xor (local.get $a2) (v128.xor
              (i8x16.swizzle (local.get $lo) (v128.and (local.get $v) (local.get $m)))
              (i8x16.swizzle (local.get $hi) (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $m))))))
            (local.set $v (v128.load offset=48 (local.get $s)))
            (local.set $a3 (v128.xor (local.get $a3) (v128.xor
              (i8x16.swizzle (local.get $lo) (v128.and (local.get $v) (local.get $m)))
              (i8x16.swizzle (local.get $hi) (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $m))))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $lterm)))
      (v128.store offset=0 (i32.add (local.get $dst) (local.get $off)) (local.get $a0))
      (v128.store offset=16 (i32.add (local.get $dst) (local.get $off)) (local.get $a1))
      (v128.store offset=32 (i32.add (local.get $dst) (local.get $off)) (local.get $a2))
      (v128.store offset=48 (i32.add (local.get $dst) (local.get $off)) (local.get $a3))
      (local.set $off (i32.add (local.get $off) (i32.const 64)))
      (br $lblk)))
    ;; 16-byte blocks
    (block $dblk (loop $lblk
      (br_if $dblk (i32.ge_u (local.get $off) (local.get $end16)))
      (local.set $a0 (v128.load (i32.add (local.get $dst) (local.get $off))))
      (local.set $i (i32.const 0))
      (block $dterm (loop $lterm
        (br_if $dterm (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $c (i32.load8_u (i32.add (local.get $coefs) (local.get $i))))
        (if (i32.eqz (local.get $c)) (then (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $lterm))) ;; c = 0 adds nothing
        (local.set $s (i32.add (i32.load (i32.add (local.get $list) (i32.shl (local.get $i) (i32.const 2)))) (local.get $off)))
        (local.set $t (i32.add (global.get $tab) (i32.shl (local.get $c) (i32.const 5))))
        (local.set $v (v128.load (local.get $s)))
        (local.set $a0 (v128.xor (local.get $a0) (v128.xor
          (i8x16.swizzle (v128.load offset=0 (local.get $t)) (v128.and (local.get $v) (local.get $m)))
          (i8x16.swizzle (v128.load offset=16 (local.get $t)) (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $m))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $lterm)))
      (v128.store (i32.add (local.get $dst) (local.get $off)) (local.get $a0))
      (local.set $off (i32.add (local.get $off) (i32.const 16)))
      (br $lblk)))
    ;; the last len % 16 bytes, one at a time
    (block $dbyte (loop $lbyte
      (br_if $dbyte (i32.ge_u (local.get $off) (local.get $len)))
      (local.set $acc (i32.load8_u (i32.add (local.get $dst) (local.get $off))))
      (local.set $i (i32.const 0))
      (block $dterm (loop $lterm
        (br_if $dterm (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $t (i32.add (global.get $tab) (i32.shl (i32.load8_u (i32.add (local.get $coefs) (local.get $i))) (i32.const 5))))
        (local.set $x (i32.load8_u (i32.add (i32.load (i32.add (local.get $list) (i32.shl (local.get $i) (i32.const 2)))) (local.get $off))))
        (local.set $acc (i32.xor (local.get $acc) (i32.xor
          (i32.load8_u offset=0 (i32.add (local.get $t) (i32.and (local.get $x) (i32.const 15))))
          (i32.load8_u offset=16 (i32.add (local.get $t) (i32.shr_u (local.get $x) (i32.const 4)))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $lterm)))
      (i32.store8 (i32.add (local.get $dst) (local.get $off)) (local.get $acc))
      (local.set $off (i32.add (local.get $off) (i32.const 1)))
      (br $lbyte))))

  ;; Split form of a symbol (for combine_split): for each 16-byte group j of mem[src..src+len) (the
  ;; last one zero-padded), its 16 low nibbles at dst+32j and its 16 high nibbles at dst+32j+16,
  ;; 2 * ceil(len/16) * 16 bytes in all. An encoder's sources never change, so it splits them once and
  ;; every product then costs two table lookups and two XORs per 16 bytes instead of also masking
  ;; and shifting the nibbles apart (about 1.6x the combine's throughput on the machine measured).
  (func (export "split") (param $dst i32) (param $src i32) (param $len i32)
    (local $end16 i32) (local $x i32) (local $m v128) (local $v v128)
    (local.set $m (i8x16.splat (i32.const 15)))
    (local.set $end16 (i32.add (local.get $src) (i32.and (local.get $len) (i32.const -16))))
    (local.set $len (i32.add (local.get $src) (local.get $len))) ;; now the end
    (block $d16 (loop $l16
      (br_if $d16 (i32.ge_u (local.get $src) (local.get $end16)))
      (local.set $v (v128.load (local.get $src)))
      (v128.store offset=0 (local.get $dst) (v128.and (local.get $v) (local.get $m)))
      (v128.store offset=16 (local.get $dst) (v128.and (i16x8.shr_u (local.get $v) (i32.const 4)) (local.get $m)))
      (local.set $src (i32.add (local.get $src) (i32.const 16)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
      (br $l16)))
    (if (i32.lt_u (local.get $src) (local.get $len))
      (then
        (v128.store offset=0 (local.get $dst) (v128.const i64x2 0 0))
        (v128.store offset=16 (local.get $dst) (v128.const i64x2 0 0))
        (block $d1 (loop $l1
          (br_if $d1 (i32.ge_u (local.get $src) (local.get $len)))
          (local.set $x (i32.load8_u (local.get $src)))
          (i32.store8 offset=0 (local.get $dst) (i32.and (local.get $x) (i32.const 15)))
          (i32.store8 offset=16 (local.get $dst) (i32.shr_u (local.get $x) (i32.const 4)))
          (local.set $src (i32.add (local.get $src) (i32.const 1)))
          (local.set $dst (i32.add (local.get $dst) (i32.const 1)))
          (br $l1))))))

  ;; combine over sources in split form: mem[dst..dst+len) ^= sum over i < n of mem[coefs+i] * x_i,
  ;; x_i stored split (see split) at the i32 at list+4i. Blocked like combine, with 128 bytes of dst
  ;; in eight registers, then 64, then 16, then the last len % 16 bytes one at a time.
  (func (export "combine_split") (param $dst i32) (param $len i32) (param $n i32) (param $list i32) (param $coefs i32)
    (local $off i32) (local $end16 i32) (local $i i32) (local $c i32) (local $s i32) (local $t i32) (local $acc i32) (local $q i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $a4 v128) (local $a5 v128) (local $a6 v128) (local $a7 v128) (local $lo v128) (local $hi v128)
    (local.set $end16 (i32.and (local.get $len) (i32.const -16)))
    ;; 128-byte blocks of dst
    (block $db8 (loop $lb8
      (br_if $db8 (i32.gt_u (i32.add (local.get $off) (i32.const 128)) (local.get $end16)))
      (local.set $a0 (v128.load offset=0 (i32.add (local.get $dst) (local.get $off))))
      (local.set $a1 (v128.load offset=16 (i32.add (local.get $dst) (local.get $off))))
      (local.set $a2 (v128.load offset=32 (i32.add (local.get $dst) (local.get $off))))
      (local.set $a3 (v128.load offset=48 (i32.add (local.get $dst) (local.get $off))))
      (local.set $a4 (v128.load offset=64 (i32.add (local.get $dst) (local.get $off))))
      (local.set $a5 (v128.load offset=80 (i32.add (local.get $dst) (local.get $off))))
      (local.set $a6 (v128.load offset=96 (i32.add (local.get $dst) (local.get $off))))
      (local.set $a7 (v128.load offset=112 (i32.add (local.get $dst) (local.get $off))))
      (local.set $i (i32.const 0))
      (block $dterm (loop $lterm
        (br_if $dterm (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $c (i32.load8_u (i32.add (local.get $coefs) (local.get $i))))
        (if (i32.eqz (local.get $c)) (then (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $lterm))) ;; c = 0 adds nothing
        (local.set $s (i32.add (i32.load (i32.add (local.get $list) (i32.shl (local.get $i) (i32.const 2)))) (i32.shl (local.get $off) (i32.const 1))))
        (local.set $t (i32.add (global.get $tab) (i32.shl (local.get $c) (i32.const 5))))
        (local.set $lo (v128.load offset=0 (local.get $t)))
        (local.set $hi (v128.load offset=16 (local.get $t)))
        (local.set $a0 (v128.xor (local.get $a0) (v128.xor
          (i8x16.swizzle (local.get $lo) (v128.load offset=0 (local.get $s)))
          (i8x16.swizzle (local.get $hi) (v128.load offset=16 (local.get $s))))))
        (local.set $a1 (v128.xor (local.get $a1) (v128.xor
          (i8x16.swizzle (local.get $lo) (v128.load offset=32 (local.get $s)))
          (i8x16.swizzle (local.get $hi) (v128.load offset=48 (local.get $s))))))
        (local.set $a2 (v128.xor (local.get $a2) (v128.xor
          (i8x16.swizzle (local.get $lo) (v128.load offset=64 (local.get $s)))
          (i8x16.swizzle (local.get $hi) (v128.load offset=80 (local.get $s))))))
        (local.set $a3 (v128.xor (local.get $a3) (v128.xor
          (i8x16.swizzle (local.get $lo) (v128.load offset=96 (local.get $s)))
          (i8x16.swizzle (local.get $hi) (v128.load offset=112 (local.get $s))))))
        (local.set $a4 (v128.xor (local.get $a4) (v128.xor
          (i8x16.swizzle (local.get $lo) (v128.load offset=128 (local.get $s)))
          (i8x16.swizzle (local.get $hi) (v128.load offset=144 (local.get $s))))))
        (local.set $a5 (v128.xor (local.get $a5) (v128.xor
          (i8x16.swizzle (local.get $lo) (v128.load offset=160 (local.get $s)))
          (i8x16.swizzle (local.get $hi) (v128.load offset=176 (local.get $s))))))
        (local.set $a6 (v128.xor (local.get $a6) (v128.xor
          (i8x16.swizzle (local.get $lo) (v128.load offset=192 (local.get $s)))
          (i8x16.swizzle (local.get $hi) (v128.load offset=208 (local.get $s))))))
        (local.set $a7 (v128.xor (local.get $a7) (v128.xor
          (i8x16.swizzle (local.get $lo) (v128.load offset=224 (local.get $s)))
          (i8x16.swizzle (local.get $hi) (v128.load offset=240 (local.get $s))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $lterm)))
      (v128.store offset=0 (i32.add (local.get $dst) (local.get $off)) (local.get $a0))
      (v128.store offset=16 (i32.add (local.get $dst) (local.get $off)) (local.get $a1))
      (v128.store offset=32 (i32.add (local.get $dst) (local.get $off)) (local.get $a2))
      (v128.store offset=48 (i32.add (local.get $dst) (local.get $off)) (local.get $a3))
      (v128.store offset=64 (i32.add (local.get $dst) (local.get $off)) (local.get $a4))
      (v128.store offset=80 (i32.add (local.get $dst) (local.get $off)) (local.get $a5))
      (v128.store offset=96 (i32.add (local.get $dst) (local.get $off)) (local.get $a6))
      (v128.store offset=112 (i32.add (local.get $dst) (local.get $off)) (local.get $a7))
      (local.set $off (i32.add (local.get $off) (i32.const 128)))
      (br $lb8)))
    ;; 64-byte blocks of dst
    (block $db4 (loop $lb4
      (br_if $db4 (i32.gt_u (i32.add (local.get $off) (i32.const 64)) (local.get $end16)))
      (local.set $a0 (v128.load offset=0 (i32.add (local.get $dst) (local.get $off))))
      (local.set $a1 (v128.load offset=16 (i32.add (local.get $dst) (local.get $off))))
      (local.set $a2 (v128.load offset=32 (i32.add (local.get $dst) (local.get $off))))
      (local.set $a3 (v128.load offset=48 (i32.add (local.get $dst) (local.get $off))))
      (local.set $i (i32.const 0))
      (block $dterm (loop $lterm
        (br_if $dterm (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $c (i32.load8_u (i32.add (local.get $coefs) (local.get $i))))
        (if (i32.eqz (local.get $c)) (then (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $lterm))) ;; c = 0 adds nothing
        (local.set $s (i32.add (i32.load (i32.add (local.get $list) (i32.shl (local.get $i) (i32.const 2)))) (i32.shl (local.get $off) (i32.const 1))))
        (local.set $t (i32.add (global.get $tab) (i32.shl (local.get $c) (i32.const 5))))
        (local.set $lo (v128.load offset=0 (local.get $t)))
        (local.set $hi (v128.load offset=16 (local.get $t)))
        (local.set $a0 (v128.xor (local.get $a0) (v128.xor
          (i8x16.swizzle (local.get $lo) (v128.load offset=0 (local.get $s)))
          (i8x16.swizzle (local.get $hi) (v128.load offset=16 (local.get $s))))))
        (local.set $a1 (v128.xor (local.get $a1) (v128.xor
          (i8x16.swizzle (local.get $lo) (v128.load offset=32 (local.get $s)))
          (i8x16.swizzle (local.get $hi) (v128.load offset=48 (local.get $s))))))
        (local.set $a2 (v128.xor (local.get $a2) (v128.xor
          (i8x16.swizzle (local.get $lo) (v128.load offset=64 (local.get $s)))
          (i8x16.swizzle (local.get $hi) (v128.load offset=80 (local.get $s))))))
        (local.set $a3 (v128.xor (local.get $a3) (v128.xor
          (i8x16.swizzle (local.get $lo) (v128.load offset=96 (local.get $s)))
          (i8x16.swizzle (local.get $hi) (v128.load offset=112 (local.get $s))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $lterm)))
      (v128.store offset=0 (i32.add (local.get $dst) (local.get $off)) (local.get $a0))
      (v128.store offset=16 (i32.add (local.get $dst) (local.get $off)) (local.get $a1))
      (v128.store offset=32 (i32.add (local.get $dst) (local.get $off)) (local.get $a2))
      (v128.store offset=48 (i32.add (local.get $dst) (local.get $off)) (local.get $a3))
      (local.set $off (i32.add (local.get $off) (i32.const 64)))
      (br $lb4)))
    ;; 16-byte blocks of dst
    (block $db1 (loop $lb1
      (br_if $db1 (i32.gt_u (i32.add (local.get $off) (i32.const 16)) (local.get $end16)))
      (local.set $a0 (v128.load offset=0 (i32.add (local.get $dst) (local.get $off))))
      (local.set $i (i32.const 0))
      (block $dterm (loop $lterm
        (br_if $dterm (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $c (i32.load8_u (i32.add (local.get $coefs) (local.get $i))))
        (if (i32.eqz (local.get $c)) (then (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $lterm))) ;; c = 0 adds nothing
        (local.set $s (i32.add (i32.load (i32.add (local.get $list) (i32.shl (local.get $i) (i32.const 2)))) (i32.shl (local.get $off) (i32.const 1))))
        (local.set $t (i32.add (global.get $tab) (i32.shl (local.get $c) (i32.const 5))))
        (local.set $lo (v128.load offset=0 (local.get $t)))
        (local.set $hi (v128.load offset=16 (local.get $t)))
        (local.set $a0 (v128.xor (local.get $a0) (v128.xor
          (i8x16.swizzle (local.get $lo) (v128.load offset=0 (local.get $s)))
          (i8x16.swizzle (local.get $hi) (v128.load offset=16 (local.get $s))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $lterm)))
      (v128.store offset=0 (i32.add (local.get $dst) (local.get $off)) (local.get $a0))
      (local.set $off (i32.add (local.get $off) (i32.const 16)))
      (br $lb1)))
    ;; the tail: byte q of the last, partial group sits at 2*end16 + q (low) and + 16 (high)
    (block $dbyte (loop $lbyte
      (br_if $dbyte (i32.ge_u (local.get $off) (local.get $len)))
      (local.set $q (i32.add (i32.shl (local.get $end16) (i32.const 1)) (i32.sub (local.get $off) (local.get $end16))))
      (local.set $acc (i32.load8_u (i32.add (local.get $dst) (local.get $off))))
      (local.set $i (i32.const 0))
      (block $dterm (loop $lterm
        (br_if $dterm (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $t (i32.add (global.get $tab) (i32.shl (i32.load8_u (i32.add (local.get $coefs) (local.get $i))) (i32.const 5))))
        (local.set $s (i32.add (i32.load (i32.add (local.get $list) (i32.shl (local.get $i) (i32.const 2)))) (local.get $q)))
        (local.set $acc (i32.xor (local.get $acc) (i32.xor
          (i32.load8_u offset=0 (i32.add (local.get $t) (i32.load8_u offset=0 (local.get $s))))
          (i32.load8_u offset=16 (i32.add (local.get $t) (i32.load8_u offset=16 (local.get $s)))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $lterm)))
      (i32.store8 (i32.add (local.get $dst) (local.get $off)) (local.get $acc))
      (local.set $off (i32.add (local.get $off) (i32.const 1)))
      (br $lbyte))))
)
