# tests/lib-verify.sh: helpers for the `mailmove verify` tests.
#
#   make_pair NAME    $T/NAME/old and $T/NAME/new: two identical roots made
#                     by scripts/sample-servers and cp -a (built once, copied)
#   diffs             the difference events of the last --json run ($out),
#                     one "event<TAB>user<TAB>folder<TAB>name" line each, sorted
#   total FIELD       a field of the files check's total in the result
#   base_of FILE      a message file name without its ":2,..." info
#   verify NAME ARGS  mailmove verify --json ARGS from the pair NAME's old
#                     root to its new one (run_mm: $out, $err, $rc)

_pristine=""
make_pair() {
	local name=$1
	if [ -z "$_pristine" ]; then
		_pristine="$T/.pristine"
		"$TOP/scripts/sample-servers" "$_pristine" >/dev/null
		rm -rf "$_pristine/new/var/vmail"
		cp -a "$_pristine/old/var/vmail" "$_pristine/new/var/vmail"
	fi
	rm -rf "${T:?}/$name"
	mkdir -p "$T/$name"
	cp -a "$_pristine/old" "$_pristine/new" "$T/$name/"
}

diffs() {
	printf '%s\n' "$out" | jq -r 'select(.event != "result") |
		[.event, .user, .folder, (.name // "")] | @tsv' | sort
}

total() {
	printf '%s\n' "$out" | jq -r "select(.event == \"result\") | .files.total.\"$1\""
}

base_of() { local b=${1##*/}; printf '%s' "${b%%:*}"; }
verify() { local d=$1; shift; run_mm verify --from "$T/$d/old" --to "$T/$d/new" --json "$@"; }
