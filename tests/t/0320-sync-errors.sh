#!/bin/bash
# Graded errors and a full disk.  An unreadable message and an unreadable
# folder on the old server are reported and skipped while everything else
# is copied (exit 1 with the list); a destination filesystem that fills up
# stops the sync with a clear message (exit 4), leaves no partial file in
# cur/ or new/, and a rerun after freeing space completes.
. "$(dirname "$0")/../lib.sh"
plan 14

mkdir -p "$T/old/etc" "$T/new/etc"
for r in old new; do
	printf 'root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n' >"$T/$r/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$T/$r/etc/group"
done
M="$T/old/var/vmail/example.org/u/Maildir"
for f in "" .Sent .Secret; do mkdir -p "$M/$f/cur" "$M/$f/new" "$M/$f/tmp"; done
for i in 1 2 3 4 5 6; do
	head -c 600000 /dev/urandom >"$M/cur/17000000$i.M${i}P1.old,S=600000:2,S"
done
printf 'small\n' >"$M/.Sent/cur/1700000100.M1P1.old,S=6:2,S"
printf 'secret\n' >"$M/.Sent/cur/1700000101.M2P1.old,S=7:2,S"
printf 'hidden\n' >"$M/.Secret/cur/1700000102.M3P1.old,S=7:2,S"
chmod 000 "$M/.Sent/cur/1700000101.M2P1.old,S=7:2,S" "$M/.Secret/cur"
chmod -R a+rX "$T/old/var" 2>/dev/null; chmod 000 "$M/.Sent/cur/1700000101.M2P1.old,S=7:2,S" "$M/.Secret/cur"
mkdir -p "$T/new/var/vmail" && chown -R nobody:nogroup "$T/new"
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
# The lock of the destination, where nobody can write it.
export MAILMOVE_LOCK_DIR="$T/new/locks"

# Graded errors: the sync runs as nobody, so the mode-000 items are
# unreadable for the agent as well.
out=$(as_nobody "$MM" sync --from "$T/old" --to "$T/new" --chown nobody:nogroup \
	--state "$T/new/state.sqlite" 2>"$T/err"); rc=$?; err=$(cat "$T/err")
is "$rc" 1 "unreadable items: exit 1"
like "$err" '1700000101.*Permission denied' "the unreadable message is named"
like "$err" '\.Secret/cur.*Permission denied' "the unreadable folder is named"
like "$err" 'items failed and were skipped' "the summary lists the failures"
is "$(ls "$T/new/var/vmail/example.org/u/Maildir/cur" | wc -l)" 6 "everything else was copied"
ok "$([ -f "$T/new/var/vmail/example.org/u/Maildir/.Sent/cur/1700000100.M1P1.old,S=6:2,S" ] && echo 0)" "the readable message beside the unreadable one was copied"
chmod 644 "$M/.Sent/cur/1700000101.M2P1.old,S=7:2,S"; chmod 755 "$M/.Secret/cur"
out=$(as_nobody "$MM" sync --from "$T/old" --to "$T/new" --chown nobody:nogroup \
	--state "$T/new/state.sqlite" 2>"$T/err"); rc=$?
is "$rc" 0 "once readable, the next run copies them (exit 0)"
ok "$([ -f "$T/new/var/vmail/example.org/u/Maildir/.Secret/cur/1700000102.M3P1.old,S=7:2,S" ] && echo 0)" "the folder that was unreadable is there now"

# Disk full: a 5 MiB tmpfs holding 3 MiB of other data; 3.6 MB of mail.
mkdir -p "$T/full"
mount -t tmpfs -o size=5m tmpfs "$T/full" || { give_up "cannot mount a tmpfs"; }
trap 'umount "$T/full" 2>/dev/null; _cleanup' EXIT
cp -a "$T/new/etc" "$T/full/"
head -c 3000000 /dev/zero >"$T/full/filler"
run_mm sync --from "$T/old" --to "$T/full" --state "$T/full-state.sqlite"
is "$rc" 4 "disk full: exit 4"
like "$err" 'No space left on device.*stopped' "a clear message"
bad=0
for f in $(find "$T/full/var/vmail" \( -path '*/cur/*' -o -path '*/new/*' \) -type f); do
	cmp -s "$f" "$M/${f#$T/full/var/vmail/example.org/u/Maildir/}" || bad=1
done
is "$bad" 0 "no partial file in cur/ or new/"
rm "$T/full/filler"
run_mm sync --from "$T/old" --to "$T/full" --state "$T/full-state.sqlite"
is "$rc" 0 "after freeing space the rerun completes"
is "$(find "$T/full/var/vmail" \( -path '*/cur/*' -o -path '*/new/*' \) -type f | wc -l)" 9 "every message is there"
is "$(cd "$T/full/var/vmail" && find . -path '*/tmp/*' -type f | wc -l)" 0 "nothing left in tmp/"
umount "$T/full"
