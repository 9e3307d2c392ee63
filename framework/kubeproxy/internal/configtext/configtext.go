// Package configtext edits the kube-proxy ConfigMap's config.conf as text. It is a file
// people edit by hand (the seed does it with `kubectl edit`), with their comments, key
// order and quoting. The seed's method 2 changes one line, and so does this code: a YAML
// round trip would reorder the keys, drop the comments and requote values. Get and Set
// read and edit scalar lines in place and keep every other byte.
package configtext

import (
	"fmt"
	"strings"
)

// Get reads a scalar of a KubeProxyConfiguration text by its path: a top-level key
// ("mode") or a key of a top-level block ("ipvs.scheduler", "featureGates.KubeProxyIPVS");
// found is false when the key is absent. An empty mode means kube-proxy's default
// (iptables on Linux).
func Get(conf, path string) (value string, found bool) {
	lines := splitKeepEnds(conf)
	i, err := find(lines, path)
	if err != nil {
		return "", false
	}
	return unquote(parseScalarLine(lines[i]).value), true
}

// Set sets the scalar at path to value, keeping the line's quoting style, spacing and
// trailing comment, and every other line as it was. A top-level key the text lacks is
// appended; a key of a block must be there already.
func Set(conf, path, value string) (string, error) {
	if strings.ContainsAny(value, "\n\r#\"'") {
		return "", fmt.Errorf("%s value %q: expected a plain scalar such as ipvs", path, value)
	}
	lines := splitKeepEnds(conf)
	i, err := find(lines, path)
	if err != nil {
		if strings.Contains(path, ".") {
			return "", err
		}
		if conf != "" && !strings.HasSuffix(conf, "\n") {
			conf += "\n"
		}
		return conf + path + ": " + value + "\n", nil
	}
	lines[i] = parseScalarLine(lines[i]).with(value)
	return strings.Join(lines, ""), nil
}

// find returns the line of a path's key.
func find(lines []string, path string) (int, error) {
	parent, field, nested := strings.Cut(path, ".")
	if nested {
		return findNested(lines, parent, field)
	}
	if i := findKey(lines, 0, len(lines), 0, path); i >= 0 {
		return i, nil
	}
	return -1, fmt.Errorf("no top-level `%s:` in the kube-proxy configuration", path)
}

func findNested(lines []string, parent, field string) (int, error) {
	p := findKey(lines, 0, len(lines), 0, parent)
	if p < 0 {
		return -1, fmt.Errorf("no top-level `%s:` block in the kube-proxy configuration", parent)
	}
	// The block is every following line indented deeper, blank or comment lines included,
	// up to the next line at column 0.
	end := p + 1
	indent := -1
	for end < len(lines) {
		content := lineContent(lines[end])
		trimmed := strings.TrimLeft(content, " ")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			end++
			continue
		}
		ind := len(content) - len(trimmed)
		if ind == 0 {
			break
		}
		if indent < 0 {
			indent = ind
		}
		end++
	}
	if indent < 0 {
		return -1, fmt.Errorf("the `%s:` block of the kube-proxy configuration is empty or not indented", parent)
	}
	i := findKey(lines, p+1, end, indent, field)
	if i < 0 {
		return -1, fmt.Errorf("no `%s:` in the `%s:` block of the kube-proxy configuration", field, parent)
	}
	return i, nil
}

// findKey finds the line in [from, to) that is exactly `<indent spaces>key:` followed by a
// space, a comment or the end of the line.
func findKey(lines []string, from, to, indent int, key string) int {
	prefix := strings.Repeat(" ", indent) + key + ":"
	for i := from; i < to; i++ {
		content := lineContent(lines[i])
		if !strings.HasPrefix(content, prefix) {
			continue
		}
		rest := content[len(prefix):]
		if rest == "" || rest[0] == ' ' || rest[0] == '\t' {
			return i
		}
	}
	return -1
}

// scalarLine is `<head>:<space><value><tail><end>`: head is indentation and key, tail is
// the whitespace and comment after the value, end the line ending.
type scalarLine struct {
	head, space, value, tail, end string
}

func parseScalarLine(line string) scalarLine {
	content := lineContent(line)
	end := line[len(content):]
	colon := strings.Index(content, ":")
	s := scalarLine{head: content[:colon+1], end: end}
	rest := content[colon+1:]
	trimmed := strings.TrimLeft(rest, " \t")
	s.space = rest[:len(rest)-len(trimmed)]
	valueEnd := len(trimmed)
	switch {
	case strings.HasPrefix(trimmed, `"`):
		if j := closingQuote(trimmed, '"'); j > 0 {
			valueEnd = j + 1
		}
	case strings.HasPrefix(trimmed, "'"):
		if j := closingQuote(trimmed, '\''); j > 0 {
			valueEnd = j + 1
		}
	default:
		if j := strings.Index(trimmed, " #"); j >= 0 {
			valueEnd = j
		} else if strings.HasPrefix(trimmed, "#") {
			valueEnd = 0
		}
	}
	value := strings.TrimRight(trimmed[:valueEnd], " \t")
	s.value = value
	s.tail = trimmed[len(value):]
	return s
}

// with renders the line with a new value in the old value's quoting style.
func (s scalarLine) with(v string) string {
	var value string
	switch {
	case strings.HasPrefix(s.value, `"`):
		value = `"` + v + `"`
	case strings.HasPrefix(s.value, "'"):
		value = "'" + v + "'"
	case v == "":
		value = `""`
	default:
		value = v
	}
	space := s.space
	if space == "" {
		space = " "
	}
	tail := s.tail
	if tail != "" && !strings.HasPrefix(tail, " ") && !strings.HasPrefix(tail, "\t") {
		tail = " " + tail
	}
	return s.head + space + value + tail + s.end
}

func closingQuote(s string, q byte) int {
	for i := 1; i < len(s); i++ {
		if s[i] == '\\' && q == '"' {
			i++
			continue
		}
		if s[i] == q {
			if q == '\'' && i+1 < len(s) && s[i+1] == '\'' {
				i++
				continue
			}
			return i
		}
	}
	return -1
}

func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	if v == "null" || v == "~" {
		return ""
	}
	return v
}

// splitKeepEnds splits text into lines that keep their "\n" (and any "\r").
func splitKeepEnds(s string) []string {
	if s == "" {
		return nil
	}
	return strings.SplitAfter(s, "\n")
}

// lineContent is the line without its ending.
func lineContent(line string) string {
	return strings.TrimRight(line, "\r\n")
}
