# wscluster.h - build, test, demo.  `make test` and `make demo` install what they lack.
CC      ?= cc
WARN    := -std=c99 -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Werror
CFLAGS  ?= -O2 -g
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
B       := build
PROGS   := $(B)/wscluster-node $(B)/minimal $(B)/wsc-client $(B)/unit $(B)/device $(B)/threads \
           $(B)/api_watch $(B)/api_extloop $(B)/api_extloop_epoll
ASAN    := $(B)/asan/wscluster-node $(B)/asan/wsc-client $(B)/asan/unit $(B)/asan/device $(B)/asan/threads \
           $(B)/asan/api_watch $(B)/asan/api_extloop $(B)/asan/api_extloop_epoll
FUZZERS := $(B)/fuzz/fuzz_http $(B)/fuzz/fuzz_ws $(B)/fuzz/fuzz_tcp $(B)/fuzz/fuzz_link $(B)/fuzz/fuzz_peers $(B)/fuzz/fuzz_resp
FUZZ_SECONDS ?= 20
HDR     := wscluster.h

.PHONY: all asan tls fuzz test demo deps clean check-headers install uninstall
all: $(PROGS)

$(B) $(B)/asan $(B)/fuzz:
	mkdir -p $@

# the chat page and the cluster view are served from the binary: their bytes become C arrays
$(B)/%_html.h: examples/%.html | $(B)
	{ echo '/* generated from $< by the Makefile */'; \
	  echo 'static const unsigned char $*_html[] = {'; \
	  od -An -v -tx1 $< | sed 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '0x00};'; \
	  echo 'static const size_t $*_html_len = sizeof $*_html - 1;'; } > $@
PAGES   := $(B)/chat_html.h $(B)/cluster_html.h

# the node uses the epoll backend on Linux; its ASan build keeps poll(), so the suite
# exercises both loops
BACKEND := $(shell [ "$$(uname -s)" = Linux ] && echo -DWSCLUSTER_EPOLL)
$(B)/wscluster-node: examples/node.c $(HDR) $(PAGES) | $(B)
	$(CC) $(WARN) $(CFLAGS) $(BACKEND) -I$(B) $< -o $@
$(B)/minimal: examples/minimal.c $(HDR) | $(B)
	$(CC) $(WARN) $(CFLAGS) $< -o $@
$(B)/wsc-client: tests/wsc_client.c $(HDR) | $(B)
	$(CC) $(WARN) $(CFLAGS) $< -o $@
$(B)/unit: tests/unit.c $(HDR) | $(B)
	$(CC) $(WARN) $(CFLAGS) $< -o $@
$(B)/device: examples/device.c $(HDR) | $(B)
	$(CC) $(WARN) $(CFLAGS) $< -o $@
$(B)/threads: examples/threads.c $(HDR) | $(B)
	$(CC) $(WARN) $(CFLAGS) -pthread $< -o $@
# the API test programs (tests/test_api.py): api_watch follows the node (epoll on Linux, its
# ASan build poll()); api_extloop is built for both backends in both builds
$(B)/api_watch: tests/api_watch.c tests/api_common.h $(HDR) | $(B)
	$(CC) $(WARN) $(CFLAGS) $(BACKEND) -pthread $< -o $@
$(B)/api_extloop: tests/api_extloop.c tests/api_common.h $(HDR) | $(B)
	$(CC) $(WARN) $(CFLAGS) -pthread $< -o $@
$(B)/api_extloop_epoll: tests/api_extloop.c tests/api_common.h $(HDR) | $(B)
	$(CC) $(WARN) $(CFLAGS) -DWSCLUSTER_EPOLL -pthread $< -o $@

# the TLS variants (mbedTLS): the same programs with WSCLUSTER_MBEDTLS
TLSLIB  := -lmbedtls -lmbedx509 -lmbedcrypto
TLS     := $(B)/wscluster-node-tls $(B)/wsc-client-tls $(B)/asan/wscluster-node-tls $(B)/asan/wsc-client-tls
tls: $(TLS)
$(B)/wscluster-node-tls: examples/node.c $(HDR) $(PAGES) | $(B)
	$(CC) $(WARN) $(CFLAGS) $(BACKEND) -DWSCLUSTER_MBEDTLS -I$(B) $< -o $@ $(TLSLIB)
$(B)/wsc-client-tls: tests/wsc_client.c $(HDR) | $(B)
	$(CC) $(WARN) $(CFLAGS) -DWSCLUSTER_MBEDTLS $< -o $@ $(TLSLIB)
$(B)/asan/wscluster-node-tls: examples/node.c $(HDR) $(PAGES) | $(B)/asan
	$(CC) $(WARN) -O1 -g $(SAN) -DWSCLUSTER_MBEDTLS -I$(B) $< -o $@ $(TLSLIB)
$(B)/asan/wsc-client-tls: tests/wsc_client.c $(HDR) | $(B)/asan
	$(CC) $(WARN) -O1 -g $(SAN) -DWSCLUSTER_MBEDTLS $< -o $@ $(TLSLIB)

asan: $(ASAN)
$(B)/asan/wscluster-node: examples/node.c $(HDR) $(PAGES) | $(B)/asan
	$(CC) $(WARN) -O1 -g $(SAN) -I$(B) $< -o $@
$(B)/asan/wsc-client: tests/wsc_client.c $(HDR) | $(B)/asan
	$(CC) $(WARN) -O1 -g $(SAN) $< -o $@
$(B)/asan/unit: tests/unit.c $(HDR) | $(B)/asan
	$(CC) $(WARN) -O1 -g $(SAN) $< -o $@
$(B)/asan/device: examples/device.c $(HDR) | $(B)/asan
	$(CC) $(WARN) -O1 -g $(SAN) $< -o $@
