#!/usr/bin/env bash
# Proves the stand-in pulumi-resource-command (tools/toolchain/command) with the real engine:
# builds it, installs it as resource plugin command v1.2.1 into a throwaway PULUMI_HOME, and
# drives a two-resource Node.js program through preview, up, outputs, secrets in the state,
# a no-change preview, an update, a replace, a failing command and destroy.
#
#   bash tools/toolchain/command/prove.sh [PULUMI_BIN_DIR]
#
# PULUMI_BIN_DIR holds the built `pulumi` and `pulumi-language-nodejs`
# (default: /root/.cache/backend-infra/scratch/bin). Needs node_modules (npm ci) in the repo.
# Everything happens in a temp dir outside the repo; it is removed on success.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
PULUMI_BIN="${1:-/root/.cache/backend-infra/scratch/bin}"
[[ -x "$PULUMI_BIN/pulumi" ]] || {
  echo "prove: no pulumi in $PULUMI_BIN" >&2
  exit 2
}
[[ -d "$REPO/node_modules/@pulumi/command" ]] || {
  echo "prove: $REPO/node_modules/@pulumi/command missing (npm ci)" >&2
  exit 2
}

T="$(mktemp -d /tmp/command-standin-prove.XXXXXX)"
PASS=0
ok() {
  PASS=$((PASS + 1))
  printf 'prove: ok   %s\n' "$*"
}
fail() {
  printf 'prove: FAIL %s\n' "$*" >&2
  printf 'prove: work dir kept: %s\n' "$T" >&2
  exit 1
}
want() { # want FILE REGEX WHAT
  grep -Eq -- "$2" "$1" || {
    echo "---- $1" >&2
    tail -n 40 "$1" >&2
    fail "$3 (no match for /$2/ in $1)"
  }
  ok "$3"
}
wantnot() { # wantnot FILE REGEX WHAT
  if grep -Eq -- "$2" "$1"; then
    echo "---- $1" >&2
    grep -En -- "$2" "$1" >&2
    fail "$3 (unexpected /$2/ in $1)"
  fi
  ok "$3"
}
eq() { # eq GOT WANT WHAT
  [[ $1 == "$2" ]] || fail "$3: got '$1', want '$2'"
  ok "$3 ('$1')"
}

# 1. Build the plugin (the same command the toolchain script uses).
command -v go >/dev/null 2>&1 || PATH="/usr/local/go/bin:$PATH"
mkdir -p "$T/bin"
(cd "$HERE" && GOTOOLCHAIN=local GOWORK=off GOFLAGS=-mod=readonly CGO_ENABLED=0 \
  go build -trimpath -ldflags "-s -w" -o "$T/bin/pulumi-resource-command" .)
eq "$("$T/bin/pulumi-resource-command" -version)" "1.2.1" "plugin reports version"

export PATH="$PULUMI_BIN:$PATH"
export PULUMI_HOME="$T/home" PULUMI_CONFIG_PASSPHRASE=test PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true
unset PULUMI_ACCESS_TOKEN PULUMI_BACKEND_URL

pulumi plugin install resource command 1.2.1 --file "$T/bin/pulumi-resource-command" >"$T/install.log" 2>&1 ||
  fail "pulumi plugin install (see $T/install.log)"
pulumi plugin ls >"$T/plugins.log" 2>&1
want "$T/plugins.log" 'command +resource +1\.2\.1' "plugin installed as resource command v1.2.1"

# 2. The program.
P="$T/project"
mkdir -p "$P" "$T/state"
ln -s "$REPO/node_modules" "$P/node_modules"
cat >"$P/Pulumi.yaml" <<'EOF'
name: command-standin-proof
runtime:
  name: nodejs
  options:
    typescript: false
main: index.js
EOF
cat >"$P/index.js" <<'EOF'
"use strict";
const pulumi = require("@pulumi/pulumi");
const command = require("@pulumi/command");

const config = new pulumi.Config();
const marker = config.require("marker"); // every command appends what it did here

