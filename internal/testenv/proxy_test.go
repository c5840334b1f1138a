package testenv

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// echoServer answers every connection with what it reads, until the
// client half-closes; then it half-closes too.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	return ln.Addr().String()
}

// With latency, a stream comes back whole and in order, through the
// half-close, and a round trip takes at least the handshake's round trip
// plus the request's (checked from below only: a loaded machine only adds).
func TestProxyLatency(t *testing.T) {
	const oneWay = 50 * time.Millisecond
	p := NewProxy(t, echoServer(t))
	p.SetLatency(oneWay)
	want := make([]byte, 3<<20)
	rand.Read(want)

	start := time.Now()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	var pong [4]byte
	if _, err := io.ReadFull(c, pong[:]); err != nil || string(pong[:]) != "ping" {
		t.Fatalf("first answer %q, %v; want ping", pong, err)
	}
	if rtt := time.Since(start); rtt < 4*oneWay {
		t.Errorf("the first answer came after %v, want at least %v (handshake and request round trips)", rtt, 4*oneWay)
	}

	start = time.Now()
	var got []byte
	done := make(chan error, 1)
	go func() {
		var err error
		got, err = io.ReadAll(c)
		done <- err
	}()
	for i := 0; i < len(want); i += 1000 { // many small writes: many chunks in the line
		if _, err := c.Write(want[i:min(i+1000, len(want))]); err != nil {
			t.Fatal(err)
		}
	}
	c.(*net.TCPConn).CloseWrite()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the echo of %d bytes differs: got %d bytes", len(want), len(got))
	}
	if rtt := time.Since(start); rtt < 2*oneWay {
		t.Errorf("the stream came back after %v, want at least %v", rtt, 2*oneWay)
	}
}

// Sever resets open connections and new ones until Resume; then the proxy
// relays again.
func TestProxySever(t *testing.T) {
	p := NewProxy(t, echoServer(t))
	open, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	roundTrip := func(c net.Conn) error {
		if _, err := c.Write([]byte("x")); err != nil {
			return err
		}
		var b [1]byte
		_, err := io.ReadFull(c, b[:])
		return err
	}
	if err := roundTrip(open); err != nil {
		t.Fatal(err)
	}
	p.Sever()
	if err := roundTrip(open); err == nil {
		t.Error("an open connection still works after Sever")
	}
	c, err := net.Dial("tcp", p.Addr())
	if err == nil {
		err = roundTrip(c)
		c.Close()
	}
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		t.Errorf("a new connection after Sever: %v, want a reset", err)
	}
	p.Resume()
	c, err = net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := roundTrip(c); err != nil {
		t.Errorf("after Resume: %v", err)
	}
}

// In front of a real git daemon, the proxy counts fetches and pushes by
// service, their bytes both ways, and the refs pushes update.
func TestProxyCountsGit(t *testing.T) {
	remote := NewGitRemote(t)
	p := NewProxy(t, strings.TrimSuffix(strings.TrimPrefix(GitURL(t), "git://"), "/"))
	p.SetLatency(5 * time.Millisecond)
	url := "git://" + p.Addr() + "/" + filepath.Base(remote)
	work := oneCommit(t)
	Git(t, work, "push", "-q", url, "HEAD:main", "HEAD:refs/wirekeeper/status/hv1")
	Git(t, work, "ls-remote", url)
	Git(t, work, "fetch", "-q", url, "main")

	got := p.Traffic()
	for service, want := range map[string]int64{"git-upload-pack": 2, "git-receive-pack": 1} {
		tr := got[service]
		if tr.Requests != want || tr.Up == 0 || tr.Down == 0 {
			t.Errorf("%s: %+v, want %d requests and bytes both ways", service, tr, want)
		}
	}
	if tr, ok := got[""]; ok {
		t.Errorf("traffic not recognized as git: %+v", tr)
	}
	if diff := cmp.Diff(map[string]int64{"refs/heads/main": 1, "refs/wirekeeper/status/hv1": 1}, p.Updates()); diff != "" {
		t.Errorf("updates (-want +got):\n%s", diff)
	}
}

// tinyBacklog listens on loopback with an accept queue of one, as a
// server with a short backlog (git daemon's is 5) does, and accepts
// nothing until accept is called.
func tinyBacklog(t *testing.T) (addr string, accept func() net.Conn) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "tiny-backlog")
	ln, err := net.FileListener(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String(), func() net.Conn {
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
}

// With a connect timeout, a connect the target's full accept queue
// dropped is tried again, and the client's connection goes through once
// the target accepts.
func TestProxyConnectRetry(t *testing.T) {
	addr, accept := tinyBacklog(t)
	// Fill the queue until a connect hangs.
	full := false
	for range 64 {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			full = true
			break
		}
		t.Cleanup(func() { c.Close() })
	}
	if !full {
		t.Fatal("the accept queue of one never filled up: connects were not dropped")
	}
	p := NewProxy(t, addr)
	p.SetConnectTimeout(50 * time.Millisecond)
	client, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for wait := time.Now().Add(time.Minute); p.ConnectRetries() == 0; {
		if time.Now().After(wait) {
			t.Fatal("the proxy never tried a dropped connect again")
		}
		time.Sleep(10 * time.Millisecond) // until the proxy has given up a connect
	}
	// Accept every queued connection until the proxy's arrives: it is the
	// one the client's bytes reach.
	if _, err := client.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		c := accept()
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		var b [5]byte
		if _, err := io.ReadFull(c, b[:]); err == nil && string(b[:]) == "hello" {
			return
		}
	}
	t.Fatal("the client's bytes never reached the target")
}
