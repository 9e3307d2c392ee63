// Package lang is the message catalogue of the tutorial's walk and checks: every heading,
// explanation and verdict line a student reads, keyed by message ID, in English (the
// default) and Chinese, the seed tutorial's language, whose section numbers and headings
// the Chinese headings keep verbatim. Commands and their outputs are never translated:
// they are what the node printed, and only the text around them comes from here.
//
// The catalogue is golang.org/x/text/message's; a message is an ID and its arguments
// (Text), rendered in a language when printed, so one verdict can be shown in either.
package lang

import (
	"fmt"
	"strings"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"
)

// Lang is a language the walk speaks.
type Lang string

const (
	English Lang = "en"
	Chinese Lang = "zh"
)

// All are the languages, the default first.
var All = []Lang{English, Chinese}

// Parse reads a language's name as the --lang flag and LAB_LANG take it.
func Parse(s string) (Lang, error) {
	for _, l := range All {
		if s == string(l) {
			return l, nil
		}
	}
	return "", fmt.Errorf("language %q: expected en (English) or zh (Chinese, the seed tutorial's)", s)
}

// FromEnv is the language of a locale environment: Chinese when LC_ALL, or failing that
// LANG, starts with zh (zh_CN.UTF-8, zh_TW), English otherwise. LC_ALL overrides LANG as
// it does for every program; LC_MESSAGES is not read, so C in LC_ALL means English.
func FromEnv(getenv func(string) string) Lang {
	locale := getenv("LC_ALL")
	if locale == "" {
		locale = getenv("LANG")
	}
	if strings.HasPrefix(locale, "zh") {
		return Chinese
	}
	return English
}

func (l Lang) tag() language.Tag {
	if l == Chinese {
		return language.Chinese
	}
	return language.English
}

// ID names a message of the catalogue.
type ID string

// Text is a message to render: its ID and arguments. An argument that is itself a Text is
// rendered in the same language; every other argument is formatted with fmt.Sprint before
// it reaches the catalogue's format, so that addresses and ports are never given the
// locale's digit grouping (30089, not 30,089).
type Text struct {
	ID   ID
	Args []any
}

// T makes a Text.
func T(id ID, args ...any) Text { return Text{ID: id, Args: args} }

// IsZero tells whether the Text is unset.
func (t Text) IsZero() bool { return t.ID == "" }

var printers = func() map[Lang]*message.Printer {
	b := catalog.NewBuilder(catalog.Fallback(language.English))
	for _, e := range catalogue {
		// SetString fails only for a malformed language tag, and these are constants.
		_ = b.SetString(language.English, string(e.id), e.en)
		_ = b.SetString(language.Chinese, string(e.id), e.zh)
	}
	p := map[Lang]*message.Printer{}
	for _, l := range All {
		p[l] = message.NewPrinter(l.tag(), message.Catalog(b))
	}
	return p
}()

// Render writes a Text in the language. An ID the catalogue lacks renders as the ID and
// its arguments, visibly wrong; TestCatalogue keeps that from shipping.
func (l Lang) Render(t Text) string {
	if t.IsZero() {
		return ""
	}
	args := make([]string, len(t.Args))
	for i, a := range t.Args {
		if nested, ok := a.(Text); ok {
			args[i] = l.Render(nested)
		} else {
			args[i] = fmt.Sprint(a)
		}
	}
	if _, ok := index[t.ID]; !ok {
		return fmt.Sprintf("!%s%q", t.ID, args)
	}
	p, ok := printers[l]
	if !ok {
		p = printers[English]
	}
	anyArgs := make([]any, len(args))
	for i, a := range args {
		anyArgs[i] = a
	}
	return p.Sprintf(string(t.ID), anyArgs...)
}

// Sprintf renders a message in the language.
func (l Lang) Sprintf(id ID, args ...any) string { return l.Render(T(id, args...)) }

// index is the catalogue by ID.
var index = func() map[ID]entry {
	m := make(map[ID]entry, len(catalogue))
	for _, e := range catalogue {
		m[e.id] = e
	}
	return m
}()

// entry is a message in both languages. The formats take only %s and %q (arguments
// arrive as strings), with explicit indexes (%[2]s) where Chinese orders them otherwise.
type entry struct {
	id     ID
	en, zh string
}
