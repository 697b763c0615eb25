# table.awk: build/bench/results.txt ("server key value...") -> the markdown table of
# `make bench`. Variables: servers (column order, wsc first), subs, idle, rate, conns.
function human(v,    a) {
    a = v < 0 ? -v : v
    if (a >= 1e6) return sprintf("%.3gM", v / 1e6)
    if (a >= 1e5) return sprintf("%.0fk", v / 1e3)
    if (a >= 1e4) return sprintf("%.1fk", v / 1e3)
    if (a >= 100) return sprintf("%.0f", v)
    if (a >= 10) return sprintf("%.1f", v)
    if (a >= 1) return sprintf("%.2f", v)
    if (a == 0) return "0"
    return sprintf("%.3g", v)
}
function has(s, k) { return ((s SUBSEP k) in V) }
function get(s, k) { return V[s, k] }
# the number for a cell, or "" (and WHY[s] set) when there is none
function num(s, run, key, scale,    x) {
    WHY = ""
    if (has(s, "avail.error")) { WHY = get(s, "avail.error"); return "" }
    if (has(s, run ".error")) { WHY = get(s, run ".error"); return "" }
    if (!has(s, run "." key)) { WHY = "not run"; return "" }
    x = get(s, run "." key) + 0
    if (x < 0) { WHY = "no samples"; return "" }
    return x * scale
}
function na(why) { # a numbered note under the table keeps the cells short
    if (!(why in NOTE)) { NOTE[why] = ++nnotes; NOTETXT[nnotes] = why }
    return "n/a [" NOTE[why] "]"
}
function ratio(w, p, dir) { # > 1: wscluster better
    if (w == "" || p == "" || w + 0 == 0 || p + 0 == 0) return "-"
    return sprintf("%.2fx", dir == "H" ? w / p : p / w)
}
# a metric row: label, run, key, H(igher is better)/L(ower is better), scale
function row(label, run, key, dir, scale,    i, s, x, cells, best, bv, w) {
    cells = "| " label " |"
    best = ""
    for (i = 1; i <= ns; i++) {
        s = S[i]
        x = num(s, run, key, scale)
        VAL[s] = x
        cells = cells " " (x == "" ? na(WHY) : human(x)) " |"
        if (s != "wsc" && x != "") {
            if (best == "" || (dir == "H" ? x > bv : x < bv)) { best = s; bv = x }
        }
    }
    w = VAL["wsc"]
    cells = cells " " (best == "" || w == "" ? "-" : ratio(w, bv, dir) " (" SHORT[best] ")") " |"
    for (i = 1; i <= ns; i++)
        if (S[i] != "wsc") cells = cells " " ratio(w, VAL[S[i]], dir) " |"
    print cells
}
# a row without ratios: one text per server
function textrow(label, kind, run,    i, s, t, c) {
    c = "| " label " |"
    for (i = 1; i <= ns; i++) {
        s = S[i]
        if (kind == "errs") {
            if (num(s, run, "lost", 1) == "") t = na(WHY)
            else t = sprintf("%d / %d / %d", get(s, run ".lost"), get(s, run ".dups"), get(s, run ".ooo")) \
                     ((get(s, run ".closed") + get(s, run ".corrupt") + get(s, run ".proto")) > 0 ? \
                      sprintf(" (closed %d, corrupt %d, protocol %d)", get(s, run ".closed"), \
                              get(s, run ".corrupt"), get(s, run ".proto")) : "")
        } else { # CPU use (% of one core) of the generator or the server in the throughput runs
            t = pct(s, "echo1", kind) " / " pct(s, "echo16", kind) " / " pct(s, "fan", kind)
            if (has(s, "avail.error")) t = na(get(s, "avail.error"))
        }
        c = c " " t " |"
    }
    c = c " - |"
    for (i = 1; i <= ns; i++) if (S[i] != "wsc") c = c " - |"
    print c
}
function pct(s, run, kind) {
    if (kind == "gen") return num(s, run, "client_cpu_pct", 1) == "" ? "-" : get(s, run ".client_cpu_pct")
    if (num(s, run, "cpu_s", 1) == "" || get(s, run ".seconds") + 0 <= 0) return "-"
    return sprintf("%.0f", 100 * get(s, run ".cpu_s") / get(s, run ".seconds"))
}
# a wscluster-only row: value, then a comparison in the ratio column
function wscrow(label, value, cmp,    i, c) {
    c = "| " label " | " value " |"
    for (i = 1; i <= ns; i++) if (S[i] != "wsc") c = c " |"
    c = c " " cmp " |"
    for (i = 1; i <= ns; i++) if (S[i] != "wsc") c = c " |"
    print c
}
function cmpval(run, key, scale, base_run, base_key, what,    a, b) {
    a = num("wsc", run, key, scale)
    if (a == "") { CELL = na(WHY); return "-" }
    CELL = human(a)
    b = num("wsc", base_run, base_key, scale)
    if (b == "" || b == 0) return "-"
    return sprintf("%.2f %s", a / b, what)
}
{
    k = $1 SUBSEP $2
    v = $0
    sub(/^[^ ]* [^ ]* ?/, "", v)
    V[k] = v
}
END {
    ns = split(servers, S, " ")
    for (i = 1; i <= ns; i++) SHORT[S[i]] = S[i]
    SHORT["wsc"] = "wscluster"; SHORT["lws"] = "lws"; SHORT["node"] = "ws"; SHORT["py"] = "py"
    h = "| metric |"
    sep = "|---|"
    for (i = 1; i <= ns; i++) {
        nm = has(S[i], "name") ? get(S[i], "name") : S[i]
        h = h " " nm " |"
        sep = sep "---|"
    }
    h = h " wscluster vs best peer |"
    sep = sep "---|"
    for (i = 1; i <= ns; i++) if (S[i] != "wsc") { h = h " vs " SHORT[S[i]] " |"; sep = sep "---|" }
    print "Ratios: above 1 means wscluster-node is better (throughput: wscluster / peer; CPU, memory"
    print "and latency: peer / wscluster). CPU = the server's utime+stime from /proc/PID/stat over the"
    print "measured interval, divided by the operations in it. Fan-out: a message is done when every"
    print "receiver (all subscribers and the publisher) has it; latency = publisher send -> subscriber"
    print "receive. Generator CPU near 100% means the load generator, not the server, set the pace."
    print "A throughput run in which neither side was 85% busy (other processes in the way) is run"
    print "twice and the better try kept."
    print ""
    print h
    print sep
    e = "echo " conns " conns x 1 in flight: "
    row(e "round trips/s", "echo1", "rate", "H", 1)
    row(e "server CPU us per round trip", "echo1", "cpu_us_per_op", "L", 1)
    row(e "RTT p99 ms", "echo1", "p99_us", "L", 0.001)
    e = "echo " conns " conns x 16 in flight: "
    row(e "messages/s", "echo16", "rate", "H", 1)
    row(e "server CPU us per message", "echo16", "cpu_us_per_op", "L", 1)
    row(e "RTT p99 ms", "echo16", "p99_us", "L", 0.001)
    e = "fan-out " subs " subs, 64 in flight: "
    row(e "deliveries/s", "fan", "deliv_rate", "H", 1)
    row(e "server CPU ns per delivery", "fan", "cpu_ns_per_delivery", "L", 1)
    row(e "latency p50 ms", "fan", "p50_us", "L", 0.001)
    row(e "latency p99 ms", "fan", "p99_us", "L", 0.001)
    textrow(e "lost / duplicated / out of order", "errs", "fan")
    e = "fan-out " subs " subs at " rate " msg/s: "
    row(e "latency p50 ms", "rate", "p50_us", "L", 0.001)
    row(e "latency p99 ms", "rate", "p99_us", "L", 0.001)
    row(e "server CPU ns per delivery", "rate", "cpu_ns_per_delivery", "L", 1)
    textrow(e "lost / duplicated / out of order", "errs", "rate")
    e = "idle " idle " conns: "
    row(e "server RSS growth KiB per connection", "idle", "kb_per_conn", "L", 1)
    row(e "server RSS MiB with all open", "idle", "rss_open_kb", "L", 1 / 1024)
    textrow("server CPU % of its core (echo x1 / echo x16 / fan-out)", "srv", "")
    textrow("load generator CPU % of its core (echo x1 / echo x16 / fan-out)", "gen", "")
    # the cluster and the heap, wscluster-node only
    if ((" " servers " ") !~ / wsc /) { notes(); exit }
    c = cmpval("cfan", "deliv_rate", 1, "fan", "deliv_rate", "x 1 instance")
    if (c != "-") c = c "; server CPU " pct("wsc", "cfan", "srv") "% of core 0 (3 instances), 1 instance " \
                     pct("wsc", "fan", "srv") "%"
    wscrow("cluster, " subs " subs over 3 instances, publisher on 1: deliveries/s", CELL, c)
    c = cmpval("cfan", "cpu_ns_per_delivery", 1, "fan", "cpu_ns_per_delivery", "x 1 instance")
    wscrow("cluster: server CPU ns per delivery (3 instances summed)", CELL, c)
    if (num("wsc", "cfan", "lost", 1) == "") t = na(WHY)
    else t = sprintf("%d / %d / %d", get("wsc", "cfan.lost"), get("wsc", "cfan.dups"), get("wsc", "cfan.ooo"))
    wscrow("cluster: lost / duplicated / out of order", t, "-")
    c = cmpval("crate", "p99_us", 0.001, "rate", "p99_us", "x 1 instance p99")
    wscrow("cluster at " rate " msg/s: latency p99 ms, all subscribers", CELL, c)
    c = cmpval("crate", "remote_p99_us", 0.001, "rate", "p99_us", "x 1 instance p99")
    wscrow("cluster at " rate " msg/s: cross-instance latency p99 ms", CELL, c)
    c = cmpval("crate", "remote_p50_us", 0.001, "rate", "p50_us", "x 1 instance p50")
    wscrow("cluster at " rate " msg/s: cross-instance latency p50 ms", CELL, c)
    # the same cluster over Redis (pubsub, stream): compared with the mesh
    c = cmpval("rfan", "deliv_rate", 1, "cfan", "deliv_rate", "x the mesh")
    wscrow("cluster over Redis pubsub: deliveries/s", CELL, c)
    c = cmpval("rrate", "remote_p99_us", 0.001, "crate", "remote_p99_us", "x the mesh")
    wscrow("cluster over Redis pubsub at " rate " msg/s: cross-instance latency p99 ms", CELL, c)
    c = cmpval("sfan", "deliv_rate", 1, "cfan", "deliv_rate", "x the mesh")
    wscrow("cluster over Redis streams: deliveries/s", CELL, c)
    c = cmpval("srate", "remote_p99_us", 0.001, "crate", "remote_p99_us", "x the mesh")
    wscrow("cluster over Redis streams at " rate " msg/s: cross-instance latency p99 ms", CELL, c)
    if (num("wsc", "rfan", "lost", 1) == "") t = na(WHY)
    else t = sprintf("%d / %d / %d", get("wsc", "rfan.lost") + get("wsc", "sfan.lost"),
                     get("wsc", "rfan.dups") + get("wsc", "sfan.dups"), get("wsc", "rfan.ooo") + get("wsc", "sfan.ooo"))
    wscrow("cluster over Redis: lost / duplicated / out of order (pubsub + stream)", t, "-")
    if (num("wsc", "mfan", "allocs", 1) == "") { t = na(WHY); c = "-" }
    else {
        a = get("wsc", "mfan.allocs") + 0; d = get("wsc", "mfan.deliveries") + 0; m = get("wsc", "mfan.msgs") + 0
        t = (d > 0 ? human(a / d) : "-")
        c = sprintf("%d heap calls in %s deliveries of %s messages (%s per message)", a, human(d), human(m),
                    m > 0 ? human(a / m) : "-")
    }
    wscrow("heap allocations per delivery, fan-out steady state", t, c)
    if (num("wsc", "mecho", "allocs", 1) == "") { t = na(WHY); c = "-" }
    else {
        a = get("wsc", "mecho.allocs") + 0; d = get("wsc", "mecho.ops") + 0
        t = (d > 0 ? human(a / d) : "-")
        c = sprintf("%d heap calls in %s echoed messages", a, human(d))
    }
    wscrow("heap allocations per echoed message, steady state", t, c)
    notes()
}
function notes(    i) {
    if (nnotes) print ""
    for (i = 1; i <= nnotes; i++) print "[" i "] " NOTETXT[i]
}
