#!/bin/bash
# SRC DEST as an rsync user writes them: two local paths (an old disk
# mounted here) work exactly as --from / with those paths, DIR:/PATH names a
# directory holding the old root, absolute or relative; what is not a host,
# a directory or a path is refused with the reason.  And `check --from DIR`
# names the old server by its own /etc/hostname and finds Postfix and Redis
# by their configuration.
. "$(dirname "$0")/../lib.sh"
plan 25

old="$T/old-root"
md="$old/var/vmail/example.org/ann/Maildir"
mkdir -p "$md/cur" "$md/new" "$md/tmp" "$md/.Sent/cur" "$md/.Sent/new" "$md/.Sent/tmp" \
	"$old/etc/postfix" "$old/etc/rspamd/local.d"
printf 'Subject: one\r\n\r\n1\r\n' >"$md/cur/1700000001.M1P1.old,S=18:2,S"
printf 'Subject: two\r\n\r\n2\r\n' >"$md/new/1700000002.M2P2.old,S=18"
printf 'Subject: sent\r\n\r\n3\r\n' >"$md/.Sent/cur/1700000003.M3P3.old,S=19:2,S"
echo old.example.org >"$old/etc/hostname"
echo 'virtual_mailbox_maps = sqlite:/etc/postfix/x.cf' >"$old/etc/postfix/main.cf"
echo 'servers = "127.0.0.1";' >"$old/etc/rspamd/local.d/redis.conf"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$old/etc/passwd"
printf 'root:x:0:\n' >"$old/etc/group"
tree() { (cd "$1" && find . \( -type f -o -type d \) -printf '%y %P %s\n' | sort); }

# 1. Two local paths, no --from.
mkdir -p "$T/a"
run_mm sync --state "$T/a.state" "$old/var/vmail/" "$T/a/vmail/"
is "$rc" 0 "sync OLDDISK/var/vmail/ DEST/ (two local paths) exits 0"
is "$(tree "$T/a/vmail")" "$(tree "$old/var/vmail")" "and copies the tree"
mkdir -p "$T/b"
run_mm sync --from / --state "$T/b.state" "$old/var/vmail/" "$T/b/vmail/"
is "$rc" 0 "the same with --from / exits 0"
is "$(tree "$T/b/vmail")" "$(tree "$T/a/vmail")" "and gives the same tree"
run_mm verify --content "$old/var/vmail/" "$T/a/vmail/"
is "$rc" 0 "verify with two local paths exits 0"
like "$out" 'verified: nothing missing or different' "and finds nothing missing"
rm "$T/a/vmail/example.org/ann/Maildir/.Sent/cur/"*
run_mm verify "$old/var/vmail/" "$T/a/vmail/"
is "$rc" 1 "verify with two local paths sees a missing message (exit 1)"

# A relative local SRC is taken from the current directory.
(cd "$old/var" && "$MM" sync --state "$T/c.state" vmail/ "$T/c/vmail/" >/dev/null 2>&1)
is "$?" 0 "a relative local SRC (vmail/ in the old root's var) works"
is "$(tree "$T/c/vmail")" "$(tree "$old/var/vmail")" "and copies the same tree"

# 2. DIR:/PATH, absolute and relative, sync and verify.
new="$T/new"
mkdir -p "$new/var/vmail" "$new/etc"
cp "$old/etc/passwd" "$old/etc/group" "$new/etc/"
run_mm sync --to "$new" --state "$T/d.state" "$old:/var/vmail/" /var/vmail/
is "$rc" 0 "sync --to NEW /srv/old-root:/var/vmail/ /var/vmail/ exits 0"
is "$(tree "$new/var/vmail")" "$(tree "$old/var/vmail")" "and copies the old root's /var/vmail"
(cd "$T" && "$MM" verify --to "$new" old-root:/var/vmail/ /var/vmail/ >/dev/null 2>&1)
is "$?" 0 "verify --to NEW old-root:/var/vmail/ (a relative DIR) exits 0"
run_mm verify --from "$old" --to "$new" "$old:/var/vmail/" /var/vmail/
is "$rc" 0 "DIR:/PATH together with the same --from DIR is accepted"

# 3. A colon in a local path: the path as a whole exists here.
mkdir -p "$T/x:y"
cp -a "$old/var/vmail/example.org" "$T/x:y/"
run_mm sync --state "$T/e.state" "$T/x:y/" "$T/e/"
is "$rc" 0 "a local SRC with a colon in its name (x:y/) is a local path"
is "$(tree "$T/e")" "$(tree "$T/x:y")" "and is copied"

# 4. Refusals, with the reason.
run_mm sync old.example.org:var/vmail /var/vmail/
is "$rc" 2 "HOST:relative is refused (exit 2)"
like "$err" 'must be absolute' "saying the old server's path must be absolute"
run_mm sync "$old/var/vmail/" new.example.org:/var/vmail/
is "$rc" 2 "a HOST:/PATH DEST is refused (exit 2)"
like "$err" 'DEST new.example.org:/var/vmail/: the destination is this machine' "saying DEST is this machine"
run_mm verify --from "$old" other.example.org:/var/vmail/ /var/vmail/
is "$rc" 2 "SRC naming another server than --from is refused"
run_mm verify
is "$rc" 2 "verify with neither SRC nor --from still asks which old server"
like "$err" 'which old server' "(and says so)"

# 5. check --from DIR.
run_mm check --from "$old" --to "$new" --json
like "$out" '"old_host":"old.example.org in [^"]*old-root"' "check names the old root by its /etc/hostname and the directory"
like "$out" '"postfix":\{"old":true' "Postfix found by its main.cf"
like "$out" '"redis":\{"old":true' "Redis found by rspamd's redis.conf"
