#!/bin/bash
# Attack on the --json result that main.c now adds to every failed run
# (out_result_failed in src/log.c): "a script gets one for every run (a
# lock refused, an option rejected)", with "exit" and "error".
#   A. an error message with bytes that are not UTF-8 (a Latin-1 path, an
#      argument): json_pack() fails on the string, out_result(NULL) then
#      prints {"event":"result"} -- no "exit", no "error";
#   B. an error message longer than 511 bytes cut in the middle of a UTF-8
#      character (last_error[512]): the same empty result; and a long
#      message loses its end (the sync refusal loses "--after-cutover");
#   C. an option rejected: no result at all (json_mode is set only after
#      the options parsed), though log.h promises one;
#   D. every stdout line is valid JSON -- also that of `run --json`, whose
#      steps run without --json on the same stdout (the sync's human
#      summary line lands among run's JSON events).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 9

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp"
printf 'Subject: one\n\nx\n' >"$M/cur/1700000001.M1P1.old:2,"

valid_json() { printf '%s\n' "$1" | grep . | python3 -c 'import json,sys; [json.loads(l) for l in sys.stdin]' 2>&1; }
result_of() { printf '%s\n' "$1" | grep '"event":"result"'; }

# A. Latin-1 bytes in the error.
run_mm run --json --from "$T/old" --to "$T/new" $'caf\xe9'
like "$(result_of "$out")" "\"exit\":$rc" "A: unexpected argument in Latin-1: the result names exit $rc (got: $(result_of "$out"))"
run_mm sync --json --from "$T/old" --to "$T/new/"$'Entw\xfcrfe' --state "$S"
like "$(result_of "$out")" "\"exit\":$rc" "A: a --to path in Latin-1 that is missing: the result names exit $rc (got: $(result_of "$out"))"
like "$(result_of "$out")" '"error":' "A: and carries the error"

# B. A UTF-8 --to root long enough that byte 511 of the sync refusal falls
#    inside a two-byte character.
pre='sync: the new Dovecot has served users since a cutover ('
d="$T/u"
while [ $(( ${#pre} + $(printf '%s' "$d" | wc -c) )) -lt 490 ]; do d="$d/ääääääääääää"; done
# one byte to the right position: byte 511 (0-based 510) must be a lead byte
while :; do
	n=$(( ${#pre} + $(printf '%s' "$d" | wc -c) ))
	[ "$n" -ge 520 ] && break
	d="${d}ä"
done
mkdir -p "$d/var/lib/mailmove" "$d/var/vmail" "$d/etc"
cp "$T/new/etc/passwd" "$T/new/etc/group" "$d/etc/"
: >"$d/var/lib/mailmove/cutover-served"
msg_at_511=$(printf '%s%s' "$pre" "$d" | head -c 511 | python3 -c 'import sys; sys.stdin.buffer.read().decode("utf-8")' 2>&1 && echo whole || echo split)
diag "the 511-byte cut of the message: $msg_at_511"
run_mm sync --json --from "$T/old" --to "$d" --state "$T/s2"
is "$rc" 4 "B: the sync refusal under a long UTF-8 root (exit 4)"
like "$(result_of "$out")" '"exit":4' "B: the result names exit 4 (got: $(result_of "$out" | cut -c1-120))"

# The same refusal under a 200-byte ASCII root: does "error" keep the hint?
d2="$T/$(printf 'a%.0s' $(seq 100))/$(printf 'b%.0s' $(seq 100))"
mkdir -p "$d2/var/lib/mailmove" "$d2/var/vmail" "$d2/etc"
cp "$T/new/etc/passwd" "$T/new/etc/group" "$d2/etc/"
: >"$d2/var/lib/mailmove/cutover-served"
run_mm sync --json --from "$T/old" --to "$d2" --state "$T/s3"
like "$(result_of "$out")" 'after-cutover' "B: the result's error keeps its end (--after-cutover) under a 200-byte root"

# C. An option rejected.
run_mm sync --json --from "$T/old" --to "$T/new" --state "$S" --max-delete lots
ok "$([ "$rc" != 0 ] && [ -n "$(result_of "$out")" ] && echo 0 || echo 1)" \
	"C: --max-delete lots (exit $rc): a result all the same (stdout: ${out:-empty})"

# D. Valid JSON everywhere.
run_mm run --json --from "$T/old" --to "$T/new" $'x\x01\x1b[31m\xff'
v=$(valid_json "$out")
is "$v" "" "D: stdout is valid JSON line by line"

rm -rf "$T/new3"; mkdir -p "$T/new3/etc" "$T/new3/var/vmail"
cp "$T/new/etc/passwd" "$T/new/etc/group" "$T/new3/etc/"
run_mm run --json --from "$T/old" --to "$T/new3" --yes --skip check --skip db \
	--skip redis --skip files --skip cutover
v=$(valid_json "$out" | tail -1)
is "$v" "" "D: run --json (its sync step done): stdout is valid JSON line by line (stdout: $out)"
