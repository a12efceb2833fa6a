CREATE TABLE settle_schema (
  component text PRIMARY KEY,
  version   integer NOT NULL
);
CREATE TABLE settle_barrier (
  txn_id           text COLLATE "C" NOT NULL,
  branch_id        integer NOT NULL CHECK (branch_id >= 0),
  state            text NOT NULL
                   CHECK (state IN ('prepared', 'precommitted', 'committed', 'aborted',
                                    'compensating')),
  tombstone        boolean NOT NULL DEFAULT false,
  payload          bytea,
  prepared_micros  bigint,
  updated_micros   bigint NOT NULL,
  decide_by_micros bigint,
  peers            text,
  PRIMARY KEY (txn_id, branch_id)
);
CREATE INDEX settle_barrier_finished ON settle_barrier (updated_micros)
  WHERE state IN ('committed', 'aborted');
CREATE TABLE settle_kv (
  space smallint NOT NULL,
  key   bytea NOT NULL,
  value bytea NOT NULL,
  PRIMARY KEY (space, key)
);
INSERT INTO settle_schema VALUES ('settle_barrier', 1);
