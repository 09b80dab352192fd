package vault

import "sync"

// policyHook runs the OnPolicyChange function: in its own goroutine, one
// call at a time, with triggers that arrive during a call folded into one
// more call after it.
type policyHook struct {
	mu      sync.Mutex
	fn      func()
	running bool // a goroutine is calling fn
	again   bool // triggered while running: call once more
	closed  bool
	wg      sync.WaitGroup
}

// set replaces the function (nil: none).
func (h *policyHook) set(fn func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fn = fn
}

// trigger schedules a call of the current function, if any.
func (h *policyHook) trigger() {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.fn == nil || h.closed:
	case h.running:
		h.again = true
	default:
		h.running = true
		h.wg.Add(1)
		go h.run()
	}
}

func (h *policyHook) run() {
	defer h.wg.Done()
	for {
		h.mu.Lock()
		fn := h.fn
		h.again = false
		h.mu.Unlock()
		if fn != nil {
			fn()
		}
		h.mu.Lock()
		if !h.again || h.closed {
			h.running = false
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
	}
}

// close stops further calls and waits for a running one.
func (h *policyHook) close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.wg.Wait()
}
