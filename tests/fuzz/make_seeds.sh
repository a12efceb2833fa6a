#!/usr/bin/env bash
# Writes the fuzzers' seed corpus (tests/fuzz/corpus/<target>/) from text protos with protoc:
# one valid example of each input kind, so fuzzing starts deep. Each file is a selector byte or
# two (see the target) and the encoded message. Run from the repository root after a change
# to the messages; the corpus is kept in the tree.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=tests/fuzz/corpus
rm -rf "$out"; mkdir -p "$out"/{coordinator_fuzz,participant_fuzz,records_fuzz}
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
echo "seeds: $(find "$out" -type f | wc -l) files"
