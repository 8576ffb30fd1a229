// Command clavis-bench is a load generator for a Clavis node's OAuth 2.0
// endpoints: it measures the token endpoint (clavis-bench token), the
// introspection endpoint (clavis-bench introspect), whole authorization
// code flows with a login application (clavis-bench flow) or refresh
// chains (clavis-bench refresh) from the machine it runs on, with no
// other tool to install, and reports the rate and the exact latency
// percentiles. It is a binary of its own so that the server carries no
// load-generation code.
//
// The measuring core is runWorkers, the closed loop every command runs;
// run reads the flags and prints what it measured. The endpoint and tenant flags also read
// CLAVIS_ENDPOINT and CLAVIS_TENANT, like the clavis commands that talk
// to a node; a flag wins over its variable. Usage errors exit with status
// 2, a run in which not one request succeeded with status 1.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, the next one kills at once.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)
