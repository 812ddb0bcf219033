#!/bin/bash
# mailmove verify --dovecot against two real Dovecot 2.3 instances: doveadm
# on both sides is asked for every user's folders and messages.  A copy is
# clean; a flag, an expunge, a deleted folder, a uidlist Dovecot rejects are
# each reported by Dovecot's check; a new delivery on the destination is
# listed but does not fail.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-verify.sh"
. "$(dirname "$0")/../lib-dovecot-verify.sh"
command -v doveadm >/dev/null 2>&1 || skip_all "no doveadm"
command -v dovecot >/dev/null 2>&1 || skip_all "no dovecot"
plan 22

dovecot_start src || { give_up "dovecot (src) did not start"; }
dovecot_start dst || { give_up "dovecot (dst) did not start"; }

msg() { printf 'From: s%s@example.net\r\nSubject: m%s\r\nMessage-ID: <%s.%s@example.net>\r\n\r\nbody %s\r\n' "$1" "$1" "$1" "$RANDOM" "$1"; }
for i in 1 2 3; do msg "$i" | dva src save -u alice@example.org; done
dva src mailbox create -u alice@example.org Sent Entwürfe
for i in 4 5; do msg "$i" | dva src save -u alice@example.org -m Sent; done
msg 6 | dva src save -u bob@example.org
dva src flags add -u alice@example.org '\Seen $Junk' mailbox INBOX uid 1:2
dva src flags add -u alice@example.org '\Answered' mailbox Sent ALL

# Dovecot takes a Maildir message's save date from the file's ctime until
# the index cache holds it, and a copy cannot keep a ctime: fetch it once so
# the copied cache carries it, as mailmove's own copy of the indexes does.
for u in alice@example.org bob@example.org; do
	dva src fetch -u "$u" date.saved ALL >/dev/null
done

reset_dst() {
	rm -rf "$T/dst/home"
	cp -a "$T/src/home" "$T/dst/home"
}
vd() {
	run_mm verify --from / --to / --json --dovecot \
		--src-doveadm-config "$T/src/dovecot.conf" \
		--dest-doveadm-config "$T/dst/dovecot.conf" \
		"$T/src/home" "$T/dst/home" "$@"
}
dd() { # the Dovecot check's differences
	printf '%s\n' "$out" | jq -r 'select(.event != "result" and .check == "dovecot") |
		[.event, .user, .folder, (.name // "")] | @tsv' | sort
}
fd() { # the files check's differences
	printf '%s\n' "$out" | jq -r 'select(.event != "result" and .check == "files") |
		[.event, .user, .folder, (.name // "")] | @tsv' | sort
}
dtotal() { printf '%s\n' "$out" | jq -r "select(.event == \"result\") | .dovecot.total.\"$1\""; }
guid() { # guid of uid $3 in mailbox $2 of user $1 on the source
	dva src -f tab fetch -u "$1" guid mailbox "$2" uid "$3" | sed -n 2p
}

reset_dst
vd
is "$rc" 0 "a copy of the homes is clean for both checks"
is "$(dd)$(fd)" "" "no difference at all"
is "$(dtotal checked)" 6 "Dovecot's check saw all 6 messages"
is "$(printf '%s\n' "$out" | jq -r 'select(.event=="result") | [.dovecot.users[].user] | sort | join(" ")')" \
	"alice@example.org bob@example.org" "for every user doveadm lists"

g=$(guid alice@example.org INBOX 3)
dva dst flags add -u alice@example.org '\Flagged' mailbox INBOX uid 3
vd
is "$rc" 1 "a flag set on the destination exits 1"
is "$(dd)" "$(printf 'flags\talice@example.org\tINBOX\t%s' "$g")" "Dovecot's check names the message as a flag difference"
is "$(fd)" "$(printf 'flags\texample.org/alice\tINBOX\t%s' "$g")" "and so does the files check"
like "$out" '"src_flags":"","dest_flags":"\\\\Flagged"' "with Dovecot's flag names"

reset_dst
g=$(guid alice@example.org Sent 1)
dva dst expunge -u alice@example.org mailbox Sent uid 1
vd
is "$rc" 1 "an expunged message exits 1"
is "$(dd)" "$(printf 'missing\talice@example.org\tSent\t%s' "$g")" "Dovecot's check names it missing"
is "$(dtotal missing)" 1 "one missing in Dovecot's total"

reset_dst
dva dst mailbox delete -u alice@example.org Entwürfe
vd
is "$rc" 1 "a deleted folder exits 1"
is "$(dd)" "$(printf 'folder_missing\talice@example.org\tEntwürfe\t')" "Dovecot's check names the folder"

# A dovecot-uidlist that Dovecot rejects: it renumbers the folder.
reset_dst
ul="$T/dst/home/example.org/alice/Maildir/.Sent/dovecot-uidlist"
printf '3 V1 N1\n9 :x\n2 :y\n' >"$ul"
rm -f "$T/dst/home/example.org/alice/Maildir/.Sent/dovecot.index"*
vd
is "$rc" 1 "a broken uidlist exits 1"
like "$(fd)" '^uid	example.org/alice	Sent	$' "the files check sees the broken uidlist"
like "$(dd)" '^uid	alice@example.org	Sent	' "and Dovecot's check sees the new UIDs"

reset_dst
msg 9 | dva dst save -u bob@example.org
vd
is "$rc" 0 "a new delivery on the destination still exits 0"
like "$(dd)" '^dest_only	bob@example.org	INBOX	' "and Dovecot's check lists it"

reset_dst
vd --user bob@example.org
is "$(printf '%s\n' "$out" | jq -r 'select(.event=="result") | [.dovecot.users[].user] | join(" ")')" \
	"bob@example.org" "--user checks only the users named"

run_mm verify --from / --to / --json --dovecot \
	--src-doveadm-config "$T/nonexistent.conf" \
	--dest-doveadm-config "$T/dst/dovecot.conf" "$T/src/home" "$T/dst/home"
is "$rc" 1 "a doveadm that fails on the old server exits 1"
like "$(printf '%s\n' "$out" | jq -r 'select(.event=="error") | .detail')" 'doveadm' "and says doveadm failed"

stop_bg dovecot-src
stop_bg dovecot-dst
ok_run "no Dovecot of ours is left running" bash -c "! test -e $T/src/run/master.pid || ! kill -0 \$(cat $T/src/run/master.pid) 2>/dev/null"
