package gatelog

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/json"
	"io"
	"sync"
	"testing"
	"time"
)

// A record as the reference's JSON has it.
type record struct {
	SessionID  string `json:"sessionId"`
	ResourceID int    `json:"resourceId"`
	SourceAddr string `json:"sourceAddr"`
	DestAddr   string `json:"destAddr"`
	Protocol   string `json:"protocol"`
	StartedAt  string `json:"startedAt"`
	EndedAt    string `json:"endedAt"`
	BytesTx    int64  `json:"bytesTx"`
	BytesRx    int64  `json:"bytesRx"`
}

// collector decodes each payload as a collector would (base64, zlib,
// JSON array) and keeps the records by session id.
type collector struct {
	mu      sync.Mutex
	records map[string][]record
	bad     []string
}

func newCollector() *collector { return &collector{records: map[string][]record{}} }

func (c *collector) send(data string) error {
	var recs []record
	z, err := base64.StdEncoding.DecodeString(data)
	if err == nil {
		var r io.ReadCloser
		if r, err = zlib.NewReader(bytes.NewReader(z)); err == nil {
			var js []byte
			if js, err = io.ReadAll(r); err == nil {
				err = json.Unmarshal(js, &recs)
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.bad = append(c.bad, err.Error())
		return nil
	}
	for _, r := range recs {
		c.records[r.SessionID] = append(c.records[r.SessionID], r)
	}
	return nil
}

func (c *collector) get(id string) []record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.records[id]
}

func newLogger(t *testing.T) (*AccessLogger, *collector) {
	t.Helper()
	al, err := New(Options{UDPTimeout: time.Minute, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	al.SetSendFunc(c.send)
	return al, c
}

func TestUDPDeduplication(t *testing.T) {
	al, c := newLogger(t)
	a := al.TrackUDPSession(7, "192.0.2.7:5353", "192.0.2.53:53")
	if len(a) != 16 {
		t.Fatalf("bad id %q", a)
	}
	if b := al.TrackUDPSession(7, "192.0.2.7:5353", "192.0.2.53:53"); b != a {
		t.Fatalf("same flow, another id: %s, %s", a, b)
	}
	if o := al.TrackUDPSession(7, "192.0.2.7:5354", "192.0.2.53:53"); o == a || o == "" {
		t.Fatalf("another flow must have its own id, got %q", o)
	}
	// Many goroutines on one new flow at once: one id.
	ids := make([]string, 16)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ids[i] = al.TrackUDPSession(9, "[2001:db8::1]:4000", "10.0.0.1:53")
		}(i)
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] || id == "" {
			t.Fatalf("goroutines got different ids for one flow: %v", ids)
		}
	}
	al.EndUDPSession(a)
	// Ended: the next track of the flow is a new session. The end and the
	// track go through the same producer queue or a later drain, so wait
	// for the end to reach the core before tracking again.
	waitFor(t, func() bool { return flowEnded(al) })
	if n := al.TrackUDPSession(7, "192.0.2.7:5353", "192.0.2.53:53"); n == a || n == "" {
		t.Fatalf("after the end, the flow must get a new id; got %q (was %s)", n, a)
	}
	al.Close()
	if r := c.get(a); len(r) != 1 || r[0].Protocol != "udp" {
		t.Fatalf("the ended flow's record: %+v", r)
	}
	if r := c.get(ids[0]); len(r) != 1 || r[0].SourceAddr != "[2001:db8::1]:4000" {
		t.Fatalf("the shared flow's record: %+v", r)
	}
}

// flowEnded: the core has applied at least one UDP end.
func flowEnded(al *AccessLogger) bool {
	st, err := al.stats()
	return err == nil && st.udpEnded > 0
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 60000; i++ { // a hang guard, not a speed check
		if cond() {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("condition never came true")
}

func TestPayloadDecodes(t *testing.T) {
	al, c := newLogger(t)
	id := al.StartTCPSession(42, "203.0.113.7:51234", "10.0.0.5:443")
	if err := al.AddBytes(id, 100, 200); err != nil {
		t.Fatal(err)
	}
	al.EndTCPSession(id)
	if err := al.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(c.get(id)) > 0 })
	al.Close()
	r := c.get(id)
	if len(r) != 1 {
		t.Fatalf("want one record, got %d (bad payloads: %v)", len(r), c.bad)
	}
	got := r[0]
	if got.ResourceID != 42 || got.SourceAddr != "203.0.113.7:51234" || got.DestAddr != "10.0.0.5:443" ||
		got.Protocol != "tcp" || got.BytesTx != 100 || got.BytesRx != 200 {
		t.Fatalf("record: %+v", got)
	}
	start, err1 := time.Parse(time.RFC3339Nano, got.StartedAt)
	endAt, err2 := time.Parse(time.RFC3339Nano, got.EndedAt)
	if err1 != nil || err2 != nil || endAt.Before(start) {
		t.Fatalf("times: %q %q", got.StartedAt, got.EndedAt)
	}
}

