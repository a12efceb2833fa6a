// Checks deploy/k8s/*.yaml without a cluster: every object against Kubernetes' own schemas
// (kubernetes-models from npm: types, required fields, enums and formats of each API version;
// unknown fields are not reported), then Settle's shard rules, which no schema knows:
//   - the coordinators' StatefulSet has a headless Service of its serviceName, SETTLE_SHARD from
//     the pod's name, SETTLE_SHARDS equal to replicas, a preStop hook that runs `settle drain`
//     within the grace period, pod anti-affinity, a volume per pod and a PodDisruptionBudget;
//   - every SETTLE_COORDINATOR lists exactly those shards by their DNS names.
// Then it breaks copies of the manifests in ways it must catch, to show that it can fail.
//   node tests/k8s/check_manifests.mjs [deploy/k8s]
import * as fs from "node:fs";
import * as path from "node:path";
import { parseAllDocuments } from "yaml";

const dir = process.argv[2] ?? path.join(path.dirname(new URL(import.meta.url).pathname), "../../deploy/k8s");

function load(folder) {
  const docs = [];
  for (const file of fs.readdirSync(folder).filter((f) => f.endsWith(".yaml")).sort()) {
    for (const doc of parseAllDocuments(fs.readFileSync(path.join(folder, file), "utf8"))) {
      if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0].message}`);
      const obj = doc.toJS();
      if (obj) docs.push({ file, obj });
    }
  }
  return docs;
}

// Kubernetes' schema of the object's apiVersion and kind.
async function schemaErrors({ file, obj }) {
  const [group, version] = obj.apiVersion.includes("/") ? obj.apiVersion.split("/") : [null, obj.apiVersion];
  const module = `kubernetes-models/${group ? group + "/" : ""}${version}/${obj.kind}`;
  let Model;
  try {
    Model = (await import(module))[obj.kind];
  } catch {
    return [`${file}: ${obj.kind} ${obj.metadata?.name}: no schema for ${obj.apiVersion} ${obj.kind}`];
  }
  try {
    new Model(obj).validate();
    return [];
  } catch (e) {
    return [`${file}: ${obj.kind} ${obj.metadata?.name}: ${e.message}`];
  }
}

function envOf(container, name) {
  return (container.env ?? []).find((e) => e.name === name);
}

function shardRules(docs) {
  const errors = [];
  const of = (kind) => docs.filter((d) => d.obj.kind === kind).map((d) => d.obj);
  const sets = of("StatefulSet").filter((s) => s.metadata.name === "settle-coordinator");
  if (sets.length !== 1) return ["no StatefulSet settle-coordinator"];
  const set = sets[0];
  const replicas = set.spec.replicas ?? 1;
  const labels = set.spec.template.metadata.labels;
  const matches = (selector) => Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);
  const service = of("Service").find((s) => s.metadata.name === set.spec.serviceName);
  if (!service || service.spec.clusterIP !== "None" || !matches(service.spec.selector)) {
    errors.push(`serviceName ${set.spec.serviceName}: needs a headless Service (clusterIP: None) selecting the shards`);
  }
  const c = set.spec.template.spec.containers.find((x) => x.name === "coordinator");
  if (!c) return errors.concat("the StatefulSet has no container named coordinator");
  if (envOf(c, "SETTLE_SHARD")?.valueFrom?.fieldRef?.fieldPath !== "metadata.name") {
    errors.push("SETTLE_SHARD must come from metadata.name (settle-coordinator-N is shard sN)");
  }
  if (envOf(c, "SETTLE_SHARDS")?.value !== String(replicas)) {
    errors.push(`SETTLE_SHARDS is ${envOf(c, "SETTLE_SHARDS")?.value}, replicas ${replicas}: they must be equal`);
  }
  const preStop = c.lifecycle?.preStop?.exec?.command ?? [];
  const wait = /--wait=(\d+)s/.exec(preStop.join(" "));
  const grace = set.spec.template.spec.terminationGracePeriodSeconds ?? 30;
  if (preStop[0] !== "settle" || preStop[1] !== "drain" || !wait) {
    errors.push("the preStop hook must run `settle drain ... --wait=<N>s`");
  } else if (Number(wait[1]) >= grace) {
    errors.push(`the drain waits ${wait[1]}s, not less than terminationGracePeriodSeconds ${grace}`);
  }
  const anti = set.spec.template.spec.affinity?.podAntiAffinity;
  const terms = [...(anti?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((t) => t.podAffinityTerm),
    ...(anti?.requiredDuringSchedulingIgnoredDuringExecution ?? [])];
  if (!terms.some((t) => matches(t.labelSelector?.matchLabels))) {
    errors.push("the shards need pod anti-affinity on their own labels");
  }
  const mount = (c.volumeMounts ?? []).map((m) => m.name);
  if (!(set.spec.volumeClaimTemplates ?? []).some((t) => mount.includes(t.metadata.name))) {
    errors.push("each shard needs its own volume (a volumeClaimTemplate the container mounts)");
  }
  if (!of("PodDisruptionBudget").some((p) => matches(p.spec.selector?.matchLabels) && p.spec.maxUnavailable === 1)) {
    errors.push("a PodDisruptionBudget with maxUnavailable: 1 must select the shards");
  }
  const list = `${set.metadata.name}-{0..${replicas - 1}}.${set.spec.serviceName}:7070`;
  for (const { file, obj } of docs) {
    for (const x of obj.spec?.template?.spec?.containers ?? []) {
      const e = envOf(x, "SETTLE_COORDINATOR");
      if (e && e.value !== list) errors.push(`${file}: ${obj.metadata.name}: SETTLE_COORDINATOR is ${e.value}, not ${list}`);
    }
  }
  return errors;
}

async function check(docs) {
  const errors = [];
  for (const d of docs) errors.push(...(await schemaErrors(d)));
  return errors.concat(shardRules(docs));
}

const docs = load(dir);
const errors = await check(docs);
for (const e of errors) console.error("FAIL: " + e);
if (errors.length) process.exit(1);

// The check must catch what it claims to: each broken copy must fail it.
const broken = {
  "replicas of the wrong type": (o) => o.kind === "StatefulSet" && (o.spec.replicas = "four"),
  "one shard more than SETTLE_SHARDS": (o) => o.kind === "StatefulSet" && (o.spec.replicas += 1),
  "a participant listing three shards": (o) => {
    for (const c of o.spec?.template?.spec?.containers ?? []) {
      const e = envOf(c, "SETTLE_COORDINATOR");
      if (e) e.value = e.value.replace(/\{0\.\.\d+\}/, "{0..2}");
    }
  },
  "no preStop drain": (o) => o.kind === "StatefulSet" && delete o.spec.template.spec.containers[0].lifecycle,
  "no PodDisruptionBudget": (o) => o.kind === "PodDisruptionBudget" && (o.kind = "ConfigMap"),
};
for (const [what, breakIt] of Object.entries(broken)) {
  const copy = docs.map(({ file, obj }) => ({ file, obj: structuredClone(obj) }));
  copy.forEach(({ obj }) => breakIt(obj));
  if ((await check(copy)).length === 0) {
    console.error(`FAIL: the check passed manifests with ${what}`);
    process.exit(1);
  }
}
console.log(`deploy/k8s: ${docs.length} objects valid against Kubernetes' schemas; shard rules hold; ` +
  `${Object.keys(broken).length} broken copies caught`);