const first = new command.local.Command("first", {
    create: 'printf "create:%s:len=%s" "$GREETING" "$(cat | wc -c | tr -d " ")"; echo "cwd=$(pwd)" >&2; echo "create:$GREETING" >>"$MARKER"',
    update: 'printf "update:%s:len=%s" "$GREETING" "$(cat | wc -c | tr -d " ")"; echo "update:$GREETING:prev=$PULUMI_COMMAND_STDOUT" >>"$MARKER"',
    delete: 'echo "delete:prev=$PULUMI_COMMAND_STDOUT" >>"$MARKER"',
    environment: { GREETING: config.require("greeting"), MARKER: marker },
    stdin: config.requireSecret("stdinSecret"),
    triggers: [config.require("trigger")],
});

// No `update`: an update runs `create` again (with the previous stdout in the environment).
const second = new command.local.Command("second", {
    create: pulumi.interpolate`echo "second saw [${first.stdout}]"; echo "second:prev=$PULUMI_COMMAND_STDOUT" >>"$MARKER"`,
    environment: { MARKER: marker },
    logging: "none",
});

if (config.getBoolean("fail")) {
    new command.local.Command("failing", { create: "echo boom-on-stderr >&2; exit 3" });
}

exports.firstStdout = first.stdout;
exports.firstStderr = first.stderr;
exports.firstStdin = first.stdin;
exports.secondStdout = second.stdout;
EOF

SECRET="s3cr3t-$RANDOM-value"
MARK="$T/marker.log"
cd "$P"
pulumi login "file://$T/state" >/dev/null
pulumi stack init dev >/dev/null
pulumi config set marker "$MARK"
pulumi config set greeting one
pulumi config set trigger t1
pulumi config set --secret stdinSecret "$SECRET"
PULUMI=(pulumi --non-interactive --color never)

# 3. preview: two creates, nothing runs.
"${PULUMI[@]}" preview --diff >"$T/preview1.log" 2>&1 || fail "preview (see $T/preview1.log)"
want "$T/preview1.log" '\+ +command:local:Command first create|\+ command:local:Command: \(create\)' "preview: first will be created"
want "$T/preview1.log" '3 to create' "preview: stack + 2 commands to create"
[[ ! -e $MARK ]] || fail "preview ran a command ($MARK exists)"
ok "preview ran no command"

