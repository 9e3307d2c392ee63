package clusterbench

import (
	"bytes"
	"math"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

func TestChurnSchedule(t *testing.T) {
	tests := []struct {
		name          string
		n, rate       int
		d             time.Duration
		wantChanges   int
		wantLastAt    time.Duration
		wantRemovals  int
		wantErrSubstr string
	}{
		{name: "sig-scalability's 20/s for 2 min at 1,000", n: 1000, rate: 20, d: 2 * time.Minute, wantChanges: 2400, wantLastAt: 2399 * 50 * time.Millisecond, wantRemovals: 1000},
		{name: "at 10,000 every change adds", n: 10000, rate: 20, d: 2 * time.Minute, wantChanges: 2400, wantLastAt: 2399 * 50 * time.Millisecond},
		{name: "few Services: passes alternate", n: 3, rate: 2, d: 5 * time.Second, wantChanges: 10, wantLastAt: 4500 * time.Millisecond, wantRemovals: 3 + 1},
		{name: "window shorter than one change", n: 10, rate: 20, d: 10 * time.Millisecond, wantErrSubstr: "no change"},
		{name: "no Services", n: 0, rate: 20, d: time.Minute, wantErrSubstr: "expected at least 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := ChurnSchedule(tc.n, tc.rate, tc.d, 7)
			if !wanterr.Check(t, err, tc.wantErrSubstr) {
				return
			}
			if len(plan) != tc.wantChanges {
				t.Fatalf("%d changes, want %d", len(plan), tc.wantChanges)
			}
			if got := plan[len(plan)-1].At; got != tc.wantLastAt {
				t.Errorf("last change at %s, want %s", got, tc.wantLastAt)
			}
			removals := 0
			last := map[int]int{}
			state := map[int]bool{}
			for k, c := range plan {
				if want := time.Duration(k) * time.Second / time.Duration(tc.rate); c.At != want {
					t.Fatalf("change %d at %s, want %s (even spacing)", k, c.At, want)
				}
				if c.Service < 0 || c.Service >= tc.n {
					t.Fatalf("change %d on Service %d of %d", k, c.Service, tc.n)
				}
				if prev, ok := last[c.Service]; ok && k-prev < tc.n {
					t.Fatalf("Service %d changed at %d and again at %d: expected every other Service in between", c.Service, prev, k)
				}
				if c.Add == state[c.Service] {
					t.Fatalf("change %d sets Service %d's endpoint to %v, which it already is", k, c.Service, c.Add)
				}
				state[c.Service] = c.Add
				last[c.Service] = k
				if !c.Add {
					removals++
				}
			}
			if removals != tc.wantRemovals {
				t.Errorf("%d removals, want %d", removals, tc.wantRemovals)
			}
			again, _ := ChurnSchedule(tc.n, tc.rate, tc.d, 7)
			if !slices.Equal(plan, again) {
				t.Error("the same seed gave another schedule")
			}
			if other, _ := ChurnSchedule(tc.n, tc.rate, tc.d, 8); tc.n > 3 && slices.Equal(plan, other) {
				t.Error("another seed gave the same schedule")
			}
		})
	}
}

func TestSampleQuantile(t *testing.T) {
	obs := []float64{0.4, 0.1, 0.3, 0.2, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0}
	tests := []struct {
		name       string
		observed   []float64
		total      int
		q          float64
		want       float64
		wantBeyond bool
	}{
		{"median of ten, nearest rank", obs, 10, 0.5, 0.5, false},
		{"p99 of ten is the largest", obs, 10, 0.99, 1.0, false},
		{"p50 with a tenth missed", obs[:9], 10, 0.5, 0.5, false},
		{"p99 on a missed change", obs[:9], 10, 0.99, 0, true},
		{"p50 with most missed", obs[:2], 10, 0.5, 0, true},
		{"nothing written", nil, 0, 0.5, math.NaN(), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, beyond := SampleQuantile(tc.observed, tc.total, tc.q)
			if beyond != tc.wantBeyond || !(got == tc.want || math.IsNaN(got) && math.IsNaN(tc.want)) {
				t.Errorf("SampleQuantile = %g, %v; want %g, %v", got, beyond, tc.want, tc.wantBeyond)
			}
		})
	}
	if !slices.Equal(obs[:2], []float64{0.4, 0.1}) {
		t.Error("SampleQuantile sorted its argument")
	}
}

