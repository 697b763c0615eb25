/* wscluster.h - v0.1.0 - a cluster of long-lived WebSocket and TCP connections, in one header.

   Public domain or MIT, see the end of this file.

   WHAT IT IS
     A single-header C99 library holding a complete RFC 6455 WebSocket framer (server and
     client roles), a length-prefixed TCP framer, a small HTTP/1.1 parser, and a poll() loop
     with timers that owns every socket. It is built so that several instances of one service
     can later behave as one (see CLUSTER MODEL); the connection classes exist from day one.
     Needs libc and POSIX sockets only.

   USE
     In exactly one C file:
         #define WSCLUSTER_IMPLEMENTATION
         #include "wscluster.h"
     Everywhere else just #include "wscluster.h". Define WSCLUSTER_STATIC before the include
     to make every function static (private to that file).

   TABLE OF CONTENTS (grep the tags)
     >>manual    this block: quick start, concepts, events, options, architecture,
                 function reference, limits
     >>api       public declarations
     >>base      allocation, logging, time, small helpers        (implementation)
     >>sha1      SHA-1, SHA-256, HMAC-SHA-256 and base64          (pure)
     >>utf8      incremental UTF-8 validation                     (pure)
     >>http      HTTP/1.1 request/response head parser            (pure)
     >>ws        RFC 6455 frame decoder and encoder               (pure)
     >>tcp       length-prefixed TCP frame decoder and encoder    (pure)
     >>url       ws:// tcp:// host:port parsing                   (pure)
     >>link      peer-link messages and the server list           (pure)
     >>resp      Redis replies (RESP2) and commands               (pure)
     >>seams     the layers' state and the handler tables between them
     >>io        the reactor: connection table, ids, frame buffers, output queues
     >>tls       io: TLS under the byte stream (WSCLUSTER_MBEDTLS)
     >>loop      io: sockets, poll()/epoll, timers, watched fds, the loop turn
     >>proto     HTTP, the WebSocket handshakes, frames, ping/pong/close, timeouts
     >>deliver   metadata, selectors, fan-out, the application's connections
     >>cluster   the peer table: discovery, links, introductions, duplicate windows
                 (it, Redis and the client role can be left out: COMPILE-TIME MACROS)
     >>backplane publish to / arrive from the cluster; the mesh and Redis; wsc_post
     >>public    the public functions (thin: each calls one layer)

   QUICK START
         #define WSCLUSTER_IMPLEMENTATION
         #include "wscluster.h"

         static void on_event(wsc_ctx *ctx, wsc_id id, int ev, void *data, void *user) {
             if (ev == WSC_EV_MESSAGE) {                 // echo every message
                 wsc_msg *m = (wsc_msg *)data;
                 wsc_send(ctx, id, m->opcode, m->data, m->len);
             }
             (void)user;
         }
         int main(void) {
             wsc_config cfg = {0};
             cfg.on_event = on_event;
             wsc_ctx *ctx = wsc_create(&cfg);
             if (!ctx || wsc_listen(ctx, "ws://127.0.0.1:8080") < 0) return 1;
             wsc_run(ctx);                               // until wsc_stop()
             wsc_destroy(ctx);
             return 0;
         }

   CONCEPTS
     Context      wsc_ctx, made by wsc_create() from a wsc_config. All state hangs off it;
                  the library has no mutable globals. One thread drives one context.
     Listener     wsc_listen(ctx, url): "ws://HOST:PORT" (HTTP + WebSocket; "HOST:PORT"
                  alone means the same) or "tcp://HOST:PORT" (the TCP framer below).
     Connection   identified by a wsc_id (64 bits: slot index + generation). An id outlives
                  its connection safely: every call with a stale id returns WSC_ERR_STALE.
                  Pointers given to the event handler are valid only during that call.
     Class        every connection has one (wsc_class):
                    WSC_CLIENT      an ordinary connection from a real client (accepted)
                    WSC_SUBSCRIBER  a link this instance opened to another instance
                    WSC_OBSERVABLE  a link another instance opened to this one
                  wsc_connect() opens outbound connections (class from its options,
                  WSC_SUBSCRIBER by default); accepted connections are WSC_CLIENT unless the
                  upgrade handler calls wsc_set_class().
     Metadata     key -> value strings per connection (wsc_set_meta), e.g. user=alice,
                  group=lobby. With meta_from_query, a WebSocket upgrade sets user from the
                  userId (or user) query parameter and group from group, before the
                  upgrade handler runs: the client chose them, so a handler that
                  authenticates must overwrite them (the default is off). Selectors (wsc_broadcast locally, wsc_send_where cluster-wide)
                  match metadata (AND of pairs); the pseudo-key "path" matches the path.
     Protocol     WSC_PROTO_WS or WSC_PROTO_TCP. Both carry text and binary messages with
                  the same send API; a broadcast reaches both kinds.

   THE LOOP
     wsc_poll(ctx, timeout_ms) runs one iteration: flush queued output, poll() every socket
     (waiting at most timeout_ms, less if a timer is due), read, parse, dispatch events,
     sweep timeouts, flush again. wsc_run() loops until wsc_stop(). Output is corked: every
     send made while handling events is queued and leaves in one sendmsg() per socket at the
     end of the iteration (or at the start of the next wsc_poll() if sent from outside it).
     A program with a loop of its own has two ways (see FUNCTION REFERENCE):
       - our loop watches your fds: wsc_watch(ctx, fd, POLLIN, fn, user), then wsc_run();
       - your loop drives ours: poll wsc_pollfds() (with epoll: the one wsc_loop_fd()) with
         your descriptors, wait at most wsc_next_timeout(), then call wsc_poll(ctx, 0).
     wsc_shutdown() ends gracefully (close handshakes, 1001); wsc_destroy() ends at once.

   EVENTS  (one handler: void on_event(wsc_ctx*, wsc_id id, int ev, void *data, void *user))
     ev               fires when                                        data
     WSC_EV_UPGRADE   a valid WebSocket upgrade request arrived; the    wsc_http_req *
                      handler may wsc_reject() it, set metadata, the
                      class, user data, or req->subprotocol.
                      Not firing for TCP listeners.
     WSC_EV_HTTP      a plain HTTP request (head + body) arrived;       wsc_http_req *
                      answer with wsc_http_reply() during the call,
                      else the library answers 404.
     WSC_EV_OPEN      a connection is ready for messages: WebSocket    NULL
                      handshake done (either role), TCP accepted or
                      connected.
     WSC_EV_MESSAGE   a complete message (fragments joined; text is    wsc_msg *
                      valid UTF-8). data is writable, valid during the
                      call only.
     WSC_EV_CLOSE     an opened connection is gone. Exactly one CLOSE  wsc_close_info *
                      for every OPEN; during it the id still answers
                      wsc_get_conn_info/_meta/_userdata; stale after.
     WSC_EV_ERROR     something failed asynchronously: an outbound     wsc_error_info *
                      connection that never opened (id is then
                      stale), a protocol violation, heartbeat
                      timeout, slow consumer or failed send that is
                      closing an open connection (CLOSE follows), a
                      refused handshake, an accept() failure (id 0).
     WSC_EV_PONG      a pong arrived (heartbeat accounting)            wsc_msg *
     WSC_EV_FORWARD   a message from another instance was delivered   wsc_forward_info *
                      to this instance's clients (id: the link)
     WSC_EV_DROP      a message did not reach somewhere: a full link   wsc_drop_info *
                      queue, a duplicate, an unknown named selector
                      (id: the link concerned, or 0); a peer without
                      a link to us raises one "peer unreachable" when
                      its drops start and one "peer reachable again"
                      (or "peer removed") with their count when they
                      end, not one event per message
     Inside the handler every public function may be called, including wsc_close() and
     wsc_send() on any connection; closing takes effect after the handler returns.
     Peer links fire OPEN, CLOSE and ERROR too (heartbeat timeout, connect failure, refused
     handshake): tell them from clients by wsc_get_conn_info()'s cls (WSC_SUBSCRIBER or
     WSC_OBSERVABLE). Their messages never reach the handler as WSC_EV_MESSAGE.

   OPTIONS  (wsc_config; a zero field means the default in brackets)
     on_event            event handler                                   [none: ignore]
     user                passed to on_event and log                      [NULL]
     max_conns           the application's connections at once (clients, [10000]
                         plain HTTP requests, handshakes); beyond it:
                         HTTP 503, TCP connections closed unless their
                         first message is a peer's HELLO. Peer links
                         have their own room (2 x WSC_MAX_PEERS), so
                         clients can never lock the cluster out
     max_message         largest message in bytes, any fragmentation     [1 MiB]
                         (close 1009 / WSC_ERR_TOOBIG beyond it)
     max_head            largest HTTP request/response head              [8192] (431)
     max_body            largest plain HTTP request body                 [max_message] (413)
     max_pending         memory one connection's queue may hold before   [4 x max_message,
                         it is closed as a slow consumer with 1008; a    at least 4 MiB]
                         message always enters a queue holding under
                         half of it. Real bytes: a queued frame costs
                         its whole buffer and its slot (an empty frame
                         about 300 bytes). Peer links get twice it. From
                         half of it, the connection is not read until
                         its queue drains (TCP pushes back on it). The
                         kernel's socket send buffer (tcp_wmem) comes on
                         top; a client that never reads sees EOF after
                         close_timeout_ms rather than the 1008 frame.
                         A pong waiting in the queue is rewritten by the
                         next ping, never joined by another.
     max_memory          one budget for all buffered message data: the   [4 x max_message,
                         messages and HTTP bodies being received, queued  at least 256 MiB]
                         frames (a shared frame counts once), decoders.
                         See MEMORY for what happens near and at it.
     handshake_timeout_ms  HTTP head/body, WS handshake, outbound        [10000]
                         connect, a peer link's HELLO..AUTH must finish
                         within this
     ping_interval_ms    ping every open connection this often           [30000], <0 off
     idle_timeout_ms     close a connection silent this long (1006)      [2 x ping interval]
     close_timeout_ms    wait this long for the peer's close reply       [3000]
     subprotocols        comma-separated server subprotocols; the first  [NULL: none]
                         one the client offers is selected
     meta_from_query     1: tag a WebSocket upgrade with user (userId)   [0: off]
                         and group from its query, before WSC_EV_UPGRADE
                         (values the client chose: see CONCEPTS)
     log_level           WSC_LOG_ERROR..WSC_LOG_DEBUG                    [WSC_LOG_INFO]
     log                 log sink void(void *user, int level, const char *line)
                                                                         [stderr with time]
     alloc_user          context pointer passed to WSC_MALLOC & co       [NULL]
     -- TLS (WSCLUSTER_MBEDTLS; see TLS) --
     tls_cert, tls_key   PEM files of a wss:// / tcps:// listener        [none]
     tls_cert_pem,       the same as PEM text in memory (NUL-terminated) [none]
       tls_key_pem
     tls_ca, tls_ca_pem  CA that wss:// / tcps:// servers must chain to  [none: such
                                                                          connections are
                                                                          refused]
     tls_insecure        1: do not verify servers (tests only; logged)   [0]
     -- the cluster (all optional; see CLUSTER MODEL; builds without: COMPILE-TIME MACROS) --
     cluster             1: join even with no server list yet            [0: joins when a
                         (peers can still introduce themselves)           list is given]
     node_id             1-64 printable characters, unique per instance  [node-<random>]
     advertise           HOST:PORT or ws:// / tcp:// URL peers use       [first listener]
     peers_file          the server list file, re-read every refresh     [NULL]
     peers               the server list as text (if no file)            [NULL: the
                                                                          WSCLUSTER_PEERS
                                                                          environment var]
     secret              shared by every instance, at most 255 bytes:    [NULL: links are
                         the key links prove they hold (CLUSTER MODEL,    unauthenticated,
                         Security); never sent, never logged. Make it     and it says so]
                         long and random (a recorded handshake lets an
                         eavesdropper test guesses offline)
     cluster_path        WebSocket path of peer links                    ["/wscluster"]
     backplane           redis://[[user]:password@]host[:port][/db]      [NULL: the mesh]
                         [?channel=NAME&mode=pubsub|stream&maxlen=N]
                         (rediss:// with WSCLUSTER_MBEDTLS): messages
                         go through Redis (see BACKPLANE); port 6379,
                         db 0, channel "wscluster", mode pubsub, maxlen
                         100000 (stream entries kept, approximately)
     heartbeat_ms        ping on every peer link this often              [5000]
     heartbeat_timeout_ms  a link silent this long is closed             [3 x heartbeat]
     refresh_ms          re-read the server list, retry missing links    [10000]
     reconnect_max_ms    cap of the reconnect backoff (500 ms doubling,  [10000]
                         with jitter)

   COMPILE-TIME MACROS  (define before the implementation include)
     WSCLUSTER_IMPLEMENTATION           this file holds the implementation (exactly one
                                        file); without it the header only declares
     WSC_MALLOC(sz,u) WSC_REALLOC(p,sz,u) WSC_FREE(p,u)   all three or none [libc]; u is
                                        cfg.alloc_user
     WSC_ASSERT(x)                      [assert(x)]
     WSC_MAX_HEADERS                    headers kept per HTTP head [32]; more => 431
     WSC_MAX_META                       metadata pairs per connection [16]
     WSC_RECV_BUF                       the loop's shared receive buffer [65536]
     WSC_MAX_IOV                        iovecs per sendmsg() [64]
     WSC_POOL_BYTES                     recycled frame buffers kept per size class [1 MiB]
     WSC_MAX_LISTENERS                  listeners per context [8]
     WSC_MAX_TIMERS                     timers per context [64] (a cluster uses 2)
     WSC_MAX_WATCH                      descriptors of yours wsc_watch() polls [16]
     WSC_MAX_PEERS                      peer table entries [64]
     WSC_MAX_SELECTORS                  named selectors [16]
     WSC_MAX_MATCH                      key=value pairs in one selector [8]
     WSC_MAX_ORIGINS                    sending instances whose duplicate windows are kept
                                        [256]; the one heard from longest ago gives way
     WSCLUSTER_STATIC                   make every function static (the compiler then
                                        drops the public functions the file never calls:
                                        examples/minimal.c 56 KB, 27 KB with NO_CLIENT)
     WSCLUSTER_MBEDTLS                  TLS through mbedTLS (link -lmbedtls -lmbedx509
                                        -lmbedcrypto); without it: libc + sockets only
     WSCLUSTER_EPOLL                    Linux: epoll instead of poll(), same API; the
                                        cost of a loop turn then follows the ready sockets,
                                        not all of them
   The optional parts: each macro leaves a part out of the build, and implies the ones
   listed before it. The whole API stays declared and links in every configuration: a
   function of a part left out is a stub that returns WSC_ERR_NOTBUILT (or the value named
   below). An option that would switch such a part on makes wsc_create() return NULL with
   a log line naming the option and the macro, never silently ignored; options that only
   tune a part left out are ignored. Sizes: .text of examples/minimal.c, gcc 12 -Os
   x86-64, without TLS (-O2: 89 KB in all, 78, 55, 50).
     (none)                             everything                                  63 KB
     WSCLUSTER_NO_REDIS                 the Redis backplane and the RESP helpers    55 KB
                                        (-8 KB). Stubs: wsc_resp_parse (_NOTBUILT),
                                        wsc_resp_cmd (0). Refused: backplane.
     WSCLUSTER_NO_CLUSTER               also the peer mesh: the peer table, links and 38 KB
                                        their handshake, discovery and the server list,
                                        summaries, duplicate windows (-25 KB in all);
                                        the context's peer table too (46 KB of memory
                                        with WSC_MAX_PEERS 64).
                                        Stubs: wsc_cluster_refresh, wsc_summary_get,
                                        wsc_peers_parse (_NOTBUILT), wsc_peers (0).
                                        Refused: cluster, peers_file, peers (and
                                        backplane); the WSCLUSTER_PEERS environment
                                        variable only gets a warning. Kept: the node id,
                                        wsc_global_id, and the cluster-wide sends and
                                        wsc_post, which reach this instance's clients
                                        (a cluster of one); the link format parsers
                                        (wsc_link_parse, wsc_summary_parse: wsc_post's
                                        messages use the format). Ignored: the other
                                        options of the cluster (secret, advertise,
                                        heartbeat_ms...), with nothing to act on.
     WSCLUSTER_NO_CLIENT                also the client role: outgoing connections,     35 KB
                                        the client handshake, responses (-27 KB in all;
                                        peer links and Redis connections are outgoing,
                                        hence the implications). Stubs: wsc_connect
                                        (_NOTBUILT, *out = 0), wsc_http_parse_response
                                        (_NOTBUILT). Listening, wsc_url_parse, and every
                                        server-side function stay.

   ERRORS
     Functions return >= 0 on success and a negative wsc_err on failure; wsc_strerror()
     names it. Asynchronous failures arrive as WSC_EV_ERROR. Log lines name the option that
     a limit comes from. WSC_ERR_NOTBUILT: a function of a part compiled out
     (COMPILE-TIME MACROS).

   CLOSE CODES USED BY THE LIBRARY
     1000 normal  1001 wsc_close_all/shutdown  1002 protocol error  1006 (reported only:
     no close frame, heartbeat timeout, reset)  1007 invalid UTF-8  1008 slow consumer,
     policy (a peer link's handshake timed out)  1009 message too big  1011 internal error
     (out of memory)  1013 no room (peer table, links' room)  4401 a peer link that did
     not prove the cluster secret.

   TLS  (#define WSCLUSTER_MBEDTLS before the implementation; mbedTLS 2.28 and 3.x)
     wsc_listen(ctx, "wss://HOST:PORT") and "tcps://HOST:PORT" listen with TLS using
     tls_cert/tls_key (or the _pem buffers, for appliances without a file system), next
     to or instead of plain listeners. wsc_connect() and the server list take wss:// and
     tcps:// URLs: the server is verified against tls_ca (its name: the URL's host, also
     sent as SNI) unless tls_insecure. A host that is an IP address (v4, or v6 in [])
     must be named by an iPAddress subjectAltName, as CAs certify addresses: a DNS entry
     or CN spelling the address does not count, and no SNI is sent (RFC 6066); a refusal
     logs the address the certificate does not name. The handshake runs inside the loop,
     non-blocking, and handshake_timeout_ms covers it; a bad or stalled handshake closes
     that connection alone (logged). An instance whose listener speaks TLS advertises
     wss:// (tcps://), so its peers link to it over TLS. Without WSCLUSTER_MBEDTLS these
     URLs are refused (WSC_ERR_INVAL, logged) and the library needs nothing beyond libc
     and sockets. Writes over TLS go one record per frame (no gathering write); reads
     drain mbedTLS's buffer before returning to poll().

   THE TCP FRAMER  (tcp:// listeners and connections)
     frame = length (4 bytes, big-endian, payload bytes only) | type (1 byte) | payload
       type 0x01 text (must be UTF-8)   0x02 binary
            0x08 close (empty, or 2-byte big-endian code + UTF-8 reason; <= 125 bytes)
            0x09 ping  0x0A pong (<= 125 bytes; a ping is answered with its payload)
     Messages are never fragmented. An unknown type closes with 1002, a length above
     max_message with 1009. Heartbeat, close handshake and limits work as for WebSocket.

   HTTP
     HTTP/1.1 with Content-Length bodies; every plain response carries Connection: close
     (no keep-alive, no chunked requests: 501). The upgrade path validates: GET, HTTP/1.1,
     Host, Upgrade: websocket, Connection: upgrade (token lists, case-insensitive),
     Sec-WebSocket-Version: 13 (else 426), a key of 16 bytes in base64 (else 400).

   CLUSTER MODEL
     N instances of one service each run wscluster.h and read one server list. Every
     instance opens a link to every other one, over its own protocol (WebSocket on
     cluster_path with the "wscluster" subprotocol, or the TCP framer for tcp:// entries):

          instance A                                        instance B
        +-----------------+   A's Subscriber = B's Observable  +-----------------+
        | Clients (C1..)  | --------------------------------> | Clients (C3..)  |
        |                 |   forwarded messages flow <----   |                 |
        |  Subscriber A>B | <-------------------------------- |  Observable A>B |
        |  Observable B>A |   B's Subscriber = A's Observable  |  Subscriber B>A |
        +-----------------+ --------------------------------> +-----------------+

     - Client: a real client (browser, app, device). Subscriber: a link this instance opened
       to a peer; the peer's messages arrive on it. Observable: a link a peer opened to us;
       our messages go down it. Between A and B there are two links, one each way.
     - Discovery: the list comes from peers_file, else peers, else $WSCLUSTER_PEERS; every
       refresh_ms it is re-read: new entries are linked, removed entries' links closed, a
       bad line logged with its number and skipped, an unreadable file keeps the last list.
       An instance skips its own entry (its advertised address or a listener's, and, on
       connect, a WELCOME carrying its own node id: "reached itself").
     - Introductions: right after a link opens, the Subscriber sends HELLO (node id,
       advertised address, a nonce). The Observable side answers WELCOME (its node id, its
       nonce, its proof of the secret); the Subscriber checks the proof and answers AUTH
       (its own proof). Only then does the Observable believe the HELLO: it learns the peer
       and, if it has no link to that peer, connects back at once, so both directions are
       up without waiting for a refresh. A peer known only by introduction is kept while it
       keeps its link to us. An instance still running and still listing us is a member:
       removing it from our list closes our link, but its own link and introduction bring
       it back.
     - Heartbeat: both sides ping every heartbeat_ms; a link silent heartbeat_timeout_ms is
       closed; lost links are retried with backoff (500 ms doubling to reconnect_max_ms,
       with jitter), or at once when the peer introduces itself again. A link's ping
       carries the time it left (8 bytes, the sender's clock in us): its pong gives the
       round trip (wsc_peer_info.rtt_*: the last, and a histogram).
     - Summaries: every heartbeat_ms, and as soon as a peer's link to us has proved itself,
       an instance sends a SUMMARY of itself down each Observable link: its counters,
       connections, memory, backplane, and its links to the others with their round
       trips. So any instance can show the whole cluster (wsc_summary_get) with the links
       it already has; the node's /cluster page does. A summary is believed only from an
       authenticated link and only for that link's node; one is kept per peer (at most
       19 KB: 255 links).
     - Security: with a secret, the two sides of every link prove to each other that they
       hold it, and it never travels: each sends HMAC-SHA-256 under the secret of both
       sides' fresh random nonces and both node ids, with a label per side (FORWARDING
       FORMAT). A link is believed (its node learned, connected back to, FORWARDs sent down
       it or taken from it) only once both proofs checked out; a wrong one closes it with
       4401, logged on both sides. So a recorded handshake replayed earns nothing (the
       other side's nonce is new), one side's proof cannot be sent back as the other's, and
       a listener that does not hold the secret cannot pass for a peer (our Subscriber
       refuses its WELCOME and takes nothing from it). Until it has proved the secret a link
       holds only a place in the links' room: it must finish HELLO..AUTH within
       handshake_timeout_ms (else 1008), and when the room is full the oldest link still in
       its handshake is evicted for a new one (HTTP 503 only when every link in the room
       has proved the secret), so links that never authenticate cannot lock peers out. The
       secret guards membership, not messages: on ws:// and tcp:// they travel in clear,
       without a MAC (KNOWN LIMITS). Without a secret, the log says loudly that links are
       unauthenticated (the proofs are zeros, unchecked); anyone who reaches a listener
       can then join, and make us connect to the address it introduces. A link speaks for
       the node that authenticated on it only (its node id is fixed by the handshake): a
       FORWARD with another origin, or with a message id more than 2^32 ahead of that
       node's duplicate window, closes it (1002).
       An introduction that advertises another node's address, or carries our own node id
       (unless it comes from our own socket), is refused (1008). Introduced peers take at
       most half of the peer table and give way first; listed entries always find room.
       Peer links have their own room in the connection table (2 x WSC_MAX_PEERS), so
       clients filling max_conns never lock them out.
     - Sending: wsc_cluster_send() (and wsc_send_all/_where/_conn/_named, wsc_post from
       other threads) delivers to this instance's matching clients and pushes one copy down
       every Observable link; each peer delivers to its own matching clients and never
       forwards again. The target (metadata pairs, a global connection id, or a named
       selector with its argument) travels with the message and is evaluated on every
       instance against its own clients. wsc_broadcast() stays local.

   BACKPLANE  (the backplane option: Redis between the instances)
     The mesh suits a few instances on one network: no broker, one hop, but each message is
     copied once per peer. With backplane set, every cluster-wide send is published once to
     Redis and every instance subscribed to the channel delivers it to its own matching
     clients (the sender's instance delivered first, and never twice). Selectors, the
     duplicate window per origin, events, drops and stats work as on the mesh.
     - Two connections per instance (room for them is kept in the table): one publishes,
       pipelined; one subscribes. AUTH (password, or ACL user and password) and SELECT on
       each. Heartbeat: PING on the subscriber every heartbeat_ms (pubsub) or XREAD BLOCK
       heartbeat_ms (stream); silent heartbeat_timeout_ms longer, a connection is closed
       and redialled with the links' backoff. Every error reply is logged with its command.
     - Redis is up when both connections are ready. While it is down, messages go over the
       mesh if a server list gives one (its links stay up as the standby), else they are
       dropped, counted in fwd_dropped, with WSC_EV_DROP "backplane down"; the switch both
       ways is logged and shown in bp_state. A message carried by both is delivered once:
       the duplicate window per origin is shared by every transport.
     - With a secret, each message carries an HMAC-SHA-256 of itself under the secret; one
       that does not verify (another Redis client's PUBLISH, an instance with another
       secret) is dropped, counted in bp_bad and logged once. Without a secret anyone who
       can PUBLISH on that Redis can send to every client (logged at start).
     - mode=pubsub: PUBLISH / SUBSCRIBE. What is published while an instance is not
       subscribed is lost for it (Redis keeps nothing).
     - mode=stream: XADD channel MAXLEN ~ maxlen * d MESSAGE, and on each instance a chain
       of XREAD BLOCK from the last entry it delivered. An instance whose connection drops,
       or that is stopped for a while, resumes from that entry and delivers what it missed,
       in order, once. It reaches back as far as the stream still holds: about maxlen
       entries (Redis trims in whole nodes of stream-node-max-entries, so a little more).
       When trimming passed the last entry delivered, the gap is logged and raised as
       WSC_EV_DROP "history trimmed" with the number lost (Redis 7: from entries-added; 0
       when unknown, Redis 6). A restarted instance starts from the stream's end.
     - Commands used (for an ACL user): AUTH, SELECT, PING, PUBLISH, SUBSCRIBE (pubsub);
       XADD, XREAD, XINFO STREAM (stream); the channel name as key (~NAME) and channel
       (&NAME). Tested with Redis 7 (Debian); Redis 6 has every command used.
     - Choose: the mesh for a few instances and no broker; Redis pubsub for many
       instances, instances that come and go, or where only a broker is reachable; Redis
       streams when an instance must not lose what was sent during a short outage.

   FORWARDING FORMAT  (the payload of one binary frame on a peer link)
     u8 version = 2, u8 type; str8 = u8 length + bytes, str16 = u16 big-endian length +
     bytes; nonce and proof: 32 bytes, no length; node ids are 1-64 bytes 0x21-0x7E; keys
     and values contain no NUL.
       'H' HELLO    str8 node, str8 advertise, nonce_s              Subscriber -> Observable
       'W' WELCOME  str8 node, nonce_o, proof_o                     Observable -> Subscriber
       'A' AUTH     proof_s                                         Subscriber -> Observable
       'F' FORWARD  str8 origin, u64 msg_id, u8 opcode (1 text, 2 binary), u8 target,
                    target data, u32 payload length, payload        Observable -> Subscriber
       'S' SUMMARY  str8 node, u64 uptime_ms, 4 x u32 connections per class ([0] is 0),
                    12 x u64: msgs_in, msgs_out, bytes_in, bytes_out, fwd_in, fwd_out,
                    bp_in, bp_out, dropped, fwd_dropped, mem_held, mem_max; u8 backplane
                    kind (0 mesh, 1 Redis pubsub, 2 stream), u8 bp_state (0-2), u8 n links,
                    n x (str8 peer node, u8 flags: 1 its link to the peer up, 2 the
                    peer's link to it up; u32 last round trip in us, 0xFFFFFFFF none; u32
                    reconnects)                                     Observable -> Subscriber
            target 0 every client
                   1 u8 n (1..WSC_MAX_MATCH), n x (str8 key, str16 value); "*" = any value
                   2 str8 node, u64 connection id        (one connection, wsc_global_id)
                   3 str8 selector name, str16 argument  (wsc_register_selector)
     Every length is checked against what remains, trailing bytes are refused, text must be
     UTF-8: a malformed message closes that link alone (1002). Message ids grow per origin
     (they start from the clock, so also across restarts); a window of the last
     1024 ids per origin drops duplicates (counted in fwd_duplicates).
     The handshake: a link starts with HELLO, WELCOME, AUTH, in this order; anything else
     before its end (a FORWARD, a second HELLO, AUTH before WELCOME) closes it (1002), and
     FORWARDs flow only after it. Nonces are 32 bytes from /dev/urandom, new for every
     link. With S the secret, node_s and node_o the Subscriber's and Observable's ids:
       proof_o = HMAC-SHA-256(S, "wscluster-o" | nonce_s | nonce_o | str8 node_s | str8 node_o)
       proof_s = HMAC-SHA-256(S, "wscluster-s" | nonce_s | nonce_o | str8 node_s | str8 node_o)
     (the labels are their 11 ASCII bytes; | joins). Each side compares the proof it gets
     with the one it computes, in constant time. Without a secret both are 32 zero bytes,
     unchecked.
     Wire change: version 1 had no nonces or proofs; its HELLO carried the secret (and the
     upgrade an X-Wscluster-Secret header, which is gone). The versions do not link: a
     version-1 message is refused with 1002 "unknown link format version" (a TCP
     connection whose first message is a version-1 HELLO too: it is never delivered as a
     client's message); a version-1 instance answers a version-2 one with HTTP 401 (no
     secret header) or 1002. Upgrade every instance of a cluster together.

   DELIVERY GUARANTEES
     At most once, in order per (sender instance, receiving client), with no duplicates.
     There is no store-and-forward: a message sent while a peer is unreachable (link down,
     not yet re-established, or closed as a slow consumer) is not delivered to that peer's
     clients, and is counted (fwd_dropped) with a WSC_EV_DROP naming the peer and reason.
     Only peers reached at least once are counted (an entry never reached may be an alias
     of another, or an instance not started yet). When our link to a peer is replaced by
     another to the same node (its listed address takes over from its introduction), what
     it sent on the old link before it heard is still delivered, unless the new link has
     already delivered later messages (then it is counted as unreachable: order first).
     A hung peer costs at most 2 x max_pending bytes of queue before its link is closed; it
     never blocks or slows delivery to anyone else. Where loss must be lower, put a broker
     behind the sends (the transport between instances is the one place to swap).

   THREADING
     None inside. Every function takes the context and must be called from the thread that
     drives that context, except: the pure helpers (sha1, sha256, hmac, base64, utf8,
     http/ws/tcp/link/resp parsers, server list, url), which are reentrant; wsc_stop();
     and wsc_post(), which any thread may call (it hands the message to the loop through a
     pipe).

   MEMORY
     wsc_create() allocates the connection table and the loop's buffers, and in a cluster
     2 x WSC_MAX_PEERS slots (under 400 bytes each) for peer links in their handshake.
     After that the library allocates when a connection opens (its state, about 300
     bytes), while a frame or message is partially received (decoder state, message
     buffer), for metadata and long paths, and for outbound frames until the per-size-class
     pools (WSC_POOL_BYTES) are warm: in steady state sending allocates nothing. A frame
     sent to many connections is encoded once and reference counted; small queued frames
     are gathered into one write.
     The budget (max_memory) counts every byte of message data once, as allocated (buffer
     capacity, not payload length). From 3/4 of it, connections assembling a message or
     body of 64 KiB or more are not read (TCP pushes back on their senders), except the one
     that has received the most, so that it can finish and let go; under 1/2 they are read
     again. When an allocation would pass it, the connection holding the most (input buffer
     plus queue) is closed: 1013 "over the memory budget" (HTTP 503 during a request; cut
     at once if a frame is half written), logged and counted in closed_memory. Clients go
     before peer links; a connection holding under 64 KiB, or whose message the handler is
     reading, is never chosen. If the one asking holds the most, it is the one closed; if
     nothing can be closed, the allocation is refused: a send is dropped (counted), control
     frames (at most 512 bytes) may use a 1 MiB reserve. Outside the budget: the pools, the
     connection table and states, the loop's buffers, mbedTLS's per-connection buffers.

   KNOWN LIMITS
     - Host names in wsc_connect() and the server list are resolved with a blocking
       getaddrinfo() (numeric addresses never block).
     - No permessage-deflate or other extensions (RSV bits are refused with 1002).
     - No HTTP keep-alive; HTTP replies must be given during WSC_EV_HTTP.
     - Worst-case memory: max_memory plus the fixed costs listed under MEMORY.
     - The cluster secret never travels, but on plain ws:// and tcp:// links the messages
       do, in clear and without a MAC: whoever sees a link reads them, and whoever can
       alter its traffic can inject into it after its handshake (or relay a handshake
       between two instances). A recorded handshake also lets an eavesdropper test guesses
       of a weak secret offline. Use wss:// / tcps:// between sites, and a long random
       secret.
     - The implementation file must see wscluster.h before any system header (it defines
       _POSIX_C_SOURCE), or be compiled with -D_POSIX_C_SOURCE=200809L.
     - A peer link over the TCP framer is known only by its first message (a HELLO): until
       then it is a Client, and it then changes hands under a new id (CLOSE "became a peer
       link" as a Client, OPEN as an Observable). WebSocket links are links from the start.

   ARCHITECTURE
     The implementation is five layers, in the order data flows through them, each in its
     own section with its own state (a sub-struct of wsc_ctx):

        application  (your handler: wsc_handler, wsc_selector_fn, wsc_watch_fn, timers)
            ^ events (wsc__emit)                         | public API (>>public)
        +---+--------------------------------------------v----------------------------+
        | backplane  wsc__bp   publish a message to the cluster; a message arrived     |
        |                      from it (dedup, deliver, never send on). Transports:    |
        |                      the mesh of peer links (wsc__transport). wsc_post's pipe.|
        | cluster    wsc__cl   the peer table: list, Subscriber/Observable links,       |
        |                      handshake (HELLO/WELCOME/AUTH), backoff, dup window     |
        | deliver    wsc__dl   metadata, selectors, fan-out (one encoded frame shared), |
        |                      the application's connections (owner: dl.app)           |
        | proto      wsc__pr   HTTP and upgrades, client handshake, WS and TCP frames,  |
        |                      one ping/pong/close path, heartbeat and close timeouts   |
        | io         wsc__io   fds, poll/epoll, timers, watches, connection table and   |
        |                      ids, frame buffer pools, output queues, TLS, memory     |
        +-------------------------------------------------------------------------------+
     Calls go down only. What must go up goes through a pointer the upper layer installed:
       io -> proto         c->pfn (wsc__proto_vt: up, bytes, tick, lost, close), one table
                           per protocol (wsc__ws_vt, wsc__tcp_vt)
       proto -> owner      c->own (wsc__owner: upgrade, open, message, close, heartbeat
                           timings, envelope size): dl.app for the application's
                           connections, cl.link for peer links
       proto -> cluster    pr.route (an upgrade on cluster_path), pr.claim (a TCP
                           connection whose first message is a HELLO)
       cluster -> backplane  cl.arrived (a FORWARD came in on a Subscriber link)
       any -> application  wsc__emit (events), the callbacks the application registered
     Where state lives: a connection's bytes, queue, timers and TLS session are io's
     (io frees everything a connection holds); its handshake, decoder, close code, path and
     owner are proto's; its metadata and user data are deliver's; of the cluster it holds
     only c->peer, an index into the peer table, which owns every fact about a peer (its
     links, node id, backoff, duplicate window, drop count). The node id is the instance's
     (ctx->node, next to the config).
     Where a change belongs:
       a new socket option, backend, limit on buffered bytes     io
       a new wire protocol, HTTP feature, frame rule, keep-alive proto (a new wsc__proto_vt)
       a new way to choose recipients, a new per-client fact     deliver
       membership, discovery, authentication of peers, replay    cluster
       a broker transport (Redis, ...), message signing          backplane (wsc__transport)
       a new public call                                         >>public, calling one layer
     The pure sections (>>sha1 to >>link) hold no state and do no I/O; every layer may use
     them.
     The optional parts (COMPILE-TIME MACROS) compile out as whole blocks, each between
     #ifndef WSCLUSTER_NO_<PART> and its #endif, the stubs in its #else: NO_REDIS the Redis
     transport in >>backplane and >>resp; NO_CLUSTER >>cluster, the mesh and the origins'
     windows in >>backplane, the handshake and SUMMARY writers and the server list in
     >>link, the TCP hand-over in >>proto; NO_CLIENT dialling in >>io, the client handshake
     in >>proto, response heads in >>http. Code of a part goes inside its block (the
     header check builds every macro, so one that escapes fails as an unused function).
   FUNCTION REFERENCE
     The prototypes follow >>api. Unless a line says otherwise a function takes the context,
     runs on the thread that drives it (THREADING), returns >= 0 or a negative wsc_err,
     copies what it is given, and answers WSC_ERR_STALE for an unknown or closed id (_X
     below stands for WSC_ERR_X). Pointers given to the event handler (data and every view
     or string in it) are valid only during that call: copy what you keep.

     -- context and loop --
     wsc_create          a context from cfg (NULL: all defaults, see OPTIONS); NULL when
                         allocation fails, an option is invalid, or an option needs a
                         part not built in (COMPILE-TIME MACROS); each logged.
     wsc_destroy         frees all; on a running context closes every socket at once: no
                         events, no close handshake. Graceful end: wsc_shutdown() first.
     wsc_shutdown        the graceful end: stops accepting and dialling, closes all with a
                         handshake (code 0: 1001), polls until none is left or timeout_ms
                         (<= 0: close_timeout_ms), drops the rest; each fires CLOSE. Returns
                         how many were open; then only wsc_destroy(). In a handler: _STATE.
     wsc_listen          ws://HOST:PORT or HOST:PORT (any path), tcp://, wss://, tcps://;
                         port 0: any free. Index >= 0, or _ADDR, _SYS, _LIMIT, _INVAL.
     wsc_listener_port   the bound port of a listener index, or WSC_ERR_INVAL.
     wsc_poll            one iteration (THE LOOP), waiting at most timeout_ms (< 0: until
                         something happens). Events dispatched, or WSC_ERR_SYS / _NOMEM.
     wsc_run             wsc_poll() until wsc_stop(); 0, or the wsc_poll() error.
     wsc_stop            wsc_run() returns after this turn; async-signal-safe, any thread.
     wsc_now_ms          the loop's monotonic clock in milliseconds; any thread.
     wsc_timer           cb(ctx, arg) from wsc_poll() after ms, then every ms if repeat.
                         Timer id > 0, WSC_ERR_INVAL, WSC_ERR_LIMIT (WSC_MAX_TIMERS).
     wsc_timer_cancel    cancel a timer (also from its callback); 0 or WSC_ERR_STALE.
     wsc_get_stats       copy the counters (wsc_stats) into *out.
     wsc_drop_kind_name  the label of a wsc_drop_kind ("unreachable", "queue", ...).
     wsc_strerror        a static name for a wsc_err ("unknown error" for others).
     wsc_log             printf-style line to cfg.log (or stderr) if level <= log_level;
                         one line always: control characters (a peer's reason, a name)
                         become '?', and a line is cut at 511 bytes. The library's lines
                         that follow a limit or an option name it (max_pending=..).

     -- running inside another loop --
     Way 1, our loop watches your fds: wsc_poll() polls them with ours and calls you back;
     as in the event handler, any function but wsc_shutdown() may be called.
     wsc_watch           poll fd (POLLIN|POLLOUT bits); fn(ctx, fd, revents, user) runs in
                         wsc_poll(). Again for fd: replaces. 0, _INVAL, _LIMIT, _SYS.
     wsc_unwatch         stop polling fd (also from its callback); before you close it. 0 or
                         WSC_ERR_STALE. The fd always stays yours.
         static void on_stdin(wsc_ctx *ctx, int fd, int revents, void *user) {
             char buf[4096];
             ssize_t n = read(fd, buf, sizeof buf);
             if (n <= 0) { wsc_unwatch(ctx, fd); wsc_stop(ctx); return; }
             wsc_send_all(ctx, WSC_BINARY, buf, (size_t)n);  // every client, cluster-wide
             (void)revents; (void)user;
         }
         wsc_watch(ctx, STDIN_FILENO, POLLIN, on_stdin, NULL);
         wsc_run(ctx);
     Way 2, your loop drives ours: poll our descriptors with yours, sleeping no longer than
     wsc_next_timeout(), then call wsc_poll(ctx, 0), which does not block.
     wsc_next_timeout    ms until wsc_poll() is due although no descriptor is ready (timers,
                         heartbeats, timeouts); 0: output is waiting; -1: nothing due.
     wsc_pollfds         our descriptors (epoll: the one wsc_loop_fd) and their events into
                         out[0..max); how many (may exceed max). Fetch them every turn.
     wsc_loop_fd         WSCLUSTER_EPOLL: one fd, readable when any of ours is ready (for
                         your epoll or event library); -1 with poll(): use wsc_pollfds().
         struct pollfd fds[1 + 1024];                    // yours in [0], ours after
         for (;;) {
             size_t n = wsc_pollfds(ctx, fds + 1, 1024);     // epoll backend: one entry
             int t = wsc_next_timeout(ctx);                  // -1: nothing due
             if (n > 1024) n = 1024;                         // (better: grow the array)
             fds[0].fd = my_fd; fds[0].events = POLLIN; fds[0].revents = 0;
             poll(fds, 1 + n, t);                            // or min(t, your own timeout)
             if (fds[0].revents) handle_mine();
             wsc_poll(ctx, 0);                               // I/O, events, timers, output
         }

     -- connections --
     wsc_connect         dial ws://HOST:PORT[/path], tcp://, wss://, tcps:// (opts may be
                         NULL): 0, *out = id, then OPEN, or ERROR and a stale id; _ADDR,
                         _LIMIT, _SYS, _NOMEM, _STATE, _NOTBUILT (WSCLUSTER_NO_CLIENT).
                         Host names resolve blocking.
     wsc_send            queue a TEXT/BINARY message (copied, UTF-8 unchecked): 0, _INVAL,
                         _STATE (not open), _TOOBIG, _SLOW (now closing, 1008), _NOMEM.
     wsc_broadcast       to every open WSC_CLIENT here matching all nmatch pairs (0: all;
                         value NULL / "*": key present), encoded once. Returns how many.
     wsc_send_ids        the same to a list of ids of any class; stale or not open ones are
                         skipped. Returns how many.
     wsc_ping            a ping with <= 125 bytes (else _INVAL); _STATE when not open.
     wsc_close           close handshake with code (0: 1000, else a valid code) and reason
                         (<= 123 bytes); CLOSE follows. Not open yet: dropped at once.
     wsc_close_all       wsc_close() on every connection; returns how many were open.
     wsc_count           open connections of class cls; 0: all, incl. handshakes and HTTP.
     wsc_conns           ids of open connections of class cls (0: all) into out[0..max);
                         returns the total (may exceed max).
     wsc_get_conn_info   fill *info; its strings live until the connection closes.
     wsc_set_meta        set key=value, both copied (value NULL removes key); _INVAL for an
                         empty key, _LIMIT past WSC_MAX_META.
     wsc_get_meta        the value or NULL; valid until it changes or the connection closes.
     wsc_set_userdata    attach a pointer of yours (never touched by the library).
     wsc_get_userdata    that pointer, or NULL (also for a stale id).
     wsc_set_class       reclassify (WSC_CLIENT..WSC_OBSERVABLE, else _INVAL); stats follow.
     wsc_reject          in WSC_EV_UPGRADE only (else _STATE): status 300-599 (else _INVAL),
                         text/plain body (NULL: status text). No OPEN or CLOSE follows.
     wsc_reject_headers  wsc_reject() with extra response header lines, each ending in \r\n
                         ("WWW-Authenticate: Bearer\r\n"); NULL: none.
     wsc_http_reply      in WSC_EV_HTTP only, once (else _STATE): status 100-599, type
                         (NULL: text/plain), extra header lines, body (copied); then closes.
     During WSC_EV_CLOSE, wsc_get_conn_info, wsc_get_meta and wsc_get_userdata still answer
     for the closing id (free your userdata there); once the handler returns it is stale.

     -- the cluster --
     wsc_cluster_send    to matching clients here and one copy down each Observable link (t
                         NULL: all). Local count; _INVAL, _TOOBIG, _UTF8, _NOMEM.
     wsc_send_all        wsc_cluster_send() to every client of the cluster.
     wsc_send_where      ... to the clients whose metadata match all nmatch pairs.
     wsc_send_conn       ... to one connection anywhere, named by its wsc_global_id().
     wsc_send_named      ... to the clients a registered selector picks, given arg.
     wsc_post            wsc_cluster_send() from any thread: copies the message, wakes the
                         loop via a pipe; the send happens in the loop's next iteration,
                         counted in wsc_stats.posted. 0, WSC_ERR_AGAIN (wake-up pipe full:
                         retry), or as wsc_cluster_send. Needs thread-safe WSC_MALLOC & co.
     wsc_register_selector  name (1-63 chars) -> fn, called for each open client on every
                         instance; again replaces. _INVAL, _LIMIT (WSC_MAX_SELECTORS).
     wsc_global_id       "<node id>/<hex id>" into out[cap]; its length, _STALE, or _INVAL
                         (cap too small).
     wsc_node_id         this instance's node id; valid while the context lives.
     wsc_cluster_refresh  re-read the server list now (e.g. on SIGHUP); _STATE when not
                         clustered, _SYS when the list cannot be read, _NOTBUILT.
     wsc_summary_get     peer -1: this instance's summary (wsc_summary), made now; peer i:
                         the last SUMMARY from wsc_peers() entry i, age_ms old (views valid
                         until the next wsc_poll()). 0, _AGAIN (none from it yet), _INVAL,
                         _NOTBUILT.
     wsc_peers           the peer table (wsc_peer_info) into out[0..max); the count (may
                         exceed max; 0 without the cluster built in). Strings valid until
                         the next wsc_poll().
     With WSCLUSTER_NO_CLUSTER the sends above reach this instance's clients only, and
     _NOTBUILT marks the functions of the part left out (COMPILE-TIME MACROS).

     -- pure helpers (no I/O, no allocation, reentrant: any thread) --
     wsc_sha1            SHA-1 of data[0..len) into out[20].
     wsc_sha256          SHA-256 (FIPS 180-4) of data[0..len) into out[32].
     wsc_hmac_sha256     HMAC-SHA-256 (RFC 2104) of data[0..len) under key[0..keylen) (any
                         length) into out[32]; e.g. to check a signed token in
                         WSC_EV_UPGRADE. Compare MACs in constant time (every byte, OR of
                         the XORs), never with memcmp().
     wsc_base64_encode   into out (4*((len+2)/3)+1 bytes, with NUL); the length.
     wsc_base64_decode   padded base64 into out[cap]: bytes written, _PROTO (bad input),
                         _TOOBIG (cap too small).
     wsc_ws_accept       the Sec-WebSocket-Accept of key[0..keylen): 28 chars + NUL.
     wsc_utf8_check      incremental, *state from 0: 0 or WSC_ERR_UTF8; a text is complete
                         and valid iff *state is 0 at its end.
     wsc_http_parse_request  a head in buf[0..len) into *req (views into buf): head length,
                         _AGAIN (incomplete), _PROTO, _LIMIT (> WSC_MAX_HEADERS).
     wsc_http_parse_response  the same for a response head into *resp (_NOTBUILT with
                         WSCLUSTER_NO_CLIENT).
     wsc_str_eq, wsc_str_ieq  1 if a view equals a C string (ieq: ASCII case-insensitive).
     wsc_http_header     value of the first header called name (case-insensitive) or NULL.
     wsc_http_has_token  1 if a comma-separated value holds token (case-insensitive).
     wsc_query_get       URL-decoded value of key into out (NUL-terminated, cut to cap-1);
                         the full decoded length (cap 0: measure), -1 if absent.
     wsc_ws_decode       feed buf[0..len) (writable: unmasked in place); cb per chunk or
                         control frame. Bytes consumed, or _PROTO/_UTF8/_TOOBIG with
                         close_code and error set; input after an error is refused.
     wsc_tcp_decode      the same for the TCP framer.
     wsc_ws_header       a frame header into out[14] (mask non-NULL: masked); its length.
     wsc_tcp_header      a TCP framer header (length, type) into out[5]; returns 5.
     wsc_link_parse      a FORWARDING FORMAT message into *m (views into p): 0, or _PROTO
                         with *why set. SUMMARY: node, and payload the whole message.
     wsc_summary_parse   a SUMMARY into *s (views into p): 0, or _PROTO with *why set.
     wsc_peers_parse     cb(arg, e) for every server-list entry, good or bad, e valid during
                         cb; returns the number of good entries (_NOTBUILT with
                         WSCLUSTER_NO_CLUSTER).
     wsc_url_parse       proto (| WSC_PROTO_TLS for wss/tcps), host[hostcap], port, path
                         (into url, "/" if none); 0 or WSC_ERR_ADDR.
     wsc_resp_parse      one Redis (RESP2) reply at the start of p, as tokens in pre-order
                         (views into p): bytes taken, 0 while incomplete, or _PROTO
                         (_NOTBUILT with WSCLUSTER_NO_REDIS).
     wsc_resp_cmd        a Redis command (bulk-string array) into out (NULL: measure); a
                         NULL argument leaves room for its lens[i] bytes. Its size (0
                         with WSCLUSTER_NO_REDIS).

     -- types --
     wsc_ctx             the opaque context. WSCLUSTER_VERSION is "0.1.0".
     wsc_id              uint64_t: generation << 32 | slot + 1; 0 is never a valid id.
     wsc_err             WSC_OK (0) and the negative codes listed after >>api.
     wsc_class           WSC_CLIENT 1, WSC_SUBSCRIBER 2, WSC_OBSERVABLE 3 (see CONCEPTS).
     wsc_proto           WSC_PROTO_WS 1, WSC_PROTO_TCP 2; WSC_PROTO_TLS 0x10 is a flag of
                         wsc_url_parse only.
     wsc_event           WSC_EV_UPGRADE 1 .. WSC_EV_DROP 9 (see EVENTS).
     opcodes             WSC_TEXT 1, WSC_BINARY 2; WSC_OP_CONT 0, _CLOSE 8, _PING 9, _PONG
                         0xA; the TCP framer's type byte uses the same numbers.
     WSC_LOG_*           ERROR 1, WARN 2, INFO 3, DEBUG 4.
     wsc_str             ptr, len: a byte view, not NUL-terminated.
     wsc_header          name, value: views.
     wsc_http_req        method, target (path[?query]), path, query, minor_version,
                         headers[nheaders], body (WSC_EV_HTTP only); subprotocol: UPGRADE
                         may set one offered (must outlive the call).
     wsc_http_resp       status, minor_version, reason, headers[nheaders].
     wsc_msg             opcode (TEXT, BINARY; WSC_OP_PONG in PONG), data (writable), len.
     wsc_close_info      code (the peer's; 1005: its close had none; 1006: no close came; or
                         ours after a violation), reason, by_peer (its close came first).
     wsc_error_info      err (a wsc_err), msg (what failed).
     wsc_forward_info    origin (sender's node id), msg_id, delivered (local clients).
     wsc_drop_info       reason, peer (URL, node id or ""), msg_id (0: unknown), count: 1,
                         or in the summary ending an outage ("peer reachable again", "peer
                         removed") how many were dropped during it.
     wsc_config          see OPTIONS; wsc_handler and wsc_log_fn are its callback types.
     wsc_connect_opts    cls [WSC_SUBSCRIBER], subprotocol (offered), headers (extra lines,
                         each ending in \r\n), userdata (initial).
     wsc_kv              key, value: a metadata pair to match; value NULL or "*": any value.
     wsc_conn_info       cls, proto (WS/TCP), is_server (accepted by us), open (OPEN fired,
                         no close started), peer ("ip:port", "[ip6]:port" or host:port
                         dialled), path (request or URL path; "" for TCP), subprotocol ("":
                         none), pending (wire bytes queued), held (memory its queue keeps:
                         what max_pending counts).
     wsc_target          one of: match+nmatch (<= WSC_MAX_MATCH; "path" matches the path),
                         conn (global id), selector+arg (NULL: ""). All zero: every client.
     wsc_selector_fn     int fn(ctx, id, arg, ud): non-zero when client id is a target.
     wsc_watch_fn        void fn(ctx, fd, revents, user): see wsc_watch.
     wsc_peer_info       url (normalised), node ("" until known), self (us: skipped),
                         introduced (not from the list), sub_up (our link open, its
                         WELCOME proved the secret), obs_up (its link to us open and
                         authenticated), last_heartbeat_ms (since our link last received;
                         -1: never), reconnects (attempts after the first), rtt_us (last
                         heartbeat round trip, -1: none), rtt_count, rtt_sum_us, rtt_hist
                         (per bucket of WSC_RTT_BOUNDS_US, not cumulative; above the last
                         bound: in rtt_count only).
     wsc_summary         node, age_ms, uptime_ms, conns[4], msgs_in/out, bytes_in/out,
                         fwd_in/out, bp_in/out, dropped, fwd_dropped, mem_held, mem_max,
                         bp_kind (0 mesh, 1 Redis pubsub, 2 stream), bp_state, links[nlinks]
                         (wsc_summary_link: node, sub_up, obs_up, rtt_us, reconnects).
     wsc_stats conns[4]  open connections per class, indexed by wsc_class ([0] unused)
       accepted          inbound connections opened (WebSocket upgraded, TCP accepted)
       refused           max_conns, handshake/HTTP errors, wsc_reject, TLS failures
       msgs_in           messages given to the handler as WSC_EV_MESSAGE
       bytes_in          their payload bytes
       msgs_out          message deliveries queued (a broadcast to N counts N)
       bytes_out         bytes queued on every socket (frames, handshakes, replies)
       dropped           messages not queued (target closing, slow consumer, no memory)
       closed_slow       connections closed as slow consumers (1008)
       closed_memory     connections closed for room in max_memory (1013; HTTP 503)
       mem_held, mem_peak  bytes of message data held now, and the most ever (max_memory)
       proto_errors      connections closed for protocol violations (1002, 1007)
       fwd_out, fwd_in   copies pushed down Observable links; received on Subscribers
       fwd_dropped       forwards not made or refused (WSC_EV_DROP)
       fwd_duplicates    forwards dropped as already seen
       posted            wsc_post() messages the loop has sent
       bp_state          the backplane: 0 the mesh alone, 1 Redis down, 2 Redis up
       bp_out, bp_in     messages published to Redis; received from it (new ones)
       bp_bad            Redis messages refused: malformed or not signed with the secret
       bp_kind           0 the mesh alone, 1 Redis pubsub, 2 Redis stream
       conns_tcp[4]      of conns[]: the TCP-framer ones (the others speak WebSocket)
       mem_max           max_memory, the budget mem_held counts against
       fwd_drops[k]      fwd_dropped by wsc_drop_kind: UNREACHABLE (no link up), QUEUE (its
                         link full or closing), BACKPLANE (Redis down or full, no mesh),
                         DUPLICATE, REFUSED (malformed, wrong origin, unknown selector, id
                         jump), TRIMMED (stream entries lost)
       msgs_sent         messages the application sent: one per wsc_send, wsc_broadcast,
                         wsc_send_ids, cluster send or wsc_post
     wsc_frame_ev        kind (wsc_frame_kind: WSC_FR_DATA, _PING, _PONG, _CLOSE), opcode,
                         first/last (DATA: a message's first/last chunk), code (CLOSE; 1005:
                         none), data, len.
     wsc_frame_cb        int cb(arg, ev): non-zero stops decoding; the decoder stays valid.
     wsc_ws_decoder      zero it, set max_message (0: none), expect_mask (1: server side);
                         after an error read close_code, error. Other fields: private state.
     wsc_tcp_decoder     the same; configuration max_message only (0: up to 4 GiB - 1).
     wsc_link_msg        type (WSC_LINK_*), node (sender; FORWARD: origin); HELLO:
                         advertise, nonce; WELCOME: nonce, proof; AUTH: proof (nonce,
                         proof: WSC_LINK_NONCE 32 bytes; WSC_LINK_VERSION is 2);
                         FORWARD: msg_id, opcode, target
                         (WSC_TGT_ALL/_MATCH/_CONN/_NAMED), keys[], values[], nmatch,
                         conn_node, conn_id, name, arg, payload. Views into p.
     wsc_peer_entry      line, proto (WS/TCP), tls (wss/tcps), host, port, path ("": none),
                         error (NULL: good, else why bad).
*/
/* The implementation needs POSIX.1-2008; define it before any system header is seen. */
#if defined(WSCLUSTER_IMPLEMENTATION) && !defined(_POSIX_C_SOURCE) && !defined(_GNU_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#ifndef WSCLUSTER_H
#define WSCLUSTER_H

/* >>api ================================================================= public API == */
#include <stddef.h>
#include <stdint.h>

#ifdef WSCLUSTER_STATIC
#define WSC_API static
#else
#define WSC_API extern
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define WSCLUSTER_VERSION "0.1.0"

typedef struct wsc_ctx wsc_ctx;
typedef uint64_t wsc_id; /* 0 is never a valid id */

typedef enum wsc_err {
    WSC_OK = 0,
    WSC_ERR_INVAL = -1,     /* bad argument */
    WSC_ERR_NOMEM = -2,     /* allocation failed */
    WSC_ERR_STALE = -3,     /* connection id is unknown or already closed */
    WSC_ERR_STATE = -4,     /* not allowed in the connection's current state */
    WSC_ERR_TOOBIG = -5,    /* message larger than max_message */
    WSC_ERR_SLOW = -6,      /* output queue past max_pending: connection closed (1008) */
    WSC_ERR_SYS = -7,       /* a system call failed: see errno / the log */
    WSC_ERR_ADDR = -8,      /* bad address or URL */
    WSC_ERR_LIMIT = -9,     /* max_conns reached */
    WSC_ERR_PROTO = -10,    /* malformed input (HTTP, frame, close payload) */
    WSC_ERR_HANDSHAKE = -11,/* WebSocket handshake refused or invalid */
    WSC_ERR_TIMEOUT = -12,  /* handshake, connect, close or heartbeat timed out */
    WSC_ERR_UTF8 = -13,     /* invalid UTF-8 in a text message or close reason */
    WSC_ERR_CLOSED = -14,   /* connection closed by the peer or reset */
    WSC_ERR_AGAIN = -15,    /* parser: need more input */
    WSC_ERR_NOTBUILT = -16  /* that part is compiled out (WSCLUSTER_NO_REDIS/_CLUSTER/_CLIENT) */
} wsc_err;

typedef enum wsc_class { WSC_CLIENT = 1, WSC_SUBSCRIBER = 2, WSC_OBSERVABLE = 3 } wsc_class;
typedef enum wsc_proto { WSC_PROTO_WS = 1, WSC_PROTO_TCP = 2, WSC_PROTO_TLS = 0x10 } wsc_proto;

typedef enum wsc_event {
    WSC_EV_UPGRADE = 1, WSC_EV_HTTP, WSC_EV_OPEN, WSC_EV_MESSAGE, WSC_EV_CLOSE,
    WSC_EV_ERROR, WSC_EV_PONG, WSC_EV_FORWARD, WSC_EV_DROP
} wsc_event;

/* opcodes (RFC 6455 numbering; the TCP framer uses the same numbers as its type byte) */
enum { WSC_OP_CONT = 0x0, WSC_TEXT = 0x1, WSC_BINARY = 0x2, WSC_OP_CLOSE = 0x8,
       WSC_OP_PING = 0x9, WSC_OP_PONG = 0xA };

enum { WSC_LOG_ERROR = 1, WSC_LOG_WARN = 2, WSC_LOG_INFO = 3, WSC_LOG_DEBUG = 4 };

typedef struct wsc_str { const char *ptr; size_t len; } wsc_str;   /* a byte view */

#ifndef WSC_MAX_HEADERS
#define WSC_MAX_HEADERS 32
#endif
typedef struct wsc_header { wsc_str name, value; } wsc_header;

typedef struct wsc_http_req {
    wsc_str method, target, path, query;  /* target = path [? query] */
    int minor_version;                    /* HTTP/1.x */
    wsc_header headers[WSC_MAX_HEADERS];
    size_t nheaders;
    wsc_str body;                         /* WSC_EV_HTTP only */
    const char *subprotocol;              /* WSC_EV_UPGRADE: the handler may set one of the
                                             offered subprotocols (string must outlive the
                                             call, e.g. a literal) */
} wsc_http_req;

typedef struct wsc_http_resp {
    int status, minor_version;
    wsc_str reason;
    wsc_header headers[WSC_MAX_HEADERS];
    size_t nheaders;
} wsc_http_resp;

typedef struct wsc_msg { int opcode; unsigned char *data; size_t len; } wsc_msg;
typedef struct wsc_close_info {
    int code;            /* the peer's code, 1005 if its close had none, 1006 if none came,
                            or the code we closed with after a violation */
    wsc_str reason;
    int by_peer;         /* 1 if the peer sent a close frame first */
} wsc_close_info;
typedef struct wsc_error_info { int err; const char *msg; } wsc_error_info;

typedef struct wsc_forward_info {
    wsc_str origin;      /* node id of the instance that sent it */
    uint64_t msg_id;
    int delivered;       /* local clients it was queued for */
} wsc_forward_info;
typedef struct wsc_drop_info {
    const char *reason;  /* e.g. "peer unreachable", "duplicate", "unknown selector" */
    const char *peer;    /* the peer concerned (URL or node id), or "" */
    uint64_t msg_id;     /* 0 when not known */
    uint64_t count;      /* messages this event stands for: 1, or for "peer reachable
                            again" how many were dropped while it was unreachable */
} wsc_drop_info;

typedef void (*wsc_handler)(wsc_ctx *ctx, wsc_id id, int ev, void *data, void *user);
typedef void (*wsc_log_fn)(void *user, int level, const char *line);

typedef struct wsc_config {
    wsc_handler on_event;
    void *user;
    int max_conns;
    uint64_t max_message;
    size_t max_head;
    size_t max_body;
    size_t max_pending;
    size_t max_memory;
    int handshake_timeout_ms;
    int ping_interval_ms;
    int idle_timeout_ms;
    int close_timeout_ms;
    const char *subprotocols;
    int log_level;
    wsc_log_fn log;
    void *alloc_user;
    /* the cluster (see CLUSTER MODEL); all optional */
    int cluster;                 /* 1: join a cluster even with no server list yet */
    const char *node_id;         /* this instance's id, 1-64 printable chars [node-<random>] */
    const char *advertise;       /* how peers reach us: URL or HOST:PORT [first listener] */
    const char *peers_file;      /* server list file [NULL: peers, else $WSCLUSTER_PEERS] */
    const char *peers;           /* server list text, entries split by commas/whitespace */
    const char *secret;          /* shared cluster secret [NULL: links unauthenticated] */
    const char *cluster_path;    /* WebSocket path of peer links ["/wscluster"] */
    const char *backplane;       /* redis://... : instances meet on Redis [NULL: the mesh] */
    int heartbeat_ms;            /* ping on every peer link this often [5000] */
    int heartbeat_timeout_ms;    /* a link silent this long is closed [15000] */
    int refresh_ms;              /* re-read the server list this often [10000] */
    int reconnect_max_ms;        /* cap of the reconnect backoff [10000] */
    /* TLS (needs WSCLUSTER_MBEDTLS; see TLS) */
    const char *tls_cert, *tls_key;          /* PEM files for wss:// and tcps:// listeners */
    const char *tls_cert_pem, *tls_key_pem;  /* or the PEM text itself (NUL-terminated) */
    const char *tls_ca, *tls_ca_pem;         /* CA to verify wss:// / tcps:// servers */
    int tls_insecure;            /* 1: do not verify servers (tests only; logged loudly) */
    int meta_from_query;         /* 1: tag upgrades with user/group from the query [0] */
} wsc_config;

typedef struct wsc_connect_opts {
    int cls;                   /* wsc_class for the new connection [WSC_SUBSCRIBER] */
    const char *subprotocol;   /* offered in Sec-WebSocket-Protocol [none] */
    const char *headers;       /* extra request header lines, each ending in \r\n [none] */
    void *userdata;            /* initial wsc_get_userdata() */
} wsc_connect_opts;

typedef struct wsc_kv { const char *key, *value; } wsc_kv;

typedef struct wsc_conn_info {
    int cls, proto, is_server;  /* is_server: accepted by us */
    int open;                   /* WSC_EV_OPEN has fired and no close started */
    char peer[64];              /* "ip:port" ("[ip6]:port"), or "host:port" as dialled */
    const char *path;           /* request path (server) or URL path (client); "" for TCP */
    const char *subprotocol;    /* negotiated, or "" */
    size_t pending;             /* wire bytes queued for output */
    size_t held;                /* memory its queue keeps alive (what max_pending counts) */
} wsc_conn_info;

/* where a cluster-wide message goes: exactly one of the three kinds (all zero: every client) */
typedef struct wsc_target {
    const wsc_kv *match;         /* metadata pairs, AND-combined ("path" matches the path) */
    size_t nmatch;
    const char *conn;            /* one connection anywhere: a wsc_global_id() string */
    const char *selector;        /* a named selector registered on every instance ... */
    const char *arg;             /* ... and its argument (may be NULL) */
} wsc_target;
/* a named selector: non-zero when connection id is a target of this message */
typedef int (*wsc_selector_fn)(wsc_ctx *ctx, wsc_id id, const char *arg, void *ud);

/* why a cluster-wide message did not arrive somewhere (wsc_stats.fwd_drops) */
typedef enum wsc_drop_kind {
    WSC_DROP_UNREACHABLE,        /* the peer had no link up */
    WSC_DROP_QUEUE,              /* its link's queue was full or closing */
    WSC_DROP_BACKPLANE,          /* the Redis backplane was down or full, no mesh to stand in */
    WSC_DROP_DUPLICATE,          /* arrived again (fwd_duplicates) */
    WSC_DROP_REFUSED,            /* arrived malformed, from a wrong origin, for an unknown
                                    selector, or with an id far ahead of its window */
    WSC_DROP_TRIMMED,            /* Redis stream entries trimmed before they were read */
    WSC_DROP_KINDS
} wsc_drop_kind;

/* heartbeat round trips are counted in these buckets (microseconds, upper bounds; a round
   trip above the last is counted in rtt_count only): a Prometheus-style histogram */
#define WSC_RTT_BUCKETS 8
#define WSC_RTT_BOUNDS_US {250, 1000, 2500, 10000, 25000, 100000, 250000, 1000000}

#ifndef WSC_MAX_PEERS
#define WSC_MAX_PEERS 64
#endif

typedef struct wsc_peer_info {
    const char *url;             /* normalised entry, e.g. ws://10.0.0.2:8080/wscluster */
    const char *node;            /* peer's node id, "" until known */
    int self;                    /* this entry is us (skipped) */
    int introduced;              /* learned from an introduction, not from the list */
    int sub_up, obs_up;          /* our link to it is up; its link to us is (both proven) */
    int64_t last_heartbeat_ms;   /* ms since anything arrived on our link, -1: never */
    uint64_t reconnects;         /* connection attempts after the first */
    int64_t rtt_us;              /* the last heartbeat round trip on its links, -1: none */
    uint64_t rtt_count, rtt_sum_us; /* round trips measured, and their sum */
    uint64_t rtt_hist[WSC_RTT_BUCKETS]; /* of them, those <= WSC_RTT_BOUNDS_US[i] and above
                                    the bound before (not cumulative) */
} wsc_peer_info;

typedef struct wsc_stats {
    uint64_t conns[4];           /* open connections per class, index wsc_class */
    uint64_t accepted, refused;  /* connections accepted; refused (limit, handshake) */
    uint64_t msgs_in, msgs_out;  /* messages received; message deliveries queued */
    uint64_t bytes_in, bytes_out;
    uint64_t dropped;            /* messages not queued (target closing, slow, too big) */
    uint64_t closed_slow;        /* connections closed as slow consumers (1008) */
    uint64_t closed_memory;      /* connections closed for room in max_memory (1013, 503) */
    uint64_t mem_held, mem_peak; /* buffered message data now, and at most (max_memory) */
    uint64_t proto_errors;       /* connections failed for protocol violations */
    uint64_t fwd_out;            /* forwarded copies pushed down Observable links */
    uint64_t fwd_in;             /* forwarded messages received on Subscriber links */
    uint64_t fwd_dropped;        /* forwards not made or refused (see WSC_EV_DROP) */
    uint64_t fwd_duplicates;     /* forwarded messages dropped as already seen */
    uint64_t posted;             /* messages queued through wsc_post() */
    uint64_t bp_state;           /* the backplane: 0 the mesh alone, 1 Redis down, 2 up */
    uint64_t bp_kind;            /* 0 the mesh alone, 1 Redis pubsub, 2 Redis stream */
    uint64_t bp_out, bp_in;      /* messages published to Redis; received from it, new */
    uint64_t bp_bad;             /* Redis messages refused: malformed, or not signed right */
    uint64_t conns_tcp[4];       /* of conns[]: those speaking the TCP framer (the rest:
                                    WebSocket), per class */
    uint64_t mem_max;            /* max_memory: the budget mem_held counts against */
    uint64_t fwd_drops[WSC_DROP_KINDS]; /* fwd_dropped by kind (wsc_drop_kind) */
    uint64_t msgs_sent;          /* messages the application sent: one per wsc_send(),
                                    wsc_broadcast(), wsc_send_ids(), cluster send or post */
} wsc_stats;

/* ---- context and loop ---------------------------------------------------------------- */

/* wsc_create: a new context from cfg (NULL = all defaults). Returns NULL when allocation
   fails or an option is invalid (logged). The process's signal setup is untouched: sends
   use MSG_NOSIGNAL, so a vanished peer never raises SIGPIPE. */
WSC_API wsc_ctx *wsc_create(const wsc_config *cfg);
/* wsc_destroy: closes every socket at once (no close handshake, no events, nothing logged)
   and frees all; for a graceful end call wsc_shutdown() first. */
WSC_API void wsc_destroy(wsc_ctx *ctx);
/* wsc_listen: start listening. url: "ws://HOST:PORT", "HOST:PORT" or "tcp://HOST:PORT";
   PORT 0 picks a free port (see wsc_listener_port). Returns a listener index >= 0, or
   WSC_ERR_ADDR / WSC_ERR_SYS. */
WSC_API int wsc_listen(wsc_ctx *ctx, const char *url);
/* wsc_listener_port: the bound port of a listener, or a negative wsc_err. */
WSC_API int wsc_listener_port(wsc_ctx *ctx, int listener);
/* wsc_poll: one loop iteration (see THE LOOP); waits at most timeout_ms (<0: until
   something happens). Returns the number of events dispatched, or a negative wsc_err
   when poll() itself fails (EINTR is not a failure: it returns 0). */
WSC_API int wsc_poll(wsc_ctx *ctx, int timeout_ms);
/* wsc_run: wsc_poll() until wsc_stop(). Returns 0, or the wsc_poll() error that ended it. */
WSC_API int wsc_run(wsc_ctx *ctx);
/* wsc_stop: make wsc_run() return after the current iteration. Async-signal-safe. */
WSC_API void wsc_stop(wsc_ctx *ctx);
/* wsc_now_ms: the loop's monotonic clock, in milliseconds. */
WSC_API int64_t wsc_now_ms(void);
/* wsc_shutdown: the graceful end. Stops accepting and dialling, closes every open connection
   with a close handshake (code 0: 1001, "going away"), fires WSC_EV_CLOSE for each, and runs
   the loop until all are gone or timeout_ms (<= 0: close_timeout_ms) has passed; what is
   left then is dropped, still with its CLOSE event. Returns how many connections were open.
   Afterwards only wsc_destroy() is useful. Not from inside the event handler (WSC_ERR_STATE). */
WSC_API int wsc_shutdown(wsc_ctx *ctx, int code, int timeout_ms);

/* ---- running inside another program's loop -------------------------------------------- */

/* wsc_watch: also poll a descriptor of yours. events are POLLIN/POLLOUT bits; fn(ctx, fd,
   revents, user) runs from wsc_poll() when the descriptor is ready (revents: POLLIN, POLLOUT,
   POLLERR, POLLHUP bits). Calling it again for the same fd replaces the events, fn and user.
   Returns 0, WSC_ERR_INVAL, WSC_ERR_LIMIT (WSC_MAX_WATCH descriptors) or WSC_ERR_SYS. The fd
   stays yours: unwatch it before closing it. */
typedef void (*wsc_watch_fn)(wsc_ctx *ctx, int fd, int revents, void *user);
WSC_API int wsc_watch(wsc_ctx *ctx, int fd, int events, wsc_watch_fn fn, void *user);
/* wsc_unwatch: stop polling fd (also from its own callback). 0 or WSC_ERR_STALE. */
WSC_API int wsc_unwatch(wsc_ctx *ctx, int fd);
/* wsc_next_timeout: milliseconds until the library needs wsc_poll() again although none of
   its descriptors became ready (timers, heartbeats, timeouts); 0 when output is waiting to
   be written; -1 when nothing is due. */
WSC_API int wsc_next_timeout(wsc_ctx *ctx);
/* wsc_loop_fd: with the epoll backend (WSCLUSTER_EPOLL), the one descriptor that becomes
   readable when any of the library's sockets (and watched fds) is ready: put it in your
   loop and call wsc_poll(ctx, 0) when it is readable or wsc_next_timeout() has passed.
   With poll() it returns -1: use wsc_pollfds(). */
WSC_API int wsc_loop_fd(wsc_ctx *ctx);
/* wsc_pollfds: the poll() backend's descriptors with the events the library waits for,
   into out[0..max) (struct pollfd from <poll.h>); returns how many there are (may exceed
   max). Poll them with yours, then call wsc_poll(ctx, 0). Valid until the next call into
   the library. */
struct pollfd;
WSC_API size_t wsc_pollfds(wsc_ctx *ctx, struct pollfd *out, size_t max);

/* wsc_timer: call cb(ctx, arg) after ms milliseconds, then every ms if repeat. Returns a
   timer id > 0 or a negative wsc_err. Timers fire from wsc_poll(). */
WSC_API int wsc_timer(wsc_ctx *ctx, int ms, int repeat, void (*cb)(wsc_ctx *, void *),
                      void *arg);
/* wsc_timer_cancel: cancel a timer (also from its own callback). 0 or WSC_ERR_STALE. */
WSC_API int wsc_timer_cancel(wsc_ctx *ctx, int timer_id);

/* ---- connections ----------------------------------------------------------------------- */

/* wsc_connect: open an outbound connection to "ws://HOST:PORT[/path]" or "tcp://HOST:PORT".
   Non-blocking: returns 0 and stores the id in *out; WSC_EV_OPEN follows when the
   handshake completes, or WSC_EV_ERROR (and the id goes stale) when it fails or times out
   (handshake_timeout_ms). opts may be NULL. */
WSC_API int wsc_connect(wsc_ctx *ctx, const char *url, const wsc_connect_opts *opts,
                        wsc_id *out);
/* wsc_send: queue one message (WSC_TEXT or WSC_BINARY; text must be valid UTF-8, which is
   not checked here). Returns 0; WSC_ERR_STALE, WSC_ERR_STATE (not open, or closing),
   WSC_ERR_TOOBIG (> max_message), WSC_ERR_SLOW (queue was past max_pending: the
   connection is now closing with 1008), WSC_ERR_NOMEM. The bytes are copied. */
WSC_API int wsc_send(wsc_ctx *ctx, wsc_id id, int opcode, const void *data, size_t len);
/* wsc_broadcast: send one message to every open connection of class WSC_CLIENT whose
   metadata matches all nmatch pairs (nmatch 0: every client). A value of NULL or "*"
   matches any connection that has the key. The frame is encoded once per protocol and
   shared. Returns the number of connections it was queued for, or a negative wsc_err. */
WSC_API int wsc_broadcast(wsc_ctx *ctx, const wsc_kv *match, size_t nmatch, int opcode,
                          const void *data, size_t len);
/* wsc_send_ids: like wsc_broadcast, to an explicit list of ids (stale ones are skipped). */
WSC_API int wsc_send_ids(wsc_ctx *ctx, const wsc_id *ids, size_t n, int opcode,
                         const void *data, size_t len);
/* wsc_ping: send a ping with payload (<= 125 bytes). */
WSC_API int wsc_ping(wsc_ctx *ctx, wsc_id id, const void *data, size_t len);
/* wsc_close: start the close handshake with code (0: 1000) and reason (NULL: none,
   <= 123 bytes). WSC_EV_CLOSE fires when it completes or times out (close_timeout_ms).
   On a connection still in its handshake or HTTP request, it is dropped at once. */
WSC_API int wsc_close(wsc_ctx *ctx, wsc_id id, int code, const char *reason);
/* wsc_close_all: wsc_close() every connection; returns how many were open. */
WSC_API int wsc_close_all(wsc_ctx *ctx, int code, const char *reason);
/* wsc_count: connections of class cls (0: all, including those in handshake). */
WSC_API int wsc_count(wsc_ctx *ctx, int cls);
/* wsc_conns: fill out[] with the ids of open connections of class cls (0: all); returns
   how many there are (may exceed max). */
WSC_API size_t wsc_conns(wsc_ctx *ctx, int cls, wsc_id *out, size_t max);
/* wsc_get_conn_info: describe a connection; strings stay valid until it closes. */
WSC_API int wsc_get_conn_info(wsc_ctx *ctx, wsc_id id, wsc_conn_info *info);
/* wsc_set_meta: set key=value (value NULL removes the key). Copies both. At most
   WSC_MAX_META keys (WSC_ERR_LIMIT). */
WSC_API int wsc_set_meta(wsc_ctx *ctx, wsc_id id, const char *key, const char *value);
/* wsc_get_meta: the value, or NULL; valid until it changes or the connection closes. */
WSC_API const char *wsc_get_meta(wsc_ctx *ctx, wsc_id id, const char *key);
WSC_API int wsc_set_userdata(wsc_ctx *ctx, wsc_id id, void *userdata);
WSC_API void *wsc_get_userdata(wsc_ctx *ctx, wsc_id id);
/* wsc_set_class: reclassify a connection (e.g. in WSC_EV_UPGRADE for a peer's link). */
WSC_API int wsc_set_class(wsc_ctx *ctx, wsc_id id, int cls);
/* wsc_reject: during WSC_EV_UPGRADE, refuse with an HTTP status (e.g. 401) and a short
   plain-text body (NULL: the status text). No WSC_EV_OPEN/CLOSE follow. */
WSC_API int wsc_reject(wsc_ctx *ctx, wsc_id id, int status, const char *body);
/* wsc_reject_headers: wsc_reject() with extra response header lines, each ending in \r\n
   (e.g. "WWW-Authenticate: Bearer\r\n"); NULL: none. */
WSC_API int wsc_reject_headers(wsc_ctx *ctx, wsc_id id, int status, const char *headers,
                               const char *body);
/* wsc_http_reply: during WSC_EV_HTTP, answer the request. content_type NULL means
   text/plain. extra_headers (NULL: none) are header lines each ending in \r\n. */
WSC_API int wsc_http_reply(wsc_ctx *ctx, wsc_id id, int status, const char *content_type,
                           const char *extra_headers, const void *body, size_t len);
WSC_API void wsc_get_stats(wsc_ctx *ctx, wsc_stats *out);
/* wsc_drop_kind_name: "unreachable", "queue", "backplane", "duplicate", "refused",
   "trimmed" for a wsc_drop_kind; "unknown" otherwise. */
WSC_API const char *wsc_drop_kind_name(int kind);
WSC_API const char *wsc_strerror(int err);
/* wsc_log: write a line through the context's log sink (printf-style). */
WSC_API void wsc_log(wsc_ctx *ctx, int level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* ---- the cluster ------------------------------------------------------------------------ */

/* wsc_cluster_send: deliver to the matching clients of this instance and push one copy down
   every Observable link, so that every instance delivers to its own (and never forwards
   again). t NULL: every client of the cluster. Returns the number of local clients it was
   queued for, or a negative wsc_err (WSC_ERR_TOOBIG, WSC_ERR_INVAL). */
WSC_API int wsc_cluster_send(wsc_ctx *ctx, const wsc_target *t, int opcode, const void *data,
                             size_t len);
/* one call each: every client / a metadata selector / one connection / a named selector */
WSC_API int wsc_send_all(wsc_ctx *ctx, int opcode, const void *data, size_t len);
WSC_API int wsc_send_where(wsc_ctx *ctx, const wsc_kv *match, size_t nmatch, int opcode,
                           const void *data, size_t len);
WSC_API int wsc_send_conn(wsc_ctx *ctx, const char *global_id, int opcode, const void *data,
                          size_t len);
WSC_API int wsc_send_named(wsc_ctx *ctx, const char *selector, const char *arg, int opcode,
                           const void *data, size_t len);
/* wsc_post: wsc_cluster_send() from any thread. Copies the message, wakes the loop through
   a pipe; the send happens in the loop's next iteration. Returns 0, WSC_ERR_AGAIN when the
   wake-up pipe is full (retry), WSC_ERR_NOMEM. The only thread-safe function besides
   wsc_stop(); the allocator macros must then be thread-safe (libc's are). */
WSC_API int wsc_post(wsc_ctx *ctx, const wsc_target *t, int opcode, const void *data,
                     size_t len);
/* wsc_register_selector: make name usable in wsc_send_named() (register the same name on
   every instance). At most WSC_MAX_SELECTORS. */
WSC_API int wsc_register_selector(wsc_ctx *ctx, const char *name, wsc_selector_fn fn,
                                  void *ud);
/* wsc_global_id: a cluster-wide name for a connection, "<node id>/<hex id>" (for
   wsc_send_conn on any instance). Returns its length or a negative wsc_err. */
WSC_API int wsc_global_id(wsc_ctx *ctx, wsc_id id, char *out, size_t cap);
WSC_API const char *wsc_node_id(wsc_ctx *ctx);
/* wsc_cluster_refresh: re-read the server list now (e.g. on SIGHUP). 0 or a wsc_err. */
WSC_API int wsc_cluster_refresh(wsc_ctx *ctx);
/* wsc_peers: the peer table (entries of the server list and introduced peers); fills up
   to max and returns the count. Strings valid until the next wsc_poll(). */
WSC_API size_t wsc_peers(wsc_ctx *ctx, wsc_peer_info *out, size_t max);

/* ---- pure helpers: no I/O, no allocation, reentrant ------------------------------------ */

WSC_API void wsc_sha1(const void *data, size_t len, unsigned char out[20]);
WSC_API void wsc_sha256(const void *data, size_t len, unsigned char out[32]);
/* HMAC-SHA-256 (RFC 2104) of data under key (any length; longer than 64 bytes: hashed) */
WSC_API void wsc_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                             unsigned char out[32]);
/* base64 of len bytes into out (needs 4*((len+2)/3)+1 bytes, NUL-terminated); returns
   the length written without the NUL. */
WSC_API size_t wsc_base64_encode(const void *data, size_t len, char *out);
/* base64 decode; returns bytes written, or WSC_ERR_PROTO on bad input / WSC_ERR_TOOBIG
   when out (cap bytes) is too small. Padding required. */
WSC_API int wsc_base64_decode(const char *in, size_t len, unsigned char *out, size_t cap);
/* Sec-WebSocket-Accept for a key: out gets 28 chars + NUL. */
WSC_API void wsc_ws_accept(const char *key, size_t keylen, char out[29]);
/* wsc_utf8_check: incremental validation. *state starts at 0; returns 0 while valid,
   WSC_ERR_UTF8 when invalid. The message is complete and valid iff *state is 0 at its end. */
WSC_API int wsc_utf8_check(uint32_t *state, const unsigned char *p, size_t n);

/* wsc_http_parse_request / _response: parse a head in buf[0..len). Return the head
   length (> 0, up to and including the blank line), WSC_ERR_AGAIN when incomplete,
   WSC_ERR_PROTO when malformed, WSC_ERR_LIMIT with more than WSC_MAX_HEADERS headers.
   The views point into buf. */
WSC_API int wsc_http_parse_request(const char *buf, size_t len, wsc_http_req *req);
WSC_API int wsc_http_parse_response(const char *buf, size_t len, wsc_http_resp *resp);
/* wsc_str_eq / wsc_str_ieq: a byte view equals a C string (case-insensitively for ieq). */
WSC_API int wsc_str_eq(wsc_str s, const char *cstr);
WSC_API int wsc_str_ieq(wsc_str s, const char *cstr);
/* wsc_http_header: the first header named name (case-insensitive), or NULL. */
WSC_API const wsc_str *wsc_http_header(const wsc_header *h, size_t n, const char *name);
/* wsc_http_has_token: 1 if a comma-separated header value contains token (case-insens.) */
WSC_API int wsc_http_has_token(wsc_str value, const char *token);
/* wsc_query_get: copy the URL-decoded value of key from a query string into out
   (NUL-terminated, truncated to cap-1). Returns the decoded length, or -1 if absent. */
WSC_API int wsc_query_get(wsc_str query, const char *key, char *out, size_t cap);

/* The frame decoders. Both are streaming and never buffer payload: they emit chunks as
   the bytes arrive, unmasking in place (buf must be writable). State lives in the struct;
   zero it, then set the configuration fields. */
typedef enum wsc_frame_kind {
    WSC_FR_DATA = 1,   /* a chunk of a text/binary message: opcode, data, first, last */
    WSC_FR_PING, WSC_FR_PONG, /* a whole control frame: data (<= 125 bytes) */
    WSC_FR_CLOSE       /* code (1005 when empty) and data = reason, validated */
} wsc_frame_kind;
typedef struct wsc_frame_ev {
    int kind, opcode, first, last, code;
    unsigned char *data;
    size_t len;
} wsc_frame_ev;
/* return non-zero from the callback to stop decoding (the decoder stays consistent) */
typedef int (*wsc_frame_cb)(void *arg, const wsc_frame_ev *ev);

typedef struct wsc_ws_decoder {
    /* configuration */
    uint64_t max_message;        /* 0: unlimited */
    unsigned char expect_mask;   /* 1 on the server side: frames must be masked */
    /* state */
    unsigned char hdr[14], hlen, hneed, phase, opcode, fin, masked, mask[4], in_msg, msg_op,
        first, closed, ctrl_len;
    uint64_t remain, mpos, msg_len;
    uint32_t utf8;
    unsigned char ctrl[125];
    int close_code;              /* after an error: the close code to send */
    const char *error;           /* after an error: why */
} wsc_ws_decoder;
/* wsc_ws_decode: feed len bytes. Returns bytes consumed (len, or less if the callback
   stopped it or a close frame ended the stream), or WSC_ERR_PROTO / WSC_ERR_UTF8 /
   WSC_ERR_TOOBIG with d->close_code (1002/1007/1009) and d->error set; after an error the
   decoder refuses further input. */
WSC_API int64_t wsc_ws_decode(wsc_ws_decoder *d, unsigned char *buf, size_t len,
                              wsc_frame_cb cb, void *arg);
/* wsc_ws_header: encode a frame header into out (<= 14 bytes); mask non-NULL adds it. */
WSC_API size_t wsc_ws_header(unsigned char out[14], int opcode, int fin, uint64_t len,
                             const unsigned char *mask);

typedef struct wsc_tcp_decoder {
    uint64_t max_message;        /* 0: unlimited (up to 4 GiB - 1) */
    unsigned char hdr[5], hlen, phase, type, ctrl_len, closed, first_pending;
    uint64_t remain, len;
    uint32_t utf8;
    unsigned char ctrl[125];
    int close_code;
    const char *error;
} wsc_tcp_decoder;
WSC_API int64_t wsc_tcp_decode(wsc_tcp_decoder *d, unsigned char *buf, size_t len,
                               wsc_frame_cb cb, void *arg);
WSC_API size_t wsc_tcp_header(unsigned char out[5], int type, uint32_t len);

/* The link format (see FORWARDING FORMAT in the manual), parsed. */
#ifndef WSC_MAX_MATCH
#define WSC_MAX_MATCH 8
#endif
#define WSC_LINK_VERSION 2       /* the format's version byte */
#define WSC_LINK_NONCE 32         /* bytes of a handshake nonce and of a proof */
enum { WSC_LINK_HELLO = 'H', WSC_LINK_WELCOME = 'W', WSC_LINK_AUTH = 'A',
       WSC_LINK_FORWARD = 'F', WSC_LINK_SUMMARY = 'S' };
enum { WSC_TGT_ALL = 0, WSC_TGT_MATCH = 1, WSC_TGT_CONN = 2, WSC_TGT_NAMED = 3 };
typedef struct wsc_link_msg {
    int type;                     /* WSC_LINK_* */
    wsc_str node;                 /* HELLO, WELCOME: sender; FORWARD: origin */
    wsc_str advertise;            /* HELLO */
    wsc_str nonce;                /* HELLO: nonce_s; WELCOME: nonce_o (WSC_LINK_NONCE bytes) */
    wsc_str proof;                /* WELCOME: proof_o; AUTH: proof_s (WSC_LINK_NONCE bytes) */
    uint64_t msg_id;              /* FORWARD */
    int opcode;                   /* FORWARD: WSC_TEXT or WSC_BINARY */
    int target;                   /* FORWARD: WSC_TGT_* */
    wsc_str keys[WSC_MAX_MATCH], values[WSC_MAX_MATCH];
    size_t nmatch;
    wsc_str conn_node;            /* WSC_TGT_CONN */
    uint64_t conn_id;
    wsc_str name, arg;            /* WSC_TGT_NAMED */
    wsc_str payload;
} wsc_link_msg;
/* wsc_link_parse: 0, or WSC_ERR_PROTO with *why set. Views point into p. */
WSC_API int wsc_link_parse(const unsigned char *p, size_t n, wsc_link_msg *m, const char **why);

/* An instance's summary of itself: a SUMMARY link message (FORWARDING FORMAT), sent down
   each Observable link every heartbeat_ms, so that every instance can show the whole
   cluster (wsc_summary_get). */
typedef struct wsc_summary_link {
    wsc_str node;                 /* the peer at the other end */
    int sub_up, obs_up;           /* the instance's link to it is up; its link to the instance */
    int64_t rtt_us;               /* the last heartbeat round trip; -1: none yet */
    uint64_t reconnects;
} wsc_summary_link;
typedef struct wsc_summary {
    wsc_str node;                 /* the instance */
    int64_t age_ms;               /* since it was made (wsc_summary_get; 0: this instance) */
    uint64_t uptime_ms;           /* since its context was created */
    uint64_t conns[4];            /* open connections per class (wsc_stats.conns) */
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out; /* its wsc_stats counters */
    uint64_t fwd_in, fwd_out, bp_in, bp_out, dropped, fwd_dropped;
    uint64_t mem_held, mem_max;
    int bp_kind;                  /* 0 the mesh, 1 Redis pubsub, 2 Redis stream */
    int bp_state;                 /* wsc_stats.bp_state */
    size_t nlinks;                /* links[0..nlinks): one per peer it knows */
    wsc_summary_link links[WSC_MAX_PEERS];
} wsc_summary;
/* wsc_summary_parse: a SUMMARY message into *s (views into p; links past WSC_MAX_PEERS are
   checked, not kept): 0, or WSC_ERR_PROTO with *why set. */
WSC_API int wsc_summary_parse(const unsigned char *p, size_t n, wsc_summary *s, const char **why);
/* wsc_summary_get: peer -1: this instance's summary, made now; peer i >= 0: the last one
   from the i-th entry of wsc_peers() (views valid until the next wsc_poll()). 0,
   WSC_ERR_AGAIN (none received from it yet), WSC_ERR_INVAL (no such entry). */
WSC_API int wsc_summary_get(wsc_ctx *ctx, int peer, wsc_summary *out);

/* The server list: one entry per line ('#' comments, blank lines) or separated by commas
   and whitespace: HOST:PORT (WebSocket), ws://HOST:PORT[/path], tcp://HOST:PORT, and with
   TLS wss://HOST:PORT[/path], tcps://HOST:PORT. cb gets
   each entry with its line number; error is NULL for a good entry, else why it is bad. */
typedef struct wsc_peer_entry {
    int line, proto, port, tls;   /* proto: WSC_PROTO_WS or _TCP; tls: wss:// or tcps:// */
    char host[256];
    char path[128];               /* "" when the entry has none */
    const char *error;
} wsc_peer_entry;
WSC_API int wsc_peers_parse(const char *text, size_t len,
                            void (*cb)(void *arg, const wsc_peer_entry *e), void *arg);

/* RESP2, the Redis protocol: a reply is a tree, given flattened in pre-order (an array's
   elements follow it). type: '+' status, '-' error, ':' integer (n), '$' bulk string,
   '*' array (n elements), '_' nil (a null bulk or array). ptr/len: the bytes of a status,
   error or bulk, pointing into the input. */
typedef struct wsc_resp_tok {
    char type;
    int64_t n;                    /* integer value; array: elements; bulk: length */
    const char *ptr;
    size_t len;
} wsc_resp_tok;
/* wsc_resp_parse: the reply at the start of p[0..n): fills at most max tokens and *ntok.
   Returns the bytes it spans (> 0), 0 while incomplete, or WSC_ERR_PROTO: malformed, a
   bulk over max_bulk, arrays nested deeper than 8, or more than max tokens. */
WSC_API int64_t wsc_resp_parse(const unsigned char *p, size_t n, size_t max_bulk,
                               wsc_resp_tok *tok, size_t max, size_t *ntok);
/* wsc_resp_cmd: a command as RESP (an array of bulk strings) into out, or, with out NULL,
   only its size. argv[i] has lens[i] bytes; a NULL argv[i] leaves room for them, to be
   filled in place. Returns the size. */
WSC_API size_t wsc_resp_cmd(unsigned char *out, int argc, const char *const *argv,
                            const size_t *lens);

/* wsc_url_parse: "ws://host:port/path", "tcp://host:port", "host:port", and the TLS forms
   "wss://" and "tcps://" (proto then has WSC_PROTO_TLS set). scheme gets
   WSC_PROTO_*, host is NUL-terminated into host[hostcap]; path points into url ("/" if
   absent). Returns 0 or WSC_ERR_ADDR. IPv6 literals in brackets are accepted. */
WSC_API int wsc_url_parse(const char *url, int *proto, char *host, size_t hostcap,
                          int *port, const char **path);

#ifdef __cplusplus
}
#endif
#endif /* WSCLUSTER_H */

/* ==================================================================== IMPLEMENTATION == */
#ifdef WSCLUSTER_IMPLEMENTATION
#ifndef WSCLUSTER_IMPLEMENTATION_DONE
#define WSCLUSTER_IMPLEMENTATION_DONE

/* >>base ===================================================== allocation, log, time == */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>
#include <netdb.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#ifdef WSCLUSTER_EPOLL
#include <sys/epoll.h>
#endif

#if defined(WSC_MALLOC) || defined(WSC_REALLOC) || defined(WSC_FREE)
#if !defined(WSC_MALLOC) || !defined(WSC_REALLOC) || !defined(WSC_FREE)
#error "wscluster.h: define all of WSC_MALLOC, WSC_REALLOC and WSC_FREE, or none"
#endif
#else
#define WSC_MALLOC(sz, u) ((void)(u), malloc(sz))
#define WSC_REALLOC(p, sz, u) ((void)(u), realloc((p), (sz)))
#define WSC_FREE(p, u) ((void)(u), free(p))
#endif
#ifndef WSC_ASSERT
#define WSC_ASSERT(x) assert(x)
#endif
/* the optional parts (COMPILE-TIME MACROS): peer links are outgoing connections, and the
   Redis backplane runs beside a cluster, so each macro takes the parts that need its part */
#if defined(WSCLUSTER_NO_CLIENT) && !defined(WSCLUSTER_NO_CLUSTER)
#define WSCLUSTER_NO_CLUSTER
#endif
#if defined(WSCLUSTER_NO_CLUSTER) && !defined(WSCLUSTER_NO_REDIS)
#define WSCLUSTER_NO_REDIS
#endif
#ifndef WSC_MAX_META
#define WSC_MAX_META 16
#endif
#ifndef WSC_RECV_BUF
#define WSC_RECV_BUF 65536
#endif
#ifndef WSC_MAX_IOV
#define WSC_MAX_IOV 64
#endif
#ifndef WSC_MAX_LISTENERS
#define WSC_MAX_LISTENERS 8
#endif
#ifndef WSC_MAX_TIMERS
#define WSC_MAX_TIMERS 64
#endif
#ifndef WSC_MAX_WATCH
#define WSC_MAX_WATCH 16
#endif

#ifdef WSCLUSTER_STATIC
#if defined(__GNUC__)
#define WSC_DEF static __attribute__((unused))
#else
#define WSC_DEF static
#endif
#else
#define WSC_DEF
#endif

#define WSC__DEFAULT_MAX_CONNS 10000
#define WSC__DEFAULT_MAX_MESSAGE (1u << 20)
#define WSC__DEFAULT_MAX_HEAD 8192
#define WSC__DEFAULT_MAX_PENDING (4u << 20)
#define WSC__DEFAULT_MAX_MEMORY ((size_t)256 << 20)
#define WSC__DEFAULT_HANDSHAKE_MS 10000
#define WSC__DEFAULT_PING_MS 30000
#define WSC__DEFAULT_CLOSE_MS 3000
#define WSC__SWEEP_MS 100
#define WSC__WBUF 16384         /* the gathering buffer of wsc__flush */
#define WSC__SMALL_FRAME 512    /* frames up to this size are gathered */
#if defined(__GNUC__)           /* the per-chunk path of both framers: no call on it */
#define WSC__INLINE inline __attribute__((always_inline))
#else
#define WSC__INLINE inline
#endif

WSC_DEF int64_t wsc_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

WSC_DEF const char *wsc_strerror(int err) {
    switch (err) {
    case WSC_OK: return "ok";
    case WSC_ERR_INVAL: return "invalid argument";
    case WSC_ERR_NOMEM: return "out of memory";
    case WSC_ERR_STALE: return "unknown or closed connection";
    case WSC_ERR_STATE: return "not allowed in this connection state";
    case WSC_ERR_TOOBIG: return "message too big (max_message)";
    case WSC_ERR_SLOW: return "slow consumer: output queue over max_pending";
    case WSC_ERR_SYS: return "system call failed";
    case WSC_ERR_ADDR: return "bad address or URL";
    case WSC_ERR_LIMIT: return "limit reached";
    case WSC_ERR_PROTO: return "protocol error";
    case WSC_ERR_HANDSHAKE: return "WebSocket handshake failed";
    case WSC_ERR_TIMEOUT: return "timed out";
    case WSC_ERR_UTF8: return "invalid UTF-8";
    case WSC_ERR_CLOSED: return "connection closed";
    case WSC_ERR_AGAIN: return "need more input (or: retry later)";
    case WSC_ERR_NOTBUILT: return "not built in (a WSCLUSTER_NO_* macro)";
    default: return "unknown error";
    }
}

static int wsc__lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

static int wsc__ieq(wsc_str a, const char *b) {
    size_t i, n = strlen(b);
    if (a.len != n) return 0;
    for (i = 0; i < n; i++)
        if (wsc__lower((unsigned char)a.ptr[i]) != wsc__lower((unsigned char)b[i])) return 0;
    return 1;
}

/* big-endian integers of w bytes, at any alignment, on any host */
static void wsc__put_be(unsigned char *p, uint64_t v, size_t w) {
    size_t i;
    for (i = 0; i < w; i++) p[i] = (unsigned char)(v >> (8 * (w - 1 - i)));
}
static uint64_t wsc__get_be(const unsigned char *p, size_t w) {
    uint64_t v = 0;
    size_t i;
    for (i = 0; i < w; i++) v = v << 8 | p[i];
    return v;
}
/* sizes that must not wrap where size_t is 32 bits: a + b > limit; v, or k * v, capped at
   SIZE_MAX (a limit that large is no limit) */
static int wsc__over(size_t a, size_t b, size_t limit) { return b > limit || a > limit - b; }
static size_t wsc__size_cap(uint64_t v) { return v > SIZE_MAX ? SIZE_MAX : (size_t)v; }
static size_t wsc__size_mul(size_t v, size_t k) { return v > SIZE_MAX / k ? SIZE_MAX : v * k; }
static int64_t wsc__now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
#ifndef WSCLUSTER_NO_CLUSTER
static wsc_str wsc__sv(const char *s) { /* a view of a C string */
    wsc_str v;
    v.ptr = s;
    v.len = strlen(s);
    return v;
}
#endif

static int wsc__seq(wsc_str a, const char *b) {
    size_t n = strlen(b);
    return a.len == n && memcmp(a.ptr, b, n) == 0;
}

static void wsc__put16(unsigned char *p, unsigned v) {
    p[0] = (unsigned char)(v >> 8); p[1] = (unsigned char)v;
}

/* >>sha1 ========================================== SHA-1, SHA-256, HMAC, base64 ====== */
typedef struct wsc__sha1 { uint32_t h[5]; uint64_t total; unsigned char buf[64]; size_t n; } wsc__sha1;

static uint32_t wsc__rol(uint32_t x, int s) { return (x << s) | (x >> (32 - s)); }

static void wsc__sha1_block(wsc__sha1 *s, const unsigned char *p) {
    uint32_t w[80], a, b, c, d, e, f, k, t;
    int i;
    for (i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (i = 16; i < 80; i++) w[i] = wsc__rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    a = s->h[0]; b = s->h[1]; c = s->h[2]; d = s->h[3]; e = s->h[4];
    for (i = 0; i < 80; i++) {
        if (i < 20) { f = (b & c) | (~b & d); k = 0x5A827999u; }
        else if (i < 40) { f = b ^ c ^ d; k = 0x6ED9EBA1u; }
        else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDCu; }
        else { f = b ^ c ^ d; k = 0xCA62C1D6u; }
        t = wsc__rol(a, 5) + f + e + k + w[i];
        e = d; d = c; c = wsc__rol(b, 30); b = a; a = t;
    }
    s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d; s->h[4] += e;
}

static void wsc__sha1_add(wsc__sha1 *s, const unsigned char *p, size_t len) {
    s->total += len;
    while (len > 0) {
        size_t take = 64 - s->n;
        if (take > len) take = len;
        memcpy(s->buf + s->n, p, take);
        s->n += take; p += take; len -= take;
        if (s->n == 64) { wsc__sha1_block(s, s->buf); s->n = 0; }
    }
}

WSC_DEF void wsc_sha1(const void *data, size_t len, unsigned char out[20]) {
    wsc__sha1 s;
    unsigned char pad[72];
    uint64_t bits;
    size_t padlen, i;
    s.h[0] = 0x67452301u; s.h[1] = 0xEFCDAB89u; s.h[2] = 0x98BADCFEu;
    s.h[3] = 0x10325476u; s.h[4] = 0xC3D2E1F0u; s.total = 0; s.n = 0;
    wsc__sha1_add(&s, (const unsigned char *)data, len);
    bits = s.total * 8;
    padlen = (s.n < 56) ? 56 - s.n : 120 - s.n;
    memset(pad, 0, sizeof pad);
    pad[0] = 0x80;
    for (i = 0; i < 8; i++) pad[padlen + i] = (unsigned char)(bits >> (56 - 8 * i));
    wsc__sha1_add(&s, pad, padlen + 8);
    for (i = 0; i < 20; i++) out[i] = (unsigned char)(s.h[i / 4] >> (24 - 8 * (i % 4)));
}

/* SHA-256 (FIPS 180-4) and HMAC-SHA-256 (RFC 2104): the peer links' handshake proofs */
typedef struct wsc__sha256 { uint32_t h[8]; uint64_t total; unsigned char buf[64]; size_t n; } wsc__sha256;

static const uint32_t wsc__k256[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u,
    0xab1c5ed5u, 0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu,
    0x9bdc06a7u, 0xc19bf174u, 0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu,
    0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau, 0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u,
    0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u, 0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu,
    0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u, 0xa2bfe8a1u, 0xa81a664bu,
    0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u, 0x19a4c116u,
    0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u,
    0xc67178f2u};

static uint32_t wsc__ror(uint32_t x, int s) { return (x >> s) | (x << (32 - s)); }

static void wsc__sha256_block(wsc__sha256 *s, const unsigned char *p) {
    uint32_t w[64], v[8], t1, t2;
    int i;
    for (i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (i = 16; i < 64; i++)
        w[i] = (wsc__ror(w[i - 2], 17) ^ wsc__ror(w[i - 2], 19) ^ (w[i - 2] >> 10)) + w[i - 7] +
               (wsc__ror(w[i - 15], 7) ^ wsc__ror(w[i - 15], 18) ^ (w[i - 15] >> 3)) + w[i - 16];
    for (i = 0; i < 8; i++) v[i] = s->h[i];
    for (i = 0; i < 64; i++) { /* v: a b c d e f g h */
        t1 = v[7] + (wsc__ror(v[4], 6) ^ wsc__ror(v[4], 11) ^ wsc__ror(v[4], 25)) +
             ((v[4] & v[5]) ^ (~v[4] & v[6])) + wsc__k256[i] + w[i];
        t2 = (wsc__ror(v[0], 2) ^ wsc__ror(v[0], 13) ^ wsc__ror(v[0], 22)) +
             ((v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]));
        v[7] = v[6]; v[6] = v[5]; v[5] = v[4]; v[4] = v[3] + t1;
        v[3] = v[2]; v[2] = v[1]; v[1] = v[0]; v[0] = t1 + t2;
    }
    for (i = 0; i < 8; i++) s->h[i] += v[i];
}

static void wsc__sha256_init(wsc__sha256 *s) {
    static const uint32_t h0[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                                   0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};
    memcpy(s->h, h0, sizeof h0);
    s->total = 0;
    s->n = 0;
}

static void wsc__sha256_add(wsc__sha256 *s, const void *data, size_t len) {
    const unsigned char *p = (const unsigned char *)data;
    s->total += len;
    while (len > 0) {
        size_t take = 64 - s->n;
        if (take > len) take = len;
        memcpy(s->buf + s->n, p, take);
        s->n += take; p += take; len -= take;
        if (s->n == 64) { wsc__sha256_block(s, s->buf); s->n = 0; }
    }
}

static void wsc__sha256_end(wsc__sha256 *s, unsigned char out[32]) {
    unsigned char pad[72];
    uint64_t bits = s->total * 8;
    size_t padlen = (s->n < 56) ? 56 - s->n : 120 - s->n, i;
    memset(pad, 0, sizeof pad);
    pad[0] = 0x80;
    for (i = 0; i < 8; i++) pad[padlen + i] = (unsigned char)(bits >> (56 - 8 * i));
    wsc__sha256_add(s, pad, padlen + 8);
    for (i = 0; i < 32; i++) out[i] = (unsigned char)(s->h[i / 4] >> (24 - 8 * (i % 4)));
}

WSC_DEF void wsc_sha256(const void *data, size_t len, unsigned char out[32]) {
    wsc__sha256 s;
    wsc__sha256_init(&s);
    wsc__sha256_add(&s, data, len);
    wsc__sha256_end(&s, out);
}

WSC_DEF void wsc_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                             unsigned char out[32]) {
    unsigned char k[64], inner[32];
    wsc__sha256 s;
    size_t i;
    memset(k, 0, sizeof k);
    if (keylen > 64) wsc_sha256(key, keylen, k); /* a key longer than a block: its hash */
    else if (keylen) memcpy(k, key, keylen);
    for (i = 0; i < 64; i++) k[i] ^= 0x36;
    wsc__sha256_init(&s);
    wsc__sha256_add(&s, k, 64);
    wsc__sha256_add(&s, data, len);
    wsc__sha256_end(&s, inner);
    for (i = 0; i < 64; i++) k[i] ^= 0x36 ^ 0x5c;
    wsc__sha256_init(&s);
    wsc__sha256_add(&s, k, 64);
    wsc__sha256_add(&s, inner, 32);
    wsc__sha256_end(&s, out);
}

static const char wsc__b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

WSC_DEF size_t wsc_base64_encode(const void *data, size_t len, char *out) {
    const unsigned char *p = (const unsigned char *)data;
    size_t i, o = 0;
    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = wsc__b64[v >> 18]; out[o++] = wsc__b64[(v >> 12) & 63];
        out[o++] = wsc__b64[(v >> 6) & 63]; out[o++] = wsc__b64[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0u);
        out[o++] = wsc__b64[v >> 18]; out[o++] = wsc__b64[(v >> 12) & 63];
        out[o++] = (i + 1 < len) ? wsc__b64[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

static int wsc__b64val(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

WSC_DEF int wsc_base64_decode(const char *in, size_t len, unsigned char *out, size_t cap) {
    size_t i, o = 0;
    if (len % 4 != 0) return WSC_ERR_PROTO;
    for (i = 0; i < len; i += 4) {
        int v[4], j, pads = 0;
        uint32_t x;
        for (j = 0; j < 4; j++) {
            int ch = (unsigned char)in[i + (size_t)j];
            if (ch == '=' && i + 4 == len && j >= 2) { v[j] = 0; pads++; continue; }
            if (pads) return WSC_ERR_PROTO; /* data after padding */
            v[j] = wsc__b64val(ch);
            if (v[j] < 0) return WSC_ERR_PROTO;
        }
        x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        if (o + (size_t)(3 - pads) > cap) return WSC_ERR_TOOBIG;
        out[o++] = (unsigned char)(x >> 16);
        if (pads < 2) out[o++] = (unsigned char)(x >> 8);
        if (pads < 1) out[o++] = (unsigned char)x;
    }
    return (int)o;
}

WSC_DEF void wsc_ws_accept(const char *key, size_t keylen, char out[29]) {
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char cat[128], dig[20];
    if (keylen > sizeof cat - 36) keylen = sizeof cat - 36;
    memcpy(cat, key, keylen);
    memcpy(cat + keylen, guid, 36);
    wsc_sha1(cat, keylen + 36, dig);
    wsc_base64_encode(dig, 20, out);
}

/* >>utf8 ================================================ incremental UTF-8 check ===== */
/* state: bits 0-7 continuation bytes still expected, 8-15 / 16-23 the allowed range of the
   next byte (narrower than 80..BF right after E0, ED, F0, F4: overlongs and surrogates) */
WSC_DEF int wsc_utf8_check(uint32_t *state, const unsigned char *p, size_t n) {
    uint32_t need = *state & 0xff, lo = (*state >> 8) & 0xff, hi = (*state >> 16) & 0xff;
    size_t i = 0;
    while (i < n) {
        uint32_t b;
        if (need == 0) {
            /* ASCII fast path, 8 bytes at a time */
            while (i + 8 <= n) {
                uint64_t w;
                memcpy(&w, p + i, 8);
                if (w & 0x8080808080808080ull) break;
                i += 8;
            }
            if (i >= n) break;
            b = p[i++];
            if (b < 0x80) continue;
            if (b >= 0xC2 && b <= 0xDF) { need = 1; lo = 0x80; hi = 0xBF; }
            else if (b == 0xE0) { need = 2; lo = 0xA0; hi = 0xBF; }
            else if (b == 0xED) { need = 2; lo = 0x80; hi = 0x9F; }
            else if (b >= 0xE1 && b <= 0xEF) { need = 2; lo = 0x80; hi = 0xBF; }
            else if (b == 0xF0) { need = 3; lo = 0x90; hi = 0xBF; }
            else if (b >= 0xF1 && b <= 0xF3) { need = 3; lo = 0x80; hi = 0xBF; }
            else if (b == 0xF4) { need = 3; lo = 0x80; hi = 0x8F; }
            else return WSC_ERR_UTF8;
        } else {
            b = p[i++];
            if (b < lo || b > hi) return WSC_ERR_UTF8;
            need--; lo = 0x80; hi = 0xBF;
        }
    }
    *state = need | lo << 8 | hi << 16;
    if (need == 0) *state = 0;
    return 0;
}

/* >>http ============================================ HTTP/1.1 head parser (pure) ===== */
static int wsc__tchar(int c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* one line ending at LF (CR optional); returns pointer past LF, or NULL if incomplete */
static const char *wsc__line(const char *p, const char *end, wsc_str *line) {
    const char *q = (const char *)memchr(p, '\n', (size_t)(end - p));
    if (!q) return NULL;
    line->ptr = p;
    line->len = (size_t)(q - p);
    if (line->len > 0 && p[line->len - 1] == '\r') line->len--;
    return q + 1;
}

static int wsc__parse_headers(const char *p, const char *end, const char *start,
                              wsc_header *hs, size_t *nh) {
    *nh = 0;
    for (;;) {
        wsc_str ln;
        size_t i = 0, vs, ve;
        const char *next = wsc__line(p, end, &ln);
        if (!next) return WSC_ERR_AGAIN;
        p = next;
        if (ln.len == 0) return (int)(p - start);
        if (*nh >= WSC_MAX_HEADERS) return WSC_ERR_LIMIT;
        while (i < ln.len && wsc__tchar((unsigned char)ln.ptr[i])) i++;
        if (i == 0 || i >= ln.len || ln.ptr[i] != ':') return WSC_ERR_PROTO; /* also folding */
        hs[*nh].name.ptr = ln.ptr;
        hs[*nh].name.len = i;
        vs = i + 1;
        while (vs < ln.len && (ln.ptr[vs] == ' ' || ln.ptr[vs] == '\t')) vs++;
        ve = ln.len;
        while (ve > vs && (ln.ptr[ve - 1] == ' ' || ln.ptr[ve - 1] == '\t')) ve--;
        for (i = vs; i < ve; i++) {
            unsigned char ch = (unsigned char)ln.ptr[i];
            if ((ch < 0x20 && ch != '\t') || ch == 0x7f) return WSC_ERR_PROTO;
        }
        hs[*nh].value.ptr = ln.ptr + vs;
        hs[*nh].value.len = ve - vs;
        (*nh)++;
    }
}

static int wsc__http_version(const char *p, size_t len, int *minor) {
    if (len != 8 || memcmp(p, "HTTP/1.", 7) != 0 || p[7] < '0' || p[7] > '9')
        return WSC_ERR_PROTO;
    *minor = p[7] - '0';
    return 0;
}

WSC_DEF int wsc_http_parse_request(const char *buf, size_t len, wsc_http_req *req) {
    const char *end = buf + len, *p = buf;
    wsc_str ln;
    size_t i = 0, sp1, sp2;
    memset(req, 0, sizeof *req);
    /* tolerate empty lines before the request line (RFC 9112 2.2) */
    while (p < end && (*p == '\r' || *p == '\n')) p++;
    {
        const char *next = wsc__line(p, end, &ln);
        if (!next) {
            /* fail fast on garbage instead of waiting for a line that never parses */
            for (i = 0; i < (size_t)(end - p) && wsc__tchar((unsigned char)p[i]); i++) {}
            if (i < (size_t)(end - p) && p[i] != ' ') return WSC_ERR_PROTO;
            return WSC_ERR_AGAIN;
        }
        p = next;
    }
    while (i < ln.len && wsc__tchar((unsigned char)ln.ptr[i])) i++;
    if (i == 0 || i >= ln.len || ln.ptr[i] != ' ') return WSC_ERR_PROTO;
    sp1 = i;
    for (i = sp1 + 1; i < ln.len && ln.ptr[i] != ' '; i++) {
        unsigned char ch = (unsigned char)ln.ptr[i];
        if (ch <= 0x20 || ch == 0x7f) return WSC_ERR_PROTO;
    }
    sp2 = i;
    if (sp2 == sp1 + 1 || sp2 >= ln.len) return WSC_ERR_PROTO;
    if (wsc__http_version(ln.ptr + sp2 + 1, ln.len - sp2 - 1, &req->minor_version) < 0)
        return WSC_ERR_PROTO;
    req->method.ptr = ln.ptr;
    req->method.len = sp1;
    req->target.ptr = ln.ptr + sp1 + 1;
    req->target.len = sp2 - sp1 - 1;
    req->path = req->target;
    {
        const char *q = (const char *)memchr(req->target.ptr, '?', req->target.len);
        if (q) {
            req->path.len = (size_t)(q - req->target.ptr);
            req->query.ptr = q + 1;
            req->query.len = req->target.len - req->path.len - 1;
        } else {
            req->query.ptr = req->target.ptr + req->target.len;
        }
    }
    return wsc__parse_headers(p, end, buf, req->headers, &req->nheaders);
}

#ifndef WSCLUSTER_NO_CLIENT
WSC_DEF int wsc_http_parse_response(const char *buf, size_t len, wsc_http_resp *resp) {
    const char *end = buf + len, *p;
    wsc_str ln;
    memset(resp, 0, sizeof *resp);
    p = wsc__line(buf, end, &ln);
    if (!p) return (len >= 5 && memcmp(buf, "HTTP/", 5) != 0) ? WSC_ERR_PROTO : WSC_ERR_AGAIN;
    if (ln.len < 12 || ln.ptr[8] != ' ' || ln.ptr[9] < '1' || ln.ptr[9] > '5' ||
        ln.ptr[10] < '0' || ln.ptr[10] > '9' || ln.ptr[11] < '0' || ln.ptr[11] > '9' ||
        (ln.len > 12 && ln.ptr[12] != ' '))
        return WSC_ERR_PROTO;
    if (wsc__http_version(ln.ptr, 8, &resp->minor_version) < 0) return WSC_ERR_PROTO;
    resp->status = (ln.ptr[9] - '0') * 100 + (ln.ptr[10] - '0') * 10 + (ln.ptr[11] - '0');
    resp->reason.ptr = ln.ptr + (ln.len > 12 ? 13 : 12);
    resp->reason.len = ln.len > 12 ? ln.len - 13 : 0;
    return wsc__parse_headers(p, end, buf, resp->headers, &resp->nheaders);
}
#else /* WSCLUSTER_NO_CLIENT: responses are read by the client role only */
WSC_DEF int wsc_http_parse_response(const char *buf, size_t len, wsc_http_resp *resp) {
    (void)buf, (void)len;
    memset(resp, 0, sizeof *resp);
    return WSC_ERR_NOTBUILT;
}
#endif

WSC_DEF int wsc_str_eq(wsc_str s, const char *cstr) { return wsc__seq(s, cstr); }
WSC_DEF int wsc_str_ieq(wsc_str s, const char *cstr) { return wsc__ieq(s, cstr); }

WSC_DEF const wsc_str *wsc_http_header(const wsc_header *h, size_t n, const char *name) {
    size_t i;
    for (i = 0; i < n; i++)
        if (wsc__ieq(h[i].name, name)) return &h[i].value;
    return NULL;
}

WSC_DEF int wsc_http_has_token(wsc_str v, const char *token) {
    size_t i = 0;
    while (i < v.len) {
        size_t s, e;
        while (i < v.len && (v.ptr[i] == ' ' || v.ptr[i] == '\t' || v.ptr[i] == ',')) i++;
        s = i;
        while (i < v.len && v.ptr[i] != ',') i++;
        e = i;
        while (e > s && (v.ptr[e - 1] == ' ' || v.ptr[e - 1] == '\t')) e--;
        if (e > s) {
            wsc_str t;
            t.ptr = v.ptr + s;
            t.len = e - s;
            if (wsc__ieq(t, token)) return 1;
        }
    }
    return 0;
}

static int wsc__hex(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = wsc__lower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

WSC_DEF int wsc_query_get(wsc_str q, const char *key, char *out, size_t cap) {
    size_t i = 0, klen = strlen(key);
    while (i <= q.len) {
        size_t s = i, e, eq;
        while (i < q.len && q.ptr[i] != '&') i++;
        e = i++;
        for (eq = s; eq < e && q.ptr[eq] != '='; eq++) {}
        if (eq - s == klen && memcmp(q.ptr + s, key, klen) == 0) {
            size_t o = 0, j;
            for (j = (eq < e ? eq + 1 : e); j < e; j++) {
                int ch = (unsigned char)q.ptr[j];
                if (ch == '+') ch = ' ';
                else if (ch == '%' && j + 2 < e &&
                         wsc__hex((unsigned char)q.ptr[j + 1]) >= 0 &&
                         wsc__hex((unsigned char)q.ptr[j + 2]) >= 0) {
                    ch = wsc__hex((unsigned char)q.ptr[j + 1]) * 16 +
                         wsc__hex((unsigned char)q.ptr[j + 2]);
                    j += 2;
                }
                if (cap > 0 && o + 1 < cap) out[o] = (char)ch;
                o++;
            }
            if (cap > 0) out[o < cap ? o : cap - 1] = '\0';
            return (int)o;
        }
    }
    if (cap > 0) out[0] = '\0';
    return -1;
}

/* >>ws ============================================== RFC 6455 frames (pure) ========== */
static int wsc__close_code_ok(int c) {
    return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
}

static int wsc__fail_dec(int *close_code, const char **error, int code, const char *why) {
    *close_code = code;
    *error = why;
    return code == 1007 ? WSC_ERR_UTF8 : code == 1009 ? WSC_ERR_TOOBIG : WSC_ERR_PROTO;
}

/* a complete control frame: fill ev, validating a close payload */
static int wsc__ctrl_event(int opcode, unsigned char *p, size_t n, wsc_frame_ev *ev,
                           int *close_code, const char **error) {
    memset(ev, 0, sizeof *ev);
    ev->opcode = opcode;
    ev->data = p;
    ev->len = n;
    ev->first = ev->last = 1;
    if (opcode == WSC_OP_PING) ev->kind = WSC_FR_PING;
    else if (opcode == WSC_OP_PONG) ev->kind = WSC_FR_PONG;
    else {
        uint32_t st = 0;
        ev->kind = WSC_FR_CLOSE;
        ev->code = 1005;
        if (n == 1) return wsc__fail_dec(close_code, error, 1002, "close payload of 1 byte");
        if (n >= 2) {
            ev->code = p[0] << 8 | p[1];
            if (!wsc__close_code_ok(ev->code))
                return wsc__fail_dec(close_code, error, 1002, "invalid close code");
            ev->data = p + 2;
            ev->len = n - 2;
            if (wsc_utf8_check(&st, ev->data, ev->len) < 0 || st != 0)
                return wsc__fail_dec(close_code, error, 1007, "close reason is not UTF-8");
        }
    }
    return 0;
}

static void wsc__unmask(unsigned char *p, size_t n, const unsigned char mask[4], uint64_t pos) {
    size_t i = 0;
    unsigned char m[8];
    for (i = 0; i < 8; i++) m[i] = mask[(pos + i) & 3];
    i = 0;
    if (n >= 16) {
        uint64_t mw, w;
        memcpy(&mw, m, 8);
        for (; i + 8 <= n; i += 8) {
            memcpy(&w, p + i, 8);
            w ^= mw;
            memcpy(p + i, &w, 8);
        }
    }
    for (; i < n; i++) p[i] ^= m[i & 7];
}

#define WSC__DEC_FAIL(code, why) return wsc__fail_dec(&d->close_code, &d->error, code, why)

/* The payload half both framers share. A control frame is gathered whole (<= 125 bytes) and
   validated; a data chunk is UTF-8 checked and handed on as it arrives. Both return < 0 on
   an error (close_code and error set), 1 when the callback stopped decoding, 0 to go on. */
static int wsc__ctrl_in(unsigned char *ctrl, unsigned char *ctrl_len, int op,
                        const unsigned char *p, size_t take, uint64_t remain,
                        unsigned char *closed, int *close_code, const char **error,
                        wsc_frame_cb cb, void *arg) {
    wsc_frame_ev ev;
    memcpy(ctrl + *ctrl_len, p, take);
    *ctrl_len = (unsigned char)(*ctrl_len + take);
    if (remain > 0) return 0; /* the rest comes with the next bytes */
    if (wsc__ctrl_event(op, ctrl, *ctrl_len, &ev, close_code, error) < 0)
        return *close_code == 1007 ? WSC_ERR_UTF8 : WSC_ERR_PROTO;
    if (ev.kind == WSC_FR_CLOSE) *closed = 1;
    return cb(arg, &ev) ? 1 : 0;
}
static WSC__INLINE int wsc__data_in(int op, uint32_t *utf8, unsigned char *p, size_t take,
                                    int last, unsigned char *first, int *close_code,
                                    const char **error, wsc_frame_cb cb, void *arg) {
    wsc_frame_ev ev;
    if (op == WSC_TEXT && wsc_utf8_check(utf8, p, take) < 0)
        return wsc__fail_dec(close_code, error, 1007, "invalid UTF-8 in a text message");
    if (last && op == WSC_TEXT && *utf8 != 0)
        return wsc__fail_dec(close_code, error, 1007, "text message ends inside a UTF-8 sequence");
    if (take == 0 && !last) return 0;
    memset(&ev, 0, sizeof ev);
    ev.kind = WSC_FR_DATA;
    ev.opcode = op;
    ev.data = p;
    ev.len = take;
    ev.last = last;
    ev.first = *first;
    *first = 0;
    return cb(arg, &ev) ? 1 : 0;
}

WSC_DEF int64_t wsc_ws_decode(wsc_ws_decoder *d, unsigned char *buf, size_t len,
                              wsc_frame_cb cb, void *arg) {
    size_t pos = 0;
    if (d->close_code) return d->close_code == 1007 ? WSC_ERR_UTF8 : WSC_ERR_PROTO;
    while (pos < len && !d->closed) {
        if (d->phase == 0) { /* header */
            size_t need = d->hlen < 2 ? 2 : d->hneed, take = need - d->hlen;
            if (take > len - pos) take = len - pos;
            memcpy(d->hdr + d->hlen, buf + pos, take);
            d->hlen = (unsigned char)(d->hlen + take);
            pos += take;
            if (d->hlen < need) break;
            if (need == 2) {
                int l7 = d->hdr[1] & 0x7f, op = d->hdr[0] & 0x0f;
                d->fin = (unsigned char)(d->hdr[0] >> 7);
                d->opcode = (unsigned char)op;
                d->masked = (unsigned char)(d->hdr[1] >> 7);
                if (d->hdr[0] & 0x70) WSC__DEC_FAIL(1002, "reserved bits set (no extension)");
                if (op != 0 && op != 1 && op != 2 && op != 8 && op != 9 && op != 10)
                    WSC__DEC_FAIL(1002, "unknown opcode");
                if (op >= 8 && !d->fin) WSC__DEC_FAIL(1002, "fragmented control frame");
                if (op >= 8 && l7 > 125) WSC__DEC_FAIL(1002, "control frame over 125 bytes");
                if (d->expect_mask && !d->masked) WSC__DEC_FAIL(1002, "unmasked client frame");
                if (!d->expect_mask && d->masked) WSC__DEC_FAIL(1002, "masked server frame");
                if (op == 0 && !d->in_msg) WSC__DEC_FAIL(1002, "continuation without a message");
                if ((op == 1 || op == 2) && d->in_msg)
                    WSC__DEC_FAIL(1002, "new message inside a fragmented one");
                d->hneed = (unsigned char)(2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) +
                                           (d->masked ? 4 : 0));
                if (d->hneed > 2) continue;
            }
            {
                int l7 = d->hdr[1] & 0x7f, i;
                size_t at = 2;
                uint64_t n = (uint64_t)l7;
                if (l7 == 126) { n = (uint64_t)d->hdr[2] << 8 | d->hdr[3]; at = 4; }
                else if (l7 == 127) {
                    n = 0;
                    for (i = 0; i < 8; i++) n = n << 8 | d->hdr[2 + i];
                    at = 10;
                    if (n >> 63) WSC__DEC_FAIL(1002, "64-bit length with the top bit set");
                }
                if (d->masked) memcpy(d->mask, d->hdr + at, 4);
                d->remain = n;
                d->mpos = 0;
                d->hlen = 0;
                d->hneed = 0;
                d->phase = 1;
                if (d->opcode < 8) {
                    if (!d->in_msg) {
                        d->in_msg = 1;
                        d->msg_op = d->opcode;
                        d->msg_len = 0;
                        d->utf8 = 0;
                        d->first = 1;
                    }
                    if (d->max_message && n > d->max_message - d->msg_len)
                        WSC__DEC_FAIL(1009, "message over max_message");
                } else {
                    d->ctrl_len = 0;
                }
            }
        }
        /* payload (possibly empty) */
        {
            size_t take = len - pos;
            unsigned char *at = buf + pos;
            int last = 0, r;
            if ((uint64_t)take > d->remain) take = (size_t)d->remain;
            if (d->masked) wsc__unmask(at, take, d->mask, d->mpos);
            d->mpos += take;
            d->remain -= take;
            pos += take;
            if (d->opcode >= 8) {
                if (d->remain == 0) d->phase = 0;
                r = wsc__ctrl_in(d->ctrl, &d->ctrl_len, d->opcode, at, take, d->remain,
                                 &d->closed, &d->close_code, &d->error, cb, arg);
            } else {
                d->msg_len += take;
                if (d->remain == 0) {
                    d->phase = 0;
                    if (d->fin) { last = 1; d->in_msg = 0; }
                }
                r = wsc__data_in(d->msg_op, &d->utf8, at, take, last, &d->first,
                                 &d->close_code, &d->error, cb, arg);
            }
            if (r < 0) return r;
            if (r > 0) return (int64_t)pos;
        }
    }
    return (int64_t)pos;
}

WSC_DEF size_t wsc_ws_header(unsigned char out[14], int opcode, int fin, uint64_t len,
                             const unsigned char *mask) {
    size_t n = 2, i;
    out[0] = (unsigned char)((fin ? 0x80 : 0) | (opcode & 0x0f));
    if (len < 126) out[1] = (unsigned char)len;
    else if (len <= 0xffff) { out[1] = 126; wsc__put16(out + 2, (unsigned)len); n = 4; }
    else {
        out[1] = 127;
        for (i = 0; i < 8; i++) out[2 + i] = (unsigned char)(len >> (56 - 8 * i));
        n = 10;
    }
    if (mask) { out[1] |= 0x80; memcpy(out + n, mask, 4); n += 4; }
    return n;
}

/* >>tcp ========================================= length-prefixed TCP frames (pure) == */
WSC_DEF int64_t wsc_tcp_decode(wsc_tcp_decoder *d, unsigned char *buf, size_t len,
                               wsc_frame_cb cb, void *arg) {
    size_t pos = 0;
    if (d->close_code) return d->close_code == 1007 ? WSC_ERR_UTF8 : WSC_ERR_PROTO;
    while (pos < len && !d->closed) {
        if (d->phase == 0) {
            size_t take = 5u - d->hlen;
            if (take > len - pos) take = len - pos;
            memcpy(d->hdr + d->hlen, buf + pos, take);
            d->hlen = (unsigned char)(d->hlen + take);
            pos += take;
            if (d->hlen < 5) break;
            d->hlen = 0;
            d->len = (uint64_t)d->hdr[0] << 24 | (uint64_t)d->hdr[1] << 16 |
                     (uint64_t)d->hdr[2] << 8 | d->hdr[3];
            d->type = d->hdr[4];
            if (d->type != 1 && d->type != 2 && d->type != 8 && d->type != 9 && d->type != 10)
                WSC__DEC_FAIL(1002, "unknown TCP frame type");
            if (d->type >= 8 && d->len > 125) WSC__DEC_FAIL(1002, "control frame over 125 bytes");
            if (d->max_message && d->len > d->max_message)
                WSC__DEC_FAIL(1009, "message over max_message");
            d->remain = d->len;
            d->utf8 = 0;
            d->ctrl_len = 0;
            d->phase = 1;
            d->first_pending = 1;
        }
        {
            size_t take = len - pos;
            unsigned char *at = buf + pos;
            int r;
            if ((uint64_t)take > d->remain) take = (size_t)d->remain;
            d->remain -= take;
            pos += take;
            if (d->remain == 0) d->phase = 0;
            if (d->type >= 8)
                r = wsc__ctrl_in(d->ctrl, &d->ctrl_len, d->type, at, take, d->remain,
                                 &d->closed, &d->close_code, &d->error, cb, arg);
            else
                r = wsc__data_in(d->type, &d->utf8, at, take, d->remain == 0,
                                 &d->first_pending, &d->close_code, &d->error, cb, arg);
            if (r < 0) return r;
            if (r > 0) return (int64_t)pos;
        }
    }
    return (int64_t)pos;
}

WSC_DEF size_t wsc_tcp_header(unsigned char out[5], int type, uint32_t len) {
    out[0] = (unsigned char)(len >> 24); out[1] = (unsigned char)(len >> 16);
    out[2] = (unsigned char)(len >> 8); out[3] = (unsigned char)len;
    out[4] = (unsigned char)type;
    return 5;
}

/* >>url ============================================================ URLs ============ */
WSC_DEF int wsc_url_parse(const char *url, int *proto, char *host, size_t hostcap, int *port,
                          const char **path) {
    const char *p = url, *h, *he, *pe;
    long v = 0;
    *proto = WSC_PROTO_WS;
    if (strncmp(p, "ws://", 5) == 0) p += 5;
    else if (strncmp(p, "tcp://", 6) == 0) { p += 6; *proto = WSC_PROTO_TCP; }
    else if (strncmp(p, "wss://", 6) == 0) { p += 6; *proto = WSC_PROTO_WS | WSC_PROTO_TLS; }
    else if (strncmp(p, "tcps://", 7) == 0) { p += 7; *proto = WSC_PROTO_TCP | WSC_PROTO_TLS; }
    else if (strstr(p, "://")) return WSC_ERR_ADDR;
    if (*p == '[') { /* an IPv6 literal: hex digits, ':', '.', and a %zone */
        h = p + 1;
        for (he = h; *he && *he != ']'; he++)
            if (!(wsc__hex((unsigned char)*he) >= 0 || *he == ':' || *he == '.' || *he == '%' ||
                  (*he >= 'g' && *he <= 'z') || (*he >= 'G' && *he <= 'Z')))
                return WSC_ERR_ADDR;
        if (*he != ']' || !memchr(h, ':', (size_t)(he - h))) return WSC_ERR_ADDR;
        p = he + 1;
    } else { /* a name or an IPv4 address */
        h = p;
        while (*p && *p != ':' && *p != '/') {
            int ch = (unsigned char)*p;
            if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                  ch == '-' || ch == '.' || ch == '_'))
                return WSC_ERR_ADDR;
            p++;
        }
        he = p;
    }
    if (he == h || (size_t)(he - h) >= hostcap || *p != ':') return WSC_ERR_ADDR;
    memcpy(host, h, (size_t)(he - h));
    host[he - h] = '\0';
    p++;
    pe = p;
    while (*pe >= '0' && *pe <= '9' && v <= 65535) v = v * 10 + (*pe++ - '0');
    if (pe == p || v > 65535 || (*pe && *pe != '/')) return WSC_ERR_ADDR;
    *port = (int)v;
    *path = *pe ? pe : "/";
    return 0;
}

/* >>link ================================== peer-link messages, server list (pure) == */
typedef struct wsc__rd { const unsigned char *p; size_t n, at; int bad; } wsc__rd;

static uint64_t wsc__rd_uint(wsc__rd *r, size_t w) {
    uint64_t v = 0;
    size_t i;
    if (r->bad || w > r->n - r->at) { r->bad = 1; return 0; }
    for (i = 0; i < w; i++) v = v << 8 | r->p[r->at + i];
    r->at += w;
    return v;
}
/* a length-prefixed string; min/max bound it, nul_ok says whether NUL bytes may appear */
static wsc_str wsc__rd_str(wsc__rd *r, size_t w, size_t min, size_t max, int printable) {
    wsc_str s;
    size_t n = (size_t)wsc__rd_uint(r, w), i;
    s.ptr = "";
    s.len = 0;
    if (r->bad || n < min || n > max || n > r->n - r->at) { r->bad = 1; return s; }
    s.ptr = (const char *)r->p + r->at;
    s.len = n;
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        if (ch == 0 || (printable && (ch <= 0x20 || ch >= 0x7f))) { r->bad = 1; return s; }
    }
    r->at += n;
    return s;
}
/* n raw bytes (a nonce or a proof: fixed length, no prefix) */
static wsc_str wsc__rd_raw(wsc__rd *r, size_t n) {
    wsc_str s;
    s.ptr = "";
    s.len = 0;
    if (r->bad || n > r->n - r->at) { r->bad = 1; return s; }
    s.ptr = (const char *)r->p + r->at;
    s.len = n;
    r->at += n;
    return s;
}

/* a SUMMARY after its type byte into s (NULL: only checked); its node into *node */
static void wsc__summary_read(wsc__rd *r, wsc_summary *s, wsc_str *node) {
    uint64_t v[17];
    size_t i, nl;
    *node = wsc__rd_str(r, 1, 1, 64, 1);
    v[0] = wsc__rd_uint(r, 8);
    for (i = 1; i < 5; i++) v[i] = wsc__rd_uint(r, 4);
    for (i = 5; i < 17; i++) v[i] = wsc__rd_uint(r, 8);
    if (s) {
        s->node = *node;
        s->age_ms = 0;
        s->uptime_ms = v[0];
        for (i = 0; i < 4; i++) s->conns[i] = v[1 + i];
        s->msgs_in = v[5], s->msgs_out = v[6], s->bytes_in = v[7], s->bytes_out = v[8];
        s->fwd_in = v[9], s->fwd_out = v[10], s->bp_in = v[11], s->bp_out = v[12];
        s->dropped = v[13], s->fwd_dropped = v[14], s->mem_held = v[15], s->mem_max = v[16];
        s->nlinks = 0;
    }
    i = (size_t)wsc__rd_uint(r, 1);
    if (i > 2) r->bad = 1;
    if (s) s->bp_kind = (int)i;
    i = (size_t)wsc__rd_uint(r, 1);
    if (i > 2) r->bad = 1;
    if (s) s->bp_state = (int)i;
    nl = (size_t)wsc__rd_uint(r, 1);
    for (i = 0; i < nl && !r->bad; i++) {
        wsc_str ln = wsc__rd_str(r, 1, 1, 64, 1);
        unsigned flags = (unsigned)wsc__rd_uint(r, 1);
        uint64_t rtt = wsc__rd_uint(r, 4), rc = wsc__rd_uint(r, 4);
        if (flags > 3) r->bad = 1;
        if (s && i < WSC_MAX_PEERS && !r->bad) {
            wsc_summary_link *l = &s->links[s->nlinks++];
            l->node = ln;
            l->sub_up = (int)(flags & 1);
            l->obs_up = (int)(flags >> 1);
            l->rtt_us = rtt == 0xffffffffu ? -1 : (int64_t)rtt;
            l->reconnects = rc;
        }
    }
}

WSC_DEF int wsc_summary_parse(const unsigned char *p, size_t n, wsc_summary *s,
                              const char **why) {
    wsc__rd r;
    wsc_str node;
    r.p = p;
    r.n = n;
    r.at = 0;
    r.bad = 0;
    *why = NULL;
    if (wsc__rd_uint(&r, 1) != WSC_LINK_VERSION || wsc__rd_uint(&r, 1) != WSC_LINK_SUMMARY) {
        *why = "not a SUMMARY of this link format version";
        return WSC_ERR_PROTO;
    }
    wsc__summary_read(&r, s, &node);
    if (r.bad) { *why = "truncated or malformed SUMMARY"; return WSC_ERR_PROTO; }
    if (r.at != r.n) { *why = "trailing bytes after SUMMARY"; return WSC_ERR_PROTO; }
    return 0;
}

WSC_DEF int wsc_link_parse(const unsigned char *p, size_t n, wsc_link_msg *m, const char **why) {
    wsc__rd r;
    memset(m, 0, sizeof *m);
    r.p = p;
    r.n = n;
    r.at = 0;
    r.bad = 0;
    *why = NULL;
    if (wsc__rd_uint(&r, 1) != WSC_LINK_VERSION) {
        *why = "unknown link format version";
        return WSC_ERR_PROTO;
    }
    m->type = (int)wsc__rd_uint(&r, 1);
    if (m->type == WSC_LINK_HELLO) {
        m->node = wsc__rd_str(&r, 1, 1, 64, 1);
        m->advertise = wsc__rd_str(&r, 1, 0, 255, 1);
        m->nonce = wsc__rd_raw(&r, WSC_LINK_NONCE);
    } else if (m->type == WSC_LINK_WELCOME) {
        m->node = wsc__rd_str(&r, 1, 1, 64, 1);
        m->nonce = wsc__rd_raw(&r, WSC_LINK_NONCE);
        m->proof = wsc__rd_raw(&r, WSC_LINK_NONCE);
    } else if (m->type == WSC_LINK_AUTH) {
        m->proof = wsc__rd_raw(&r, WSC_LINK_NONCE);
    } else if (m->type == WSC_LINK_SUMMARY) {
        wsc__summary_read(&r, NULL, &m->node);
        m->payload.ptr = (const char *)p; /* the whole message, for wsc_summary_parse() */
        m->payload.len = n;
    } else if (m->type == WSC_LINK_FORWARD) {
        uint64_t plen;
        m->node = wsc__rd_str(&r, 1, 1, 64, 1);
        m->msg_id = wsc__rd_uint(&r, 8);
        m->opcode = (int)wsc__rd_uint(&r, 1);
        m->target = (int)wsc__rd_uint(&r, 1);
        if (m->opcode != WSC_TEXT && m->opcode != WSC_BINARY) {
            *why = "bad payload type";
            return WSC_ERR_PROTO;
        }
        if (m->target == WSC_TGT_MATCH) {
            size_t i;
            m->nmatch = (size_t)wsc__rd_uint(&r, 1);
            if (m->nmatch == 0 || m->nmatch > WSC_MAX_MATCH) {
                *why = "bad selector size";
                return WSC_ERR_PROTO;
            }
            for (i = 0; i < m->nmatch; i++) {
                m->keys[i] = wsc__rd_str(&r, 1, 1, 255, 0);
                m->values[i] = wsc__rd_str(&r, 2, 0, 65535, 0);
            }
        } else if (m->target == WSC_TGT_CONN) {
            m->conn_node = wsc__rd_str(&r, 1, 1, 64, 1);
            m->conn_id = wsc__rd_uint(&r, 8);
        } else if (m->target == WSC_TGT_NAMED) {
            m->name = wsc__rd_str(&r, 1, 1, 255, 0);
            m->arg = wsc__rd_str(&r, 2, 0, 65535, 0);
        } else if (m->target != WSC_TGT_ALL) {
            *why = "unknown target kind";
            return WSC_ERR_PROTO;
        }
        plen = wsc__rd_uint(&r, 4);
        if (!r.bad && plen != r.n - r.at) { *why = "payload length mismatch"; return WSC_ERR_PROTO; }
        m->payload.ptr = (const char *)p + r.at;
        m->payload.len = (size_t)plen;
        if (!r.bad) r.at += (size_t)plen;
        if (!r.bad && m->opcode == WSC_TEXT) {
            uint32_t st = 0;
            if (wsc_utf8_check(&st, (const unsigned char *)m->payload.ptr, m->payload.len) < 0 ||
                st != 0) {
                *why = "text payload is not UTF-8";
                return WSC_ERR_PROTO;
            }
        }
    } else {
        *why = "unknown link message type";
        return WSC_ERR_PROTO;
    }
    if (r.bad) { *why = "truncated or malformed link message"; return WSC_ERR_PROTO; }
    if (r.at != r.n) { *why = "trailing bytes after link message"; return WSC_ERR_PROTO; }
    return 0;
}

/* writer for link messages: counts when p is NULL, so one function sizes and encodes; a
   string too long for its length field sets bad (and is not written) instead of wrapping */
typedef struct wsc__wr { unsigned char *p; size_t at; int bad; } wsc__wr;
static void wsc__wr_uint(wsc__wr *w, uint64_t v, size_t width) {
    size_t i;
    for (i = 0; i < width; i++)
        if (w->p) w->p[w->at + i] = (unsigned char)(v >> (8 * (width - 1 - i)));
    w->at += width;
}
/* a link message to out (NULL: measure): the format version, then its type */
static void wsc__wr_begin(wsc__wr *w, unsigned char *out, int type) {
    w->p = out;
    w->at = 0;
    w->bad = 0;
    wsc__wr_uint(w, WSC_LINK_VERSION, 1);
    wsc__wr_uint(w, (uint64_t)type, 1);
}
static void wsc__wr_raw(wsc__wr *w, const void *s, size_t n) {
    if (w->p && n) memcpy(w->p + w->at, s, n);
    w->at += n;
}
static void wsc__wr_str(wsc__wr *w, const char *s, size_t n, size_t width) {
    if (width < 8 && (uint64_t)n >> (8 * width)) { w->bad = 1; return; }
    wsc__wr_uint(w, n, width);
    wsc__wr_raw(w, s, n);
}
#ifndef WSCLUSTER_NO_CLUSTER /* the rest of the link format: the cluster's own */
/* a handshake message (HELLO, WELCOME, AUTH) from m to out (NULL: measure): its length, 0
   when a field does not fit (a nonce or proof of another length, a string too long) */
static size_t wsc__link_encode_hs(const wsc_link_msg *m, unsigned char *out) {
    wsc__wr w;
    int t = m->type;
    if (t != WSC_LINK_HELLO && t != WSC_LINK_WELCOME && t != WSC_LINK_AUTH) return 0;
    if ((t != WSC_LINK_AUTH && m->nonce.len != WSC_LINK_NONCE) ||
        (t != WSC_LINK_HELLO && m->proof.len != WSC_LINK_NONCE))
        return 0;
    wsc__wr_begin(&w, out, t);
    if (t != WSC_LINK_AUTH) wsc__wr_str(&w, m->node.ptr, m->node.len, 1);
    if (t == WSC_LINK_HELLO) wsc__wr_str(&w, m->advertise.ptr, m->advertise.len, 1);
    if (t != WSC_LINK_AUTH) wsc__wr_raw(&w, m->nonce.ptr, WSC_LINK_NONCE);
    if (t != WSC_LINK_HELLO) wsc__wr_raw(&w, m->proof.ptr, WSC_LINK_NONCE);
    return w.bad ? 0 : w.at;
}

/* a SUMMARY of s to out (NULL: measure): its length, 0 when a string does not fit */
static size_t wsc__summary_encode(const wsc_summary *s, unsigned char *out) {
    wsc__wr w;
    const uint64_t v[12] = {s->msgs_in, s->msgs_out, s->bytes_in, s->bytes_out, s->fwd_in,
                            s->fwd_out, s->bp_in, s->bp_out, s->dropped, s->fwd_dropped,
                            s->mem_held, s->mem_max};
    size_t i;
    wsc__wr_begin(&w, out, WSC_LINK_SUMMARY);
    wsc__wr_str(&w, s->node.ptr, s->node.len, 1);
    wsc__wr_uint(&w, s->uptime_ms, 8);
    for (i = 0; i < 4; i++)
        wsc__wr_uint(&w, s->conns[i] > 0xffffffffu ? 0xffffffffu : s->conns[i], 4);
    for (i = 0; i < 12; i++) wsc__wr_uint(&w, v[i], 8);
    wsc__wr_uint(&w, (uint64_t)s->bp_kind, 1);
    wsc__wr_uint(&w, (uint64_t)s->bp_state, 1);
    wsc__wr_uint(&w, s->nlinks > 255 ? 255 : s->nlinks, 1);
    for (i = 0; i < s->nlinks && i < 255; i++) {
        const wsc_summary_link *l = &s->links[i];
        uint64_t rtt = l->rtt_us < 0 || l->rtt_us >= 0xffffffff ? 0xffffffffu
                                                                : (uint64_t)l->rtt_us;
        wsc__wr_str(&w, l->node.ptr, l->node.len, 1);
        wsc__wr_uint(&w, (uint64_t)((l->sub_up ? 1 : 0) | (l->obs_up ? 2 : 0)), 1);
        wsc__wr_uint(&w, rtt, 4);
        wsc__wr_uint(&w, l->reconnects > 0xffffffffu ? 0xffffffffu : l->reconnects, 4);
    }
    return w.bad ? 0 : w.at;
}

/* The handshake's proof (FORWARDING FORMAT): HMAC-SHA-256 under the secret of a label
   ("wscluster-o": the Observable's, "wscluster-s": the Subscriber's), both nonces and both
   node ids (str8). Without a secret (NULL) it is 32 zero bytes. */
static void wsc__link_proof(const char *secret, const char *label, const unsigned char *nonce_s,
                            const unsigned char *nonce_o, wsc_str node_s, wsc_str node_o,
                            unsigned char out[WSC_LINK_NONCE]) {
    unsigned char buf[16 + 2 * WSC_LINK_NONCE + 2 * 65];
    size_t n = strlen(label);
    if (!secret) { memset(out, 0, WSC_LINK_NONCE); return; }
    if (n > 16) n = 16;
    if (node_s.len > 64) node_s.len = 64; /* node ids are 1-64 bytes (the parser's bound) */
    if (node_o.len > 64) node_o.len = 64;
    memcpy(buf, label, n);
    memcpy(buf + n, nonce_s, WSC_LINK_NONCE);
    memcpy(buf + n + WSC_LINK_NONCE, nonce_o, WSC_LINK_NONCE);
    n += 2 * WSC_LINK_NONCE;
    buf[n++] = (unsigned char)node_s.len;
    memcpy(buf + n, node_s.ptr, node_s.len);
    n += node_s.len;
    buf[n++] = (unsigned char)node_o.len;
    memcpy(buf + n, node_o.ptr, node_o.len);
    n += node_o.len;
    wsc_hmac_sha256(secret, strlen(secret), buf, n, out);
}

/* 1 when two proofs are equal: every byte is compared, wherever they differ (constant time) */
static int wsc__proof_eq(const unsigned char *a, const unsigned char *b) {
    unsigned diff = 0;
    size_t i;
    for (i = 0; i < WSC_LINK_NONCE; i++) diff |= (unsigned)(a[i] ^ b[i]);
    return diff == 0;
}

WSC_DEF int wsc_peers_parse(const char *text, size_t len,
                            void (*cb)(void *arg, const wsc_peer_entry *e), void *arg) {
    size_t i = 0;
    int line = 1, count = 0;
    while (i < len) {
        char c = text[i], tmp[400];
        size_t s, n;
        wsc_peer_entry e;
        const char *path;
        if (c == '\n') { line++; i++; continue; }
        if (c == ' ' || c == '\t' || c == '\r' || c == ',') { i++; continue; }
        if (c == '#') { while (i < len && text[i] != '\n') i++; continue; }
        s = i;
        while (i < len && text[i] != '\n' && text[i] != ' ' && text[i] != '\t' &&
               text[i] != '\r' && text[i] != ',' && text[i] != '#')
            i++;
        n = i - s;
        memset(&e, 0, sizeof e);
        e.line = line;
        if (n >= sizeof tmp) {
            e.error = "entry too long";
        } else {
            size_t k;
            memcpy(tmp, text + s, n);
            tmp[n] = '\0';
            for (k = 0; k < n && !e.error; k++)
                if ((unsigned char)tmp[k] < 0x21 || (unsigned char)tmp[k] > 0x7e)
                    e.error = "non-printable character";
            if (!e.error && (wsc_url_parse(tmp, &e.proto, e.host, sizeof e.host, &e.port,
                                           &path) < 0 || e.port == 0))
                e.error = "not HOST:PORT, ws[s]://HOST:PORT[/path] or tcp[s]://HOST:PORT";
#ifndef WSCLUSTER_MBEDTLS
            if (!e.error && (e.proto & WSC_PROTO_TLS))
                e.error = "wss:// and tcps:// entries need a build with WSCLUSTER_MBEDTLS";
#endif
            if (!e.error) {
                const char *hp = strstr(tmp, "://"), *pp;
                pp = strchr(hp ? hp + 3 : tmp, '/'); /* an explicit path, if any */
                (void)path;
                e.tls = (e.proto & WSC_PROTO_TLS) != 0;
                e.proto &= ~WSC_PROTO_TLS;
                if (pp && e.proto == WSC_PROTO_TCP) e.error = "tcp:// entries take no path";
                else if (pp && strlen(pp) >= sizeof e.path) e.error = "path too long";
                else if (pp) snprintf(e.path, sizeof e.path, "%s", pp);
            }
        }
        cb(arg, &e);
        if (!e.error) count++;
    }
    return count;
}
#else /* WSCLUSTER_NO_CLUSTER: no server list to read */
WSC_DEF int wsc_peers_parse(const char *text, size_t len,
                            void (*cb)(void *arg, const wsc_peer_entry *e), void *arg) {
    (void)text, (void)len, (void)cb, (void)arg;
    return WSC_ERR_NOTBUILT;
}
#endif

/* >>resp ======================================= Redis replies and commands (pure) == */
#ifndef WSCLUSTER_NO_REDIS
/* a line ending in CRLF from p[at]: its length, or -1 while incomplete, -2 if malformed */
static int64_t wsc__resp_line(const unsigned char *p, size_t n, size_t at) {
    size_t i;
    for (i = at; i + 1 < n; i++) {
        if (p[i] == '\r') return p[i + 1] == '\n' ? (int64_t)(i - at) : -2;
        if (p[i] == '\n') return -2;
    }
    return i < n && p[i] == '\n' ? -2 : -1;
}
/* a decimal (optional '-'), all of p[at..at+len) */
static int wsc__resp_num(const unsigned char *p, size_t at, size_t len, int64_t *v) {
    size_t i = at, end = at + len;
    int neg = 0;
    uint64_t x = 0;
    if (i < end && p[i] == '-') { neg = 1; i++; }
    if (i == end || end - i > 18) return -1;
    for (; i < end; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        x = x * 10 + (uint64_t)(p[i] - '0');
    }
    *v = neg ? -(int64_t)x : (int64_t)x;
    return 0;
}

WSC_DEF int64_t wsc_resp_parse(const unsigned char *p, size_t n, size_t max_bulk,
                               wsc_resp_tok *tok, size_t max, size_t *ntok) {
    int64_t left[9]; /* elements still due at each open array level */
    int depth = 0;
    size_t at = 0, k = 0;
    *ntok = 0;
    left[0] = 1;
    while (depth > 0 || left[0] > 0) {
        wsc_resp_tok t;
        int64_t len;
        if (left[depth] == 0) { depth--; continue; }
        if (at >= n) return 0;
        len = wsc__resp_line(p, n, at + 1);
        if (len == -1) return 0;
        if (len < 0 || k == max) return WSC_ERR_PROTO;
        t.type = (char)p[at];
        t.n = 0;
        t.ptr = (const char *)p + at + 1;
        t.len = (size_t)len;
        left[depth]--;
        switch (t.type) {
        case '+':
        case '-':
            at += 1 + (size_t)len + 2;
            break;
        case ':':
            if (wsc__resp_num(p, at + 1, (size_t)len, &t.n) < 0) return WSC_ERR_PROTO;
            at += 1 + (size_t)len + 2;
            break;
        case '$':
            if (wsc__resp_num(p, at + 1, (size_t)len, &t.n) < 0 || t.n < -1 ||
                (t.n > 0 && (uint64_t)t.n > max_bulk))
                return WSC_ERR_PROTO;
            at += 1 + (size_t)len + 2;
            if (t.n == -1) { t.type = '_'; t.len = 0; break; }
            if ((uint64_t)(n - at) < (uint64_t)t.n + 2) return 0; /* no size_t wrap */
            if (p[at + (size_t)t.n] != '\r' || p[at + (size_t)t.n + 1] != '\n') return WSC_ERR_PROTO;
            t.ptr = (const char *)p + at;
            t.len = (size_t)t.n;
            at += (size_t)t.n + 2;
            break;
        case '*':
            if (wsc__resp_num(p, at + 1, (size_t)len, &t.n) < 0 || t.n < -1 ||
                t.n > (int64_t)max)
                return WSC_ERR_PROTO;
            at += 1 + (size_t)len + 2;
            t.len = 0;
            if (t.n == -1) { t.type = '_'; break; }
            if (t.n > 0) {
                if (depth == 8) return WSC_ERR_PROTO;
                left[++depth] = t.n;
            }
            break;
        default:
            return WSC_ERR_PROTO;
        }
        tok[k++] = t;
        *ntok = k;
    }
    return (int64_t)at;
}

WSC_DEF size_t wsc_resp_cmd(unsigned char *out, int argc, const char *const *argv,
                            const size_t *lens) {
    char num[32];
    size_t at = 0;
    int i, h;
    h = snprintf(num, sizeof num, "*%d\r\n", argc);
    if (out) memcpy(out, num, (size_t)h);
    at += (size_t)h;
    for (i = 0; i < argc; i++) {
        h = snprintf(num, sizeof num, "$%zu\r\n", lens[i]);
        if (out) {
            memcpy(out + at, num, (size_t)h);
            if (lens[i] && argv[i]) memcpy(out + at + (size_t)h, argv[i], lens[i]);
            memcpy(out + at + (size_t)h + lens[i], "\r\n", 2);
        }
        at += (size_t)h + lens[i] + 2;
    }
    return at;
}
#else /* WSCLUSTER_NO_REDIS: the RESP helpers go with the Redis backplane */
WSC_DEF int64_t wsc_resp_parse(const unsigned char *p, size_t n, size_t max_bulk,
                               wsc_resp_tok *tok, size_t max, size_t *ntok) {
    (void)p, (void)n, (void)max_bulk, (void)tok, (void)max;
    if (ntok) *ntok = 0;
    return WSC_ERR_NOTBUILT;
}
WSC_DEF size_t wsc_resp_cmd(unsigned char *out, int argc, const char *const *argv,
                            const size_t *lens) {
    (void)out, (void)argc, (void)argv, (void)lens;
    return 0;
}
#endif

/* >>seams ======================================== the layers and how they talk ====== */
/* Five layers, in data-flow order (see ARCHITECTURE in the manual):
     io        descriptors, poll/epoll, timers, watches, output queues, frame buffers, TLS
     proto     HTTP, the WebSocket handshakes, frames in and out, ping/pong/close, timeouts
     deliver   metadata, selectors, fan-out to local clients, the application's connections
     cluster   the peer table: discovery, Subscriber/Observable links, introductions
     backplane how a cluster-wide message leaves and arrives (the mesh of links today)
   A layer calls the layers below it. What must go up goes through a pointer the upper layer
   installed: a connection's protocol table (wsc__proto_vt, io -> proto), its owner
   (wsc__owner, proto -> deliver or cluster), the hooks in wsc__pr (proto -> cluster) and in
   wsc__cl (cluster -> backplane). The application is reached through wsc__emit().
   Every layer's state is declared here, under the layer's name, so that the context can
   hold them all; the code that owns each follows in its own section. */
typedef struct wsc__conn wsc__conn;

/* io -> proto: what a connection's protocol does with the transport */
typedef struct wsc__proto_vt {
    void (*up)(wsc_ctx *ctx, wsc__conn *c);  /* transport ready: accepted, connected, TLS done */
    void (*bytes)(wsc_ctx *ctx, wsc__conn *c, unsigned char *p, size_t n);
    void (*tick)(wsc_ctx *ctx, wsc__conn *c, int64_t now); /* each sweep, in proto's states */
    void (*lost)(wsc_ctx *ctx, wsc__conn *c, int err, const char *why); /* EOF, reset, io
                                                 timeout or failure; io frees c afterwards */
    void (*close)(wsc_ctx *ctx, wsc__conn *c); /* about to be freed: the last word */
    void (*shed)(wsc_ctx *ctx, wsc__conn *c); /* over the memory budget: close it now, saying
                                                 why (1013, or HTTP 503) */
} wsc__proto_vt;

/* proto -> owner: the layer a connection's messages are for (the application's clients in
   >>deliver, peer links in >>cluster). Owners live in their layer's state, not per
   connection, so a connection pays one pointer for them. */
typedef struct wsc__owner {
    int ping_ms, idle_ms;     /* heartbeat: ping this often, close when silent this long */
    const char *idle_opt, *idle_why; /* the option behind idle_ms; the close reason */
    uint64_t extra;           /* bytes a message may carry beyond max_message (an envelope) */
    size_t max_pending;       /* a queue's limit, real bytes (wsc__q_cost) */
    uint32_t count, max;      /* connections it holds now; its room in the table */
    int strict_subproto;      /* outbound: a server that picks no subprotocol is refused */
    void (*upgrade)(wsc_ctx *ctx, wsc__conn *c, wsc_http_req *req); /* WSC_EV_UPGRADE */
    void (*open)(wsc_ctx *ctx, wsc__conn *c);
    void (*message)(wsc_ctx *ctx, wsc__conn *c, int opcode, unsigned char *p, size_t n);
    void (*close)(wsc_ctx *ctx, wsc__conn *c, wsc_close_info *ci);
    /* set: pings carry the time they left, and each pong's round trip comes here */
    void (*pong)(wsc_ctx *ctx, wsc__conn *c, int64_t rtt_us);
} wsc__owner;

/* -- io's state: frame buffers, connections, listeners, timers, watches -- */
typedef struct wsc__buf {
    uint32_t refs;
    int cls;                    /* pool size class, -1: not pooled */
    size_t len;
    size_t cost;                /* what it occupies: header and capacity (the memory budget) */
    unsigned char *data;
    struct wsc__buf *next;      /* free list */
} wsc__buf;

/* frames are recycled by size class so that a steady stream of messages allocates nothing */
#ifndef WSC_POOL_BYTES
#define WSC_POOL_BYTES (1u << 20)
#endif
#define WSC__POOL_CLASSES 4
static const size_t wsc__pool_size[WSC__POOL_CLASSES] = {256, 2048, 16384, 131072};
typedef struct wsc__out { wsc__buf *b; size_t off; } wsc__out;

/* one state per connection; io moves it through CONNECTING, TLS, DRAIN, LINGER and DEAD,
   proto through HTTP, BODY, HS, OPEN and CLOSING */
enum wsc__state {
    WSC__FREE = 0,
    WSC__CONNECTING, /* io: non-blocking connect in progress */
    WSC__HS,         /* proto, client: request sent, reading the 101 response */
    WSC__HTTP,       /* proto, server: reading a request head */
    WSC__BODY,       /* proto, server: reading a request body */
    WSC__TLS,        /* io: TLS handshake in progress (either role) */
    WSC__OPEN,       /* proto: messages flow */
    WSC__CLOSING,    /* proto: we sent a close frame and wait for the peer's */
    WSC__DRAIN,      /* io: flush what is queued, then shut down writing */
    WSC__LINGER,     /* io: wait for the peer to close (reads discarded) */
    WSC__DEAD        /* io: freed at the end of this loop iteration */
};

typedef union wsc__dec { wsc_ws_decoder ws; wsc_tcp_decoder tcp; } wsc__dec;

/* kept small: an idle connection holds only this (no decoder, no buffers). Each layer
   writes its own fields only. */
struct wsc__conn {
    /* io */
    int fd;
    uint32_t idx;
    unsigned char state, dirty;
    unsigned char fam;          /* 4 or 6: addr holds the peer's address; 0: see name */
    unsigned char tls_want;     /* TLS handshake: the poll events it waits for */
    unsigned char ev;           /* epoll: the events registered */
    unsigned char tls_wblock;   /* TLS: the head frame is inside a blocked write */
    uint16_t port;
    uint32_t qh, qn, qcap;
    int64_t deadline, last_rx;
    unsigned char addr[16];
    const wsc__proto_vt *pfn;   /* the protocol this connection speaks */
    void *tls;                  /* the TLS session (WSCLUSTER_MBEDTLS), NULL for plain */
    wsc__out *q;                /* ring of queued frames */
    size_t pending;             /* wire bytes queued */
    size_t held;                /* memory the queue keeps alive: what max_pending counts */
    unsigned char busy;         /* its input buffer is being delivered: not to be freed */
    unsigned char internal;     /* the library's own plumbing (a broker connection): never
                                   reached through the public API */
    char *name;                 /* outbound: "host:port" as dialled */
    wsc__out qin[1];            /* the queue's first ring: an idle connection needs no more */
    /* proto */
    unsigned char cls, proto, server, opened, by_peer, replied, got_msg;
    unsigned char over;         /* accepted past its owner's room: a peer link or nothing */
    int16_t peer;               /* cluster: index in the peer table; < 0 none (>>cluster) */
    int close_code;
    uint32_t body_need, scan;   /* HTTP: body bytes expected; head scan position/length */
    int64_t last_ping;
    wsc__owner *own;      /* who gets its messages: the application or the cluster */
    wsc__dec *dec;              /* only while a frame is partly received */
    unsigned char *in;          /* HTTP head/body, or a message being assembled */
    size_t in_len, in_cap;
    char *path, *subproto, *close_reason;
    char *accept;               /* outbound: the Sec-WebSocket-Accept we expect */
    /* deliver */
    char *meta;                 /* one block: "key\0value\0" pairs, metalen bytes */
    uint32_t nmeta, metalen;
    char pathin[16];            /* short paths live here (c->path points to it) */
    void *userdata;
};

typedef struct wsc__listener {
    int fd, proto, port, tls;
    const wsc__proto_vt *pfn;   /* what its connections speak */
    wsc__owner *own;      /* and whose they are */
    char host[256];
} wsc__listener;
typedef struct wsc__timer {
    int id, interval, repeat, lib; /* lib: the library's own (wsc_timer_cancel leaves it) */
    int64_t due;
    void (*cb)(wsc_ctx *, void *);
    void *arg;
} wsc__timer;
typedef struct wsc__watch { int fd, events; wsc_watch_fn fn; void *user; } wsc__watch;

typedef struct wsc__io {
    wsc__conn **slots;
    uint32_t *gens, *freelist, *dirty;
    uint32_t nfree, ndirty, nslots, nconns;
    uint32_t hi;                /* slots at or above hi are empty: loops stop there */
    wsc__listener lst[WSC_MAX_LISTENERS];
    int nlst;
    wsc__timer timers[WSC_MAX_TIMERS];
    int ntimers, next_timer_id;
    wsc__watch watch[WSC_MAX_WATCH + 1]; /* the application's, and wsc_post's pipe */
    int nwatch;
    struct pollfd *pfds;
    uint32_t *pidx;             /* pfds[i] -> slot index, listener or watch */
    size_t pcap;
    unsigned char *rbuf;        /* one receive buffer shared by every connection */
    unsigned char *wbuf;        /* where small queued frames are gathered for one write */
    int need_reap;
    int64_t now;                /* the loop's clock, read at each wake-up */
    int64_t next_sweep, accept_pause_until;
    int epfd, lst_paused;       /* the epoll backend (WSCLUSTER_EPOLL); -1: poll() */
    wsc__buf *pool[WSC__POOL_CLASSES];
    uint32_t npool[WSC__POOL_CLASSES];
    wsc__conn *closing;         /* whose WSC_EV_CLOSE is being emitted: still readable */
    /* the memory budget (max_memory): every byte of buffered message data, counted once */
    size_t mem, mem_peak, budget;
    int pressure;               /* mem passed 3/4 of the budget: large assemblers wait */
    int shedding;               /* closing connections for room: no nested shedding */
    wsc_id lead;                /* under pressure, the one large assembler still read */
    void *tls;                  /* the TLS configuration (WSCLUSTER_MBEDTLS) */
    char peerbuf[64];
} wsc__io;

/* -- proto's state: the decoder of every connection at rest, and the cluster's hooks -- */
typedef struct wsc__pr {
    wsc__dec scratch;
    /* set by >>cluster when it is on: route() may take a WebSocket upgrade (returns 1 when
       it took it, -1 when it refused it, having answered); claim() may take an accepted TCP
       connection by its first message (returns 1 when it did) */
    int (*route)(wsc_ctx *ctx, wsc__conn *c, wsc_http_req *req);
    int (*claim)(wsc_ctx *ctx, wsc__conn *c, int opcode, unsigned char *p, size_t n);
} wsc__pr;

/* -- deliver's state: the application's owner, named selectors -- */
#ifndef WSC_MAX_SELECTORS
#define WSC_MAX_SELECTORS 16
#endif
typedef struct wsc__selector { char name[64]; wsc_selector_fn fn; void *ud; } wsc__selector;
typedef struct wsc__dl {
    wsc__owner app;             /* the owner of the application's connections */
    wsc__selector sel[WSC_MAX_SELECTORS];
    int nsel;
} wsc__dl;

/* -- cluster's state: the peer table -- */
#define WSC__DEDUP_WINDOW 1024
/* a window over one origin's message ids: the last WSC__DEDUP_WINDOW of them, seen or not */
typedef struct wsc__win {
    uint64_t max;
    uint64_t bits[WSC__DEDUP_WINDOW / 64];
    unsigned char on;
} wsc__win;
/* the largest FORWARD envelope: origin, id, type bytes, 8 selector pairs, length */
#define WSC__LINK_OVERHEAD (2u + 65u + 8u + 2u + 1u + 8u * (1u + 255u + 2u + 65535u) + 4u)

typedef struct wsc__peer {
    char url[300];              /* normalised: ws://host:port/path or tcp://host:port */
    char node[65];              /* learned from WELCOME or HELLO */
    unsigned char used, intro, self, dup, mark;
    unsigned char removed;      /* left the list, kept while its link to us lives */
    unsigned char sub_ok;       /* our link saw its WELCOME, with a right proof */
    wsc_id sub, obs;            /* our link to it (Subscriber); its link to us (Observable) */
    unsigned char nonce[WSC_LINK_NONCE]; /* our link's HELLO nonce, until its WELCOME */
    int64_t hs_until;           /* our link's WELCOME is due by then */
    int fails;
    int64_t next_try, last_rx;
    uint64_t attempts;
    uint64_t unreach;           /* messages dropped since it became unreachable */
    wsc__win win;               /* the duplicate window over its message ids on our link */
    int64_t rtt_us;             /* heartbeat round trips on its links: the last (-1: none) */
    uint64_t rtt_n, rtt_sum, rtt_hist[WSC_RTT_BUCKETS]; /* ... and their histogram */
    unsigned char *sum;         /* its last SUMMARY (sum_len bytes), received at sum_at */
    size_t sum_len;
    int64_t sum_at;
    unsigned char sum_due;      /* ours is to go down its Observable link at the next tick */
} wsc__peer;

/* a connection's peer index: an Observable waiting for its HELLO, or answered without an
   entry (an instance that reached itself) */
#define WSC__PEER_NONE (-1)
#define WSC__PEER_ANSWERED (-2)

/* a peer's link to us that has not proved the secret yet: it has no table entry, so it is
   kept here, from its open to its AUTH (or its close); a slot per link of the room */
#define WSC__HS_SLOTS (2 * WSC_MAX_PEERS)
typedef struct wsc__hs {
    wsc_id id;                  /* the link; 0: a free slot */
    int64_t since;              /* opened at: the oldest is evicted first, and times out */
    unsigned char welcomed;     /* its HELLO was answered: its AUTH is due */
    unsigned char timed_out;    /* closing: handshake_timeout_ms passed */
    unsigned char proof[WSC_LINK_NONCE]; /* the proof_s its AUTH must carry */
    char node[65], adv[256];    /* what its HELLO said, believed once it proves the secret */
} wsc__hs;

#ifndef WSCLUSTER_NO_CLUSTER
#define WSC__PEER_SLOTS WSC_MAX_PEERS
#else
#define WSC__PEER_SLOTS 1       /* no peer table to hold: 46 KB less per context */
#endif
typedef struct wsc__cl {
    int on, started, npeers;
    char advertise[300], cpath[128];
    wsc__peer peers[WSC__PEER_SLOTS];
    wsc__hs *hs;                /* WSC__HS_SLOTS: Observable links in their handshake
                                   (allocated by wsc_create when clustered, else NULL) */
    wsc__owner link;            /* the owner of every peer link */
    uint64_t list_hash;
    int list_err;
    int64_t next_refresh, next_summary;
    /* set by >>backplane: a FORWARD arrived on Subscriber link c from peer p */
    void (*arrived)(wsc_ctx *ctx, wsc__conn *c, wsc__peer *p, const wsc_link_msg *m);
} wsc__cl;

/* -- backplane's state: the transport, message ids, wsc_post's pipe -- */
/* a way for cluster-wide messages to reach the other instances */
typedef struct wsc__transport {
    const char *name;
    void (*publish)(wsc_ctx *ctx, const wsc_link_msg *m);
} wsc__transport;

/* the Redis backplane: two connections, one publishing, one subscribed (or reading the
   stream), each a RESP client on the loop */
#define WSC__REDIS_DUE 4096     /* publishes awaiting their reply, at most */
typedef struct wsc__redis {
    char host[256], user[128], pass[256], channel[128];
    int port, db, tls, stream;
    uint64_t maxlen;            /* stream: XADD MAXLEN ~ this [100000] */
    wsc_id pub, sub;
    unsigned char pub_ok, sub_ok; /* ready: authenticated, selected; subscribed / reading */
    unsigned char sub_step;     /* what the subscriber's next reply is (WSC__RS_*) */
    uint32_t pub_hs, sub_hs;    /* handshake replies still due */
    uint32_t pub_due;           /* replies to publishes still due */
    const char *pub_cmd;        /* their command, for the log */
    int fails, timer;
    int64_t next_try, sub_rx, pub_rx, last_ping;
    char last_id[48];           /* stream: the last entry delivered ("" none yet) */
    uint64_t ord;               /* stream: its number (entries-added counts from 1) ... */
    unsigned char ord_ok;       /* ... when known (Redis 7) */
    unsigned char bad_logged, down_logged, was_up;
    wsc__owner own;             /* counts its connections in their room (2) */
} wsc__redis;

/* the duplicate window of each origin, shared by every transport (a message that came over
   the mesh is a duplicate when it comes over Redis too) */
#ifndef WSC_MAX_ORIGINS
#define WSC_MAX_ORIGINS 256
#endif
typedef struct wsc__origin { char node[65]; int64_t used; wsc__win win; } wsc__origin;

typedef struct wsc__bp {
    const wsc__transport *tp;   /* the mesh of peer links */
    uint64_t msg_seq;
    int wake[2];                /* wsc_post: jobs from other threads */
    wsc__redis *redis;          /* the Redis backplane (NULL: the mesh alone) */
    wsc__origin *origins;       /* WSC_MAX_ORIGINS of them, in a cluster */
    int norigins;
} wsc__bp;

/* -- the context: one sub-struct per layer -- */
struct wsc_ctx {
    wsc_config cfg;
    char node[65];              /* this instance's id: set at create, read by every layer */
    wsc__io io;
    wsc__pr pr;
    wsc__dl dl;
    wsc__cl cl;
    wsc__bp bp;
    wsc_stats st;               /* counters: each is bumped by the layer that sees it */
    uint64_t rng;
    volatile int stop;
    int events, depth;          /* events this wsc_poll(); > 0 while the handler runs */
    int shutting;               /* wsc_shutdown() or wsc_destroy() under way */
    int64_t born;               /* wsc_create()'s time (wsc_now_ms): uptime */
};

/* >>io ================================== the reactor: fds, timers, queues, memory ====== */
WSC_DEF void wsc_log(wsc_ctx *ctx, int level, const char *fmt, ...) {
    char line[512];
    va_list ap;
    if (level > ctx->cfg.log_level) return;
    char *p;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    for (p = line; *p; p++) /* one line each, whatever a peer put in a reason or a name */
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    if (ctx->cfg.log) { ctx->cfg.log(ctx->cfg.user, level, line); return; }
    {
        static const char *names[] = {"", "ERROR", "WARN", "INFO", "DEBUG"};
        struct timespec ts;
        struct tm tm;
        time_t sec;
        clock_gettime(CLOCK_REALTIME, &ts);
        sec = ts.tv_sec;
        gmtime_r(&sec, &tm);
        fprintf(stderr, "%02d:%02d:%02d.%03ld wsc %-5s %s\n", tm.tm_hour, tm.tm_min,
                tm.tm_sec, ts.tv_nsec / 1000000, names[level < 1 || level > 4 ? 0 : level],
                line);
    }
}

static void *wsc__alloc(wsc_ctx *ctx, size_t n) { return WSC_MALLOC(n, ctx->cfg.alloc_user); }
static void wsc__free(wsc_ctx *ctx, void *p) { if (p) WSC_FREE(p, ctx->cfg.alloc_user); }
static void *wsc__realloc(wsc_ctx *ctx, void *p, size_t n) {
    return WSC_REALLOC(p, n, ctx->cfg.alloc_user);
}
static char *wsc__strndup(wsc_ctx *ctx, const char *s, size_t n) {
    char *d = (char *)wsc__alloc(ctx, n + 1);
    if (d) { memcpy(d, s, n); d[n] = '\0'; }
    return d;
}

static uint64_t wsc__rand(wsc_ctx *ctx) { /* xorshift64*, seeded from /dev/urandom */
    ctx->rng ^= ctx->rng >> 12;
    ctx->rng ^= ctx->rng << 25;
    ctx->rng ^= ctx->rng >> 27;
    return ctx->rng * 2685821657736338717ull;
}

static int wsc__urandom(void *out, size_t n) {
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    size_t got = 0;
    if (fd < 0) return -1;
    while (got < n) {
        ssize_t r = read(fd, (char *)out + got, n - got);
        if (r <= 0) { if (r < 0 && errno == EINTR) continue; close(fd); return -1; }
        got += (size_t)r;
    }
    close(fd);
    return 0;
}

/* -- ids -- */
static wsc_id wsc__id(const wsc_ctx *ctx, const wsc__conn *c) {
    return (wsc_id)ctx->io.gens[c->idx] << 32 | (wsc_id)(c->idx + 1);
}

static wsc__conn *wsc__get(wsc_ctx *ctx, wsc_id id) {
    uint32_t idx = (uint32_t)(id & 0xffffffffu), gen = (uint32_t)(id >> 32);
    wsc__conn *c;
    if (!ctx || idx == 0 || idx > ctx->io.nslots) return NULL;
    c = ctx->io.slots[idx - 1];
    if (!c || ctx->io.gens[idx - 1] != gen) return NULL;
    if (c->state == WSC__DEAD && c != ctx->io.closing) return NULL; /* CLOSE may still ask */
    return c;
}

/* the application's handler: the only way up out of the library */
static void wsc__emit(wsc_ctx *ctx, wsc__conn *c, int ev, void *data) {
    ctx->events++;
    if (!ctx->cfg.on_event) return;
    ctx->depth++;
    ctx->cfg.on_event(ctx, c ? wsc__id(ctx, c) : 0, ev, data, ctx->cfg.user);
    ctx->depth--;
}

static void wsc__emit_error(wsc_ctx *ctx, wsc__conn *c, int err, const char *msg) {
    wsc_error_info e;
    e.err = err;
    e.msg = msg;
    wsc__emit(ctx, c, WSC_EV_ERROR, &e);
}

/* the peer's address as text, for logs (one at a time: a buffer in the context) */
static const char *wsc__peer_s(wsc_ctx *ctx, const wsc__conn *c) {
    char ip[INET6_ADDRSTRLEN] = "?";
    if (c->name) return c->name;
    if (c->fam == 4) inet_ntop(AF_INET, c->addr, ip, sizeof ip);
    else if (c->fam == 6) inet_ntop(AF_INET6, c->addr, ip, sizeof ip);
    snprintf(ctx->io.peerbuf, sizeof ctx->io.peerbuf, c->fam == 6 ? "[%s]:%u" : "%s:%u", ip,
             (unsigned)c->port);
    return ctx->io.peerbuf;
}

/* -- the memory budget --
   io counts every byte of buffered message data once: input buffers (messages being
   assembled, HTTP heads and bodies), decoders, queue rings and the frame buffers in use (a
   frame shared by a fan-out counts once). Idle pooled buffers are a fixed cost outside it.
   Near the budget (3/4), connections assembling large messages are not read, but for the
   one holding the most, so that it can finish and let go; at the budget, the connection
   holding the most is closed for room (clients before peer links, never one holding
   little), and when none can be, the allocation is refused. */
#define WSC__MEM_BIG ((size_t)64 << 10) /* a large assembler; less is "little" */
#define WSC__MEM_CTRL 512               /* control frames may use the reserve ... */
#define WSC__MEM_RESERVE ((size_t)1 << 20) /* ... of this much over the budget */

static void wsc__mem_add(wsc_ctx *ctx, size_t n) {
    ctx->io.mem += n;
    if (ctx->io.mem > ctx->io.mem_peak) ctx->io.mem_peak = ctx->io.mem;
}
static void wsc__mem_sub(wsc_ctx *ctx, size_t n) { ctx->io.mem -= n; }
/* what a connection could give back: its input buffer and what its queue keeps */
static size_t wsc__mem_of(const wsc__conn *c) { return c->in_cap + c->held; }

static wsc__conn *wsc__mem_victim(wsc_ctx *ctx, const wsc__conn *self) {
    wsc__conn *best[2] = {NULL, NULL}; /* the client, the peer link holding the most */
    uint32_t i;
    for (i = 0; i < ctx->io.hi; i++) {
        wsc__conn *c = ctx->io.slots[i];
        int k;
        if (!c || c == self || c->busy || c->state >= WSC__DRAIN || c->state == WSC__CONNECTING ||
            wsc__mem_of(c) < WSC__MEM_BIG)
            continue;
        k = c->cls != WSC_CLIENT;
        if (!best[k] || wsc__mem_of(c) > wsc__mem_of(best[k])) best[k] = c;
    }
    return best[0] ? best[0] : best[1];
}

/* room for n more bytes, for self (NULL: a frame): closes the connections holding the most
   until it fits. 0, or WSC_ERR_LIMIT (self holds the most, or nothing can be shed). */
static int wsc__mem_room(wsc_ctx *ctx, wsc__conn *self, size_t n) {
    wsc__io *io = &ctx->io;
    while (wsc__over(io->mem, n, io->budget)) {
        wsc__conn *v;
        if (io->shedding) return WSC_ERR_LIMIT;
        v = wsc__mem_victim(ctx, self);
        if (!v || (self && !self->busy && wsc__mem_of(self) > wsc__mem_of(v)))
            return WSC_ERR_LIMIT;
        wsc_log(ctx, WSC_LOG_WARN, "conn %s: holds %zu bytes; closed for room (max_memory=%zu)",
                wsc__peer_s(ctx, v), wsc__mem_of(v), io->budget);
        ctx->st.closed_memory++;
        io->shedding = 1;
        v->pfn->shed(ctx, v);
        io->shedding = 0;
    }
    return 0;
}

static void wsc__io_stats(wsc_ctx *ctx, wsc_stats *out) {
    *out = ctx->st;
    out->mem_held = ctx->io.mem;
    out->mem_peak = ctx->io.mem_peak;
    out->mem_max = ctx->io.budget;
}

/* -- frame buffers: reference counted, pooled by size class -- */
static wsc__buf *wsc__buf_new(wsc_ctx *ctx, size_t len) {
    wsc__buf *b;
    int k = 0;
    size_t cost;
    while (k < WSC__POOL_CLASSES && len > wsc__pool_size[k]) k++;
    if (len > SIZE_MAX - sizeof(wsc__buf)) return NULL;
    cost = sizeof(wsc__buf) + (k < WSC__POOL_CLASSES ? wsc__pool_size[k] : len);
    if (wsc__over(ctx->io.mem, cost, ctx->io.budget) && wsc__mem_room(ctx, NULL, cost) < 0 &&
        (cost > WSC__MEM_CTRL || (ctx->io.mem > ctx->io.budget &&
                                  ctx->io.mem - ctx->io.budget > WSC__MEM_RESERVE - cost)))
        return NULL;
    if (k < WSC__POOL_CLASSES && ctx->io.pool[k]) {
        b = ctx->io.pool[k];
        ctx->io.pool[k] = b->next;
        ctx->io.npool[k]--;
    } else {
        size_t cap = k < WSC__POOL_CLASSES ? wsc__pool_size[k] : len;
        b = (wsc__buf *)wsc__alloc(ctx, sizeof(wsc__buf) + cap);
        if (!b) return NULL;
        b->cls = k < WSC__POOL_CLASSES ? k : -1;
        b->data = (unsigned char *)(b + 1);
        b->cost = cost;
    }
    wsc__mem_add(ctx, b->cost);
    b->refs = 1;
    b->len = len;
    b->next = NULL;
    return b;
}
static void wsc__buf_unref(wsc_ctx *ctx, wsc__buf *b) {
    if (!b) return;
    WSC_ASSERT(b->refs > 0);
    if (--b->refs > 0) return;
    wsc__mem_sub(ctx, b->cost);
    if (b->cls >= 0 && ctx->io.npool[b->cls] < WSC_POOL_BYTES / wsc__pool_size[b->cls]) {
        b->next = ctx->io.pool[b->cls];
        ctx->io.pool[b->cls] = b;
        ctx->io.npool[b->cls]++;
        return;
    }
    wsc__free(ctx, b);
}
static wsc__buf *wsc__buf_of(wsc_ctx *ctx, const void *p, size_t n) {
    wsc__buf *b = wsc__buf_new(ctx, n);
    if (b && n) memcpy(b->data, p, n);
    return b;
}

/* -- output queues -- */
static void wsc__mark_dirty(wsc_ctx *ctx, wsc__conn *c) {
    if (!c->dirty) { c->dirty = 1; ctx->io.dirty[ctx->io.ndirty++] = c->idx; }
}

/* drop queued output; keep_partial keeps a frame already partly written, so that what
   follows it (a close frame) does not land in the middle of a frame on the wire */
/* a queued frame's cost to its connection: the whole buffer (shared or not) and its slot */
static size_t wsc__q_cost(const wsc__buf *b) { return b->cost + sizeof(wsc__out); }

/* the queue's head frame is written: let go of it */
static void wsc__q_pop(wsc_ctx *ctx, wsc__conn *c) {
    wsc__buf *b = c->q[c->qh].b;
    c->held -= wsc__q_cost(b);
    c->qh = (c->qh + 1) & (c->qcap - 1);
    c->qn--;
    wsc__buf_unref(ctx, b);
}

static void wsc__q_clear(wsc_ctx *ctx, wsc__conn *c, int keep_partial) {
    wsc__out keep = {NULL, 0};
    int kept = keep_partial && c->qn > 0 && (c->q[c->qh].off > 0 || c->tls_wblock);
    if (kept) { keep = c->q[c->qh]; c->qh = (c->qh + 1) & (c->qcap - 1); c->qn--; }
    while (c->qn) wsc__q_pop(ctx, c);
    c->qh = 0;
    c->pending = 0;
    c->held = 0;
    if (kept) {
        c->q[0] = keep;
        c->qn = 1;
        c->pending = keep.b->len - keep.off;
        c->held = wsc__q_cost(keep.b);
    }
}

/* queue one frame (takes a reference): 0 or WSC_ERR_NOMEM */
static int wsc__q_push(wsc_ctx *ctx, wsc__conn *c, wsc__buf *b) {
    if (c->qn == c->qcap) {
        uint32_t ncap = c->qcap < 4 ? 4 : c->qcap * 2, i;
        wsc__out *nq = (wsc__out *)wsc__alloc(ctx, ncap * sizeof *nq);
        if (!nq) return WSC_ERR_NOMEM;
        for (i = 0; i < c->qn; i++) nq[i] = c->q[(c->qh + i) & (c->qcap - 1)];
        if (c->q != c->qin) {
            wsc__free(ctx, c->q);
            wsc__mem_sub(ctx, c->qcap * sizeof *nq);
        }
        wsc__mem_add(ctx, ncap * sizeof *nq);
        c->q = nq;
        c->qh = 0;
        c->qcap = ncap;
    }
    c->q[(c->qh + c->qn) & (c->qcap - 1)].b = b;
    c->q[(c->qh + c->qn) & (c->qcap - 1)].off = 0;
    c->qn++;
    b->refs++;
    c->pending += b->len;
    c->held += wsc__q_cost(b);
    ctx->st.bytes_out += b->len;
    wsc__mark_dirty(ctx, c);
    return 0;
}

/* queue a frame made here and let go of it: control frames and replies */
static int wsc__q_give(wsc_ctx *ctx, wsc__conn *c, wsc__buf *b) {
    int r;
    if (!b) return WSC_ERR_NOMEM;
    r = wsc__q_push(ctx, c, b);
    wsc__buf_unref(ctx, b);
    return r;
}

static void wsc__kill(wsc_ctx *ctx, wsc__conn *c) {
    if (c->state != WSC__DEAD) { c->state = WSC__DEAD; ctx->io.need_reap = 1; }
}

/* io gives up on a connection: its protocol hears why, then it is freed */
static void wsc__lose(wsc_ctx *ctx, wsc__conn *c, int err, const char *why) {
    if (c->state == WSC__DEAD) return;
    c->pfn->lost(ctx, c, err, why);
    wsc__kill(ctx, c);
}

/* -- the table -- */
static wsc__conn *wsc__conn_new(wsc_ctx *ctx, int fd, const wsc__proto_vt *pfn, int proto,
                                int server, wsc__owner *own) {
    wsc__io *io = &ctx->io;
    wsc__conn *c;
    if (io->nfree == 0) return NULL;
    c = (wsc__conn *)wsc__alloc(ctx, sizeof *c);
    if (!c) return NULL;
    memset(c, 0, sizeof *c);
    c->idx = io->freelist[--io->nfree];
    io->slots[c->idx] = c;
    if (c->idx + 1 > io->hi) io->hi = c->idx + 1;
    io->nconns++;
    c->fd = fd;
    c->pfn = pfn;
    c->own = own;
    own->count++;
    c->proto = (unsigned char)proto;
    c->server = (unsigned char)server;
    c->cls = server ? WSC_CLIENT : WSC_SUBSCRIBER;
    c->peer = WSC__PEER_NONE;
    c->last_rx = c->last_ping = ctx->io.now;
    c->deadline = ctx->io.now + ctx->cfg.handshake_timeout_ms;
    c->q = c->qin;
    c->qcap = 1;
    c->ev = 0xff; /* not registered with epoll yet */
    return c;
}

#ifndef WSCLUSTER_NO_CLUSTER
/* a new id for the same socket: the old one goes stale (proto's TCP hand-over) */
static void wsc__conn_renew_id(wsc_ctx *ctx, wsc__conn *c) {
    if (++ctx->io.gens[c->idx] == 0) ctx->io.gens[c->idx] = 1;
}
#endif

static void wsc__tls_free(wsc_ctx *ctx, wsc__conn *c);
static void wsc__in_release(wsc_ctx *ctx, wsc__conn *c);

static void wsc__conn_free(wsc_ctx *ctx, wsc__conn *c) {
    wsc__io *io = &ctx->io;
    io->closing = c; /* its protocol (and owner) hear of it first, and may still read it */
    c->pfn->close(ctx, c);
    io->closing = NULL;
    /* io owns every byte a connection holds: it frees them all */
    if (c->fd >= 0) close(c->fd);
    wsc__q_clear(ctx, c, 0);
    wsc__in_release(ctx, c);
    wsc__free(ctx, c->subproto);
    wsc__free(ctx, c->close_reason);
    wsc__free(ctx, c->meta);
    if (c->path != c->pathin) wsc__free(ctx, c->path);
    if (c->q != c->qin) {
        wsc__free(ctx, c->q);
        wsc__mem_sub(ctx, c->qcap * sizeof *c->q);
    }
    if (c->dec) wsc__mem_sub(ctx, sizeof *c->dec);
    wsc__free(ctx, c->dec);
    wsc__tls_free(ctx, c);
    wsc__free(ctx, c->name);
    wsc__free(ctx, c->accept);
    io->slots[c->idx] = NULL;
    while (io->hi > 0 && !io->slots[io->hi - 1]) io->hi--;
    if (++io->gens[c->idx] == 0) io->gens[c->idx] = 1;
    io->freelist[io->nfree++] = c->idx;
    io->nconns--;
    c->own->count--;
    wsc__free(ctx, c);
}

/* a connection's input buffer: an HTTP head and body, or a message being assembled. It
   doubles, but never past most (the largest it can need: doubling past it would hold
   memory no message uses). WSC_ERR_LIMIT: no room in the memory budget */
static int wsc__in_reserve(wsc_ctx *ctx, wsc__conn *c, size_t need, size_t most) {
    if (need > c->in_cap) {
        size_t ncap = c->in_cap ? c->in_cap : 1024;
        unsigned char *n;
        while (ncap < need) ncap = ncap > SIZE_MAX / 2 ? need : 2 * ncap; /* no wrap */
        if (ncap > most && most >= need) ncap = most;
        if (wsc__mem_room(ctx, c, ncap - c->in_cap) < 0) return WSC_ERR_LIMIT;
        n = (unsigned char *)wsc__realloc(ctx, c->in, ncap);
        if (!n) return WSC_ERR_NOMEM;
        wsc__mem_add(ctx, ncap - c->in_cap);
        c->in = n;
        c->in_cap = ncap;
    }
    return 0;
}
static int wsc__in_add(wsc_ctx *ctx, wsc__conn *c, const unsigned char *p, size_t n,
                       size_t most) {
    int r;
    if (n == 0) return 0;
    if ((r = wsc__in_reserve(ctx, c, c->in_len + n, most)) < 0) return r;
    memcpy(c->in + c->in_len, p, n);
    c->in_len += n;
    return 0;
}
static void wsc__in_release(wsc_ctx *ctx, wsc__conn *c) {
    wsc__mem_sub(ctx, c->in_cap);
    wsc__free(ctx, c->in);
    c->in = NULL;
    c->in_len = c->in_cap = 0;
}
/* >>tls ========================== io: TLS under the byte stream (mbedTLS) ========== */
#ifdef WSCLUSTER_MBEDTLS
#include <mbedtls/version.h>
#include <mbedtls/ssl.h>
#include <mbedtls/entropy.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/pk.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>

typedef struct wsc__tlsctx {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_ssl_config srv, cli;
    mbedtls_x509_crt cert, ca;
    mbedtls_pk_context key;
    int have_srv, have_cli;
} wsc__tlsctx;

typedef struct wsc__tlsconn {
    mbedtls_ssl_context ssl;
    int fd;
    size_t iplen;         /* 4 or 16 when the server was dialled by address, else 0 */
    unsigned char ip[16]; /* that address, which the certificate must name */
} wsc__tlsconn;

static const char *wsc__tls_err(int r, char *buf, size_t cap) {
    mbedtls_strerror(r, buf, cap);
    return buf;
}

static int wsc__bio_send(void *arg, const unsigned char *p, size_t n) {
    ssize_t w = send(((wsc__tlsconn *)arg)->fd, p, n, MSG_NOSIGNAL);
    if (w >= 0) return (int)w;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return MBEDTLS_ERR_SSL_WANT_WRITE;
    return MBEDTLS_ERR_NET_SEND_FAILED;
}

static int wsc__bio_recv(void *arg, unsigned char *p, size_t n) {
    ssize_t r = recv(((wsc__tlsconn *)arg)->fd, p, n, 0);
    if (r >= 0) return (int)r; /* 0: EOF, which mbedTLS reports as a closed connection */
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return MBEDTLS_ERR_SSL_WANT_READ;
    return MBEDTLS_ERR_NET_RECV_FAILED;
}

static void wsc__tls_free_ctx(wsc_ctx *ctx) {
    wsc__tlsctx *t = (wsc__tlsctx *)ctx->io.tls;
    if (!t) return;
    mbedtls_ssl_config_free(&t->srv);
    mbedtls_ssl_config_free(&t->cli);
    mbedtls_x509_crt_free(&t->cert);
    mbedtls_x509_crt_free(&t->ca);
    mbedtls_pk_free(&t->key);
    mbedtls_ctr_drbg_free(&t->drbg);
    mbedtls_entropy_free(&t->entropy);
    wsc__free(ctx, t);
    ctx->io.tls = NULL;
}

/* the shared TLS state, made on first use: server side when server, client side else */
static int wsc__tls_setup(wsc_ctx *ctx, int server) {
    wsc__tlsctx *t = (wsc__tlsctx *)ctx->io.tls;
    char eb[128];
    int r;
    if (!t) {
        t = (wsc__tlsctx *)wsc__alloc(ctx, sizeof *t);
        if (!t) return WSC_ERR_NOMEM;
        memset(t, 0, sizeof *t);
        mbedtls_entropy_init(&t->entropy);
        mbedtls_ctr_drbg_init(&t->drbg);
        mbedtls_ssl_config_init(&t->srv);
        mbedtls_ssl_config_init(&t->cli);
        mbedtls_x509_crt_init(&t->cert);
        mbedtls_x509_crt_init(&t->ca);
        mbedtls_pk_init(&t->key);
        ctx->io.tls = t;
        r = mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy,
                                  (const unsigned char *)"wscluster", 9);
        if (r) {
            wsc_log(ctx, WSC_LOG_ERROR, "TLS: seeding the RNG failed: %s", wsc__tls_err(r, eb, sizeof eb));
            wsc__tls_free_ctx(ctx);
            return WSC_ERR_SYS;
        }
    }
    if (server && !t->have_srv) {
        const wsc_config *c = &ctx->cfg;
        if (c->tls_cert_pem)
            r = mbedtls_x509_crt_parse(&t->cert, (const unsigned char *)c->tls_cert_pem,
                                       strlen(c->tls_cert_pem) + 1);
        else if (c->tls_cert) r = mbedtls_x509_crt_parse_file(&t->cert, c->tls_cert);
        else {
            wsc_log(ctx, WSC_LOG_ERROR, "TLS listener needs tls_cert and tls_key");
            return WSC_ERR_INVAL;
        }
        if (r) {
            wsc_log(ctx, WSC_LOG_ERROR, "TLS: certificate %s: %s",
                    c->tls_cert ? c->tls_cert : "(tls_cert_pem)", wsc__tls_err(r, eb, sizeof eb));
            return WSC_ERR_INVAL;
        }
#if MBEDTLS_VERSION_MAJOR >= 3
        if (c->tls_key_pem)
            r = mbedtls_pk_parse_key(&t->key, (const unsigned char *)c->tls_key_pem,
                                     strlen(c->tls_key_pem) + 1, NULL, 0,
                                     mbedtls_ctr_drbg_random, &t->drbg);
        else if (c->tls_key)
            r = mbedtls_pk_parse_keyfile(&t->key, c->tls_key, NULL, mbedtls_ctr_drbg_random,
                                         &t->drbg);
#else
        if (c->tls_key_pem)
            r = mbedtls_pk_parse_key(&t->key, (const unsigned char *)c->tls_key_pem,
                                     strlen(c->tls_key_pem) + 1, NULL, 0);
        else if (c->tls_key) r = mbedtls_pk_parse_keyfile(&t->key, c->tls_key, NULL);
#endif
        else r = -1;
        if (r) {
            wsc_log(ctx, WSC_LOG_ERROR, "TLS: private key %s: %s",
                    c->tls_key ? c->tls_key : "(tls_key_pem or none)",
                    r == -1 ? "missing" : wsc__tls_err(r, eb, sizeof eb));
            return WSC_ERR_INVAL;
        }
#if MBEDTLS_VERSION_MAJOR >= 3
        r = mbedtls_pk_check_pair(&t->cert.pk, &t->key, mbedtls_ctr_drbg_random, &t->drbg);
#else
        r = mbedtls_pk_check_pair(&t->cert.pk, &t->key);
#endif
        if (r) {
            wsc_log(ctx, WSC_LOG_ERROR, "TLS: the private key does not belong to the certificate "
                    "(tls_key / tls_cert)");
            return WSC_ERR_INVAL;
        }
        if ((r = mbedtls_ssl_config_defaults(&t->srv, MBEDTLS_SSL_IS_SERVER,
                                             MBEDTLS_SSL_TRANSPORT_STREAM,
                                             MBEDTLS_SSL_PRESET_DEFAULT)) != 0 ||
            (r = mbedtls_ssl_conf_own_cert(&t->srv, &t->cert, &t->key)) != 0) {
            wsc_log(ctx, WSC_LOG_ERROR, "TLS: server setup: %s", wsc__tls_err(r, eb, sizeof eb));
            return WSC_ERR_INVAL;
        }
        mbedtls_ssl_conf_rng(&t->srv, mbedtls_ctr_drbg_random, &t->drbg);
        t->have_srv = 1;
    }
    if (!server && !t->have_cli) {
        const wsc_config *c = &ctx->cfg;
        r = 0;
        if (c->tls_ca_pem)
            r = mbedtls_x509_crt_parse(&t->ca, (const unsigned char *)c->tls_ca_pem,
                                       strlen(c->tls_ca_pem) + 1);
        else if (c->tls_ca) r = mbedtls_x509_crt_parse_file(&t->ca, c->tls_ca);
        else if (!c->tls_insecure) {
            wsc_log(ctx, WSC_LOG_ERROR, "wss:// and tcps:// need tls_ca to verify servers "
                    "(or tls_insecure for tests)");
            return WSC_ERR_INVAL;
        }
        if (r) {
            wsc_log(ctx, WSC_LOG_ERROR, "TLS: CA %s: %s", c->tls_ca ? c->tls_ca : "(tls_ca_pem)",
                    wsc__tls_err(r, eb, sizeof eb));
            return WSC_ERR_INVAL;
        }
        if ((r = mbedtls_ssl_config_defaults(&t->cli, MBEDTLS_SSL_IS_CLIENT,
                                             MBEDTLS_SSL_TRANSPORT_STREAM,
                                             MBEDTLS_SSL_PRESET_DEFAULT)) != 0) {
            wsc_log(ctx, WSC_LOG_ERROR, "TLS: client setup: %s", wsc__tls_err(r, eb, sizeof eb));
            return WSC_ERR_INVAL;
        }
        mbedtls_ssl_conf_rng(&t->cli, mbedtls_ctr_drbg_random, &t->drbg);
        if (c->tls_insecure && (c->tls_ca || c->tls_ca_pem))
            wsc_log(ctx, WSC_LOG_WARN, "tls_insecure ignored: tls_ca is given, servers are verified");
        if (c->tls_insecure && !c->tls_ca && !c->tls_ca_pem) {
            wsc_log(ctx, WSC_LOG_WARN, "TLS SERVER VERIFICATION IS OFF (tls_insecure): any "
                    "server, or anyone in between, is trusted");
            mbedtls_ssl_conf_authmode(&t->cli, MBEDTLS_SSL_VERIFY_NONE);
        } else {
            mbedtls_ssl_conf_authmode(&t->cli, MBEDTLS_SSL_VERIFY_REQUIRED);
            mbedtls_ssl_conf_ca_chain(&t->cli, &t->ca, NULL);
        }
        t->have_cli = 1;
    }
    return 0;
}

/* A server dialled by address is certified by an iPAddress subjectAltName (RFC 5280, RFC
   6125), which mbedTLS 2.28 never looks at: it matches the host string against dNSName
   entries and the CN only, refusing standard certificates for an address and accepting
   one that spells the address as a DNS name. So such hosts get no hostname in mbedTLS and
   this check instead. A %zone names the interface, not the address: it is not compared. */
static size_t wsc__tls_ip(const char *host, unsigned char ip[16]) {
    char b[64], *zone;
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        host++;
        n -= 2;
    }
    if (n >= sizeof b) return 0;
    memcpy(b, host, n);
    b[n] = '\0';
    if (inet_pton(AF_INET, b, ip) == 1) return 4;
    if ((zone = strchr(b, '%')) != NULL) *zone = '\0';
    return inet_pton(AF_INET6, b, ip) == 1 ? 16 : 0;
}

/* mbedTLS's verify callback, per session: the chain is verified as for any server; the leaf
   (depth 0) must also name the address. 2.28 and 3.x keep every subjectAltName entry, with
   its tag, in subject_alt_names, including the iPAddress ones they do not interpret. No
   match reads as mbedTLS's own name mismatch, so the handshake fails the usual way. */
static int wsc__tls_verify_ip(void *arg, mbedtls_x509_crt *crt, int depth, uint32_t *flags) {
    const wsc__tlsconn *s = (const wsc__tlsconn *)arg;
    const mbedtls_x509_sequence *san;
    if (depth != 0) return 0;
    for (san = &crt->subject_alt_names; san; san = san->next)
        if (san->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_IP_ADDRESS) &&
            san->buf.len == s->iplen && memcmp(san->buf.p, s->ip, s->iplen) == 0)
            return 0;
    *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
    return 0;
}

static void wsc__tls_free(wsc_ctx *ctx, wsc__conn *c) {
    wsc__tlsconn *s = (wsc__tlsconn *)c->tls;
    if (!s) return;
    mbedtls_ssl_free(&s->ssl);
    wsc__free(ctx, s);
    c->tls = NULL;
}

/* drive the handshake as far as the socket allows */
static void wsc__tls_step(wsc_ctx *ctx, wsc__conn *c) {
    wsc__tlsconn *s = (wsc__tlsconn *)c->tls;
    int r = mbedtls_ssl_handshake(&s->ssl);
    char eb[128], msg[512];
    if (r == 0) { c->pfn->up(ctx, c); return; }
    if (r == MBEDTLS_ERR_SSL_WANT_READ) { c->tls_want = POLLIN; return; }
    if (r == MBEDTLS_ERR_SSL_WANT_WRITE) { c->tls_want = POLLOUT; return; }
    wsc__tls_err(r, eb, sizeof eb);
    if (r == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
        char vi[160], a[INET6_ADDRSTRLEN] = "";
        uint32_t f = mbedtls_ssl_get_verify_result(&s->ssl);
        int n;
        if (s->iplen && (f & MBEDTLS_X509_BADCERT_CN_MISMATCH)) {
            /* mbedTLS would say "CN does not match": the CN was never the question */
            f &= ~(uint32_t)MBEDTLS_X509_BADCERT_CN_MISMATCH;
            if (!inet_ntop(s->iplen == 4 ? AF_INET : AF_INET6, s->ip, a, sizeof a))
                snprintf(a, sizeof a, "the address");
        }
        n = f ? mbedtls_x509_crt_verify_info(vi, sizeof vi, "", f) : 0;
        while (n > 0 && (vi[n - 1] == '\n' || vi[n - 1] == ' ')) vi[--n] = '\0';
        snprintf(msg, sizeof msg, "TLS handshake with %s failed: %s (%s%s%s%s%s)",
                 wsc__peer_s(ctx, c), eb, n > 0 ? vi : "", n > 0 && a[0] ? "; " : "",
                 a[0] ? "the certificate does not name " : n > 0 ? "" : "?", a,
                 a[0] ? " in an iPAddress subjectAltName" : "");
    } else {
        snprintf(msg, sizeof msg, "TLS handshake with %s failed: %s", wsc__peer_s(ctx, c), eb);
    }
    wsc_log(ctx, c->server ? WSC_LOG_INFO : WSC_LOG_WARN, "%s", msg);
    ctx->st.refused += c->server;
    wsc__lose(ctx, c, WSC_ERR_HANDSHAKE, msg);
}

static int wsc__tls_start(wsc_ctx *ctx, wsc__conn *c, const char *host) {
    wsc__tlsctx *t = (wsc__tlsctx *)ctx->io.tls;
    wsc__tlsconn *s = (wsc__tlsconn *)wsc__alloc(ctx, sizeof *s);
    if (!s) return WSC_ERR_NOMEM;
    mbedtls_ssl_init(&s->ssl);
    s->fd = c->fd;
    c->tls = s;
    s->iplen = host ? wsc__tls_ip(host, s->ip) : 0;
    /* an address: NULL said explicitly, or 2.28.10 and 3.6.3+ refuse to verify without a
       name; it also keeps the address out of SNI, where RFC 6066 allows names only */
    if (mbedtls_ssl_setup(&s->ssl, c->server ? &t->srv : &t->cli) != 0 ||
        (host && mbedtls_ssl_set_hostname(&s->ssl, s->iplen ? NULL : host) != 0))
        return WSC_ERR_NOMEM;
    if (s->iplen) mbedtls_ssl_set_verify(&s->ssl, wsc__tls_verify_ip, s);
    mbedtls_ssl_set_bio(&s->ssl, s, wsc__bio_send, wsc__bio_recv, NULL);
    c->state = WSC__TLS;
    c->tls_want = POLLIN;
    return 0;
}

/* like recv(): > 0 bytes, 0 end of stream, -1 with errno (EAGAIN: would block) */
static ssize_t wsc__tls_recv(wsc_ctx *ctx, wsc__conn *c, unsigned char *p, size_t n) {
    int r = mbedtls_ssl_read(&((wsc__tlsconn *)c->tls)->ssl, p, n);
    char eb[128];
    if (r > 0) return r;
    if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE) {
        errno = EAGAIN;
        return -1;
    }
    if (r == 0 || r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) return 0;
    wsc_log(ctx, WSC_LOG_DEBUG, "conn %s: TLS: %s", wsc__peer_s(ctx, c), wsc__tls_err(r, eb, sizeof eb));
    errno = ECONNRESET;
    return -1;
}

static ssize_t wsc__tls_send(wsc__conn *c, const unsigned char *p, size_t n) {
    int r = mbedtls_ssl_write(&((wsc__tlsconn *)c->tls)->ssl, p, n);
    if (r >= 0) { c->tls_wblock = 0; return r; }
    if (r == MBEDTLS_ERR_SSL_WANT_WRITE || r == MBEDTLS_ERR_SSL_WANT_READ) {
        c->tls_wblock = 1;
        errno = EAGAIN;
        return -1;
    }
    errno = ECONNRESET;
    return -1;
}

static void wsc__tls_close_notify(wsc__conn *c) {
    if (c->tls) mbedtls_ssl_close_notify(&((wsc__tlsconn *)c->tls)->ssl);
}
#else /* no TLS: every path that could create a session refuses first */
static void wsc__tls_free_ctx(wsc_ctx *ctx) { (void)ctx; }
static int wsc__tls_setup(wsc_ctx *ctx, int server) {
    (void)server;
    wsc_log(ctx, WSC_LOG_ERROR, "wss:// and tcps:// need a build with WSCLUSTER_MBEDTLS");
    return WSC_ERR_INVAL;
}
static void wsc__tls_free(wsc_ctx *ctx, wsc__conn *c) { (void)ctx; (void)c; }
static void wsc__tls_step(wsc_ctx *ctx, wsc__conn *c) { wsc__kill(ctx, c); }
static int wsc__tls_start(wsc_ctx *ctx, wsc__conn *c, const char *host) {
    (void)ctx; (void)c; (void)host;
    return WSC_ERR_INVAL;
}
static ssize_t wsc__tls_recv(wsc_ctx *ctx, wsc__conn *c, unsigned char *p, size_t n) {
    (void)ctx; (void)c; (void)p; (void)n;
    errno = ECONNRESET;
    return -1;
}
static ssize_t wsc__tls_send(wsc__conn *c, const unsigned char *p, size_t n) {
    (void)c; (void)p; (void)n;
    errno = ECONNRESET;
    return -1;
}
static void wsc__tls_close_notify(wsc__conn *c) { (void)c; }
#endif

/* >>loop ============================== io: sockets, poll/epoll, timers, watches ====== */
static int wsc__nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL, 0);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -1;
    return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* Backpressure: a connection whose queue holds half of its limit (max_pending) is not read
   until it drains below that; TCP then pushes back on its sender, and its own traffic (an
   echo, say) cannot grow the queue to the slow-consumer limit. */
static int wsc__q_full(const wsc__conn *c) { return c->held >= c->own->max_pending / 2; }
/* near the memory budget, a large assembler waits, but for the lead (see the budget) */
static int wsc__mem_waits(const wsc_ctx *ctx, const wsc__conn *c) {
    return ctx->io.pressure && c->in_cap >= WSC__MEM_BIG && wsc__id(ctx, c) != ctx->io.lead;
}
static int wsc__reading(const wsc_ctx *ctx, const wsc__conn *c) {
    return (!wsc__q_full(c) && !wsc__mem_waits(ctx, c)) || c->state == WSC__LINGER;
}
static short wsc__events(const wsc_ctx *ctx, const wsc__conn *c) {
    if (c->state == WSC__CONNECTING) return POLLOUT;
    if (c->state == WSC__TLS) return (short)c->tls_want;
    return (short)((wsc__reading(ctx, c) ? POLLIN : 0) | (c->qn ? POLLOUT : 0));
}

/* -- the epoll backend: interest changes only when a socket blocks or unblocks -- */
#define WSC__EV_LISTENER (1ull << 63) /* epoll tags: listener | index, */
#define WSC__EV_WATCH (1ull << 62)    /* a watched fd (fd << 16 | index), */
                                      /* or a connection: slot << 32 | fd */
#ifdef WSCLUSTER_EPOLL
static int wsc__ep(wsc_ctx *ctx, int op, int fd, unsigned ev, uint64_t tag) {
    struct epoll_event e;
    memset(&e, 0, sizeof e);
    e.events = (ev & POLLIN ? (unsigned)EPOLLIN : 0u) | (ev & POLLOUT ? (unsigned)EPOLLOUT : 0u);
    e.data.u64 = tag;
    return epoll_ctl(ctx->io.epfd, op, fd, &e);
}
static uint64_t wsc__ev_tag(const wsc__conn *c) {
    return (uint64_t)c->idx << 32 | (uint32_t)c->fd;
}
static void wsc__ev_sync(wsc_ctx *ctx, wsc__conn *c) {
    unsigned char want = (unsigned char)wsc__events(ctx, c); /* POLLOUT: a flush blocked */
    if (ctx->io.epfd < 0 || want == c->ev || c->state == WSC__DEAD) return;
    if (wsc__ep(ctx, c->ev == 0xff ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c->fd, want, wsc__ev_tag(c)) == 0)
        c->ev = want;
}
#else
static void wsc__ev_sync(wsc_ctx *ctx, wsc__conn *c) { (void)ctx; (void)c; }
#endif

/* -- writing -- */
/* a write failed for good: an open connection's handler hears of it, then it goes */
static void wsc__write_failed(wsc_ctx *ctx, wsc__conn *c, const char *why) {
    wsc_log(ctx, WSC_LOG_DEBUG, "conn %s: send: %s", wsc__peer_s(ctx, c), why);
    wsc__lose(ctx, c, WSC_ERR_CLOSED, c->state == WSC__DRAIN || c->state == WSC__LINGER
                                          ? NULL : "send failed: connection reset");
}

/* TLS: one record per frame through mbedTLS (no gathering write). 1: all written */
static int wsc__flush_tls(wsc_ctx *ctx, wsc__conn *c) {
    while (c->qn > 0) {
        wsc__out *o = &c->q[c->qh];
        ssize_t n = wsc__tls_send(c, o->b->data + o->off, o->b->len - o->off);
        if (n < 0) {
            if (errno == EAGAIN) return 0;
            wsc__write_failed(ctx, c, "TLS error");
            return 0;
        }
        o->off += (size_t)n;
        c->pending -= (size_t)n;
        if (o->off == o->b->len) wsc__q_pop(ctx, c);
    }
    return 1;
}

/* write as much of the queue as the socket takes, in one sendmsg() per WSC_MAX_IOV frames;
   1 when the queue is empty */
static int wsc__flush_plain(wsc_ctx *ctx, wsc__conn *c) {
    while (c->qn > 0) {
        struct iovec iov[WSC_MAX_IOV];
        struct msghdr mh;
        size_t total = 0, sent, used = 0;
        uint32_t i, cnt = 0;
        ssize_t n;
        /* small frames are copied together into the loop's write buffer: the kernel's cost
           is per iovec, and a fan-out queues many tiny frames back to back */
        for (i = 0; i < c->qn && cnt < WSC_MAX_IOV; i++) {
            wsc__out *o = &c->q[(c->qh + i) & (c->qcap - 1)];
            unsigned char *p = o->b->data + o->off;
            size_t len = o->b->len - o->off;
            if (len <= WSC__SMALL_FRAME && used + len <= WSC__WBUF) {
                if (cnt > 0 && (unsigned char *)iov[cnt - 1].iov_base + iov[cnt - 1].iov_len ==
                                   ctx->io.wbuf + used) {
                    iov[cnt - 1].iov_len += len; /* extends the run being copied */
                } else {
                    iov[cnt].iov_base = ctx->io.wbuf + used;
                    iov[cnt++].iov_len = len;
                }
                memcpy(ctx->io.wbuf + used, p, len);
                used += len;
            } else {
                iov[cnt].iov_base = p;
                iov[cnt++].iov_len = len;
            }
            total += len;
        }
        memset(&mh, 0, sizeof mh);
        mh.msg_iov = iov;
        mh.msg_iovlen = (unsigned short)cnt; /* size_t in glibc, int in musl: both take it */
        n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            wsc__write_failed(ctx, c, strerror(errno));
            return 0;
        }
        sent = (size_t)n;
        WSC_ASSERT(sent <= total && sent <= c->pending);
        c->pending -= sent;
        while (sent > 0) {
            wsc__out *o = &c->q[c->qh];
            size_t left = o->b->len - o->off;
            if (sent < left) { o->off += sent; break; }
            sent -= left;
            wsc__q_pop(ctx, c);
        }
        if ((size_t)n < total) return 0; /* socket buffer full: POLLOUT will resume */
    }
    return 1;
}

static void wsc__read(wsc_ctx *ctx, wsc__conn *c);
static void wsc__flush(wsc_ctx *ctx, wsc__conn *c) {
    int paused = !wsc__reading(ctx, c);
    if (c->state == WSC__CONNECTING || c->state == WSC__DEAD || c->state == WSC__LINGER) return;
    if (c->state == WSC__TLS) {
        if (c->tls_want == POLLOUT) wsc__tls_step(ctx, c);
    } else if ((c->tls ? wsc__flush_tls(ctx, c) : wsc__flush_plain(ctx, c)) &&
               c->state == WSC__DRAIN) {
        wsc__tls_close_notify(c);
        shutdown(c->fd, SHUT_WR);
        c->state = WSC__LINGER;
        c->deadline = ctx->io.now + ctx->cfg.close_timeout_ms;
    }
    wsc__ev_sync(ctx, c);
    /* reading again: what TLS decrypted meanwhile is not signalled by the socket */
    if (paused && c->tls && wsc__reading(ctx, c) && c->state < WSC__DRAIN) wsc__read(ctx, c);
}

static void wsc__flush_dirty(wsc_ctx *ctx) {
    uint32_t i;
    for (i = 0; i < ctx->io.ndirty; i++) {
        wsc__conn *c = ctx->io.slots[ctx->io.dirty[i]];
        if (!c || !c->dirty) continue;
        c->dirty = 0;
        wsc__flush(ctx, c);
    }
    ctx->io.ndirty = 0;
}

/* write what is queued, then close: every failure and every plain HTTP reply ends so */
static void wsc__drain(wsc_ctx *ctx, wsc__conn *c) {
    c->state = WSC__DRAIN;
    c->deadline = ctx->io.now + ctx->cfg.close_timeout_ms;
    wsc__mark_dirty(ctx, c);
}

/* -- reading -- */
static void wsc__read(wsc_ctx *ctx, wsc__conn *c) {
    int rounds;
    if (c->state == WSC__TLS) {
        wsc__tls_step(ctx, c);
        wsc__ev_sync(ctx, c);
        if (c->state == WSC__TLS || c->state == WSC__DEAD) return;
    }
    if (!wsc__reading(ctx, c)) { /* paused since it was registered */
        wsc__ev_sync(ctx, c);
        return;
    }
    /* TLS may hold decrypted bytes the socket no longer signals: read until it blocks */
    for (rounds = 0; rounds < (c->tls ? 64 : 4) && wsc__reading(ctx, c); rounds++) {
        ssize_t n = c->tls ? wsc__tls_recv(ctx, c, ctx->io.rbuf, WSC_RECV_BUF)
                           : recv(c->fd, ctx->io.rbuf, WSC_RECV_BUF, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            wsc_log(ctx, WSC_LOG_DEBUG, "conn %s: recv: %s", wsc__peer_s(ctx, c), strerror(errno));
            wsc__lose(ctx, c, WSC_ERR_CLOSED, NULL);
            return;
        }
        if (n == 0) { /* EOF: clean after a close handshake, abnormal (1006) otherwise */
            wsc__lose(ctx, c, WSC_ERR_CLOSED, NULL);
            return;
        }
        c->last_rx = ctx->io.now;
        if (c->state < WSC__DRAIN) c->pfn->bytes(ctx, c, ctx->io.rbuf, (size_t)n);
        /* DRAIN, LINGER: discard until the peer closes */
        if (c->state == WSC__DEAD || (!c->tls && (size_t)n < WSC_RECV_BUF)) return;
    }
}

/* the transport is up: TLS first where asked, then the protocol */
static void wsc__transport_up(wsc_ctx *ctx, wsc__conn *c) {
    if (c->tls) {
        c->state = WSC__TLS;
        wsc__tls_step(ctx, c);
    } else {
        c->pfn->up(ctx, c);
    }
    wsc__ev_sync(ctx, c);
}

#ifndef WSCLUSTER_NO_CLIENT
static void wsc__connected(wsc_ctx *ctx, wsc__conn *c) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err) {
        char msg[160];
        snprintf(msg, sizeof msg, "connect to %s failed: %s", wsc__peer_s(ctx, c), strerror(err));
        wsc_log(ctx, WSC_LOG_INFO, "%s", msg);
        wsc__lose(ctx, c, WSC_ERR_SYS, msg);
        return;
    }
    wsc__transport_up(ctx, c);
}
#endif

static void wsc__accept(wsc_ctx *ctx, wsc__listener *l);

/* a socket is ready: connect completed, readable, writable */
static void wsc__ready(wsc_ctx *ctx, wsc__conn *c, short re) {
#ifndef WSCLUSTER_NO_CLIENT
    if (c->state == WSC__CONNECTING) {
        wsc__connected(ctx, c);
        return;
    }
#endif
    if (re & (POLLIN | POLLHUP | POLLERR)) wsc__read(ctx, c);
    if ((re & POLLOUT) && c->state != WSC__DEAD) wsc__flush(ctx, c);
}

/* -- timeouts: io's own states here, the protocol's through its tick -- */
static void wsc__sweep(wsc_ctx *ctx) {
    uint32_t i;
    int64_t now = ctx->io.now;
    for (i = 0; i < ctx->io.hi; i++) {
        wsc__conn *c = ctx->io.slots[i];
        if (!c) continue;
        switch (c->state) {
        case WSC__CONNECTING:
        case WSC__TLS:
            if (now >= c->deadline) {
                char msg[160];
                snprintf(msg, sizeof msg, "%s %s timed out (handshake_timeout_ms=%d)",
                         c->state == WSC__TLS ? "TLS handshake with" : "connect to",
                         wsc__peer_s(ctx, c), ctx->cfg.handshake_timeout_ms);
                wsc_log(ctx, WSC_LOG_INFO, "%s", msg);
                wsc__lose(ctx, c, WSC_ERR_TIMEOUT, msg);
            }
            break;
        case WSC__DRAIN:
        case WSC__LINGER:
            if (now >= c->deadline) wsc__kill(ctx, c);
            break;
        case WSC__DEAD:
        case WSC__FREE:
            break;
        default:
            if (wsc__q_full(c)) c->last_rx = now; /* not read while its queue drains */
            c->pfn->tick(ctx, c, now);
            break;
        }
    }
}

static void wsc__reap(wsc_ctx *ctx) {
    while (ctx->io.need_reap) {
        uint32_t i;
        ctx->io.need_reap = 0;
        for (i = 0; i < ctx->io.hi; i++)
            if (ctx->io.slots[i] && ctx->io.slots[i]->state == WSC__DEAD)
                wsc__conn_free(ctx, ctx->io.slots[i]);
    }
}

/* -- timers -- */
static int wsc__timer_add(wsc_ctx *ctx, int ms, int repeat, void (*cb)(wsc_ctx *, void *),
                          void *arg, int lib) {
    int i;
    for (i = 0; i < WSC_MAX_TIMERS; i++) {
        wsc__timer *t = &ctx->io.timers[i];
        if (t->id) continue;
        if (++ctx->io.next_timer_id <= 0) ctx->io.next_timer_id = 1;
        t->id = ctx->io.next_timer_id;
        t->interval = ms > 0 ? ms : 1;
        t->repeat = repeat;
        t->lib = lib;
        t->due = wsc_now_ms() + ms;
        t->cb = cb;
        t->arg = arg;
        if (i >= ctx->io.ntimers) ctx->io.ntimers = i + 1;
        return t->id;
    }
    return WSC_ERR_LIMIT;
}

static void wsc__run_timers(wsc_ctx *ctx) {
    int i;
    for (i = 0; i < ctx->io.ntimers; i++) {
        wsc__timer *t = &ctx->io.timers[i];
        if (t->id > 0 && ctx->io.now >= t->due) {
            if (t->repeat) t->due = ctx->io.now + t->interval;
            else t->id = 0;
            t->cb(ctx, t->arg);
        }
    }
    while (ctx->io.ntimers > 0 && ctx->io.timers[ctx->io.ntimers - 1].id == 0) ctx->io.ntimers--;
}

/* -- watched descriptors -- */
/* the application's WSC_MAX_WATCH, and one of the library's (wsc_post's pipe) */
static int wsc__watch_add(wsc_ctx *ctx, int fd, int events, wsc_watch_fn fn, void *user) {
    wsc__io *io = &ctx->io;
    int i, slot = -1;
    for (i = 0; i < io->nwatch; i++) {
        if (io->watch[i].fd == fd) { slot = i; break; }
        if (io->watch[i].fd < 0 && slot < 0) slot = i;
    }
    if (slot < 0) {
        if (io->nwatch >= WSC_MAX_WATCH + 1) return WSC_ERR_LIMIT;
        slot = io->nwatch;
    }
#ifdef WSCLUSTER_EPOLL
    if (io->epfd >= 0) {
        uint64_t tag = (uint64_t)WSC__EV_WATCH | ((uint64_t)(uint32_t)fd << 16) | (uint64_t)(unsigned)slot;
        int op = (slot < io->nwatch && io->watch[slot].fd == fd) ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
        if (wsc__ep(ctx, op, fd, (unsigned)events, tag) < 0) return WSC_ERR_SYS;
    }
#endif
    io->watch[slot].fd = fd;
    io->watch[slot].events = events;
    io->watch[slot].fn = fn;
    io->watch[slot].user = user;
    if (slot == io->nwatch) io->nwatch++;
    return 0;
}

static int wsc__watch_del(wsc_ctx *ctx, int fd) {
    wsc__io *io = &ctx->io;
    int i;
    for (i = 0; fd >= 0 && i < io->nwatch; i++) {
        if (io->watch[i].fd != fd) continue;
#ifdef WSCLUSTER_EPOLL
        if (io->epfd >= 0) wsc__ep(ctx, EPOLL_CTL_DEL, fd, 0, 0);
#endif
        io->watch[i].fd = -1;
        io->watch[i].fn = NULL;
        while (io->nwatch > 0 && io->watch[io->nwatch - 1].fd < 0) io->nwatch--;
        return 0;
    }
    return WSC_ERR_STALE;
}

static void wsc__watch_ready(wsc_ctx *ctx, int w, int fd, int revents) {
    wsc__watch *x = &ctx->io.watch[w];
    if (w >= ctx->io.nwatch || x->fd != fd || !x->fn) return; /* unwatched meanwhile */
    ctx->depth++;
    x->fn(ctx, fd, revents, x->user);
    ctx->depth--;
    ctx->events++;
}

/* -- one turn of the loop -- */
/* how long to wait: the caller's timeout, shortened by whatever falls due first */
static int wsc__wait_ms(wsc_ctx *ctx, int wait) {
    wsc__io *io = &ctx->io;
    int l;
    if (io->nconns > 0) {
        int64_t d = io->next_sweep - io->now;
        if (d < 0) d = 0;
        if (wait < 0 || d < wait) wait = (int)d;
    }
    if (io->now < io->accept_pause_until) {
        int64_t d = io->accept_pause_until - io->now;
        if (wait < 0 || d < wait) wait = (int)d;
    }
    for (l = 0; l < io->ntimers; l++) {
        if (io->timers[l].id > 0) {
            int64_t d = io->timers[l].due - io->now;
            if (d < 0) d = 0;
            if (wait < 0 || d < wait) wait = (int)d;
        }
    }
    return wait;
}

/* poll(): listeners, watched fds, then every connection; pidx maps back */
static int wsc__build_pfds(wsc_ctx *ctx, size_t *out) {
    wsc__io *io = &ctx->io;
    size_t np = 0, need = (size_t)io->nlst + (size_t)io->nwatch + io->nconns;
    uint32_t i;
    int l;
    if (need > io->pcap) {
        size_t cap = need + 64;
        struct pollfd *p = (struct pollfd *)wsc__realloc(ctx, io->pfds, cap * sizeof *p);
        uint32_t *x;
        if (!p) return WSC_ERR_NOMEM;
        io->pfds = p;
        x = (uint32_t *)wsc__realloc(ctx, io->pidx, cap * sizeof *x);
        if (!x) return WSC_ERR_NOMEM;
        io->pidx = x;
        io->pcap = cap;
    }
    for (l = 0; l < io->nlst; l++) {
        io->pfds[np].fd = io->lst[l].fd;
        io->pfds[np].events = io->now < io->accept_pause_until ? 0 : POLLIN;
        io->pfds[np].revents = 0;
        io->pidx[np++] = (uint32_t)l;
    }
    for (l = 0; l < io->nwatch; l++) {
        io->pfds[np].fd = io->watch[l].fd; /* -1 (a free entry) is ignored by poll() */
        io->pfds[np].events = (short)io->watch[l].events;
        io->pfds[np].revents = 0;
        io->pidx[np++] = (uint32_t)l;
    }
    for (i = 0; i < io->hi && np < need; i++) {
        wsc__conn *c = io->slots[i];
        if (!c) continue;
        io->pfds[np].fd = c->fd;
        io->pfds[np].events = wsc__events(ctx, c);
        io->pfds[np].revents = 0;
        io->pidx[np++] = i;
    }
    *out = np;
    return 0;
}

/* wait for readiness and dispatch it */
static int wsc__io_wait(wsc_ctx *ctx, int wait) {
    wsc__io *io = &ctx->io;
    size_t np = 0, k;
    int n;
#ifdef WSCLUSTER_EPOLL
    if (io->epfd >= 0) {
        struct epoll_event evs[256];
        int l, paused = io->now < io->accept_pause_until;
        if (paused != io->lst_paused) { /* stop polling listeners while out of descriptors */
            for (l = 0; l < io->nlst; l++)
                wsc__ep(ctx, EPOLL_CTL_MOD, io->lst[l].fd, paused ? 0u : (unsigned)POLLIN,
                        WSC__EV_LISTENER | (uint64_t)(unsigned)l);
            io->lst_paused = paused;
        }
        n = epoll_wait(io->epfd, evs, 256, wait);
        if (n < 0 && errno != EINTR) {
            wsc_log(ctx, WSC_LOG_ERROR, "epoll_wait: %s", strerror(errno));
            return WSC_ERR_SYS;
        }
        io->now = wsc_now_ms();
        for (l = 0; l < n; l++) {
            uint64_t tag = evs[l].data.u64;
            unsigned e = evs[l].events;
            short re = (short)((e & EPOLLIN ? POLLIN : 0) | (e & EPOLLOUT ? POLLOUT : 0) |
                               (e & EPOLLERR ? POLLERR : 0) | (e & EPOLLHUP ? POLLHUP : 0));
            wsc__conn *c;
            if (tag & WSC__EV_LISTENER) {
                if (!io->lst_paused && (int)(tag & 0xff) < io->nlst)
                    wsc__accept(ctx, &io->lst[tag & 0xff]);
                continue;
            }
            if (tag & WSC__EV_WATCH) {
                wsc__watch_ready(ctx, (int)(tag & 0xffff), (int)(uint32_t)(tag >> 16), re);
                continue;
            }
            c = io->slots[(uint32_t)(tag >> 32)];
            if (!c || c->fd != (int)(uint32_t)tag || c->state == WSC__DEAD) continue;
            wsc__ready(ctx, c, re);
        }
        return 0;
    }
#endif
    if (wsc__build_pfds(ctx, &np) < 0) return WSC_ERR_NOMEM;
    n = poll(io->pfds, (nfds_t)np, wait);
    if (n < 0 && errno != EINTR) {
        wsc_log(ctx, WSC_LOG_ERROR, "poll: %s", strerror(errno));
        return WSC_ERR_SYS;
    }
    io->now = wsc_now_ms();
    for (k = 0; n > 0 && k < np; k++) {
        short re = io->pfds[k].revents;
        size_t wend = (size_t)io->nlst + (size_t)io->nwatch;
        wsc__conn *c;
        if (!re) continue;
        if (k < (size_t)io->nlst) { wsc__accept(ctx, &io->lst[io->pidx[k]]); continue; }
        if (k < wend) {
            wsc__watch_ready(ctx, (int)io->pidx[k], io->pfds[k].fd, re);
            continue;
        }
        c = io->slots[io->pidx[k]];
        if (!c || c->fd != io->pfds[k].fd || c->state == WSC__DEAD) continue;
        wsc__ready(ctx, c, re);
    }
    return 0;
}

/* once a turn: pressure on at 3/4 of the budget, off under 1/2; under it, the large
   assembler holding the most is the lead, the only one read. Connections whose reading
   changes are told to epoll (and TLS ones read: their decrypted bytes make no event). */
static void wsc__mem_turn(wsc_ctx *ctx) {
    wsc__io *io = &ctx->io;
    int was = io->pressure;
    wsc_id lead = 0;
    uint32_t i;
    size_t most = 0;
    if (io->mem >= io->budget / 4 * 3) io->pressure = 1;
    else if (io->mem < io->budget / 2) io->pressure = 0;
    if (!io->pressure && !was) return;
    for (i = 0; i < io->hi; i++) {
        wsc__conn *c = io->slots[i];
        if (c && c->in_cap >= WSC__MEM_BIG && c->in_len >= most && c->state < WSC__DRAIN) {
            most = c->in_len;
            lead = wsc__id(ctx, c);
        }
    }
    io->lead = io->pressure ? lead : 0;
    for (i = 0; i < io->hi; i++) {
        wsc__conn *c = io->slots[i];
        if (!c || c->in_cap < WSC__MEM_BIG || c->state >= WSC__DRAIN) continue;
        wsc__ev_sync(ctx, c);
        if (c->tls && wsc__reading(ctx, c)) wsc__read(ctx, c);
    }
}

/* one iteration: flush, wait, dispatch, timers, timeouts, flush (see THE LOOP) */
static int wsc__io_poll(wsc_ctx *ctx, int timeout_ms) {
    wsc__io *io = &ctx->io;
    int r;
    io->now = wsc_now_ms();
    ctx->events = 0;
    wsc__flush_dirty(ctx);
    wsc__reap(ctx);
    wsc__mem_turn(ctx);
    if ((r = wsc__io_wait(ctx, wsc__wait_ms(ctx, timeout_ms))) < 0) return r;
    wsc__run_timers(ctx);
    if (io->now >= io->next_sweep) {
        wsc__sweep(ctx);
        io->next_sweep = io->now + WSC__SWEEP_MS;
    }
    wsc__flush_dirty(ctx);
    wsc__reap(ctx);
    wsc__flush_dirty(ctx);
    return ctx->events;
}

/* -- sockets -- */
static int wsc__resolve(const char *host, int port, struct addrinfo **out, int passive) {
    struct addrinfo hints;
    char ps[16];
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    snprintf(ps, sizeof ps, "%d", port);
    return getaddrinfo(host, ps, &hints, out) == 0 ? 0 : WSC_ERR_ADDR;
}

static void wsc__accept(wsc_ctx *ctx, wsc__listener *l) {
    int i;
    for (i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int one = 1, fd = accept(l->fd, (struct sockaddr *)&ss, &sl);
        wsc__conn *c;
        if (fd < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNABORTED) {
                /* out of descriptors: the listener stays readable, so stop polling it for a
                   moment instead of spinning */
                wsc_log(ctx, WSC_LOG_ERROR, "accept: %s (raise the open-files limit?)",
                        strerror(errno));
                ctx->io.accept_pause_until = ctx->io.now + 100;
                wsc__emit_error(ctx, NULL, WSC_ERR_SYS, "accept failed");
            }
            return;
        }
        if (wsc__nonblock(fd) < 0) { close(fd); continue; }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        /* past its owner's room a connection may still be a peer link: it gets the rest
           of the table (the links' room) and must prove it is one (proto checks) */
        c = wsc__conn_new(ctx, fd, l->pfn, l->proto, 1, l->own);
        if (c && c->own->count > c->own->max) c->over = 1;
        if (!c) {
            static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
                                       "Content-Length: 0\r\nConnection: close\r\n\r\n";
            if (l->proto == WSC_PROTO_WS && !l->tls) {
                ssize_t w = send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL);
                (void)w;
            }
            close(fd);
            ctx->st.refused++;
            wsc_log(ctx, WSC_LOG_WARN, "refused a connection: the table is full (max_conns=%d "
                    "and the peer links' room)", ctx->cfg.max_conns);
            continue;
        }
        if (ss.ss_family == AF_INET) {
            const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)&ss;
            c->fam = 4;
            memcpy(c->addr, &s4->sin_addr, 4);
            c->port = ntohs(s4->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)&ss;
            c->fam = 6;
            memcpy(c->addr, &s6->sin6_addr, 16);
            c->port = ntohs(s6->sin6_port);
        }
        if (l->tls && wsc__tls_start(ctx, c, NULL) < 0) {
            wsc__kill(ctx, c);
            continue;
        }
        wsc__transport_up(ctx, c);
    }
}

static int wsc__io_listen(wsc_ctx *ctx, const char *url, const wsc__proto_vt *pfn,
                         wsc__owner *own) {
    wsc__io *io = &ctx->io;
    char host[256];
    const char *path;
    int proto, port, fd = -1, one = 1, tls, r;
    struct addrinfo *ai, *a;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    wsc__listener *L;
    if (io->nlst >= WSC_MAX_LISTENERS) return WSC_ERR_LIMIT;
    if (wsc_url_parse(url, &proto, host, sizeof host, &port, &path) < 0 ||
        wsc__resolve(host, port, &ai, 1) < 0) {
        wsc_log(ctx, WSC_LOG_ERROR, "listen: bad address '%s'", url);
        return WSC_ERR_ADDR;
    }
    tls = (proto & WSC_PROTO_TLS) != 0;
    proto &= ~WSC_PROTO_TLS;
    if (tls && (r = wsc__tls_setup(ctx, 1)) < 0) { freeaddrinfo(ai); return r; }
    for (a = ai; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) continue;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (wsc__nonblock(fd) == 0 && bind(fd, a->ai_addr, a->ai_addrlen) == 0 &&
            listen(fd, 1024) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0) {
        wsc_log(ctx, WSC_LOG_ERROR, "listen on %s: %s", url, strerror(errno));
        return WSC_ERR_SYS;
    }
    getsockname(fd, (struct sockaddr *)&ss, &sl);
#ifdef WSCLUSTER_EPOLL
    if (wsc__ep(ctx, EPOLL_CTL_ADD, fd, POLLIN, WSC__EV_LISTENER | (uint64_t)(unsigned)io->nlst) < 0) {
        close(fd);
        return WSC_ERR_SYS;
    }
#endif
    L = &io->lst[io->nlst];
    L->fd = fd;
    L->proto = proto;
    L->tls = tls;
    L->pfn = pfn;
    L->own = own;
    snprintf(L->host, sizeof L->host, "%s", host);
    L->port = ss.ss_family == AF_INET6
        ? ntohs(((struct sockaddr_in6 *)(void *)&ss)->sin6_port)
        : ntohs(((struct sockaddr_in *)(void *)&ss)->sin_port);
    return io->nlst++;
}

#ifndef WSCLUSTER_NO_CLUSTER
/* is the far end of c one of our own outbound sockets? (an instance that reached itself) */
static int wsc__io_own_dial(wsc_ctx *ctx, const wsc__conn *c) {
    uint32_t i;
    for (i = 0; i < ctx->io.hi; i++) {
        const wsc__conn *o = ctx->io.slots[i];
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        if (!o || o->server || o->fd < 0 ||
            getsockname(o->fd, (struct sockaddr *)&ss, &sl) < 0)
            continue;
        if (ss.ss_family == AF_INET && c->fam == 4) {
            const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)&ss;
            if (ntohs(a->sin_port) == c->port && memcmp(&a->sin_addr, c->addr, 4) == 0)
                return 1;
        } else if (ss.ss_family == AF_INET6 && c->fam == 6) {
            const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)&ss;
            if (ntohs(a->sin6_port) == c->port && memcmp(&a->sin6_addr, c->addr, 16) == 0)
                return 1;
        }
    }
    return 0;
}
#endif

static void wsc__io_unlisten(wsc_ctx *ctx) {
    int l;
    for (l = 0; l < ctx->io.nlst; l++) close(ctx->io.lst[l].fd);
    ctx->io.nlst = 0;
}

#ifndef WSCLUSTER_NO_CLIENT
/* open a socket to host:port (non-blocking); the connection starts in CONNECTING */
static int wsc__io_dial(wsc_ctx *ctx, const char *host, int port, int proto, int tls,
                        const wsc__proto_vt *pfn, wsc__owner *own, wsc__conn **out) {
    int fd = -1, one = 1, r;
    struct addrinfo *ai, *a;
    wsc__conn *c;
    char nm[300];
    if (tls && (r = wsc__tls_setup(ctx, 0)) < 0) return r;
    if (wsc__resolve(host, port, &ai, 0) < 0) return WSC_ERR_ADDR;
    if (own->count >= own->max || ctx->io.nfree == 0) { freeaddrinfo(ai); return WSC_ERR_LIMIT; }
    for (a = ai; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) continue;
        if (wsc__nonblock(fd) == 0 &&
            (connect(fd, a->ai_addr, a->ai_addrlen) == 0 || errno == EINPROGRESS))
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0) return WSC_ERR_SYS;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c = wsc__conn_new(ctx, fd, pfn, proto, 0, own);
    if (!c) { close(fd); return WSC_ERR_NOMEM; }
    if (tls && wsc__tls_start(ctx, c, host) < 0) { wsc__kill(ctx, c); return WSC_ERR_NOMEM; }
    c->state = WSC__CONNECTING;
    snprintf(nm, sizeof nm, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    c->name = wsc__strndup(ctx, nm, strlen(nm));
    if (!c->name) { wsc__kill(ctx, c); return WSC_ERR_NOMEM; }
    *out = c;
    return 0;
}
#endif

/* the table, buffers and descriptors: made by wsc_create, freed by wsc_destroy */
static int wsc__io_init(wsc_ctx *ctx) {
    wsc__io *io = &ctx->io;
    /* links' own room, and the backplane's two broker connections */
    uint32_t i, n = (uint32_t)ctx->cfg.max_conns + 2u * WSC_MAX_PEERS + 2u;
    io->epfd = -1;
    io->nslots = n;
    io->budget = ctx->cfg.max_memory;
    io->slots = (wsc__conn **)wsc__alloc(ctx, n * sizeof *io->slots);
    io->gens = (uint32_t *)wsc__alloc(ctx, n * sizeof *io->gens);
    io->freelist = (uint32_t *)wsc__alloc(ctx, n * sizeof *io->freelist);
    io->dirty = (uint32_t *)wsc__alloc(ctx, n * sizeof *io->dirty);
    io->rbuf = (unsigned char *)wsc__alloc(ctx, WSC_RECV_BUF);
    io->wbuf = (unsigned char *)wsc__alloc(ctx, WSC__WBUF);
    if (!io->slots || !io->gens || !io->freelist || !io->dirty || !io->rbuf || !io->wbuf) {
        wsc_log(ctx, WSC_LOG_ERROR, "out of memory for max_conns=%d", ctx->cfg.max_conns);
        return WSC_ERR_NOMEM;
    }
    for (i = 0; i < n; i++) {
        io->slots[i] = NULL;
        io->gens[i] = 1;
        io->freelist[i] = n - 1 - i; /* lowest index first */
    }
    io->nfree = n;
    io->now = wsc_now_ms();
    io->next_sweep = io->now + WSC__SWEEP_MS;
#ifdef WSCLUSTER_EPOLL
    io->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (io->epfd < 0) {
        wsc_log(ctx, WSC_LOG_ERROR, "epoll: %s", strerror(errno));
        return WSC_ERR_SYS;
    }
#endif
    return 0;
}

static void wsc__io_free(wsc_ctx *ctx) {
    wsc__io *io = &ctx->io;
    uint32_t i;
    int l;
    for (i = 0; io->slots && i < io->hi; i++) {
        wsc__conn *c = io->slots[i];
        if (c) { c->opened = 0; wsc__conn_free(ctx, c); } /* no events */
    }
    wsc__io_unlisten(ctx);
    if (io->epfd >= 0) close(io->epfd);
    for (l = 0; l < WSC__POOL_CLASSES; l++)
        while (io->pool[l]) {
            wsc__buf *b = io->pool[l];
            io->pool[l] = b->next;
            wsc__free(ctx, b);
        }
    wsc__free(ctx, io->slots);
    wsc__free(ctx, io->gens);
    wsc__free(ctx, io->freelist);
    wsc__free(ctx, io->dirty);
    wsc__free(ctx, io->rbuf);
    wsc__free(ctx, io->wbuf);
    wsc__free(ctx, io->pfds);
    wsc__free(ctx, io->pidx);
    wsc__tls_free_ctx(ctx);
}
/* >>proto ================= HTTP, WebSocket and the TCP framer as adapters on io ====== */
/* encode one message or control frame for a connection kind (proto, masked) */
static wsc__buf *wsc__frame(wsc_ctx *ctx, int proto, int masked, int opcode, const void *data,
                            size_t len) {
    unsigned char hdr[14], mask[4];
    size_t hl;
    wsc__buf *b;
    if (proto == WSC_PROTO_TCP) hl = wsc_tcp_header(hdr, opcode, (uint32_t)len);
    else {
        if (masked) {
            uint64_t r = wsc__rand(ctx);
            memcpy(mask, &r, 4);
        }
        hl = wsc_ws_header(hdr, opcode, 1, len, masked ? mask : NULL);
    }
    b = wsc__buf_new(ctx, hl + len);
    if (!b) return NULL;
    memcpy(b->data, hdr, hl);
    if (len) memcpy(b->data + hl, data, len);
    if (masked && proto == WSC_PROTO_WS) wsc__unmask(b->data + hl, len, mask, 0);
    return b;
}

/* the one control-frame path of both framers: ping, pong and close go out here */
static int wsc__send_ctrl(wsc_ctx *ctx, wsc__conn *c, int op, const void *data, size_t len) {
    return wsc__q_give(ctx, c, wsc__frame(ctx, c->proto, !c->server, op, data, len));
}

/* queue a close frame (code 0 or 1005: none) and move to next_state */
static void wsc__send_close(wsc_ctx *ctx, wsc__conn *c, int code, const char *reason,
                            size_t rlen, int next_state) {
    unsigned char pl[125];
    size_t n = 0;
    if (code != 1005 && code != 0) {
        wsc__put16(pl, (unsigned)code);
        if (rlen > 123) rlen = 123;
        if (rlen) memcpy(pl + 2, reason, rlen);
        n = 2 + rlen;
    }
    if (wsc__send_ctrl(ctx, c, WSC_OP_CLOSE, pl, n) < 0) {
        wsc__kill(ctx, c);
        return;
    }
    c->state = (unsigned char)next_state;
    c->deadline = ctx->io.now + ctx->cfg.close_timeout_ms;
}

static void wsc__set_close(wsc_ctx *ctx, wsc__conn *c, int code, const char *reason, size_t n) {
    c->close_code = code;
    wsc__free(ctx, c->close_reason);
    c->close_reason = reason ? wsc__strndup(ctx, reason, n) : NULL;
}

/* a violation or a limit: log it, tell the peer, close this connection alone */
static void wsc__fail(wsc_ctx *ctx, wsc__conn *c, int code, int err, const char *why) {
    if (c->state == WSC__DEAD || c->state == WSC__DRAIN || c->state == WSC__LINGER) return;
    wsc_log(ctx, WSC_LOG_INFO, "conn %s: %s: closing with %d", wsc__peer_s(ctx, c), why, code);
    if (code == 1002 || code == 1007) ctx->st.proto_errors++;
    wsc__set_close(ctx, c, code, why, strlen(why));
    if (c->opened) wsc__emit_error(ctx, c, err, why);
    if (c->state == WSC__DEAD) return; /* the handler closed it */
    wsc__q_clear(ctx, c, 1);
    wsc__send_close(ctx, c, code, why, strlen(why), WSC__DRAIN);
}

/* queue a message frame: a queue past its limit (max_pending, in real bytes: an empty frame
   costs its buffer and slot) closes a slow consumer with 1008. Under half of it, any
   message enters: a queued pong must not turn one large message into a slow consumer. */
static int wsc__enqueue(wsc_ctx *ctx, wsc__conn *c, wsc__buf *b) {
    if (wsc__q_full(c) && wsc__over(c->held, wsc__q_cost(b), c->own->max_pending)) {
        ctx->st.closed_slow++;
        ctx->st.dropped++;
        wsc_log(ctx, WSC_LOG_WARN,
                "conn %s: slow consumer, %zu bytes queued (max_pending=%zu): closing 1008",
                wsc__peer_s(ctx, c), c->held, c->own->max_pending);
        wsc__set_close(ctx, c, 1008, "slow consumer", 13);
        if (c->opened) wsc__emit_error(ctx, c, WSC_ERR_SLOW, "slow consumer: closing 1008");
        if (c->state == WSC__DEAD) return WSC_ERR_SLOW;
        wsc__q_clear(ctx, c, 1);
        wsc__send_close(ctx, c, 1008, "slow consumer", 13, WSC__DRAIN);
        return WSC_ERR_SLOW;
    }
    if (wsc__q_push(ctx, c, b) < 0) { ctx->st.dropped++; return WSC_ERR_NOMEM; }
    return 0;
}

/* answer a ping. A pong still waiting near the queue's tail is rewritten with the latest
   payload (RFC 6455 5.5.3) rather than joined by another, so pings that are never read cost
   nothing; a new pong counts against max_pending like any frame. Only the last few entries
   are looked at: a ping costs O(1) however long the queue. */
#define WSC__PONG_LOOK 8
static void wsc__pong(wsc_ctx *ctx, wsc__conn *c, const void *data, size_t len) {
    uint32_t i;
    wsc__buf *b;
    for (i = c->qn > WSC__PONG_LOOK ? c->qn - WSC__PONG_LOOK : 0; i < c->qn; i++) {
        wsc__out *o = &c->q[(c->qh + i) & (c->qcap - 1)];
        const unsigned char *d = o->b->data;
        int pong = c->proto == WSC_PROTO_TCP ? o->b->len >= 5 && d[4] == WSC_OP_PONG
                                             : d[0] == (0x80 | WSC_OP_PONG);
        if (!pong || o->off > 0 || (i == 0 && c->tls_wblock)) continue;
        b = wsc__frame(ctx, c->proto, !c->server, WSC_OP_PONG, data, len);
        if (!b) return;
        c->pending = c->pending - o->b->len + b->len;
        c->held = c->held - wsc__q_cost(o->b) + wsc__q_cost(b);
        wsc__buf_unref(ctx, o->b);
        o->b = b; /* the reference made here moves into the queue */
        return;
    }
    b = wsc__frame(ctx, c->proto, !c->server, WSC_OP_PONG, data, len);
    if (b) {
        wsc__enqueue(ctx, c, b);
        wsc__buf_unref(ctx, b);
    }
}

/* one message to one open connection */
static int wsc__pr_send(wsc_ctx *ctx, wsc__conn *c, int opcode, const void *data, size_t len) {
    wsc__buf *b;
    int r;
    if (c->state != WSC__OPEN) { ctx->st.dropped++; return WSC_ERR_STATE; }
    b = wsc__frame(ctx, c->proto, !c->server, opcode, data, len);
    if (!b) { ctx->st.dropped++; return WSC_ERR_NOMEM; }
    r = wsc__enqueue(ctx, c, b);
    wsc__buf_unref(ctx, b);
    return r;
}

/* start the close handshake (open), or drop a connection not open yet */
static int wsc__pr_close(wsc_ctx *ctx, wsc__conn *c, int code, const char *reason, size_t rl) {
    if (c->state == WSC__OPEN) {
        wsc__set_close(ctx, c, code, reason, rl);
        wsc__send_close(ctx, c, code, reason, rl, WSC__CLOSING);
    } else if (c->state < WSC__OPEN) {
        wsc__kill(ctx, c);
    }
    return 0;
}

/* short paths (the common case) need no allocation */
static int wsc__set_path(wsc_ctx *ctx, wsc__conn *c, const char *p, size_t n) {
    if (n < sizeof c->pathin) {
        memcpy(c->pathin, p, n);
        c->pathin[n] = '\0';
        c->path = c->pathin;
        return 0;
    }
    c->path = wsc__strndup(ctx, p, n);
    return c->path ? 0 : WSC_ERR_NOMEM;
}

/* -- open and close: the owner hears of both, strictly paired -- */
static void wsc__pr_open(wsc_ctx *ctx, wsc__conn *c) {
    c->state = WSC__OPEN;
    c->opened = 1;
    c->last_rx = c->last_ping = ctx->io.now;
    ctx->st.conns[c->cls]++;
    if (c->proto == WSC_PROTO_TCP) ctx->st.conns_tcp[c->cls]++;
    c->own->open(ctx, c);
}

/* the owner hears of every end; ci is NULL for a connection that never opened (no CLOSE
   event then) */
static void wsc__pr_closed(wsc_ctx *ctx, wsc__conn *c) {
    wsc_close_info ci;
    if (!c->opened) {
        if (!ctx->shutting) c->own->close(ctx, c, NULL);
        return;
    }
    ci.code = c->close_code ? c->close_code : 1006;
    ci.reason.ptr = c->close_reason ? c->close_reason : "";
    ci.reason.len = strlen(ci.reason.ptr);
    ci.by_peer = c->by_peer;
    c->opened = 0;
    if (ctx->st.conns[c->cls]) ctx->st.conns[c->cls]--;
    if (c->proto == WSC_PROTO_TCP && ctx->st.conns_tcp[c->cls]) ctx->st.conns_tcp[c->cls]--;
    c->own->close(ctx, c, &ci);
}

/* io lost the transport; an outbound connection that never opened owes an event */
static void wsc__pr_lost(wsc_ctx *ctx, wsc__conn *c, int err, const char *why) {
    if (!c->opened && !c->server)
        wsc__emit_error(ctx, c, err, why ? why : c->state == WSC__HS
                                                     ? "connection closed during handshake"
                                                     : "connection closed");
    else if (c->opened && why)
        wsc__emit_error(ctx, c, err, why);
}

#ifndef WSCLUSTER_NO_CLUSTER /* the cluster's, which takes its links from here */
/* a connection changes hands without a new socket: the old owner sees it close, the id goes
   stale, and the new owner sees it open under a new id (a TCP peer link is only known by
   its first message) */
/* c belongs to own from now on (counted in its room) */
static void wsc__pr_own(wsc__conn *c, wsc__owner *own, int cls) {
    c->own->count--;
    own->count++;
    c->own = own;
    c->cls = (unsigned char)cls;
    c->over = 0;
}

static void wsc__pr_handover(wsc_ctx *ctx, wsc__conn *c, wsc__owner *own, int cls,
                             const char *why) {
    wsc__set_close(ctx, c, 1000, why, strlen(why));
    wsc__pr_closed(ctx, c);
    if (c->state != WSC__OPEN) return; /* its owner closed it */
    wsc__conn_renew_id(ctx, c);
    wsc__set_close(ctx, c, 0, NULL, 0);
    wsc__free(ctx, c->meta);
    c->meta = NULL;
    c->nmeta = c->metalen = 0;
    c->userdata = NULL;
    wsc__pr_own(c, own, cls);
    wsc__pr_open(ctx, c);
}
#endif

/* the sweep: handshakes and close handshakes time out, open connections are pinged */
static void wsc__pr_tick(wsc_ctx *ctx, wsc__conn *c, int64_t now) {
    switch (c->state) {
    case WSC__HS:
        if (now >= c->deadline) {
            char msg[160];
            snprintf(msg, sizeof msg, "handshake to %s timed out (handshake_timeout_ms=%d)",
                     wsc__peer_s(ctx, c), ctx->cfg.handshake_timeout_ms);
            wsc_log(ctx, WSC_LOG_INFO, "%s", msg);
            wsc__emit_error(ctx, c, WSC_ERR_TIMEOUT, msg);
            wsc__kill(ctx, c);
        }
        break;
    case WSC__HTTP:
    case WSC__BODY:
        if (now >= c->deadline) {
            wsc_log(ctx, WSC_LOG_INFO,
                    "conn %s: request incomplete after handshake_timeout_ms=%d: dropped",
                    wsc__peer_s(ctx, c), ctx->cfg.handshake_timeout_ms);
            wsc__kill(ctx, c);
        }
        break;
    case WSC__OPEN: {
        int idle = c->own->idle_ms, ping = c->own->ping_ms;
        if (c->over) { /* a TCP connection past max_conns that has not said it is a link */
            if (now >= c->deadline) wsc__kill(ctx, c);
            break;
        }
        if (idle > 0 && now - c->last_rx >= idle) {
            wsc_log(ctx, WSC_LOG_INFO, "conn %s: silent for %d ms (%s): dropped",
                    wsc__peer_s(ctx, c), idle, c->own->idle_opt);
            wsc__set_close(ctx, c, 1006, c->own->idle_why, strlen(c->own->idle_why));
            wsc__emit_error(ctx, c, WSC_ERR_TIMEOUT, c->own->idle_why);
            wsc__kill(ctx, c);
        } else if (ping > 0 && now - c->last_ping >= ping) {
            unsigned char t[8];
            c->last_ping = now;
            if (c->own->pong) { /* the pong echoes when it left: a round trip */
                wsc__put_be(t, (uint64_t)wsc__now_us(), 8);
                wsc__send_ctrl(ctx, c, WSC_OP_PING, t, 8);
            } else {
                wsc__send_ctrl(ctx, c, WSC_OP_PING, NULL, 0);
            }
        }
        break;
    }
    case WSC__CLOSING:
        if (now >= c->deadline) wsc__kill(ctx, c);
        break;
    default: break;
    }
}

/* -- frames arriving on an open connection -- */
typedef struct wsc__fctx { wsc_ctx *ctx; wsc__conn *c; } wsc__fctx;

static int wsc__gone(const wsc__conn *c) {
    return c->state != WSC__OPEN && c->state != WSC__CLOSING;
}

/* a complete message: to the owner; non-zero stops decoding */
static int wsc__message(wsc_ctx *ctx, wsc__conn *c, int opcode, unsigned char *p, size_t n) {
    int first = !c->got_msg;
    unsigned char busy;
    c->got_msg = 1;
    /* a TCP peer link is known by its first message: the cluster may take the connection */
    if (first && c->server && c->proto == WSC_PROTO_TCP && ctx->pr.claim &&
        ctx->pr.claim(ctx, c, opcode, p, n))
        return wsc__gone(c);
    if (c->over) { /* past max_conns and no peer link */
        wsc_log(ctx, WSC_LOG_WARN, "conn %s: closed: max_conns=%d reached", wsc__peer_s(ctx, c),
                ctx->cfg.max_conns);
        ctx->st.refused++;
        wsc__kill(ctx, c);
        return 1;
    }
    busy = c->busy;
    c->busy = 1; /* p may be its input buffer: the memory budget leaves it alone */
    c->own->message(ctx, c, opcode, p, n);
    c->busy = busy;
    return wsc__gone(c);
}

static int wsc__on_frame(void *arg, const wsc_frame_ev *ev) {
    wsc_ctx *ctx = ((wsc__fctx *)arg)->ctx;
    wsc__conn *c = ((wsc__fctx *)arg)->c;
    int r;
    if (wsc__gone(c)) return 1;
    switch (ev->kind) {
    case WSC_FR_DATA:
        if (ev->first && ev->last) return wsc__message(ctx, c, ev->opcode, ev->data, ev->len);
        if (ev->first) c->in_len = 0;
        if ((r = wsc__in_add(ctx, c, ev->data, ev->len,
                             wsc__size_cap(ctx->cfg.max_message + c->own->extra))) < 0) {
            if (r == WSC_ERR_LIMIT) {
                ctx->st.closed_memory++;
                wsc__fail(ctx, c, 1013, WSC_ERR_LIMIT, "message does not fit max_memory");
            } else {
                wsc__fail(ctx, c, 1011, WSC_ERR_NOMEM, "out of memory assembling a message");
            }
            return 1;
        }
        if (ev->last) {
            int stop = wsc__message(ctx, c, ev->opcode, c->in, c->in_len);
            wsc__in_release(ctx, c); /* no buffer kept while idle */
            return stop;
        }
        return 0;
    case WSC_FR_PING:
        if (c->state == WSC__OPEN) wsc__pong(ctx, c, ev->data, ev->len);
        return 0;
    case WSC_FR_PONG: {
        wsc_msg m;
        if (c->own->pong && ev->len == 8) {
            int64_t rtt = wsc__now_us() - (int64_t)wsc__get_be(ev->data, 8);
            if (rtt >= 0 && rtt < (int64_t)3600 * 1000000) c->own->pong(ctx, c, rtt);
        }
        m.opcode = WSC_OP_PONG;
        m.data = ev->data;
        m.len = ev->len;
        wsc__emit(ctx, c, WSC_EV_PONG, &m);
        return wsc__gone(c);
    }
    default: /* close: echo the code, or end our own close handshake */
        wsc__set_close(ctx, c, ev->code, (const char *)ev->data, ev->len);
        if (c->state == WSC__OPEN) {
            c->by_peer = 1;
            wsc__send_close(ctx, c, ev->code, NULL, 0, WSC__DRAIN);
        } else {
            wsc__drain(ctx, c);
        }
        return 1;
    }
}

static int wsc__dec_at_rest(const wsc__conn *c, const wsc__dec *d) {
    if (c->proto == WSC_PROTO_WS) return !d->ws.phase && !d->ws.hlen && !d->ws.in_msg;
    return !d->tcp.phase && !d->tcp.hlen;
}

/* Between frames a decoder holds nothing worth keeping, so connections at rest share the
   scratch decoder; one gets its own only while a frame is partly received. */
static void wsc__frames_in(wsc_ctx *ctx, wsc__conn *c, unsigned char *p, size_t n) {
    wsc__fctx f;
    int64_t r;
    wsc__dec *d = c->dec;
    f.ctx = ctx;
    f.c = c;
    if (!d) {
        uint64_t max = ctx->cfg.max_message + c->own->extra; /* a link's envelope on top */
        d = &ctx->pr.scratch;
        memset(d, 0, sizeof *d);
        if (c->proto == WSC_PROTO_WS) {
            d->ws.max_message = max;
            d->ws.expect_mask = c->server;
        } else {
            d->tcp.max_message = max > 0xffffffffu ? 0xffffffffu : max;
        }
    }
    if (c->proto == WSC_PROTO_WS) {
        r = wsc_ws_decode(&d->ws, p, n, wsc__on_frame, &f);
        if (r < 0) wsc__fail(ctx, c, d->ws.close_code, (int)r, d->ws.error);
    } else {
        r = wsc_tcp_decode(&d->tcp, p, n, wsc__on_frame, &f);
        if (r < 0) wsc__fail(ctx, c, d->tcp.close_code, (int)r, d->tcp.error);
    }
    if (r < 0 || wsc__gone(c)) return;
    if (wsc__dec_at_rest(c, d)) {
        if (c->dec) {
            wsc__free(ctx, c->dec);
            c->dec = NULL;
            wsc__mem_sub(ctx, sizeof *c->dec);
        }
    } else if (!c->dec) {
        c->dec = (wsc__dec *)wsc__alloc(ctx, sizeof *c->dec);
        if (!c->dec) { wsc__fail(ctx, c, 1011, WSC_ERR_NOMEM, "out of memory"); return; }
        wsc__mem_add(ctx, sizeof *c->dec);
        *c->dec = *d;
    }
}

/* bytes that came with a handshake's head belong to the frames after it */
static void wsc__opened_with(wsc_ctx *ctx, wsc__conn *c, size_t headlen) {
    size_t left = c->in_len - headlen;
    if (left) memmove(ctx->io.rbuf, c->in + headlen, left);
    wsc__in_release(ctx, c);
    c->scan = 0;
    wsc__pr_open(ctx, c);
    if (left && c->state == WSC__OPEN) wsc__frames_in(ctx, c, ctx->io.rbuf, left);
}

/* -- server side HTTP -- */
static const char *wsc__status_text(int s) {
    switch (s) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Status";
    }
}

/* queue a complete HTTP response and drain: every plain response ends the connection */
static int wsc__respond(wsc_ctx *ctx, wsc__conn *c, int status, const char *ctype,
                        const char *extra, const void *body, size_t len) {
    char head[1024];
    int hl;
    wsc__buf *b;
    hl = snprintf(head, sizeof head,
                  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                  "Connection: close\r\n%s\r\n",
                  status, wsc__status_text(status), ctype ? ctype : "text/plain", len,
                  extra ? extra : "");
    if (hl < 0 || (size_t)hl >= sizeof head) return WSC_ERR_INVAL;
    b = wsc__buf_new(ctx, (size_t)hl + len);
    if (!b) { wsc__kill(ctx, c); return WSC_ERR_NOMEM; }
    memcpy(b->data, head, (size_t)hl);
    if (len) memcpy(b->data + hl, body, len);
    if (wsc__q_give(ctx, c, b) < 0) { wsc__kill(ctx, c); return WSC_ERR_NOMEM; }
    c->replied = 1;
    wsc__drain(ctx, c);
    wsc__in_release(ctx, c);
    return 0;
}

static void wsc__http_error(wsc_ctx *ctx, wsc__conn *c, int status, const char *why,
                            const char *extra) {
    char body[160];
    int n = snprintf(body, sizeof body, "%d %s: %s\n", status, wsc__status_text(status), why);
    wsc_log(ctx, WSC_LOG_INFO, "conn %s: HTTP %d: %s", wsc__peer_s(ctx, c), status, why);
    ctx->st.refused++;
    wsc__respond(ctx, c, status, "text/plain", extra, body,
                 n > 0 ? ((size_t)n < sizeof body ? (size_t)n : sizeof body - 1) : 0);
}

/* does the client offer subprotocol tok? */
static int wsc__offers(const wsc_http_req *req, const char *tok) {
    size_t i;
    for (i = 0; i < req->nheaders; i++)
        if (wsc__ieq(req->headers[i].name, "Sec-WebSocket-Protocol") &&
            wsc_http_has_token(req->headers[i].value, tok))
            return 1;
    return 0;
}

/* config subprotocols: the first one (in the client's order of preference) we support */
static char *wsc__pick_subprotocol(wsc_ctx *ctx, const wsc_http_req *req) {
    size_t h;
    const char *list = ctx->cfg.subprotocols;
    if (!list) return NULL;
    for (h = 0; h < req->nheaders; h++) {
        wsc_str v = req->headers[h].value;
        size_t i = 0;
        if (!wsc__ieq(req->headers[h].name, "Sec-WebSocket-Protocol")) continue;
        while (i < v.len) {
            size_t s, e;
            const char *p = list;
            while (i < v.len && (v.ptr[i] == ' ' || v.ptr[i] == ',')) i++;
            s = i;
            while (i < v.len && v.ptr[i] != ',' && v.ptr[i] != ' ') i++;
            e = i;
            while (e > s && *p) { /* walk our list */
                const char *q = p;
                while (*q && *q != ',') q++;
                {
                    const char *ts = p, *te = q;
                    while (ts < te && *ts == ' ') ts++;
                    while (te > ts && te[-1] == ' ') te--;
                    if ((size_t)(te - ts) == e - s && memcmp(ts, v.ptr + s, e - s) == 0)
                        return wsc__strndup(ctx, ts, e - s);
                }
                p = *q ? q + 1 : q;
            }
        }
    }
    return NULL;
}

static void wsc__upgrade(wsc_ctx *ctx, wsc__conn *c, wsc_http_req *req, size_t headlen) {
    const wsc_str *conn = wsc_http_header(req->headers, req->nheaders, "Connection");
    const wsc_str *ver = wsc_http_header(req->headers, req->nheaders, "Sec-WebSocket-Version");
    const wsc_str *key = wsc_http_header(req->headers, req->nheaders, "Sec-WebSocket-Key");
    unsigned char raw[20];
    char accept[29], resp[512];
    int n;
    if (!wsc__seq(req->method, "GET"))
        { wsc__http_error(ctx, c, 400, "WebSocket upgrade must use GET", NULL); return; }
    if (req->minor_version < 1)
        { wsc__http_error(ctx, c, 400, "WebSocket upgrade needs HTTP/1.1", NULL); return; }
    if (!wsc_http_header(req->headers, req->nheaders, "Host"))
        { wsc__http_error(ctx, c, 400, "missing Host header", NULL); return; }
    if (!conn || !wsc_http_has_token(*conn, "upgrade"))
        { wsc__http_error(ctx, c, 400, "Connection header lacks 'upgrade'", NULL); return; }
    if (!ver || !wsc__seq(*ver, "13"))
        { wsc__http_error(ctx, c, 426, "unsupported Sec-WebSocket-Version",
                               "Sec-WebSocket-Version: 13\r\n"); return; }
    if (!key || wsc_base64_decode(key->ptr, key->len, raw, sizeof raw) != 16)
        { wsc__http_error(ctx, c, 400, "Sec-WebSocket-Key is not 16 bytes in base64",
                               NULL); return; }
    wsc_ws_accept(key->ptr, key->len, accept);
    if (wsc__set_path(ctx, c, req->path.ptr, req->path.len) < 0) { wsc__kill(ctx, c); return; }
    req->subprotocol = NULL;
    /* the cluster may claim it as a peer link; else its owner (the application) decides */
    n = ctx->pr.route ? ctx->pr.route(ctx, c, req) : 0;
    if (n < 0) return; /* refused, answered */
    if (n == 0 && c->over) {
        wsc__http_error(ctx, c, 503, "max_conns reached", NULL);
        return;
    }
    if (n == 0) c->own->upgrade(ctx, c, req);
    if (c->state != WSC__HTTP) return; /* rejected or closed by the handler */
    if (req->subprotocol) {
        if (!wsc__offers(req, req->subprotocol))
            { wsc__http_error(ctx, c, 500, "handler chose a subprotocol not offered", NULL); return; }
        c->subproto = wsc__strndup(ctx, req->subprotocol, strlen(req->subprotocol));
    } else {
        c->subproto = wsc__pick_subprotocol(ctx, req);
    }
    n = snprintf(resp, sizeof resp,
                 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s%s%s\r\n",
                 accept, c->subproto ? "Sec-WebSocket-Protocol: " : "",
                 c->subproto ? c->subproto : "", c->subproto ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof resp)
        { wsc__http_error(ctx, c, 400, "subprotocol too long", NULL); return; }
    if (wsc__q_give(ctx, c, wsc__buf_of(ctx, resp, (size_t)n)) < 0) { wsc__kill(ctx, c); return; }
    ctx->st.accepted++;
    wsc__opened_with(ctx, c, headlen);
}

static void wsc__http_dispatch(wsc_ctx *ctx, wsc__conn *c, size_t headlen) {
    wsc_http_req req;
    wsc_http_parse_request((const char *)c->in, headlen, &req); /* c->in may have moved */
    req.body.ptr = (const char *)c->in + headlen;
    req.body.len = c->body_need;
    c->state = WSC__BODY;
    c->replied = 0;
    c->busy = 1; /* the request points into its buffer: the memory budget leaves it alone */
    wsc__emit(ctx, c, WSC_EV_HTTP, &req);
    c->busy = 0;
    if (c->state == WSC__BODY && !c->replied)
        wsc__respond(ctx, c, 404, "text/plain", NULL, "404 Not Found\n", 14);
}

/* find the blank line ending a head; c->scan remembers how far we looked */
static size_t wsc__head_end(wsc__conn *c) {
    size_t i = c->scan > 3 ? c->scan - 3 : 0;
    for (; i < c->in_len; i++) {
        if (c->in[i] != '\n') continue;
        if (i >= 1 && c->in[i - 1] == '\n') return i + 1;
        if (i >= 2 && c->in[i - 1] == '\r' && c->in[i - 2] == '\n') return i + 1;
    }
    c->scan = (uint32_t)c->in_len; /* bounded by max_head + one read */
    return 0;
}

static void wsc__http_in(wsc_ctx *ctx, wsc__conn *c, const unsigned char *p, size_t n) {
    wsc_http_req req;
    size_t end;
    int r;
    if (c->state == WSC__HTTP && c->in_len == 0) /* empty lines before the request line */
        while (n > 0 && (*p == '\r' || *p == '\n')) { p++; n--; } /* ignored: RFC 9112 2.2 */
    if (n == 0) return;
    if ((r = wsc__in_add(ctx, c, p, n, ctx->cfg.max_head + c->body_need)) < 0) {
        if (r != WSC_ERR_LIMIT) { wsc__kill(ctx, c); return; }
        ctx->st.closed_memory++;
        wsc__http_error(ctx, c, 503, "over the memory budget (max_memory)", "Retry-After: 5\r\n");
        return;
    }
    if (c->state == WSC__BODY) goto body;
    end = wsc__head_end(c);
    if (end == 0 || end > ctx->cfg.max_head) {
        /* garbage is refused at once, without waiting for a head that never ends */
        r = wsc_http_parse_request((const char *)c->in, c->in_len, &req);
        if (r == WSC_ERR_PROTO) { wsc__http_error(ctx, c, 400, "malformed request", NULL); return; }
        if (c->in_len > ctx->cfg.max_head || end > ctx->cfg.max_head)
            { wsc__http_error(ctx, c, 431, "request head over max_head", NULL); return; }
        return;
    }
    r = wsc_http_parse_request((const char *)c->in, end, &req);
    if (r == WSC_ERR_LIMIT)
        { wsc__http_error(ctx, c, 431, "too many headers (WSC_MAX_HEADERS)", NULL); return; }
    if (r < 0) { wsc__http_error(ctx, c, 400, "malformed request", NULL); return; }
    {
        const wsc_str *up = wsc_http_header(req.headers, req.nheaders, "Upgrade");
        if (up && wsc_http_has_token(*up, "websocket")) { wsc__upgrade(ctx, c, &req, end); return; }
    }
    if (wsc_http_header(req.headers, req.nheaders, "Transfer-Encoding"))
        { wsc__http_error(ctx, c, 501, "chunked request bodies are not supported", NULL); return; }
    {
        const wsc_str *cl = wsc_http_header(req.headers, req.nheaders, "Content-Length");
        uint64_t v = 0;
        size_t i;
        for (i = 0; cl && i < req.nheaders; i++) /* RFC 9112 6.3: differing lengths: 400 */
            if (wsc__ieq(req.headers[i].name, "Content-Length") &&
                (req.headers[i].value.len != cl->len ||
                 memcmp(req.headers[i].value.ptr, cl->ptr, cl->len) != 0))
                { wsc__http_error(ctx, c, 400, "conflicting Content-Length headers", NULL); return; }
        if (cl) {
            if (cl->len == 0 || cl->len > 19)
                { wsc__http_error(ctx, c, 400, "bad Content-Length", NULL); return; }
            for (i = 0; i < cl->len; i++) {
                if (cl->ptr[i] < '0' || cl->ptr[i] > '9')
                    { wsc__http_error(ctx, c, 400, "bad Content-Length", NULL); return; }
                v = v * 10 + (uint64_t)(cl->ptr[i] - '0');
            }
            if (v > ctx->cfg.max_body)
                { wsc__http_error(ctx, c, 413, "request body over max_body", NULL); return; }
        }
        c->body_need = (uint32_t)v; /* max_body < 4 GiB */
        c->scan = (uint32_t)end;    /* remembers the head length while the body arrives */
        c->state = WSC__BODY;
    }
body:
    if (c->in_len - c->scan < c->body_need) return;
    wsc__http_dispatch(ctx, c, c->scan);
}

#ifndef WSCLUSTER_NO_CLIENT
/* -- client side handshake -- */
static void wsc__client_hs_in(wsc_ctx *ctx, wsc__conn *c, const unsigned char *p, size_t n) {
    wsc_http_resp resp;
    const wsc_str *h;
    size_t end;
    int r;
    char msg[160];
    if (wsc__in_add(ctx, c, p, n, ctx->cfg.max_head) < 0) { wsc__kill(ctx, c); return; }
    end = wsc__head_end(c);
    if (end == 0) {
        if (c->in_len > ctx->cfg.max_head) {
            snprintf(msg, sizeof msg, "handshake response from %s over max_head", wsc__peer_s(ctx, c));
            goto fail;
        }
        if (wsc_http_parse_response((const char *)c->in, c->in_len, &resp) == WSC_ERR_PROTO) {
            snprintf(msg, sizeof msg, "malformed handshake response from %s", wsc__peer_s(ctx, c));
            goto fail;
        }
        return;
    }
    r = wsc_http_parse_response((const char *)c->in, end, &resp);
    if (r < 0) {
        snprintf(msg, sizeof msg, "malformed handshake response from %s", wsc__peer_s(ctx, c));
        goto fail;
    }
    if (resp.status != 101) {
        snprintf(msg, sizeof msg, "handshake refused by %s: HTTP %d", wsc__peer_s(ctx, c), resp.status);
        goto fail;
    }
    h = wsc_http_header(resp.headers, resp.nheaders, "Upgrade");
    if (!h || !wsc_http_has_token(*h, "websocket")) {
        snprintf(msg, sizeof msg, "handshake from %s lacks Upgrade: websocket", wsc__peer_s(ctx, c));
        goto fail;
    }
    h = wsc_http_header(resp.headers, resp.nheaders, "Connection");
    if (!h || !wsc_http_has_token(*h, "upgrade")) {
        snprintf(msg, sizeof msg, "handshake from %s lacks Connection: upgrade", wsc__peer_s(ctx, c));
        goto fail;
    }
    h = wsc_http_header(resp.headers, resp.nheaders, "Sec-WebSocket-Accept");
    if (!h || !wsc__seq(*h, c->accept)) {
        snprintf(msg, sizeof msg, "wrong Sec-WebSocket-Accept from %s", wsc__peer_s(ctx, c));
        goto fail;
    }
    h = wsc_http_header(resp.headers, resp.nheaders, "Sec-WebSocket-Protocol");
    if (h && (!c->subproto || !wsc__seq(*h, c->subproto))) {
        snprintf(msg, sizeof msg, "%s selected a subprotocol we did not offer", wsc__peer_s(ctx, c));
        goto fail;
    }
    if (!h && c->subproto && c->own->strict_subproto) { /* e.g. a peer link */
        snprintf(msg, sizeof msg, "%s is not a wscluster peer (no %s subprotocol)",
                 wsc__peer_s(ctx, c), c->subproto);
        goto fail;
    }
    if (!h && c->subproto) { wsc__free(ctx, c->subproto); c->subproto = NULL; }
    wsc__opened_with(ctx, c, end);
    return;
fail:
    wsc_log(ctx, WSC_LOG_WARN, "%s", msg);
    wsc__emit_error(ctx, c, WSC_ERR_HANDSHAKE, msg);
    wsc__kill(ctx, c);
}
#endif

/* -- the two protocol tables io calls -- */
static void wsc__ws_up(wsc_ctx *ctx, wsc__conn *c) {
    if (c->server) {
        c->state = WSC__HTTP;
        return;
    }
    c->state = WSC__HS; /* the upgrade request is queued: send it */
    wsc__mark_dirty(ctx, c);
}
static void wsc__ws_bytes(wsc_ctx *ctx, wsc__conn *c, unsigned char *p, size_t n) {
    if (c->state == WSC__HTTP || c->state == WSC__BODY) wsc__http_in(ctx, c, p, n);
#ifndef WSCLUSTER_NO_CLIENT
    else if (c->state == WSC__HS) wsc__client_hs_in(ctx, c, p, n);
#endif
    else if (c->state == WSC__OPEN || c->state == WSC__CLOSING) wsc__frames_in(ctx, c, p, n);
}
static void wsc__tcp_up(wsc_ctx *ctx, wsc__conn *c) {
    if (c->server) {
        wsc__set_path(ctx, c, "", 0);
        ctx->st.accepted++;
    }
    if (c->over) { /* read its first message (a peer's HELLO?) before anyone hears of it */
        c->state = WSC__OPEN;
        return;
    }
    wsc__pr_open(ctx, c);
    wsc__mark_dirty(ctx, c);
}
static void wsc__tcp_bytes(wsc_ctx *ctx, wsc__conn *c, unsigned char *p, size_t n) {
    if (c->state == WSC__OPEN || c->state == WSC__CLOSING) wsc__frames_in(ctx, c, p, n);
}
/* io needs the memory this connection holds: it goes now, told why. A frame half written
   leaves no way to say why, and would keep its buffer until written: cut at once. */
static void wsc__pr_shed(wsc_ctx *ctx, wsc__conn *c) {
    wsc__in_release(ctx, c);
    if (c->qn > 0 && (c->q[c->qh].off > 0 || c->tls_wblock)) {
        wsc__q_clear(ctx, c, 0);
        wsc__lose(ctx, c, WSC_ERR_LIMIT, "over the memory budget");
    } else if (c->state == WSC__HTTP || c->state == WSC__BODY)
        wsc__http_error(ctx, c, 503, "over the memory budget (max_memory)", "Retry-After: 5\r\n");
    else if (c->state == WSC__OPEN)
        wsc__fail(ctx, c, 1013, WSC_ERR_LIMIT, "over the memory budget");
    else
        wsc__lose(ctx, c, WSC_ERR_LIMIT, "over the memory budget");
}

static const wsc__proto_vt wsc__ws_vt = {wsc__ws_up, wsc__ws_bytes, wsc__pr_tick,
                                         wsc__pr_lost, wsc__pr_closed, wsc__pr_shed};
static const wsc__proto_vt wsc__tcp_vt = {wsc__tcp_up, wsc__tcp_bytes, wsc__pr_tick,
                                          wsc__pr_lost, wsc__pr_closed, wsc__pr_shed};
static const wsc__proto_vt *wsc__vt_for(int proto) {
    return (proto & ~WSC_PROTO_TLS) == WSC_PROTO_TCP ? &wsc__tcp_vt : &wsc__ws_vt;
}

#ifndef WSCLUSTER_NO_CLIENT
/* an outbound connection to url for owner own (class cls) */
static int wsc__pr_dial(wsc_ctx *ctx, const char *url, const wsc_connect_opts *o,
                        wsc__owner *own, int cls, wsc__conn **out) {
    char host[256];
    const char *path;
    int proto, port, r;
    wsc__conn *c;
    if (wsc_url_parse(url, &proto, host, sizeof host, &port, &path) < 0 || port == 0)
        return WSC_ERR_ADDR;
    r = wsc__io_dial(ctx, host, port, proto & ~WSC_PROTO_TLS, (proto & WSC_PROTO_TLS) != 0,
                     wsc__vt_for(proto), own, &c);
    if (r < 0) return r;
    proto &= ~WSC_PROTO_TLS;
    c->cls = (unsigned char)cls;
    c->userdata = o->userdata;
    if (wsc__set_path(ctx, c, proto == WSC_PROTO_WS ? path : "",
                      proto == WSC_PROTO_WS ? strlen(path) : 0) < 0) {
        wsc__kill(ctx, c);
        return WSC_ERR_NOMEM;
    }
    if (proto == WSC_PROTO_WS) {
        unsigned char nonce[16];
        char key[25], req[2048];
        int n;
        if (wsc__urandom(nonce, sizeof nonce) < 0) {
            uint64_t r1 = wsc__rand(ctx), r2 = wsc__rand(ctx);
            memcpy(nonce, &r1, 8);
            memcpy(nonce + 8, &r2, 8);
        }
        wsc_base64_encode(nonce, 16, key);
        c->accept = (char *)wsc__alloc(ctx, 29);
        if (!c->accept) { wsc__kill(ctx, c); return WSC_ERR_NOMEM; }
        wsc_ws_accept(key, 24, c->accept);
        if (o->subprotocol) c->subproto = wsc__strndup(ctx, o->subprotocol, strlen(o->subprotocol));
        n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n%s%s%s%s\r\n",
                     path, c->name, key, o->subprotocol ? "Sec-WebSocket-Protocol: " : "",
                     o->subprotocol ? o->subprotocol : "", o->subprotocol ? "\r\n" : "",
                     o->headers ? o->headers : "");
        if (n < 0 || (size_t)n >= sizeof req) { wsc__kill(ctx, c); return WSC_ERR_INVAL; }
        if (wsc__q_give(ctx, c, wsc__buf_of(ctx, req, (size_t)n)) < 0) {
            wsc__kill(ctx, c);
            return WSC_ERR_NOMEM;
        }
    }
    wsc__ev_sync(ctx, c);
    *out = c;
    return 0;
}
#endif
/* >>deliver =============== metadata, selectors, fan-out to this instance's clients ====== */
/* -- metadata -- */
/* the pair for key: its offset in the block, or -1 */
static long wsc__meta_find(const wsc__conn *c, const char *key) {
    uint32_t at = 0;
    while (at < c->metalen) {
        const char *k = c->meta + at, *v = k + strlen(k) + 1;
        if (strcmp(k, key) == 0) return (long)at;
        at = (uint32_t)(v + strlen(v) + 1 - c->meta);
    }
    return -1;
}
static const char *wsc__meta_val(const wsc__conn *c, const char *key) {
    long at;
    if (strcmp(key, "path") == 0) return c->path ? c->path : "";
    at = wsc__meta_find(c, key);
    return at < 0 ? NULL : c->meta + at + strlen(c->meta + at) + 1;
}
static int wsc__matches(const wsc__conn *c, const wsc_kv *m, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        const char *v = wsc__meta_val(c, m[i].key);
        if (!v) return 0;
        if (m[i].value && strcmp(m[i].value, "*") != 0 && strcmp(v, m[i].value) != 0) return 0;
    }
    return 1;
}
static int wsc__meta_set(wsc_ctx *ctx, wsc__conn *c, const char *key, const char *value) {
    long at = wsc__meta_find(c, key);
    size_t kl, vl, old = 0, need;
    char *nb;
    if (at >= 0) { /* cut the old pair out */
        char *k = c->meta + at;
        old = strlen(k) + 1;
        old += strlen(k + old) + 1;
        memmove(k, k + old, c->metalen - (size_t)at - old);
        c->metalen -= (uint32_t)old;
        c->nmeta--;
    }
    if (!value) return 0;
    if (c->nmeta >= WSC_MAX_META) return WSC_ERR_LIMIT;
    kl = strlen(key);
    vl = strlen(value);
    need = c->metalen + kl + vl + 2;
    if (need > 0xffffffu) return WSC_ERR_INVAL;
    nb = (char *)wsc__realloc(ctx, c->meta, need);
    if (!nb) return WSC_ERR_NOMEM;
    memcpy(nb + c->metalen, key, kl + 1);
    memcpy(nb + c->metalen + kl + 1, value, vl + 1);
    c->meta = nb;
    c->metalen = (uint32_t)need;
    c->nmeta++;
    return 0;
}

/* -- fan-out: one message to many connections, encoded at most once per kind -- */
typedef struct wsc__multi {
    int opcode;
    const void *data;
    size_t len;
    wsc__buf *ws, *tcp;
} wsc__multi;

static void wsc__multi_init(wsc__multi *m, int opcode, const void *data, size_t len) {
    memset(m, 0, sizeof *m);
    m->opcode = opcode;
    m->data = data;
    m->len = len;
}

/* 1 when queued for c */
static int wsc__multi_one(wsc_ctx *ctx, wsc__multi *m, wsc__conn *c) {
    wsc__buf *b, **slot = NULL;
    int r;
    if (c->state != WSC__OPEN) { ctx->st.dropped++; return 0; }
    if (c->proto == WSC_PROTO_TCP) slot = &m->tcp;
    else if (c->server) slot = &m->ws;
    if (slot && *slot) b = *slot;
    else {
        b = wsc__frame(ctx, c->proto, !c->server, m->opcode, m->data, m->len);
        if (!b) { ctx->st.dropped++; return 0; }
        if (slot) *slot = b;
    }
    r = wsc__enqueue(ctx, c, b);
    if (!slot) wsc__buf_unref(ctx, b);
    if (r < 0) return 0;
    ctx->st.msgs_out++;
    return 1;
}

static void wsc__multi_done(wsc_ctx *ctx, wsc__multi *m) {
    wsc__buf_unref(ctx, m->ws);
    wsc__buf_unref(ctx, m->tcp);
}

/* the open client in slot i, or NULL */
static wsc__conn *wsc__client_at(wsc_ctx *ctx, uint32_t i) {
    wsc__conn *c = ctx->io.slots[i];
    return c && c->cls == WSC_CLIENT && c->state == WSC__OPEN ? c : NULL;
}

static int wsc__dl_broadcast(wsc_ctx *ctx, const wsc_kv *match, size_t nmatch, int opcode,
                             const void *data, size_t len) {
    wsc__multi m;
    uint32_t i;
    int count = 0;
    wsc__multi_init(&m, opcode, data, len);
    for (i = 0; i < ctx->io.hi; i++) {
        wsc__conn *c = wsc__client_at(ctx, i);
        if (c && wsc__matches(c, match, nmatch)) count += wsc__multi_one(ctx, &m, c);
    }
    wsc__multi_done(ctx, &m);
    return count;
}

/* -- selectors -- */
static const wsc__selector *wsc__selector_find(wsc_ctx *ctx, wsc_str name) {
    int j;
    for (j = 0; j < ctx->dl.nsel; j++)
        if (wsc__seq(name, ctx->dl.sel[j].name)) return &ctx->dl.sel[j];
    return NULL;
}

/* does client c match the message's target? keys: the selector's keys as C strings */
static int wsc__target_match(wsc_ctx *ctx, wsc__conn *c, const wsc_link_msg *m,
                             char keys[][256], const wsc__selector *sel, const char *arg) {
    size_t i;
    if (m->target == WSC_TGT_ALL) return 1;
    if (m->target == WSC_TGT_MATCH) {
        for (i = 0; i < m->nmatch; i++) {
            /* the hot path of every fan-out: walk the block comparing lengths first */
            const char *v = NULL;
            size_t kl = m->keys[i].len;
            if (kl == 4 && memcmp(keys[i], "path", 4) == 0) v = c->path ? c->path : "";
            else {
                uint32_t at = 0;
                while (at < c->metalen) {
                    const char *k = c->meta + at;
                    size_t l = strlen(k);
                    const char *val = k + l + 1;
                    if (l == kl && memcmp(k, keys[i], kl) == 0) { v = val; break; }
                    at = (uint32_t)(val + strlen(val) + 1 - c->meta);
                }
            }
            if (!v) return 0;
            if (!(m->values[i].len == 1 && m->values[i].ptr[0] == '*') &&
                (strncmp(v, m->values[i].ptr, m->values[i].len) != 0 || v[m->values[i].len]))
                return 0;
        }
        return 1;
    }
    if (m->target == WSC_TGT_NAMED) return sel && sel->fn(ctx, wsc__id(ctx, c), arg, sel->ud);
    return 0;
}

/* deliver a message to this instance's matching clients: the count, or -1 when a named
   selector is unknown here */
static int wsc__dl_local(wsc_ctx *ctx, const wsc_link_msg *m) {
    wsc__multi mu;
    uint32_t i;
    int count = 0;
    const wsc__selector *sel = NULL;
    char *arg = NULL, keys[WSC_MAX_MATCH][256];
    size_t k;
    for (k = 0; k < m->nmatch; k++) {
        memcpy(keys[k], m->keys[k].ptr, m->keys[k].len);
        keys[k][m->keys[k].len] = '\0';
    }
    wsc__multi_init(&mu, m->opcode, m->payload.ptr, m->payload.len);
    if (m->target == WSC_TGT_CONN) {
        wsc__conn *c;
        if (!wsc__seq(m->conn_node, ctx->node)) return 0;
        c = wsc__get(ctx, (wsc_id)m->conn_id);
        if (c && c->cls == WSC_CLIENT && c->state == WSC__OPEN) count = wsc__multi_one(ctx, &mu, c);
        wsc__multi_done(ctx, &mu);
        return count;
    }
    if (m->target == WSC_TGT_NAMED) {
        if (!(sel = wsc__selector_find(ctx, m->name))) return -1;
        arg = wsc__strndup(ctx, m->arg.ptr, m->arg.len);
        if (!arg) return 0;
    }
    for (i = 0; i < ctx->io.hi; i++) {
        wsc__conn *c = wsc__client_at(ctx, i);
        if (c && wsc__target_match(ctx, c, m, keys, sel, arg)) count += wsc__multi_one(ctx, &mu, c);
    }
    wsc__multi_done(ctx, &mu);
    wsc__free(ctx, arg);
    return count;
}

/* -- the application's connections: their events go to the handler -- */
/* metadata key from query parameter qkey, whole (a long value is never cut short) */
static int wsc__meta_from_query(wsc_ctx *ctx, wsc__conn *c, wsc_str q, const char *qkey,
                                const char *key) {
    char small[256], *v = small;
    int n = wsc_query_get(q, qkey, small, sizeof small);
    if (n <= 0) return 0;
    if ((size_t)n >= sizeof small) {
        v = (char *)wsc__alloc(ctx, (size_t)n + 1);
        if (!v) return 0;
        wsc_query_get(q, qkey, v, (size_t)n + 1);
    }
    wsc__meta_set(ctx, c, key, v);
    if (v != small) wsc__free(ctx, v);
    return 1;
}
static void wsc__app_upgrade(wsc_ctx *ctx, wsc__conn *c, wsc_http_req *req) {
    /* tags from the query, when asked: anyone may write them, the handler decides */
    if (ctx->cfg.meta_from_query) {
        if (!wsc__meta_from_query(ctx, c, req->query, "userId", "user"))
            wsc__meta_from_query(ctx, c, req->query, "user", "user");
        wsc__meta_from_query(ctx, c, req->query, "group", "group");
    }
    wsc__emit(ctx, c, WSC_EV_UPGRADE, req);
}
static void wsc__app_open(wsc_ctx *ctx, wsc__conn *c) { wsc__emit(ctx, c, WSC_EV_OPEN, NULL); }
static void wsc__app_message(wsc_ctx *ctx, wsc__conn *c, int opcode, unsigned char *p,
                             size_t n) {
    wsc_msg m;
    m.opcode = opcode;
    m.data = p;
    m.len = n;
    ctx->st.msgs_in++;
    ctx->st.bytes_in += n;
    wsc__emit(ctx, c, WSC_EV_MESSAGE, &m);
}
static void wsc__app_close(wsc_ctx *ctx, wsc__conn *c, wsc_close_info *ci) {
    if (ci) wsc__emit(ctx, c, WSC_EV_CLOSE, ci);
}

static void wsc__dl_init(wsc_ctx *ctx) {
    wsc__owner *o = &ctx->dl.app;
    o->ping_ms = ctx->cfg.ping_interval_ms;
    o->idle_ms = ctx->cfg.idle_timeout_ms;
    o->idle_opt = "idle_timeout_ms";
    o->idle_why = "idle timeout";
    o->max = (uint32_t)ctx->cfg.max_conns;
    o->max_pending = ctx->cfg.max_pending;
    o->upgrade = wsc__app_upgrade;
    o->open = wsc__app_open;
    o->message = wsc__app_message;
    o->close = wsc__app_close;
}
/* >>cluster ============== the peer table: discovery, links, introductions ============= */
/* The peer table owns everything known about another instance: its address and node id,
   its Subscriber and Observable links, its reconnect backoff, its duplicate window. A
   connection knows only its index in the table (c->peer). */
#ifndef WSCLUSTER_NO_CLUSTER
/* normalise a server-list entry into the form peers are compared by */
static int wsc__norm_url(wsc_ctx *ctx, int proto, const char *host, int port, const char *path,
                         char *out, size_t cap) {
    const char *fmt = strchr(host, ':') ? "%s%s://[%s]:%d%s" : "%s%s://%s:%d%s";
    int tcp = (proto & ~WSC_PROTO_TLS) == WSC_PROTO_TCP;
    int n = snprintf(out, cap, fmt, tcp ? "tcp" : "ws", (proto & WSC_PROTO_TLS) ? "s" : "", host,
                     port, tcp ? "" : (path && *path ? path : ctx->cl.cpath));
    return n > 0 && (size_t)n < cap ? 0 : WSC_ERR_INVAL;
}

static int wsc__norm_text(wsc_ctx *ctx, const char *text, size_t len, char *out, size_t cap) {
    char host[256], tmp[300];
    const char *path, *hp, *pp;
    int proto, port;
    if (len == 0 || len >= sizeof tmp) return WSC_ERR_ADDR;
    memcpy(tmp, text, len);
    tmp[len] = '\0';
    if (wsc_url_parse(tmp, &proto, host, sizeof host, &port, &path) < 0 || port == 0)
        return WSC_ERR_ADDR;
    hp = strstr(tmp, "://");
    pp = strchr(hp ? hp + 3 : tmp, '/');
    return wsc__norm_url(ctx, proto, host, port, pp, out, cap);
}

static int wsc__is_loopback(const char *h) {
    return strcmp(h, "127.0.0.1") == 0 || strcmp(h, "localhost") == 0 || strcmp(h, "::1") == 0;
}

/* an entry naming one of our own listeners (the node-id check catches the rest) */
static int wsc__is_self(wsc_ctx *ctx, const wsc_peer_entry *e, const char *url) {
    int l;
    if (strcmp(url, ctx->cl.advertise) == 0) return 1;
    for (l = 0; l < ctx->io.nlst; l++) {
        const wsc__listener *L = &ctx->io.lst[l];
        int wild = L->host[0] == '\0' || strcmp(L->host, "0.0.0.0") == 0 || strcmp(L->host, "::") == 0;
        if (L->proto != e->proto || L->tls != e->tls || L->port != e->port) continue;
        if (strcmp(L->host, e->host) == 0 || ((wild || wsc__is_loopback(L->host)) &&
                                              wsc__is_loopback(e->host)))
            return 1;
    }
    return 0;
}

/* -- drops: what did not reach a peer (counted, and told to the application) -- */
static void wsc__drop_ev(wsc_ctx *ctx, wsc__conn *c, const char *reason, const char *peer,
                         uint64_t msg_id, uint64_t count) {
    wsc_drop_info d;
    d.reason = reason;
    d.peer = peer ? peer : "";
    d.msg_id = msg_id;
    d.count = count;
    wsc__emit(ctx, c, WSC_EV_DROP, &d);
}
/* counted in fwd_dropped and by kind */
static void wsc__dropped(wsc_ctx *ctx, int kind, uint64_t n) {
    ctx->st.fwd_dropped += n;
    ctx->st.fwd_drops[kind] += n;
}
static void wsc__drop(wsc_ctx *ctx, wsc__conn *c, int kind, const char *reason, const char *peer,
                      uint64_t msg_id) {
    wsc__dropped(ctx, kind, 1);
    wsc__drop_ev(ctx, c, reason, peer, msg_id, 1);
}
/* an unreachable peer raises one event when its drops start and a summary when they end */
static void wsc__drop_unreachable(wsc_ctx *ctx, wsc__peer *p, uint64_t msg_id) {
    wsc__dropped(ctx, WSC_DROP_UNREACHABLE, 1);
    if (p->unreach++ == 0) wsc__drop_ev(ctx, NULL, "peer unreachable", p->node, msg_id, 1);
}
static void wsc__drops_end(wsc_ctx *ctx, wsc__peer *p, const char *why) {
    uint64_t n = p->unreach;
    if (n == 0) return;
    p->unreach = 0;
    wsc__drop_ev(ctx, NULL, why, p->node, 0, n);
}

/* -- the table -- */
static wsc__peer *wsc__peer_of(wsc_ctx *ctx, const wsc__conn *c) {
    return c->peer >= 0 && c->peer < ctx->cl.npeers && ctx->cl.peers[c->peer].used
               ? &ctx->cl.peers[c->peer] : NULL;
}

static wsc__peer *wsc__peer_find(wsc_ctx *ctx, const char *url) {
    int i;
    for (i = 0; i < ctx->cl.npeers; i++)
        if (ctx->cl.peers[i].used && strcmp(ctx->cl.peers[i].url, url) == 0)
            return &ctx->cl.peers[i];
    return NULL;
}

/* another entry for the same node with a live link of ours */
static wsc__peer *wsc__peer_other(wsc_ctx *ctx, const wsc__peer *self, wsc_str node) {
    int i;
    for (i = 0; i < ctx->cl.npeers; i++) {
        wsc__peer *p = &ctx->cl.peers[i];
        if (p->used && p != self && !p->dup && wsc__seq(node, p->node) && wsc__get(ctx, p->sub))
            return p;
    }
    return NULL;
}

static void wsc__peer_free(wsc_ctx *ctx, wsc__peer *p);
static void wsc__peer_remove(wsc_ctx *ctx, wsc__peer *p);

/* an entry goes with both its links (1013: it may come back when there is room) */
static void wsc__peer_evict(wsc_ctx *ctx, wsc__peer *p) {
    wsc__conn *o = wsc__get(ctx, p->obs);
    if (o) wsc__pr_close(ctx, o, 1013, "peer table full", 15);
    wsc__peer_remove(ctx, p);
    if (p->used) wsc__peer_free(ctx, p);
}

/* Room: listed entries always have it; introduced ones (anyone who reaches us can
   introduce itself) take at most half the table, and give way first: an introduced entry
   with no link to us is evicted for a newcomer, any introduced one for a listed entry. */
static wsc__peer *wsc__peer_evictable(wsc_ctx *ctx, int listed) {
    wsc__peer *best = NULL;
    int i;
    for (i = 0; i < ctx->cl.npeers; i++) {
        wsc__peer *p = &ctx->cl.peers[i];
        int live = wsc__get(ctx, p->obs) != NULL, best_live;
        if (!p->used || !p->intro || (live && !listed)) continue;
        best_live = best && wsc__get(ctx, best->obs) != NULL;
        /* one without a link first; among equals, the one that has waited longest */
        if (!best || (best_live && !live) || (best_live == live && p->next_try < best->next_try))
            best = p;
    }
    return best;
}

static wsc__peer *wsc__peer_add(wsc_ctx *ctx, const char *url, int intro) {
    int i, nintro = 0;
    wsc__peer *ev;
    for (i = 0; i < ctx->cl.npeers; i++)
        nintro += ctx->cl.peers[i].used && ctx->cl.peers[i].intro;
    if (intro && nintro >= WSC_MAX_PEERS / 2 && (ev = wsc__peer_evictable(ctx, 0)) != NULL) {
        wsc_log(ctx, WSC_LOG_WARN, "introduced peers at their bound (WSC_MAX_PEERS/2): %s "
                "evicted for %s", ev->url, url);
        wsc__peer_evict(ctx, ev);
    } else if (intro && nintro >= WSC_MAX_PEERS / 2) {
        wsc_log(ctx, WSC_LOG_WARN, "introduced peers at their bound (WSC_MAX_PEERS/2): %s "
                "ignored", url);
        return NULL;
    }
    for (i = 0; i <= WSC_MAX_PEERS; i++) {
        wsc__peer *p;
        if (i == WSC_MAX_PEERS) { /* full: a listed entry takes an introduced one's place */
            if (intro || !(p = wsc__peer_evictable(ctx, 1))) break;
            wsc_log(ctx, WSC_LOG_WARN, "peer table full: introduced %s evicted for listed %s",
                    p->url, url);
            wsc__peer_evict(ctx, p);
        } else {
            p = &ctx->cl.peers[i];
        }
        if (p->used) continue;
        memset(p, 0, sizeof *p);
        p->used = 1;
        p->intro = (unsigned char)intro;
        p->next_try = ctx->io.now;
        p->last_rx = -1;
        p->rtt_us = -1;
        snprintf(p->url, sizeof p->url, "%s", url);
        i = (int)(p - ctx->cl.peers);
        if (i >= ctx->cl.npeers) ctx->cl.npeers = i + 1;
        return p;
    }
    wsc_log(ctx, WSC_LOG_WARN, "peer table full (WSC_MAX_PEERS=%d): %s ignored", WSC_MAX_PEERS,
            url);
    return NULL;
}

/* the Observable link of p is id (0: none); each link is held by one entry at most */
static void wsc__peer_set_obs(wsc_ctx *ctx, wsc__peer *p, wsc_id id) {
    wsc__conn *c = wsc__get(ctx, id);
    int i;
    for (i = 0; id && i < ctx->cl.npeers; i++)
        if (ctx->cl.peers[i].obs == id) ctx->cl.peers[i].obs = 0;
    p->obs = c ? id : 0;
    if (c) {
        c->peer = (int16_t)(p - ctx->cl.peers);
        p->sum_due = 1; /* it hears of us at once, not a heartbeat later */
        wsc__drops_end(ctx, p, "peer reachable again");
    }
}

/* another answered Observable link from the peer at index ix, or 0 */
static wsc_id wsc__obs_other(wsc_ctx *ctx, int ix, const wsc__conn *except) {
    uint32_t k;
    for (k = 0; k < ctx->io.hi; k++) {
        wsc__conn *c = ctx->io.slots[k];
        if (c && c != except && c->cls == WSC_OBSERVABLE && c->peer == ix &&
            c->own == &ctx->cl.link && c->state == WSC__OPEN)
            return wsc__id(ctx, c);
    }
    return 0;
}

static void wsc__peer_free(wsc_ctx *ctx, wsc__peer *p) {
    int ix = (int)(p - ctx->cl.peers);
    uint32_t k;
    wsc__drops_end(ctx, p, "peer removed");
    for (k = 0; k < ctx->io.hi; k++) { /* links still open forget the entry */
        wsc__conn *c = ctx->io.slots[k];
        if (c && c->own == &ctx->cl.link && c->peer == ix) c->peer = WSC__PEER_ANSWERED;
    }
    p->used = 0;
    wsc__free(ctx, p->sum);
    p->sum = NULL;
    p->sum_len = 0;
    while (ctx->cl.npeers > 0 && !ctx->cl.peers[ctx->cl.npeers - 1].used) ctx->cl.npeers--;
}

/* close our link to p and forget it; while its own link to us lives, the entry stays (not
   dialled, not listed) so that what we send still reaches it */
static void wsc__peer_remove(wsc_ctx *ctx, wsc__peer *p) {
    wsc__conn *c = wsc__get(ctx, p->sub);
    if (c) {
        c->peer = WSC__PEER_ANSWERED;
        wsc__pr_close(ctx, c, 1001, "removed from the server list", 28);
    }
    p->sub = 0;
    p->sub_ok = 0;
    if (wsc__get(ctx, p->obs)) p->removed = 1;
    else wsc__peer_free(ctx, p);
}

static int wsc__link_room(wsc_ctx *ctx);

/* open our Subscriber link to a peer: created as a link, owned by the cluster. The secret
   never travels: the link proves it in its handshake (HELLO, WELCOME, AUTH). */
static void wsc__peer_connect(wsc_ctx *ctx, wsc__peer *p) {
    wsc_connect_opts o;
    char hdr[100];
    int r, evicted;
    wsc__conn *c;
    if (ctx->shutting) return;
    memset(&o, 0, sizeof o);
    o.subprotocol = "wscluster";
    snprintf(hdr, sizeof hdr, "X-Wscluster-Node: %s\r\n", ctx->node);
    o.headers = hdr;
    p->attempts++;
    /* a room full of links still in their handshake gives one up for ours; it counts
       until the loop frees it, so the room stretches by one meanwhile */
    evicted = ctx->cl.link.count >= ctx->cl.link.max && wsc__link_room(ctx);
    ctx->cl.link.max += (uint32_t)evicted;
    r = wsc__pr_dial(ctx, p->url, &o, &ctx->cl.link, WSC_SUBSCRIBER, &c);
    ctx->cl.link.max -= (uint32_t)evicted;
    if (r < 0) {
        wsc_log(ctx, WSC_LOG_WARN, "peer %s: cannot connect: %s", p->url, wsc_strerror(r));
        p->fails++;
        p->next_try = ctx->io.now + ctx->cfg.reconnect_max_ms;
        return;
    }
    c->peer = (int16_t)(p - ctx->cl.peers);
    p->sub = wsc__id(ctx, c);
    p->sub_ok = 0;
    p->hs_until = 0;
}

static void wsc__peer_backoff(wsc_ctx *ctx, wsc__peer *p) {
    int64_t d = 500;
    int k;
    p->fails++;
    for (k = 1; k < p->fails && d < ctx->cfg.reconnect_max_ms; k++) d *= 2;
    if (d > ctx->cfg.reconnect_max_ms) d = ctx->cfg.reconnect_max_ms;
    p->next_try = ctx->io.now + d / 2 + (int64_t)(wsc__rand(ctx) % (uint64_t)(d / 2 + 1));
}

/* -- the duplicate window of a peer's message ids -- */
/* Ids grow by one per message its origin sends (to anyone), so on one link a jump this far
   ahead is no message of that origin: refused, it cannot move the window past real ones. */
#define WSC__DEDUP_JUMP (1ull << 32)
/* 0: new (remembered); 1: seen, or too old to tell; -1: an impossible jump (a jump moves
   the window instead when jump_ok: an origin that restarted) */
static int wsc__win_seen(wsc__win *w, uint64_t id, int jump_ok) {
    uint64_t k;
    if (w->on && id > w->max && id - w->max > WSC__DEDUP_JUMP) {
        if (!jump_ok) return -1;
        w->on = 0;
    }
    if (!w->on) { /* the first message (on a new link) starts the window */
        memset(w->bits, 0, sizeof w->bits);
        w->max = id;
        w->on = 1;
    } else if (id > w->max) {
        if (id - w->max >= WSC__DEDUP_WINDOW) memset(w->bits, 0, sizeof w->bits);
        else
            for (k = w->max + 1; k < id; k++)
                w->bits[(k % WSC__DEDUP_WINDOW) / 64] &= ~(1ull << (k % 64));
        w->max = id;
    } else if (w->max - id >= WSC__DEDUP_WINDOW) {
        return 1; /* too old to tell: treated as seen */
    } else if (w->bits[(id % WSC__DEDUP_WINDOW) / 64] & (1ull << (id % 64))) {
        return 1;
    }
    w->bits[(id % WSC__DEDUP_WINDOW) / 64] |= 1ull << (id % 64);
    return 0;
}

/* -- the server list -- */
typedef struct wsc__listload { wsc_ctx *ctx; const char *src; int n; } wsc__listload;

static void wsc__list_entry(void *arg, const wsc_peer_entry *e) {
    wsc__listload *L = (wsc__listload *)arg;
    wsc_ctx *ctx = L->ctx;
    char url[300];
    wsc__peer *p;
    if (e->error) {
        wsc_log(ctx, WSC_LOG_WARN, "server list %s:%d: %s (entry skipped)", L->src, e->line,
                e->error);
        return;
    }
    if (wsc__norm_url(ctx, e->proto | (e->tls ? WSC_PROTO_TLS : 0), e->host, e->port, e->path,
                      url, sizeof url) < 0)
        return;
    L->n++;
    p = wsc__peer_find(ctx, url);
    if (!p) {
        p = wsc__peer_add(ctx, url, 0);
        if (!p) return;
        p->self = (unsigned char)wsc__is_self(ctx, e, url);
        wsc_log(ctx, WSC_LOG_INFO, "peer %s added%s", url, p->self ? " (this instance)" : "");
    }
    if (p->removed) { p->removed = 0; p->next_try = ctx->io.now; }
    p->intro = 0;
    p->mark = 1;
}

static int wsc__list_load(wsc_ctx *ctx) {
    wsc__cl *cl = &ctx->cl;
    char *text = NULL;
    const char *src;
    size_t len = 0;
    int i;
    wsc__listload L;
    if (ctx->cfg.peers_file) {
        FILE *f = fopen(ctx->cfg.peers_file, "rb");
        size_t cap = 1 << 20;
        src = ctx->cfg.peers_file;
        if (!f) {
            if (!cl->list_err) /* once per failure, not every refresh */
                wsc_log(ctx, WSC_LOG_WARN, "cannot read server list %s: %s (keeping the last "
                        "list)", src, strerror(errno));
            cl->list_err = 1;
            return WSC_ERR_SYS;
        }
        text = (char *)wsc__alloc(ctx, cap);
        if (!text) { fclose(f); return WSC_ERR_NOMEM; }
        len = fread(text, 1, cap, f);
        if (ferror(f) || len == cap) {
            if (!cl->list_err)
                wsc_log(ctx, WSC_LOG_WARN, "server list %s unreadable or over 1 MiB (keeping "
                        "the last list)", src);
            cl->list_err = 1;
            fclose(f);
            wsc__free(ctx, text);
            return WSC_ERR_SYS;
        }
        fclose(f);
        cl->list_err = 0;
    } else {
        src = ctx->cfg.peers ? "peers" : "WSCLUSTER_PEERS";
        text = (char *)(ctx->cfg.peers ? ctx->cfg.peers : getenv("WSCLUSTER_PEERS"));
        len = text ? strlen(text) : 0;
    }
    { /* unchanged text: nothing to do (and no warning repeated every refresh) */
        uint64_t h = 1469598103934665603ull;
        size_t k;
        for (k = 0; k < len; k++) h = (h ^ (unsigned char)text[k]) * 1099511628211ull;
        h ^= len + 1; /* an empty list differs from no list yet */
        if (h == cl->list_hash) {
            if (ctx->cfg.peers_file) wsc__free(ctx, text);
            return 0;
        }
        cl->list_hash = h;
    }
    for (i = 0; i < cl->npeers; i++) cl->peers[i].mark = 0;
    L.ctx = ctx;
    L.src = src;
    L.n = 0;
    if (text) wsc_peers_parse(text, len, wsc__list_entry, &L);
    if (ctx->cfg.peers_file) wsc__free(ctx, text);
    for (i = 0; i < cl->npeers; i++) {
        wsc__peer *p = &cl->peers[i];
        if (p->used && !p->intro && !p->removed && !p->mark) {
            wsc_log(ctx, WSC_LOG_INFO, "peer %s removed from the server list", p->url);
            wsc__peer_remove(ctx, p);
        }
    }
    return L.n;
}

static void wsc__cluster_start(wsc_ctx *ctx) {
    wsc__cl *cl = &ctx->cl;
    int l;
    cl->started = 1;
    if (ctx->cfg.advertise) {
        char adv[300];
        const char *a = ctx->cfg.advertise;
        if (!strstr(a, "://")) { /* HOST:PORT: the scheme of our first WebSocket listener */
            const char *scheme = "ws";
            for (l = 0; l < ctx->io.nlst; l++)
                if (ctx->io.lst[l].proto == WSC_PROTO_WS) {
                    scheme = ctx->io.lst[l].tls ? "wss" : "ws";
                    break;
                }
            snprintf(adv, sizeof adv, "%s://%s", scheme, a);
            a = adv;
        }
        if (wsc__norm_text(ctx, a, strlen(a), cl->advertise, sizeof cl->advertise) < 0)
            wsc_log(ctx, WSC_LOG_ERROR, "advertise '%s' is not HOST:PORT or a URL",
                    ctx->cfg.advertise);
    } else {
        for (l = 0; l < ctx->io.nlst; l++) {
            const wsc__listener *L = &ctx->io.lst[l];
            const char *h = L->host;
            if (!*h || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0) {
                wsc_log(ctx, WSC_LOG_WARN, "listening on all addresses: set advertise (the "
                        "address peers reach us at); using 127.0.0.1 for now");
                h = "127.0.0.1";
            }
            if (L->proto == WSC_PROTO_WS || l == ctx->io.nlst - 1) {
                wsc__norm_url(ctx, L->proto | (L->tls ? WSC_PROTO_TLS : 0), h, L->port, NULL,
                              cl->advertise, sizeof cl->advertise);
                if (L->proto == WSC_PROTO_WS) break;
            }
        }
    }
    if (strlen(cl->advertise) > 255) {
        wsc_log(ctx, WSC_LOG_ERROR, "the advertised URL %.60s... is over 255 bytes: set a "
                "shorter advertise; not joining the cluster", cl->advertise);
        cl->advertise[0] = '\0';
        cl->on = 0;
        return;
    }
    if (!ctx->cfg.secret)
        wsc_log(ctx, WSC_LOG_WARN, "NO CLUSTER SECRET: peer links are unauthenticated; anyone "
                "who can reach %s can join (set the secret option)", cl->advertise);
    wsc_log(ctx, WSC_LOG_INFO, "cluster: node %s, advertised as %s", ctx->node, cl->advertise);
    wsc__list_load(ctx);
    cl->next_refresh = ctx->io.now + ctx->cfg.refresh_ms;
}

static void wsc__hs_sweep(wsc_ctx *ctx);
static void wsc__summary_send(wsc_ctx *ctx);

/* every sweep: re-read the list when due, (re)connect what has no link, close handshakes
   that took too long */
static void wsc__cluster_tick(wsc_ctx *ctx, void *arg) {
    wsc__cl *cl = &ctx->cl;
    int i;
    (void)arg;
    if (ctx->shutting || !cl->on) return;
    if (!cl->started) { wsc__cluster_start(ctx); }
    else if (ctx->io.now >= cl->next_refresh) {
        wsc__list_load(ctx);
        cl->next_refresh = ctx->io.now + ctx->cfg.refresh_ms;
    }
    for (i = 0; i < cl->npeers; i++) {
        wsc__peer *p = &cl->peers[i];
        wsc__conn *s;
        wsc_str nd;
        if (!p->used || p->self) continue;
        if (p->removed) {
            if (!wsc__get(ctx, p->obs)) wsc__peer_free(ctx, p);
            continue;
        }
        nd.ptr = p->node;
        nd.len = strlen(p->node);
        if (p->dup) { /* an alias: linked again only when the entry it duplicates is not */
            if (wsc__peer_other(ctx, p, nd)) continue;
            p->dup = 0;
            p->next_try = ctx->io.now;
        }
        if ((s = wsc__get(ctx, p->sub)) != NULL) {
            if (s->state == WSC__OPEN) p->last_rx = s->last_rx;
            continue;
        }
        p->sub = 0;
        p->sub_ok = 0;
        /* an introduced peer is kept while it keeps a link to us */
        if (p->intro && !wsc__get(ctx, p->obs) && p->fails > 0) {
            wsc_log(ctx, WSC_LOG_INFO, "introduced peer %s gone", p->url);
            wsc__peer_remove(ctx, p);
            continue;
        }
        if (ctx->io.now >= p->next_try) wsc__peer_connect(ctx, p);
    }
    wsc__hs_sweep(ctx);
    wsc__summary_send(ctx);
}

/* -- link messages -- */
static void wsc__link_send(wsc_ctx *ctx, wsc__conn *c, const unsigned char *p, size_t n) {
    wsc__pr_send(ctx, c, WSC_BINARY, p, n);
}

/* a handshake message from us: HELLO (nonce), WELCOME (nonce, proof) or AUTH (proof) */
static void wsc__link_say(wsc_ctx *ctx, wsc__conn *c, int type, const unsigned char *nonce,
                          const unsigned char *proof) {
    unsigned char buf[2 + 65 + 256 + 2 * WSC_LINK_NONCE];
    wsc_link_msg m;
    size_t n;
    memset(&m, 0, sizeof m);
    m.type = type;
    m.node = wsc__sv(ctx->node);
    m.advertise = wsc__sv(ctx->cl.advertise);
    m.nonce.ptr = (const char *)nonce;
    m.nonce.len = nonce ? WSC_LINK_NONCE : 0;
    m.proof.ptr = (const char *)proof;
    m.proof.len = proof ? WSC_LINK_NONCE : 0;
    n = wsc__link_encode_hs(&m, buf);
    if (n == 0) { /* wsc_create checked the lengths: never sent cut short */
        wsc__fail(ctx, c, 1011, WSC_ERR_INVAL, "handshake message does not fit the link format");
        return;
    }
    wsc__link_send(ctx, c, buf, n);
}

/* a nonce nobody can predict (the context's generator is fast, not secret: it is read from
   /dev/urandom, as the WebSocket key is); without one the link cannot be authenticated */
static int wsc__link_nonce(wsc_ctx *ctx, wsc__conn *c, unsigned char *out) {
    if (wsc__urandom(out, WSC_LINK_NONCE) == 0) return 0;
    wsc_log(ctx, WSC_LOG_ERROR, "peer link %s: cannot read /dev/urandom for a handshake nonce",
            wsc__peer_s(ctx, c));
    wsc__fail(ctx, c, 1011, WSC_ERR_SYS, "no random nonce for the handshake");
    return -1;
}

/* -- the handshake (FORWARDING FORMAT): HELLO, WELCOME, AUTH. Until it ends a link is
   believed nothing: its peer has no entry, gets no FORWARD, is not connected back to. -- */

/* the handshake state of a peer's link to us, or NULL (authenticated, or none) */
static wsc__hs *wsc__hs_of(wsc_ctx *ctx, wsc_id id) {
    int i;
    for (i = 0; id && ctx->cl.hs && i < WSC__HS_SLOTS; i++)
        if (ctx->cl.hs[i].id == id) return &ctx->cl.hs[i];
    return NULL;
}

/* a peer's link to us opened: it has handshake_timeout_ms to prove the secret */
static void wsc__hs_begin(wsc_ctx *ctx, wsc__conn *c) {
    int i;
    for (i = 0; ctx->cl.hs && i < WSC__HS_SLOTS; i++) {
        wsc__hs *h = &ctx->cl.hs[i];
        if (h->id && wsc__get(ctx, h->id)) continue;
        memset(h, 0, sizeof *h);
        h->id = wsc__id(ctx, c);
        h->since = ctx->io.now;
        return;
    }
    wsc__fail(ctx, c, 1013, WSC_ERR_LIMIT, "no room for another unauthenticated peer link");
}

/* Room for one more link. The links' room (2 x WSC_MAX_PEERS) holds links that proved the
   secret and links still in their handshake; when it is full, the oldest of the latter goes,
   so links that never authenticate cannot lock peers out. 0: every link in it is proven.
   An evicted link still counts until the loop frees it, at the end of this turn. */
static int wsc__link_room(wsc_ctx *ctx) {
    wsc__hs *old = NULL;
    wsc__conn *o;
    int i;
    if (ctx->cl.link.count < ctx->cl.link.max) return 1;
    for (i = 0; ctx->cl.hs && i < WSC__HS_SLOTS; i++) {
        wsc__hs *h = &ctx->cl.hs[i];
        if (h->id && wsc__get(ctx, h->id) && (!old || h->since < old->since)) old = h;
    }
    if (!old) return 0;
    o = wsc__get(ctx, old->id);
    wsc_log(ctx, WSC_LOG_WARN, "peer links' room full (2 x WSC_MAX_PEERS): the link from %s, "
            "not authenticated after %lld ms, is evicted", wsc__peer_s(ctx, o),
            (long long)(ctx->io.now - old->since));
    old->id = 0;
    wsc__set_close(ctx, o, 1008, "evicted before authenticating", 29);
    wsc__kill(ctx, o);
    return 1;
}

/* the sweep: links that have not finished their handshake in handshake_timeout_ms close */
static void wsc__hs_sweep(wsc_ctx *ctx) {
    int64_t late = ctx->io.now - ctx->cfg.handshake_timeout_ms;
    char why[96];
    int i;
    snprintf(why, sizeof why, "peer link not authenticated within handshake_timeout_ms=%d",
             ctx->cfg.handshake_timeout_ms);
    for (i = 0; ctx->cl.hs && i < WSC__HS_SLOTS; i++) { /* peers' links to us: HELLO, AUTH */
        wsc__hs *h = &ctx->cl.hs[i];
        wsc__conn *c;
        if (!h->id || h->timed_out || h->since > late) continue;
        if ((c = wsc__get(ctx, h->id)) == NULL) { h->id = 0; continue; }
        h->timed_out = 1; /* still evictable while its close handshake runs */
        wsc__fail(ctx, c, 1008, WSC_ERR_TIMEOUT, why);
    }
    for (i = 0; i < ctx->cl.npeers; i++) { /* our links: the peers' WELCOME */
        wsc__peer *p = &ctx->cl.peers[i];
        wsc__conn *c = p->used && !p->sub_ok && p->hs_until ? wsc__get(ctx, p->sub) : NULL;
        if (c && c->state == WSC__OPEN && ctx->io.now >= p->hs_until) {
            p->hs_until = 0;
            wsc__fail(ctx, c, 1008, WSC_ERR_TIMEOUT, why);
        }
    }
}

/* our link opened: HELLO with our node id, our address and a fresh nonce */
static void wsc__link_hello(wsc_ctx *ctx, wsc__conn *c) {
    wsc__peer *pe = wsc__peer_of(ctx, c);
    if (!pe || pe->sub != wsc__id(ctx, c)) { /* a link the table let go of */
        wsc__pr_close(ctx, c, 1001, "removed from the server list", 28);
        return;
    }
    if (wsc__link_nonce(ctx, c, pe->nonce) < 0) return;
    pe->hs_until = ctx->io.now + ctx->cfg.handshake_timeout_ms;
    wsc__link_say(ctx, c, WSC_LINK_HELLO, pe->nonce, NULL);
}

/* proto's route hook: an upgrade on cluster_path is a peer's link to us. It is let in
   unauthenticated (its handshake follows on the link), within the links' room. */
static int wsc__link_route(wsc_ctx *ctx, wsc__conn *c, wsc_http_req *req) {
    if (!wsc__seq(req->path, ctx->cl.cpath)) return 0;
    if (!wsc__offers(req, "wscluster")) {
        wsc__http_error(ctx, c, 400, "peer links use the wscluster subprotocol", NULL);
        return -1;
    }
    if (!wsc__link_room(ctx)) {
        wsc__http_error(ctx, c, 503, "no room for more peer links (2 x WSC_MAX_PEERS)", NULL);
        return -1;
    }
    req->subprotocol = "wscluster";
    wsc__pr_own(c, &ctx->cl.link, WSC_OBSERVABLE);
    return 1;
}

static void wsc__link_in(wsc_ctx *ctx, wsc__conn *c, int opcode, unsigned char *p, size_t n);

/* proto's claim hook: an accepted TCP connection whose first message is a HELLO is a
   peer's link to us (a TCP client cannot say so any earlier). A HELLO of the previous
   format (version 1, which carried the secret) is refused, never delivered as a message. */
static int wsc__link_claim(wsc_ctx *ctx, wsc__conn *c, int opcode, unsigned char *p, size_t n) {
    wsc_link_msg m;
    const char *why;
    if (opcode != WSC_BINARY || n < 2 || p[1] != WSC_LINK_HELLO) return 0;
    if (p[0] == 1) {
        wsc_log(ctx, WSC_LOG_WARN, "peer link from %s speaks link format version 1; this "
                "instance speaks %d: refused (upgrade that instance)", wsc__peer_s(ctx, c),
                WSC_LINK_VERSION);
        wsc__fail(ctx, c, 1002, WSC_ERR_PROTO, "unknown link format version");
        return 1;
    }
    if (wsc_link_parse(p, n, &m, &why) < 0) return 0;
    if (!wsc__link_room(ctx)) {
        wsc__fail(ctx, c, 1013, WSC_ERR_LIMIT, "no room for more peer links (2 x WSC_MAX_PEERS)");
        return 1;
    }
    wsc__pr_handover(ctx, c, &ctx->cl.link, WSC_OBSERVABLE, "became a peer link");
    if (c->state == WSC__OPEN) wsc__link_in(ctx, c, opcode, p, n);
    return 1;
}

/* a peer introduced itself: connect back at once unless we already have a link to it */
static void wsc__introduced(wsc_ctx *ctx, wsc__conn *c, const wsc_link_msg *m) {
    char url[300];
    wsc__peer *p;
    int i;
    if (wsc__norm_text(ctx, m->advertise.ptr, m->advertise.len, url, sizeof url) < 0) {
        wsc_log(ctx, WSC_LOG_WARN, "peer %s introduced a bad address; not connecting back",
                wsc__peer_s(ctx, c));
        c->peer = WSC__PEER_ANSWERED;
        return;
    }
    p = wsc__peer_other(ctx, NULL, m->node); /* the entry whose link to it is up */
    for (i = 0; i < ctx->cl.npeers && !p; i++) /* else a non-alias entry for that node */
        if (ctx->cl.peers[i].used && !ctx->cl.peers[i].dup && wsc__seq(m->node, ctx->cl.peers[i].node))
            p = &ctx->cl.peers[i];
    if (!p) p = wsc__peer_find(ctx, url); /* else one for that address */
    if (p && p->node[0] && !wsc__seq(m->node, p->node)) { /* no taking over another's entry */
        wsc_log(ctx, WSC_LOG_WARN, "peer link from %s: %.*s advertises %s, which is %s's: "
                "refused", wsc__peer_s(ctx, c), (int)m->node.len, m->node.ptr, url, p->node);
        wsc__fail(ctx, c, 1008, WSC_ERR_PROTO, "advertised address belongs to another node");
        return;
    }
    if (!p) {
        p = wsc__peer_add(ctx, url, 1);
        if (!p) {
            wsc__fail(ctx, c, 1013, WSC_ERR_LIMIT, "peer table full");
            return;
        }
        wsc_log(ctx, WSC_LOG_INFO, "peer %.*s introduced itself as %s", (int)m->node.len,
                m->node.ptr, url);
    }
    if (p->removed) { p->removed = 0; p->intro = 1; }
    memcpy(p->node, m->node.ptr, m->node.len);
    p->node[m->node.len] = '\0';
    /* a live link of that node stays its link: another one is kept as its fallback only */
    if (wsc__get(ctx, p->obs)) c->peer = (int16_t)(p - ctx->cl.peers);
    else wsc__peer_set_obs(ctx, p, wsc__id(ctx, c));
    if (!p->self && !wsc__get(ctx, p->sub)) {
        p->dup = 0;
        p->fails = 0;
        p->next_try = ctx->io.now;
        wsc__peer_connect(ctx, p);
    }
}

/* HELLO on a peer's link to us: answer with our nonce and our proof; believe nothing yet */
static void wsc__link_hello_in(wsc_ctx *ctx, wsc__conn *c, const wsc_link_msg *m) {
    wsc__hs *h = wsc__hs_of(ctx, wsc__id(ctx, c));
    unsigned char nonce_o[WSC_LINK_NONCE], proof_o[WSC_LINK_NONCE];
    const unsigned char *nonce_s = (const unsigned char *)m->nonce.ptr;
    if (!h || h->welcomed) {
        wsc__fail(ctx, c, 1002, WSC_ERR_PROTO, "second HELLO");
        return;
    }
    if (wsc__seq(m->node, ctx->node) && !wsc__io_own_dial(ctx, c)) {
        wsc_log(ctx, WSC_LOG_ERROR, "a peer link from %s (advertised as %.*s) uses our node id "
                "%s: node ids must be unique; refused", wsc__peer_s(ctx, c),
                (int)m->advertise.len, m->advertise.ptr, ctx->node);
        wsc__fail(ctx, c, 1008, WSC_ERR_PROTO, "node id in use by this instance");
        return;
    }
    if (wsc__link_nonce(ctx, c, nonce_o) < 0) return;
    wsc__link_proof(ctx->cfg.secret, "wscluster-o", nonce_s, nonce_o, m->node,
                    wsc__sv(ctx->node), proof_o);
    wsc__link_proof(ctx->cfg.secret, "wscluster-s", nonce_s, nonce_o, m->node,
                    wsc__sv(ctx->node), h->proof);
    memcpy(h->node, m->node.ptr, m->node.len);
    h->node[m->node.len] = '\0';
    memcpy(h->adv, m->advertise.ptr, m->advertise.len);
    h->adv[m->advertise.len] = '\0';
    h->welcomed = 1;
    /* on our own link too: it learns that it reached itself */
    wsc__link_say(ctx, c, WSC_LINK_WELCOME, nonce_o, proof_o);
}

/* AUTH on a peer's link to us: with the right proof, the link is its node's from now on */
static void wsc__link_auth_in(wsc_ctx *ctx, wsc__conn *c, const wsc_link_msg *m) {
    wsc__hs *h = wsc__hs_of(ctx, wsc__id(ctx, c));
    wsc_link_msg who;
    char node[65], adv[256];
    if (!h || !h->welcomed) {
        wsc__fail(ctx, c, 1002, WSC_ERR_PROTO, h ? "AUTH before HELLO" : "second AUTH");
        return;
    }
    if (ctx->cfg.secret && !wsc__proof_eq(h->proof, (const unsigned char *)m->proof.ptr)) {
        wsc_log(ctx, WSC_LOG_WARN, "peer link from %s (as %s) refused: wrong cluster secret",
                wsc__peer_s(ctx, c), h->node);
        wsc__fail(ctx, c, 4401, WSC_ERR_HANDSHAKE, "wrong cluster secret");
        return;
    }
    memcpy(node, h->node, sizeof node);
    memcpy(adv, h->adv, sizeof adv);
    h->id = 0; /* authenticated: the peer table takes over */
    memset(&who, 0, sizeof who);
    who.type = WSC_LINK_HELLO;
    who.node = wsc__sv(node);
    who.advertise = wsc__sv(adv);
    c->peer = WSC__PEER_ANSWERED;
    if (!wsc__seq(who.node, ctx->node)) wsc__introduced(ctx, c, &who);
}

/* WELCOME on our Subscriber link: the peer proves the secret, we prove it back (AUTH); then
   its node id, aliases resolved */
static void wsc__link_welcome_in(wsc_ctx *ctx, wsc__conn *c, const wsc_link_msg *m) {
    wsc__peer *pe = wsc__peer_of(ctx, c), *other;
    unsigned char want[WSC_LINK_NONCE], proof_s[WSC_LINK_NONCE];
    const unsigned char *nonce_o = (const unsigned char *)m->nonce.ptr;
    if (!pe || pe->sub != wsc__id(ctx, c)) return; /* a link the table let go of */
    if (pe->sub_ok) {
        wsc__fail(ctx, c, 1002, WSC_ERR_PROTO, "second WELCOME");
        return;
    }
    wsc__link_proof(ctx->cfg.secret, "wscluster-o", pe->nonce, nonce_o, wsc__sv(ctx->node),
                    m->node, want);
    if (ctx->cfg.secret && !wsc__proof_eq(want, (const unsigned char *)m->proof.ptr)) {
        wsc_log(ctx, WSC_LOG_WARN, "peer %s (as %.*s) failed to prove the cluster secret: wrong "
                "cluster secret, or not a peer of ours; refused", pe->url, (int)m->node.len,
                m->node.ptr);
        wsc__fail(ctx, c, 4401, WSC_ERR_HANDSHAKE, "peer failed to prove the cluster secret");
        return;
    }
    pe->sub_ok = 1;
    pe->hs_until = 0;
    if (wsc__seq(m->node, ctx->node)) {
        wsc_log(ctx, WSC_LOG_INFO, "peer %s is this instance: skipped", pe->url);
        pe->self = 1;
        wsc__pr_close(ctx, c, 1000, "reached itself", 14);
        return;
    }
    wsc__link_proof(ctx->cfg.secret, "wscluster-s", pe->nonce, nonce_o, wsc__sv(ctx->node),
                    m->node, proof_s);
    wsc__link_say(ctx, c, WSC_LINK_AUTH, NULL, proof_s);
    other = wsc__peer_other(ctx, pe, m->node);
    if (other && other->intro && !pe->intro) {
        /* a listed entry replaces the introduced one that reached the same node */
        wsc_id obs = other->obs, old = other->sub;
        wsc__conn *oc;
        wsc__peer_remove(ctx, other);
        if (other->removed) wsc__peer_free(ctx, other); /* its link moves to pe */
        if (!wsc__get(ctx, pe->obs)) wsc__peer_set_obs(ctx, pe, obs);
        /* the old link closes, but the node may have sent on it already: it stays pe's */
        if ((oc = wsc__get(ctx, old)) != NULL) oc->peer = (int16_t)(pe - ctx->cl.peers);
    } else if (other) {
        wsc_log(ctx, WSC_LOG_INFO, "peer %s is %.*s, already linked as %s: alias skipped",
                pe->url, (int)m->node.len, m->node.ptr, other->url);
        pe->dup = 1;
        if (!wsc__get(ctx, other->obs)) wsc__peer_set_obs(ctx, other, pe->obs); /* lives there */
        pe->obs = 0;
        memcpy(pe->node, m->node.ptr, m->node.len);
        pe->node[m->node.len] = '\0';
        wsc__pr_close(ctx, c, 1000, "duplicate link", 14);
        if (pe->intro) wsc__peer_remove(ctx, pe);
        return;
    }
    memcpy(pe->node, m->node.ptr, m->node.len);
    pe->node[m->node.len] = '\0';
    pe->fails = 0;
    pe->win.on = 0; /* a fresh link starts a fresh window: ids restart with its process */
    if (!wsc__get(ctx, pe->obs))
        wsc__peer_set_obs(ctx, pe, wsc__obs_other(ctx, (int)(pe - ctx->cl.peers), NULL));
    wsc_log(ctx, WSC_LOG_INFO, "peer %s (%s): subscribed", pe->url, pe->node);
}

/* -- summaries and round trips: what an instance tells its peers of itself, every
   heartbeat_ms, down its Observable links (SUMMARY in FORWARDING FORMAT) -- */
static void wsc__summary_in(wsc_ctx *ctx, wsc__conn *c, wsc__peer *pe, const unsigned char *p,
                            size_t n, wsc_str node) {
    unsigned char *b;
    if (!wsc__seq(node, pe->node)) { /* a link speaks for its node */
        wsc__fail(ctx, c, 1002, WSC_ERR_PROTO, "SUMMARY whose node is not the link's");
        return;
    }
    b = n <= pe->sum_len ? pe->sum : (unsigned char *)wsc__realloc(ctx, pe->sum, n);
    if (!b) return; /* kept: the last one */
    memcpy(b, p, n);
    pe->sum = b;
    pe->sum_len = n;
    pe->sum_at = ctx->io.now;
}

/* this instance's summary: its counters, and its view of each peer it knows by id */
static void wsc__summary_self(wsc_ctx *ctx, wsc_summary *s) {
    const wsc_stats *st = &ctx->st;
    int i;
    size_t k;
    int64_t now = wsc_now_ms();
    s->node = wsc__sv(ctx->node);
    s->age_ms = 0;
    s->uptime_ms = (uint64_t)(now - ctx->born);
    for (k = 0; k < 4; k++) s->conns[k] = st->conns[k];
    s->msgs_in = st->msgs_in, s->msgs_out = st->msgs_out;
    s->bytes_in = st->bytes_in, s->bytes_out = st->bytes_out;
    s->fwd_in = st->fwd_in, s->fwd_out = st->fwd_out, s->bp_in = st->bp_in, s->bp_out = st->bp_out;
    s->dropped = st->dropped, s->fwd_dropped = st->fwd_dropped;
    s->mem_held = ctx->io.mem, s->mem_max = ctx->io.budget;
    s->bp_kind = (int)st->bp_kind, s->bp_state = (int)st->bp_state;
    s->nlinks = 0;
    for (i = 0; i < ctx->cl.npeers && s->nlinks < WSC_MAX_PEERS; i++) {
        wsc__peer *p = &ctx->cl.peers[i];
        wsc__conn *sc;
        wsc_summary_link *l;
        if (!p->used || p->self || p->dup || !p->node[0]) continue;
        sc = wsc__get(ctx, p->sub);
        l = &s->links[s->nlinks++];
        l->node = wsc__sv(p->node);
        l->sub_up = sc && sc->state == WSC__OPEN && p->sub_ok;
        l->obs_up = wsc__get(ctx, p->obs) != NULL;
        l->rtt_us = p->rtt_us;
        l->reconnects = p->attempts > 0 ? p->attempts - 1 : 0;
    }
}

/* every heartbeat_ms, and to a peer whose link to us just proved itself: our summary */
static void wsc__summary_send(wsc_ctx *ctx) {
    wsc__cl *cl = &ctx->cl;
    wsc_summary *s = NULL;
    unsigned char *buf = NULL;
    size_t n = 0;
    int i, all = ctx->io.now >= cl->next_summary;
    if (all) cl->next_summary = ctx->io.now + ctx->cfg.heartbeat_ms;
    for (i = 0; i < cl->npeers; i++) {
        wsc__peer *p = &cl->peers[i];
        wsc__conn *o;
        if (!p->used || (!all && !p->sum_due)) continue;
        p->sum_due = 0;
        o = wsc__get(ctx, p->obs);
        if (!o || o->state != WSC__OPEN) continue;
        if (!buf) {
            s = (wsc_summary *)wsc__alloc(ctx, sizeof *s);
            if (!s) return;
            wsc__summary_self(ctx, s);
            n = wsc__summary_encode(s, NULL);
            buf = n ? (unsigned char *)wsc__alloc(ctx, n) : NULL;
            if (!buf) break;
            wsc__summary_encode(s, buf);
        }
        wsc__link_send(ctx, o, buf, n);
    }
    wsc__free(ctx, buf);
    wsc__free(ctx, s);
}

/* the link owner's pong hook: a heartbeat's round trip on one of the peer's links */
static void wsc__link_pong(wsc_ctx *ctx, wsc__conn *c, int64_t rtt) {
    static const int64_t bound[WSC_RTT_BUCKETS] = WSC_RTT_BOUNDS_US;
    wsc__peer *p = wsc__peer_of(ctx, c);
    int i;
    if (!p) return;
    p->rtt_us = rtt;
    p->rtt_n++;
    p->rtt_sum += (uint64_t)rtt;
    for (i = 0; i < WSC_RTT_BUCKETS; i++)
        if (rtt <= bound[i]) { p->rtt_hist[i]++; break; }
}

static void wsc__link_in(wsc_ctx *ctx, wsc__conn *c, int opcode, unsigned char *p, size_t n) {
    wsc_link_msg m;
    const char *why;
    wsc__peer *pe;
    if (opcode != WSC_BINARY) {
        wsc__fail(ctx, c, 1003, WSC_ERR_PROTO, "peer links carry binary link messages only");
        return;
    }
    if (wsc_link_parse(p, n, &m, &why) < 0) {
        char msg[96];
        snprintf(msg, sizeof msg, "malformed link message: %s", why);
        wsc__dropped(ctx, WSC_DROP_REFUSED, 1);
        wsc__fail(ctx, c, 1002, WSC_ERR_PROTO, msg);
        return;
    }
    /* the handshake, in order: a peer's link to us hears HELLO then AUTH, ours WELCOME */
    if (m.type == WSC_LINK_HELLO && c->server) {
        wsc__link_hello_in(ctx, c, &m);
        return;
    }
    if (m.type == WSC_LINK_AUTH && c->server) {
        wsc__link_auth_in(ctx, c, &m);
        return;
    }
    if (m.type == WSC_LINK_WELCOME && !c->server) {
        wsc__link_welcome_in(ctx, c, &m);
        return;
    }
    pe = wsc__peer_of(ctx, c);
    if (!c->server && (!pe || pe->sub != wsc__id(ctx, c))) {
        /* one of our links we let go of, closing. When a listed entry took over from an
           introduced one, the node may have sent on the old link before it heard: those
           FORWARDs count (the windows drop repeats), unless the new link is already past
           them (order before completeness); nothing else is looked at */
        if (m.type != WSC_LINK_FORWARD || !pe || !pe->sub_ok || c->state != WSC__CLOSING ||
            !wsc__seq(m.node, pe->node))
            return;
        if (pe->win.on && m.msg_id < pe->win.max)
            wsc__drop(ctx, c, WSC_DROP_UNREACHABLE, "overtaken: its link was replaced", pe->node,
                      m.msg_id);
        else
            ctx->cl.arrived(ctx, c, pe, &m);
        return;
    }
    if (m.type == WSC_LINK_FORWARD && !c->server) {
        if (pe->sub_ok && !wsc__seq(m.node, pe->node)) { /* a link speaks for its node */
            wsc__dropped(ctx, WSC_DROP_REFUSED, 1);
            wsc__fail(ctx, c, 1002, WSC_ERR_PROTO, "FORWARD whose origin is not the link's node");
            return;
        }
        if (pe->sub_ok) {
            ctx->cl.arrived(ctx, c, pe, &m); /* up to the backplane */
            return;
        }
    }
    if (m.type == WSC_LINK_SUMMARY && !c->server && pe->sub_ok) {
        wsc__summary_in(ctx, c, pe, p, n, m.node);
        return;
    }
    wsc__fail(ctx, c, 1002, WSC_ERR_PROTO, "unexpected link message");
}

/* -- the link owner: what proto tells the cluster about its links -- */
static void wsc__link_open(wsc_ctx *ctx, wsc__conn *c) {
    wsc__emit(ctx, c, WSC_EV_OPEN, NULL);
    if (c->state != WSC__OPEN) return; /* its handler closed it */
    if (c->server) wsc__hs_begin(ctx, c); /* a peer's link: its HELLO is due */
    else wsc__link_hello(ctx, c);
}
static void wsc__link_message(wsc_ctx *ctx, wsc__conn *c, int opcode, unsigned char *p,
                              size_t n) {
    wsc__link_in(ctx, c, opcode, p, n);
}
/* a link closed: the peer table learns it; a lost Subscriber link is retried */
static void wsc__link_close(wsc_ctx *ctx, wsc__conn *c, wsc_close_info *ci) {
    wsc_id id = wsc__id(ctx, c);
    wsc__peer *p = wsc__peer_of(ctx, c);
    wsc__hs *h = c->server ? wsc__hs_of(ctx, id) : NULL;
    if (h) { /* closed in its handshake: by a peer our proof did not convince? */
        if (ci && ci->by_peer && ci->code == 4401)
            wsc_log(ctx, WSC_LOG_WARN, "peer link from %s%s%s: the peer refused our proof (4401): "
                    "wrong cluster secret on one side", wsc__peer_s(ctx, c),
                    h->node[0] ? " as " : "", h->node);
        h->id = 0;
    }
    if (p && p->sub == id) {
        if (ci && ci->by_peer && ci->code == 4401)
            wsc_log(ctx, WSC_LOG_WARN, "peer %s refused our proof (4401): wrong cluster secret "
                    "on one side", p->url);
        p->sub = 0;
        p->sub_ok = 0;
        if (!p->self && !p->dup && !ctx->shutting) {
            wsc__peer_backoff(ctx, p);
            wsc_log(ctx, WSC_LOG_INFO, "peer %s%s%s: link down, retry in %lld ms", p->url,
                    p->node[0] ? " " : "", p->node, (long long)(p->next_try - ctx->io.now));
        }
    } else if (p && p->obs == id) {
        p->obs = 0;
        wsc__peer_set_obs(ctx, p, wsc__obs_other(ctx, c->peer, c));
    }
    if (ci) wsc__emit(ctx, c, WSC_EV_CLOSE, ci);
}

static void wsc__cl_peer_infos(wsc_ctx *ctx, wsc_peer_info *out, size_t max, size_t *count) {
    size_t n = 0;
    int i;
    int64_t now = wsc_now_ms();
    for (i = 0; i < ctx->cl.npeers; i++) {
        wsc__peer *p = &ctx->cl.peers[i];
        wsc__conn *s;
        if (!p->used || p->removed) continue;
        if (n < max && out) {
            wsc_peer_info *o = &out[n];
            wsc_str nd;
            nd.ptr = p->node;
            nd.len = strlen(p->node);
            if (p->dup && wsc__peer_other(ctx, p, nd)) /* an alias shows its twin's links */
                p = wsc__peer_other(ctx, p, nd);
            s = wsc__get(ctx, p->sub);
            o->url = ctx->cl.peers[i].url;
            o->node = p->node;
            o->self = p->self;
            o->introduced = ctx->cl.peers[i].intro;
            o->sub_up = s && s->state == WSC__OPEN && p->sub_ok;
            o->obs_up = wsc__get(ctx, p->obs) != NULL;
            o->last_heartbeat_ms = p->last_rx < 0 ? -1 : now - p->last_rx;
            if (s && s->state == WSC__OPEN) o->last_heartbeat_ms = now - s->last_rx;
            o->reconnects = p->attempts > 0 ? p->attempts - 1 : 0;
            o->rtt_us = p->rtt_us;
            o->rtt_count = p->rtt_n;
            o->rtt_sum_us = p->rtt_sum;
            memcpy(o->rtt_hist, p->rtt_hist, sizeof o->rtt_hist);
        }
        n++;
    }
    *count = n;
}

/* the summary of the i-th entry wsc__cl_peer_infos() lists (-1: ours) */
static int wsc__cl_summary(wsc_ctx *ctx, int peer, wsc_summary *out) {
    int i, n = 0;
    const char *why;
    if (peer < 0) {
        wsc__summary_self(ctx, out);
        return 0;
    }
    for (i = 0; i < ctx->cl.npeers; i++) {
        wsc__peer *p = &ctx->cl.peers[i];
        if (!p->used || p->removed) continue;
        if (n++ != peer) continue;
        if (p->dup) { /* an alias: its twin holds the links, and the summaries */
            wsc__peer *t = wsc__peer_other(ctx, p, wsc__sv(p->node));
            if (t) p = t;
        }
        if (!p->sum || wsc_summary_parse(p->sum, p->sum_len, out, &why) < 0)
            return WSC_ERR_AGAIN;
        out->age_ms = ctx->io.now - p->sum_at;
        return 0;
    }
    return WSC_ERR_INVAL;
}

static int wsc__cl_init(wsc_ctx *ctx) {
    wsc__cl *cl = &ctx->cl;
    const char *path = ctx->cfg.cluster_path ? ctx->cfg.cluster_path : "/wscluster";
    if (path[0] != '/' || strlen(path) >= sizeof cl->cpath) {
        wsc_log(ctx, WSC_LOG_ERROR, "cluster_path must start with '/' (and be short)");
        return WSC_ERR_INVAL;
    }
    snprintf(cl->cpath, sizeof cl->cpath, "%s", path);
    cl->link.ping_ms = ctx->cfg.heartbeat_ms;
    cl->link.idle_ms = ctx->cfg.heartbeat_timeout_ms;
    cl->link.idle_opt = "heartbeat_timeout_ms";
    cl->link.idle_why = "heartbeat timeout";
    cl->link.extra = WSC__LINK_OVERHEAD;
    cl->link.max = 2u * WSC_MAX_PEERS; /* a Subscriber and an Observable per peer */
    cl->link.max_pending = wsc__size_mul(ctx->cfg.max_pending, 2); /* every sender's traffic */
    cl->link.strict_subproto = 1;
    cl->link.open = wsc__link_open;
    cl->link.message = wsc__link_message;
    cl->link.close = wsc__link_close;
    cl->link.pong = wsc__link_pong;
    cl->on = ctx->cfg.cluster || ctx->cfg.peers_file || ctx->cfg.peers ||
             ctx->cfg.backplane || getenv("WSCLUSTER_PEERS") != NULL;
    if (!cl->on) return 0;
    cl->hs = (wsc__hs *)wsc__alloc(ctx, WSC__HS_SLOTS * sizeof *cl->hs);
    if (!cl->hs) {
        wsc_log(ctx, WSC_LOG_ERROR, "out of memory for the peer links' handshakes");
        return WSC_ERR_NOMEM;
    }
    memset(cl->hs, 0, WSC__HS_SLOTS * sizeof *cl->hs);
    ctx->pr.route = wsc__link_route;
    ctx->pr.claim = wsc__link_claim;
    /* the cluster starts at the first wsc_poll() and then ticks with the sweep */
    return wsc__timer_add(ctx, 0, 0, wsc__cluster_tick, NULL, 1) < 0 ||
           wsc__timer_add(ctx, WSC__SWEEP_MS, 1, wsc__cluster_tick, NULL, 1) < 0
               ? WSC_ERR_LIMIT : 0;
}
/* after io's: closing links still look up their handshakes */
static void wsc__cl_free(wsc_ctx *ctx) {
    int i;
    for (i = 0; i < ctx->cl.npeers; i++) wsc__free(ctx, ctx->cl.peers[i].sum);
    wsc__free(ctx, ctx->cl.hs);
    ctx->cl.hs = NULL;
}
#else /* WSCLUSTER_NO_CLUSTER: a single instance; the options that would join a cluster are
         refused, not ignored (the environment's WSCLUSTER_PEERS is only warned about) */
static int wsc__cl_init(wsc_ctx *ctx) {
    const char *opt = ctx->cfg.cluster ? "cluster" : ctx->cfg.peers_file ? "peers_file"
                      : ctx->cfg.peers ? "peers" : NULL;
    if (opt) {
        wsc_log(ctx, WSC_LOG_ERROR, "%s: the cluster is not built in (WSCLUSTER_NO_CLUSTER or "
                "_NO_CLIENT)", opt);
        return WSC_ERR_NOTBUILT;
    }
    if (getenv("WSCLUSTER_PEERS"))
        wsc_log(ctx, WSC_LOG_WARN, "WSCLUSTER_PEERS ignored: the cluster is not built in "
                "(WSCLUSTER_NO_CLUSTER or _NO_CLIENT)");
    return 0;
}
static void wsc__cl_free(wsc_ctx *ctx) { (void)ctx; }
static void wsc__cl_peer_infos(wsc_ctx *ctx, wsc_peer_info *out, size_t max, size_t *count) {
    (void)ctx, (void)out, (void)max;
    *count = 0;
}
static int wsc__cl_summary(wsc_ctx *ctx, int peer, wsc_summary *out) {
    (void)ctx, (void)peer, (void)out;
    return WSC_ERR_NOTBUILT;
}
#endif /* WSCLUSTER_NO_CLUSTER */
/* >>backplane ========== how a cluster-wide message leaves and arrives ================ */
/* Two directions, one seam: wsc__bp_publish() sends a message to the whole cluster (local
   clients first, then the transport); wsc__bp_arrived() takes one a transport received from
   another instance (deduplicated per origin, delivered, never sent on). Two transports: the
   mesh of peer links, and Redis, which the mesh stands in for while it is down. */
static size_t wsc__encode_forward(const wsc_link_msg *m, unsigned char *out) {
    wsc__wr w;
    size_t i;
    wsc__wr_begin(&w, out, WSC_LINK_FORWARD);
    wsc__wr_str(&w, m->node.ptr, m->node.len, 1);
    wsc__wr_uint(&w, m->msg_id, 8);
    wsc__wr_uint(&w, (uint64_t)m->opcode, 1);
    wsc__wr_uint(&w, (uint64_t)m->target, 1);
    if (m->target == WSC_TGT_MATCH) {
        wsc__wr_uint(&w, m->nmatch, 1);
        for (i = 0; i < m->nmatch; i++) {
            wsc__wr_str(&w, m->keys[i].ptr, m->keys[i].len, 1);
            wsc__wr_str(&w, m->values[i].ptr, m->values[i].len, 2);
        }
    } else if (m->target == WSC_TGT_CONN) {
        wsc__wr_str(&w, m->conn_node.ptr, m->conn_node.len, 1);
        wsc__wr_uint(&w, m->conn_id, 8);
    } else if (m->target == WSC_TGT_NAMED) {
        wsc__wr_str(&w, m->name.ptr, m->name.len, 1);
        wsc__wr_str(&w, m->arg.ptr, m->arg.len, 2);
    }
    wsc__wr_str(&w, m->payload.ptr, m->payload.len, 4);
    return w.bad ? 0 : w.at; /* 0: does not fit (wsc__target_msg checks every length) */
}

#ifndef WSCLUSTER_NO_CLUSTER
/* -- the mesh: one copy down the Observable link of every peer that needs it -- */
static void wsc__mesh_publish(wsc_ctx *ctx, const wsc_link_msg *m) {
    wsc__cl *cl = &ctx->cl;
    wsc__multi mu;
    wsc__buf *eb;
    size_t n;
    int i;
    char only[65] = ""; /* WSC_TGT_CONN: the one node that needs it */
    if (m->target == WSC_TGT_CONN) {
        memcpy(only, m->conn_node.ptr, m->conn_node.len);
        only[m->conn_node.len] = '\0';
    }
    if (cl->npeers == 0) return;
    n = wsc__encode_forward(m, NULL);
    eb = n ? wsc__buf_new(ctx, n) : NULL; /* pooled: no allocation per message in steady state */
    if (!eb) return;
    wsc__encode_forward(m, eb->data);
    wsc__multi_init(&mu, WSC_BINARY, eb->data, n);
    for (i = 0; i < cl->npeers; i++) {
        wsc__peer *p = &cl->peers[i];
        wsc__conn *c;
        if (!p->used || p->self || p->dup) continue;
        if (only[0] && strcmp(p->node, only) != 0) continue;
        c = wsc__get(ctx, p->obs);
        if (c && c->state == WSC__OPEN) {
            if (wsc__multi_one(ctx, &mu, c)) ctx->st.fwd_out++;
            else wsc__drop(ctx, c, WSC_DROP_QUEUE, "peer link queue full or closing", p->node, m->msg_id);
        } else if (!p->removed && p->node[0]) {
            /* honest accounting: a known peer without a link to us does not get it (an entry
               never reached is not counted: it may be an alias, or not started yet) */
            wsc__drop_unreachable(ctx, p, m->msg_id);
        }
    }
    wsc__multi_done(ctx, &mu);
    wsc__buf_unref(ctx, eb);
}

static const wsc__transport wsc__mesh = {"mesh", wsc__mesh_publish};

/* -- origins: one duplicate window per sending instance, whatever carried its messages -- */
static wsc__win *wsc__origin_win(wsc_ctx *ctx, wsc_str node) {
    wsc__bp *bp = &ctx->bp;
    int i, old = 0;
    if (!bp->origins) return NULL;
    for (i = 0; i < bp->norigins; i++)
        if (wsc__seq(node, bp->origins[i].node)) {
            bp->origins[i].used = ctx->io.now;
            return &bp->origins[i].win;
        }
    if (bp->norigins < WSC_MAX_ORIGINS) {
        i = bp->norigins++;
    } else { /* the one heard from longest ago gives way */
        for (i = 1; i < WSC_MAX_ORIGINS; i++)
            if (bp->origins[i].used < bp->origins[old].used) old = i;
        i = old;
    }
    memset(&bp->origins[i], 0, sizeof bp->origins[i]);
    memcpy(bp->origins[i].node, node.ptr, node.len < 64 ? node.len : 64);
    bp->origins[i].used = ctx->io.now;
    return &bp->origins[i].win;
}

/* a message from another instance, whatever carried it (c: its link, or NULL): once per
   origin and id, delivered here, never sent on. fresh: the first on a new link, whose
   origin may have restarted with new ids: its window starts again too */
static void wsc__bp_deliver(wsc_ctx *ctx, wsc__conn *c, const wsc_link_msg *m, int fresh) {
    wsc_forward_info fi;
    wsc__win *w = wsc__origin_win(ctx, m->node);
    int n;
    char origin[65];
    memcpy(origin, m->node.ptr, m->node.len);
    origin[m->node.len] = '\0';
    if (w && fresh) w->on = 0;
    if (w && wsc__win_seen(w, m->msg_id, 1) != 0) { /* a jump: the origin restarted */
        ctx->st.fwd_duplicates++;
        wsc__drop(ctx, c, WSC_DROP_DUPLICATE, "duplicate", origin, m->msg_id);
        return;
    }
    ctx->st.fwd_in++;
    n = wsc__dl_local(ctx, m);
    if (n < 0) {
        wsc__drop(ctx, c, WSC_DROP_REFUSED, "unknown selector", origin, m->msg_id);
        return;
    }
    fi.origin = m->node;
    fi.msg_id = m->msg_id;
    fi.delivered = n;
    wsc__emit(ctx, c, WSC_EV_FORWARD, &fi);
}

#endif /* WSCLUSTER_NO_CLUSTER */

#ifndef WSCLUSTER_NO_REDIS
/* -- Redis: the broker transport --
   Two RESP connections on the loop: one publishes (PUBLISH, or XADD in stream mode,
   pipelined), one is subscribed (SUBSCRIBE, or a chain of XREAD BLOCK from the last entry
   delivered). A message is a FORWARD (FORWARDING FORMAT), followed with a secret by an
   HMAC-SHA-256 of it under the secret. While Redis is not up (both connections ready),
   messages go over the mesh if there is one, else they are dropped and counted. */
enum { WSC__RS_SUBSCRIBE = 1, WSC__RS_MESSAGES, WSC__RS_XINFO, WSC__RS_XREAD };
#define WSC__REDIS_TOK 512
#define WSC__REDIS_COUNT 8      /* stream entries per XREAD */

/* redis[s]://[[user]:password@]host[:port][/db][?channel=NAME&mode=pubsub|stream&maxlen=N] */
static int wsc__redis_url(wsc__redis *r, const char *url, const char **why) {
    const char *p = url, *at, *hs, *he, *end, *q;
    char tmp[32];
    size_t n;
    *why = "not redis://[[user]:password@]host[:port][/db][?channel=NAME&mode=pubsub|stream"
           "&maxlen=N]";
    if (strncmp(p, "redis://", 8) == 0) p += 8;
    else if (strncmp(p, "rediss://", 9) == 0) { p += 9; r->tls = 1; }
    else return WSC_ERR_ADDR;
#ifndef WSCLUSTER_MBEDTLS
    if (r->tls) { *why = "rediss:// needs a build with WSCLUSTER_MBEDTLS"; return WSC_ERR_ADDR; }
#endif
    end = p + strcspn(p, "/?");
    at = NULL;
    for (q = p; q < end; q++)
        if (*q == '@') at = q;
    if (at) {
        const char *colon = (const char *)memchr(p, ':', (size_t)(at - p));
        if (!colon) { *why = "credentials must be [user]:password@"; return WSC_ERR_ADDR; }
        if ((size_t)(colon - p) >= sizeof r->user || (size_t)(at - colon - 1) >= sizeof r->pass)
            return WSC_ERR_ADDR;
        memcpy(r->user, p, (size_t)(colon - p));
        memcpy(r->pass, colon + 1, (size_t)(at - colon - 1));
        p = at + 1;
    }
    if (*p == '[') { /* an IPv6 literal */
        hs = p + 1;
        he = (const char *)memchr(hs, ']', (size_t)(end - hs));
        if (!he) return WSC_ERR_ADDR;
        p = he + 1;
    } else {
        hs = p;
        he = p + strcspn(p, ":/?");
        if (he > end) he = end;
        p = he;
    }
    n = (size_t)(he - hs);
    if (n == 0 || n >= sizeof r->host) return WSC_ERR_ADDR;
    memcpy(r->host, hs, n);
    r->port = 6379;
    if (*p == ':') {
        long v = strtol(p + 1, (char **)&q, 10);
        if (q == p + 1 || v < 1 || v > 65535) return WSC_ERR_ADDR;
        r->port = (int)v;
        p = q;
    }
    if (*p == '/') {
        long v = strtol(p + 1, (char **)&q, 10);
        if (q != p + 1 && (v < 0 || v > 1000000)) return WSC_ERR_ADDR;
        r->db = (int)v;
        p = q;
    }
    if (*p != '\0' && *p != '?') return WSC_ERR_ADDR;
    snprintf(r->channel, sizeof r->channel, "wscluster");
    r->maxlen = 100000;
    if (*p == '?') {
        wsc_str qs;
        int k;
        qs.ptr = p + 1;
        qs.len = strlen(p + 1);
        k = wsc_query_get(qs, "channel", r->channel, sizeof r->channel);
        if (k == 0 || k >= (int)sizeof r->channel) {
            *why = "channel must be 1-127 bytes";
            return WSC_ERR_ADDR;
        }
        if (k < 0) snprintf(r->channel, sizeof r->channel, "wscluster");
        if (wsc_query_get(qs, "mode", tmp, sizeof tmp) >= 0) {
            if (strcmp(tmp, "stream") == 0) r->stream = 1;
            else if (strcmp(tmp, "pubsub") != 0) { *why = "mode is pubsub or stream"; return WSC_ERR_ADDR; }
        }
        if (wsc_query_get(qs, "maxlen", tmp, sizeof tmp) >= 0) {
            unsigned long long v = strtoull(tmp, (char **)&q, 10);
            if (!tmp[0] || *q || v == 0) { *why = "maxlen is a number of entries (> 0)"; return WSC_ERR_ADDR; }
            r->maxlen = (uint64_t)v;
        }
    }
    *why = NULL;
    return 0;
}

static void wsc__redis_cmd(wsc_ctx *ctx, wsc__conn *c, int argc, const char *const *argv) {
    size_t lens[8], n;
    int i;
    wsc__buf *b;
    for (i = 0; i < argc; i++) lens[i] = strlen(argv[i]);
    n = wsc_resp_cmd(NULL, argc, argv, lens);
    b = wsc__buf_new(ctx, n);
    if (b) wsc_resp_cmd(b->data, argc, argv, lens);
    wsc__q_give(ctx, c, b);
}

/* the backplane is up when both connections are ready: the switch is logged and counted */
static void wsc__redis_state(wsc_ctx *ctx) {
    wsc__redis *r = ctx->bp.redis;
    int up = r->pub_ok && r->sub_ok;
    ctx->st.bp_state = up ? 2 : 1;
    if (up == r->was_up) return;
    r->was_up = (unsigned char)up;
    if (up) {
        r->fails = 0;
        wsc_log(ctx, WSC_LOG_INFO, "backplane: redis up (%s:%d, %s %s): messages go through it",
                r->host, r->port, r->stream ? "stream" : "channel", r->channel);
    } else {
        wsc_log(ctx, WSC_LOG_WARN, "backplane: redis down: %s until it is back",
                ctx->cl.npeers > 0 ? "messages go over the mesh" : "messages are dropped");
    }
}

/* AUTH and SELECT, as configured: the number of replies they owe */
static uint32_t wsc__redis_hello(wsc_ctx *ctx, wsc__conn *c) {
    wsc__redis *r = ctx->bp.redis;
    char db[16];
    uint32_t n = 0;
    if (r->pass[0]) {
        const char *a[3] = {"AUTH", r->user, r->pass};
        if (r->user[0]) wsc__redis_cmd(ctx, c, 3, a);
        else { a[1] = r->pass; wsc__redis_cmd(ctx, c, 2, a); }
        n++;
    }
    if (r->db) {
        const char *a[2] = {"SELECT", db};
        snprintf(db, sizeof db, "%d", r->db);
        wsc__redis_cmd(ctx, c, 2, a);
        n++;
    }
    return n;
}

static void wsc__redis_xread(wsc_ctx *ctx, wsc__conn *c) {
    wsc__redis *r = ctx->bp.redis;
    char block[16], count[8];
    const char *a[8] = {"XREAD", "COUNT", count, "BLOCK", block, "STREAMS", NULL, NULL};
    snprintf(block, sizeof block, "%d", ctx->cfg.heartbeat_ms);
    snprintf(count, sizeof count, "%d", WSC__REDIS_COUNT);
    a[6] = r->channel;
    a[7] = r->last_id[0] ? r->last_id : "$";
    wsc__redis_cmd(ctx, c, 8, a);
    r->sub_step = WSC__RS_XREAD;
}

static void wsc__redis_up(wsc_ctx *ctx, wsc__conn *c) {
    wsc__redis *r = ctx->bp.redis;
    c->state = WSC__OPEN;
    c->last_rx = ctx->io.now;
    if (wsc__id(ctx, c) == r->pub) {
        const char *ping[1] = {"PING"};
        r->pub_hs = wsc__redis_hello(ctx, c) + 1;
        wsc__redis_cmd(ctx, c, 1, ping);
        r->pub_rx = ctx->io.now;
        return;
    }
    r->sub_hs = wsc__redis_hello(ctx, c);
    r->sub_rx = r->last_ping = ctx->io.now;
    if (!r->stream) {
        const char *a[2] = {"SUBSCRIBE", r->channel};
        wsc__redis_cmd(ctx, c, 2, a);
        r->sub_step = WSC__RS_SUBSCRIBE;
    } else { /* the first time: from the stream's end on; resuming: what did we miss? */
        const char *a[3] = {"XINFO", "STREAM", r->channel};
        wsc__redis_cmd(ctx, c, 3, a);
        r->sub_step = WSC__RS_XINFO;
    }
}

/* a message off Redis: checked, parsed, delivered once */
static void wsc__redis_arrived(wsc_ctx *ctx, const char *p, size_t n) {
    wsc__redis *r = ctx->bp.redis;
    wsc_link_msg m;
    const char *why = "not signed with this cluster's secret";
    if (ctx->cfg.secret) {
        unsigned char tag[32];
        if (n < 32) goto bad;
        n -= 32;
        wsc_hmac_sha256(ctx->cfg.secret, strlen(ctx->cfg.secret), p, n, tag);
        if (!wsc__proof_eq(tag, (const unsigned char *)p + n)) goto bad;
    }
    if (wsc_link_parse((const unsigned char *)p, n, &m, &why) < 0) goto bad;
    why = "not a FORWARD";
    if (m.type != WSC_LINK_FORWARD) goto bad;
    if (wsc__seq(m.node, ctx->node)) return; /* our own, back from the channel */
    ctx->st.bp_in++;
    wsc__bp_deliver(ctx, NULL, &m, 0);
    return;
bad:
    ctx->st.bp_bad++;
    if (!r->bad_logged) { /* once: a forger, or an instance with another secret */
        r->bad_logged = 1;
        wsc_log(ctx, WSC_LOG_WARN, "backplane: a message on redis %s was refused (%s); is the "
                "secret the same on every instance? (logged once; counted in bp_bad)",
                r->channel, why);
    }
}

/* stream entries [[id, [field, value, ...]], ...] from tok: each one's "d" delivered */
static void wsc__redis_entries(wsc_ctx *ctx, const wsc_resp_tok *t, size_t nt, size_t i,
                               int64_t count) {
    wsc__redis *r = ctx->bp.redis;
    for (; count > 0 && i + 2 < nt; count--) {
        int64_t f, k;
        if (t[i].type != '*' || t[i].n != 2 || t[i + 1].type != '$' || t[i + 2].type != '*') return;
        f = t[i + 2].n;
        if (t[i + 1].len < sizeof r->last_id) {
            memcpy(r->last_id, t[i + 1].ptr, t[i + 1].len);
            r->last_id[t[i + 1].len] = '\0';
        }
        r->ord++;
        i += 3;
        for (k = 0; k + 1 < f && i + 1 < nt; k += 2, i += 2)
            if (t[i].len == 1 && t[i].ptr[0] == 'd' && t[i + 1].type == '$')
                wsc__redis_arrived(ctx, t[i + 1].ptr, t[i + 1].len);
    }
}

/* stream ids "ms-seq": a < b */
static int wsc__redis_id_lt(const char *a, size_t al, const char *b, size_t bl) {
    unsigned long long am, as = 0, bm, bs = 0;
    char x[48], y[48];
    if (al >= sizeof x || bl >= sizeof y) return 0;
    memcpy(x, a, al);
    x[al] = '\0';
    memcpy(y, b, bl);
    y[bl] = '\0';
    if (sscanf(x, "%llu-%llu", &am, &as) < 1 || sscanf(y, "%llu-%llu", &bm, &bs) < 1) return 0;
    return am < bm || (am == bm && as < bs);
}

static uint64_t wsc__redis_num(wsc_str s) {
    uint64_t v = 0;
    size_t i;
    for (i = 0; i < s.len && s.ptr[i] >= '0' && s.ptr[i] <= '9'; i++)
        v = v * 10 + (uint64_t)(s.ptr[i] - '0');
    return v;
}

/* XINFO STREAM, attaching: start after its last entry, knowing that entry's number (Redis
   7's entries-added). Resuming, or behind: entries numbered from entries-added - length +
   1 are still there; any before that and after ours were trimmed: a gap, counted. Redis 6
   has no entries-added: a first entry newer than ours is then reported, uncounted (it may
   also be only ours that went). */
static void wsc__redis_xinfo(wsc_ctx *ctx, wsc_str len, wsc_str added, wsc_str lastg,
                             wsc_str first) {
    wsc__redis *r = ctx->bp.redis;
    uint64_t n = wsc__redis_num(len), e = wsc__redis_num(added), lost = 0;
    int gap = 0;
    if (!r->last_id[0]) {
        snprintf(r->last_id, sizeof r->last_id, "%.*s",
                 (int)(lastg.len && lastg.len < sizeof r->last_id ? lastg.len : 3),
                 lastg.len ? lastg.ptr : "0-0");
        r->ord = e;
        r->ord_ok = added.len > 0;
        return;
    }
    if (added.len && r->ord_ok && e >= n && e - n > r->ord) {
        lost = e - n - r->ord;
        gap = 1;
    } else if (!added.len && first.len &&
               wsc__redis_id_lt(r->last_id, strlen(r->last_id), first.ptr, first.len)) {
        gap = 1;
    }
    if (added.len) r->ord = e - n > r->ord ? e - n : r->ord; /* numbered from what is left */
    if (!gap) return;
    wsc_log(ctx, WSC_LOG_WARN, "backplane: redis stream %s was trimmed past entry %s "
            "(maxlen=%llu): %s%llu message(s) lost", r->channel, r->last_id,
            (unsigned long long)r->maxlen, lost ? "" : "some ", (unsigned long long)lost);
    wsc__dropped(ctx, WSC_DROP_TRIMMED, lost ? lost : 1);
    wsc__drop_ev(ctx, NULL, "history trimmed", "redis", 0, lost);
}

static void wsc__redis_sub_reply(wsc_ctx *ctx, wsc__conn *c, const wsc_resp_tok *t, size_t nt) {
    wsc__redis *r = ctx->bp.redis;
    size_t i;
    r->sub_rx = ctx->io.now;
    if (r->sub_hs > 0) {
        r->sub_hs--;
        if (t[0].type == '-') {
            wsc_log(ctx, WSC_LOG_ERROR, "backplane: redis refused AUTH/SELECT: %.*s",
                    (int)t[0].len, t[0].ptr);
            wsc__lose(ctx, c, WSC_ERR_HANDSHAKE, "redis refused AUTH/SELECT");
        }
        return;
    }
    if (t[0].type == '-') {
        if (r->sub_step != WSC__RS_XINFO || t[0].len < 6 || memcmp(t[0].ptr, "ERR no", 6) != 0)
            wsc_log(ctx, WSC_LOG_ERROR, "backplane: redis: %s %s: %.*s",
                    r->sub_step == WSC__RS_SUBSCRIBE ? "SUBSCRIBE" : r->sub_step == WSC__RS_XINFO
                    ? "XINFO STREAM" : "XREAD", r->channel, (int)t[0].len, t[0].ptr);
        if (r->sub_step == WSC__RS_XINFO) { /* no stream yet: from its first entry on */
            if (!r->last_id[0]) {
                snprintf(r->last_id, sizeof r->last_id, "0-0");
                r->ord = 0;
                r->ord_ok = 1; /* nothing added yet */
            }
            wsc__redis_xread(ctx, c);
            r->sub_ok = 1;
            wsc__redis_state(ctx);
            return;
        }
        wsc__lose(ctx, c, WSC_ERR_PROTO, "redis refused the subscription");
        return;
    }
    switch (r->sub_step) {
    case WSC__RS_SUBSCRIBE:
        if (t[0].type == '*' && nt >= 2 && t[1].len == 9 && memcmp(t[1].ptr, "subscribe", 9) == 0) {
            r->sub_step = WSC__RS_MESSAGES;
            r->sub_ok = 1;
            wsc__redis_state(ctx);
        }
        return;
    case WSC__RS_MESSAGES: /* ["message", channel, payload] or ["pong", ""] */
        if (t[0].type == '*' && t[0].n == 3 && nt == 4 && t[1].len == 7 &&
            memcmp(t[1].ptr, "message", 7) == 0 && t[3].type == '$')
            wsc__redis_arrived(ctx, t[3].ptr, t[3].len);
        return;
    case WSC__RS_XINFO: { /* the stream's counters: where we start, or what we missed */
        wsc_str len = {"", 0}, added = {"", 0}, lastg = {"", 0}, first = {"", 0};
        for (i = 1; i + 1 < nt; i++) {
            wsc_str *v = NULL;
            if (t[i].type != '$') continue;
            if (t[i].len == 6 && memcmp(t[i].ptr, "length", 6) == 0) v = &len;
            else if (t[i].len == 13 && memcmp(t[i].ptr, "entries-added", 13) == 0) v = &added;
            else if (t[i].len == 17 && memcmp(t[i].ptr, "last-generated-id", 17) == 0) v = &lastg;
            else if (t[i].len == 11 && memcmp(t[i].ptr, "first-entry", 11) == 0 && i + 2 < nt &&
                     t[i + 1].type == '*' && t[i + 1].n == 2)
                first.ptr = t[i + 2].ptr, first.len = t[i + 2].len;
            if (v && (t[i + 1].type == '$' || t[i + 1].type == ':')) {
                v->ptr = t[i + 1].ptr;
                v->len = t[i + 1].len;
            }
        }
        wsc__redis_xinfo(ctx, len, added, lastg, first);
        wsc__redis_xread(ctx, c);
        r->sub_ok = 1;
        wsc__redis_state(ctx);
        return;
    }
    case WSC__RS_XREAD: /* nil (BLOCK timed out) or [[stream, entries]] */
        if (t[0].type == '*' && nt > 3 && t[1].type == '*' && t[3].type == '*') {
            wsc__redis_entries(ctx, t, nt, 4, t[3].n);
            if (t[3].n >= WSC__REDIS_COUNT && c->state == WSC__OPEN) {
                /* behind: history may be trimmed under us, so look before reading on */
                const char *a[3] = {"XINFO", "STREAM", r->channel};
                wsc__redis_cmd(ctx, c, 3, a);
                r->sub_step = WSC__RS_XINFO;
                return;
            }
        }
        if (c->state == WSC__OPEN) wsc__redis_xread(ctx, c);
        return;
    default:
        return;
    }
}

static void wsc__redis_pub_reply(wsc_ctx *ctx, wsc__conn *c, const wsc_resp_tok *t) {
    wsc__redis *r = ctx->bp.redis;
    r->pub_rx = ctx->io.now;
    if (r->pub_hs > 0) {
        if (t[0].type == '-') {
            wsc_log(ctx, WSC_LOG_ERROR, "backplane: redis refused AUTH/SELECT: %.*s",
                    (int)t[0].len, t[0].ptr);
            wsc__lose(ctx, c, WSC_ERR_HANDSHAKE, "redis refused AUTH/SELECT");
            return;
        }
        if (--r->pub_hs == 0) {
            r->pub_ok = 1;
            wsc__redis_state(ctx);
        }
        return;
    }
    if (r->pub_due == 0) {
        wsc__lose(ctx, c, WSC_ERR_PROTO, "a redis reply to nothing");
        return;
    }
    r->pub_due--;
    if (t[0].type == '-')
        wsc_log(ctx, WSC_LOG_WARN, "backplane: redis: %s %s: %.*s", r->pub_cmd, r->channel,
                (int)t[0].len, t[0].ptr);
}

static void wsc__redis_bytes(wsc_ctx *ctx, wsc__conn *c, unsigned char *p, size_t n) {
    wsc__redis *r = ctx->bp.redis;
    size_t bulk = wsc__size_cap(ctx->cfg.max_message + WSC__LINK_OVERHEAD + 64);
    size_t at = 0, most = wsc__size_mul(bulk, WSC__REDIS_COUNT);
    wsc_resp_tok *tok = (wsc_resp_tok *)(r + 1);
    int pub = wsc__id(ctx, c) == r->pub;
    if (wsc__in_add(ctx, c, p, n, most) < 0) {
        wsc__lose(ctx, c, WSC_ERR_LIMIT, "no room for a redis reply (max_memory)");
        return;
    }
    c->busy = 1; /* the replies point into its buffer */
    while (c->state == WSC__OPEN) {
        size_t nt;
        int64_t k = wsc_resp_parse(c->in + at, c->in_len - at, bulk, tok, WSC__REDIS_TOK, &nt);
        if (k == 0) break;
        if (k < 0) {
            wsc_log(ctx, WSC_LOG_ERROR, "backplane: a malformed reply from redis %s",
                    wsc__peer_s(ctx, c));
            wsc__lose(ctx, c, WSC_ERR_PROTO, "malformed redis reply");
            break;
        }
        at += (size_t)k;
        if (pub) wsc__redis_pub_reply(ctx, c, tok);
        else wsc__redis_sub_reply(ctx, c, tok, nt);
    }
    c->busy = 0;
    if (c->state != WSC__OPEN) return;
    if (at == c->in_len) wsc__in_release(ctx, c);
    else if (at) {
        memmove(c->in, c->in + at, c->in_len - at);
        c->in_len -= at;
    }
}

/* heartbeat: the subscriber is pinged (pubsub) or answers its XREAD BLOCK (stream) every
   heartbeat_ms; silent for heartbeat_timeout_ms more, a connection is given up */
static void wsc__redis_tick(wsc_ctx *ctx, wsc__conn *c, int64_t now) {
    wsc__redis *r = ctx->bp.redis;
    int64_t hb = ctx->cfg.heartbeat_ms, to = ctx->cfg.heartbeat_timeout_ms;
    if (c->state != WSC__OPEN) return;
    if (wsc__id(ctx, c) == r->pub) {
        if ((r->pub_due > 0 || r->pub_hs > 0) && now - r->pub_rx > to)
            wsc__lose(ctx, c, WSC_ERR_TIMEOUT, "redis does not answer (heartbeat_timeout_ms)");
        else if (r->pub_due == 0 && r->pub_ok && now - r->pub_rx >= hb) {
            const char *ping[1] = {"PING"};
            wsc__redis_cmd(ctx, c, 1, ping);
            r->pub_due++;
            r->pub_cmd = "PING";
            r->pub_rx = now;
        }
        return;
    }
    if (now - r->sub_rx > (r->stream ? hb : 0) + to) {
        wsc__lose(ctx, c, WSC_ERR_TIMEOUT, "redis silent (heartbeat_timeout_ms)");
    } else if (!r->stream && r->sub_ok && now - r->last_ping >= hb) {
        const char *ping[1] = {"PING"};
        wsc__redis_cmd(ctx, c, 1, ping);
        r->last_ping = now;
    }
}

static void wsc__redis_lost(wsc_ctx *ctx, wsc__conn *c, int err, const char *why) {
    (void)err;
    wsc_log(ctx, WSC_LOG_INFO, "backplane: redis connection %s lost: %s", wsc__peer_s(ctx, c),
            why ? why : "closed");
}

static void wsc__redis_closed(wsc_ctx *ctx, wsc__conn *c) {
    wsc__redis *r = ctx->bp.redis;
    wsc_id id = wsc__id(ctx, c);
    int64_t d = 500;
    int k;
    if (!r) return;
    if (id == r->pub) { r->pub = 0; r->pub_ok = 0; r->pub_due = 0; r->pub_hs = 0; }
    if (id == r->sub) { r->sub = 0; r->sub_ok = 0; r->sub_hs = 0; }
    if (!r->was_up) r->fails++;
    for (k = 1; k < r->fails && d < ctx->cfg.reconnect_max_ms; k++) d *= 2;
    if (d > ctx->cfg.reconnect_max_ms) d = ctx->cfg.reconnect_max_ms;
    r->next_try = ctx->io.now + d / 2 + (int64_t)(wsc__rand(ctx) % (uint64_t)(d / 2 + 1));
    wsc__redis_state(ctx);
}

static void wsc__redis_shed(wsc_ctx *ctx, wsc__conn *c) {
    wsc__lose(ctx, c, WSC_ERR_LIMIT, "over the memory budget");
}

static const wsc__proto_vt wsc__redis_vt = {wsc__redis_up, wsc__redis_bytes, wsc__redis_tick,
                                            wsc__redis_lost, wsc__redis_closed, wsc__redis_shed};

static void wsc__redis_dial(wsc_ctx *ctx, wsc_id *slot) {
    wsc__redis *r = ctx->bp.redis;
    wsc__conn *c;
    int e = wsc__io_dial(ctx, r->host, r->port, WSC_PROTO_TCP, r->tls, &wsc__redis_vt, &r->own, &c);
    if (e < 0) {
        if (!r->down_logged)
            wsc_log(ctx, WSC_LOG_WARN, "backplane: cannot connect to redis %s:%d: %s", r->host,
                    r->port, wsc_strerror(e));
        r->down_logged = 1;
        r->fails++;
        r->next_try = ctx->io.now + ctx->cfg.reconnect_max_ms;
        return;
    }
    r->down_logged = 0;
    c->internal = 1;
    c->cls = WSC_SUBSCRIBER;
    wsc__ev_sync(ctx, c);
    *slot = wsc__id(ctx, c);
}

static void wsc__redis_timer(wsc_ctx *ctx, void *arg) {
    wsc__redis *r = ctx->bp.redis;
    (void)arg;
    if (ctx->shutting || ctx->io.now < r->next_try) return;
    if (!wsc__get(ctx, r->pub)) wsc__redis_dial(ctx, &r->pub);
    if (!wsc__get(ctx, r->sub) && ctx->io.now >= r->next_try) wsc__redis_dial(ctx, &r->sub);
}

/* 0: published; WSC_ERR_STATE: Redis is not up; else no room */
static int wsc__redis_publish(wsc_ctx *ctx, const wsc_link_msg *m) {
    wsc__redis *r = ctx->bp.redis;
    wsc__conn *c = wsc__get(ctx, r->pub);
    char maxlen[24];
    const char *argv[8];
    size_t lens[8], n, tag = ctx->cfg.secret ? 32 : 0, total, off;
    int argc, i;
    wsc__buf *b;
    if (!r->pub_ok || !r->sub_ok || !c || c->state != WSC__OPEN) return WSC_ERR_STATE;
    if (r->pub_due >= WSC__REDIS_DUE || wsc__q_full(c)) return WSC_ERR_SLOW;
    n = wsc__encode_forward(m, NULL);
    if (n == 0) return WSC_ERR_INVAL;
    if (r->stream) {
        snprintf(maxlen, sizeof maxlen, "%llu", (unsigned long long)r->maxlen);
        argv[0] = "XADD"; argv[1] = r->channel; argv[2] = "MAXLEN"; argv[3] = "~";
        argv[4] = maxlen; argv[5] = "*"; argv[6] = "d";
        argc = 7;
    } else {
        argv[0] = "PUBLISH"; argv[1] = r->channel;
        argc = 2;
    }
    for (i = 0; i < argc; i++) lens[i] = strlen(argv[i]);
    argv[argc] = NULL; /* the message: room left, encoded in place below */
    lens[argc++] = n + tag;
    total = wsc_resp_cmd(NULL, argc, argv, lens);
    b = wsc__buf_new(ctx, total);
    if (!b) return WSC_ERR_NOMEM;
    wsc_resp_cmd(b->data, argc, argv, lens);
    off = total - 2 - (n + tag);
    wsc__encode_forward(m, b->data + off);
    if (tag)
        wsc_hmac_sha256(ctx->cfg.secret, strlen(ctx->cfg.secret), b->data + off, n,
                        b->data + off + n);
    if (wsc__q_give(ctx, c, b) < 0) return WSC_ERR_NOMEM;
    if (r->pub_due++ == 0) r->pub_rx = ctx->io.now;
    r->pub_cmd = r->stream ? "XADD" : "PUBLISH";
    ctx->st.bp_out++;
    return 0;
}

static int wsc__redis_init(wsc_ctx *ctx) {
    wsc__redis *r;
    const char *why;
    r = (wsc__redis *)wsc__alloc(ctx, sizeof *r + WSC__REDIS_TOK * sizeof(wsc_resp_tok));
    if (!r) return WSC_ERR_NOMEM;
    memset(r, 0, sizeof *r);
    ctx->bp.redis = r;
    if (wsc__redis_url(r, ctx->cfg.backplane, &why) < 0) {
        wsc_log(ctx, WSC_LOG_ERROR, "backplane '%s': %s", ctx->cfg.backplane, why);
        return WSC_ERR_INVAL;
    }
    r->own.max = 2;
    r->own.max_pending = wsc__size_mul(ctx->cfg.max_pending, 2);
    r->timer = wsc__timer_add(ctx, 100, 1, wsc__redis_timer, NULL, 1);
    ctx->st.bp_state = 1;
    if (!ctx->cfg.secret)
        wsc_log(ctx, WSC_LOG_WARN, "backplane: NO CLUSTER SECRET: whoever can PUBLISH on redis "
                "%s:%d can send to every client (set the secret option)", r->host, r->port);
    return r->timer < 0 ? r->timer : 0;
}
#else /* WSCLUSTER_NO_REDIS: a backplane URL is refused, not ignored */
static int wsc__redis_init(wsc_ctx *ctx) {
    wsc_log(ctx, WSC_LOG_ERROR, "backplane '%s': the Redis backplane is not built in "
            "(WSCLUSTER_NO_REDIS or _NO_CLUSTER)", ctx->cfg.backplane);
    return WSC_ERR_NOTBUILT;
}
#endif

/* wsc_shutdown: the broker connections go at once (no close handshake to wait for) */
static void wsc__bp_shutdown(wsc_ctx *ctx) {
#ifndef WSCLUSTER_NO_REDIS
    wsc__redis *r = ctx->bp.redis;
    wsc__conn *c;
    if (!r) return;
    if ((c = wsc__get(ctx, r->pub)) != NULL) wsc__kill(ctx, c);
    if ((c = wsc__get(ctx, r->sub)) != NULL) wsc__kill(ctx, c);
#else
    (void)ctx;
#endif
}

/* the one path of every cluster-wide send: this instance's clients, then the transport.
   The count of local clients it was queued for. */
static int wsc__bp_publish(wsc_ctx *ctx, wsc_link_msg *m) {
    int local;
    m->node.ptr = ctx->node;
    m->node.len = strlen(ctx->node);
    m->msg_id = ++ctx->bp.msg_seq;
    local = wsc__dl_local(ctx, m);
    if (local < 0) local = 0; /* a named selector may exist on the other instances only */
#ifndef WSCLUSTER_NO_CLUSTER
    if (m->target == WSC_TGT_CONN && wsc__seq(m->conn_node, ctx->node)) return local;
    if (!ctx->cl.on) return local;
#ifndef WSCLUSTER_NO_REDIS
    if (ctx->bp.redis) { /* Redis first; the mesh is its standby when there is one */
        int r = wsc__redis_publish(ctx, m);
        if (r == 0) return local;
        if (ctx->cl.npeers == 0) {
            wsc__drop(ctx, NULL, WSC_DROP_BACKPLANE,
                      r == WSC_ERR_STATE ? "backplane down" : "backplane queue full", "redis",
                      m->msg_id);
            return local;
        }
    }
#endif
    ctx->bp.tp->publish(ctx, m);
#endif
    return local;
}

#ifndef WSCLUSTER_NO_CLUSTER

/* a message from another instance on link c, from peer p: the link's own window first (a
   link that jumps is closed), then the origin's */
static void wsc__bp_arrived(wsc_ctx *ctx, wsc__conn *c, wsc__peer *p, const wsc_link_msg *m) {
    int n, fresh = !p->win.on;
    char origin[65];
    if (wsc__seq(m->node, ctx->node)) return; /* our own message reflected: never deliver */
    n = wsc__win_seen(&p->win, m->msg_id, 0);
    if (n < 0) {
        wsc__dropped(ctx, WSC_DROP_REFUSED, 1);
        wsc__fail(ctx, c, 1002, WSC_ERR_PROTO, "message id far ahead of the window");
        return;
    }
    if (n > 0) {
        memcpy(origin, m->node.ptr, m->node.len);
        origin[m->node.len] = '\0';
        ctx->st.fwd_duplicates++;
        wsc__drop(ctx, c, WSC_DROP_DUPLICATE, "duplicate", origin, m->msg_id);
        return;
    }
    wsc__bp_deliver(ctx, c, m, fresh);
}
#endif

/* -- wsc_post: jobs cross threads as one pointer written to a pipe (atomic, < PIPE_BUF) -- */
static void wsc__post_drain(wsc_ctx *ctx, int fd, int revents, void *user) {
    (void)revents;
    (void)user;
    for (;;) {
        unsigned char *job;
        ssize_t r = read(fd, &job, sizeof job);
        wsc_link_msg m;
        const char *why;
        size_t n;
        if (r != (ssize_t)sizeof job) return;
        memcpy(&n, job, sizeof n);
        if (wsc_link_parse(job + sizeof n, n, &m, &why) == 0) {
            ctx->st.posted++;
            ctx->st.msgs_sent++;
            wsc__bp_publish(ctx, &m);
        }
        WSC_FREE(job, ctx->cfg.alloc_user);
    }
}

/* a job for the loop: the message encoded as a FORWARD, after its length */
static int wsc__post_job(wsc_ctx *ctx, const wsc_link_msg *m) {
    size_t n = wsc__encode_forward(m, NULL);
    unsigned char *job;
    ssize_t w;
    if (n == 0) return WSC_ERR_INVAL;
    job = (unsigned char *)WSC_MALLOC(sizeof n + n, ctx->cfg.alloc_user);
    if (!job) return WSC_ERR_NOMEM;
    memcpy(job, &n, sizeof n);
    wsc__encode_forward(m, job + sizeof n);
    w = write(ctx->bp.wake[1], &job, sizeof job);
    if (w != (ssize_t)sizeof job) {
        WSC_FREE(job, ctx->cfg.alloc_user);
        return WSC_ERR_AGAIN;
    }
    return 0;
}

/* build the message for a target (views into the caller's strings) */
static int wsc__target_msg(wsc_ctx *ctx, const wsc_target *t, int opcode, const void *data,
                           size_t len, wsc_link_msg *m) {
    uint32_t st = 0;
    memset(m, 0, sizeof *m);
    if (opcode != WSC_TEXT && opcode != WSC_BINARY) return WSC_ERR_INVAL;
    if ((uint64_t)len > ctx->cfg.max_message) return WSC_ERR_TOOBIG;
    if (len && !data) return WSC_ERR_INVAL;
    /* invalid text would make every peer drop the link: refuse it here */
    if (opcode == WSC_TEXT &&
        (wsc_utf8_check(&st, (const unsigned char *)data, len) < 0 || st != 0))
        return WSC_ERR_UTF8;
    m->type = WSC_LINK_FORWARD;
    m->opcode = opcode;
    m->payload.ptr = (const char *)data;
    m->payload.len = len;
    m->node.ptr = ctx->node;
    m->node.len = strlen(ctx->node);
    if (!t) return 0;
    if (t->conn) {
        const char *slash = strrchr(t->conn, '/');
        char *end;
        unsigned long long v;
        if (!slash || slash == t->conn || slash - t->conn > 64 || !slash[1]) return WSC_ERR_INVAL;
        v = strtoull(slash + 1, &end, 16);
        if (*end) return WSC_ERR_INVAL;
        m->target = WSC_TGT_CONN;
        m->conn_node.ptr = t->conn;
        m->conn_node.len = (size_t)(slash - t->conn);
        m->conn_id = (uint64_t)v;
    } else if (t->selector) {
        size_t nl = strlen(t->selector), al = t->arg ? strlen(t->arg) : 0;
        if (nl == 0 || nl > 63 || al > 65535) return WSC_ERR_INVAL;
        m->target = WSC_TGT_NAMED;
        m->name.ptr = t->selector;
        m->name.len = nl;
        m->arg.ptr = t->arg ? t->arg : "";
        m->arg.len = al;
    } else if (t->nmatch) {
        size_t i;
        if (!t->match || t->nmatch > WSC_MAX_MATCH) return WSC_ERR_INVAL;
        m->target = WSC_TGT_MATCH;
        m->nmatch = t->nmatch;
        for (i = 0; i < t->nmatch; i++) {
            const char *v = t->match[i].value ? t->match[i].value : "*";
            if (!t->match[i].key || !*t->match[i].key || strlen(t->match[i].key) > 255 ||
                strlen(v) > 65535)
                return WSC_ERR_INVAL;
            m->keys[i].ptr = t->match[i].key;
            m->keys[i].len = strlen(t->match[i].key);
            m->values[i].ptr = v;
            m->values[i].len = strlen(v);
        }
    }
    return 0;
}

static int wsc__bp_init(wsc_ctx *ctx) {
    struct timespec ts;
#ifndef WSCLUSTER_NO_CLUSTER
    ctx->bp.tp = &wsc__mesh;
    ctx->cl.arrived = wsc__bp_arrived;
    if (ctx->cl.on) {
        ctx->bp.origins = (wsc__origin *)wsc__alloc(ctx, WSC_MAX_ORIGINS * sizeof *ctx->bp.origins);
        if (!ctx->bp.origins) return WSC_ERR_NOMEM;
    }
#endif
    if (ctx->cfg.backplane && wsc__redis_init(ctx) < 0) return WSC_ERR_INVAL;
    if (ctx->bp.redis) ctx->st.bp_kind = ctx->bp.redis->stream ? 2 : 1;
    clock_gettime(CLOCK_REALTIME, &ts);
    /* ids grow across restarts, so peers' duplicate windows stay valid */
    ctx->bp.msg_seq = ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000) << 16;
    if (pipe(ctx->bp.wake) < 0) {
        ctx->bp.wake[0] = ctx->bp.wake[1] = -1;
        wsc_log(ctx, WSC_LOG_ERROR, "pipe: %s", strerror(errno));
        return WSC_ERR_SYS;
    }
    if (wsc__nonblock(ctx->bp.wake[0]) < 0 || wsc__nonblock(ctx->bp.wake[1]) < 0 ||
        wsc__watch_add(ctx, ctx->bp.wake[0], POLLIN, wsc__post_drain, NULL) < 0) {
        wsc_log(ctx, WSC_LOG_ERROR, "wake-up pipe: %s", strerror(errno));
        return WSC_ERR_SYS;
    }
    return 0;
}

static void wsc__bp_free(wsc_ctx *ctx) {
    wsc__free(ctx, ctx->bp.redis);
    wsc__free(ctx, ctx->bp.origins);
    ctx->bp.redis = NULL;
    ctx->bp.origins = NULL;
    if (ctx->bp.wake[0] >= 0) {
        unsigned char *job;
        wsc__watch_del(ctx, ctx->bp.wake[0]);
        while (read(ctx->bp.wake[0], &job, sizeof job) == (ssize_t)sizeof job)
            WSC_FREE(job, ctx->cfg.alloc_user);
        close(ctx->bp.wake[0]);
    }
    if (ctx->bp.wake[1] >= 0) close(ctx->bp.wake[1]);
}
/* >>public ======================================== the public functions =============== */
WSC_DEF wsc_ctx *wsc_create(const wsc_config *cfg) {
    wsc_config c;
    wsc_ctx *ctx;
    const char *id;
    size_t k, idl;
    if (cfg) c = *cfg;
    else memset(&c, 0, sizeof c);
    if (c.max_conns <= 0) c.max_conns = WSC__DEFAULT_MAX_CONNS;
    if (c.max_message == 0) c.max_message = WSC__DEFAULT_MAX_MESSAGE;
    if (c.max_message > 0xffffffffu) c.max_message = 0xffffffffu; /* TCP framer: 32-bit */
    if (c.max_head == 0) c.max_head = WSC__DEFAULT_MAX_HEAD;
    if (c.max_body == 0) c.max_body = (size_t)c.max_message;
    if (c.max_body > 0xffffffffu) c.max_body = 0xffffffffu;
    if (c.max_pending == 0) /* room for a few messages: a reader that keeps up is not cut */
        c.max_pending = c.max_message > WSC__DEFAULT_MAX_PENDING / 4
                            ? wsc__size_mul((size_t)c.max_message, 4) : WSC__DEFAULT_MAX_PENDING;
    if (c.max_memory == 0)
        c.max_memory = c.max_message > WSC__DEFAULT_MAX_MEMORY / 4
                           ? wsc__size_mul((size_t)c.max_message, 4) : WSC__DEFAULT_MAX_MEMORY;
    if (c.handshake_timeout_ms <= 0) c.handshake_timeout_ms = WSC__DEFAULT_HANDSHAKE_MS;
    if (c.ping_interval_ms == 0) c.ping_interval_ms = WSC__DEFAULT_PING_MS;
    if (c.ping_interval_ms < 0) c.ping_interval_ms = 0;
    if (c.idle_timeout_ms == 0) c.idle_timeout_ms = 2 * c.ping_interval_ms;
    if (c.idle_timeout_ms < 0) c.idle_timeout_ms = 0;
    if (c.close_timeout_ms <= 0) c.close_timeout_ms = WSC__DEFAULT_CLOSE_MS;
    if (c.log_level == 0) c.log_level = WSC_LOG_INFO;
    if (c.heartbeat_ms <= 0) c.heartbeat_ms = 5000;
    if (c.heartbeat_timeout_ms <= 0) c.heartbeat_timeout_ms = 3 * c.heartbeat_ms;
    if (c.refresh_ms <= 0) c.refresh_ms = 10000;
    if (c.reconnect_max_ms <= 0) c.reconnect_max_ms = 10000;
    ctx = (wsc_ctx *)WSC_MALLOC(sizeof *ctx, c.alloc_user);
    if (!ctx) return NULL;
    memset(ctx, 0, sizeof *ctx);
    ctx->cfg = c;
    ctx->born = wsc_now_ms();
    ctx->io.epfd = -1;
    ctx->bp.wake[0] = ctx->bp.wake[1] = -1;
    if (wsc__urandom(&ctx->rng, sizeof ctx->rng) < 0 || ctx->rng == 0)
        ctx->rng = (uint64_t)wsc_now_ms() ^ 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)ctx;
    id = c.node_id;
    idl = id ? strlen(id) : 0;
    for (k = 0; k < idl; k++)
        if ((unsigned char)id[k] <= 0x20 || (unsigned char)id[k] >= 0x7f) idl = 0;
    if (id && (idl == 0 || idl > 64)) {
        wsc_log(ctx, WSC_LOG_ERROR, "node_id must be 1-64 printable characters");
        wsc_destroy(ctx);
        return NULL;
    }
    /* every length that goes on the wire is checked here, where it is configured (the
       secret never goes: its bound is the documented one, kept for compatibility) */
    if (c.secret && strlen(c.secret) > 255) {
        wsc_log(ctx, WSC_LOG_ERROR, "secret is %zu bytes: at most 255", strlen(c.secret));
        wsc_destroy(ctx);
        return NULL;
    }
    if (c.advertise && strlen(c.advertise) + strlen(c.cluster_path ? c.cluster_path : "/wscluster") +
                           7 > 255) {
        wsc_log(ctx, WSC_LOG_ERROR, "advertise '%.40s...' is too long: the advertised URL "
                "(scheme, HOST:PORT and cluster_path) must fit 255 bytes", c.advertise);
        wsc_destroy(ctx);
        return NULL;
    }
    if (id) memcpy(ctx->node, id, idl + 1);
    else snprintf(ctx->node, sizeof ctx->node, "node-%08x", (unsigned)(wsc__rand(ctx) >> 32));
    /* each layer sets itself up, from the bottom */
    if (wsc__io_init(ctx) < 0 || (wsc__dl_init(ctx), wsc__cl_init(ctx) < 0) ||
        wsc__bp_init(ctx) < 0) {
        wsc_destroy(ctx);
        return NULL;
    }
    return ctx;
}

WSC_DEF void wsc_destroy(wsc_ctx *ctx) {
    if (!ctx) return;
    ctx->shutting = 1; /* no reconnect plans logged */
    wsc__bp_free(ctx);
    wsc__io_free(ctx);
    wsc__cl_free(ctx);
    WSC_FREE(ctx, ctx->cfg.alloc_user);
}

WSC_DEF int wsc_listen(wsc_ctx *ctx, const char *url) {
    char host[256];
    const char *path;
    int proto, port;
    if (!ctx || !url) return WSC_ERR_INVAL;
    if (wsc_url_parse(url, &proto, host, sizeof host, &port, &path) < 0) {
        wsc_log(ctx, WSC_LOG_ERROR, "listen: bad address '%s'", url);
        return WSC_ERR_ADDR;
    }
    return wsc__io_listen(ctx, url, wsc__vt_for(proto), &ctx->dl.app);
}

WSC_DEF int wsc_listener_port(wsc_ctx *ctx, int l) {
    if (!ctx || l < 0 || l >= ctx->io.nlst) return WSC_ERR_INVAL;
    return ctx->io.lst[l].port;
}

WSC_DEF int wsc_poll(wsc_ctx *ctx, int timeout_ms) { return wsc__io_poll(ctx, timeout_ms); }

WSC_DEF int wsc_run(wsc_ctx *ctx) {
    ctx->stop = 0;
    while (!ctx->stop) {
        int r = wsc_poll(ctx, 1000);
        if (r < 0) return r;
    }
    return 0;
}

WSC_DEF void wsc_stop(wsc_ctx *ctx) { ctx->stop = 1; }

WSC_DEF int wsc_shutdown(wsc_ctx *ctx, int code, int timeout_ms) {
    int n;
    uint32_t i;
    int64_t until;
    if (!ctx) return WSC_ERR_INVAL;
    if (ctx->depth > 0) return WSC_ERR_STATE;
    ctx->shutting = 1; /* no more accepting, dialling or reconnecting */
    wsc__io_unlisten(ctx);
    wsc__bp_shutdown(ctx);
    n = wsc_close_all(ctx, code ? code : 1001, "going away");
    until = wsc_now_ms() + (timeout_ms > 0 ? timeout_ms : ctx->cfg.close_timeout_ms);
    while (ctx->io.nconns > 0 && wsc_now_ms() < until) {
        int64_t left = until - wsc_now_ms();
        if (wsc_poll(ctx, left < 50 ? (int)left : 50) < 0) break;
    }
    for (i = 0; i < ctx->io.hi; i++)
        if (ctx->io.slots[i]) wsc__kill(ctx, ctx->io.slots[i]);
    wsc__reap(ctx); /* what is left goes now, each with its CLOSE */
    return n;
}

WSC_DEF int wsc_timer(wsc_ctx *ctx, int ms, int repeat, void (*cb)(wsc_ctx *, void *),
                      void *arg) {
    if (!ctx || !cb || ms < 0) return WSC_ERR_INVAL;
    return wsc__timer_add(ctx, ms, repeat, cb, arg, 0);
}

WSC_DEF int wsc_timer_cancel(wsc_ctx *ctx, int id) {
    int i;
    for (i = 0; ctx && id > 0 && i < ctx->io.ntimers; i++)
        if (ctx->io.timers[i].id == id && !ctx->io.timers[i].lib) {
            ctx->io.timers[i].id = 0;
            return 0;
        }
    return WSC_ERR_STALE;
}

WSC_DEF int wsc_watch(wsc_ctx *ctx, int fd, int events, wsc_watch_fn fn, void *user) {
    if (!ctx || fd < 0 || !fn || (events & ~(POLLIN | POLLOUT))) return WSC_ERR_INVAL;
    if (fd == ctx->bp.wake[0]) return WSC_ERR_INVAL;
    return wsc__watch_add(ctx, fd, events, fn, user);
}

WSC_DEF int wsc_unwatch(wsc_ctx *ctx, int fd) {
    if (!ctx || fd == ctx->bp.wake[0]) return WSC_ERR_STALE;
    return wsc__watch_del(ctx, fd);
}

WSC_DEF int wsc_next_timeout(wsc_ctx *ctx) {
    if (!ctx) return -1;
    ctx->io.now = wsc_now_ms();
    if (ctx->io.ndirty > 0 || ctx->io.need_reap) return 0;
    return wsc__wait_ms(ctx, -1);
}

WSC_DEF int wsc_loop_fd(wsc_ctx *ctx) { return ctx ? ctx->io.epfd : -1; }

WSC_DEF size_t wsc_pollfds(wsc_ctx *ctx, struct pollfd *out, size_t max) {
    size_t np = 0, k;
    if (!ctx) return 0;
    if (ctx->io.epfd >= 0) { /* one descriptor stands for all */
        if (out && max > 0) {
            out[0].fd = ctx->io.epfd;
            out[0].events = POLLIN;
            out[0].revents = 0;
        }
        return 1;
    }
    ctx->io.now = wsc_now_ms();
    if (wsc__build_pfds(ctx, &np) < 0) return 0;
    for (k = 0; out && k < np && k < max; k++) out[k] = ctx->io.pfds[k];
    return np;
}

WSC_DEF int wsc_connect(wsc_ctx *ctx, const char *url, const wsc_connect_opts *opts,
                        wsc_id *out) {
#ifndef WSCLUSTER_NO_CLIENT
    wsc_connect_opts o;
    wsc__conn *c;
    int r;
    if (!ctx || !url) return WSC_ERR_INVAL;
    if (ctx->shutting) return WSC_ERR_STATE;
    if (opts) o = *opts;
    else memset(&o, 0, sizeof o);
    r = wsc__pr_dial(ctx, url, &o, &ctx->dl.app,
                     o.cls >= WSC_CLIENT && o.cls <= WSC_OBSERVABLE ? o.cls : WSC_SUBSCRIBER, &c);
    if (r < 0) return r;
    if (out) *out = wsc__id(ctx, c);
    return 0;
#else /* the client role is not built in */
    (void)ctx, (void)url, (void)opts;
    if (out) *out = 0;
    return WSC_ERR_NOTBUILT;
#endif
}

static int wsc__check_msg(wsc_ctx *ctx, int opcode, size_t len) {
    if (opcode != WSC_TEXT && opcode != WSC_BINARY) return WSC_ERR_INVAL;
    if ((uint64_t)len > ctx->cfg.max_message) return WSC_ERR_TOOBIG;
    return 0;
}

WSC_DEF int wsc_send(wsc_ctx *ctx, wsc_id id, int opcode, const void *data, size_t len) {
    wsc__conn *c = wsc__get(ctx, id);
    int r;
    if (!c) return WSC_ERR_STALE;
    if ((r = wsc__check_msg(ctx, opcode, len)) < 0) return r;
    r = wsc__pr_send(ctx, c, opcode, data, len);
    if (r == 0) ctx->st.msgs_out++, ctx->st.msgs_sent++;
    return r;
}

WSC_DEF int wsc_broadcast(wsc_ctx *ctx, const wsc_kv *match, size_t nmatch, int opcode,
                          const void *data, size_t len) {
    int r;
    if (!ctx || (nmatch && !match)) return WSC_ERR_INVAL;
    if ((r = wsc__check_msg(ctx, opcode, len)) < 0) return r;
    ctx->st.msgs_sent++;
    return wsc__dl_broadcast(ctx, match, nmatch, opcode, data, len);
}

WSC_DEF int wsc_send_ids(wsc_ctx *ctx, const wsc_id *ids, size_t n, int opcode,
                         const void *data, size_t len) {
    wsc__multi m;
    size_t i;
    int r, count = 0;
    if (!ctx || (n && !ids)) return WSC_ERR_INVAL;
    if ((r = wsc__check_msg(ctx, opcode, len)) < 0) return r;
    wsc__multi_init(&m, opcode, data, len);
    for (i = 0; i < n; i++) {
        wsc__conn *c = wsc__get(ctx, ids[i]);
        if (c) count += wsc__multi_one(ctx, &m, c);
    }
    wsc__multi_done(ctx, &m);
    ctx->st.msgs_sent++;
    return count;
}

WSC_DEF int wsc_ping(wsc_ctx *ctx, wsc_id id, const void *data, size_t len) {
    wsc__conn *c = wsc__get(ctx, id);
    if (!c) return WSC_ERR_STALE;
    if (len > 125) return WSC_ERR_INVAL;
    if (c->state != WSC__OPEN) return WSC_ERR_STATE;
    return wsc__send_ctrl(ctx, c, WSC_OP_PING, data, len);
}

WSC_DEF int wsc_close(wsc_ctx *ctx, wsc_id id, int code, const char *reason) {
    wsc__conn *c = wsc__get(ctx, id);
    size_t rl = reason ? strlen(reason) : 0;
    if (!c || c->internal) return WSC_ERR_STALE;
    if (code == 0) code = 1000;
    if (!wsc__close_code_ok(code) || rl > 123) return WSC_ERR_INVAL;
    return wsc__pr_close(ctx, c, code, reason, rl);
}

WSC_DEF int wsc_close_all(wsc_ctx *ctx, int code, const char *reason) {
    uint32_t i;
    int n = 0;
    for (i = 0; ctx && i < ctx->io.hi; i++) {
        wsc__conn *c = ctx->io.slots[i];
        if (!c || c->internal) continue;
        if (c->state == WSC__OPEN) n++;
        wsc_close(ctx, wsc__id(ctx, c), code, reason);
    }
    return n;
}

WSC_DEF int wsc_count(wsc_ctx *ctx, int cls) {
    if (!ctx) return 0;
    if (cls == 0) return (int)ctx->io.nconns;
    return cls >= WSC_CLIENT && cls <= WSC_OBSERVABLE ? (int)ctx->st.conns[cls] : 0;
}

WSC_DEF size_t wsc_conns(wsc_ctx *ctx, int cls, wsc_id *out, size_t max) {
    uint32_t i;
    size_t n = 0;
    for (i = 0; ctx && i < ctx->io.hi; i++) {
        wsc__conn *c = ctx->io.slots[i];
        if (!c || c->state != WSC__OPEN || (cls && c->cls != cls)) continue;
        if (n < max && out) out[n] = wsc__id(ctx, c);
        n++;
    }
    return n;
}

WSC_DEF int wsc_get_conn_info(wsc_ctx *ctx, wsc_id id, wsc_conn_info *info) {
    wsc__conn *c = wsc__get(ctx, id);
    if (!c) return WSC_ERR_STALE;
    memset(info, 0, sizeof *info);
    info->cls = c->cls;
    info->proto = c->proto;
    info->is_server = c->server;
    info->open = c->state == WSC__OPEN;
    snprintf(info->peer, sizeof info->peer, "%s", wsc__peer_s(ctx, c));
    info->path = c->path ? c->path : "";
    info->subprotocol = c->subproto ? c->subproto : "";
    info->pending = c->pending;
    info->held = c->held;
    return 0;
}

WSC_DEF int wsc_set_meta(wsc_ctx *ctx, wsc_id id, const char *key, const char *value) {
    wsc__conn *c = wsc__get(ctx, id);
    if (!c) return WSC_ERR_STALE;
    if (!key || !*key) return WSC_ERR_INVAL;
    return wsc__meta_set(ctx, c, key, value);
}

WSC_DEF const char *wsc_get_meta(wsc_ctx *ctx, wsc_id id, const char *key) {
    wsc__conn *c = wsc__get(ctx, id);
    return c && key ? wsc__meta_val(c, key) : NULL;
}

WSC_DEF int wsc_set_userdata(wsc_ctx *ctx, wsc_id id, void *ud) {
    wsc__conn *c = wsc__get(ctx, id);
    if (!c) return WSC_ERR_STALE;
    c->userdata = ud;
    return 0;
}

WSC_DEF void *wsc_get_userdata(wsc_ctx *ctx, wsc_id id) {
    wsc__conn *c = wsc__get(ctx, id);
    return c ? c->userdata : NULL;
}

WSC_DEF int wsc_set_class(wsc_ctx *ctx, wsc_id id, int cls) {
    wsc__conn *c = wsc__get(ctx, id);
    if (!c) return WSC_ERR_STALE;
    if (cls < WSC_CLIENT || cls > WSC_OBSERVABLE) return WSC_ERR_INVAL;
    if (c->opened) {
        ctx->st.conns[c->cls]--;
        ctx->st.conns[cls]++;
        if (c->proto == WSC_PROTO_TCP) { ctx->st.conns_tcp[c->cls]--; ctx->st.conns_tcp[cls]++; }
    }
    c->cls = (unsigned char)cls;
    return 0;
}

WSC_DEF int wsc_reject(wsc_ctx *ctx, wsc_id id, int status, const char *body) {
    return wsc_reject_headers(ctx, id, status, NULL, body);
}

WSC_DEF int wsc_reject_headers(wsc_ctx *ctx, wsc_id id, int status, const char *headers,
                               const char *body) {
    wsc__conn *c = wsc__get(ctx, id);
    char text[128];
    if (!c) return WSC_ERR_STALE;
    if (c->state != WSC__HTTP || c->opened) return WSC_ERR_STATE;
    if (status < 300 || status > 599) return WSC_ERR_INVAL;
    if (!body) {
        snprintf(text, sizeof text, "%d %s\n", status, wsc__status_text(status));
        body = text;
    }
    ctx->st.refused++;
    wsc_log(ctx, WSC_LOG_INFO, "conn %s: upgrade of %s refused with %d", wsc__peer_s(ctx, c),
            c->path ? c->path : "?", status);
    return wsc__respond(ctx, c, status, "text/plain", headers, body, strlen(body));
}

WSC_DEF int wsc_http_reply(wsc_ctx *ctx, wsc_id id, int status, const char *ctype,
                           const char *extra, const void *body, size_t len) {
    wsc__conn *c = wsc__get(ctx, id);
    if (!c) return WSC_ERR_STALE;
    if (c->state != WSC__BODY || c->replied) return WSC_ERR_STATE;
    if (status < 100 || status > 599 || (len && !body)) return WSC_ERR_INVAL;
    return wsc__respond(ctx, c, status, ctype, extra, body, len);
}

WSC_DEF int wsc_cluster_send(wsc_ctx *ctx, const wsc_target *t, int opcode, const void *data,
                             size_t len) {
    wsc_link_msg m;
    int r;
    if (!ctx) return WSC_ERR_INVAL;
    if ((r = wsc__target_msg(ctx, t, opcode, data, len, &m)) < 0) return r;
    ctx->st.msgs_sent++;
    return wsc__bp_publish(ctx, &m);
}

WSC_DEF int wsc_send_all(wsc_ctx *ctx, int opcode, const void *data, size_t len) {
    return wsc_cluster_send(ctx, NULL, opcode, data, len);
}

WSC_DEF int wsc_send_where(wsc_ctx *ctx, const wsc_kv *match, size_t nmatch, int opcode,
                           const void *data, size_t len) {
    wsc_target t;
    memset(&t, 0, sizeof t);
    t.match = match;
    t.nmatch = nmatch;
    return wsc_cluster_send(ctx, &t, opcode, data, len);
}

WSC_DEF int wsc_send_conn(wsc_ctx *ctx, const char *gid, int opcode, const void *data,
                          size_t len) {
    wsc_target t;
    if (!gid) return WSC_ERR_INVAL;
    memset(&t, 0, sizeof t);
    t.conn = gid;
    return wsc_cluster_send(ctx, &t, opcode, data, len);
}

WSC_DEF int wsc_send_named(wsc_ctx *ctx, const char *selector, const char *arg, int opcode,
                           const void *data, size_t len) {
    wsc_target t;
    if (!selector) return WSC_ERR_INVAL;
    memset(&t, 0, sizeof t);
    t.selector = selector;
    t.arg = arg;
    return wsc_cluster_send(ctx, &t, opcode, data, len);
}

WSC_DEF int wsc_post(wsc_ctx *ctx, const wsc_target *t, int opcode, const void *data,
                     size_t len) {
    wsc_link_msg m;
    int r;
    if (!ctx) return WSC_ERR_INVAL;
    if ((r = wsc__target_msg(ctx, t, opcode, data, len, &m)) < 0) return r;
    return wsc__post_job(ctx, &m);
}

WSC_DEF int wsc_register_selector(wsc_ctx *ctx, const char *name, wsc_selector_fn fn,
                                  void *ud) {
    wsc__dl *dl;
    int i;
    if (!ctx || !name || !fn || !*name || strlen(name) > 63) return WSC_ERR_INVAL;
    dl = &ctx->dl;
    for (i = 0; i < dl->nsel; i++)
        if (strcmp(dl->sel[i].name, name) == 0) break;
    if (i == dl->nsel) {
        if (dl->nsel >= WSC_MAX_SELECTORS) return WSC_ERR_LIMIT;
        dl->nsel++;
    }
    snprintf(dl->sel[i].name, sizeof dl->sel[i].name, "%s", name);
    dl->sel[i].fn = fn;
    dl->sel[i].ud = ud;
    return 0;
}

WSC_DEF int wsc_global_id(wsc_ctx *ctx, wsc_id id, char *out, size_t cap) {
    int n;
    if (!wsc__get(ctx, id)) return WSC_ERR_STALE;
    n = snprintf(out, cap, "%s/%llx", ctx->node, (unsigned long long)id);
    return n > 0 && (size_t)n < cap ? n : WSC_ERR_INVAL;
}

WSC_DEF const char *wsc_node_id(wsc_ctx *ctx) { return ctx ? ctx->node : ""; }

WSC_DEF int wsc_cluster_refresh(wsc_ctx *ctx) {
#ifndef WSCLUSTER_NO_CLUSTER
    if (!ctx || !ctx->cl.on) return WSC_ERR_STATE;
    ctx->io.now = wsc_now_ms();
    if (!ctx->cl.started) { wsc__cluster_start(ctx); return 0; }
    ctx->cl.next_refresh = ctx->io.now + ctx->cfg.refresh_ms;
    return wsc__list_load(ctx) < 0 ? WSC_ERR_SYS : 0;
#else
    (void)ctx;
    return WSC_ERR_NOTBUILT;
#endif
}

WSC_DEF size_t wsc_peers(wsc_ctx *ctx, wsc_peer_info *out, size_t max) {
    size_t n = 0;
    if (ctx) wsc__cl_peer_infos(ctx, out, max, &n);
    return n;
}

WSC_DEF int wsc_summary_get(wsc_ctx *ctx, int peer, wsc_summary *out) {
    if (!ctx || !out) return WSC_ERR_INVAL;
    return wsc__cl_summary(ctx, peer, out);
}

WSC_DEF const char *wsc_drop_kind_name(int kind) {
    static const char *const names[WSC_DROP_KINDS] = {"unreachable", "queue", "backplane",
                                                      "duplicate", "refused", "trimmed"};
    return kind >= 0 && kind < WSC_DROP_KINDS ? names[kind] : "unknown";
}

WSC_DEF void wsc_get_stats(wsc_ctx *ctx, wsc_stats *out) {
    if (!out) return;
    if (ctx) wsc__io_stats(ctx, out);
    else memset(out, 0, sizeof *out);
}

#endif /* WSCLUSTER_IMPLEMENTATION_DONE */
#endif /* WSCLUSTER_IMPLEMENTATION */

/*
------------------------------------------------------------------------------
This software is available under 2 licenses -- choose whichever you prefer.
------------------------------------------------------------------------------
ALTERNATIVE A - MIT License
Copyright (c) 2026 the wscluster.h authors
Permission is hereby granted, free of charge, to any person obtaining a copy of this
software and associated documentation files (the "Software"), to deal in the Software
without restriction, including without limitation the rights to use, copy, modify, merge,
publish, distribute, sublicense, and/or sell copies of the Software, and to permit persons
to whom the Software is furnished to do so, subject to the following conditions:
The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,
INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR
PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE
FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR
OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER
DEALINGS IN THE SOFTWARE.
------------------------------------------------------------------------------
ALTERNATIVE B - Public Domain (www.unlicense.org)
This is free and unencumbered software released into the public domain. Anyone is free
to copy, modify, publish, use, compile, sell, or distribute this software, either in
source code form or as a compiled binary, for any purpose, commercial or non-commercial,
and by any means.
------------------------------------------------------------------------------
*/
