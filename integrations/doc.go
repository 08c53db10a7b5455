// Package integrations proves that the libraries Go services reach
// PostgreSQL through work with securepg, each against the test lab's real
// TLS server: GORM, sqlx, bun, ent, goose, golang-migrate, sqlc-shaped
// code and XSAM/otelsql. It is a module of its own, so that securepg does
// not depend on any of them. The one line each library needs is in the
// README's "With your ORM or tool" section; the tests are its proof.
package integrations
