package paste

import (
	"path/filepath"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/fixture"
)

// FuzzRead feeds the lenient reader anything: it must not panic, and every input line must
// be accounted for (read in one block, or a prompt, separator, elision or blank line, or
// skipped with a reason). The corpus holds the seed tutorial, the kernel lab's captures and
// the seed's snippets.
func FuzzRead(f *testing.F) {
	f.Add(fixture.Read(f, "seed-tutorial.txt"))
	for _, pattern := range []string{"lab/*.txt", "seed/*.txt", "ipset/*.txt", "iptables/*.txt", "ipaddr/*.txt"} {
		files, err := filepath.Glob(fixture.RepoFile(f, "framework/dataplane/testdata/"+pattern))
		if err != nil || len(files) == 0 {
			f.Fatalf("no test data matches %s (err %v)", pattern, err)
		}
		for _, name := range files {
			f.Add(fixture.ReadRepo(f, "framework/dataplane/testdata/"+pattern[:len(pattern)-len("*.txt")]+filepath.Base(name)))
		}
	}
	f.Add(">>> node1\r\n    TCP 10.96.0.1:443 rr\r\n...\r\n[root@node2 ~]# iptables -t nat -S KUBE-SVC-X\r\n-A KUBE-SVC-X -j KUBE-SEP-Y\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		checkAccounting(t, in, Read(in))
	})
}
