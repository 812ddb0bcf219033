#!/bin/bash
# mailmove sync against real Dovecot: a source built with doveadm (folders
# with non-ASCII names, flags and keywords, COPY as hard links, moves,
# expunges, subscriptions, Maildir++ and LAYOUT=fs, a sieve script and its
# symlink) is synced to an empty destination, compared message by message
# with doveadm on both sides; then the source changes (new mail, flags,
# expunges, moves, a folder rename), a message is delivered on the
# destination only, the destination is opened by Dovecot, and sync --delete
# must give the same answer again while keeping the destination-only mail.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib-dovecot.sh"
command -v doveadm >/dev/null || skip_all "no doveadm"
plan 29

mkdir -p "$T/old/etc" "$T/new/etc"
for r in old new; do
	printf 'root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n' >"$T/$r/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$T/$r/etc/group"
done
dc_start src "$T/old/var/vmail" || { give_up "dovecot (src) did not start"; }
dc_start dst "$T/new/var/vmail" || { give_up "dovecot (dst) did not start"; }
for n in src dst; do
	dc_user $n bob@example.org
	dc_user $n carol@example.net "$(dovecot_userdb_fs)"
done

msg() {	# msg SUBJECT DAY
	printf 'From: someone@example.com\nTo: x@example.org\nSubject: %s\nDate: Mon, %s Jan 2024 10:00:00 +0000\nMessage-ID: <%s@test>\n\nbody of %s\n' "$1" "$2" "$1$RANDOM" "$1"
}
build_user() {
	local u=$1 i
	for i in 1 2 3 4 5 6 7 8; do
		msg "$u-in-$i" "1$i" | dc src save -u "$u" || return 1
	done
	dc src mailbox create -u "$u" 'Entwürfe' Sent 'Archive/2024' Trash || return 1
	msg "$u-draft" 20 | dc src save -u "$u" -m 'Entwürfe'
	dc src flags add -u "$u" '\Seen' mailbox INBOX uid 1:5
	dc src flags add -u "$u" '\Flagged $Important projectx' mailbox INBOX uid 2
	dc src flags add -u "$u" '\Answered $Forwarded' mailbox INBOX uid 3
	dc src copy -u "$u" 'Archive/2024' mailbox INBOX uid 1:3
	dc src move -u "$u" Sent mailbox INBOX uid 6
	dc src expunge -u "$u" mailbox INBOX uid 7
	dc src mailbox subscribe -u "$u" INBOX Sent 'Entwürfe'
}
build_user bob@example.org || { give_up "cannot build the source"; }
build_user carol@example.net
home="$T/old/var/vmail/example.org/bob"
mkdir -p "$home/sieve"
printf 'require "fileinto";\nif header :contains "subject" "x" { fileinto "Trash"; }\n' >"$home/sieve/main.sieve"
ln -s sieve/main.sieve "$home/.dovecot.sieve"
printf 'odd\n' >"$home/sieve/$(printf 'odd name\001\351.txt')"
chown -R -h nobody:nogroup "$home/sieve" "$home/.dovecot.sieve"

compare() {	# compare USER: source and destination as doveadm sees them
	dc_snapshot src "$1" >"$T/snap-src"
	dc_snapshot dst "$1" | grep -v 'dest-only' >"$T/snap-dst"
	diff "$T/snap-src" "$T/snap-dst" >"$T/snap-diff"
}
dupes() {	# base names found twice in one destination folder
	find "$T/new/var/vmail" -path '*/cur/*' -o -path '*/new/*' |
		sed 's,/\(cur\|new\)/\([^:]*\).*,\t\2,' | sort | uniq -d
}

run_mm sync --from "$T/old" --to "$T/new" --json /var/vmail/ /var/vmail/
is "$rc" 0 "first sync exits 0"
like "$out" '"copied": *[1-9]' "it reports copies"
like "$out" '"linked": *[1-9]' "Dovecot's COPY hard links stay hard links"
is "$(find "$T/new/var/vmail" -name 'dovecot.index*' -o -name '*.lock' -o -name 'dovecot-uidvalidity*' | wc -l)" 0 "no index, lock or uidvalidity files copied (doveadm ran on the source only)"
for u in bob@example.org carol@example.net; do
	compare $u
	ok $? "$u: doveadm sees the same messages, flags, keywords, UIDs, GUIDs, dates, sizes, folders, subscriptions and UIDVALIDITY"
	[ -s "$T/snap-diff" ] && diag "$(head -20 "$T/snap-diff")"