# 4. up.
PULUMI_DEBUG_COMMANDS=true "${PULUMI[@]}" up --yes --skip-preview --event-log "$T/up1.events" >"$T/up1.log" 2>&1 || fail "up (see $T/up1.log)"
want "$T/up1.log" '3 created' "up: 3 created"
LEN=${#SECRET}
eq "$(pulumi stack output firstStdout)" "create:one:len=$LEN" "first.stdout (env + secret stdin reached the command)"
eq "$(pulumi stack output firstStderr)" "cwd=$P" "first.stderr: default dir is the project directory, trailing newline trimmed"
eq "$(pulumi stack output secondStdout)" "second saw [create:one:len=$LEN]" "second.stdout depends on first.stdout"
eq "$(pulumi stack output firstStdin)" "[secret]" "first.stdin output is secret"
eq "$(pulumi stack output firstStdin --show-secrets)" "$SECRET" "first.stdin --show-secrets"
eq "$(tr '\n' ' ' <"$MARK")" "create:one second:prev= " "up ran create once per resource"
# logging: lines streamed to the engine as ephemeral status messages (default stdoutAndStderr);
# second has logging "none".
want "$T/up1.events" '"urn":"[^"]*::first","message":"[^"]*cwd=[^"]*","color":"never","severity":"info","ephemeral":true' \
  "first's output streamed to the engine as an ephemeral info message for its URN"
wantnot "$T/up1.events" '"message":"second saw' "second (logging: none) streamed nothing"

# 5. the state: stdin is ciphertext, the plaintext appears nowhere.
pulumi stack export >"$T/export1.json"
wantnot "$T/export1.json" "$SECRET" "stack export holds no plaintext of the secret"
node -e '
const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const r = d.deployment.resources.find(r => r.type === "command:local:Command" && r.urn.endsWith("::first"));
for (const where of ["inputs", "outputs"]) {
  const v = r[where].stdin;
  if (!v || v["4dabf18193072939515e22adb298388d"] !== "1b47061264138c4ac30d75fd1eb44270" || !v.ciphertext) {
    console.error(where + ".stdin is not a secret ciphertext: " + JSON.stringify(v)); process.exit(1);
  }
}
if (r.outputs.addPreviousOutputInEnv !== true) { console.error("no addPreviousOutputInEnv default"); process.exit(1); }
if (!/^first[0-9a-f]{8}$/.test(r.id)) { console.error("unexpected id " + r.id); process.exit(1); }
' "$T/export1.json" || fail "state check (see $T/export1.json)"
ok "state: first.stdin (inputs and outputs) is ciphertext; addPreviousOutputInEnv=true; id first<8 hex>"

# 6. nothing changed: no diff.
"${PULUMI[@]}" preview --expect-no-changes >"$T/preview2.log" 2>&1 || fail "preview --expect-no-changes (see $T/preview2.log)"
ok "preview --expect-no-changes passes"

# 7. environment change: an update that runs `update` with PULUMI_COMMAND_STDOUT = previous stdout.
pulumi config set greeting two
"${PULUMI[@]}" preview --diff >"$T/preview3.log" 2>&1 || fail "preview (see $T/preview3.log)"
want "$T/preview3.log" '~ +command:local:Command: \(update\)|~ command:local:Command first update' "preview: environment change is an update"
wantnot "$T/preview3.log" 'replace' "preview: environment change is not a replace"
"${PULUMI[@]}" up --yes --skip-preview >"$T/up2.log" 2>&1 || fail "up (see $T/up2.log)"
want "$T/up2.log" '2 updated' "up: first and second updated"
eq "$(pulumi stack output firstStdout)" "update:two:len=$LEN" "first.stdout after update"
eq "$(sed -n 3p "$MARK")" "update:two:prev=create:one:len=$LEN" "update ran \`update\` with PULUMI_COMMAND_STDOUT=previous stdout"
eq "$(sed -n 4p "$MARK")" "second:prev=second saw [create:one:len=$LEN]" "second (no \`update\`) re-ran \`create\` with its previous stdout"
eq "$(pulumi stack output secondStdout)" "second saw [update:two:len=$LEN]" "second.stdout follows first"

# 8. triggers change: a replace (create the new one, then delete the old one).
pulumi config set trigger t2
"${PULUMI[@]}" preview --diff >"$T/preview4.log" 2>&1 || fail "preview (see $T/preview4.log)"
want "$T/preview4.log" '\+- +command:local:Command: \(replace\)|\+-command:local:Command first replace|1 to replace' "preview: triggers change is a replace"
"${PULUMI[@]}" up --yes --skip-preview >"$T/up3.log" 2>&1 || fail "up (see $T/up3.log)"
want "$T/up3.log" '1 replaced' "up: first replaced"
eq "$(sed -n 5p "$MARK")" "create:two" "replace ran \`create\` for the new resource"
want "$MARK" "^delete:prev=update:two:len=$LEN\$" "replace ran \`delete\` for the old one with its stdout"
eq "$(pulumi stack output firstStdout)" "create:two:len=$LEN" "first.stdout after replace"

# 9. a failing command fails the step with its output in the error.
pulumi config set fail true
if "${PULUMI[@]}" up --yes --skip-preview >"$T/up4.log" 2>&1; then fail "up with a failing command succeeded"; fi
want "$T/up4.log" 'exit status 3: running "echo boom-on-stderr >&2; exit 3"' "failing command: error names exit status and command"
want "$T/up4.log" 'boom-on-stderr' "failing command: error carries the command's output"
pulumi config rm fail
"${PULUMI[@]}" preview --expect-no-changes >"$T/preview5.log" 2>&1 || fail "preview after the failure (see $T/preview5.log)"
ok "the failed create left nothing in the state"

# 10. destroy runs `delete`.
"${PULUMI[@]}" destroy --yes --skip-preview >"$T/destroy.log" 2>&1 || fail "destroy (see $T/destroy.log)"
want "$T/destroy.log" '3 deleted' "destroy: 3 deleted"
eq "$(tail -n 1 "$MARK")" "delete:prev=create:two:len=$LEN" "destroy ran \`delete\` with PULUMI_COMMAND_STDOUT"

echo "prove: marker log of every command run:"
sed 's/^/    /' "$MARK"
cd /
rm -rf "$T"
echo "prove: all $PASS checks passed"
