package upstream

import (
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

func TestCheckComponents(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    string
		wantErr string
	}{
		{name: "defaults", in: DefaultComponents, want: "kube-apiserver,kube-controller-manager,kubectl,kube-proxy,etcd"},
		{name: "order kept, duplicates dropped", in: []string{"etcd", "kube-proxy", "etcd"}, want: "etcd,kube-proxy"},
		{name: "unknown", in: []string{"kube-proxy", "kube-dns"}, wantErr: `unknown component "kube-dns": want some of etcd, kube-apiserver`},
		{name: "empty", in: nil, wantErr: "no components to build"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := checkComponents(tt.in)
			if !wanterr.Check(t, err, tt.wantErr) {
				return
			}
			if strings.Join(got, ",") != tt.want {
				t.Errorf("checkComponents(%q) = %q, want %s", tt.in, got, tt.want)
			}
		})
	}
	for _, c := range KnownComponents() {
		if coldBuildTime[c] == "" {
			t.Errorf("component %s has no cold build time for its progress line", c)
		}
	}
}
