#!/usr/bin/env bats
# Unit tests of the pure code in lib/, one BATS test per group of tests/unit/unit.c.

setup() { UNIT="${MAILTOOL_TEST_UNIT:-$BATS_TEST_DIRNAME/unit/mt-unit}"; }

@test "unit: size parsing (binary units, bad input refused)" { run "$UNIT" size; [ "$status" -eq 0 ]; }
@test "unit: duration parsing (s m h d w y, unit required)" { run "$UNIT" duration; [ "$status" -eq 0 ]; }
@test "unit: calendar dates (YYYY-MM-DD, only days the calendar has)" { run "$UNIT" date; [ "$status" -eq 0 ]; }
@test "unit: percentages" { run "$UNIT" pct; [ "$status" -eq 0 ]; }
@test "unit: human sizes" { run "$UNIT" human; [ "$status" -eq 0 ]; }
@test "unit: modified UTF-7 both ways, invalid input refused" { run "$UNIT" mutf7; [ "$status" -eq 0 ]; }
@test "unit: UID sets" { run "$UNIT" uidset; [ "$status" -eq 0 ]; }
@test "unit: JSON escaping" { run "$UNIT" json; [ "$status" -eq 0 ]; }
@test "unit: IMAP LIST wildcards" { run "$UNIT" wild; [ "$status" -eq 0 ]; }
@test "unit: shell-like word splitting for batch" { run "$UNIT" words; [ "$status" -eq 0 ]; }
@test "unit: edit distance for suggestions" { run "$UNIT" edit; [ "$status" -eq 0 ]; }
@test "unit: table output in TSV and JSON" { run "$UNIT" table; [ "$status" -eq 0 ]; }
@test "unit: text for a terminal: controls, C1, bidi overrides and stray bytes escaped" { run "$UNIT" term; [ "$status" -eq 0 ]; }
@test "unit: literals a regex match must contain (filter pre-filters)" { run "$UNIT" literals; [ "$status" -eq 0 ]; }
@test "unit: RFC 2047 header decoding and field lookup" { run "$UNIT" decode; [ "$status" -eq 0 ]; }
@test "unit: decoded text of a message's text parts" { run "$UNIT" body; [ "$status" -eq 0 ]; }
@test "unit: archive paths from folder names stay inside the export directory" { run "$UNIT" safepath; [ "$status" -eq 0 ]; }
@test "unit: OAUTHBEARER and XOAUTH2 initial responses (saslname escaping, host and port), whose token --as takes" { run "$UNIT" oauth; [ "$status" -eq 0 ]; }
@test "unit: server numbers libetpan would wrap are refused, the rest passes (numguard)" { run "$UNIT" numguard; [ "$status" -eq 0 ]; }
@test "unit: the condition compiler: exact SEARCH, sound supersets, what is fetched" { run "$UNIT" query; [ "$status" -eq 0 ]; }
@test "unit: the matcher on canned messages: decoded fields, sizes, ages, flags, undecided regexes" { run "$UNIT" match; [ "$status" -eq 0 ]; }
@test "unit: the literal pre-filter never loses a match" { run "$UNIT" prefilter; [ "$status" -eq 0 ]; }
@test "unit: rules compiled to Sieve: each construct, every refusal, hostile names, extensions" { run "$UNIT" sieve; [ "$status" -eq 0 ]; }
@test "unit: Sieve regexes decide as PCRE2 does, against glibc's POSIX matcher in the C locale" { run "$UNIT" sieveregex; [ "$status" -eq 0 ]; }
@test "unit: every group of the unit binary has a test here" {
	run "$UNIT"
	[ "$status" -eq 0 ]
	for g in $output; do
		grep -q "\"\$UNIT\" $g;" "$BATS_TEST_FILENAME"
	done
}
