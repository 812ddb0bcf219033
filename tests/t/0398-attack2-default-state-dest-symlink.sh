#!/bin/bash
# One destination, however it is spelled, is one state (the rule of
# 0389, for DEST).  Here /var/vmail is reached as /var/mail (a symlink to
# vmail in the destination's root, as admins leave after moving the
# store): sync follows it and copies into /var/vmail, but names its
# default state after the spelling, so a `sync --delete` typed with
# /var/mail starts from an empty state after hot syncs typed with
# /var/vmail/: the message the old server expunged meanwhile is kept as
# "kept only on the destination", exit 0 (expunged mail comes back).
# "/var//vmail/" is refused: "cannot open the destination: Invalid
# argument", for a path that names the same directory.
# What must hold: the --delete run removes the expunged message, and
# every spelling of the destination is accepted and shares one state.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-sync.sh"
plan 4

sync_roots
mkdir -p "$M/cur" "$M/new" "$M/tmp"
for i in 1 2 3; do printf 'm%s\n' $i >"$M/cur/170000000$i.M${i}P1.old:2,S"; done
ln -s vmail "$T/new/var/mail"
run_mm sync --from "$T/old" --to "$T/new" /var/vmail/ /var/vmail/
is "$rc/$(find "$N/cur" -type f | wc -l)" 0/3 "a hot sync copies the three messages"
sleep 1.1
rm "$M/cur/1700000002.M2P1.old:2,S"
run_mm sync --delete --from "$T/old" --to "$T/new" /var/vmail/ /var/mail
is "$rc" 0 "sync --delete with DEST through the symlink passes"
ok "$([ ! -e "$N/cur/1700000002.M2P1.old:2,S" ] && echo 0)" "the message the old server expunged is gone here"
run_mm sync --from "$T/old" --to "$T/new" /var/vmail/ /var//vmail/
is "$rc" 0 "DEST spelled /var//vmail/ is accepted (exit $rc)"
