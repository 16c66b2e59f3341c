#!/usr/bin/env bats
# The equivalence test of #18: a rule file sorts new mail at delivery as a
# filter run sorts it in INBOX. For the example rule sets of filters/*.conf
# and a mixed one, the generated messages (tests/lib/sieve-equiv.py: RFC
# 2047 subjects, folded headers, sizes either side of a threshold, multipart
# bodies with encoded text) are delivered twice over LMTP to one user:
# once with the rules compiled and put ACTIVE by `mailtool sieve put
# --activate`, once with no script, then `mailtool filter` runs with the
# same rules. Folder, flags and count of every message must be the same,
# in the server's own view (doveadm; Cyrus over IMAP), on Dovecot
# (Pigeonhole) and on Cyrus (its own Sieve, lmtpd). Rules left out for
# delivery are left out of both runs, and each must be listed with a reason.
# Last, on both servers, a user's own active script and the rules put with
# --activate both decide at delivery, through mailtool's include wrapper.
load helpers

EQ() { "$MT_REPO/tests/lib/sieve-equiv.py" "$@"; }

cy_wanted() {
	mt_other_pass sanitizer && return 1
	case ${MAILTOOL_TEST_SERVERS:-cyrus} in *cyrus*) return 0 ;; esac
	return 1
}

setup_file() {
	EQD=$(mktemp -d /tmp/mt-sieve-eq.XXXXXX)
	chmod 755 "$EQD"
	export EQD
	# the size group is built around 3000 bytes as sent
	EQ gen "$EQD/msgs" 3000
	if cy_wanted; then
		"$MT_REPO/tests/lib/cyrus.sh" start "$EQD/cyrus" >"$EQD/cyrus-start.log" 2>&1 ||
			{ cat "$EQD/cyrus-start.log" >&2; return 1; }
		. "$EQD/cyrus/env.sh"
		# bob's \Trash under a name no one guesses: sieve put must ask for it
		python3 "$MT_REPO/tests/lib/cyrus-check.py" create bob Corbeille '\Trash' >/dev/null
	fi
}

teardown_file() {
	[ -d "${EQD:-}" ] || return 0
	[ ! -f "$EQD/cyrus/env.sh" ] || "$MT_REPO/tests/lib/cyrus.sh" stop "$EQD/cyrus"
	"$MT_REPO/tests/lib/dovecot.sh" reset-user "$MT_TEST_DIR" carol >/dev/null 2>&1 || true
	rm -rf "$MT_TEST_DIR/mail/carol/sieve" "$MT_TEST_DIR/mail/carol/.dovecot.sieve"
	rm -rf "$EQD"
}

# The two servers, as the functions below reach them: SV_* for one server.
use_dovecot() {
	SV_NAME=dovecot SV_USER=carol SV_LMTP=$MT_LMTP_PORT
	SV_ACC=(-a admin --as carol)
}
use_cyrus() {
	cy_wanted || skip "MAILTOOL_TEST_SERVERS does not name cyrus, or make check's plain pass (Cyrus runs in the sanitizer pass)"
	. "$EQD/cyrus/env.sh"
	SV_NAME=cyrus SV_USER=bob SV_LMTP=$MT_CY_LMTP_PORT
	SV_ACC=(--config "$MT_CY_CONF" -a cy-bob)
}
# where every message of TAG is, in the server's own view
outcome() {
	if [ "$SV_NAME" = dovecot ]; then
		dadm -f tab fetch -u carol "mailbox hdr.message-id flags size.virtual" all | EQ dovecot "$1"
	else
		EQ imap bob bob-secret-pw "$1"
	fi
}
active_script() {
	"$MT" sieve ls --tsv "${SV_ACC[@]}" | awk -F'\t' '$2 == "true" { print $1 }'
}

