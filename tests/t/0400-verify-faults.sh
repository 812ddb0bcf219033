#!/bin/bash
# mailmove verify against two identical trees, then with exactly one fault
# injected per category: each is reported by name in its category and
# nothing else is.  A message only on the destination is listed and does
# not fail the check.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-verify.sh"
plan 49

V=var/vmail
A=$V/example.org/alice/Maildir

# An identical pair is clean, with and without --content.
make_pair same
verify same --content
is "$rc" 0 "an identical pair exits 0"
is "$(diffs)" "" "and reports no difference"
is "$(total checked)" 141 "every message of the sample is checked"
like "$out" '"hashed_files":141' "--content hashes every message"
run_mm verify --from "$T/same/old" --to "$T/same/new"
like "$out" 'verified: nothing missing or different' "the human report says so"
like "$out" 'example.org/alice +71 +0 ' "with a row per user"

# A message removed on the destination.
make_pair missing
f=$(ls "$T/missing/new/$A/cur" | sed -n 3p)
rm "$T/missing/new/$A/cur/$f"
verify missing
is "$rc" 1 "a missing message exits 1"
is "$(diffs)" "$(printf 'missing\texample.org/alice\tINBOX\t%s' "$(base_of "$f")")" \
	"the missing message is named, and nothing else"
is "$(total missing)" 1 "the total counts one missing message"

# One byte flipped, same size and mtime: only --content sees it.
make_pair flip
f=$(ls "$T/flip/new/$A/.Sent/cur" | sed -n 2p)
p="$T/flip/new/$A/.Sent/cur/$f"
m=$(stat -c %Y "$p")
printf 'X' | dd of="$p" bs=1 seek=20 conv=notrunc status=none
touch -d "@$m" "$p"
verify flip
is "$rc:$(diffs)" "0:" "a flipped byte is invisible without --content"
verify flip --content
is "$rc" 1 "--content finds the flipped byte (exit 1)"
is "$(diffs)" "$(printf 'content\texample.org/alice\tSent\t%s' "$(base_of "$f")")" \
	"as a content difference of that message only"
like "$out" '"reason":"hash"' "found by its hash"

# A flag letter changed.
make_pair flags
f=$(ls "$T/flags/new/$A/cur" | grep ':2,RS$' | head -1)
mv "$T/flags/new/$A/cur/$f" "$T/flags/new/$A/cur/${f%:2,RS}:2,S"
verify flags
is "$rc" 1 "a changed flag exits 1"
is "$(diffs)" "$(printf 'flags\texample.org/alice\tINBOX\t%s' "$(base_of "$f")")" \
	"the message is named as a flag difference only"
like "$out" '"src_flags":"RS","dest_flags":"S"' "with both flag sets"

# Keywords: other letters for the same names on the destination are fine;
# a keyword with another name is not.
make_pair kw
d="$T/kw/new/$A/.Drafts"
printf '0 work\n1 $Junk\n' >"$d/dovecot-keywords"
for f in $(ls "$d/cur"); do
	n=$(printf '%s' "$f" | sed -e 's/\(:2,[A-Z]*\)a/\1X/' -e 's/\(:2,[A-Z]*\)b/\1a/' -e 's/\(:2,[A-Z]*\)X/\1b/')
	[ "$f" = "$n" ] || mv "$d/cur/$f" "$d/cur/$n"
done
verify kw
is "$rc:$(diffs)" "0:" "keywords compare by name, not by letter"
f=$(ls "$T/kw/new/$A/cur" | grep ':2,FSa$' | head -1)
printf '0 $Junk\n1 work\n2 other\n' >"$T/kw/new/$A/dovecot-keywords"
mv "$T/kw/new/$A/cur/$f" "$T/kw/new/$A/cur/${f%a}c"
verify kw
is "$(diffs)" "$(printf 'flags\texample.org/alice\tINBOX\t%s' "$(base_of "$f")")" \
	"a keyword renamed is a flag difference"
like "$out" '"src_flags":"FS \$Junk","dest_flags":"FS other"' "named by the keywords' names"

