package testnode

import (
	"flag"
	"runtime"
	"strconv"
)

// WaitingTestsPerCPU is how many parallel tests per CPU [AllowWaitingTests]
// lets run at once.
const WaitingTestsPerCPU = 2

// AllowWaitingTests lets a package's tests run with up to
// [WaitingTestsPerCPU] parallel tests per CPU, unless -test.parallel is
// given. A package of node tests spends most of its time waiting (for
// NATS, PostgreSQL, a token to expire, a poll's next round), and Go's
// default of one parallel test per CPU leaves the CPUs idle meanwhile.
// It is not for tests that keep the CPUs busy, such as a browser's. It
// is meant for TestMain, before m.Run:
//
//	func TestMain(m *testing.M) {
//		testnode.AllowWaitingTests()
//		os.Exit(m.Run())
//	}
func AllowWaitingTests() {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if given {
		return
	}
	if err := flag.Set("test.parallel", strconv.Itoa(WaitingTestsPerCPU*runtime.GOMAXPROCS(0))); err != nil {
		panic("testnode: set -test.parallel: " + err.Error())
	}
}
