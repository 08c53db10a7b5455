//go:build !linux

package lab

import "time"

// processWatch waits for nothing where there are no pidfds: Stop then
// relies on pg_ctl stop -w alone.
type processWatch struct{}

func watchProcess(int) (*processWatch, error)    { return nil, nil }
func (w *processWatch) wait(time.Duration) error { return nil }
func (w *processWatch) close()                   {}
