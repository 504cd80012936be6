// Package gatelog is the Go binding of gatelog: an AccessLogger with the
// signatures of the reference's logger (fosrl/newt netstack2), so that a
// program written against it builds against gatelog by changing one
// import, on top of gatelog's core running on a thread of its own.
//
// Every method is safe from any goroutine. Each call hands one event to
// the core through a producer (a lock-free queue): no lock the goroutines
// share, no Go allocation in the call (Start and Track return the new id
// as a string: that string is their one allocation).
package gatelog

/*
#include <stdlib.h>
#include "gatelog.h"
*/
import "C"

import (
	"errors"
	"runtime"
	"runtime/cgo"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// SendFunc receives each batch: base64(zlib(JSON array)) with the
// default script, as the reference's. A non-nil error fails the batch;
// gatelog retries it with backoff (the reference re-queued it).
type SendFunc func(data string) error

// Options configure New. Zero values take the defaults given.
type Options struct {
	Script        string        // policy script; "" = scripts/newt.lua of this tree (batches to SetSendFunc)
	LuaPath       string        // extra Lua package.path templates; "" = lua/ of this tree
	UDPTimeout    time.Duration // end a UDP flow idle this long; 0 = 120 s
	FlushInterval time.Duration // seal a batch at least this often; 0 = 60 s
	BatchMax      int           // seal a batch at this many records; 0 = 100
	AccessLog     bool          // ACCESS START / ACCESS END lines on standard error
	Producers     int           // producer queues shared by the goroutines; 0 = 2 x GOMAXPROCS
	QueueSize     int           // events each producer queue holds; 0 = 16384
	FullWait      time.Duration // a call on a full queue waits this long for room; 0 = 1 s
	CloseDrain    time.Duration // Close waits this long for sends; 0 = 10 s
	SenderName    string        // the host sender the script calls; "" = "control"
}

// AccessLogger logs access sessions through gatelog.
type AccessLogger struct {
	gl      *C.gatelog_t
	prods   chan producer
	n       int
	closed  atomic.Bool
	once    sync.Once
	snd     *sender
	handle  cgo.Handle
	drainMs uint32
}

type sender struct{ fn atomic.Value } // SendFunc

var errNoSend = errors.New("no send function set (SetSendFunc)")

func (s *sender) send(data string) error {
	fn, _ := s.fn.Load().(SendFunc)
	if fn == nil {
		return errNoSend
	}
	return fn(data)
}

// NewAccessLogger makes a logger with the default script, as the
// reference's constructor: udpTimeout ends idle UDP flows (gatelog uses
// it, from each flow's last activity). It panics only if the core cannot
// start (the tree's scripts/ or lua/ are missing): New returns that error.
func NewAccessLogger(udpTimeout time.Duration) *AccessLogger {
	al, err := New(Options{UDPTimeout: udpTimeout})
	if err != nil {
		panic(err)
	}
	return al
}

// New makes a logger with the given script and options.
func New(o Options) (*AccessLogger, error) {
	root := sourceRoot()
	if o.Script == "" {
		o.Script = root + "/scripts/newt.lua"
	}
	if o.LuaPath == "" {
		o.LuaPath = root + "/lua/?.lua;" + root + "/lua/?/init.lua"
	}
	if o.SenderName == "" {
		o.SenderName = "control"
	}
	if o.Producers <= 0 {
		o.Producers = 2 * runtime.GOMAXPROCS(0)
	}
	if o.FullWait <= 0 {
		o.FullWait = time.Second
	}
	if o.CloseDrain <= 0 {
		o.CloseDrain = 10 * time.Second
	}
	var opts C.gatelog_options_t
	C.gatelog_options_init(&opts)
	script, luaPath := C.CString(o.Script), C.CString(o.LuaPath)
	defer C.free(unsafe.Pointer(script))
	defer C.free(unsafe.Pointer(luaPath))
	opts.script = script
	opts.lua_path = luaPath
	opts.access_log = 0
	if o.AccessLog {
		opts.access_log = 1
	}
	if o.UDPTimeout > 0 {
		opts.udp_idle_timeout_ms = C.uint64_t(ms(o.UDPTimeout))
	}
	if o.FlushInterval > 0 {
		opts.flush_interval_ms = C.uint64_t(ms(o.FlushInterval))
	}
	if o.BatchMax > 0 {
		opts.batch_max_records = C.uint32_t(o.BatchMax)
		if opts.queue_max_records < opts.batch_max_records {
			opts.queue_max_records = opts.batch_max_records
		}
	}
	if o.QueueSize > 0 {
		opts.producer_queue = C.uint32_t(o.QueueSize)
	}
	opts.producer_full = C.GATELOG_FULL_WAIT
	opts.producer_wait_ms = C.uint64_t(ms(o.FullWait))
	var gl *C.gatelog_t
	if rc := C.gatelog_start_thread(&opts, &gl); rc != 0 {
		return nil, errors.New(Error(rc).Error() + ": " + C.GoString(C.gatelog_last_error(nil)))
	}
	al := &AccessLogger{gl: gl, n: o.Producers, snd: &sender{}, drainMs: uint32(ms(o.CloseDrain))}
	al.snd.fn.Store(SendFunc(nil))
	al.handle = cgo.NewHandle(al.snd)
	rc := register(gl, o.SenderName, al.handle)
	al.prods = make(chan producer, o.Producers)
	for i := 0; i < o.Producers && rc == 0; i++ {
		var p producer
		if p, rc = newProducer(gl); rc == 0 {
			al.prods <- p
		}
	}
	if rc != 0 {
		C.gatelog_stop_thread(gl, 0)
		for len(al.prods) > 0 {
			(<-al.prods).free()
		}
		al.handle.Delete()
		return nil, Error(rc)
	}
	return al, nil
}

func ms(d time.Duration) int64 {
	if d < time.Millisecond {
		return 1
	}
	return int64(d / time.Millisecond)
}

// SetSendFunc sets where batches go (the default script's sender).
func (al *AccessLogger) SetSendFunc(fn SendFunc) { al.snd.fn.Store(fn) }

// acquire takes a producer for one call; 0 once the logger is closed.
func (al *AccessLogger) acquire() producer {
	if al.closed.Load() {
		return 0
	}
	return <-al.prods
}

func (al *AccessLogger) release(p producer) { al.prods <- p }

func (al *AccessLogger) open(udp bool, resourceID int, srcAddr, dstAddr string) string {
	src, err := parseEndpoint(srcAddr)
	if err != nil {
		return ""
	}
	dst, err := parseEndpoint(dstAddr)
	if err != nil {
		return ""
	}
	p := al.acquire()
	if p == 0 {
		return ""
	}
	sid, err := start(p, udp, resourceID, src, dst)
	al.release(p)
	if err != nil {
		return ""
	}
	return hexID(sid)
}

func (al *AccessLogger) event(fn func(p producer, sid uint64) error, sessionID string) error {
	sid, ok := parseID(sessionID)
	if !ok {
		return Error(C.GATELOG_ENOSESSION)
	}
	p := al.acquire()
	if p == 0 {
		return ErrClosed
	}
	err := fn(p, sid)
	al.release(p)
	return err
}

func tcpEnd(p producer, sid uint64) error { return end(p, false, sid) }
func udpEnd(p producer, sid uint64) error { return end(p, true, sid) }

// StartTCPSession starts a TCP session and returns its id (16 hex
// digits), or "" if an address is not ip:port or the logger is closed.
func (al *AccessLogger) StartTCPSession(resourceID int, srcAddr, dstAddr string) string {
	return al.open(false, resourceID, srcAddr, dstAddr)
}

// EndTCPSession ends a TCP session: its record goes to the next batch.
func (al *AccessLogger) EndTCPSession(sessionID string) { _ = al.event(tcpEnd, sessionID) }

// TrackUDPSession returns the id of the open UDP session of the flow
// (resourceID, srcAddr, dstAddr), starting one if there is none, and
// marks it active. Goroutines tracking the same flow at once get the same
// id. "" if an address is not ip:port or the logger is closed.
func (al *AccessLogger) TrackUDPSession(resourceID int, srcAddr, dstAddr string) string {
	return al.open(true, resourceID, srcAddr, dstAddr)
}

// EndUDPSession ends a UDP session; the flow's next track starts a new one.
func (al *AccessLogger) EndUDPSession(sessionID string) { _ = al.event(udpEnd, sessionID) }

// AddBytes adds bytes sent and received to an open session (gatelog
// counts them; the reference did not).
func (al *AccessLogger) AddBytes(sessionID string, tx, rx uint64) error {
	// The closure does not escape: no allocation (TestNoAllocationPerEvent).
	return al.event(func(p producer, sid uint64) error { return addBytes(p, sid, tx, rx) }, sessionID)
}

// Flush seals the records waiting and starts sending them now.
func (al *AccessLogger) Flush() error {
	if al.closed.Load() {
		return ErrClosed
	}
	return cerr(C.gatelog_flush(al.gl))
}

// Close ends every open session and sends what is left (waiting up to
// Options.CloseDrain), then stops the core. Calls made after it return
// at once ("" from Start and Track). Safe to call more than once.
func (al *AccessLogger) Close() {
	al.once.Do(func() {
		al.closed.Store(true)
		C.gatelog_stop_thread(al.gl, C.uint32_t(al.drainMs))
		al.gl = nil
		// Calls in flight got ErrClosed and gave their producers back.
		for i := 0; i < cap(al.prods); i++ {
			if p := <-al.prods; p != 0 {
				p.free()
			}
		}
		// Goroutines that got past the closed check find no producer.
		for i := 0; i < cap(al.prods); i++ {
			al.prods <- 0
		}
		al.handle.Delete()
	})
}

const hexDigits = "0123456789abcdef"

func hexID(v uint64) string {
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = hexDigits[v&15]
		v >>= 4
	}
	return string(b[:])
}

func parseID(s string) (uint64, bool) {
	if len(s) != 16 {
		return 0, false
	}
	var v uint64
	for i := 0; i < 16; i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | uint64(c-'A'+10)
		default:
			return 0, false
		}
	}
	return v, v != 0
}
