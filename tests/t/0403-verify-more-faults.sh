#!/bin/bash
# mailmove verify: faults that must never pass as clean.  Each case injects
# exactly one fault into an otherwise identical pair and asserts, from
# --json, that exactly that fault is reported in its category and that
# verify exits 1.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-verify.sh"
plan 6

V=var/vmail
A=$V/example.org/alice/Maildir
verify() { local d=$1; shift; run_mm verify --from "$T/$d/old" --to "$T/$d/new" --json "$@"; }

# Two files of one message in one destination folder: Dovecot would rename
# one of them, so this is a difference (content), even with equal bytes.
make_pair dupdst
f=$(ls "$T/dupdst/new/$A/cur" | head -1)
echo garbage >"$T/dupdst/new/$A/new/$(base_of "$f")"
verify dupdst --content
is "$rc" 1 "a second file of one message on the destination exits 1"
is "$(diffs)" "$(printf 'content\texample.org/alice\tINBOX\t%s' "$(base_of "$f")")" \
	"and is reported as a content difference of that message only"
like "$out" '"reason":"duplicate"' "named as a duplicate"

# The same on the source: a broken source folder, an error.
make_pair dupsrc
f=$(ls "$T/dupsrc/old/$A/.Sent/cur" | head -1)
cp -p "$T/dupsrc/old/$A/.Sent/cur/$f" "$T/dupsrc/old/$A/.Sent/new/$(base_of "$f")"
verify dupsrc
is "$rc" 1 "a second file of one message on the source exits 1"
is "$(diffs)" "$(printf 'error\texample.org/alice\tSent\t%s' "$(base_of "$f")")" \
	"and is reported as an error of that message only"
like "$out" '"side":"source"' "on the source"