$(B)/asan/threads: examples/threads.c $(HDR) | $(B)/asan
	$(CC) $(WARN) -O1 -g $(SAN) -pthread $< -o $@
$(B)/asan/api_watch: tests/api_watch.c tests/api_common.h $(HDR) | $(B)/asan
	$(CC) $(WARN) -O1 -g $(SAN) -pthread $< -o $@
$(B)/asan/api_extloop: tests/api_extloop.c tests/api_common.h $(HDR) | $(B)/asan
	$(CC) $(WARN) -O1 -g $(SAN) -pthread $< -o $@
$(B)/asan/api_extloop_epoll: tests/api_extloop.c tests/api_common.h $(HDR) | $(B)/asan
	$(CC) $(WARN) -O1 -g $(SAN) -DWSCLUSTER_EPOLL -pthread $< -o $@

# libFuzzer targets (clang); one per parser
fuzz: $(FUZZERS)
$(B)/fuzz/%: tests/fuzz/%.c tests/fuzz/frames.inc $(HDR) | $(B)/fuzz
	clang -g -O1 -fsanitize=fuzzer,address,undefined $< -o $@

# the header must compile warning-free as C with gcc and clang, as C++, and static
check-headers: $(PAGES)
	sh tests/check_headers.sh

deps:
	sh tests/deps.sh

test: deps
	sh tests/run.sh

demo: deps $(B)/wscluster-node
	BACKPLANE=$(BACKPLANE) sh examples/demo.sh

clean:
	rm -rf $(B)

# make install [PREFIX=/usr/local] [DESTDIR=staging root]: the header, the node, its man page
# and a pkg-config file (the header's directory; Libs.private: the TLS variant's libraries)
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
INCLUDEDIR ?= $(PREFIX)/include
LIBDIR     ?= $(PREFIX)/lib
MANDIR     ?= $(PREFIX)/share/man
INSTALL    ?= install
VERSION     = $(shell sed -n 's/^\#define WSCLUSTER_VERSION "\(.*\)"/\1/p' $(HDR))
# written at every install: PREFIX may differ from the last one
$(B)/wscluster.pc: FORCE | $(B)
	{ echo '# wscluster.h is one header: Cflags finds it. Libs.private is for builds with'; \
	  echo '# -DWSCLUSTER_MBEDTLS (the TLS variant): pkg-config --libs --static wscluster'; \
	  echo 'prefix=$(PREFIX)'; \
	  echo 'includedir=$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))'; \
	  echo; \
	  echo 'Name: wscluster'; \
	  echo 'Description: a cluster of long-lived WebSocket and TCP connections, in one C header'; \
	  echo 'Version: $(VERSION)'; \
	  echo 'Cflags: -I$${includedir}'; \
	  echo 'Libs:'; \
	  echo 'Libs.private: $(TLSLIB)'; } > $@
.PHONY: FORCE
FORCE:
install: $(B)/wscluster-node $(B)/wscluster.pc
	$(INSTALL) -d -m 755 $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(MANDIR)/man1
	$(INSTALL) -m 644 $(HDR) $(DESTDIR)$(INCLUDEDIR)/wscluster.h
	$(INSTALL) -m 755 $(B)/wscluster-node $(DESTDIR)$(BINDIR)/wscluster-node
	$(INSTALL) -m 644 $(B)/wscluster.pc $(DESTDIR)$(LIBDIR)/pkgconfig/wscluster.pc
	$(INSTALL) -m 644 examples/wscluster-node.1 $(DESTDIR)$(MANDIR)/man1/wscluster-node.1
uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/wscluster.h $(DESTDIR)$(BINDIR)/wscluster-node \
	    $(DESTDIR)$(LIBDIR)/pkgconfig/wscluster.pc $(DESTDIR)$(MANDIR)/man1/wscluster-node.1

# portability (tests/cross.sh, which installs the cross compilers, qemu-user-static and
# musl-tools): aarch64, armhf (32- and 64-bit time_t) and s390x builds run under qemu; a
# static musl build; the table of code size and per-connection memory on each
.PHONY: cross musl footprint
cross:
	sh tests/cross.sh cross
musl:
	sh tests/cross.sh musl
footprint:
	sh tests/cross.sh footprint
$(B)/footprint: tests/footprint.c $(HDR) | $(B)
	$(CC) $(WARN) $(CFLAGS) $< -o $@

# the benchmark (tests/bench): installs what it needs, then runs every server; see run.sh
.PHONY: bench
bench:
	sh tests/bench/run.sh
$(B)/bench:
	mkdir -p $@
$(B)/bench/wsbench: tests/bench/wsbench.c | $(B)/bench
	$(CC) -std=c99 -Wall -Wextra -Wpedantic -O2 -g $< -o $@
$(B)/bench/malloc_count.so: tests/bench/malloc_count.c | $(B)/bench
	$(CC) -Wall -Wextra -O2 -g -fPIC -shared $< -o $@
$(B)/bench/lws_server: tests/bench/lws_server.c | $(B)/bench
	$(CC) -std=c99 -Wall -Wextra -O2 -g $$(pkg-config --cflags libwebsockets 2>/dev/null) $< -o $@ \
	    $$(pkg-config --libs libwebsockets 2>/dev/null || echo -lwebsockets)

# two builds side by side: the node at BASE (default HEAD~1) against the working tree
.PHONY: bench-compare
bench-compare:
	BASE=$(BASE) ROUNDS=$(ROUNDS) sh tests/bench/compare.sh
# the same comparison in instructions (callgrind): what machine load does not change
.PHONY: bench-callgrind
bench-callgrind:
	BASE=$(BASE) sh tests/bench/callgrind.sh
