// Package klog reads kube-proxy's log lines: klog's text header format and its JSON
// format, each into an Entry with the structured message and its key/value fields.
package klog

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Entry is one kube-proxy log line, from klog's text format
//
//	I0323 03:24:40.713799       1 proxier.go:462] "IPVS scheduler not specified, use rr by default"
//
// or from the JSON format (logging.format: json).
type Entry struct {
	// Severity is I, W, E or F.
	Severity byte
	// Header time as klog prints it: month, day and "hh:mm:ss.uuuuuu" (JSON: ts as text).
	Month, Day int
	Time       string
	Thread     int
	// Source is "file.go:line" (JSON: caller).
	Source string
	// Message is the structured message, unquoted, or the whole text of an unstructured line.
	Message string
	// Fields are the key/value pairs after the message, values unquoted.
	Fields []Field
}

// Field is a structured logging key and value.
type Field struct{ Key, Value string }

// Field returns the value of a key.
func (e Entry) Field(key string) (string, bool) {
	for _, f := range e.Fields {
		if f.Key == key {
			return f.Value, true
		}
	}
	return "", false
}

// Parse reads one klog text or JSON line.
func Parse(line string) (Entry, error) {
	line = strings.TrimRight(line, "\r\n")
	if strings.HasPrefix(line, "{") {
		return parseJSONLine(line)
	}
	return parseKlogLine(line)
}

func parseKlogLine(line string) (Entry, error) {
	var e Entry
	bad := func(what string) (Entry, error) {
		return Entry{}, fmt.Errorf("klog line %q: expected %s", clip(line), what)
	}
	// Lmmdd hh:mm:ss.uuuuuu threadid file:line] msg
	if len(line) < 22 || !strings.ContainsRune("IWEF", rune(line[0])) {
		return bad("a header starting with I, W, E or F")
	}
	e.Severity = line[0]
	month, err1 := strconv.Atoi(line[1:3])
	day, err2 := strconv.Atoi(line[3:5])
	if err1 != nil || err2 != nil || month < 1 || month > 12 || day < 1 || day > 31 || line[5] != ' ' {
		return bad("mmdd after the severity")
	}
	e.Month, e.Day = month, day
	rest := line[6:]
	tm, rest, ok := strings.Cut(rest, " ")
	if !ok || len(tm) < 8 || tm[2] != ':' || tm[5] != ':' {
		return bad("hh:mm:ss.uuuuuu")
	}
	e.Time = tm
	rest = strings.TrimLeft(rest, " ")
	thread, rest, ok := strings.Cut(rest, " ")
	if !ok {
		return bad("a thread id")
	}
	t, err := strconv.Atoi(thread)
	if err != nil {
		return bad("a numeric thread id")
	}
	e.Thread = t
	src, rest, ok := strings.Cut(rest, "] ")
	if !ok {
		if strings.HasSuffix(rest, "]") {
			src, rest = strings.TrimSuffix(rest, "]"), ""
		} else {
			return bad("file:line] before the message")
		}
	}
	if !strings.Contains(src, ":") {
		return bad("file:line")
	}
	e.Source = src
	e.Message, e.Fields = parseStructured(rest)
	return e, nil
}

// parseStructured splits `"msg" k1="v 1" k2=v2` into the message and fields. Text that is
// not a quoted message is an unstructured line and stays whole.
func parseStructured(s string) (string, []Field) {
	if !strings.HasPrefix(s, `"`) {
		return s, nil
	}
	q, err := strconv.QuotedPrefix(s)
	if err != nil {
		return s, nil
	}
	msg, _ := strconv.Unquote(q)
	rest := s[len(q):]
	var fields []Field
	for {
		rest = strings.TrimLeft(rest, " ")
		if rest == "" {
			return msg, fields
		}
		key, after, ok := strings.Cut(rest, "=")
		if !ok || key == "" || strings.ContainsAny(key, " \"") {
			// Not key=value: keep what is left as one field so nothing is lost.
			return msg, append(fields, Field{Value: rest})
		}
		if strings.HasPrefix(after, `"`) {
			if vq, err := strconv.QuotedPrefix(after); err == nil {
				v, _ := strconv.Unquote(vq)
				fields = append(fields, Field{Key: key, Value: v})
				rest = after[len(vq):]
				continue
			}
		}
		v, next, _ := strings.Cut(after, " ")
		fields = append(fields, Field{Key: key, Value: v})
		rest = next
	}
}

func parseJSONLine(line string) (Entry, error) {
	var raw map[string]any
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return Entry{}, fmt.Errorf("JSON log line %q: %w", clip(line), err)
	}
	msg, ok := raw["msg"].(string)
	if !ok {
		return Entry{}, fmt.Errorf("JSON log line %q: expected a \"msg\" string", clip(line))
	}
	e := Entry{Severity: 'I', Message: msg}
	// klog's JSON format marks info lines with "v"; error lines have none.
	if _, info := raw["v"]; !info {
		e.Severity = 'E'
	}
	if c, ok := raw["caller"].(string); ok {
		e.Source = c
	}
	if ts, ok := raw["ts"]; ok {
		e.Time = fmt.Sprint(ts)
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		switch k {
		case "msg", "caller", "ts", "v":
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v, ok := raw[k].(string)
		if !ok {
			b, _ := json.Marshal(raw[k])
			v = string(b)
		}
		e.Fields = append(e.Fields, Field{Key: k, Value: v})
	}
	return e, nil
}

func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}
