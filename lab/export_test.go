package lab

import "time"

// SetInterruptGrace sets how long an interrupted tool has before it is
// killed, until the returned function restores it.
func SetInterruptGrace(d time.Duration) (restore func()) {
	old := interruptGrace
	interruptGrace = d
	return func() { interruptGrace = old }
}
