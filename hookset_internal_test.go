package securepg

import (
	"errors"
	"strings"
	"testing"

	"github.com/securepg/securepg/hooks"
)

func TestCallHookWrapsErrorsAndPanics(t *testing.T) {
	cause := errors.New("cause")
	run := func(f func()) error {
		_, err := callHook("X", 2, func() (struct{}, error) { f(); return struct{}{}, nil })
		return err
	}
	err := run(func() { panic(cause) })
	var he *hooks.Error
	if !errors.As(err, &he) || !he.Panic || he.Hook != "X" || he.Index != 2 || !errors.Is(err, cause) {
		t.Fatalf("%#v", err)
	}
	err = run(func() { panic("Zq7-in-a-panic") })
	if strings.Contains(err.Error(), "Zq7") || !strings.Contains(err.Error(), "string") {
		t.Fatalf("non-error panic value: %v", err)
	}
	if _, err := callHook("X", 0, func() (int, error) { return 1, nil }); err != nil {
		t.Fatal("a hook without error failed")
	}
	_, w := callHook("X", 0, func() (int, error) { return 0, cause })
	if !errors.Is(w, cause) {
		t.Fatal("the cause is lost")
	}
	if _, again := callHook("X", 0, func() (int, error) { return 0, w }); again != w {
		t.Fatal("a hook's own *hooks.Error is wrapped twice")
	}
}
