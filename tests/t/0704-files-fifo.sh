#!/bin/bash
# mailmove files never blocks on what a copied link or a config names: a
# live/ link to a FIFO on the new server (live/x/cert.pem -> /run/initctl)
# and a DKIM selector whose key path is a FIFO.  The checks open only
# regular files: each FIFO is reported as "not a regular file", counted as
# a failed check (exit 1), and the run ends at once.  A timeout around
# mailmove turns a regression (a blocked open) into a failure.
. "$(dirname "$0")/../lib.sh"
. "$TOP/tests/lib-files.sh"
command -v openssl >/dev/null || skip_all "no openssl"
command -v mkfifo >/dev/null || skip_all "no mkfifo"
plan 10

old="$T/old"
new="$T/new"
make_old_root "$old" standalone || { give_up "openssl failed"; }
le="$old/etc/letsencrypt"
mkdir -p "$le/live/fifo.example.org" "$old/run"
mkfifo "$old/run/initctl"
for p in cert chain fullchain privkey; do
	ln -s /run/initctl "$le/live/fifo.example.org/$p.pem"
done
# A real certificate whose key link names the FIFO.
le_cert "$le" key.example.org 1 || { give_up "openssl failed"; }
le_live "$le" key.example.org 1
ln -sfn /run/initctl "$le/live/key.example.org/privkey.pem"
printf 'example.com fifo\n' >>"$old/etc/rspamd/dkim_selectors.map"
make_new_root "$new"
mkdir -p "$new/run" "$new/var/lib/rspamd/dkim"
mkfifo "$new/run/initctl" "$new/var/lib/rspamd/dkim/example.com.fifo.key"

# The FIFOs are opened by nobody else: an open() for reading would wait
# forever for a writer (and a blocked open ignores SIGTERM: hence -k).
start=$(date +%s)
out=$(timeout -k 5 60 "$MM" files --from "$old" --to "$new" 2>"$T/.stderr")
rc=$?
err=$(cat "$T/.stderr")
took=$(($(date +%s) - start))
ok "$([ "$rc" -lt 124 ] && echo 0 || echo 1)" "files does not block on a FIFO (exit $rc after ${took}s)"
is "$rc" 1 "a FIFO where a certificate or key belongs is a failed check (exit 1)"
like "$out" 'check certificate fifo.example.org: FAILED: cert.pem not a regular file' \
	"the certificate link to a FIFO is reported"
like "$out" 'check certificate key.example.org: FAILED: privkey.pem not a regular file' \
	"so is a key link to a FIFO"
like "$out" 'check selector example.com fifo: FAILED: /var/lib/rspamd/dkim/example.com.fifo.key: not a regular file' \
	"the selector's FIFO key is reported"
like "$out" 'check certificate mail.example.org: ok' "the real certificate is still checked"
like "$out" 'check selector example.org 2026: ok' "and the real selector"
is "$(readlink "$new/etc/letsencrypt/live/fifo.example.org/cert.pem")" /run/initctl \
	"the link is copied as the link it is"
ok "$([ -p "$new/run/initctl" ] && [ -p "$new/var/lib/rspamd/dkim/example.com.fifo.key" ] && echo 0 || echo 1)" \
	"the FIFOs are left as they were"
unlike "$out$err" 'BEGIN|PRIVATE KEY' "no key material in any message"
