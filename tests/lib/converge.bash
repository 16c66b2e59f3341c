# converge.bash — the one driver of the interruption matrices: cuts.bats
# (the connection cut after IMAP command k) and faults.bats (mailtool
# SIGKILLed after command k) try every k = 1..N of a run, then run again to
# completion; the server must end as an uninterrupted run leaves it: nothing
# lost, nothing twice, no flag or subscription astray. Loaded by both files.
#
# The caller defines:
#   cv_reset               put alice's box (and local state) back
#   cv_run K ARGS...       mailtool ARGS interrupted after command K (0: not at
#                          all); sets status and output like `run`
#   cv_count               after `cv_run 0`: the number of commands N
#   cv_interrupted K N     after `cv_run K`: empty, or why its exit is wrong
#   cv_rerun ARGS...       mailtool ARGS to completion; sets status and output
#   cv_state               all an uninterrupted run leaves behind
#   cv_msgs                the messages alone: folder, Message-ID, content
# and sets CV_WHAT ("cut", "kill"), and CV_ARCHIVE when ARGS export to that
# mbox: it is removed before each run; after the interruption a file under
# that name is complete (what the uninterrupted run wrote) and exists as soon
# as a message is gone from the server; after the rerun it holds every
# exported message exactly once. Every point is tried (a bad one does not
# stop the loop; 150 s does); each bad one is listed with what differs.
converge_every_step() {
	local k n t0=$SECONDS bad=0 tried=0 why before want want_msgs want_arch="" got got_arch lost
	cv_reset
	before=$(cv_msgs)
	[ -z "${CV_ARCHIVE:-}" ] || rm -rf "$CV_ARCHIVE" "${CV_ARCHIVE%/*}"/%tmp.*
	cv_run 0 "$@" || return 1
	[ "$status" -eq 0 ] || { echo "uninterrupted run: exit $status: $output"; return 1; }
	n=$(cv_count)
	[ "$n" -gt 3 ] || { echo "only $n commands"; return 1; }
	want=$(cv_state)
	want_msgs=$(cv_msgs)
	[ "$want_msgs" != "$before" ] || { echo "the uninterrupted run changed no message"; return 1; }
	if [ -n "${CV_ARCHIVE:-}" ]; then
		want_arch=$(archive_state "$CV_ARCHIVE")
		# the archive holds exactly what left the server, each message once
		diff <(comm -23 <(echo "$before") <(echo "$want_msgs") | cut -f2 | sort) <(echo "$want_arch" | cut -f1) || return 1
		[ -z "$(echo "$want_arch" | cut -f1 | uniq -d)" ] || { echo "the archive holds a message twice"; return 1; }
	fi
	for k in $(seq 1 "$n"); do
		if [ $((SECONDS - t0)) -gt 150 ]; then
			echo "over the loop's time bound (150 s) at k=$k of $n"
			return 1
		fi
		cv_reset
		[ -z "${CV_ARCHIVE:-}" ] || rm -rf "$CV_ARCHIVE" "${CV_ARCHIVE%/*}"/%tmp.*
		cv_run "$k" "$@" || return 1
		why=$(cv_interrupted "$k" "$n")
		if [ -n "${CV_ARCHIVE:-}" ]; then
			got_arch=$(archive_state "$CV_ARCHIVE")
			lost=$(comm -23 <(echo "$before" | cut -f1,2 | sort) <(cv_ids) | wc -l)
			if [ "$got_arch" != none ] && [ "$got_arch" != "$want_arch" ]; then
				why="$why an incomplete archive under the final name after the $CV_WHAT ($(echo "$got_arch" | wc -l) of $(echo "$want_arch" | wc -l) messages)"
			elif [ "$lost" -gt 0 ] && [ "$got_arch" = none ]; then
				why="$why $lost messages gone from the server and no archive"
			fi
		fi
		cv_rerun "$@"
		[ "$status" -eq 0 ] || why="$why rerun exit $status: $output"
		got=$(cv_state)
		if [ "$got" != "$want" ]; then
			if [ "$(cv_msgs)" != "$want_msgs" ]; then
				why="$why messages differ: $(comm -13 <(echo "$want_msgs") <(cv_msgs) | wc -l) extra, $(comm -23 <(echo "$want_msgs") <(cv_msgs) | wc -l) missing, e.g.
$(diff <(echo "$want_msgs") <(cv_msgs) | grep '^[<>]' | sed 's/^</-/; s/^>/+/' | head -6)"
			elif [ "$(echo "$got" | grep -v '^subscribed')" != "$(echo "$want" | grep -v '^subscribed')" ]; then
				why="$why flags differ on $(comm -13 <(echo "$want") <(echo "$got") | wc -l) messages, e.g.
  want $(comm -23 <(echo "$want") <(echo "$got") | head -1)
  got  $(comm -13 <(echo "$want") <(echo "$got") | head -1)"
			else
				why="$why subscriptions differ: missing [$(comm -23 <(echo "$want") <(echo "$got") | cut -f2 | paste -sd,)]"
				why="$why extra [$(comm -13 <(echo "$want") <(echo "$got") | cut -f2 | paste -sd,)]"
			fi
		fi
		[ "$(dadm search -u alice keyword '$MailtoolMoving' | wc -l)" -eq 0 ] || why="$why \$MailtoolMoving left on messages"
		if [ -n "${CV_ARCHIVE:-}" ]; then
			got_arch=$(archive_state "$CV_ARCHIVE")
			[ "$got_arch" = "$want_arch" ] ||
				why="$why archive after the rerun: $(echo "$got_arch" | wc -l) entries, $(echo "$got_arch" | cut -f1 | sort -u | wc -l) distinct, want $(echo "$want_arch" | wc -l)"
		fi
		if [ -n "$why" ]; then
			bad=$((bad + 1))
			echo "$CV_WHAT after command $k of $n$(cv_command "$k"):$why"
		fi
		tried=$((tried + 1))
	done
	echo "# ${*//$BATS_TEST_TMPDIR\//} : $tried $CV_WHAT points tried, $bad bad, $((SECONDS - t0)) s" >&3
	[ "$bad" -eq 0 ]
}

# what a message is wherever it lies: folder and Message-ID
cv_ids() { dadm -f tab fetch -u alice "mailbox hdr.message-id" all | tail -n +2 | sort; }
# the command k was, where the interruption logs it (default: nothing)
cv_command() { :; }
