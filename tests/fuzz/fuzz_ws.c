/* libFuzzer target: the WebSocket frame decoder, both roles (see frames.inc). */
#define DECODER wsc_ws_decoder
#define DECODE wsc_ws_decode
#define SET_ROLE(d, server) ((d).expect_mask = (unsigned char)(server))
#include "frames.inc"
