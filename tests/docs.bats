#!/usr/bin/env bats
# Documentation and completion against the binary: every applet has a manual
# page, every option of every applet is documented there and in --help, the
# pages are lint-clean, and bash completion offers what the option tables say.
# Needs no server.

setup() {
	REPO="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
	MT="$REPO/mailtool"
	[ -x "$MT" ]
}

# The applet names, into the array APPLETS (never empty: that is a failure).
load_applets() {
	mapfile -t APPLETS < <("$MT" --list)
	[ "${#APPLETS[@]}" -gt 0 ]
}

# The long options of applet $1 without the leading "--", into LONGS.
load_longs() {
	local line
	LONGS=()
	while IFS= read -r line; do
		line=${line%%$'\t'*}
		LONGS+=("${line#--}")
	done < <("$MT" "$1" --complete-options)
	[ "${#LONGS[@]}" -gt 0 ]
}

# The manual page source with every "\-" turned into "-", so that both
# ".Fl \-name" and "\-\-name" read as "Fl -name" and "--name".
page_text() {
	local s
	s=$(<"$1")
	printf '%s\n' "${s//\\-/-}"
}

# The lines of section $2 (e.g. SYNOPSIS) of manual page $1.
page_section() {
	local line in=0
	while IFS= read -r line; do
		if [[ $line == .Sh\ * ]]; then
			[[ $line == ".Sh $2" ]] && in=1 || in=0
			continue
		fi
		(( in )) && printf '%s\n' "$line"
	done <"$1"
	return 0
}

