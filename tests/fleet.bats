#!/usr/bin/env bats
# Fleets on engines that already exist: GNU parallel over --shard K/N with a
# joblog and --resume-failed, locally and with --sshlogin to a private sshd,
# and the Kubernetes Indexed Job of contrib/k8s,
# whose container command is run here for every index. In both, the union
# of the shards' results is what one unsharded run gives.
load helpers

setup_file() {
	printf 'alice\nbob\ncarol\n' > "$BATS_FILE_TMPDIR/users"
	"$MT" quota -a admin --users "$BATS_FILE_TMPDIR/users" --json 2>/dev/null | sort > "$BATS_FILE_TMPDIR/whole"
}

teardown() { stop_sshd "$BATS_TEST_TMPDIR"; }

setup() {
	[ -s "$BATS_FILE_TMPDIR/whole" ]
	[ "$(wc -l < "$BATS_FILE_TMPDIR/whole")" -eq 3 ]
}

@test "GNU parallel: four shards, one of which fails as a dead backend would; --resume-failed reruns only it" {
	command -v parallel
	d=$BATS_TEST_TMPDIR
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	# the first shard that holds a user: its first attempt reaches a port
	# where nothing listens (75, retry), as with a backend that is down
	for fk in 1 2 3 4; do
		[ -n "$("$MT" quota -a admin --users "$BATS_FILE_TMPDIR/users" --shard $fk/4 --json 2>/dev/null)" ] && break
	done
	cat > "$d/shard.sh" <<SH
#!/bin/sh
k=\$1
if [ "\$k" = $fk ] && [ -e "$d/down" ]; then
	rm -f "$d/down"
	exec "$MT" quota -a admin -p $port --users "$d/users" --shard \$k/4 --json
fi
exec "$MT" quota -a admin --users "$d/users" --shard \$k/4 --json
SH
	chmod +x "$d/shard.sh"
	cp "$BATS_FILE_TMPDIR/users" "$d/users"
	touch "$d/down"
	run parallel --will-cite --joblog "$d/joblog" -j 4 "$d/shard.sh {} > $d/out.{}.jsonl" ::: 1 2 3 4
	[ "$status" -eq 1 ]    # parallel: the number of failed jobs
	[ "$(awk -F'\t' 'NR > 1 && $7 != 0 {print $9 ":" $7}' "$d/joblog")" = "$d/shard.sh $fk > $d/out.$fk.jsonl:75" ]
	run -0 parallel --will-cite --joblog "$d/joblog" --resume-failed -j 4 "$d/shard.sh {} > $d/out.{}.jsonl" ::: 1 2 3 4
	# only that shard ran again; now every job is done
	[ "$(awk -F'\t' 'NR > 1' "$d/joblog" | wc -l)" -eq 5 ]
	[ "$(awk -F'\t' 'NR > 1 && $7 == 0' "$d/joblog" | wc -l)" -eq 4 ]
	[ "$(cat "$d"/out.*.jsonl | sort)" = "$(cat "$BATS_FILE_TMPDIR/whole")" ]
}

@test "contrib/k8s: an Indexed Job whose failure policy follows the exit-status classes" {
	python3 - "$MT_REPO/contrib/k8s/mailtool-quota-job.yaml" <<'PY'
import re, sys, yaml
job = yaml.safe_load(open(sys.argv[1]))
assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job", job
spec = job["spec"]
assert spec["completionMode"] == "Indexed"
n = spec["completions"]
rules = {r["action"]: sorted(r["onExitCodes"]["values"]) for r in spec["podFailurePolicy"]["rules"]}
assert set(rules) == {"FailJob", "FailIndex", "Count"}, rules
assert all(r["onExitCodes"]["operator"] == "In" and r["onExitCodes"]["containerName"] == "mailtool"
           for r in spec["podFailurePolicy"]["rules"])
assert spec["backoffLimitPerIndex"] >= 1      # FailIndex needs it
pod = spec["template"]["spec"]
assert pod["restartPolicy"] == "Never"        # a pod failure policy needs it
c = pod["containers"][0]
assert c["name"] == "mailtool"
cmd = c["command"][2]
# the shard count in the command is the Job's
m = re.search(r"--shard \$\(\(JOB_COMPLETION_INDEX \+ 1\)\)/(\d+)", cmd)
assert m and int(m.group(1)) == n, (cmd, n)
assert "MAILTOOL_PASSWORD" in [e["name"] for e in c["env"]]
assert "--password" not in cmd
PY
}

