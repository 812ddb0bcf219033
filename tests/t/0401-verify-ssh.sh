#!/bin/bash
# mailmove verify over ssh (a real sshd on 127.0.0.1): the rsync form
# HOST:/path names the old server, the agent hashes there while the local
# agent hashes here; an unreachable old server exits 3.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-verify.sh"
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || skip_all "no sshd"
plan 8

start_sshd || { give_up "sshd did not start"; }
host="root@127.0.0.1:$SSH_PORT"

make_pair s
A=var/vmail/example.org/bob/Maildir
f=$(ls "$T/s/new/$A/.Sent/cur" | sed -n 4p)
p="$T/s/new/$A/.Sent/cur/$f"
m=$(stat -c %Y "$p")
printf 'Z' | dd of="$p" bs=1 seek=30 conv=notrunc status=none
touch -d "@$m" "$p"

run_mm verify --rsh "$RSH" --to "$T/s/new" --json --content "$host:$T/s/old/var/vmail/" /var/vmail/
is "$rc" 1 "verify over ssh with a flipped byte exits 1"
is "$(diffs)" "$(printf 'content\texample.org/bob\tSent\t%s' "$(base_of "$f")")" \
	"the hashes computed over ssh name that message only"
is "$(total checked)" 141 "every message was checked"

run_mm verify --rsh "$RSH" --from "$host" --to "$T/s/new" "$T/s/old/var/vmail" /var/vmail
is "$rc" 0 "without --content the same pair is clean over ssh"
like "$out" 'example.org/bob +70 ' "with the per-user table"

run_mm verify --rsh "$RSH" --from "root@127.0.0.2:1" --to "$T/s/new" "$host:$T/s/old/var/vmail/" /var/vmail/
is "$rc" 2 "--from and a SRC host that differ are a usage error"

bad=$(free_port)
run_mm verify --rsh "$RSH" --to "$T/s/new" "root@127.0.0.1:$bad:$T/s/old/var/vmail/" /var/vmail/
is "$rc" 3 "an unreachable old server exits 3"
like "$err" 'Connection refused' "with ssh's own message"
