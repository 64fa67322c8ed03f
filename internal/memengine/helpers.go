package memengine

import (
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
)

// The helpers below change the Engine the way a person or a crash would, behind the
// daemon's back. They are not Engine calls: Calls does not list them.

// Pause pauses a running container, as `docker pause` does: it stays listed (State
// "paused", Status "Up ... (Paused)") and reconcile must replace it.
func (e *Engine) Pause(id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.findContainer(id)
	if err != nil {
		return err
	}
	switch c.status {
	case container.StatePaused:
		return conflict("container %s is already paused", c.id)
	case container.StateRunning:
	default:
		return conflict("container %s is not running", c.id)
	}
	c.status = container.StatePaused
	e.containerEvent(c, events.ActionPause, nil)
	return nil
}

// Unpause resumes a paused container, as `docker unpause` does, to undo a Pause
// made by hand before reconcile replaced the container.
func (e *Engine) Unpause(id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.findContainer(id)
	if err != nil {
		return err
	}
	if c.status != container.StatePaused {
		return conflict("container %s is not paused", c.id)
	}
	c.status = container.StateRunning
	e.containerEvent(c, events.ActionUnPause, nil)
	return nil
}

// Kill makes a running container's process die with exitCode, as a crash does (event
// "die", no "stop"). Then, as on the real Engine, its restart policy applies: always
// and unless-stopped restart it at once (RestartCount goes up, event "start"), as does
// on-failure for a non-zero code within its retry count; otherwise it stays exited.
func (e *Engine) Kill(id string, exitCode int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.findContainer(id)
	if err != nil {
		return err
	}
	if !c.running() {
		return conflict("container %s is not running", c.id)
	}
	e.exit(c, exitCode, "")
	p := c.host.RestartPolicy
	restart := false
	switch p.Name {
	case container.RestartPolicyAlways, container.RestartPolicyUnlessStopped:
		restart = true
	case container.RestartPolicyOnFailure:
		restart = exitCode != 0 && (p.MaximumRetryCount == 0 || c.restartCount < p.MaximumRetryCount)
	}
	if restart {
		c.restartCount++
		code := c.exitCode
		if err := e.start(c); err != nil {
			c.exitCode = code
			return nil // the restart failed: it stays exited, as on the Engine
		}
	}
	return nil
}

// RemoveForce removes a container whatever its state, as `docker rm -f` by hand does
// (kill, die, destroy for a running one).
func (e *Engine) RemoveForce(id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.findContainer(id)
	if err != nil {
		return err
	}
	return e.remove(c, true, false)
}

// SetHealth fixes the health status (container.Healthy, Unhealthy or Starting) a
// container with a health check reports while it runs, now and after later starts;
// "" restores the default (healthy once started). A container without a health check
// has no health to set, as on the Engine.
func (e *Engine) SetHealth(id, status string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.findContainer(id)
	if err != nil {
		return err
	}
	switch status {
	case "", container.Healthy, container.Unhealthy, container.Starting:
	default:
		return invalid("health status %q is not starting, healthy or unhealthy", status)
	}
	if c.health == nil {
		return invalid("container %s has no health check", c.id)
	}
	c.healthOverride = status
	if c.running() {
		e.setHealth(c, status)
	}
	return nil
}

// SetStopExitCode sets the code a container's process exits with when it is next
// stopped (default 0), as a process that handles SIGTERM badly would.
func (e *Engine) SetStopExitCode(id string, code int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.findContainer(id)
	if err != nil {
		return err
	}
	c.stopCode = code
	return nil
}
