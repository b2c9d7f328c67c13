#!/usr/bin/env node
/* expect.js OVERLAY [AUTOSCALE_JSON] < rendered.yaml -- what each overlay must contain beyond
 * validity: the runbook names, GPU requests only where GPUs are, the right image variant,
 * Redis durability and ACLs, the consumer group created at deploy time, the autoscaling
 * signals (and, given autoscale_dump's JSON, the same numbers as `llmq up --autoscale`),
 * and a Prometheus Adapter rule for every custom/external metric an HPA names.
 * Prints one line per failed expectation; exit 1 if any. */
'use strict';
const fs = require('fs');
const path = require('path');
const yaml = require(path.join(__dirname, '../../tools/k8s-validate/node_modules/js-yaml'));

const [overlay, dumpPath] = process.argv.slice(2);
const objs = yaml.loadAll(fs.readFileSync(0, 'utf8')).filter(Boolean);
const auto = dumpPath ? JSON.parse(fs.readFileSync(dumpPath, 'utf8')) : null;
const fails = [];
let checks = 0;
const expect = (cond, msg) => { checks++; if (!cond) fails.push(msg); };
const get = (kind, name) => objs.find((o) => o.kind === kind && o.metadata.name === name);
const sorted = (ps) => JSON.stringify([...(ps || [])].map((p) => `${p.type}/${p.value}/${p.periodSeconds}`).sort());

for (const o of objs)
  if (o.kind !== 'Namespace' && !(o.kind === 'ConfigMap' && o.metadata.namespace === 'monitoring'))
    expect(o.metadata.namespace === 'llm', `${o.kind}/${o.metadata.name} not in namespace llm`);
expect(get('Namespace', 'llm'), 'no Namespace llm');
const svc = get('Service', 'llama-api-gateway');
expect(svc && svc.spec.ports.some((p) => p.port === 80), 'Service llama-api-gateway without port 80');
const gw = get('Deployment', 'llama-api-gateway');
const wk = get('Deployment', 'llama-worker-deployment');
expect(gw && wk, 'gateway or worker Deployment missing');
const gwc = gw.spec.template.spec.containers[0];
const wkc = wk.spec.template.spec.containers[0];
expect(get('PodDisruptionBudget', 'llama-api-gateway-pdb'), 'no gateway PodDisruptionBudget');
const ghpa = get('HorizontalPodAutoscaler', 'llama-api-gateway-hpa');
expect(ghpa && ghpa.spec.metrics.some((m) => m.type === 'Resource' && m.resource.name === 'cpu') &&
       ghpa.spec.metrics.some((m) => m.type === 'Pods' && m.pods.metric.name === 'llmq_open_streams'),
       'gateway HPA must scale on CPU and open streams');
/* ConfigMap + Secret as env (runbook) and Secret as files. */
expect(gwc.envFrom.some((e) => e.configMapRef) && gwc.envFrom.some((e) => e.secretRef), 'gateway envFrom ConfigMap + Secret');
expect(gw.spec.template.spec.volumes.some((v) => v.secret && v.secret.secretName === 'llmq-secrets') &&
       gwc.volumeMounts.some((m) => m.name === 'secrets' && m.readOnly), 'llmq-secrets not mounted as files');
/* Redis: StatefulSet + PVC, AOF, noeviction, ACL default off, per-component users. */
const rs = get('StatefulSet', 'llmq-redis');
expect(rs && rs.spec.volumeClaimTemplates && rs.spec.volumeClaimTemplates.length, 'Redis StatefulSet without a PVC');
const conf = (get('ConfigMap', 'llmq-redis-config') || { data: {} }).data['redis.conf'] || '';
expect(/^appendonly yes$/m.test(conf), 'Redis AOF off');
expect(/^maxmemory-policy noeviction$/m.test(conf), 'Redis may evict queue keys');
const args = rs.spec.template.spec.containers[0].args.join(' ');
expect(/--user default off/.test(args), 'Redis default user not disabled');
for (const u of ['gateway', 'worker', 'admin', 'keda']) expect(new RegExp(`--user ${u} on `).test(args), `no Redis ACL user ${u}`);
/* Priority lanes (docs/QUEUE.md): every user that touches the job stream has all three. */
const LANES = ['llmq:jobs:high', 'llmq:jobs', 'llmq:jobs:low'];
const userArgs = (u) => {
  const a = rs.spec.template.spec.containers[0].args;
  const i = a.findIndex((x, k) => x === '--user' && a[k + 1] === u);
  const j = a.indexOf('--user', i + 1);
  return i < 0 ? [] : a.slice(i, j < 0 ? a.length : j);
};
for (const [u, pre] of [['gateway', '~'], ['worker', '~'], ['keda', '%R~']])
  for (const l of LANES) expect(userArgs(u).includes(pre + l), `Redis user ${u} lacks ${pre}${l}`);
