package cachedir

import (
	"path/filepath"
	"testing"
)

func TestRoot(t *testing.T) {
	tests := []struct {
		name, env, home, want string
	}{
		{name: "CACHE_DIR wins", env: "/var/cache/x", home: "/home/u", want: "/var/cache/x"},
		{name: "home default", env: "", home: "/home/u", want: "/home/u/.cache/ipvs-e2e"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(Env, tc.env)
			t.Setenv("HOME", tc.home)
			if got := Root(); got != tc.want {
				t.Errorf("Root() = %q, want %q", got, tc.want)
			}
			if got, want := Join("lab", "bin"), filepath.Join(tc.want, "lab", "bin"); got != want {
				t.Errorf("Join(lab, bin) = %q, want %q", got, want)
			}
		})
	}
}
