package upstream

import (
	"strings"
	"testing"
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
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("checkComponents(%q) = %q, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || strings.Join(got, ",") != tt.want {
				t.Fatalf("checkComponents(%q) = %q, %v; want %s", tt.in, got, err, tt.want)
			}
		})
	}
	for _, c := range KnownComponents() {
		if coldBuildTime[c] == "" {
			t.Errorf("component %s has no cold build time for its progress line", c)
		}
	}
}
