package server

import (
	"net/http"
	"os"
	"sync"
	"time"
)

type componentState int

// The values of Teleport's process_state gauge (lib/service/state.go); they
// are exported as metrics, hence explicit.
const (
	stateOK         componentState = 0
	stateRecovering componentState = 1
	stateDegraded   componentState = 2
	stateStarting   componentState = 3
)

// processState mirrors lib/service.processState: every component (auth,
// proxy, node) starts "starting"; OK moves it to ok, or from degraded to
// recovering, and from recovering to ok once recovery has lasted
// recoveryPeriod (Teleport: 2 x defaults.HeartbeatCheckPeriod).
type processState struct {
	mu             sync.Mutex
	states         map[string]*component
	recoveryPeriod time.Duration
	// fault is the fault-injection hook: /readyz stays 503 whatever happens.
	fault bool
}

type component struct {
	state        componentState
	recoveryTime time.Time
}

func newProcessState(recovery time.Duration) *processState {
	return &processState{states: map[string]*component{}, recoveryPeriod: recovery}
}

func (f *processState) get(name string) *component {
	c, ok := f.states[name]
	if !ok {
		c = &component{state: stateStarting, recoveryTime: time.Now()}
		f.states[name] = c
	}
	return c
}

// starting registers a component that has not joined or started yet.
func (f *processState) starting(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.get(name)
}

// ok is TeleportOKEvent for the component.
func (f *processState) ok(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.get(name)
	switch c.state {
	case stateStarting:
		c.state = stateOK
	case stateDegraded:
		c.state = stateRecovering
		c.recoveryTime = time.Now()
	case stateRecovering:
		if time.Since(c.recoveryTime) > f.recoveryPeriod {
			c.state = stateOK
		}
	}
}

// degraded is TeleportDegradedEvent for the component.
func (f *processState) degraded(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.get(name).state = stateDegraded
}

// overall mirrors processState.getStateLocked: degraded beats recovering
// beats starting; ok only when every component is ok.
func (f *processState) overall() componentState {
	f.mu.Lock()
	defer f.mu.Unlock()
	state := stateStarting
	notOK := len(f.states)
	for _, c := range f.states {
		switch c.state {
		case stateDegraded:
			return stateDegraded
		case stateRecovering:
			state = stateRecovering
		case stateOK:
			notOK--
		}
	}
	if notOK == 0 && len(f.states) > 0 {
		state = stateOK
	}
	return state
}

// readiness mirrors processState.readinessHandler: 503 degraded, 400
// recovering or starting, 200 ok; the body is debug.Readiness {status, pid}.
func (f *processState) readiness(w http.ResponseWriter, _ *http.Request) {
	reply := func(code int, status string) {
		writeJSON(w, code, map[string]any{"status": status, "pid": os.Getpid(), "test_double": Marker})
	}
	if f.fault {
		reply(http.StatusServiceUnavailable, "teleport is in a degraded state, check logs for details (TEST DOUBLE fault injection: "+FaultInjectionFile+" exists)")
		return
	}
	switch f.overall() {
	case stateDegraded:
		reply(http.StatusServiceUnavailable, "teleport is in a degraded state, check logs for details")
	case stateRecovering:
		reply(http.StatusBadRequest, "teleport is recovering from a degraded state, check logs for details")
	case stateStarting:
		reply(http.StatusBadRequest, "teleport is starting and hasn't joined the cluster yet")
	default:
		reply(http.StatusOK, "ok")
	}
}
