// gatelog-bench-go: the Go binding driven by -g goroutines, each running
// its share of -n StartTCPSession+EndTCPSession pairs (the reference
// logger's "pairs" mode, so that the two compare), then Close: every
// record compressed and handed to a SendFunc that discards it. Prints one
// line: sessions/s (wall, Close included), CPU per session (the whole
// process) and the 99.9th percentile of a call.
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"sync"
	"syscall"
	"time"

	"gatelog"
)

func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	n := flag.Int("n", 400000, "sessions")
	g := flag.Int("g", 2, "goroutines")
	flag.Parse()
	al, err := gatelog.New(gatelog.Options{FullWait: time.Minute, CloseDrain: 10 * time.Minute})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	al.SetSendFunc(func(string) error { return nil })
	// Addresses made up front: the run measures the logger, not Sprintf.
	pool := make([]string, 4096)
	for i := range pool {
		pool[i] = fmt.Sprintf("203.0.%d.%d:%d", (i>>8)&255, i&255, 32768+i*7%32768)
	}
	c0, t0 := cpu(), time.Now()
	lat := make([][]time.Duration, *g)
	var wg sync.WaitGroup
	for w := 0; w < *g; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			each := *n / *g
			l := make([]time.Duration, 0, 2*each)
			for i := 0; i < each; i++ {
				src := pool[(i*7919+w)%len(pool)]
				s := time.Now()
				id := al.StartTCPSession(i%200, src, "10.0.0.5:443")
				m := time.Now()
				al.EndTCPSession(id)
				e := time.Now()
				l = append(l, m.Sub(s), e.Sub(m))
			}
			lat[w] = l
		}(w)
	}
	wg.Wait()
	al.Close()
	wall, used := time.Since(t0), cpu()-c0
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	done := (*n / *g) * *g
	fmt.Printf("gatelog-go g=%d n=%d sessions_per_s=%.0f cpu_per_session_us=%.2f call_p999_us=%.2f\n",
		*g, done, float64(done)/wall.Seconds(), used.Seconds()/float64(done)*1e6,
		float64(all[len(all)*999/1000])/1e3)
}
