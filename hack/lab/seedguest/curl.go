package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"
)

// curlCmd is the GET of `curl URL`: the lab guest has no curl, and busybox's static wget
// crashes in its resolver. The body goes to stdout; a failed request or a status other
// than 2xx fails, as `curl -f` does.
func curlCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("curl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	maxTime := fs.Duration("m", 10*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		return usageError("curl: expected [-m DURATION] URL")
	}
	ctx, cancel := context.WithTimeout(ctx, *maxTime)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fs.Arg(0), nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "curl/7.88.1 (seedguest)")
	// No keep-alive: one request, one connection, as curl makes it.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(stdout, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("the server answered %s", resp.Status)
	}
	return nil
}
