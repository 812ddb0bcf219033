#!/bin/bash
# An agent that does not run as root (--from user@host with a plain user)
# lists directories it does not own: the kernel refuses O_NOATIME there,
# and that refusal must not make the agent give up the lookup that
# resolves symlinks inside the old root (var/vmail -> ../srv/vmail, Let's
# Encrypt's live/ -> archive/).  Listing through such a path works as it
# does for root.
. "$(dirname "$0")/../lib.sh"
plan 6

id nobody >/dev/null 2>&1 || { echo "1..0 # SKIP no user nobody"; exit 0; }
O="$T/old"
mkdir -p "$O/srv/vmail/example.org/bob/Maildir/cur" "$O/var" \
	"$O/etc/letsencrypt/archive/mail.example.org" \
	"$O/etc/letsencrypt/live/mail.example.org"
ln -s ../srv/vmail "$O/var/vmail"
printf 'message\n' >"$O/srv/vmail/example.org/bob/Maildir/cur/1700000001.M1P1.old:2,S"
printf 'CERT\n' >"$O/etc/letsencrypt/archive/mail.example.org/cert1.pem"
ln -s ../../archive/mail.example.org/cert1.pem \
	"$O/etc/letsencrypt/live/mail.example.org/cert.pem"
chmod -R a+rX "$O"
# Binaries where the user can run them.
cp "$MM" "$AGENT" "$T/"
as_nobody() {
	out=$(MAILMOVE_AGENT_BINARY="$T/mailmove-agent" runuser -u nobody -- \
		"$T/mailmove" "$@" 2>"$T/err")
	rc=$?
	err=$(cat "$T/err")
}

as_nobody ls --from "$O" -R var/vmail/example.org
is "$rc" 0 "listing through a symlinked directory as a plain user: exit 0"
like "$out" "bob/Maildir/cur/1700000001.M1P1.old:2,S" "the message is listed"
unlike "$err" "Not a directory|error" "no error"

as_nobody ls --from "$O" -R etc/letsencrypt/live
is "$rc" 0 "listing a directory the user does not own: exit 0"
like "$out" "cert.pem" "the symlink is listed"

# Reading a file of root's (O_NOATIME refused) through the symlinked
# directory: the same lookup.
as_nobody cat --from "$O" var/vmail/example.org/bob/Maildir/cur/1700000001.M1P1.old:2,S
is "$out" "message" "a file read through a symlinked directory"
