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
make_old_root "$old" standalone || { echo "Bail out! openssl failed"; exit 1; }
make_new_root "$new"
a="etc/letsencrypt/archive/mail.example.org"
# A large file keeps the copy busy long enough to be killed mid-write.
head -c $((48 * 1024 * 1024)) /dev/zero >"$old/$a/big.bin"
mkdir -p "$new/$a"
printf 'mine\n' >"$new/$a/.mailmove.$$.7.tmp"	# a live process's temp name
printf 'notes\n' >"$new/$a/.mailmove-notes"

"$MM" files --from "$old" --to "$new" /etc/letsencrypt >"$T/run1.out" 2>&1 &
pid=$!
seen=1
for _ in $(seq 1 1000); do
	if find "$new/$a" -name '.mailmove.*.tmp' ! -name ".mailmove.$$.*" -size +1k | grep -q .; then
		seen=0
		break
	fi
	sleep 0.01
done
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
ok "$seen" "the run was killed while a temporary file was being written"
partial=$(find "$new/$a" -name '.mailmove.*.tmp' ! -name ".mailmove.$$.*" | head -1)
ok "$([ -n "$partial" ] && [ "$(stat -c %s "$partial")" -lt $((48 * 1024 * 1024)) ] && echo 0 || echo 1)" \
	"a half-written temporary file is left by the kill"
ok "$([ ! -e "$new/$a/big.bin" ] || cmp -s "$old/$a/big.bin" "$new/$a/big.bin"; echo $?)" \
	"the real name holds nothing partial"

run_mm files --from "$old" --to "$new" /etc/letsencrypt
is "$rc" 0 "the rerun completes"
like "$err" 'removed, left by an interrupted run' "it says it removed the leftover"
ok "$([ -z "$partial" ] || [ ! -e "$partial" ]; echo $?)" "the half-written temporary file is gone"
ok_run "the large file arrives whole" cmp -s "$old/$a/big.bin" "$new/$a/big.bin"
ok_run "and the whole archive" diff -r -x '.mailmove*' "$old/$a" "$new/$a"
is "$(cat "$new/$a/.mailmove.$$.7.tmp")" mine "a temporary name of a live process is left alone"
is "$(cat "$new/$a/.mailmove-notes")" notes "other files are left alone"
