#!/bin/bash
# Killed at any point, a rerun completes: the hidden switch
# MAILMOVE_TEST_EXIT_AT=N ends mailmove sync at its Nth step (a tmp file
# written, a batch made durable, a rename, a metadata file, a state commit).
# For every N of a first sync and of a --delete resync after changes: after
# the kill no base name is twice in a folder and every file in cur/ or new/
# is whole; the rerun gives exactly the tree of an uninterrupted run.
. "$(dirname "$0")/../lib.sh"

mkdir -p "$T/old/etc" "$T/new/etc"
for r in old new; do
	printf 'root:x:0:0::/root:/bin/sh\nvmail:x:5000:5000::/var/vmail:/bin/false\n' >"$T/$r/etc/passwd"
	printf 'root:x:0:\nvmail:x:5000:\n' >"$T/$r/etc/group"
done
V="$T/old/var/vmail"
mkmsg() {	# mkmsg DIR NAME SIZE
	head -c "$3" /dev/urandom | base64 >"$1/$2"
	touch -d "@$((1700000000 + RANDOM))" "$1/$2"
}
for u in a b; do
	M="$V/example.org/$u/Maildir"
	for f in "" .Sent .Archive; do
		mkdir -p "$M/$f/cur" "$M/$f/new" "$M/$f/tmp"
	done
	mkmsg "$M/cur" "1700000001.M1P1.old,S=100:2,S" 100
	mkmsg "$M/cur" "1700000002.M2P1.old,S=3000:2,FSa" 3000
	mkmsg "$M/new" "1700000003.M3P1.old,S=200" 200
	mkmsg "$M/.Sent/cur" "1700000004.M4P1.old,S=50:2,RS" 50
	mkmsg "$M/.Sent/cur" "$(printf '1700000005.M5P1.old\tname\351:2,S')" 70
	ln "$M/cur/1700000001.M1P1.old,S=100:2,S" "$M/.Archive/cur/1700000001.M1P1.old,S=100:2,S"
	printf '3 V1700000000 N4 G0123456789abcdef\n1 :1700000001.M1P1.old,S=100\n2 :1700000002.M2P1.old,S=3000\n3 :1700000003.M3P1.old,S=200\n' >"$M/dovecot-uidlist"
	printf '0 $Label1\n' >"$M/dovecot-keywords"
	printf 'V\t2\n\nSent\n' >"$M/subscriptions"
	printf 'x' >"$M/dovecot.index.cache"
	printf '3 V1700000001 N3\n1 :1700000004.M4P1.old,S=50\n' >"$M/.Sent/dovecot-uidlist"
	: >"$M/.Sent/maildirfolder"
	mkdir -p "$V/example.org/$u/sieve"
	printf 'keep;\n' >"$V/example.org/$u/sieve/main.sieve"
	ln -s sieve/main.sieve "$V/example.org/$u/.dovecot.sieve"
done
chown -R -h 5000:5000 "$V"