/* Consumer groups created at deploy time, one per lane (the Job's loop names them). */
const init = get('Job', 'llmq-queue-init');
const initScript = init ? init.spec.template.spec.containers[0].args.join(' ') : '';
expect(/XGROUP CREATE "\$lane" workers 0 MKSTREAM/.test(initScript) && LANES.every((l) => new RegExp(`for lane in [^;]*\\b${l}(\\s|;)`).test(initScript)),
       'no deploy-time XGROUP CREATE of every lane/workers');
/* Images and GPUs. */
const gpuReq = (c) => ((c.resources || {}).requests || {})['nvidia.com/gpu'];
const gpuLim = (c) => ((c.resources || {}).limits || {})['nvidia.com/gpu'];
expect(/:0\.1\.0$/.test(gwc.image), `gateway image ${gwc.image}`);
if (overlay === 'cpu') {
  expect(/-cpu$/.test(wkc.image), `cpu worker image ${wkc.image}`);
  expect(!JSON.stringify(objs).includes('nvidia.com/gpu'), 'cpu overlay mentions nvidia.com/gpu');
} else {
  expect(/-cuda12$/.test(wkc.image), `gpu worker image ${wkc.image}`);
  expect(String(gpuReq(wkc)) === '1' && String(gpuLim(wkc)) === '1', 'worker must request and limit nvidia.com/gpu: 1');
  expect(wk.spec.template.spec.nodeSelector && wk.spec.template.spec.tolerations.some((t) => t.key === 'nvidia.com/gpu'),
         'worker without GPU nodeSelector/tolerations');
  const cm = get('ConfigMap', 'llmq-worker-config');
  expect(cm.data.LLMQ_ENGINE === 'llama' && cm.data.LLMQ_MODEL, 'gpu worker not on the llama engine with a model');
}
for (const c of objs.filter((o) => o.kind === 'CronJob'))
  expect(/-cpu$/.test(c.spec.jobTemplate.spec.template.spec.containers[0].image), `${c.metadata.name}: CLI image must be the CPU one`);
/* preStop on both long-running llmq containers. */
expect(gwc.lifecycle.preStop && wkc.lifecycle.preStop, 'preStop missing');