@test "every applet has a manual page, and every applet page an applet" {
	load_applets
	for a in "${APPLETS[@]}"; do
		[ -f "$REPO/man/mailtool-$a.1" ] || { echo "missing man/mailtool-$a.1"; return 1; }
	done
	for f in "$REPO"/man/mailtool-*.1; do
		a=${f##*/mailtool-}
		a=${a%.1}
		[[ " ${APPLETS[*]} " == *" $a "* ]] || { echo "$f documents no applet"; return 1; }
	done
}

@test "every long option of every applet is an item in its manual page" {
	load_applets
	local n=0
	for a in "${APPLETS[@]}"; do
		page="$REPO/man/mailtool-$a.1"
		# only list items count: an option has to be documented, not just mentioned
		items=$(page_text "$page" | grep '^\.It ')
		load_longs "$a"
		for o in "${LONGS[@]}"; do
			[[ $items =~ (Fl[[:space:]]+-|--)"$o"([^A-Za-z0-9_-]|$) ]] ||
				{ echo "man/mailtool-$a.1 has no item for --$o"; return 1; }
			n=$((n + 1))
		done
	done
	[ "$n" -gt 0 ]
}

@test "every long option of every applet is in its --help" {
	load_applets
	local n=0
	for a in "${APPLETS[@]}"; do
		run "$MT" "$a" --help
		[ "$status" -eq 0 ]
		load_longs "$a"
		for o in "${LONGS[@]}"; do
			[[ $output =~ --"$o"([^A-Za-z0-9_-]|$) ]] ||
				{ echo "mailtool $a --help lacks --$o"; return 1; }
			n=$((n + 1))
		done
	done
	[ "$n" -gt 0 ]
}

@test "the common options are all documented in mailtool(1)" {
	# the options every session applet shares, taken from the info applet,
	# which has no options of its own
	load_longs info
	items=$(page_text "$REPO/man/mailtool.1" | grep '^\.It ')
	for o in "${LONGS[@]}"; do
		[[ $items =~ (Fl[[:space:]]+-|--)"$o"([^A-Za-z0-9_-]|$) ]] ||
			{ echo "man/mailtool.1 has no item for --$o"; return 1; }
	done
}

@test "every manual page is clean under mandoc -Tlint -Wwarning" {
	local n=0
	for f in "$REPO"/man/*.[1-8]; do
		[ -f "$f" ] || continue
		run mandoc -Tlint -Wwarning "$f"
		[ "$status" -eq 0 ] || { echo "$f:"; echo "$output"; return 1; }
		n=$((n + 1))
	done
	load_applets
	# mailtool(1), mailtool.conf(5), mailtool-rules(5) and one page per applet
	[ "$n" -eq $(( ${#APPLETS[@]} + 3 )) ]
}

@test "every manual page reads right as rendered: quotes balance, no word eaten by a macro" {
	# mandoc -Tlint passed pages that rendered ("500k, "10M, "1.5G""") and
	# "and the not listed by"; the rendered text is what readers get
	local n=0 f
	for f in "$REPO"/man/*.[1-8]; do
		mandoc -Tutf8 "$f" >"$BATS_TEST_TMPDIR/$(basename "$f").txt"
		n=$((n + 1))
	done
	[ "$n" -gt 10 ]
	run python3 "$REPO/tests/lib/mancheck.py" "$BATS_TEST_TMPDIR"/*.txt
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	# and the check itself finds what it is for
	printf 'x\n\nsize ("500k, "10M, "1.5G""")\n\nand the not listed\n\ny\n' >"$BATS_TEST_TMPDIR/bad.txt"
	run python3 "$REPO/tests/lib/mancheck.py" "$BATS_TEST_TMPDIR/bad.txt"
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 2 ]
}

@test "the SYNOPSIS of each applet page has the positional words of its usage" {
	load_applets
	local n=0
	for a in "${APPLETS[@]}"; do
		run "$MT" "$a" --help
		[ "$status" -eq 0 ]
		usage=${lines[0]}
		[[ $usage == "usage: mailtool $a "* ]]
		usage=${usage#"usage: mailtool $a "}
		synopsis=$(page_section "$REPO/man/mailtool-$a.1" SYNOPSIS)
		[ -n "$synopsis" ]
		# metavariables (PATTERN, FOLDER, ROOT, RESOURCE, VALUE) and options
		# named in the usage line must be in the synopsis ...
		for w in $(grep -oE '[A-Z][A-Z0-9_]+' <<<"$usage"); do
			[[ $synopsis =~ (^|[^A-Za-z0-9_])"$w"([^A-Za-z0-9_]|$) ]] ||
				{ echo "SYNOPSIS of mailtool-$a.1 lacks $w (usage: $usage)"; return 1; }
			n=$((n + 1))
		done
		for o in $(grep -oE -- '--[a-z][a-z-]*' <<<"$usage"); do
			[[ ${synopsis//\\-/-} =~ Fl[[:space:]]+-"${o#--}"([^a-z-]|$) ]] ||
				{ echo "SYNOPSIS of mailtool-$a.1 lacks $o"; return 1; }
		done
		# ... and the synopsis has no upper-case argument the usage lacks
		for w in $(grep -oE 'Ar [A-Z][A-Z0-9_]+' <<<"$synopsis" | cut -d' ' -f2); do
			[[ $usage =~ (^|[^A-Za-z0-9_])"$w"([^A-Za-z0-9_]|$) ]] ||
				{ echo "SYNOPSIS of mailtool-$a.1 has $w, usage has not (usage: $usage)"; return 1; }
		done
	done
	[ "$n" -gt 0 ]
}

# ---- bash completion -------------------------------------------------------

# Source the completion against this tree's binary.
load_completion() {
	MAILTOOL_BIN="$MT"
	. "$REPO/completions/mailtool.bash"
}

# comp WORD...: complete the last WORD of the command line WORD... the way bash
# would call the completion function; the candidates are left in COMPREPLY.
comp() {
	COMP_WORDS=("$@")
	COMP_CWORD=$(($# - 1))
	COMP_LINE="$*"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_mailtool
}

# has WORD: COMPREPLY contains WORD.
has() {
	local w
	for w in "${COMPREPLY[@]}"; do
		[ "$w" = "$1" ] && return 0
	done
	echo "'$1' not among: ${COMPREPLY[*]}"
	return 1
}

@test "completion: sourcing never fails or prints, even without mailtool" {
	run bash -c 'MAILTOOL_BIN=/nonexistent/mailtool; . "$1"; echo sourced' _ "$REPO/completions/mailtool.bash"
	[ "$status" -eq 0 ]
	[ "$output" = sourced ]
	run bash -c 'PATH=/nonexistent; unset MAILTOOL_BIN; . "$1"; COMP_WORDS=(mailtool d); COMP_CWORD=1; _mailtool; echo "rc=$? n=${#COMPREPLY[@]}"' _ "$REPO/completions/mailtool.bash"
	[ "$status" -eq 0 ]
	[ "$output" = "rc=0 n=0" ]
}

@test "completion: registered for mailtool and every mailtool-APPLET" {
	load_completion
	load_applets
	run complete -p mailtool
	[ "$status" -eq 0 ]
	[[ $output == *"-F _mailtool mailtool" ]]
	for a in "${APPLETS[@]}"; do
		run complete -p "mailtool-$a"
		[ "$status" -eq 0 ] || { echo "no completion for mailtool-$a"; return 1; }
		[[ $output == *"-F _mailtool mailtool-$a" ]]
	done
}

@test "completion: applet names after 'mailtool'" {
	load_completion
	comp mailtool d
	has du
	comp mailtool ''
	load_applets
	for a in "${APPLETS[@]}" help; do
		has "$a"
	done
	[ "${#COMPREPLY[@]}" -eq $(( ${#APPLETS[@]} + 1 )) ]
}

@test "completion: common options before the applet, their values, then the applet and its options" {
	load_completion
	load_applets
	comp mailtool --acc
	has --account
	comp mailtool -a ''
	# account names (none made up); then the applet after the option's value
	for w in "${COMPREPLY[@]}"; do [[ $w != --* ]]; done
	comp mailtool -a admin q
	has quota
	[ "${#COMPREPLY[@]}" -eq 1 ]
	comp mailtool -a admin --config /dev/null ''
	for a in "${APPLETS[@]}"; do has "$a"; done
	[ "${#COMPREPLY[@]}" -eq ${#APPLETS[@]} ]
	comp mailtool -qa admin du --so
	has --sort
	comp mailtool --account=admin -v du --sort ''
	has size
	comp mailtool -a admin --r
	has --resume
	has --retry-failed
	# the applet's own options are not offered before it
	comp mailtool -a admin --so
	[ "${#COMPREPLY[@]}" -eq 0 ]
}

@test "completion: options of the applet" {
	load_completion
	comp mailtool du --s
	has --sort
	has --starttls
	for w in "${COMPREPLY[@]}"; do
		[[ $w == --s* ]] || { echo "unexpected candidate $w"; return 1; }
	done
}

@test "completion: every option of every applet, and nothing else" {
	load_completion
	load_applets
	for a in "${APPLETS[@]}"; do
		load_longs "$a"
		comp mailtool "$a" --
		[ "${#COMPREPLY[@]}" -eq "${#LONGS[@]}" ] ||
			{ echo "$a: ${#COMPREPLY[@]} candidates for ${#LONGS[@]} options"; return 1; }
		for o in "${LONGS[@]}"; do
			has "--$o"
		done
	done
}

@test "completion: values from a word-list hint" {
	load_completion
	comp mailtool du --sort ''
	[ "${#COMPREPLY[@]}" -eq 3 ]
	has size
	has count
	has name
	# --sort=VALUE, split at "=" as bash does by default
	comp mailtool du --sort = c
	[ "${COMPREPLY[*]}" = count ]
}

@test "completion: the mailtool-APPLET form" {
	load_completion
	comp mailtool-du --to
	[ "${COMPREPLY[*]}" = --top ]
	comp /usr/local/bin/mailtool-du --sort s
	[ "${COMPREPLY[*]}" = size ]
}

@test "completion: file and command hints, and no made-up account names" {
	load_completion
	: >"$BATS_TEST_TMPDIR/other.conf"
	comp mailtool ls --config "$BATS_TEST_TMPDIR/oth"
	[ "${COMPREPLY[*]}" = "$BATS_TEST_TMPDIR/other.conf" ]
	comp mailtool ls --tunnel bas
	has bash
	# no way to list accounts yet: nothing rather than guesses
	comp mailtool ls -a ''
	[ "${#COMPREPLY[@]}" -eq 0 ]
	comp mailtool ls --account ''
	[ "${#COMPREPLY[@]}" -eq 0 ]
}

@test "completion: works under set -u" {
	run bash -uc 'MAILTOOL_BIN=$2; . "$1"; COMP_WORDS=(mailtool du --so); COMP_CWORD=2; _mailtool; echo "${COMPREPLY[*]}"' _ "$REPO/completions/mailtool.bash" "$MT"
	[ "$status" -eq 0 ]
	[ "$output" = --sort ]
}
