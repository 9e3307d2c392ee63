package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// curlPath is where the agent links itself as curl: the suites probe URLs from nodes with
// `curl -sS --fail --max-time N URL`, and the lab guest has busybox wget only.
const curlPath = "/usr/local/bin/curl"

func linkCurl() {
	if _, err := os.Stat(curlPath); err == nil {
		return
	}
	self, err := os.Executable()
	if err != nil {
		return
	}
	os.MkdirAll(filepath.Dir(curlPath), 0o755)
	os.Symlink(self, curlPath)
}

// curlMain does the part of curl the suites use: GET one URL, -s, -S, -f/--fail,
// -m/--max-time, -o FILE. Other options are refused, not ignored.
func curlMain(args []string, stdout, stderr io.Writer) int {
	fail, timeout, url, out := false, 0*time.Second, "", ""
	for i := 0; i < len(args); i++ {
		switch a := args[i]; a {
		case "-s", "-S", "-sS", "-Ss", "--silent", "--show-error":
		case "-f", "--fail", "-sSf", "-fsS":
			fail = true
		case "-m", "--max-time", "--connect-timeout":
			i++
			if i == len(args) {
				fmt.Fprintf(stderr, "curl: option %s: expected a number of seconds\n", a)
				return 2
			}
			s, err := strconv.ParseFloat(args[i], 64)
			if err != nil {
				fmt.Fprintf(stderr, "curl: option %s: %v\n", a, err)
				return 2
			}
			timeout = time.Duration(s * float64(time.Second))
		case "-o":
			i++
			if i == len(args) {
				fmt.Fprintln(stderr, "curl: option -o: expected a file")
				return 2
			}
			out = args[i]
		default:
			if len(a) > 0 && a[0] == '-' {
				fmt.Fprintf(stderr, "curl: option %s is not supported by the lab node agent's curl\n", a)
				return 2
			}
			url = a
		}
	}
	if url == "" {
		fmt.Fprintln(stderr, "curl: no URL specified")
		return 2
	}
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintf(stderr, "curl: (3) %v\n", err)
		return 3
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "curl: (7) %v\n", err)
		if ctx.Err() != nil {
			return 28
		}
		return 7
	}
	defer resp.Body.Close()
	if fail && resp.StatusCode >= 400 {
		fmt.Fprintf(stderr, "curl: (22) The requested URL returned error: %d\n", resp.StatusCode)
		return 22
	}
	w := stdout
	if out != "" {
		f, err := os.Create(out)
		if err != nil {
			fmt.Fprintf(stderr, "curl: (23) %v\n", err)
			return 23
		}
		defer f.Close()
		w = f
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		fmt.Fprintf(stderr, "curl: (56) %v\n", err)
		return 56
	}
	return 0
}