/* Autoscaling. */
const hpa = get('HorizontalPodAutoscaler', 'llama-worker-hpa');
const so = get('ScaledObject', 'llama-worker-scaledobject');
const metricNames = [];
if (overlay === 'keda') {
  expect(!hpa, 'keda overlay still has llama-worker-hpa (KEDA creates it)');
  expect(so && so.spec.minReplicaCount === 0, 'ScaledObject cannot scale to zero');
  expect(so.spec.advanced.horizontalPodAutoscalerConfig.name === 'llama-worker-hpa', 'KEDA HPA not named llama-worker-hpa');
  /* KEDA takes the max over triggers: the sizing triggers read totals over all lanes. */
  const prom = (re) => so.spec.triggers.find((t) => t.type === 'prometheus' && re.test(t.metadata.query));
  const lag = prom(/^max\(llmq_queue_lag\{namespace="llm"\}\)$/);
  expect(lag, 'no trigger on the gateway\'s lane-summed max(llmq_queue_lag)');
  expect(lag && lag.metadata.activationThreshold === '0' && (lag.metricType || 'AverageValue') === 'AverageValue',
         'queue-lag trigger: AverageValue, activationThreshold "0" (one waiting job wakes the pool)');
  const pend = prom(/^max\(llmq_queue_pending\{namespace="llm"\}\)$/);
  expect(pend && pend.metadata.activationThreshold === '0', 'no in-flight trigger on max(llmq_queue_pending) with activation 0');
  expect(!so.spec.triggers.some((t) => t.metadata.pendingEntriesCount || t.metadata.streamLength), 'no pendingEntriesCount/streamLength triggers (lag only)');
  /* The Redis-direct wake-up path: one lag trigger per lane, activation 0. */
  for (const l of LANES) {
    const r = so.spec.triggers.find((t) => t.type === 'redis-streams' && t.metadata.stream === l);
    expect(r && r.metadata.consumerGroup === 'workers' && r.metadata.activationLagCount === '0' && r.metadata.lagCount,
           `no redis-streams lag trigger (activationLagCount "0") on ${l}/workers`);
  }
  if (auto) {
    const b = so.spec.advanced.horizontalPodAutoscalerConfig.behavior;
    expect(lag && Number(lag.metadata.threshold) === auto.metrics.queue_lag, `queue-lag threshold ${lag && lag.metadata.threshold} != llmq up ${auto.metrics.queue_lag}`);
    for (const r of so.spec.triggers.filter((t) => t.type === 'redis-streams'))
      expect(Number(r.metadata.lagCount) === auto.metrics.queue_lag, `${r.name}: lagCount != llmq up ${auto.metrics.queue_lag}`);
    expect(pend && Number(pend.metadata.threshold) === auto.metrics.in_flight, 'in-flight trigger != llmq up in_flight target');
    const bt = so.spec.triggers.find((t) => t.type === 'prometheus' && /llmq_queue_backlog_tokens/.test(t.metadata.query));
    expect(bt && Number(bt.metadata.threshold) === auto.metrics.backlog_tokens, 'backlog trigger != llmq up backlog_tokens target');
    for (const d of ['scaleUp', 'scaleDown']) {
      expect(b[d].stabilizationWindowSeconds === auto.behavior[d].stabilizationWindowSeconds, `ScaledObject ${d} window != llmq up`);
      expect(b[d].selectPolicy === auto.behavior[d].selectPolicy, `ScaledObject ${d} selectPolicy != llmq up`);
      expect(sorted(b[d].policies) === sorted(auto.behavior[d].policies), `ScaledObject ${d} policies != llmq up`);
    }
    expect(so.spec.cooldownPeriod === auto.behavior.scaleDown.stabilizationWindowSeconds, 'cooldownPeriod != down window');
  }
} else {
  expect(hpa && hpa.apiVersion === 'autoscaling/v2', 'no autoscaling/v2 llama-worker-hpa');
  const ext = (n) => hpa.spec.metrics.find((m) => m.type === 'External' && m.external.metric.name === n);
  expect(ext('llmq_queue_lag') && ext('llmq_queue_lag').external.target.type === 'AverageValue', 'queue lag per worker: External AverageValue');
  expect(ext('llmq_queue_backlog_tokens'), 'no token-backlog metric');
  if (overlay === 'gpu')
    expect(hpa.spec.metrics.some((m) => m.type === 'Pods' && m.pods.metric.name === 'DCGM_FI_DEV_GPU_UTIL'), 'no GPU utilisation Pods metric');
  if (overlay === 'cpu')
    expect(hpa.spec.metrics.some((m) => m.type === 'Resource' && m.resource.name === 'cpu'), 'no CPU metric on the cpu overlay');
  if (auto) {
    expect(Number(ext('llmq_queue_lag').external.target.averageValue) === auto.metrics.queue_lag, 'HPA lag target != llmq up');
    expect(Number(ext('llmq_queue_backlog_tokens').external.target.averageValue) === auto.metrics.backlog_tokens, 'HPA backlog target != llmq up');
    for (const d of ['scaleUp', 'scaleDown']) {
      const b = hpa.spec.behavior[d];
      expect(b.stabilizationWindowSeconds === auto.behavior[d].stabilizationWindowSeconds, `HPA ${d} window != llmq up`);
      expect(b.selectPolicy === auto.behavior[d].selectPolicy, `HPA ${d} selectPolicy != llmq up`);
      expect(sorted(b.policies) === sorted(auto.behavior[d].policies), `HPA ${d} policies ${sorted(b.policies)} != llmq up ${sorted(auto.behavior[d].policies)}`);
    }
  }
}
/* Every custom/external metric an HPA names has a Prometheus Adapter rule. */
const adapterText = fs.readFileSync(path.join(__dirname, '../../deploy/k8s/monitoring/adapter-config.yaml'), 'utf8');
const adapter = yaml.load(yaml.load(adapterText).data['config.yaml']);
const served = new Set([...adapter.rules.map((r) => r.name.as), ...adapter.externalRules.map((r) => r.name.as)]);
for (const h of objs.filter((o) => o.kind === 'HorizontalPodAutoscaler'))
  for (const m of h.spec.metrics) {
    const n = m.type === 'External' ? m.external.metric.name : m.type === 'Pods' ? m.pods.metric.name : null;
    if (n) expect(served.has(n), `${h.metadata.name}: metric ${n} has no Prometheus Adapter rule`);
  }
for (const r of adapter.externalRules) expect(/^(max|sum)\(/.test(r.metricsQuery), `adapter rule ${r.name.as}: aggregate across gateways`);

for (const f of fails) console.log(`${overlay}: ${f}`);
console.error(`expect ${overlay}: ${checks} checks, ${fails.length} failed`);
process.exit(fails.length ? 1 : 0);
