#!/bin/sh
# run.sh DIR SECONDS TARGET... — run each libFuzzer target DIR/fuzz-TARGET for
# SECONDS on a scratch copy of tests/fuzz/corpus/TARGET (plus the regression
# inputs), and print one line per target with the executions done. A crash
# leaves its input as DIR/crash-TARGET-* and makes the run fail: move it to
# tests/fuzz/regress/TARGET/ once fixed, so make check replays it for ever.
set -u
dir=$1 secs=$2
shift 2
here=$(dirname "$0")
failed=0 total=0
for t in "$@"; do
	work="$dir/work-$t"
	rm -rf "$work" && mkdir -p "$work"
	cp "$here/corpus/$t/"* "$work/" 2>/dev/null
	[ -d "$here/regress/$t" ] && cp "$here/regress/$t/"* "$work/" 2>/dev/null
	log="$dir/fuzz-$t.log"
	# the shared suppressions, plus the target's own when it has some
	supp="$dir/lsan-$t.supp"
	cat "$here/lsan.supp" "$here/lsan-$t.supp" > "$supp" 2>/dev/null
	export LSAN_OPTIONS="suppressions=$supp:print_suppressions=0"
	# -timeout: one input may take at most 10 s (a hang is a finding too);
	# -rss_limit_mb: bounded resident memory. -malloc_limit_mb is higher:
	# libetpan reserves a literal's announced size up front ({4294967296}),
	# which costs address space, not memory, and fails cleanly under
	# prlimit --as (tests/hostile.bats); TMPDIR: where targets write files
	TMPDIR="$dir" ASAN_OPTIONS=allocator_may_return_null=1 timeout $((secs + 60)) "$dir/fuzz-$t" \
		-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=65536 \
		-max_len=4096 -print_final_stats=1 \
		-artifact_prefix="$dir/crash-$t-" "$work" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	total=$((total + ${execs:-0}))
	if [ "$rc" -ne 0 ]; then
		failed=$((failed + 1))
		printf '%-10s FAILED (exit %s) after %s executions; see %s\n' "$t" "$rc" "${execs:-?}" "$log"
		grep -E 'ERROR:|property failed|SUMMARY' "$log" | head -n 3 | sed 's/^/           /'
	else
		printf '%-10s %10s executions in %ss, no crash\n' "$t" "${execs:-?}" "$secs"
	fi
done
echo "fuzzing: $total executions, $failed target(s) failed"
[ "$failed" -eq 0 ]
