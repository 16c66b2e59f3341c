#!/usr/bin/env bats
# Bash completion against the suite's real server: live folder names (cached
# with a TTL), account names from the configuration, subcommands.
load helpers

setup() {
	export MAILTOOL_BIN="$MT" XDG_CACHE_HOME="$BATS_TEST_TMPDIR/cache"
	source "$MT_REPO/completions/mailtool.bash"
}

# complete WORDS...: the last word is the one being completed
complete_words() {
	COMP_WORDS=("$@")
	COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
	COMPREPLY=()
	_mailtool
	REPLY_LINE=
	if [ "${#COMPREPLY[@]}" -gt 0 ]; then
		REPLY_LINE=$(printf '[%s]' "${COMPREPLY[@]}")
	fi
}

@test "folder arguments complete with the server's live folder names" {
	complete_words mailtool du "Lists/"
	[ "$REPLY_LINE" = "[Lists/announce][Lists/dev]" ]
	complete_words mailtool expunge --older 30d "Tr"
	[ "$REPLY_LINE" = "[Trash]" ]
	complete_words mailtool-ls "Ar"
	[ "$REPLY_LINE" = "[Archive]" ]
}

@test "folder names with spaces and non-ASCII complete as the shell needs them" {
	complete_words mailtool du "Old"
	[ "$REPLY_LINE" = '[Old\ Stuff]' ]
	complete_words mailtool du "Projets/É"
	[ "$REPLY_LINE" = "[Projets/Été]" ]
	complete_words mailtool du 'Old\ S'
	[ "$REPLY_LINE" = '[Old\ Stuff]' ]
}

@test "folder names are fetched once and cached per account, owner-only" {
	complete_words mailtool du -a alice "I"
	[ "$REPLY_LINE" = "[INBOX]" ]
	f="$XDG_CACHE_HOME/mailtool/folders-alice"
	[ -f "$f" ]
	[ "$(stat -c %a "$f")" = 600 ]
	[ "$(stat -c %a "$XDG_CACHE_HOME/mailtool")" = 700 ]
	# within the TTL the server is not asked again: a new folder is not seen yet...
	dadm mailbox create -u alice "Brand New"
	complete_words mailtool du -a alice "Bra"
	[ "$REPLY_LINE" = "" ]
	# ...and after it, it is
	MAILTOOL_COMPLETION_TTL=0
	complete_words mailtool du -a alice "Bra"
	dadm mailbox delete -u alice "Brand New"
	[ "$REPLY_LINE" = '[Brand\ New]' ]
}

@test "a server that does not answer makes completion offer nothing, quickly, without prompting" {
	start_blackhole
	start=$SECONDS
	complete_words mailtool du -a alice -H 127.0.0.1 -p "$BLACKHOLE_PORT" "I"
	kill "$BLACKHOLE_PID" 2>/dev/null || true
	# -H/-p are not part of the cache key: the alice cache may answer; either way it is quick
	[ $((SECONDS - start)) -le 12 ]
	cat > "$BATS_TEST_TMPDIR/nopw.conf" <<CONF
accounts = { x = { host = "localhost"; port = $MT_IMAPS_PORT; user = "alice"; ca_file = "$MT_CA"; }; };
CONF
	complete_words mailtool du --config "$BATS_TEST_TMPDIR/nopw.conf" -a x "I"
	[ "$REPLY_LINE" = "" ]
}

@test "account names come from the configuration" {
	complete_words mailtool du -a "ali"
	[[ "$REPLY_LINE" == "[alice]"* ]]
	[[ "$REPLY_LINE" == *"[alice_starttls]"* ]]
	complete_words mailtool du --config "$MT_REPO/mailtool.conf" --account ""
	[ "$REPLY_LINE" = "[work][admin][tunnel][local]" ]
	# archive's destination account too
	complete_words mailtool archive --older 1y --to-account "bo"
	[ "$REPLY_LINE" = "[bob]" ]
}

@test "subs completes its subcommands first, then folders" {
	complete_words mailtool subs ""
	[ "$REPLY_LINE" = "[list][add][remove][check][fix][export][import]" ]
	complete_words mailtool subs add "Lists/d"
	[ "$REPLY_LINE" = "[Lists/dev]" ]
}
