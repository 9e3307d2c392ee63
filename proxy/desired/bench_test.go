package desired

import (
	"fmt"
	"testing"
)

// BenchmarkCompute measures a full computation at the scale of issue 7's target (10,000
// Services with 2 endpoints each, to be fully synced within 20 s in a slow emulated guest).
func BenchmarkCompute(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		in := scaleInput(b, n, 2)
		b.Run(fmt.Sprintf("services=%d/endpoints=2", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Compute(in)
			}
		})
	}
}

// BenchmarkService is the cost of recomputing one changed Service.
func BenchmarkService(b *testing.B) {
	in := scaleInput(b, 10, 2)
	env := NewEnv(in)
	bySvc, _ := SlicesByService(in.Slices)
	svc := in.Services[0]
	sl := bySvc[namespacedName(svc)]
	b.ReportAllocs()
	for b.Loop() {
		env.Service(svc, sl)
	}
}
