#!/bin/sh
# Builds and runs the libFuzzer harness of the C engine (spec/fuzz/fuzz-engine.c).
#
#   tools/fuzz-c.sh [seconds] [libFuzzer flags ...]      (make fuzz-c)
#
# seconds: total fuzzing time (default 180). The corpus lives in
# build/fuzz-corpus/ (never committed) and is seeded with a few handcrafted
# inputs the first time; crashes land in build/fuzz-crashes/. Replay one,
# decoded into the op sequence it performs, with
#   FUZZ_ENGINE_TRACE=1 build/fuzz-engine build/fuzz-crashes/crash-...
# Extra flags go to libFuzzer (e.g. -fork=2 -ignore_crashes=1 to go on past
# a crash). Environment: CC (default clang); the harness reads
# FUZZ_ENGINE_TRACE=1, FUZZ_ENGINE_NO_POISON=1 and FUZZ_ENGINE_AVOID=name,...
# (steer around a known engine bug; see the top of the harness).
set -eu

cd "$(dirname "$0")/.."
secs=${1:-180}
if [ $# -gt 0 ]; then shift; fi
CC=${CC:-clang}
out=build/fuzz-engine
corpus=build/fuzz-corpus
crashes=build/fuzz-crashes

mkdir -p build "$corpus" "$crashes"

# --- build: the engine and the harness, with ASan + UBSan -----------------
# shellcheck disable=SC2046 # pkg-config output is meant to be split
$CC -g -O1 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I engine spec/fuzz/fuzz-engine.c engine/*.c \
  $(pkg-config --cflags --libs libuv) -o "$out"

# --- seeds: header then op/argument pairs ---------------------------------
# Header byte 0: roots (mod 3), poison (bits 2-3), ABANDON allowed (bit 4),
# abandon on a second deadlock (bit 5), seeded schedule (bit 6: the engine
# shuffles ready tasks and deadline ties, seeded from the input); byte 1:
# channel caps, semaphore permits.
# Op numbers follow the OPS list in the harness: 0 SLEEP 1 YIELD 2 SCOPE
# 3 EXIT 4 GROUP(2 args) 5 SPAWN 6 START 7 READY 8 CANCEL 9 STOP 10 SHIELD
# 11 DEADLINE(2 args) 12 FAIL_BODY 13 FAIL 14 STOPPING 15 JOIN 16 EV_WAIT
# 17 EV_SET 18 ACQUIRE 19 RELEASE 20 SEND 21 RECV 22 CLOSE 23 DONE
# 24 PCALL 25 RERAISE 26 CLEANUP 27 ABANDON 28 REASON 29 TRY_SEND
# 30 TRY_RECV 31 TRY_ACQUIRE.
# shellcheck disable=SC2059 # the seed is the format: octal escapes
seed() { [ -e "$corpus/seed-$1" ] || printf "$2" > "$corpus/seed-$1"; }
# one root: a group of limit 1, two children queue on it, the body exits
seed group-limit '\000\000\004\001\000\005\001\005\001\000\002\000\002\003\000\027\000\000\003'
# a shielded scope sleeps through its task's cancel, which hits it after exit
seed shield '\001\000\002\010\000\003\010\002\000\004\003\000\001\000'
# producer/consumer over a buffered channel, then close
seed channel '\001\025\024\000\024\000\025\000\025\000\026\000\027\000'
# lock held across a sleep; the second root is cancelled while it waits
seed lock '\001\000\022\000\000\002\022\000\010\005\023\000\023\000'
# start/ready, wait_stopping in the child, stop with a grace that runs out
seed stop '\000\000\004\000\000\006\000\007\000\016\001\011\100\003\000\000\006'
# gh-155433: a group cancels itself while a child cleans up shielded; the
# outer scope's deadline fires meanwhile and the catch moves outward
seed outer-during-cleanup '\000\000\002\002\004\000\000\005\001\000\001\002\000\032\002\000\007\010\001\027\000'
# a pcall catches the task's own Cancelled, which is re-raised later
seed pcall-reraise '\000\000\030\000\002\000\010\002\000\001\031\000'
# abandon while one root holds the lock the other waits for
seed abandon-lock '\021\000\022\000\001\000\022\000\033\000'
# abandon while a root waits to receive
seed abandon-recv '\021\000\001\000\025\000\033\000'

# --- fuzz --------------------------------------------------------------------
# Scenarios need room: two bytes an op, and libFuzzer's default length
# control keeps inputs at a few ops for minutes.
exec "$out" -max_total_time="$secs" -print_final_stats=1 \
  -max_len=1024 -len_control=0 \
  -artifact_prefix="$crashes/" "$@" "$corpus"