func TestCloseEndsOpenSessionsAndSends(t *testing.T) {
	al, c := newLogger(t)
	tcp := al.StartTCPSession(1, "198.51.100.1:1000", "10.0.0.1:22")
	udp := al.TrackUDPSession(2, "198.51.100.2:2000", "10.0.0.2:53")
	al.Close()
	if len(c.get(tcp)) != 1 || len(c.get(udp)) != 1 {
		t.Fatalf("open sessions must be sent at close: tcp %v udp %v", c.get(tcp), c.get(udp))
	}
	if id := al.StartTCPSession(1, "198.51.100.1:1000", "10.0.0.1:22"); id != "" {
		t.Fatalf("a start after Close returned %q", id)
	}
	al.EndTCPSession(tcp) // no effect, no panic
	al.Close()            // twice is fine
}

func TestEveryRecordOnceFromManyGoroutines(t *testing.T) {
	al, c := newLogger(t)
	const goroutines, each = 8, 2000
	ids := make([][]string, goroutines)
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				id := al.StartTCPSession(g, "203.0.113.9:40000", "10.0.0.5:443")
				if err := al.AddBytes(id, uint64(i), uint64(g)); err != nil {
					t.Errorf("AddBytes: %v", err)
				}
				al.EndTCPSession(id)
				ids[g] = append(ids[g], id)
			}
		}(g)
	}
	wg.Wait()
	if st, err := al.stats(); err == nil && st.producerFailed != 0 {
		t.Errorf("%d events failed on the loop", st.producerFailed)
	}
	al.Close()
	for g := range ids {
		for i, id := range ids[g] {
			r := c.get(id)
			if len(r) != 1 || r[0].BytesTx != int64(i) || r[0].BytesRx != int64(g) {
				t.Fatalf("session %s (goroutine %d, #%d): %+v", id, g, i, r)
			}
		}
	}
	if len(c.records) != goroutines*each {
		t.Fatalf("want %d records, got %d", goroutines*each, len(c.records))
	}
}

func TestBadInput(t *testing.T) {
	al, _ := newLogger(t)
	defer al.Close()
	if id := al.StartTCPSession(1, "not an address", "10.0.0.1:22"); id != "" {
		t.Fatalf("want \"\" for a bad address, got %q", id)
	}
	if err := al.AddBytes("xyz", 1, 1); err == nil {
		t.Fatal("a malformed id must be an error")
	}
	al.EndTCPSession("0000000000000000") // ignored
}

func TestNoAllocationPerEvent(t *testing.T) {
	// No batch is sent while it measures: a send runs Go code on the
	// core's thread, and its allocations would be counted here too.
	al, err := New(Options{FlushInterval: time.Hour, BatchMax: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer al.Close()
	al.SetSendFunc(func(string) error { return nil })
	const runs = 1000
	ids := make([]string, runs+1)
	for i := range ids {
		ids[i] = al.StartTCPSession(1, "203.0.113.9:40000", "10.0.0.5:443")
	}
	i := 0
	if n := testing.AllocsPerRun(runs, func() { _ = al.AddBytes(ids[i%len(ids)], 1, 1); i++ }); n != 0 {
		t.Fatalf("AddBytes allocates %v times a call", n)
	}
	i = 0
	if n := testing.AllocsPerRun(runs, func() { al.EndTCPSession(ids[i]); i++ }); n != 0 {
		t.Fatalf("EndTCPSession allocates %v times a call", n)
	}
	// Start returns its id as a new string: that is its one allocation.
	if n := testing.AllocsPerRun(runs, func() { al.StartTCPSession(1, "203.0.113.9:40000", "10.0.0.5:443") }); n > 1 {
		t.Fatalf("StartTCPSession allocates %v times a call", n)
	}
	if n := testing.AllocsPerRun(runs, func() { al.TrackUDPSession(1, "[2001:db8::9]:40000", "10.0.0.5:53") }); n > 1 {
		t.Fatalf("TrackUDPSession allocates %v times a call", n)
	}
}