# equiv RULES TAG: the rules at delivery (run A) and in a filter run (run B)
equiv() {
	local rules=$1 tag=$2 out="$BATS_TEST_TMPDIR" left=() name
	# what Sieve cannot say is listed, each with its reason, and left out of both
	run --separate-stderr "$MT" filter --sieve --skip-unsupported -f "$rules" --trash-folder Trash
	[ "$status" -eq 0 ]
	while IFS= read -r line; do
		[[ "$line" =~ rule\ \'([^\']+)\':\ (.+)\ \(left\ out\)$ ]] || { echo "not a refusal: $line"; return 1; }
		[ -n "${BASH_REMATCH[2]}" ]
		left+=("${BASH_REMATCH[1]}")
	done <<<"$stderr"
	[ -n "$stderr" ] || left=()
	echo "left out for delivery: ${left[*]:-none}"
	EQ drop "$rules" "$out/kept.conf" "${left[@]}"

	# run A: the rules compiled by sieve put, ACTIVE, decide at delivery
	run --separate-stderr "$MT" sieve put -f "$rules" --skip-unsupported --activate "${SV_ACC[@]}"
	echo "$output"; echo "$stderr"
	[ "$status" -eq 0 ]
	[ "${#left[@]}" -eq 0 ] || [ "$(grep -c '(left out)$' <<<"$stderr")" -eq "${#left[@]}" ]
	[ "$(active_script)" = mailtool ]
	"$MT" sieve get mailtool "${SV_ACC[@]}" > "$out/installed.sieve"
	grep -q '^# compiled by mailtool filter --sieve' "$out/installed.sieve"
	run EQ lmtp "$SV_LMTP" "$SV_USER" "a$tag" "$EQD/msgs"
	[ "$status" -eq 0 ]
	local n=$output
	outcome "a$tag" > "$out/A"

	# run B: no script; delivered to INBOX, then filter with the same rules
	run --separate-stderr "$MT" sieve rm mailtool --force "${SV_ACC[@]}"
	[ "$status" -eq 0 ]
	[ -z "$(active_script)" ]
	run EQ lmtp "$SV_LMTP" "$SV_USER" "b$tag" "$EQD/msgs"
	[ "$status" -eq 0 ]
	[ "$(outcome "b$tag" | grep -c $'\tINBOX{}\t')" -eq "$n" ]
	run --separate-stderr "$MT" filter -f "$out/kept.conf" "${SV_ACC[@]}"
	echo "$output"; echo "$stderr"
	[ "$status" -eq 0 ]
	outcome "b$tag" > "$out/B"

	# the table, and every message compared
	local differ=0 moved=0 a b sa sb i m
	printf '%s %s\n' "$SV_NAME" "$(basename "$rules")" > "$out/table"
	for ((i = 1; i <= n; i++)); do
		printf -v m '%03d' "$i"
		# a message not found (discarded, expunged) reads as "gone"
		a=$(awk -F'\t' -v m="$m" '$1 == m { print $2 }' "$out/A")
		sa=$(awk -F'\t' -v m="$m" '$1 == m { print $3 }' "$out/A")
		b=$(awk -F'\t' -v m="$m" '$1 == m { print $2 }' "$out/B")
		sb=$(awk -F'\t' -v m="$m" '$1 == m { print $3 }' "$out/B")
		[ "${a:-gone}" = "INBOX{}" ] || moved=$((moved + 1))
		if [[ " ${EQ_KNOWN:-} " == *" $m "* ]]; then
			# a difference mailtool-rules(5) names: it must still be there
			printf '%s\t%s\t%s\t(known difference)\n' "$m" "${a:-gone}" "${b:-gone}" >> "$out/table"
			[ "${a:-gone}" != "${b:-gone}" ] || { echo "m$m: the known difference is gone"; differ=$((differ + 1)); }
			continue
		fi
		if [ -n "${EQ_T:-}" ] && [ -n "$sa" ] && [ -n "$sb" ] &&
			[ "$(((sa > EQ_T) - (sa < EQ_T)))" != "$(((sb > EQ_T) - (sb < EQ_T)))" ]; then
			# Cyrus gives the two copies sizes a byte or two apart (a
			# random session id in a field it adds); where that puts
			# them on two sides of the threshold, each copy is held to
			# its own size, as Sieve and filter both read it
			printf '%s\t%s\t%s\t(sizes %s and %s)\n' "$m" "${a:-gone}" "${b:-gone}" "$sa" "$sb" >> "$out/table"
			[ "$([[ "$a" == *"$EQ_TRASH{"* ]] && echo 1 || echo 0)" = "$((sa > EQ_T))" ] || differ=$((differ + 1))
			[ "$([[ "$b" == *"$EQ_TRASH{"* ]] && echo 1 || echo 0)" = "$((sb > EQ_T))" ] || differ=$((differ + 1))
			[ "$([[ "$a" == *'$small'* ]] && echo 1 || echo 0)" = "$((sa < EQ_T))" ] || differ=$((differ + 1))
			[ "$([[ "$b" == *'$small'* ]] && echo 1 || echo 0)" = "$((sb < EQ_T))" ] || differ=$((differ + 1))
			continue
		fi
		printf '%s\t%s\t%s\t%s\n' "$m" "${a:-gone}" "${b:-gone}" "$sa" >> "$out/table"
		[ "${a:-gone}" = "${b:-gone}" ] || { echo "m$m: sieve [$a] size $sa, filter [$b] size $sb"; differ=$((differ + 1)); }
	done
	cat "$out/table"
	cp "$out/table" "$EQD/table.$SV_NAME.$(basename "$rules")"
	EQ_MOVED=$moved
	[ "$differ" -eq 0 ]
}

# the mixed rule set: flags, copy and continue, trash, discard, create,
# sizes either side of THRESHOLD, '^', quotes, case
mixed_rules() {
	cat > "$BATS_TEST_TMPDIR/mixed.conf" <<EOF
rules = (
  { name = "spam"; match = { header = { name = "X-Spam-Flag"; regex = "YES"; }; }; expunge = true; },
  { name = "org"; match = { from = "@example\\\\.(org|net)>"; }; flag = "\$Org"; continue = true; },
  { name = "prio"; match = { header = { name = "X-Priority"; regex = "^1"; }; }; flag = "\\\\Flagged"; },
  { name = "patch"; match = { subject = "^\\\\[PATCH.*[0-9]+/[0-9]+]"; };
    copy = "Patches"; create = true; unflag = "\$Org"; flag = "\$Patch"; continue = true; },
  { name = "invoices"; match = { subject = "(?i)invoice|facture|rechnung"; };
    flag = "\$Invoice"; move = "Invoices"; create = true; },
  { name = "bakery"; match = { from = "^\\"Boulangerie"; }; move = "Bakery"; create = true; },
  { name = "lists"; match = { list-id = "<dev\\\\.lists\\\\.example\\\\.org>"; }; move = "Lists-dev"; create = true; },
  { name = "big"; match = { larger = $1; }; trash = true; },
  { name = "small"; match = { any = ( { smaller = $1; }, { subject = "KEEP"; } ); };
    flag = "\$Small"; continue = true; },
  { name = "keep"; match = { subject = "keep"; }; stop = true; },
  { name = "age"; match = { older = "400d"; }; move = "Old"; create = true; },
  { name = "rest"; match = { larger = 0; }; copy = "Rest"; create = true; }
);
EOF
}

# the size the server gives the size group's middle message (3000 bytes as
# sent) once delivered: the threshold, so its neighbours fall either side
threshold() {
	local mid
	mid=$(basename "$(ls "$EQD/msgs/mid/"*.eml)" .eml)
	EQ lmtp "$SV_LMTP" "$SV_USER" "p$1" "$EQD/msgs/mid" >/dev/null
	outcome "p$1" | awk -F'\t' -v m="$mid" '$1 == m { print $3 }'
}

@test "dovecot: lists.conf at delivery (Pigeonhole, LMTP) as in a filter run" {
	use_dovecot
	equiv "$MT_REPO/filters/lists.conf" 01
	[ "$EQ_MOVED" -ge 4 ]
}

@test "dovecot: invoices.conf at delivery as in a filter run" {
	use_dovecot
	equiv "$MT_REPO/filters/invoices.conf" 02
	[ "$EQ_MOVED" -ge 5 ]
}

@test "dovecot: the mixed rule set, sizes around the threshold, at delivery as in a filter run" {
	use_dovecot
	local t; t=$(threshold 03)
	echo "threshold $t"
	[ "$t" -gt 3000 ]
	mixed_rules "$t"
	EQ_T=$t EQ_TRASH=Trash equiv "$BATS_TEST_TMPDIR/mixed.conf" 03
	[ "$EQ_MOVED" -ge 15 ]
	# the size group went either side of the threshold
	[ "$(grep -c $'\tTrash{' "$BATS_TEST_TMPDIR/A")" -ge 2 ]
}

@test "cyrus: lists.conf at delivery (Cyrus's Sieve, lmtpd) as in a filter run" {
	use_cyrus
	equiv "$MT_REPO/filters/lists.conf" 11
	[ "$EQ_MOVED" -ge 4 ]
}

@test "cyrus: invoices.conf at delivery as in a filter run" {
	use_cyrus
	EQ_KNOWN=010 equiv "$MT_REPO/filters/invoices.conf" 12
	[ "$EQ_MOVED" -ge 5 ]
}

@test "cyrus: the mixed rule set at delivery as in a filter run; trash into bob's \\Trash, asked over IMAP" {
	use_cyrus
	local t; t=$(threshold 13)
	echo "threshold $t"
	[ "$t" -gt 3000 ]
	mixed_rules "$t"
	# m010 is "Subject : invoice...": Cyrus's IMAP does not see that field
	EQ_KNOWN=010 EQ_T=$t EQ_TRASH=Corbeille equiv "$BATS_TEST_TMPDIR/mixed.conf" 13
	[ "$EQ_MOVED" -ge 15 ]
	grep -q 'fileinto "Corbeille";' "$BATS_TEST_TMPDIR/installed.sieve"
	[ "$(grep -c $'\tCorbeille{' "$BATS_TEST_TMPDIR/A")" -ge 2 ]
}

# the user's own active script survives put --activate: both decide at delivery
wrapper_delivers() {
	local d="$BATS_TEST_TMPDIR"
	printf 'require ["fileinto", "mailbox"];\nif header :contains "subject" "theirs" { fileinto :create "Theirs"; }\n' > "$d/theirs.sieve"
	printf 'rules = ( { name = "mine"; match = { subject = "mine"; }; move = "Mine"; create = true; } );\n' > "$d/mine.conf"
	run --separate-stderr "$MT" sieve put --script "$d/theirs.sieve" --name roundcube --activate "${SV_ACC[@]}"
	[ "$status" -eq 0 ]
	run --separate-stderr "$MT" sieve put -f "$d/mine.conf" --activate "${SV_ACC[@]}"
	[ "$status" -eq 0 ]
	[ "$(active_script)" = mailtool-wrapper ]
	"$MT" sieve get roundcube "${SV_ACC[@]}" | cmp - "$d/theirs.sieve"
	mkdir -p "$d/w"
	printf 'Subject: theirs\r\nFrom: x@example.org\r\n\r\nhi\r\n' > "$d/w/001.eml"
	printf 'Subject: mine\r\nFrom: x@example.org\r\n\r\nhi\r\n' > "$d/w/002.eml"
	printf 'Subject: neither\r\nFrom: x@example.org\r\n\r\nhi\r\n' > "$d/w/003.eml"
	run EQ lmtp "$SV_LMTP" "$SV_USER" "w$1" "$d/w"
	[ "$status" -eq 0 ]
	outcome "w$1" > "$d/W"
	cat "$d/W"
	[ "$(cut -f1,2 "$d/W")" = $'001\tTheirs{}\n002\tMine{}\n003\tINBOX{}' ]
}

@test "dovecot: the user's own active script and the rules both decide at delivery (include wrapper)" {
	use_dovecot
	wrapper_delivers 21
}

@test "cyrus: the user's own active script and the rules both decide at delivery (include wrapper)" {
	use_cyrus
	wrapper_delivers 22
}