# A UID renumbered in the destination's dovecot-uidlist.
make_pair uid
ul="$T/uid/new/$A/.Archive.2025/dovecot-uidlist"
last=$(tail -1 "$ul")
base=${last#* :}
sed -i '$ s/^[0-9]* /77 /' "$ul"
verify uid
is "$rc" 1 "a renumbered UID exits 1"
is "$(diffs)" "$(printf 'uid\texample.org/alice\tArchive.2025\t%s' "$base")" \
	"the message is named as a UID difference only"
like "$out" '"src_uid":10,"dest_uid":77|"dest_uid":77.*"src_uid":10' "with both UIDs"

# UIDVALIDITY changed.
make_pair uv
ul="$T/uv/new/$V/example.org/bob/Maildir/.Sent/dovecot-uidlist"
sed -i '1 s/ V[0-9]* / V12345 /' "$ul"
verify uv
is "$rc" 1 "a changed UIDVALIDITY exits 1"
is "$(diffs)" "$(printf 'uid\texample.org/bob\tSent\t')" \
	"the folder is named as a UID difference only"
like "$out" '"reason":"uidvalidity"' "as UIDVALIDITY"

# A uidlist missing on the destination: one line for the folder (every
# message would get a new UID), not one per message.
rm "$T/uv/new/$V/example.org/bob/Maildir/.Sent/dovecot-uidlist"
verify uv
is "$(diffs)" "$(printf 'uid\texample.org/bob\tSent\t')" "a missing uidlist is one UID difference of its folder"
like "$out" '"reason":"uidlist missing"' "named as such"

# A next UID lower on the destination would hand out UIDs clients know.
make_pair nx
ul="$T/nx/new/$A/.Drafts/dovecot-uidlist"
sed -i '1 s/ N[0-9]* / N2 /' "$ul"
verify nx
is "$(diffs)" "$(printf 'uid\texample.org/alice\tDrafts\t')" "a lower next UID is a UID difference of the folder"
like "$out" '"reason":"nextuid"' "named as such"

# dovecot-keywords lost on the destination: the letters mean nothing there.
make_pair nokw
rm "$T/nokw/new/$A/.Entw&APw-rfe/dovecot-keywords"
verify nokw
is "$(diffs | cut -f1-3 | sort -u)" "$(printf 'flags\texample.org/alice\tEntwürfe')" \
	"messages with keywords differ in flags when the keyword names are gone"

# An mtime changed (the IMAP INTERNALDATE).
make_pair date
f=$(ls "$T/date/new/$A/new" | head -1)
touch -d '2001-02-03 04:05:06' "$T/date/new/$A/new/$f"
verify date
is "$rc" 1 "a changed mtime exits 1"
is "$(diffs)" "$(printf 'date\texample.org/alice\tINBOX\t%s' "$(base_of "$f")")" \
	"the message is named as a date difference only"

# A folder dropped on the destination.
make_pair fold
rm -rf "$T/fold/new/$V/example.org/bob/Maildir/.Drafts"
verify fold
is "$rc" 1 "a missing folder exits 1"
is "$(diffs)" "$(printf 'folder_missing\texample.org/bob\tDrafts\t')" \
	"the folder is named as missing, and nothing else"
is "$(total missing):$(total folder_missing)" "3:1" "its 3 messages count as missing"

# A message only on the destination: listed, still exit 0.
make_pair extra
printf 'Subject: new\r\n\r\nnew mail\r\n' >"$T/extra/new/$A/new/1800000000.M1P1.newhost,S=24"
verify extra
is "$rc" 0 "a message only on the destination still exits 0"
is "$(diffs)" "$(printf 'dest_only\texample.org/alice\tINBOX\t1800000000.M1P1.newhost,S=24')" \
	"and is listed as dest_only"
run_mm verify --from "$T/extra/old" --to "$T/extra/new"
like "$out" 'dest_only +example.org/alice  INBOX  1800000000.M1P1' "the human report lists it too"

# A message moved from new/ to cur/ (Dovecot on the new server saw it) is
# the same message.
make_pair moved
f=$(ls "$T/moved/new/$A/new" | head -1)
mv "$T/moved/new/$A/new/$f" "$T/moved/new/$A/cur/$f:2,"
verify moved
is "$rc:$(diffs)" "0:" "new/ to cur/ with an empty info is no difference"

# SRC may be one home or one Maildir; DEST follows.
make_pair forms
rm "$T/forms/new/$A/.Sent/cur/$(ls "$T/forms/new/$A/.Sent/cur" | head -1)"
verify forms /$V/example.org/alice/ /$V/example.org/alice
is "$(total checked):$(total missing)" "71:1" "SRC as one home checks that user"
like "$(diffs)" '^missing	example.org/alice	Sent	' "and names the user by its home"
verify forms /$A/.Sent /$A/.Sent
is "$(total checked):$(total missing)" "15:1" "SRC as one Maildir checks that folder"
verify forms /$V/example.org/bob /$V/example.org/bob
is "$rc:$(total checked)" "0:70" "another user's home is clean"

# LAYOUT=fs: nested folders are mailboxes too.
make_pair fs
for side in old new; do
	mkdir -p "$T/fs/$side/$A/Lists/debian/"{cur,new,tmp}
done
for i in 1 2 3; do
	printf 'Subject: %s\r\n\r\nlist\r\n' "$i" >"$T/fs/old/$A/Lists/debian/cur/170000000$i.M$i.h,S=20:2,S"
done
cp -a "$T/fs/old/$A/Lists/debian/cur/." "$T/fs/new/$A/Lists/debian/cur/"
rm "$T/fs/new/$A/Lists/debian/cur/1700000002.M2.h,S=20:2,S"
verify fs
is "$(diffs)" "$(printf 'missing\texample.org/alice\tLists/debian\t1700000002.M2.h,S=20')" \
	"a LAYOUT=fs folder is checked like any other"

# Usage errors and a missing destination tree.
run_mm verify --from "$T/same/old" --to "$T/same/new" /var/../etc
is "$rc" 2 "a SRC with .. is a usage error"
run_mm verify --from "$T/same/old" a b c
is "$rc" 2 "three operands are a usage error"
run_mm verify --from "$T/same/old" --to "$T/same/new" host:/var/vmail x:/y
is "$rc" 2 "a remote DEST is a usage error"
run_mm verify --from "$T/same/old" --to "$T/nonexistent"
is "$rc" 2 "a destination root that does not exist is a usage error"
verify fold /$V /nonexistent/vmail
is "$rc:$(total folder_missing)" "1:10" "a missing DEST tree reports every folder missing"
