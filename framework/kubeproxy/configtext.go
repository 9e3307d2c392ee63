package kubeproxy

import (
	"fmt"
	"strings"
)

// The kube-proxy ConfigMap's config.conf is a file people edit by hand (the seed does it
// with `kubectl edit`), with their comments, key order and quoting. The seed's method 2
// changes one line, and so does this code: a YAML round trip would reorder the keys, drop
// the comments and requote values. These functions edit scalar lines in place and keep
// every other byte.

// Mode reads the top-level `mode:` of a KubeProxyConfiguration text; found is false when
// the key is absent. An empty mode means kube-proxy's default (iptables on Linux).
func Mode(conf string) (mode string, found bool) {
	lines := splitKeepEnds(conf)
	i := findKey(lines, 0, len(lines), 0, "mode")
	if i < 0 {
		return "", false
	}
	v := parseScalarLine(lines[i])
	return unquote(v.value), true
}

// SetMode sets the top-level `mode:` to mode, keeping the line's quoting style, spacing and
// trailing comment, and every other line as it was. A text without a mode line gets one
// appended.
func SetMode(conf, mode string) (string, error) {
	if strings.ContainsAny(mode, "\n\r#\"'") {
		return "", fmt.Errorf("proxy mode %q: expected a plain word such as ipvs", mode)
	}
	lines := splitKeepEnds(conf)
	i := findKey(lines, 0, len(lines), 0, "mode")
	if i < 0 {
		if conf != "" && !strings.HasSuffix(conf, "\n") {
			conf += "\n"
		}
		return conf + "mode: " + mode + "\n", nil
	}
	lines[i] = parseScalarLine(lines[i]).with(mode)
	return strings.Join(lines, ""), nil
}

// IPVSField reads a field of the top-level `ipvs:` block ("scheduler", "strictARP").
func IPVSField(conf, field string) (string, bool) { return NestedField(conf, "ipvs", field) }

// SetIPVSField sets a scalar field of the top-level `ipvs:` block the same way SetMode sets
// the mode: the scheduler (wrr, sh, mh), strictARP, the timeouts.
func SetIPVSField(conf, field, value string) (string, error) {
	return SetNestedField(conf, "ipvs", field, value)
}

// NestedField reads the scalar field of a top-level block.
func NestedField(conf, parent, field string) (string, bool) {
	lines := splitKeepEnds(conf)
	i, err := findNested(lines, parent, field)
	if err != nil {
		return "", false
	}
	return unquote(parseScalarLine(lines[i]).value), true
}

// SetNestedField sets the scalar field of a top-level block (`featureGates:` ->
// `KubeProxyIPVS:` among others), keeping every other byte.
func SetNestedField(conf, parent, field, value string) (string, error) {
	if strings.ContainsAny(value, "\n\r#\"'") {
		return "", fmt.Errorf("%s.%s value %q: expected a plain scalar", parent, field, value)
	}
	lines := splitKeepEnds(conf)
	i, err := findNested(lines, parent, field)
	if err != nil {
		return "", err
	}
	lines[i] = parseScalarLine(lines[i]).with(value)
	return strings.Join(lines, ""), nil
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
