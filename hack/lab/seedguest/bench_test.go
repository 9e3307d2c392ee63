package main

import (
	_ "embed"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/report/clusterbench"
	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

//go:embed testdata/proc-self-status.txt
var realStatus string

func TestStatusField(t *testing.T) {
	tests := []struct {
		name, text, field string
		want              float64
		wantErr           string
	}{
		{name: "VmRSS of a real status", text: realStatus, field: "VmRSS", want: fieldKB(t, realStatus, "VmRSS") / 1024},
		{name: "VmHWM of a real status", text: realStatus, field: "VmHWM", want: fieldKB(t, realStatus, "VmHWM") / 1024},
		{name: "missing", text: "Name:\tx\n", field: "VmRSS", wantErr: "no VmRSS line"},
		{name: "not a number", text: "VmRSS:\t lots kB\n", field: "VmRSS", wantErr: "not a number of kB"},
		{name: "a longer name is another field", text: "VmRSSX:\t1 kB\nVmRSS:\t2048 kB\n", field: "VmRSS", want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := statusField(strings.NewReader(tt.text), tt.field)
			if !wanterr.Check(t, err, tt.wantErr) {
				return
			}
			if got != tt.want || got <= 0 {
				t.Errorf("got %v; want %v", got, tt.want)
			}
		})
	}
}

// fieldKB reads a field independently of statusField: the number before " kB".
func fieldKB(t *testing.T, text, field string) float64 {
	t.Helper()
	for l := range strings.Lines(text) {
		if f := strings.Fields(l); len(f) == 3 && f[0] == field+":" && f[2] == "kB" {
			var v float64
			for _, c := range f[1] {
				v = v*10 + float64(c-'0')
			}
			return v
		}
	}
	t.Fatalf("no %s in the testdata", field)
	return 0
}

func FuzzStatusField(f *testing.F) {
	f.Add(realStatus, "VmRSS")
	f.Add("VmHWM:\t   61544 kB\n", "VmHWM")
	f.Fuzz(func(t *testing.T, text, field string) {
		v, err := statusField(strings.NewReader(text), field)
		if err == nil && v != v {
			t.Errorf("NaN without an error for %q", text)
		}
	})
}

func TestBenchObjects(t *testing.T) {
	// Addresses stay distinct and inside their ranges up to the largest run.
	seen := map[string]bool{}
	for _, i := range []int{0, 1, 255, 256, 9999} {
		svc := benchService(i)
		es := benchSlice(i, "node1")
		for _, a := range []string{svc.Spec.ClusterIP, es.Endpoints[0].Addresses[0], es.Endpoints[1].Addresses[0]} {
			if seen[a] {
				t.Errorf("address %s used twice", a)
			}
			seen[a] = true
		}
		changed := benchSlice(i, "node1", clusterbench.ChangeAddress)
		if es.Labels["kubernetes.io/service-name"] != svc.Name || len(changed.Endpoints) != 3 || es.ResourceVersion == changed.ResourceVersion {
			t.Errorf("slice %d: %+v, changed %+v", i, es.ObjectMeta, changed.ObjectMeta)
		}
	}
	if seen[clusterbench.ChangeAddress.String()] {
		t.Errorf("the change's address %s is already an endpoint", clusterbench.ChangeAddress)
	}
	if got := benchService(9999).Spec.ClusterIP; got != "10.96.39.25" {
		t.Errorf("ClusterIP of Service 9999 = %s, want 10.96.39.25 (10.96.0.10 + 9999)", got)
	}
}
