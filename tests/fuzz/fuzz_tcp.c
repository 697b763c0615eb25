/* libFuzzer target: the length-prefixed TCP frame decoder (see frames.inc). */
#define DECODER wsc_tcp_decoder
#define DECODE wsc_tcp_decode
#define SET_ROLE(d, server) ((void)(server))
#include "frames.inc"
