// Package std has mistakes that go vet's standard analyzers report and
// no bypass: the vet tool must still report them.
package std

import "fmt"

func Print(name string) {
	fmt.Printf("%d\n", name)
}
