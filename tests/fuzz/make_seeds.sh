#!/usr/bin/env bash
# Writes the fuzzers' seed corpus (tests/fuzz/corpus/<target>/) from text protos with protoc:
# one valid example of each input kind, so fuzzing starts deep. Each file is a selector byte or
# two (see the target) and the encoded message. Run from the repository root after a change
# to the messages; the corpus is kept in the tree.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=tests/fuzz/corpus
rm -rf "$out"; mkdir -p "$out"/{coordinator_fuzz,participant_fuzz,records_fuzz,http_fuzz}
inc=(-I proto -I storage -I /usr/include)
# seed FILE SELECTOR_HEX PROTO_FILE MESSAGE TEXT
seed() {
  { printf "$2"; printf '%s' "$5" | protoc "${inc[@]}" --encode="$4" "$3"; } > "$1"
}
c=$out/coordinator_fuzz
seed $c/execute '\x00' settle/v1/coordinator.proto settle.v1.ExecuteRequest \
  'idempotency_key: "k-1" mode: MODE_TWO_PHASE timeout { seconds: 30 }
   branches { participant: "balance" payload: "\x0a\x0b\x0a\x05alice\x10\xce\x01" }
   branches { participant: "ledger" payload: "x" }'
seed $c/saga '\x00' settle/v1/coordinator.proto settle.v1.ExecuteRequest \
  'idempotency_key: "k-2" mode: MODE_SAGA timeout { seconds: 1 nanos: 5 }
   branches { participant: "gateway" step: 0 } branches { participant: "ledger" step: 1 }'
seed $c/list '\x01' settle/v1/coordinator.proto settle.v1.ListTransactionsRequest \
  'page_size: 10 states: TXN_STATE_COMMITTED participant: "balance"'
seed $c/register '\x02' settle/v1/coordinator.proto settle.v1.RegisterParticipantRequest \
  'name: "balance" endpoint: "127.0.0.1:7071"'
seed $c/duration '\x03' google/protobuf/duration.proto google.protobuf.Duration \
  'seconds: -5 nanos: 999999999'
printf '\x04ops.example operator\nCN=x caller,operator\n\0ops 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n' > $c/roles
printf '\x05audit/00000000001800000000-00000000000000000001' > $c/page_token
printf '\x06settle-coordinator-{0..3}.settle-coordinator:7070' > $c/shards
seed $c/get '\x06' settle/v1/coordinator.proto settle.v1.GetTransactionRequest 'txn_id: "s0-0000000000000001"'
p=$out/participant_fuzz
txn='txn_id: "s0-0000000000000001" branch_id: 0'
seed $p/balance_prepare '\x00\x00' settle/v1/participant.proto settle.v1.PrepareRequest \
  "$txn participant: \"balance\" deadline { seconds: 4000000000 }
   payload: \"\\x0a\\x0b\\x0a\\x05alice\\x10\\xce\\x01\""
seed $p/ledger_prepare '\x01\x00' settle/v1/participant.proto settle.v1.PrepareRequest \
  "$txn participant: \"ledger\" deadline { seconds: 4000000000 } payload: \"x\""
seed $p/commit '\x00\x01' settle/v1/participant.proto settle.v1.CommitRequest "$txn"
seed $p/abort '\x02\x02' settle/v1/participant.proto settle.v1.AbortRequest "$txn"
seed $p/act '\x03\x03' settle/v1/participant.proto settle.v1.StepRequest \
  "$txn participant: \"gateway\" deadline { seconds: 4000000000 }"
seed $p/compensate '\x03\x04' settle/v1/participant.proto settle.v1.StepRequest "$txn"
seed $p/precommit '\x00\x05' settle/v1/participant.proto settle.v1.PreCommitRequest "$txn"
seed $p/state '\x00\x06' settle/v1/participant.proto settle.v1.BranchStateRequest "$txn"
seed $p/planted_barrier "\\x00\\xf0" records.proto settle.storage.BarrierRecord \
  'state: BARRIER_PREPARED payload: "\x0a\x0b\x0a\x05alice\x10\xce\x01" prepared_micros: 1
   three_phase_timeout_micros: 5000000 peers { branch_id: 1 endpoint: "127.0.0.1:1" }'
r=$out/records_fuzz
seed $r/committing "" records.proto settle.storage.TxnRecord \
  'txn_id: "s0-0000000000000001" idempotency_key: "k" mode: MODE_RECORD_TWO_PHASE
   state: TXN_COMMITTING refused_branch: -1 begin_micros: 1 deadline_micros: 2
   branches { participant: "balance" payload: "p" state: BRANCH_PREPARED }
   branches { participant: "ledger" state: BRANCH_COMMITTED }'
seed $r/compensating "" records.proto settle.storage.TxnRecord \
  'txn_id: "s0-0000000000000002" mode: MODE_RECORD_SAGA state: TXN_COMPENSATING saga_step: 1
   refused_branch: 1 branches { participant: "gateway" step: 0 state: BRANCH_COMMITTED }
   branches { participant: "ledger" step: 1 state: BRANCH_REFUSED voted_no: true }
   operator_actions { action: "retry" who: "ops" micros: 5 }'
seed $r/precommitting "" records.proto settle.storage.TxnRecord \
  'txn_id: "s0-0000000000000003" mode: MODE_RECORD_THREE_PHASE state: TXN_PRECOMMITTING
   three_phase_timeout_micros: 5000000 refused_branch: -1
   branches { participant: "a" state: BRANCH_PREPARED } branches { participant: "b" state: BRANCH_PRECOMMITTED }'
# http_fuzz: whole requests as a client sends them. request FILE METHOD PATH BODY [HEADER...]
request() {
  local file=$1 method=$2 path=$3 body=$4 header
  shift 4
  {
    printf '%s %s HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n' "$method" "$path"
    for header in "$@"; do printf '%s\r\n' "$header"; done
    printf 'Content-Length: %d\r\n\r\n%s' "${#body}" "$body"
  } > "$file"
}
h=$out/http_fuzz
request $h/execute POST /settle.v1.Coordinator/Execute \
  '{"idempotencyKey": "k-1", "timeout": "5s", "mode": "MODE_SAGA", "branches": [{"participant": "balance", "payload": "AAEC", "step": 0}]}' \
  'Content-Type: application/json'
request $h/list POST /settle.v1.Coordinator/ListTransactions \
  '{"states": ["TXN_STATE_NEEDS_ATTENTION"], "beginAfter": "2026-12-07T06:00:00Z", "pageSize": 50, "stuckOnly": true}' \
  'Content-Type: application/json; charset=utf-8' 'Origin: http://127.0.0.1:8080'
request $h/resolve POST /settle.v1.Coordinator/ResolveTransaction \
  '{"txn_id": "s0-000662051e6f5f35", "operator": "ops", "reason": "<b>x</b>"}' \
  'Content-Type: application/json' 'Authorization: Bearer abc' 'Origin: https://evil.example'
request $h/console GET /console/console.js '' 'Accept: */*'
request $h/form POST /settle.v1.Registry/RegisterParticipant 'name=a&endpoint=b' \
  'Content-Type: application/x-www-form-urlencoded' 'Transfer-Encoding: chunked'
echo "seeds: $(find "$out" -type f | wc -l) files"
