#!/bin/bash
# mailmove verify: faults that must never pass as clean.  Each case injects
# exactly one fault into an otherwise identical pair and asserts, from
# --json, that exactly that fault is reported in its category and that
# verify exits 1.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-verify.sh"
plan 27

V=var/vmail
A=$V/example.org/alice/Maildir

# Two files of one message in one destination folder: Dovecot would rename
# one of them, so this is a difference (content), even with equal bytes.
make_pair dupdst
f=$(ls "$T/dupdst/new/$A/cur" | head -1)
echo garbage >"$T/dupdst/new/$A/new/$(base_of "$f")"
verify dupdst --content
is "$rc" 1 "a second file of one message on the destination exits 1"
is "$(diffs)" "$(printf 'content\texample.org/alice\tINBOX\t%s' "$(base_of "$f")")" \
	"and is reported as a content difference of that message only"
like "$out" '"reason":"duplicate"' "named as a duplicate"

# The same on the source: a broken source folder, an error.
make_pair dupsrc
f=$(ls "$T/dupsrc/old/$A/.Sent/cur" | head -1)
cp -p "$T/dupsrc/old/$A/.Sent/cur/$f" "$T/dupsrc/old/$A/.Sent/new/$(base_of "$f")"
verify dupsrc
is "$rc" 1 "a second file of one message on the source exits 1"
is "$(diffs)" "$(printf 'error\texample.org/alice\tSent\t%s' "$(base_of "$f")")" \
	"and is reported as an error of that message only"
like "$out" '"side":"source"' "on the source"

# A source dovecot-uidlist Dovecot could not parse: the folder's UIDs
# cannot be checked, an error of that folder.
make_pair ulsrc
printf 'garbage\n' >"$T/ulsrc/old/$A/.Drafts/dovecot-uidlist"
verify ulsrc
is "$rc" 1 "an unparsable source uidlist exits 1"
is "$(diffs)" "$(printf 'error\texample.org/alice\tDrafts\t')" \
	"and is an error of that folder only"
like "$out" '"reason":"uidlist broken".*"side":"source"|"side":"source".*"reason":"uidlist broken"' \
	"named as a broken uidlist on the source"

# On the destination, with the source's uidlist read, it is a UID
# difference (Dovecot would give every message a new UID); with none on the
# source, an error (nothing else would report it).
make_pair uldst
ul=$V/example.org/bob/Maildir/.Sent/dovecot-uidlist
printf '3 V1 N0\n' >"$T/uldst/new/$ul"
verify uldst
is "$rc:$(diffs)" "$(printf '1:uid\texample.org/bob\tSent\t')" \
	"an unparsable destination uidlist is a UID difference of its folder (exit 1)"
rm "$T/uldst/old/$ul"
verify uldst
is "$rc:$(diffs)" "$(printf '1:error\texample.org/bob\tSent\t')" \
	"and an error of its folder when the source has none (exit 1)"
like "$out" '"side":"destination"' "on the destination"

# A uidlist that cannot be read (larger than verify reads: 65 MiB, sparse).
make_pair ulbig
truncate -s 65M "$T/ulbig/old/$A/.Drafts/dovecot-uidlist"
verify ulbig
is "$rc:$(diffs)" "$(printf '1:error\texample.org/alice\tDrafts\t')" \
	"an unreadable source uidlist is an error of its folder (exit 1)"
like "$out" 'dovecot-uidlist unreadable' "saying why"

# A dovecot-keywords that cannot be read, on either side.
make_pair kwbig
truncate -s 65M "$T/kwbig/new/$A/.Drafts/dovecot-keywords"
verify kwbig
is "$rc:$(diffs)" "$(printf '1:error\texample.org/alice\tDrafts\t')" \
	"an unreadable destination dovecot-keywords is an error of its folder (exit 1)"
like "$out" '"reason":"keywords unreadable"' "named as such"
make_pair kwsrc
truncate -s 65M "$T/kwsrc/old/$A/dovecot-keywords"
verify kwsrc
is "$rc:$(diffs)" "$(printf '1:error\texample.org/alice\tINBOX\t')" \
	"an unreadable source dovecot-keywords is an error of its folder (exit 1)"

# A folder with cur/ but no new/ on the source: Dovecot would not open it;
# it is an error of the folder, and its messages are still compared.
make_pair halfsrc
E='.Entw&APw-rfe'
rmdir "$T/halfsrc/old/$A/$E/new"
verify halfsrc
is "$rc" 1 "a source folder without new/ exits 1"
is "$(diffs)" "$(printf 'error\texample.org/alice\tEntwürfe\t')" \
	"and is an error of that folder only"
like "$out" '"reason":"incomplete folder".*"side":"source"|"side":"source".*"reason":"incomplete folder"' \
	"named as an incomplete folder on the source"
is "$(total checked)" 141 "its messages are still checked"
f=$(ls "$T/halfsrc/new/$A/$E/cur" | head -1)
rm "$T/halfsrc/new/$A/$E/cur/$f"
verify halfsrc
is "$(diffs | grep -c "^missing	example.org/alice	Entwürfe	$(base_of "$f")\$")" 1 \
	"a message of that folder missing on the destination is found"

# The same with new/ but no cur/ on the destination.
make_pair halfdst
rmdir "$T/halfdst/new/$V/example.org/bob/Maildir/$E/new"
mv "$T/halfdst/new/$V/example.org/bob/Maildir/$E/cur" "$T/halfdst/new/$V/example.org/bob/Maildir/$E/new"
verify halfdst
is "$rc" 1 "a destination folder without cur/ exits 1"
is "$(diffs)" "$(printf 'error\texample.org/bob\tEntwürfe\t')" \
	"and is an error of that folder only (its messages in new/ are the same messages)"

# A hash answer that never comes must not pass as "equal": an agent that
# lists one sound Maildir on both sides and answers a hash request with no
# record at all.  Without --content the two (identical) listings are clean;
# with it the lost answers stop verify with an error (exit 3), never 0.
evil="$TOP/$B/evil-agent"
[ -x "$evil" ] || make -s -C "$TOP" helpers >/dev/null 2>&1
[ -x "$evil" ] || { give_up "$evil not built (make helpers)"; }
mkdir -p "$T/evil/old" "$T/evil/new/var/vmail"
EVIL_MODE=maildir MAILMOVE_AGENT_BINARY=$evil run_mm verify \
	--from "$T/evil/old" --to "$T/evil/new" --json
is "$rc:$(total checked)" "0:1" "the lying agent's Maildir compares clean without --content"
EVIL_MODE=maildir MAILMOVE_AGENT_BINARY=$evil run_mm verify \
	--from "$T/evil/old" --to "$T/evil/new" --json --content
is "$rc" 3 "with --content, hash answers that never come exit 3"
like "$err" 'hash answered 0 of 1' "saying that the answer is missing"
