# bash completion for mailtool(1) and its mailtool-APPLET links      -*- shell-script -*-
#
# Everything is asked from the binary itself, so this file never lists applets
# or options by hand:
#   $MAILTOOL_BIN --list                      applet names
#   $MAILTOOL_BIN APPLET --complete-options   "--long<TAB>-s|blank<TAB>arg|flag<TAB>hint"
# MAILTOOL_BIN names the binary (default: mailtool, looked up in PATH).
# Both answers are cached per binary in shell variables for the session.
# Nothing here writes to the terminal: every failure just completes nothing.

# caches: "BIN" -> applet names (one per line); "BIN|APPLET" -> option lines
declare -gA _mailtool_applets_cache 2>/dev/null || :
declare -gA _mailtool_opts_cache 2>/dev/null || :

# The helpers below run in the current shell (never in $(...)) so that what
# they cache survives; they answer in the caller's variable _mt_reply.

# _mt_reply := the applet names, one per line (empty if the binary is missing).
_mailtool_applet_list()
{
	local bin out
	_mt_reply=
	bin=${MAILTOOL_BIN:-mailtool}
	if [[ -z ${_mailtool_applets_cache["$bin"]+set} ]]; then
		command -v -- "$bin" >/dev/null 2>&1 || return 1
		out=$("$bin" --list 2>/dev/null </dev/null) || return 1
		[[ -n $out ]] || return 1
		_mailtool_applets_cache["$bin"]=$out
	fi
	_mt_reply=${_mailtool_applets_cache["$bin"]}
	return 0
}

# True if $1 is an applet name.
_mailtool_is_applet()
{
	local _mt_reply a
	[[ -n $1 ]] || return 1
	_mailtool_applet_list || return 1
	while IFS= read -r a; do
		[[ $a == "$1" ]] && return 0
	done <<<"$_mt_reply"
	return 1
}

# _mt_reply := the --complete-options lines of applet $1.
_mailtool_option_lines()
{
	local bin out key
	_mt_reply=
	bin=${MAILTOOL_BIN:-mailtool}
	key="$bin|$1"
	if [[ -z ${_mailtool_opts_cache["$key"]+set} ]]; then
		_mailtool_is_applet "$1" || return 1
		out=$("$bin" "$1" --complete-options 2>/dev/null </dev/null) || return 1
		[[ -n $out ]] || return 1
		_mailtool_opts_cache["$key"]=$out
	fi
	_mt_reply=${_mailtool_opts_cache["$key"]}
	return 0
}