func TestParseHolders(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    []string
		wantErr string
	}{
		{name: "none", out: ""},
		{name: "two", out: "0A600C07:0050\n0A6000FF:0050\n", want: []string{"10.96.12.7:80", "10.96.0.255:80"}},
		{name: "not hex", out: "0A60ZZ07:0050\n", wantErr: "hex digits"},
		{name: "IPv6 or junk", out: "[2001:db8::1]:80\n", wantErr: "8 hex digits"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseHolders([]byte(tc.out))
			if !wanterr.Check(t, err, tc.wantErr) {
				return
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for _, w := range tc.want {
				if !got[netip.MustParseAddrPort(w)] {
					t.Errorf("%s missing from %v", w, got)
				}
			}
		})
	}
	// The last read of a churn of 2,400 changes at 1,000 Services in the lab: the
	// passes added the endpoint to all, removed it from all, added it to 400.
	lab, err := ParseHolders([]byte(fixture.Read(t, "churn-holders-lab-reference.txt")))
	if err != nil {
		t.Fatal(err)
	}
	serviceCIDR := netip.MustParsePrefix("10.96.0.0/12")
	for vs := range lab {
		if vs.Port() != ServicePort || !serviceCIDR.Contains(vs.Addr()) {
			t.Errorf("%s: expected a ClusterIP on port %d", vs, ServicePort)
		}
	}
	if len(lab) != 400 {
		t.Errorf("%d virtual servers hold the churn endpoint, want 400", len(lab))
	}
	if got := procAddrPort(netip.AddrPortFrom(ChurnAddress, TargetPort)); got != "0AF4FA02:1F90" {
		t.Errorf("ChurnAddress:TargetPort as /proc/net/ip_vs prints it: %s, want 0AF4FA02:1F90", got)
	}
}

func TestWriteChurnTable(t *testing.T) {
	ms := []Measurement{
		{Proxy: "reference", Services: 100},
		{Proxy: "v1.37.2", Services: 1000, Churn: &Churn{ProgrammingP50Seconds: 1.5, ProgrammingP99Seconds: 2.97, KernelP50Seconds: 1.2, KernelP99Seconds: 60, KernelP99Missed: true, Changes: 2400, Observed: 2300}},
		{Proxy: "reference", Services: 1000, Churn: &Churn{ProgrammingP50Seconds: 0.15, ProgrammingP99Seconds: 0.4, KernelP50Seconds: 0.3, KernelP99Seconds: 0.6, Changes: 2400, Observed: 2400}},
	}
	var b bytes.Buffer
	if err := writeChurnTable(&b, ms, "reference"); err != nil {
		t.Fatal(err)
	}
	want := `     N              proxy  prog p50 s  prog p99 s  kernel p50 s  kernel p99 s  changes  observed
  1000          reference       0.150       0.400         0.300         0.600     2400      2400
  1000            v1.37.2        1.50        2.97          1.20        >60.00     2400      2300
  1000  v1.37.2/reference         10x        7.4x          4.0x             -                   
`
	if got := b.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s\ngot %q", got, want, got)
	}
}

// FuzzParseHolders: whatever the node prints, ParseHolders returns IPv4 virtual servers or
// an error, and each it returns prints back as the kernel wrote it.
func FuzzParseHolders(f *testing.F) {
	f.Add([]byte("0A600C07:0050\n0A6000FF:0050\n"))
	f.Add([]byte("0a600c07:50\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		holders, err := ParseHolders(out)
		if err != nil {
			return
		}
		for vs := range holders {
			if !vs.Addr().Is4() {
				t.Fatalf("%s: not IPv4", vs)
			}
			if !strings.Contains(strings.ToUpper(string(out)), procAddrPort(vs)) {
				t.Fatalf("%s (%s) is not in %q", vs, procAddrPort(vs), out)
			}
		}
	})
}
