package pods

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// maxNameBytes bounds what AskName and Session read of an answer: a pod name is at most
// 253 characters, so anything much longer is not one of our servers.
const maxNameBytes = 1024

// NameHandler answers every request with name as text/plain, the way agnhost netexec's
// /hostname does, so a client can tell which endpoint a connection reached.
func NameHandler(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, name)
	})
}

// AskName GETs url with the client and returns the body: the name of the pod that answered.
func AskName(ctx context.Context, c *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	return readName(resp)
}

func readName(resp *http.Response) (string, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxNameBytes+1))
	if err != nil {
		return "", fmt.Errorf("reading the answer of %s: %w", resp.Request.URL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s answered %s, expected 200 with a pod name: %q", resp.Request.URL, resp.Status, body)
	}
	if len(body) == 0 || len(body) > maxNameBytes {
		return "", fmt.Errorf("%s answered %d bytes, expected a pod name", resp.Request.URL, len(body))
	}
	return string(body), nil
}

// Session is one TCP connection that asks for the name again and again (HTTP/1.1
// keep-alive). It shows whether an established connection survives a change: an endpoint
// that starts terminating, a proxier restart. It is safe for concurrent use, one request
// at a time.
type Session struct {
	mu   sync.Mutex
	conn net.Conn
	br   *bufio.Reader
	host string
}

// OpenSession dials address (host:port) through d and returns the session on it.
func OpenSession(ctx context.Context, d Dialer, address string) (*Session, error) {
	c, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		return nil, err
	}
	return NewSession(c, address), nil
}

// NewSession asks over an open connection; host is sent as the Host header.
func NewSession(c net.Conn, host string) *Session {
	return &Session{conn: c, br: bufio.NewReader(c), host: host}
}

// LocalAddr and RemoteAddr are the connection's ends as the client sees them (the remote
// end is the Service's address, not the endpoint's).
func (s *Session) LocalAddr() net.Addr  { return s.conn.LocalAddr() }
func (s *Session) RemoteAddr() net.Addr { return s.conn.RemoteAddr() }

// AskName sends one request on the connection and returns the answer; it fails if the
// server closed the connection or the answer does not come within timeout.
func (s *Session) AskName(timeout time.Duration) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return "", err
	}
	req, err := http.NewRequest(http.MethodGet, "http://"+s.host+"/", nil)
	if err != nil {
		return "", err
	}
	if err := req.Write(s.conn); err != nil {
		return "", fmt.Errorf("session %s -> %s: sending: %w", s.LocalAddr(), s.RemoteAddr(), err)
	}
	resp, err := http.ReadResponse(s.br, req)
	if err != nil {
		return "", fmt.Errorf("session %s -> %s: no answer: %w", s.LocalAddr(), s.RemoteAddr(), err)
	}
	defer resp.Body.Close()
	if resp.Close {
		return "", fmt.Errorf("session %s -> %s: the server is closing the connection", s.LocalAddr(), s.RemoteAddr())
	}
	return readName(resp)
}

// Close closes the connection.
func (s *Session) Close() error { return s.conn.Close() }

// Tally counts answers by name.
type Tally map[string]int

// String lists the counts sorted by name: "a=5 b=5".
func (t Tally) String() string {
	names := make([]string, 0, len(t))
	for n := range t {
		names = append(names, n)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s=%d", n, t[n])
	}
	return strings.Join(parts, " ")
}