@test "contrib/k8s: the container's command, run for every index, gives what one unsharded run gives" {
	d=$BATS_TEST_TMPDIR
	mkdir "$d/results"
	cmd=$(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["spec"]["template"]["spec"]["containers"][0]["command"][2])' \
		"$MT_REPO/contrib/k8s/mailtool-quota-job.yaml")
	n=$(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["spec"]["completions"])' \
		"$MT_REPO/contrib/k8s/mailtool-quota-job.yaml")
	# the pod's paths, here
	cmd=${cmd//exec mailtool /exec $MT }
	cmd=${cmd//\/etc\/mailtool\/mailtool.conf/$MAILTOOL_CONFIG}
	cmd=${cmd//\/etc\/mailtool-users\/users.txt/$BATS_FILE_TMPDIR/users}
	cmd=${cmd//\/results/$d/results}
	for i in $(seq 0 $((n - 1))); do
		run -0 env JOB_COMPLETION_INDEX="$i" sh -c "$cmd"
	done
	[ "$(ls "$d/results" | wc -l)" -eq "$n" ]
	[ "$(cat "$d"/results/*.jsonl | sort)" = "$(cat "$BATS_FILE_TMPDIR/whole")" ]
}

# A private sshd on loopback (its own host key, one throwaway client key, no
# password), so that GNU parallel's --sshlogin runs shards "on other hosts"
# as it would across a fleet. Needs root (the suite runs as root) and sshd.
start_sshd() {  # DIR: sets SSH_CFG (a client config with hosts mt-a and mt-b)
	local d=$1 port i
	mkdir -p "$d/ssh" /run/sshd
	chmod 700 "$d/ssh"
	ssh-keygen -q -t ed25519 -N '' -f "$d/ssh/host_key"
	ssh-keygen -q -t ed25519 -N '' -f "$d/ssh/client_key"
	cp "$d/ssh/client_key.pub" "$d/ssh/authorized_keys"
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	cat > "$d/ssh/sshd_config" <<CFG
ListenAddress 127.0.0.1:$port
HostKey $d/ssh/host_key
AuthorizedKeysFile $d/ssh/authorized_keys
PidFile $d/ssh/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxStartups 20
CFG
	/usr/sbin/sshd -f "$d/ssh/sshd_config" -E "$d/ssh/sshd.log"
	for h in mt-a mt-b; do
		cat >> "$d/ssh/config" <<CFG
Host $h
  HostName 127.0.0.1
  Port $port
  User $(id -un)
  IdentityFile $d/ssh/client_key
  IdentitiesOnly yes
  UserKnownHostsFile $d/ssh/known_hosts
  StrictHostKeyChecking accept-new
  BatchMode yes
  ConnectTimeout 5
CFG
	done
	SSH_CFG=$d/ssh/config
	for i in $(seq 50); do
		ssh -F "$SSH_CFG" mt-a true 2>/dev/null && return 0
		sleep 0.1
	done
	cat "$d/ssh/sshd.log" >&2
	return 1
}

stop_sshd() {
	[ -s "$1/ssh/sshd.pid" ] && kill "$(cat "$1/ssh/sshd.pid")" 2>/dev/null
	return 0
}

@test "GNU parallel --sshlogin: four shards on two 'hosts' over ssh (a private sshd on loopback) give the unsharded run" {
	command -v parallel
	[ -x /usr/sbin/sshd ]
	d=$BATS_TEST_TMPDIR
	start_sshd "$d"
	cp "$BATS_FILE_TMPDIR/users" "$d/users"
	# what a fleet host runs: nothing of this shell's environment reaches it
	cat > "$d/shard.sh" <<SH
#!/bin/sh
exec "$MT" quota --config "$MAILTOOL_CONFIG" -a admin --users "$d/users" --shard \$1/4 --json
SH
	chmod +x "$d/shard.sh"
	run parallel --will-cite --ssh "ssh -F $SSH_CFG" -S 2/mt-a,2/mt-b --joblog "$d/joblog" \
		"$d/shard.sh {} > $d/out.{}.jsonl" ::: 1 2 3 4
	stop_sshd "$d"
	cat "$d/joblog"
	[ "$status" -eq 0 ]
	# every shard ran over ssh, on both hosts
	[ "$(awk -F'\t' 'NR > 1 && $7 == 0' "$d/joblog" | wc -l)" -eq 4 ]
	[ "$(awk -F'\t' 'NR > 1 {print $2}' "$d/joblog" | sort -u | tr '\n' ' ')" = "mt-a mt-b " ]
	[ "$(grep -c 'Accepted publickey' "$d/ssh/sshd.log")" -ge 4 ]
	[ "$(cat "$d"/out.*.jsonl | sort)" = "$(cat "$BATS_FILE_TMPDIR/whole")" ]
}

@test "exit-status classes: every status mailtool(1) documents but 0 is in exactly one class, and README and contrib/k8s say the same" {
	python3 - "$MT_REPO/man/mailtool.1" "$MT_REPO/README.md" "$MT_REPO/contrib/k8s/mailtool-quota-job.yaml" <<'PY'
import re, sys, yaml
man = open(sys.argv[1]).read()
sec = man[man.index("\n.Sh EXIT STATUS\n"):]
sec = sec[:sec.index("\n.Sh ", 1)]
# the statuses: the first list's items
documented = {int(n) for n in re.findall(r"^\.It (\d+)$", sec[:sec.index("\n.El\n")], re.M)}
assert {0, 64, 65, 68, 69, 70, 71, 74, 75, 76, 77, 78, 127} <= documented, documented
classes = {name: {int(n) for n in codes.split()}
           for name, codes in re.findall(r"^\.It (Retry later|Give up|Fix first): ([\d ]+)$", sec, re.M)}
assert set(classes) == {"Retry later", "Give up", "Fix first"}, classes
seen = [c for codes in classes.values() for c in codes]
assert len(seen) == len(set(seen)), ("a status in two classes", classes)
assert set(seen) == documented - {0}, ("not every status classed, or one not documented", documented, classes)
# README: the same three lists
readme = open(sys.argv[2]).read()
m = re.search(r"retry later: ([\d ]+?) ·\s+give up: ([\d ]+?) ·\s+fix first: ([\d ]+?)\.", readme)
assert m, "README.md lists no classes"
got = [{int(n) for n in g.split()} for g in m.groups()]
assert got == [classes["Retry later"], classes["Give up"], classes["Fix first"]], (got, classes)
# the Job: retried, the index failed, the Job failed
job = yaml.safe_load(open(sys.argv[3]))
rules = {r["action"]: set(r["onExitCodes"]["values"]) for r in job["spec"]["podFailurePolicy"]["rules"]}
assert rules == {"Count": classes["Retry later"], "FailIndex": classes["Give up"], "FailJob": classes["Fix first"]}, rules
PY
}
