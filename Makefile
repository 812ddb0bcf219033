# mailmove: build, test, demo and install.
#
#   make            the controller (mailmove) and the static agent
#   make check      install missing Debian packages, build, run every test
#   make demo       install missing packages, build, migrate two sample servers
#   make san        the controller and unit tests with ASan + UBSan (build-san/)
#   make deb        the Debian package mailmove_VERSION_ARCH.deb (debian/)
#   make install    PREFIX=/usr/local DESTDIR=

VERSION = 0.1.0
PREFIX ?= /usr/local
BINDIR = $(PREFIX)/bin
LIBEXECDIR = $(PREFIX)/lib/mailmove
MANDIR = $(PREFIX)/share/man
COMPLDIR = $(PREFIX)/share/bash-completion/completions

CC ?= cc
MUSL_CC ?= musl-gcc
PKG_CONFIG ?= pkg-config
PKGS = sqlite3 libmariadb hiredis libxxhash jansson libcrypto ldns libarchive

B ?= build
OPT ?= -O2 -g
SAN_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

WARN = -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
       -Wmissing-prototypes -Wformat=2 -Wvla
DEFS = -D_GNU_SOURCE -DMAILMOVE_VERSION='"$(VERSION)"' \
       -DMAILMOVE_LIBEXECDIR='"$(LIBEXECDIR)"'
CFLAGS_ALL = -std=c11 $(OPT) $(WARN) $(DEFS) $(EXTRA_CFLAGS)
# The libraries are asked for when a recipe first needs them, not when this
# file is read: `make demo` and `make check` install them first (`deps`).  A
# machine without them is told which packages are missing, once.
DEPS_OK = $(if $(deps_checked),,$(eval deps_checked := 1)$(if $(shell sh scripts/install-deps --check && echo ok),,$(error missing Debian packages (above); run `make deps` as root)))
PKG_CFLAGS = $(DEPS_OK)$(eval PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS)))$(PKG_CFLAGS)
PKG_LIBS = $(DEPS_OK)$(eval PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS)))$(PKG_LIBS)

