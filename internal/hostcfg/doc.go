// Package hostcfg is what one host's rasa-gitops is made of: the state directory, the
// environment and --env-file, the tokens (generated once into <state>/secrets),
// rendering a declaration directory with the host's tokens, the fingerprint and the
// snapshot path of a directory apply, and the model side (store, tag table, model
// server handler and its mux). Host opens the state, the Docker Engine and the model
// side together, and Serve starts the host's HTTP servers.
//
// Every command of cmd/rasa-gitops that reads a declaration or converges the host
// builds a Config from its flags and asks it; keeping the answers here gives plan,
// apply, serve and the daemon one definition of "this host", testable without the CLI.
package hostcfg
