# tests/lib-sync.sh: two small roots for the sync regression tests.
# Source after tests/lib.sh.
#
#   sync_roots [EXTRA_DIR...]
#       $T/old and $T/new, each with an etc/passwd and etc/group of root
#       alone, $T/new/var/vmail, and the extra directories given; sets
#       M and N (bob's Maildir on the old and the new side) and S (the
#       state file).  Nothing is made below M.
#   sync_vv ARGS...    run_mm sync -vv ARGS from $T/old to $T/new with $S
#   dest_counts        from the last run's -vv planning line: how many
#                      destination cur/ and new/ were read, how many taken
#                      from the state ("READ STATE")

sync_roots() {
	local r
	mkdir -p "$T/old/etc" "$T/new/etc" "$T/new/var/vmail" "$@"
	for r in old new; do
		printf 'root:x:0:0::/root:/bin/sh\n' >"$T/$r/etc/passwd"
		printf 'root:x:0:\n' >"$T/$r/etc/group"
	done
	M="$T/old/var/vmail/example.org/bob/Maildir"
	N="$T/new/var/vmail/example.org/bob/Maildir"
	S="$T/new/state.sqlite"
}

sync_vv() { run_mm sync -vv "$@" --from "$T/old" --to "$T/new" --state "$S"; }

dest_counts() {
	printf '%s\n' "$err" | sed -n 's/.*destination cur\/ and new\/: \([0-9]*\) read, \([0-9]*\) from the state.*/\1 \2/p'
}
