package gatelog

// The C side: gatelog's threaded core and its producers, through small C
// helpers that take only scalars, so that no Go pointer crosses a call and
// nothing escapes to the Go heap for an event.

/*
#cgo CFLAGS: -I${SRCDIR}/../../core/include
#cgo LDFLAGS: -L${SRCDIR}/../../build -l:libgatelog.a -lm
#cgo pkg-config: luajit libuv zlib libcurl libdeflate libssl libcrypto libnats
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include "gatelog.h"

typedef struct { int err; uint64_t sid; } gl_go_ret;

// An address as 16 bytes (big-endian halves) and a port.
static void gl_go_sockaddr(struct sockaddr_storage *ss, uint64_t hi, uint64_t lo, uint16_t port, int v4) {
	memset(ss, 0, sizeof(*ss));
	unsigned char ip[16];
	for (int i = 0; i < 8; i++) {
		ip[i] = (unsigned char)(hi >> (56 - 8 * i));
		ip[8 + i] = (unsigned char)(lo >> (56 - 8 * i));
	}
	if (v4) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		memcpy(&a->sin_addr, ip + 12, 4);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		memcpy(&a->sin6_addr, ip, 16);
	}
}

// Producers travel in Go as integers: a pointer argument would make cgo
// check it, and that check allocates on every call.
static gl_go_ret gl_go_start(uintptr_t prod, int udp, int64_t resource,
                             uint64_t shi, uint64_t slo, uint16_t sport, int s4,
                             uint64_t dhi, uint64_t dlo, uint16_t dport, int d4) {
	struct sockaddr_storage src, dst;
	gl_go_sockaddr(&src, shi, slo, sport, s4);
	gl_go_sockaddr(&dst, dhi, dlo, dport, d4);
	gatelog_producer_t *p = (gatelog_producer_t *)prod;
	gl_go_ret r = {0, 0};
	r.err = udp ? gatelog_p_udp_track(p, resource, (struct sockaddr *)&src, (struct sockaddr *)&dst, &r.sid)
	            : gatelog_p_tcp_start(p, resource, (struct sockaddr *)&src, (struct sockaddr *)&dst, &r.sid);
	return r;
}

static int gl_go_end(uintptr_t p, int udp, uint64_t sid) {
	return udp ? gatelog_p_udp_end((gatelog_producer_t *)p, sid) : gatelog_p_tcp_end((gatelog_producer_t *)p, sid);
}

static int gl_go_add_bytes(uintptr_t p, uint64_t sid, uint64_t tx, uint64_t rx) {
	return gatelog_p_add_bytes((gatelog_producer_t *)p, sid, tx, rx);
}

static uintptr_t gl_go_producer_new(gatelog_t *gl, int *err) {
	gatelog_producer_t *p = NULL;
	*err = gatelog_producer_new(gl, &p);
	return (uintptr_t)p;
}

static void gl_go_producer_free(uintptr_t p) { gatelog_producer_free((gatelog_producer_t *)p); }

extern void goGatelogSend(gatelog_send_t *req, char *payload, size_t len, uintptr_t handle);

static void gl_go_send(gatelog_send_t *req, const char *payload, size_t len, void *data) {
	goGatelogSend(req, (char *)payload, len, (uintptr_t)data);
}

static int gl_go_register(gatelog_t *gl, const char *name, uintptr_t handle) {
	return gatelog_register_sender(gl, name, gl_go_send, (void *)handle);
}
*/
import "C"

import (
	"errors"
	"net/netip"
	"path/filepath"
	"runtime"
	"runtime/cgo"
	"unsafe"
)

// Error is an error code of gatelog's C API (negative), with its name
// and text.
type Error int

func (e Error) Error() string {
	return "gatelog: " + C.GoString(C.gatelog_err_name(C.int(e))) + ": " + C.GoString(C.gatelog_strerror(C.int(e)))
}

