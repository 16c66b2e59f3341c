# mailtool — plain Makefile; dependencies through pkg-config.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR = $(PREFIX)/bin
MANDIR = $(PREFIX)/share/man
COMPLDIR = $(PREFIX)/share/bash-completion/completions
DOCDIR = $(PREFIX)/share/doc/mailtool
UNITDIR ?= $(PREFIX)/lib/systemd/system
DEB_OUT ?= .

CC ?= cc
PKGS = libetpan libconfig libpcre2-8 openssl zlib
# Debian's libetpan.pc leaks a dpkg build spec file into --libs; drop it.
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(filter-out -specs=%,$(shell pkg-config --libs $(PKGS) 2>/dev/null))
# libetpan from its static archive where there is one (Debian's libetpan-dev
# ships it): only the IMAP, MIME and stream parts mailtool calls are linked,
# and every start no longer loads GnuTLS, Berkeley DB and the rest that
# libetpan.so pulls in (mailtool --version: 5.6 ms -> 3.4 ms here; what a
# --persist client costs is mostly this). MT_SHARED_ETPAN=1 links the .so.
ETPAN_A := $(wildcard $(shell pkg-config --variable=libdir libetpan 2>/dev/null)/libetpan.a)
ifeq ($(MT_SHARED_ETPAN)$(if $(ETPAN_A),,none),)
PKG_LIBS := $(ETPAN_A) -lsasl2 -llockfile -Wl,-z,relro -Wl,-z,now \
	$(filter-out -specs=%,$(shell pkg-config --libs $(filter-out libetpan,$(PKGS)) 2>/dev/null))
# The same for liblockfile, libconfig, PCRE2, OpenSSL and zlib when all their archives are
# there (their -dev packages ship them): loading ten shared objects and
# binding libcrypto's symbols was most of what a start costs, and a
# --persist one-liner is little more than a start (mailtool --version under
# posix_spawn: 2.3 ms -> 1.45 ms here, /bin/true 0.9 ms). Still a PIE, with
# full RELRO; libc, libm and libsasl2 (whose archive wants LDAP and GSSAPI)
# stay shared. MT_SHARED_LIBS=1 links the .so files of these. (An OpenSSL
# security update then needs a rebuild of mailtool, as with any static link.)
STATIC_A := $(foreach l,liblockfile libconfig libpcre2-8 libssl libcrypto libz,\
	$(wildcard $(shell pkg-config --variable=libdir libetpan 2>/dev/null)/$(l).a))
ifeq ($(MT_SHARED_LIBS)$(words $(STATIC_A)),6)
PKG_LIBS := $(ETPAN_A) $(STATIC_A) -lsasl2 -pthread -ldl -Wl,-z,relro -Wl,-z,now
endif
endif
CFLAGS ?= -O2 -g
WARN = -Wall -Wextra -Werror
ALL_CFLAGS = -std=gnu11 $(WARN) $(CFLAGS) $(PKG_CFLAGS) -D_GNU_SOURCE -DPCRE2_CODE_UNIT_WIDTH=8
LDLIBS = $(PKG_LIBS) -lm