snap() {	# the tree as files, links, modes, owners, sizes, mtimes, content
	(cd "$1" && find . -path ./var/lib -prune -o \( -type d -printf '%p d %m %U\n' \) -o \
		\( -type l -printf '%p l %l %U\n' \) -o \
		\( -type f -printf '%p f %m %U %s %T@ %n ' -exec sh -c 'md5sum <"$1" | cut -c1-32' _ {} \; \) ) | sort
}
whole_and_unique() {	# after a kill: nothing partial, nothing twice
	local bad=0 f base src
	while IFS= read -r -d '' f; do
		base=${f##*/}; base=${base%%:*}
		src="$V/${f#$T/dest/var/vmail/}"
		[ -f "$src" ] || src=$(find "${src%/*/*}/cur" "${src%/*/*}/new" -name "$base*" 2>/dev/null | head -1)
		[ -n "$src" ] || continue	# destination-only
		cmp -s "$f" "$src" || { diag "partial or wrong: $f"; bad=1; }
	done < <(find "$T/dest/var/vmail" \( -path '*/cur/*' -o -path '*/new/*' \) -type f -print0)
	dup=$(find "$T/dest/var/vmail" \( -path '*/cur/*' -o -path '*/new/*' \) -type f |
		sed 's,/\(cur\|new\)/\([^:]*\).*,\t\2,' | sort | uniq -d)
	[ -z "$dup" ] || { diag "twice: $dup"; bad=1; }
	return $bad
}
mm_sync() { "$MM" sync --from "$T/old" --to "$T/dest" --state "$T/state.sqlite" "$@" /var/vmail /var/vmail; }

change_source() {
	local M="$V/example.org/a/Maildir"
	mkmsg "$M/new" "1700000010.M10P1.old,S=500" 500
	mv "$M/cur/1700000002.M2P1.old,S=3000:2,FSa" "$M/cur/1700000002.M2P1.old,S=3000:2,FRSa"
	mv "$M/new/1700000003.M3P1.old,S=200" "$M/cur/1700000003.M3P1.old,S=200:2,S"
	rm "$V/example.org/b/Maildir/.Sent/cur/1700000004.M4P1.old,S=50:2,RS"
	mv "$V/example.org/b/Maildir/.Archive" "$V/example.org/b/Maildir/.Old"
	printf '3 V1700000000 N5 G0123456789abcdef\n1 :1700000001.M1P1.old,S=100\n2 :1700000002.M2P1.old,S=3000\n3 :1700000003.M3P1.old,S=200\n4 :1700000010.M10P1.old,S=500\n' >"$M/dovecot-uidlist.tmp"
	mv "$M/dovecot-uidlist.tmp" "$M/dovecot-uidlist"
	chown -R -h 5000:5000 "$V"
}
fresh() { rm -rf "$T/dest" "$T/state.sqlite"*; mkdir -p "$T/dest"; cp -a "$T/new/etc" "$T/dest/"; }
restore() { rm -rf "$T/dest" "$T/state.sqlite"*; cp -a "$T/base-dest" "$T/dest"; cp -a "$T/base-state" "$T/state.sqlite"; }
count_steps() { MAILMOVE_TEST_EXIT_AT=1000000 mm_sync "$@" 2>&1 >/dev/null | sed -n 's/.*test: \([0-9]*\) steps.*/\1/p'; }

loop() {	# loop PHASE STEPS REF PREPARE [ARGS]: kill at every step, rerun
	local phase=$1 n=$2 ref=$3 prep=$4 i rc; shift 4
	for i in $(seq 1 "$n"); do
		$prep
		MAILMOVE_TEST_EXIT_AT=$i mm_sync "$@" >/dev/null 2>&1; rc=$?
		if [ $rc = 99 ] && whole_and_unique; then
			ok 0 "phase $phase, killed at step $i: nothing partial, nothing twice"
		else
			ok 1 "phase $phase, killed at step $i: nothing partial, nothing twice (exit $rc)"
		fi
		mm_sync "$@" >/dev/null 2>"$T/rerun.err"
		snap "$T/dest" >"$T/got"
		if diff -q "$ref" "$T/got" >/dev/null; then
			ok 0 "phase $phase, killed at step $i: the rerun completes the job"
		else
			ok 1 "phase $phase, killed at step $i: the rerun completes the job"
			diag "$(diff "$ref" "$T/got" | head -10)" "$(cat "$T/rerun.err")"
		fi
	done
}

# Phase 1: a first sync into an empty destination.
fresh; mm_sync >/dev/null 2>&1; snap "$T/dest" >"$T/ref1"
fresh; steps=$(count_steps)
ok "$([ "${steps:-0}" -gt 20 ] && echo 0)" "the first sync has $steps steps"
loop 1 "$steps" "$T/ref1" fresh

# Phase 2: a --delete resync after changes on both sides.
fresh; mm_sync >/dev/null 2>&1
mkmsg "$T/dest/var/vmail/example.org/a/Maildir/new" "1800000000.M1P2.new,S=10" 10
cp -a "$T/dest" "$T/base-dest"; cp -a "$T/state.sqlite" "$T/base-state"
change_source
restore; mm_sync --delete >/dev/null 2>&1; snap "$T/dest" >"$T/ref2"
like "$(cat "$T/ref2")" '1800000000.M1P2.new' "the destination-only message survives --delete"
restore; steps2=$(count_steps --delete)
ok "$([ "${steps2:-0}" -gt 5 ] && echo 0)" "the --delete resync has $steps2 steps"
loop 2 "$steps2" "$T/ref2" restore --delete
plan $_tap_n