// Codes a caller may want to tell apart.
const (
	ErrClosed = Error(C.GATELOG_ECLOSED) // the logger is closing or closed
	ErrAgain  = Error(C.GATELOG_EAGAIN)  // a producer's queue was full
)

func cerr(rc C.int) error {
	if rc == 0 {
		return nil
	}
	return Error(rc)
}

// sourceRoot is the gatelog tree this package was built from: its
// scripts/ and lua/ are the defaults.
func sourceRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// endpoint is an "ip:port" as the C helpers take it.
type endpoint struct {
	hi, lo uint64
	port   uint16
	v4     C.int
}

var errAddr = errors.New("gatelog: an address must be ip:port")

// parseEndpoint reads "a.b.c.d:port" or "[v6]:port" without allocating.
func parseEndpoint(s string) (endpoint, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return endpoint{}, errAddr
	}
	a := ap.Addr()
	b := a.As16()
	var e endpoint
	for i := 0; i < 8; i++ {
		e.hi = e.hi<<8 | uint64(b[i])
		e.lo = e.lo<<8 | uint64(b[8+i])
	}
	e.port = ap.Port()
	if a.Is4() || a.Is4In6() {
		e.v4 = 1
	}
	return e, nil
}

// producer is a gatelog_producer_t *, as an integer (0: none).
type producer C.uintptr_t

func newProducer(gl *C.gatelog_t) (producer, C.int) {
	var rc C.int
	p := C.gl_go_producer_new(gl, &rc)
	return producer(p), rc
}

func (p producer) free() { C.gl_go_producer_free(C.uintptr_t(p)) }

func start(p producer, udp bool, resource int, src, dst endpoint) (uint64, error) {
	u := C.int(0)
	if udp {
		u = 1
	}
	r := C.gl_go_start(C.uintptr_t(p), u, C.int64_t(resource), C.uint64_t(src.hi), C.uint64_t(src.lo),
		C.uint16_t(src.port), src.v4, C.uint64_t(dst.hi), C.uint64_t(dst.lo), C.uint16_t(dst.port), dst.v4)
	return uint64(r.sid), cerr(r.err)
}

func end(p producer, udp bool, sid uint64) error {
	u := C.int(0)
	if udp {
		u = 1
	}
	return cerr(C.gl_go_end(C.uintptr_t(p), u, C.uint64_t(sid)))
}

func addBytes(p producer, sid uint64, tx, rx uint64) error {
	return cerr(C.gl_go_add_bytes(C.uintptr_t(p), C.uint64_t(sid), C.uint64_t(tx), C.uint64_t(rx)))
}

// register makes the script's host sender `name` call the sender behind h.
func register(gl *C.gatelog_t, name string, h cgo.Handle) C.int {
	n := C.CString(name)
	defer C.free(unsafe.Pointer(n))
	return C.gl_go_register(gl, n, C.uintptr_t(h))
}

//export goGatelogSend
func goGatelogSend(req *C.gatelog_send_t, payload *C.char, n C.size_t, handle C.uintptr_t) {
	s := cgo.Handle(handle).Value().(*sender)
	err := s.send(C.GoStringN(payload, C.int(n)))
	if err == nil {
		C.gatelog_send_done(req, 0, nil)
		return
	}
	msg := C.CString(err.Error())
	C.gatelog_send_done(req, -1, msg)
	C.free(unsafe.Pointer(msg))
}

// coreStats: the counters the tests look at.
type coreStats struct{ udpEnded, producerEvents, producerFailed uint64 }

func (al *AccessLogger) stats() (coreStats, error) {
	if al.closed.Load() {
		return coreStats{}, ErrClosed
	}
	var st C.gatelog_stats_t
	if err := cerr(C.gatelog_stats(al.gl, &st)); err != nil {
		return coreStats{}, err
	}
	return coreStats{uint64(st.udp_ended), uint64(st.producer_events), uint64(st.producer_failed)}, nil
}
