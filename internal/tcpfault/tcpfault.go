// Package tcpfault is a test-only TCP forwarder that stands between
// Gatehouse and a real dependency (PostgreSQL, Redis) so fault tests can take
// the dependency away and bring it back without stopping the shared server:
// Cut closes every forwarded connection and refuses new ones, Restore
// accepts again.
package tcpfault

import (
	"io"
	"net"
	"sync"
)

// Forwarder forwards connections from its listener to a target address.
type Forwarder struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// Start listens on a free loopback port and forwards to target.
func Start(target string) (*Forwarder, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &Forwarder{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go f.accept()
	return f, nil
}

// Addr is the address clients connect to.
func (f *Forwarder) Addr() string { return f.ln.Addr().String() }

// Cut drops every open connection and refuses new ones until Restore.
func (f *Forwarder) Cut() {
	f.mu.Lock()
	f.cut = true
	for c := range f.conns {
		_ = c.Close()
	}
	f.mu.Unlock()
}

// Restore accepts connections again.
func (f *Forwarder) Restore() {
	f.mu.Lock()
	f.cut = false
	f.mu.Unlock()
}

// Close stops the forwarder and waits for its goroutines.
func (f *Forwarder) Close() {
	_ = f.ln.Close()
	f.Cut()
	f.wg.Wait()
}

func (f *Forwarder) accept() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		if f.cut {
			f.mu.Unlock()
			_ = c.Close()
			continue
		}
		f.conns[c] = struct{}{}
		f.mu.Unlock()
		f.wg.Add(1)
		go f.pipe(c)
	}
}

func (f *Forwarder) pipe(c net.Conn) {
	defer f.wg.Done()
	up, err := net.Dial("tcp", f.target)
	if err != nil {
		f.drop(c)
		return
	}
	f.mu.Lock()
	if f.cut {
		f.mu.Unlock()
		_ = up.Close()
		f.drop(c)
		return
	}
	f.conns[up] = struct{}{}
	f.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	f.drop(c)
	f.drop(up)
	<-done
}

func (f *Forwarder) drop(c net.Conn) {
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
	_ = c.Close()
}
