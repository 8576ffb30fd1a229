package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// loadReport is the --json output of a bench command.
type loadReport struct {
	Endpoint          string         `json:"endpoint"`
	Concurrency       int            `json:"concurrency"`
	DurationSeconds   float64        `json:"duration_seconds"`
	Interrupted       bool           `json:"interrupted"`
	Requests          int            `json:"requests"`
	RequestsPerSecond float64        `json:"requests_per_second"`
	Errors            map[string]int `json:"errors"`
	P50MS             float64        `json:"p50_ms"`
	P99MS             float64        `json:"p99_ms"`
	P999MS            float64        `json:"p999_ms"`
	MaxMS             float64        `json:"max_ms"`
	// Steps are the latencies of each step of a flow (flow --steps).
	Steps map[string]stepReport `json:"steps,omitempty"`
	// Chains are the refresh chains started (refresh only).
	Chains *chainReport `json:"chains,omitempty"`
}

// stepReport is one step's measured latencies.
type stepReport struct {
	Count  int     `json:"count"`
	P50MS  float64 `json:"p50_ms"`
	P99MS  float64 `json:"p99_ms"`
	P999MS float64 `json:"p999_ms"`
	MaxMS  float64 `json:"max_ms"`
}

// chainReport is what starting refresh chains took in the measured time:
// how many started, the workers' seconds they took, and the refreshes
// per second of the time the workers spent refreshing.
type chainReport struct {
	Started             int     `json:"started"`
	Seconds             float64 `json:"seconds"`
	RefreshingPerSecond float64 `json:"refreshing_per_second"`
}

// reportOptions say what a command's report shows beyond the common
// lines.
type reportOptions struct {
	json   bool
	steps  bool // each step's latencies
	chains bool // the refresh chains started
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// refreshingRate is the measured operations per second of the time the
// workers did not spend starting chains.
func (r loadResult) refreshingRate() float64 {
	busy := r.elapsed*time.Duration(r.concurrency) - r.setupTime
	if busy <= 0 {
		return 0
	}
	return float64(r.requests) * float64(r.concurrency) / busy.Seconds()
}

// printLoad prints what a run against endpoint measured, as a table or
// as one JSON object.
func printLoad(w io.Writer, endpoint string, r loadResult, o reportOptions) error {
	p50, p99 := latencyPercentile(r.latencies, 500), latencyPercentile(r.latencies, 990)
	p999, maxd := latencyPercentile(r.latencies, 999), latencyPercentile(r.latencies, 1000)
	if o.json {
		rep := loadReport{
			Endpoint: endpoint, Concurrency: r.concurrency,
			DurationSeconds: r.elapsed.Seconds(), Interrupted: r.interrupted,
			Requests: r.requests, RequestsPerSecond: r.rate(), Errors: r.errors,
			P50MS: ms(p50), P99MS: ms(p99), P999MS: ms(p999), MaxMS: ms(maxd),
		}
		if o.steps {
			rep.Steps = map[string]stepReport{}
			for i, name := range r.stepNames {
				ds := r.steps[i]
				rep.Steps[name] = stepReport{Count: len(ds), P50MS: ms(latencyPercentile(ds, 500)), P99MS: ms(latencyPercentile(ds, 990)),
					P999MS: ms(latencyPercentile(ds, 999)), MaxMS: ms(latencyPercentile(ds, 1000))}
			}
		}
		if o.chains {
			rep.Chains = &chainReport{Started: r.setups, Seconds: r.setupTime.Seconds(), RefreshingPerSecond: r.refreshingRate()}
		}
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		_, err = w.Write(append(b, '\n'))
		return err
	}
	duration := r.elapsed.Round(time.Millisecond).String()
	if r.interrupted {
		duration += " (interrupted)"
	}
	failed := r.requests - r.succeeded()
	errs := strconv.Itoa(failed)
	if failed > 0 {
		kinds := make([]string, 0, len(r.errors))
		for _, k := range slices.Sorted(maps.Keys(r.errors)) {
			kinds = append(kinds, fmt.Sprintf("%s: %d", k, r.errors[k]))
		}
		errs += " (" + strings.Join(kinds, ", ") + ")"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-13s%s\n%-13s%d\n%-13s%s\n%-13s%d (%.1f/s)\n%-13s%s\n%-13s%s\n",
		"endpoint", endpoint,
		"concurrency", r.concurrency,
		"duration", duration,
		"requests", r.requests, r.rate(),
		"errors", errs,
		"latency", percentiles(r.latencies))
	if o.chains {
		share := 0.0
		if busy := r.elapsed * time.Duration(r.concurrency); busy > 0 {
			share = 100 * float64(r.setupTime) / float64(busy)
		}
		fmt.Fprintf(&b, "%-13s%d started (not measured, %.1f%% of the workers' time); %.1f/s while refreshing\n",
			"chains", r.setups, share, r.refreshingRate())
	}
	if o.steps {
		for i, name := range r.stepNames {
			fmt.Fprintf(&b, "%-13s%-15s%s\n", "step", name, percentiles(r.steps[i]))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// percentiles are the p50, p99, p99.9 and maximum of sorted latencies.
func percentiles(sorted []time.Duration) string {
	return fmt.Sprintf("p50 %s  p99 %s  p999 %s  max %s", fmtMS(latencyPercentile(sorted, 500)), fmtMS(latencyPercentile(sorted, 990)),
		fmtMS(latencyPercentile(sorted, 999)), fmtMS(latencyPercentile(sorted, 1000)))
}

// fmtMS prints a latency in milliseconds: to a tenth, or to a thousandth
// below one.
func fmtMS(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	if ms < 1 {
		return strconv.FormatFloat(ms, 'f', 3, 64) + "ms"
	}
	return strconv.FormatFloat(ms, 'f', 1, 64) + "ms"
}
