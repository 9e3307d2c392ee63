package labe2e

import (
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
)

// testdata/seed-ipvsadm-Ln.txt is a copy of the seed's table (proxy/desired/testdata/seed),
// because the lab guest gets only this package's testdata; it must not drift.
func TestSeedTableIsTheSeeds(t *testing.T) {
	copied := fixture.Read(t, "seed-ipvsadm-Ln.txt")
	if copied != fixture.ReadRepo(t, "proxy/desired/testdata/seed/ipvsadm-Ln.txt") {
		t.Fatalf("testdata/seed-ipvsadm-Ln.txt differs from proxy/desired/testdata/seed/ipvsadm-Ln.txt; copy it again:\n%s", copied)
	}
}

func TestIPVSAdmBlock(t *testing.T) {
	text := "IP Virtual Server version 1.2.1 (size=4096)\n" +
		"Prot LocalAddress:Port Scheduler Flags\n" +
		"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n" +
		"TCP  172.18.0.3:30089 rr\n" +
		"  -> 10.244.3.214:80              Masq    1      0          0         \n" +
		"TCP  10.106.71.137:80 rr\n" +
		"  -> 10.244.3.214:80              Masq    1      0          0         \n" +
		"  -> 10.244.3.215:80              Masq    0      1          0         \n"
	tests := []struct {
		service string
		want    []string
	}{
		{"TCP  10.106.71.137:80 rr", []string{"TCP  10.106.71.137:80 rr",
			"  -> 10.244.3.214:80              Masq    1      0          0",
			"  -> 10.244.3.215:80              Masq    0      1          0"}},
		{"TCP  172.18.0.3:30089 rr", []string{"TCP  172.18.0.3:30089 rr", "  -> 10.244.3.214:80              Masq    1      0          0"}},
		{"TCP  10.96.0.1:443 rr", nil},
	}
	for _, tt := range tests {
		got := ipvsadmBlock(text, tt.service)
		if len(got) != len(tt.want) {
			t.Errorf("ipvsadmBlock(%q) = %q, expected %q", tt.service, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("ipvsadmBlock(%q)[%d] = %q, expected %q", tt.service, i, got[i], tt.want[i])
			}
		}
	}
}

// ipvsadmBlock returns the lines of `ipvsadm -Ln` output for the service whose line is
// service: that line and its real servers, trailing blanks removed.
func ipvsadmBlock(text, service string) []string {
	var block []string
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimRight(l, " ")
		switch {
		case l == service:
			block = []string{l}
		case block != nil && strings.HasPrefix(l, "  -> "):
			block = append(block, l)
		case block != nil:
			return block
		}
	}
	return block
}
