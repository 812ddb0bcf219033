#!/bin/bash
# mailmove files onto a full disk: the destination is a 64 KiB tmpfs.  The
# run stops with exit 4, leaves no temporary or partial file, and every file
# it did write is whole; once space is freed, a rerun completes and a third
# run changes nothing.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib-files.sh"
command -v openssl >/dev/null || skip_all "no openssl"
new="$T/new"
mkdir -p "$new"
mount -t tmpfs -o size=64k,mode=755 tmpfs "$new" 2>/dev/null || skip_all "cannot mount a tmpfs (not root?)"
trap 'umount "$new" 2>/dev/null; _cleanup' EXIT
plan 13

old="$T/old"
make_old_root "$old" standalone || { give_up "openssl failed"; }
make_new_root "$new"
le="$old/etc/letsencrypt"
nle="$new/etc/letsencrypt"
# Leave room for a few of the ten files (each takes at least a page).
head -c $((28 * 1024)) /dev/zero >"$new/filler" 2>/dev/null
df -k "$new" | sed 's/^/# /'

run_mm files --from "$old" --to "$new" /etc/letsencrypt
is "$rc" 4 "a full destination stops the run with exit 4"
like "$err" 'No space left on device' "and says why"
unlike "$out" '^check ' "no check runs on a half copy"
is "$(find "$new" -name '.mailmove.*' | wc -l)" 0 "no temporary file is left behind"
written=$(cd "$nle" 2>/dev/null && find . -type f | wc -l)
ok "$([ "${written:-0}" -lt 10 ] && echo 0 || echo 1)" "the disk filled part-way ($written of 10 files written)"
partial=0
for f in $(cd "$nle" 2>/dev/null && find . -type f); do
	cmp -s "$le/$f" "$nle/$f" || { partial=1; diag "partial: $f"; }
done
is "$partial" 0 "every file that was written is whole"
dangling=0
for l in "$nle"/live/*/*.pem; do
	[ -L "$l" ] && [ ! -e "$l" ] && [ "${l##*/}" != old.pem ] && { dangling=1; diag "dangling: $l"; }
done
is "$dangling" 0 "no live/ link was made ahead of its file"

rm -f "$new/filler"
run_mm files --from "$old" --to "$new" /etc/letsencrypt
is "$rc" 0 "after freeing space, a rerun completes"
ok_run "the archive is complete and exact" diff -r "$le/archive" "$nle/archive"
is "$(readlink "$nle/live/mail.example.org/cert.pem")" ../../archive/mail.example.org/cert2.pem "the live links are there"
like "$out" 'check certificate mail.example.org: ok' "the certificate checks out"

before=$(tree_state "$new")
run_mm files --from "$old" --to "$new" --json /etc/letsencrypt
like "$out" '"changes":0' "a third run changes nothing"
is "$(tree_state "$new")" "$before" "and leaves every inode and ctime as it was"