# Split one option line into the caller's variables _long _short _kind _hint.
# Fields are tab-separated; the short field may be blank (a space or empty).
_mailtool_split()
{
	local line=$1 rest
	_long=${line%%$'\t'*}
	rest=${line#*$'\t'}
	[[ $rest == "$line" ]] && rest=
	_short=${rest%%$'\t'*}
	_short=${_short// /}
	[[ $rest == *$'\t'* ]] && rest=${rest#*$'\t'} || rest=
	_kind=${rest%%$'\t'*}
	[[ $rest == *$'\t'* ]] && rest=${rest#*$'\t'} || rest=
	_hint=$rest
}

# If option $2 ("--long" or "-s") of applet $1 takes a value, succeed with
# _mt_hint := its completion hint; fail otherwise.
_mailtool_value_hint()
{
	local applet=$1 opt=$2 line _mt_reply _long _short _kind _hint
	_mt_hint=
	_mailtool_option_lines "$applet" || return 1
	while IFS= read -r line; do
		[[ -n $line ]] || continue
		_mailtool_split "$line"
		if [[ $opt == "$_long" || ( -n $_short && $opt == "$_short" ) ]]; then
			[[ $_kind == arg ]] || return 1
			_mt_hint=$_hint
			return 0
		fi
	done <<<"$_mt_reply"
	return 1
}

# _mt_reply := the value of option --$1 (or -$2) given on the command line so far.
_mailtool_word_opt()
{
	local long=$1 short=$2 i w
	_mt_reply=
	for (( i = 1; i < ${COMP_CWORD:-0}; i++ )); do
		w=${COMP_WORDS[i]-}
		if [[ $w == "--$long" || ( -n $short && $w == "-$short" ) ]]; then
			_mt_reply=${COMP_WORDS[i + 1]-}
		elif [[ $w == "--$long="* ]]; then
			_mt_reply=${w#*=}
		elif [[ -n $short && $w == "-$short"?* && $w != --* ]]; then
			_mt_reply=${w#-"$short"}
		fi
	done
	return 0
}

# Account names for -a/--account, from the configuration (mailtool --complete-accounts).
_mailtool_accounts()
{
	local bin=${MAILTOOL_BIN:-mailtool} _mt_reply
	_mailtool_word_opt config ''
	if [[ -n $_mt_reply ]]; then
		"$bin" --complete-accounts --config "$_mt_reply" 2>/dev/null </dev/null
	else
		"$bin" --complete-accounts 2>/dev/null </dev/null
	fi
	return 0
}

# Backslash-escape what the shell would otherwise split or expand; UTF-8 stays.
_mailtool_escape()
{
	local s=$1 out= c i
	for (( i = 0; i < ${#s}; i++ )); do
		c=${s:i:1}
		case $c in
		[[:space:]\'\"\\\$\`\!\&\;\|\(\)\<\>\*\?\[\]\#\~\{\}]) out+="\\$c" ;;
		*) out+=$c ;;
		esac
	done
	_mt_reply=$out
}

# Live folder names of the account on the command line, fetched once with
# `mailtool ls` and cached under $XDG_CACHE_HOME/mailtool/ for
# MAILTOOL_COMPLETION_TTL seconds (default 60), so Tab waits on the network at
# most once a minute. Never prompts for a password (MAILTOOL_NO_PROMPT).
_mailtool_folders()
{
	local cur=$1 bin=${MAILTOOL_BIN:-mailtool} acct cfg key dir file now mtime name tmp _mt_reply
	local -a args=()
	_mailtool_word_opt account a
	acct=$_mt_reply
	_mailtool_word_opt config ''
	cfg=$_mt_reply
	[[ -n $acct ]] && args+=(-a "$acct")
	[[ -n $cfg ]] && args+=(--config "$cfg")
	key=${acct:-default}
	[[ -n $cfg ]] && key+=-$(printf '%s' "$cfg" | cksum | cut -d' ' -f1)
	key=${key//[^A-Za-z0-9._@-]/_}
	dir=${XDG_CACHE_HOME:-$HOME/.cache}/mailtool
	file=$dir/folders-$key
	printf -v now '%(%s)T' -1
	mtime=0
	[[ -f $file ]] && mtime=$(stat -c %Y -- "$file" 2>/dev/null || echo 0)
	if (( now - mtime >= ${MAILTOOL_COMPLETION_TTL:-60} )); then
		mkdir -p -m 700 -- "$dir" 2>/dev/null || return 0
		tmp=$(mktemp "$dir/.folders.XXXXXX" 2>/dev/null) || return 0
		if MAILTOOL_NO_PROMPT=1 timeout 10 "$bin" ls --tsv --timeout 5s "${args[@]}" </dev/null 2>/dev/null |
			tail -n +2 | cut -f1 >"$tmp" && [[ -s $tmp ]]; then
			mv -f -- "$tmp" "$file"
		else
			rm -f -- "$tmp"
			return 0
		fi
	fi
	# what the user typed, without the backslashes of names with spaces
	cur=${cur//\\/}
	cur=${cur#[\"\']}
	while IFS= read -r name; do
		[[ -n $name && $name == "$cur"* ]] || continue
		_mailtool_escape "$name"
		COMPREPLY+=("$_mt_reply")
	done <"$file"
	return 0
}

# Fill COMPREPLY with the values for completion hint $1 matching $2.
_mailtool_complete_value()
{
	local hint=$1 cur=$2
	case $hint in
	account)
		mapfile -t COMPREPLY < <(compgen -W "$(_mailtool_accounts)" -- "$cur")
		;;
	file)
		compopt -o filenames 2>/dev/null || :
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		;;
	cmd)
		mapfile -t COMPREPLY < <(compgen -c -- "$cur")
		;;
	folder)
		_mailtool_folders "$cur"
		;;
	'')
		# values without a hint are free-form
		COMPREPLY=()
		;;
	*)
		mapfile -t COMPREPLY < <(compgen -W "$hint" -- "$cur")
		;;
	esac
}

_mailtool()
{
	local cur prev cmd applet start i opt line _mt_reply _mt_hint _long _short _kind _hint
	local cword=${COMP_CWORD:-0}
	local -a words=()
	COMPREPLY=()
	[[ $cword =~ ^[0-9]+$ ]] || return 0
	cur=${COMP_WORDS[cword]-}
	prev=
	(( cword > 0 )) && prev=${COMP_WORDS[cword - 1]-}
	cmd=${COMP_WORDS[0]-}
	cmd=${cmd##*/}

	if [[ $cmd == mailtool-?* ]]; then
		applet=${cmd#mailtool-}
		start=1
	else
		# common options may come before the applet (mailtool -a admin quota):
		# the applet is the first word after them and their values (the
		# options of info are exactly the common ones)
		local apos=1 w
		while (( apos < cword )); do
			w=${COMP_WORDS[apos]-}
			[[ $w == -?* && $w != -- && $w != -e && $w != --help && $w != -h && $w != --version &&
				$w != --list && $w != --install ]] || break
			if [[ $w == --*=* ]]; then
				(( apos++ ))
			elif [[ $w == --* ]]; then
				_mailtool_value_hint info "$w" && (( apos += 2 )) || (( apos++ ))
			else
				# -v, -a NAME, -aNAME, -qa NAME: a short option that takes a
				# value takes the rest of the word, or the next word
				local k=1 takes=0
				while (( k < ${#w} )); do
					if _mailtool_value_hint info "-${w:k:1}"; then
						(( k == ${#w} - 1 )) && takes=1
						break
					fi
					(( k++ ))
				done
				(( apos += 1 + takes ))
			fi
		done
		if (( cword <= apos )); then
			if (( apos > 1 )) && [[ $prev == -?* ]] && _mailtool_value_hint info "$prev"; then
				_mailtool_complete_value "$_mt_hint" "$cur"
			elif [[ $cur == -* ]]; then
				if (( apos == 1 )); then
					words=(--help --version --list --install)
				else
					words=()
				fi
				if _mailtool_option_lines info; then
					while IFS= read -r line; do
						[[ -n $line ]] || continue
						_mailtool_split "$line"
						[[ $_long == --?* && $_long != --help ]] && words+=("$_long")
					done <<<"$_mt_reply"
				fi
				mapfile -t COMPREPLY < <(compgen -W "${words[*]}" -- "$cur")
			else
				_mailtool_applet_list || :
				if (( apos == 1 )); then
					mapfile -t COMPREPLY < <(compgen -W "$_mt_reply help" -- "$cur")
				else
					mapfile -t COMPREPLY < <(compgen -W "$_mt_reply" -- "$cur")
				fi
			fi
			return 0
		fi
		applet=${COMP_WORDS[apos]-}
		start=$(( apos + 1 ))
		case $applet in
		help)
			if (( cword == 2 )) && _mailtool_applet_list; then
				mapfile -t COMPREPLY < <(compgen -W "$_mt_reply" -- "$cur")
			fi
			return 0
			;;
		--install)
			if [[ $cur == -* ]]; then
				mapfile -t COMPREPLY < <(compgen -W '-s' -- "$cur")
			else
				compopt -o filenames 2>/dev/null || :
				mapfile -t COMPREPLY < <(compgen -d -- "$cur")
			fi
			return 0
			;;
		-* | '')
			return 0
			;;
		esac
	fi
	_mailtool_is_applet "$applet" || return 0

	# after "--" there are only arguments
	for (( i = start; i < cword; i++ )); do
		[[ ${COMP_WORDS[i]-} == -- ]] && return 0
	done

	# a value for the previous option: "--opt VALUE", "-s VALUE", "-vs VALUE",
	# or "--opt=VALUE" (split into "--opt" "=" "VALUE" by COMP_WORDBREAKS)
	opt=
	if [[ $cur == = ]] && (( cword - 1 >= start )); then
		opt=$prev
		cur=
	elif [[ $prev == = ]] && (( cword - 2 >= start )); then
		opt=${COMP_WORDS[cword - 2]-}
	elif [[ $cur == --*=* ]]; then
		# "=" not in COMP_WORDBREAKS: the whole word is ours to replace
		opt=${cur%%=*}
		if _mailtool_value_hint "$applet" "$opt"; then
			_mailtool_complete_value "$_mt_hint" "${cur#*=}"
			for i in "${!COMPREPLY[@]}"; do
				COMPREPLY[i]="$opt=${COMPREPLY[i]}"
			done
		fi
		return 0
	elif (( cword - 1 >= start )) && [[ $prev == -?* ]]; then
		opt=$prev
		if [[ $prev != --* && ${#prev} -gt 2 ]]; then
			# a bundle of short options: the first one that takes a value
			# swallows the rest of the bundle, or the next word if it is last
			opt=
			for (( i = 1; i < ${#prev}; i++ )); do
				if _mailtool_value_hint "$applet" "-${prev:i:1}"; then
					(( i == ${#prev} - 1 )) && opt=-${prev:i:1}
					break
				fi
			done
		fi
	fi
	if [[ -n $opt ]] && _mailtool_value_hint "$applet" "$opt"; then
		_mailtool_complete_value "$_mt_hint" "$cur"
		return 0
	fi

	if [[ $cur == -* ]] && _mailtool_option_lines "$applet"; then
		while IFS= read -r line; do
			[[ -n $line ]] || continue
			_mailtool_split "$line"
			[[ $_long == --?* ]] && words+=("$_long")
		done <<<"$_mt_reply"
		(( ${#words[@]} )) &&
			mapfile -t COMPREPLY < <(compgen -W "${words[*]}" -- "$cur")
	fi
	[[ $cur == -* ]] && return 0

	# a positional argument: which one, skipping options and their values
	local npos=0 skip=0 w hint
	for (( i = start; i < cword; i++ )); do
		w=${COMP_WORDS[i]-}
		if (( skip )); then
			skip=0
			[[ $w == = ]] && skip=1
			continue
		fi
		if [[ $w == --*=* ]]; then
			continue
		elif [[ $w == -?* ]]; then
			_mailtool_value_hint "$applet" "$w" && skip=1
			continue
		fi
		npos=$((npos + 1))
	done
	line=$("${MAILTOOL_BIN:-mailtool}" "$applet" --complete-args 2>/dev/null </dev/null) || return 0
	if (( npos == 0 )); then
		hint=$(sed -n 's/^first\t//p' <<<"$line")
	else
		hint=$(sed -n 's/^rest\t//p' <<<"$line")
	fi
	[[ -n $hint ]] && _mailtool_complete_value "$hint" "$cur"
	return 0
}

complete -F _mailtool mailtool
# mailtool-APPLET links: registered now if the binary can be run; otherwise
# bash-completion's loader finds this file again under the link's name.
_mailtool_register_applets()
{
	local a _mt_reply
	_mailtool_applet_list || return 0
	while IFS= read -r a; do
		[[ -n $a ]] && complete -F _mailtool "mailtool-$a"
	done <<<"$_mt_reply"
	return 0
}
_mailtool_register_applets
