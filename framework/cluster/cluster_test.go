package cluster

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   Options
		out    Outcome
		delete bool
		reason string
	}{
		{"passed, created", Options{}, Outcome{Created: true}, true, "run passed"},
		{"passed, reused", Options{Reuse: true}, Outcome{}, false, "not created by this run"},
		{"failed, created", Options{}, Outcome{Created: true, Failed: true}, true, "set keep-on-failure"},
		{"failed, keep", Options{KeepOnFailure: true}, Outcome{Created: true, Failed: true}, false, "kept for inspection"},
		{"failed, reused", Options{Reuse: true}, Outcome{Failed: true}, false, "never deleted"},
		{"interrupted", Options{}, Outcome{Created: true, Interrupted: true, Failed: true}, false, "set delete-on-interrupt"},
		{"interrupted, delete", Options{DeleteOnInterrupt: true, KeepOnFailure: true}, Outcome{Created: true, Interrupted: true, Failed: true}, true, "delete-on-interrupt is set"},
		// Whatever the options say, a cluster the run did not create stays.
		{"interrupted, reused, delete", Options{Reuse: true, DeleteOnInterrupt: true}, Outcome{Interrupted: true, Failed: true}, false, "never deleted"},
		{"failed, reused, delete", Options{Reuse: true, DeleteOnInterrupt: true}, Outcome{Failed: true}, false, "never deleted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Decide(tc.opts, tc.out)
			if f.Delete != tc.delete || !strings.Contains(f.Reason, tc.reason) {
				t.Errorf("Decide = %+v, want delete=%v reason containing %q", f, tc.delete, tc.reason)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	o := Options{}.WithDefaults()
	if o.Name != DefaultName || o.ProxyMode != ModeIPVS || o.Workers != 2 {
		t.Errorf("defaults = %+v", o)
	}
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"ProxyMode nftables", Options{ProxyMode: "nftables"}, `proxy mode "nftables": expected "ipvs"`},
		{"Workers -1", Options{Workers: -1}, "workers -1"},
		{"HostNodePorts 80", Options{HostNodePorts: []int32{80}}, "30000-32767"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wanterr.Check(t, tc.o.Validate(), tc.want)
		})
	}
	if err := (Options{ProxyMode: ModeIPTables, HostNodePorts: []int32{30089}}).Validate(); err != nil {
		t.Error(err)
	}
}

func TestCheckoutPath(t *testing.T) {
	// The test runs in framework/cluster; the checkout's go.mod is two levels up.
	want, err := filepath.Abs(filepath.Join("..", "..", "bin", "ipvsdump"))
	if err != nil {
		t.Fatal(err)
	}
	if got := CheckoutPath("bin", "ipvsdump"); got != want {
		t.Errorf("CheckoutPath(bin, ipvsdump) = %q, want %q", got, want)
	}
}
