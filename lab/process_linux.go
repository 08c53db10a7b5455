package lab

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"
)

// processWatch is a handle on a process that is not our child, so that we
// can wait for it to exit: a pidfd, which also outlives a reuse of the pid.
type processWatch struct{ fd int }

// watchProcess opens a watch on pid; nil when it has already exited.
func watchProcess(pid int) (*processWatch, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &processWatch{fd: fd}, nil
}

// wait returns when the process has exited, or errStillRunning after
// timeout. It closes the watch.
func (w *processWatch) wait(timeout time.Duration) error {
	if w == nil {
		return nil
	}
	defer unix.Close(w.fd)
	deadline := time.Now().Add(timeout)
	for {
		ms := int(time.Until(deadline) / time.Millisecond)
		if ms <= 0 {
			return errStillRunning
		}
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}}, ms)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return err
		case n == 0:
			return errStillRunning
		}
		return nil
	}
}

// close gives the watch up.
func (w *processWatch) close() {
	if w != nil {
		unix.Close(w.fd)
	}
}
