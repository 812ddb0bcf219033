#!/bin/bash
# Listing and reading an old root given as a directory (--from DIR): the
# agent runs as a child and every path stays beneath DIR.
. "$(dirname "$0")/../lib.sh"
plan 17

old="$T/old"
mkdir -p "$old/var/vmail/example.org/ann/Maildir/"{cur,new,tmp} "$old/etc" "$T/secret"
md="$old/var/vmail/example.org/ann/Maildir"
printf 'Subject: hi\r\n\r\nbody\r\n' >"$md/cur/1700000000.M1P2.old,S=21:2,S"
head -c 3000000 /dev/urandom >"$md/new/big"
weird=$(printf 'we ird\001\\name\tx')
printf 'x' >"$md/cur/$weird"
echo "top secret" >"$T/secret/file"
ln -s "$T/secret/file" "$old/var/vmail/abs-link"
ln -s ../../../secret/file "$old/var/vmail/rel-link"
ln -s /etc "$old/var/vmail/etc-link"
echo 'root:x:0:0:root:/root:/bin/sh' >"$old/etc/passwd"

run_mm ls --from "$old" -R /var/vmail
is "$rc" 0 "ls -R exits 0"
is "$(printf '%s\n' "$out" | grep -c 'Maildir/cur/.')" 2 "ls -R shows both messages in cur/"
like "$out" 'we ird\\001\\134name\\011x' "a name with control bytes prints escaped on one line"

run_mm ls --from "$old" --json -l /var/vmail/example.org/ann/Maildir/new
like "$out" '"path":"big".*"size":3000000' "--json -l gives path and size"
like "$out" '"event":"result"' "--json ends with a result object"

"$MM" cat --from "$old" /var/vmail/example.org/ann/Maildir/new/big >"$T/big.copy" 2>/dev/null
is "$?" 0 "cat of a 3 MB file exits 0"
ok_run "cat streams the file byte for byte" cmp -s "$T/big.copy" "$md/new/big"

run_mm cat --from "$old" /var/vmail/abs-link
is "$rc" 1 "cat of a symlink is refused (exit 1)"
unlike "$out" 'top secret' "an absolute symlink does not leak a file outside DIR"

run_mm cat --from "$old" /var/vmail/rel-link/../x
is "$rc" 2 "a path with .. is a usage error"

run_mm cat --from "$old" /var/vmail/etc-link/passwd
is "$out" 'root:x:0:0:root:/root:/bin/sh' "an absolute symlink in the old tree resolves inside DIR"

run_mm cat --from "$old" /var/vmail/nonexistent
is "$rc" 1 "a missing file is a per-item failure (exit 1)"
like "$err" 'nonexistent: No such file' "and says which file"

run_mm ls --from "$T/nonexistent-dir" /
is "$rc" 2 "--from naming no directory or host is a usage error"

run_mm ls /
is "$rc" 2 "ls without --from is a usage error"
like "$err" 'which old server' "and says what is missing"

run_mm exec --from "$old" -- sh -c 'echo out; echo err >&2; exit 3'
is "$rc:$out" "1:out" "exec streams stdout and reports the exit status"
