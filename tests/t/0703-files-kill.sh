#!/bin/bash
# mailmove files killed with SIGKILL while a file is being written: the
# file's real name never holds part of it, and the rerun removes the
# half-written temporary file, finishes the copy and touches no temporary
# name of a live process or any other file.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib-files.sh"
command -v openssl >/dev/null || skip_all "no openssl"
plan 10

old="$T/old"
new="$T/new"
make_old_root "$old" standalone || { give_up "openssl failed"; }
make_new_root "$new"
a="etc/letsencrypt/archive/mail.example.org"
# A large file keeps the copy busy long enough to be killed mid-write.
head -c $((48 * 1024 * 1024)) /dev/zero >"$old/$a/big.bin"
mkdir -p "$new/$a"
printf 'mine\n' >"$new/$a/.mailmove.$$.7.tmp"	# a live process's temp name
printf 'notes\n' >"$new/$a/.mailmove-notes"

"$MM" files --from "$old" --to "$new" /etc/letsencrypt >"$T/run1.out" 2>&1 &
pid=$!
# Stop the run, look, and kill it only while its temporary file exists.
seen=1
for _ in $(seq 1 2000); do
	kill -STOP "$pid" 2>/dev/null || break
	if find "$new/$a" -name '.mailmove.*.tmp' ! -name ".mailmove.$$.*" | grep -q .; then
		seen=0
		kill9 "$pid"
		break
	fi
	kill -CONT "$pid"
	sleep 0.005
done
kill9 "$pid"
ok "$seen" "the run was killed while a temporary file was being written"
partial=$(find "$new/$a" -name '.mailmove.*.tmp' ! -name ".mailmove.$$.*" | head -1)
ok "$([ -n "$partial" ] && echo 0 || echo 1)" \
	"the kill left a temporary file ($(stat -c %s "$partial" 2>/dev/null) of $((48 * 1024 * 1024)) bytes)"
partial_real=0
for f in $(cd "$new/$a" && find . -type f ! -name '.mailmove*'); do
	cmp -s "$old/$a/$f" "$new/$a/$f" || { partial_real=1; diag "partial: $f"; }
done
is "$partial_real" 0 "no real name holds a partial file"

run_mm files --from "$old" --to "$new" /etc/letsencrypt
is "$rc" 0 "the rerun completes"
like "$err" 'removed, left by an interrupted run' "it says it removed the leftover"
ok "$([ -z "$partial" ] || [ ! -e "$partial" ]; echo $?)" "the half-written temporary file is gone"
ok_run "the large file arrives whole" cmp -s "$old/$a/big.bin" "$new/$a/big.bin"
ok_run "and the whole archive" diff -r -x '.mailmove*' "$old/$a" "$new/$a"
is "$(cat "$new/$a/.mailmove.$$.7.tmp")" mine "a temporary name of a live process is left alone"
is "$(cat "$new/$a/.mailmove-notes")" notes "other files are left alone"
