#!/bin/bash
# The command line: help, version, exit codes, and the man page saying
# the same as --help.
. "$(dirname "$0")/../lib.sh"

cmds=$("$MM" --help | awk '/^(Commands|Plumbing):/{f=1;next} /^$/{f=0} f{print $1}')
n=$(printf '%s\n' $cmds | wc -l)
plan $((8 + 3 * n))

run_mm --help
is "$rc" 0 "--help exits 0"
like "$out" 'Exit status:' "--help documents the exit codes"
run_mm --version
like "$out" '^mailmove [0-9]' "--version prints the version"
run_mm
is "$rc" 2 "no command is a usage error"
run_mm no-such-command
is "$rc" 2 "an unknown command exits 2"
like "$err" 'no such command' "and says so"
run_mm ls --no-such-option --from /
is "$rc" 2 "an unknown option exits 2"
ok_run "file says the agent is statically linked" \
	sh -c "file -L '$AGENT' | grep -q 'statically linked'"

man="$TOP/docs/mailmove.1"
for c in $cmds; do
	run_mm help "$c"
	is "$rc" 0 "help $c exits 0"
	h=$("$MM" "$c" --help)
	ok $? "$c --help exits 0"
	# Every long option that --help lists is in the man page too.
	missing=""
	for o in $(printf '%s\n' "$h" | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
		grep -q -- "$(printf '%s' "$o" | sed 's/-/\\\\-/g')" "$man" ||
			grep -q -- "$o" "$man" || missing="$missing $o"
	done
	grep -q "^\\.SS $c\\b\\|^\\.SS \"$c" "$man" || missing="$missing (section $c)"
	is "$missing" "" "mailmove.1 documents $c and all its options"
done
