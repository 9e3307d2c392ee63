package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// controlMux serves the store on the node's unix socket:
//
//	POST /apply            body: YAML; answer: kubectl's lines, or 422 with the reason
//	GET  /get/pods?wide=1  kubectl's table
//	GET  /get/services
func controlMux(s *Store, log *slog.Logger) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /apply", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		lines, err := s.Apply(r.Context(), body)
		log.Info("apply", "result", lines, "err", err)
		if err != nil {
			w.WriteHeader(http.StatusUnprocessableEntity)
			for _, l := range lines {
				fmt.Fprintln(w, l)
			}
			fmt.Fprintf(w, "Error from server: %v\n", err)
			return
		}
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
	})
	mux.HandleFunc("GET /get/{resource}", func(w http.ResponseWriter, r *http.Request) {
		var err error
		wide := r.URL.Query().Get("wide") == "1"
		now := s.now()
		switch r.PathValue("resource") {
		case "pods":
			list, lerr := s.client.CoreV1().Pods(metav1.NamespaceDefault).List(r.Context(), metav1.ListOptions{})
			if err = lerr; err == nil {
				err = PodTable(w, list.Items, wide, now)
			}
		case "services":
			list, lerr := s.client.CoreV1().Services(metav1.NamespaceDefault).List(r.Context(), metav1.ListOptions{})
			if err = lerr; err == nil {
				err = ServiceTable(w, list.Items, wide, now)
			}
		default:
			http.Error(w, fmt.Sprintf("error: the server doesn't have a resource type %q", r.PathValue("resource")), http.StatusNotFound)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	return mux
}

// resourceNames maps kubectl's names and short names to the store's resources.
var resourceNames = map[string]string{
	"po": "pods", "pod": "pods", "pods": "pods",
	"svc": "services", "service": "services", "services": "services",
}

// kubectlCmd is the few kubectl commands the seed types, against the node's store.
func kubectlCmd(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError("kubectl: expected apply -f FILE or get pods|services [-o wide]")
	}
	fs := flag.NewFlagSet("kubectl "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	file := fs.String("f", "", "manifest to apply")
	output := fs.String("o", "", "output format (wide)")
	socket := fs.String("lab-socket", DefaultSocket, "the node's store")
	// kubectl takes flags after the resource too ("get pods -o wide").
	verb, rest := args[0], args[1:]
	var positional []string
	for len(rest) > 0 {
		if err := fs.Parse(rest); err != nil {
			return usageError("kubectl " + verb + ": " + err.Error())
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	c := controlClient(*socket)
	switch verb {
	case "apply":
		if *file == "" || len(positional) > 0 {
			return usageError("kubectl apply: expected -f FILE")
		}
		data, err := os.ReadFile(*file)
		if err != nil {
			return err
		}
		return c.do(ctx, http.MethodPost, "/apply", strings.NewReader(string(data)), stdout)
	case "get":
		if len(positional) != 1 || (*output != "" && *output != "wide") {
			return usageError("kubectl get: expected one of pods, services and at most -o wide")
		}
		res, ok := resourceNames[positional[0]]
		if !ok {
			return fmt.Errorf(`the server doesn't have a resource type %q`, positional[0])
		}
		q := url.Values{}
		if *output == "wide" {
			q.Set("wide", "1")
		}
		return c.do(ctx, http.MethodGet, "/get/"+res+"?"+q.Encode(), nil, stdout)
	default:
		return usageError(fmt.Sprintf("kubectl: the lab knows apply and get, not %q", verb))
	}
}

type control struct {
	http   *http.Client
	socket string
}

func controlClient(socket string) *control {
	return &control{socket: socket, http: &http.Client{
		Timeout: time.Minute,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}},
	}}
}

// do sends one request and copies the answer; a non-2xx answer is an error carrying it.
func (c *control) do(ctx context.Context, method, path string, body io.Reader, out io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://node"+path, body)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			return fmt.Errorf("the node's object store does not answer on %s (is `seedguest node` running?): %w", c.socket, err)
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		_, err = io.Copy(out, resp.Body)
		return err
	}
	msg, _ := io.ReadAll(resp.Body)
	return errors.New(strings.TrimSpace(string(msg)))
}
