package tcpfault

import (
	"bufio"
	"net"
	"testing"
)

// TestCutAndRestore: bytes flow, Cut breaks open and new connections,
// Restore lets new ones through again.
func TestCutAndRestore(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					_, _ = c.Write([]byte(line))
				}
			}()
		}
	}()
	f, err := Start(echo.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	roundTrip := func() error {
		c, err := net.Dial("tcp", f.Addr())
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Write([]byte("ping\n")); err != nil {
			return err
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err == nil && line != "ping\n" {
			t.Fatalf("echo = %q", line)
		}
		return err
	}
	if err := roundTrip(); err != nil {
		t.Fatalf("before cut: %v", err)
	}
	open, err := net.Dial("tcp", f.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if _, err := open.Write([]byte("x\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(open).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	f.Cut()
	if _, err := bufio.NewReader(open).ReadString('\n'); err == nil {
		t.Fatal("an open connection survived Cut")
	}
	if err := roundTrip(); err == nil {
		t.Fatal("a new connection got through while cut")
	}
	f.Restore()
	if err := roundTrip(); err != nil {
		t.Fatalf("after restore: %v", err)
	}
}
