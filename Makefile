# mailmove: build, test, demo and install.
#
#   make            the controller (mailmove) and the static agent
#   make check      install missing Debian packages, build, run every test
#   make demo       install missing packages, build, migrate two sample servers
#   make san        the controller and unit tests with ASan + UBSan (build-san/)
#   make install    PREFIX=/usr/local DESTDIR=

VERSION = 0.1.0
PREFIX ?= /usr/local
BINDIR = $(PREFIX)/bin
LIBEXECDIR = $(PREFIX)/lib/mailmove
MANDIR = $(PREFIX)/share/man

CC ?= cc
MUSL_CC ?= musl-gcc
PKG_CONFIG ?= pkg-config
PKGS = sqlite3 libmariadb hiredis libxxhash jansson libcrypto ldns libarchive

B ?= build
OPT ?= -O2 -g
SAN_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

WARN = -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
       -Wmissing-prototypes -Wno-unused-parameter -Wformat=2 -Wvla
DEFS = -D_GNU_SOURCE -DMAILMOVE_VERSION='"$(VERSION)"' \
       -DMAILMOVE_LIBEXECDIR='"$(LIBEXECDIR)"'
CFLAGS_ALL = -std=c11 $(OPT) $(WARN) $(DEFS) $(EXTRA_CFLAGS)
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)

SHARED_SRC = src/buf.c src/proto.c
AGENT_SRC = src/agent/agent.c src/agent/agent_fs.c src/agent/agent_proc.c $(SHARED_SRC)
CTL_SRC = $(filter-out src/main.c,$(wildcard src/*.c))
CTL_OBJ = $(CTL_SRC:src/%.c=$(B)/%.o)
UNIT_SRC = $(wildcard tests/unit/test_*.c)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(B)/unit/%)
HDRS = $(wildcard src/*.h src/agent/*.h)

all: mailmove mailmove-agent

$(B)/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(PKG_CFLAGS) -c -o $@ $<

$(B)/libmm.a: $(CTL_OBJ)
	rm -f $@
	ar rcs $@ $(CTL_OBJ)

$(B)/mailmove: $(B)/main.o $(B)/libmm.a
	$(CC) $(CFLAGS_ALL) -o $@ $(B)/main.o $(B)/libmm.a $(PKG_LIBS) -lpthread $(LDFLAGS)

mailmove: $(B)/mailmove
	cp $(B)/mailmove $@

# The agent: static, libc (musl) only, so it runs on any Debian from 11 on.
# xxHash is used as a header-only library.
$(B)/agent-inc/xxhash.h: /usr/include/xxhash.h
	@mkdir -p $(dir $@)
	cp /usr/include/xxhash.h $@

mailmove-agent: $(AGENT_SRC) $(HDRS) $(B)/agent-inc/xxhash.h
	$(MUSL_CC) -static -std=c11 -O2 $(WARN) $(DEFS) -I$(B)/agent-inc \
		-o $@ $(AGENT_SRC)

$(B)/unit/%: tests/unit/%.c tests/unit/unit.h $(B)/libmm.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(PKG_CFLAGS) -Isrc -o $@ $< $(B)/libmm.a $(PKG_LIBS) -lpthread

$(B)/fuzz-frames: fuzz/fuzz_frames.c $(B)/libmm.a
	clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined $(DEFS) \
		$(PKG_CFLAGS) -Isrc -o $@ fuzz/fuzz_frames.c $(CTL_SRC) $(PKG_LIBS) -lpthread

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do $$t; done

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
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 0755 mailmove $(DESTDIR)$(BINDIR)/mailmove
	install -m 0755 mailmove-agent $(DESTDIR)$(LIBEXECDIR)/mailmove-agent
	install -m 0644 docs/mailmove.1 $(DESTDIR)$(MANDIR)/man1/mailmove.1

clean:
	rm -rf build build-san mailmove mailmove-agent

.PHONY: all unit deps check san fuzz demo install clean

$(B)/evil-agent: tests/helpers/evil-agent.c src/buf.c src/proto.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Isrc -o $@ tests/helpers/evil-agent.c src/buf.c src/proto.c

helpers: $(B)/evil-agent
