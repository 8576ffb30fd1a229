package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
)

// version is the release, set at build time with
// -ldflags "-X main.version=…" (the Makefile uses git describe).
var version = "dev"

// printVersion is `clavis version`: the version, the Go toolchain and,
// when the build recorded it, the VCS revision.
func printVersion(_ context.Context, _ Config, _ *slog.Logger, stdout io.Writer) error {
	fmt.Fprintf(stdout, "clavis %s\n", version)
	fmt.Fprintf(stdout, "go: %s\n", runtime.Version())
	if info, ok := debug.ReadBuildInfo(); ok {
		var rev, at, modified string
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = " (modified)"
				}
			}
		}
		if rev != "" {
			fmt.Fprintf(stdout, "revision: %s%s\n", rev, modified)
		}
		if at != "" {
			fmt.Fprintf(stdout, "committed: %s\n", at)
		}
	}
	return nil
}