SHARED_SRC = src/buf.c src/proto.c
AGENT_SRC = src/agent/agent.c src/agent/agent_fs.c src/agent/agent_proc.c src/agent/agent_dovecot.c $(SHARED_SRC)
CTL_SRC = $(filter-out src/main.c,$(wildcard src/*.c))
CTL_OBJ = $(CTL_SRC:src/%.c=$(B)/%.o)
UNIT_SRC = $(wildcard tests/unit/test_*.c)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(B)/unit/%)
HDRS = $(wildcard src/*.h src/agent/*.h)
# Each object's header dependencies, written by the compiler (-MMD -MP).
DEPFLAGS = -MMD -MP

all: mailmove mailmove-agent

$(B)/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(DEPFLAGS) $(PKG_CFLAGS) -c -o $@ $<

$(B)/libmm.a: $(CTL_OBJ)
	rm -f $@
	ar rcs $@ $(CTL_OBJ)

$(B)/mailmove: $(B)/main.o $(B)/libmm.a
	$(CC) $(CFLAGS_ALL) -o $@ $(B)/main.o $(B)/libmm.a $(PKG_LIBS) -lpthread $(LDFLAGS)

mailmove: $(B)/mailmove
	cp $(B)/mailmove $@

# The agent: static, libc (musl) only, so it runs on any Debian from 11 on.
# xxHash is used as a header-only library.
$(B)/agent-inc/xxhash.h: $(wildcard /usr/include/xxhash.h)
	@mkdir -p $(dir $@) $(DEPS_OK)
	cp /usr/include/xxhash.h $@

mailmove-agent: $(AGENT_SRC) $(HDRS) $(B)/agent-inc/xxhash.h
	@: $(DEPS_OK)
	$(MUSL_CC) -static -std=c11 -O2 $(WARN) $(DEFS) -I$(B)/agent-inc \
		-o $@ $(AGENT_SRC)

$(B)/unit/%: tests/unit/%.c $(B)/libmm.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(DEPFLAGS) $(PKG_CFLAGS) -Isrc -o $@ $< $(B)/libmm.a $(PKG_LIBS) -lpthread

$(B)/fuzz-frames: fuzz/fuzz_frames.c $(B)/libmm.a
	clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined $(DEFS) \
		$(PKG_CFLAGS) -Isrc -o $@ fuzz/fuzz_frames.c $(CTL_SRC) $(PKG_LIBS) -lpthread

# Each unit test prints its summary line; what it says on the way (the
# errors its bad inputs provoke) only when it fails.
unit: $(UNIT_BIN)
	@for t in $(UNIT_BIN); do \
		out=$$($$t 2>&1) || { printf '%s\n' "$$out"; exit 1; }; \
		printf '%s\n' "$$out" | tail -1; \
	done

deps:
	@sh scripts/install-deps

check: deps
	$(MAKE) all helpers
	$(MAKE) unit
	prove -f --ext=.sh $(PROVE_FLAGS) tests/t/

# The sanitizer build: unit tests, then the protocol tests against the
# sanitized controller (the agent stays the static one).
SAN_TESTS = tests/t/0002-local-agent.sh tests/t/0003-ssh-agent.sh tests/t/0004-malicious-agent.sh
san: all helpers
	$(MAKE) B=build-san OPT="-O1 -g $(SAN_FLAGS)" LDFLAGS="$(SAN_FLAGS)" build-san/mailmove
	$(MAKE) B=build-san OPT="-O1 -g $(SAN_FLAGS)" LDFLAGS="$(SAN_FLAGS)" unit
	MM_BINARY=$(CURDIR)/build-san/mailmove prove -f $(PROVE_FLAGS) $(SAN_TESTS)

fuzz: $(B)/fuzz-frames
	@mkdir -p $(B)/fuzz-corpus
	$(B)/fuzz-frames -max_total_time=$${FUZZ_SECONDS:-30} -rss_limit_mb=1024 \
		$(B)/fuzz-corpus fuzz/corpus

demo: deps all
	bash scripts/demo

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(COMPLDIR)
	install -m 0755 mailmove $(DESTDIR)$(BINDIR)/mailmove
	install -m 0755 mailmove-agent $(DESTDIR)$(LIBEXECDIR)/mailmove-agent
	install -m 0644 docs/mailmove.1 $(DESTDIR)$(MANDIR)/man1/mailmove.1
	install -m 0644 contrib/mailmove.bash-completion $(DESTDIR)$(COMPLDIR)/mailmove

# The Debian package, built by dpkg-buildpackage from a copy of the sources
# in $(B)/deb (its results land next to that copy), then checked by lintian.
DEB_ARCH = $(shell dpkg-architecture -qDEB_HOST_ARCH 2>/dev/null)
DEB = mailmove_$(VERSION)_$(DEB_ARCH).deb
DEB_OUT ?= .
deb:
	@command -v dpkg-buildpackage >/dev/null && command -v dh >/dev/null || \
		{ echo "make deb needs dpkg-dev and debhelper: run \`make deps\` as root" >&2; exit 2; }
	rm -rf $(B)/deb
	mkdir -p $(B)/deb/mailmove-$(VERSION)
	cp -R Makefile src docs debian contrib scripts $(B)/deb/mailmove-$(VERSION)/
	cd $(B)/deb/mailmove-$(VERSION) && dpkg-buildpackage -b -us -uc >../build.log 2>&1 || \
		{ tail -40 ../build.log >&2; echo "dpkg-buildpackage failed: $(B)/deb/build.log" >&2; exit 1; }
	cp $(B)/deb/$(DEB) $(DEB_OUT)/
	@if command -v lintian >/dev/null; then \
		out=$$(lintian --fail-on error $(DEB_OUT)/$(DEB) 2>&1); rc=$$?; \
		printf '%s\n' "$$out" | grep -v '^running with root privileges' || true; \
		[ $$rc = 0 ] || { echo "lintian found errors in $(DEB)" >&2; exit 1; }; \
	fi
	@echo "built $(DEB_OUT)/$(DEB); install it with: apt install $(DEB_OUT)/$(DEB)"

clean:
	rm -rf build build-san mailmove mailmove-agent mailmove_*.deb

.PHONY: all unit deps check san fuzz demo install deb clean

-include $(CTL_OBJ:.o=.d) $(B)/main.d $(UNIT_BIN:=.d)

$(B)/evil-agent: tests/helpers/evil-agent.c src/buf.c src/proto.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Isrc -o $@ tests/helpers/evil-agent.c src/buf.c src/proto.c

helpers: $(B)/evil-agent
