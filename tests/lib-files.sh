# tests/lib-files.sh: old and new roots for `mailmove files` tests, made
# with openssl: a Let's Encrypt tree (two generations in archive/, live/
# links to the second), DKIM keys, rspamd's selector map and signing
# config, and passwd/group files where _rspamd has other ids on each side.
# Sourced after tests/lib.sh.

# le_cert DIR NAME N [KEYFILE]: archive/NAME/{cert,chain,fullchain,privkey}N.pem
# with a real self-signed EC certificate for NAME and imap.NAME (90 days).
# With KEYFILE, privkeyN.pem is that key instead of the certificate's own.
le_cert() {
	local a="$1/archive/$2" n=$3
	mkdir -p "$a"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-nodes -days 90 -subj "/CN=$2" \
		-addext "subjectAltName=DNS:$2,DNS:imap.$2" \
		-keyout "$a/privkey$n.pem" -out "$a/cert$n.pem" 2>/dev/null || return 1
	[ -n "${4:-}" ] && cp "$4" "$a/privkey$n.pem"
	cp "$a/cert$n.pem" "$a/chain$n.pem"
	cat "$a/cert$n.pem" "$a/chain$n.pem" >"$a/fullchain$n.pem"
	chmod 600 "$a/privkey$n.pem"
}

# le_live DIR NAME N: live/NAME/*.pem -> ../../archive/NAME/*N.pem
le_live() {
	local p
	mkdir -p "$1/live/$2"
	for p in cert chain fullchain privkey; do
		ln -sfn "../../archive/$2/$p$3.pem" "$1/live/$2/$p.pem"
	done
}

# make_old_root DIR [AUTH]: the old server's root.  AUTH is the renewal
# authenticator of mail.example.org: "webroot" (default; its webroot
# /var/www/html exists only on the old server) or "standalone".
make_old_root() {
	local old=$1 auth=${2:-webroot} le="$1/etc/letsencrypt"
	mkdir -p "$old/etc" "$old/var/www/html" "$old/etc/ssl/certs"
	printf 'root:x:0:0:root:/root:/bin/bash\n_rspamd:x:108:115::/var/lib/rspamd:/usr/sbin/nologin\n' >"$old/etc/passwd"
	printf 'root:x:0:\n_rspamd:x:115:\n' >"$old/etc/group"
	mkdir -p "$le/renewal"
	le_cert "$le" mail.example.org 1 || return 1
	le_cert "$le" mail.example.org 2 || return 1
	le_live "$le" mail.example.org 2
	printf 'This directory holds your keys.\n' >"$le/live/README"
	if [ "$auth" = webroot ]; then
		cat >"$le/renewal/mail.example.org.conf" <<'X'
version = 2.1.0
archive_dir = /etc/letsencrypt/archive/mail.example.org
cert = /etc/letsencrypt/live/mail.example.org/cert.pem
privkey = /etc/letsencrypt/live/mail.example.org/privkey.pem
chain = /etc/letsencrypt/live/mail.example.org/chain.pem
fullchain = /etc/letsencrypt/live/mail.example.org/fullchain.pem
[renewalparams]
account = 0123456789abcdef
authenticator = webroot
webroot_path = /var/www/html,
server = https://acme-v02.api.letsencrypt.org/directory
[[webroot_map]]
mail.example.org = /var/www/html
imap.example.org = /var/www/html
X
	else
		printf 'version = 2.1.0\n[renewalparams]\nauthenticator = standalone\n' \
			>"$le/renewal/mail.example.org.conf"
	fi
	# Links the sync must keep as they are and report.
	ln -s ../../archive/mail.example.org/cert0.pem "$le/live/mail.example.org/old.pem"
	printf 'outside\n' >"$old/etc/ssl/certs/outside.pem"
	ln -s /etc/ssl/certs/outside.pem "$le/live/mail.example.org/extra.pem"
	chmod 700 "$le/archive" "$le/live"
	chmod 644 "$le/renewal/mail.example.org.conf"

	mkdir -p "$old/var/lib/rspamd/dkim" "$old/etc/rspamd/local.d"
	openssl genrsa -out "$old/var/lib/rspamd/dkim/example.org.2026.key" 2048 2>/dev/null || return 1
	openssl genpkey -algorithm ed25519 -out "$old/var/lib/rspamd/dkim/example.net.mail.key" 2>/dev/null || return 1
	chmod 400 "$old/var/lib/rspamd/dkim/example.org.2026.key"
	chmod 600 "$old/var/lib/rspamd/dkim/example.net.mail.key"
	chmod 700 "$old/var/lib/rspamd/dkim"
	chown -R 108:115 "$old/var/lib/rspamd"
	printf '# domain selector\nexample.org 2026\nexample.net mail\n' >"$old/etc/rspamd/dkim_selectors.map"
	cat >"$old/etc/rspamd/local.d/dkim_signing.conf" <<'X'
path = "/var/lib/rspamd/dkim/$domain.$selector.key";
selector_map = "/etc/rspamd/dkim_selectors.map";
allow_username_mismatch = true;
X
	printf 'path = "/var/lib/rspamd/dkim/$domain.$selector.key";\n' >"$old/etc/rspamd/local.d/arc.conf"
	# Fixed mtimes: a same-size tamper can then restore them exactly.
	find "$old/etc/letsencrypt" "$old/var/lib/rspamd" "$old/etc/rspamd" \
		-exec touch -h -d '2026-10-01 12:00:00.123456789' {} +
}

# make_new_root DIR [with_rspamd]: the new server's root: _rspamd 104/105,
# or no _rspamd at all when the second argument is "no".
make_new_root() {
	mkdir -p "$1/etc"
	if [ "${2:-yes}" = no ]; then
		printf 'root:x:0:0:root:/root:/bin/bash\n' >"$1/etc/passwd"
		printf 'root:x:0:\n' >"$1/etc/group"
	else
		printf 'root:x:0:0:root:/root:/bin/bash\n_rspamd:x:104:105::/var/lib/rspamd:/usr/sbin/nologin\n' >"$1/etc/passwd"
		printf 'root:x:0:\n_rspamd:x:105:\n' >"$1/etc/group"
	fi
}

# tree_state DIR: inode, ctime, mode, owner, size and name of everything
# below DIR (a rerun that changes nothing leaves it identical).
tree_state() {
	(cd "$1" && find . -printf '%i %C@ %m %U:%G %s %p\n' | sort -k7)
}

# expiry_days CERT: whole days from now to the certificate's notAfter.
expiry_days() {
	local end
	end=$(date -u -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%s)
	echo $(((end - $(date +%s)) / 86400))
}
