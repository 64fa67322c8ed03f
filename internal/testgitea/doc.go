// Package testgitea runs a real Gitea on loopback for tests of the pull-request loop
// (preview comments, commit statuses): the binary scripts/gitea.sh builds from the Go
// module proxy, SQLite in a temporary directory, an admin user and an API token. A
// test without the binary is skipped outside CI and fails in it (internal/needs).
package testgitea
