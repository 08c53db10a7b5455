// Package hooks defines the points where an application joins securepg's
// connection lifecycle and query path: supplying credentials before a
// connection is made, checking a validated connection, hearing about
// policy violations, and observing queries. It defines its own types and
// does not import securepg, so providers and checks can be written against
// it alone; securepg.WithHooks installs a Hooks value.
//
// Every hook runs inside securepg's recovery: a panic becomes an *Error
// (with Panic set), and a hook's error is wrapped in an *Error whose
// Unwrap returns it, so errors.Is and errors.As find the cause.
package hooks
