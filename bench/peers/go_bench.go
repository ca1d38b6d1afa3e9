// Peer benchmark: Go (standard library only). Run with GOMAXPROCS=1.
//
// Prints lines: peer=go bench=<name> value=<number> unit=<ns|s|KiB>
//
// Each micro-benchmark does one untimed warm-up pass, then reps timed
// passes, and reports the median.
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	peer      = "go"
	reps      = 3
	nSleepers = 100000
	queueCap  = 16
)

func emit(name string, value float64, unit string) {
	fmt.Printf("peer=%s bench=%s value=%.6g unit=%s\n", peer, name, value, unit)
}

func vmHWMKiB() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "VmHWM:") {
			fields := strings.Fields(line)
			v, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				panic(err)
			}
			return v
		}
	}
	panic("VmHWM not found")
}

func medianOf(fn func(int) float64, n int) float64 {
	w := n / 10
	if w < 1 {
		w = 1
	}
	fn(w) // warm-up
	vals := make([]float64, reps)
	for i := range vals {
		vals[i] = fn(n)
	}
	sort.Float64s(vals)
	return vals[reps/2]
}

// 1. yield: two goroutines alternate via runtime.Gosched (Go's time.Sleep(0)
// returns without yielding, so Gosched is the sleep(0) equivalent); 2n yields.
func benchYield(n int) float64 {
	var wg sync.WaitGroup
	worker := func() {
		defer wg.Done()
		for i := 0; i < n; i++ {
			runtime.Gosched()
		}
	}
	t0 := time.Now()
	wg.Add(2)
	go worker()
	go worker()
	wg.Wait()
	return float64(time.Since(t0).Nanoseconds()) / float64(2*n)
}

// 2. spawn_join: start a goroutine that returns at once and wait for it.
func benchSpawnJoin(n int) float64 {
	var wg sync.WaitGroup
	nothing := func() { wg.Done() }
	t0 := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go nothing()
		wg.Wait()
	}
	return float64(time.Since(t0).Nanoseconds()) / float64(n)
}

// 3. sleepers: nSleepers goroutines each sleeping (i % 100) ms, all joined.
// Each goroutine first waits on a start gate that opens once all are spawned.
// Without it, with GOMAXPROCS=1 the spawner gets preempted and the early
// short sleepers finish before the last ones exist, so fewer than nSleepers
// would ever be alive at once (gevent and Boost.Fiber don't run a new
// coroutine until the spawner blocks, so all of theirs are alive together).
func benchSleepers() {
	before := vmHWMKiB()
	var wg sync.WaitGroup
	start := make(chan struct{})
	t0 := time.Now()
	wg.Add(nSleepers)
	for i := 0; i < nSleepers; i++ {
		d := time.Duration(i%100) * time.Millisecond
		go func() {
			<-start
			time.Sleep(d)
			wg.Done()
		}()
	}
	close(start)
	wg.Wait()
	wall := time.Since(t0).Seconds()
	after := vmHWMKiB()
	emit("sleepers", wall, "s")
	emit("sleepers_mem", float64(after-before)/nSleepers, "KiB")
}

// 4. event_pingpong: one unbuffered channel each way; ns per round trip.
func benchEventPingpong(n int) float64 {
	ping := make(chan struct{})
	pong := make(chan struct{})
	done := make(chan struct{})
	go func() {
		for i := 0; i < n; i++ {
			<-ping
			pong <- struct{}{}
		}
		close(done)
	}()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		ping <- struct{}{}
		<-pong
	}
	<-done
	return float64(time.Since(t0).Nanoseconds()) / float64(n)
}

// 5. queue_pingpong: an int goes there through buffered q1 and back through
// buffered q2; ns per round trip (two queue transfers).
func benchQueuePingpong(n int) float64 {
	q1 := make(chan int, queueCap)
	q2 := make(chan int, queueCap)
	done := make(chan struct{})
	go func() {
		for i := 0; i < n; i++ {
			q2 <- <-q1
		}
		close(done)
	}()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		q1 <- i
		<-q2
	}
	<-done
	return float64(time.Since(t0).Nanoseconds()) / float64(n)
}

func main() {
	if p := runtime.GOMAXPROCS(0); p != 1 {
		fmt.Fprintf(os.Stderr, "warning: GOMAXPROCS=%d (expected 1)\n", p)
	}
	// sleepers first, so the VmHWM baseline is not inflated by earlier runs.
	benchSleepers()
	emit("yield", medianOf(benchYield, 5000000), "ns")
	emit("spawn_join", medianOf(benchSpawnJoin, 2000000), "ns")
	emit("event_pingpong", medianOf(benchEventPingpong, 2000000), "ns")
	emit("queue_pingpong", medianOf(benchQueuePingpong, 2000000), "ns")
}