done
like "$(wc -l <"$T/snap-src")" '^ *[1-9][0-9]' "the comparison saw messages"
a=$(stat -c %i "$T/new/var/vmail/example.org/bob/Maildir/.Archive.2024/cur/"* | sort | head -1)
is "$(stat -c %h "$T/new/var/vmail/example.org/bob/Maildir/.Archive.2024/cur/"* | sort -u | head -1)" 2 "copied messages share their inode with INBOX"
is "$(readlink "$T/new/var/vmail/example.org/bob/.dovecot.sieve")" sieve/main.sieve ".dovecot.sieve stays a symlink"
ok "$(cmp -s "$home/sieve/$(printf 'odd name\001\351.txt')" "$T/new/var/vmail/example.org/bob/sieve/$(printf 'odd name\001\351.txt')" && echo 0)" "a name with control and 8-bit bytes survives"
is "$(stat -c %U "$T/new/var/vmail/example.org/bob/Maildir/cur" )" nobody "owners mapped by name"
ok "$([ -d "$T/new/var/vmail/example.net/carol/Maildir/Archive/2024/cur" ] && echo 0)" "LAYOUT=fs folders keep their layout"

# The destination is opened by Dovecot (indexes and caches of its own).
dc_snapshot dst bob@example.org >/dev/null
dc dst fetch -u bob@example.org 'hdr.subject body' all >/dev/null
ok "$(ls "$T/new/var/vmail/example.org/bob/Maildir/"dovecot.index* >/dev/null 2>&1 && echo 0)" "the destination has index files of its own before the resync"

# Changes on the source.
for u in bob@example.org carol@example.net; do
	msg "$u-late-1" 25 | dc src save -u "$u"
	msg "$u-late-2" 26 | dc src save -u "$u" -m Sent
	dc src flags add -u "$u" '\Seen $Done' mailbox INBOX uid 8
	dc src flags remove -u "$u" '\Seen' mailbox INBOX uid 1
	dc src flags add -u "$u" '\Deleted' mailbox Sent uid 1
	dc src expunge -u "$u" mailbox INBOX uid 4
	dc src move -u "$u" Trash mailbox INBOX uid 5
	dc src mailbox rename -u "$u" 'Archive/2024' 'Archive/Y2024'
done
msg "dest-only" 27 | dc dst save -u bob@example.org
dest_only=$(dc dst -f tab fetch -u bob@example.org 'guid hdr.subject' all | grep dest-only | cut -f1)
ok "$([ -n "$dest_only" ] && echo 0)" "a message delivered on the destination only"

before=$(find "$T/new" -type f -printf '%p %s %T@\n' | sort | md5sum)
run_mm sync --from "$T/old" --to "$T/new" --delete --dry-run
is "$rc" 0 "dry run exits 0"
like "$out" 'rename|copy' "dry run prints the plan"
is "$(find "$T/new" -type f -printf '%p %s %T@\n' | sort | md5sum)" "$before" "dry run writes nothing, not even state"

run_mm sync --from "$T/old" --to "$T/new" --delete --json /var/vmail /var/vmail
is "$rc" 0 "resync with --delete exits 0"
like "$out" '"renamed": *[1-9]' "flag changes are renames"
like "$out" '"kept_only_on_destination": *1[,}]' "one message kept only on the destination, reported"
for u in bob@example.org carol@example.net; do
	compare $u
	ok $? "$u: after changes, a folder rename and --delete, doveadm still sees the same (destination opened before the sync)"
	[ -s "$T/snap-diff" ] && diag "$(head -20 "$T/snap-diff")"
done
like "$(dc dst -f tab fetch -u bob@example.org 'guid hdr.subject' all)" "$dest_only" "the destination-only message is still there"
is "$(dupes)" "" "no base name twice in a destination folder"
ok "$([ ! -e "$T/new/var/vmail/example.org/bob/Maildir/.Archive.2024" ] && echo 0)" "the renamed folder's old name is gone"

run_mm sync --from "$T/old" --to "$T/new" --delete --json
like "$out" '"copied":0,"linked":0,"renamed":0,"deleted":0' "a third run has nothing to do"

# --with-indexes: the index files come as one set, byte for byte.
mkdir -p "$T/idx/etc"; cp "$T/new/etc/passwd" "$T/new/etc/group" "$T/idx/etc/"
run_mm sync --from "$T/old" --to "$T/idx" --with-indexes
is "$rc" 0 "sync --with-indexes exits 0"
src_idx=$(cd "$T/old/var/vmail" && find . -name 'dovecot.index*' | sort)
ok "$([ -n "$src_idx" ] && [ "$src_idx" = "$(cd "$T/idx/var/vmail" && find . -name 'dovecot.index*' | sort)" ] && echo 0)" "--with-indexes copies every dovecot.index* file"
same=0; for f in $src_idx; do cmp -s "$T/old/var/vmail/$f" "$T/idx/var/vmail/$f" || same=1; done
is "$same" 0 "and byte for byte"