# lib/ the IMAP library, mail/ pure message parsing, filters/ the condition
# language; tool/ the command-line layer (dispatch in tool/main.c, the rest
# in an archive so the unit and fuzz binaries take only what they call);
# cmd/ one applet per file.
LIB_SRC = $(wildcard lib/*.c) $(wildcard mail/*.c) $(wildcard filters/*.c)
TOOL_SRC = $(filter-out tool/main.c,$(wildcard tool/*.c))
CMD_SRC = $(wildcard cmd/*.c) tool/main.c
LIB_OBJ = $(LIB_SRC:.c=.o)
TOOL_OBJ = $(TOOL_SRC:.c=.o)
CMD_OBJ = $(CMD_SRC:.c=.o)
TOOL_A = tool/libtool.a
HDRS = $(wildcard lib/*.h mail/*.h tool/*.h filters/*.h)
# applets are the cmd/ files that register one (MT_APPLET); main.c is the dispatcher
APPLETS = $(sort $(patsubst cmd/%.c,%,$(shell grep -l '^MT_APPLET' cmd/*.c)))

.PHONY: all check unit asan lint tidy fuzz deps demo demo-stop install clean bench deb

all: mailtool

mailtool: $(CMD_OBJ) $(TOOL_A) $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) -o $@ $(CMD_OBJ) $(TOOL_A) $(LIB_OBJ) $(LDFLAGS) $(LDLIBS)

$(TOOL_A): $(TOOL_OBJ)
	rm -f $@ && ar rcs $@ $(TOOL_OBJ)

%.o: %.c $(HDRS)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

tests/unit/mt-unit: tests/unit/unit.c $(TOOL_A) $(LIB_OBJ) $(HDRS)
	$(CC) $(ALL_CFLAGS) -o $@ tests/unit/unit.c $(TOOL_A) $(LIB_OBJ) $(LDFLAGS) $(LDLIBS)

unit: tests/unit/mt-unit

# The same code under AddressSanitizer + UndefinedBehaviorSanitizer, in its own
# build directory; make check runs the whole suite against it a second time.
ASAN_DIR = build-asan
SAN = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASAN_OBJ = $(patsubst %.c,$(ASAN_DIR)/%.o,$(LIB_SRC) $(CMD_SRC))
ASAN_TOOL_A = $(ASAN_DIR)/tool/libtool.a

$(ASAN_DIR)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(WARN) -O1 -g $(SAN) $(PKG_CFLAGS) -D_GNU_SOURCE -DPCRE2_CODE_UNIT_WIDTH=8 -c -o $@ $<

$(ASAN_TOOL_A): $(patsubst %.c,$(ASAN_DIR)/%.o,$(TOOL_SRC))
	rm -f $@ && ar rcs $@ $^

$(ASAN_DIR)/mailtool: $(ASAN_OBJ) $(ASAN_TOOL_A)
	$(CC) $(SAN) -o $@ $(filter-out $(ASAN_DIR)/lib/% $(ASAN_DIR)/mail/% $(ASAN_DIR)/filters/%,$(ASAN_OBJ)) \
		$(ASAN_TOOL_A) $(filter $(ASAN_DIR)/lib/% $(ASAN_DIR)/mail/% $(ASAN_DIR)/filters/%,$(ASAN_OBJ)) $(LDFLAGS) $(LDLIBS)

ASAN_LIB_OBJ = $(patsubst %.c,$(ASAN_DIR)/%.o,$(LIB_SRC))
$(ASAN_DIR)/mt-unit: tests/unit/unit.c $(ASAN_TOOL_A) $(ASAN_LIB_OBJ) $(HDRS)
	$(CC) -std=gnu11 $(WARN) -O1 -g $(SAN) $(PKG_CFLAGS) -D_GNU_SOURCE -DPCRE2_CODE_UNIT_WIDTH=8 -o $@ tests/unit/unit.c $(ASAN_TOOL_A) $(ASAN_LIB_OBJ) $(LDFLAGS) $(LDLIBS)

# The fuzz targets (tests/fuzz/fuzz_*.c) with a plain main() (replay.c) that
# runs them over files: make check replays the seed corpus and every input a
# fuzzer ever crashed on (tests/fuzz/regress/) under the sanitizers.
FUZZ_TARGETS = $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
$(ASAN_DIR)/fuzz-%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c tests/fuzz/fuzz.h $(ASAN_TOOL_A) $(ASAN_LIB_OBJ) $(HDRS)
	$(CC) -std=gnu11 $(WARN) -O1 -g $(SAN) $(PKG_CFLAGS) -D_GNU_SOURCE -DPCRE2_CODE_UNIT_WIDTH=8 -o $@ $< tests/fuzz/replay.c $(ASAN_TOOL_A) $(ASAN_LIB_OBJ) $(LDFLAGS) $(LDLIBS)

asan: $(ASAN_DIR)/mailtool $(ASAN_DIR)/mt-unit $(addprefix $(ASAN_DIR)/fuzz-,$(FUZZ_TARGETS))

# libFuzzer (clang): `make fuzz` builds every target and runs each for
# FUZZ_SECONDS on a scratch copy of its seed corpus (tests/fuzz/README.md).
FUZZ_DIR = build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS = -std=gnu11 -O1 -g -fno-omit-frame-pointer $(PKG_CFLAGS) -D_GNU_SOURCE -DPCRE2_CODE_UNIT_WIDTH=8
# the tool layer as an archive, as for the other builds: only what a target
# uses is linked (tool/applets.c needs the applets' section otherwise)
FUZZ_OBJ = $(patsubst %.c,$(FUZZ_DIR)/%.o,$(LIB_SRC))
FUZZ_TOOL_A = $(FUZZ_DIR)/tool/libtool.a
$(FUZZ_DIR)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<
$(FUZZ_TOOL_A): $(patsubst %.c,$(FUZZ_DIR)/%.o,$(TOOL_SRC))
	rm -f $@ && ar rcs $@ $^
$(FUZZ_DIR)/fuzz-%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_OBJ) $(FUZZ_TOOL_A)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_TOOL_A) $(FUZZ_OBJ) $(LDFLAGS) $(LDLIBS)

# keep the objects between runs (make would delete them as intermediates)
.SECONDARY: $(FUZZ_OBJ) $(patsubst %.c,$(FUZZ_DIR)/%.o,$(TOOL_SRC))

fuzz: deps
	$(MAKE) $(addprefix $(FUZZ_DIR)/fuzz-,$(FUZZ_TARGETS))
	sh tests/fuzz/run.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# Installs missing Debian packages when root, else prints the apt-get line.
deps:
	@sh .ci/deps

# Static analysis; every suppression is inline, next to its reason.
lint: tidy
	cppcheck --quiet --enable=warning,performance,portability --inline-suppr --error-exitcode=1 \
		-D_GNU_SOURCE -DPCRE2_CODE_UNIT_WIDTH=8 -I lib lib mail tool cmd filters tests/unit tests/fuzz

# clang-tidy with the checks listed (and justified) in .clang-tidy; any
# finding fails. One file per process, two at a time.
tidy:
	printf '%s\n' $(LIB_SRC) $(TOOL_SRC) $(CMD_SRC) tests/fuzz/*.c | xargs -P 2 -n 1 sh -c \
		'clang-tidy --quiet "$$0" -- -std=gnu11 $(PKG_CFLAGS) -D_GNU_SOURCE -DPCRE2_CODE_UNIT_WIDTH=8 2>/dev/null || exit 255'

# The plain pass and the sanitizer pass are independent (each BATS run starts
# its own Dovecot on its own ports, with its own XDG directories) and mostly
# wait on the server, so they run side by side; their TAP is printed one
# after the other when both are done. MAILTOOL_TEST_PASS splits the slowest
# files between them (tests/helpers.bash: mt_other_pass).
check: deps
	$(MAKE) mailtool unit asan lint
	rm -rf $(ASAN_DIR)/logs && mkdir -p $(ASAN_DIR)/logs
	@echo "running the suite twice, plain and under ASan+UBSan, side by side ..."
	@start=$$(date +%s); \
	MAILTOOL_TEST_PASS=plain bats --tap --timing tests/ > $(ASAN_DIR)/plain.tap 2>&1 & plain=$$!; \
	MAILTOOL_TEST_PASS=sanitizer \
	MAILTOOL_TEST_BIN=$(CURDIR)/$(ASAN_DIR)/mailtool MAILTOOL_TEST_UNIT=$(CURDIR)/$(ASAN_DIR)/mt-unit \
	MAILTOOL_SANITIZER_LOGS=$(CURDIR)/$(ASAN_DIR)/logs \
	ASAN_OPTIONS=log_path=$(CURDIR)/$(ASAN_DIR)/logs/asan:detect_leaks=1 \
	UBSAN_OPTIONS=log_path=$(CURDIR)/$(ASAN_DIR)/logs/ubsan:print_stacktrace=1 \
	bats --tap --timing tests/ > $(ASAN_DIR)/asan.tap 2>&1; san=$$?; san_s=$$(( $$(date +%s) - start )); \
	wait $$plain; rc=$$?; \
	echo "# plain pass"; cat $(ASAN_DIR)/plain.tap; \
	echo "# sanitizer pass"; cat $(ASAN_DIR)/asan.tap; \
	echo "# both passes done in $$(( $$(date +%s) - start )) s, the sanitizer pass in $$san_s s"; \
	[ $$rc -eq 0 ] && [ $$san -eq 0 ]

demo: deps
	$(MAKE) mailtool
	sh tests/demo.sh start

# Figures, not tests: mailtool against doveadm on a 89,000-message box.
bench: deps
	$(MAKE) mailtool
	bash tests/bench/bench.sh

demo-stop:
	sh tests/demo.sh stop

install: mailtool
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(COMPLDIR) $(DESTDIR)$(DOCDIR)
	install -m 755 mailtool $(DESTDIR)$(BINDIR)/mailtool
	for a in $(APPLETS); do ln -sf mailtool $(DESTDIR)$(BINDIR)/mailtool-$$a; done
	install -m 644 man/*.1 $(DESTDIR)$(MANDIR)/man1/
	for f in man/*.5; do [ -e "$$f" ] && install -m 644 $$f $(DESTDIR)$(MANDIR)/man5/ || true; done
	install -m 644 completions/mailtool.bash $(DESTDIR)$(COMPLDIR)/mailtool
	for a in $(APPLETS); do ln -sf mailtool $(DESTDIR)$(COMPLDIR)/mailtool-$$a; done
	install -m 644 mailtool.conf $(DESTDIR)$(DOCDIR)/mailtool.conf.example
	install -d $(DESTDIR)$(UNITDIR)
	for u in systemd/*.service systemd/*.timer; do \
		sed 's|@BINDIR@|$(BINDIR)|g' $$u > $(DESTDIR)$(UNITDIR)/$${u#systemd/} && \
		chmod 644 $(DESTDIR)$(UNITDIR)/$${u#systemd/} || exit 1; done

# A Debian package (dpkg-buildpackage, debian/): mailtool_VERSION_ARCH.deb
# here. Built from a copy of the tracked files, so that the package's own
# clean and build never touch this tree's build (make check may be running
# in it). Needs git, debhelper and dpkg-dev (installed by make deps).
deb:
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; mkdir "$$tmp/src"; \
	git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$$tmp/src"; \
	(cd "$$tmp/src" && dpkg-buildpackage -b -us -uc -j2) > "$$tmp/build.log" 2>&1 || \
		{ tail -40 "$$tmp/build.log" >&2; exit 1; }; \
	deb=mailtool_$$(dpkg-parsechangelog -S Version)_$$(dpkg-architecture -qDEB_HOST_ARCH).deb; \
	cp "$$tmp/$$deb" $(DEB_OUT)/; echo "$$deb"

clean:
	rm -f mailtool $(LIB_OBJ) $(TOOL_OBJ) $(CMD_OBJ) $(TOOL_A) tests/unit/mt-unit
	rm -rf $(ASAN_DIR) $(FUZZ_DIR)
