#!/usr/bin/env node
/* mutations.js [--schemas DIR] < rendered.yaml -- proves the validator catches what it
 * claims to: takes a clean render (must have no findings), breaks it one way at a time
 * (a misspelled field, a wrong type, a latest tag, a missing securityContext field, an RBAC
 * wildcard, a GPU Resource metric, ...) and expects a finding naming the problem each time. */
'use strict';
const fs = require('fs');
const path = require('path');
const v = require(path.join(__dirname, '../../tools/k8s-validate/validate.js'));
const yaml = require(path.join(__dirname, '../../tools/k8s-validate/node_modules/js-yaml'));

const argv = process.argv.slice(2);
const dir = argv[0] === '--schemas' ? argv[1] : null;
const schemas = dir ? v.loadSchemas(dir) : null;
const base = yaml.loadAll(fs.readFileSync(0, 'utf8')).filter(Boolean);
const findings = (objs) => [
  ...(schemas ? objs.flatMap((o) => v.validateSchema(o, schemas).map((e) => `${o.kind}/${o.metadata.name}: ${e.path}: ${e.msg}`)) : []),
  ...v.policy(objs).map((e) => `${e.obj.kind}/${e.obj.metadata.name}: ${e.path}: ${e.msg}`)];
const pick = (objs, kind, name) => objs.find((o) => o.kind === kind && (!name || o.metadata.name === name));
const gw = (objs) => pick(objs, 'Deployment', 'llama-api-gateway');
const gwc = (objs) => gw(objs).spec.template.spec.containers[0];

/* [name, needs schemas, expected substring, mutate(objs)] */
const cases = [
  ['misspelled field', true, 'unknown field', (o) => { gwc(o).imagePullPolicyy = 'Always'; }],
  ['misspelled field in a CRD', true, 'unknown field', (o) => { const so = pick(o, 'ScaledObject'); if (!so) return 'skip'; so.spec.minReplicas = 0; }],
  ['misspelled HPA behavior field', true, 'unknown field', (o) => { pick(o, 'HorizontalPodAutoscaler').spec.behavior.scaleUp.stabilisationWindowSeconds = 0; }],
  ['duplicate env name', true, 'duplicate name', (o) => { gwc(o).env.push({ name: gwc(o).env[0].name, value: 'x' }); }],
  ['duplicate container port', true, 'duplicate containerPort+protocol', (o) => { gwc(o).ports.push({ name: 'http2', containerPort: 8000, protocol: 'TCP' }); }],
  ['wrong type', true, 'expected integer', (o) => { gwc(o).ports[0].containerPort = '8000'; }],
  ['wrong enum (API-server check)', false, 'not one of', (o) => { pick(o, 'HorizontalPodAutoscaler').spec.behavior.scaleUp.selectPolicy = 'Maximum'; }],
  ['missing required', true, 'missing required field "name"', (o) => { delete pick(o, 'HorizontalPodAutoscaler').spec.scaleTargetRef.name; }],
  ['latest tag', false, 'not latest', (o) => { gwc(o).image = 'ghcr.io/llmq/llmq-gateway:latest'; }],
  ['untagged image', false, 'version tag', (o) => { gwc(o).image = 'ghcr.io/llmq/llmq-gateway'; }],
  ['writable root fs', false, 'readOnlyRootFilesystem', (o) => { delete gwc(o).securityContext.readOnlyRootFilesystem; }],
  ['privilege escalation', false, 'allowPrivilegeEscalation', (o) => { gwc(o).securityContext.allowPrivilegeEscalation = true; }],
  ['capabilities kept', false, 'must include ALL', (o) => { delete gwc(o).securityContext.capabilities; }],
  ['root allowed', false, 'runAsNonRoot', (o) => { delete gw(o).spec.template.spec.securityContext.runAsNonRoot; }],
  ['no seccomp', false, 'seccompProfile', (o) => { delete gw(o).spec.template.spec.securityContext.seccompProfile; }],
  ['hostPath', false, 'volume type hostPath', (o) => { gw(o).spec.template.spec.volumes.push({ name: 'h', hostPath: { path: '/' } }); }],
  ['no limits', false, 'resources.limits.memory', (o) => { delete gwc(o).resources.limits.memory; }],
  ['no probe', false, 'livenessProbe', (o) => { delete gwc(o).livenessProbe; }],
  ['grace < preStop + drain', false, 'preStop', (o) => { gw(o).spec.template.spec.terminationGracePeriodSeconds = 20; }],
  ['no default deny', false, 'default-deny', (o) => { o.splice(o.indexOf(pick(o, 'NetworkPolicy', 'llmq-default-deny')), 1); }],
  ['RBAC wildcard', false, 'RBAC wildcard', (o) => { pick(o, 'Role').rules[0].verbs = ['*']; }],
  ['token mounted', false, 'automountServiceAccountToken', (o) => { delete gw(o).spec.template.spec.automountServiceAccountToken; }],
  ['SA token', false, 'automountServiceAccountToken', (o) => { pick(o, 'ServiceAccount', 'llmq-worker').automountServiceAccountToken = true; }],
  ['GPU as Resource metric', false, 'only cpu and memory', (o) => {
    const h = pick(o, 'HorizontalPodAutoscaler', 'llama-api-gateway-hpa');
    h.spec.metrics.push({ type: 'Resource', resource: { name: 'nvidia.com/gpu', target: { type: 'Utilization', averageUtilization: 80 } } }); }],
  ['PSS label', false, 'restricted', (o) => { pick(o, 'Namespace').metadata.labels['pod-security.kubernetes.io/enforce'] = 'baseline'; }],
  ['Service selects nothing', false, 'selects no pod', (o) => { pick(o, 'Service', 'llama-api-gateway').spec.selector = { app: 'nope' }; }],
  ['missing Secret key', false, 'has no key', (o) => { gwc(o).env[0].valueFrom.secretKeyRef.key = 'nope'; }],
  ['replicas under an HPA', false, 'owns the count', (o) => { gw(o).spec.replicas = 3; }],
  ['GPU limit without request', false, 'limited but not requested', (o) => { gwc(o).resources.limits['nvidia.com/gpu'] = '1'; }],
  ['default ServiceAccount', false, 'default ServiceAccount', (o) => { delete gw(o).spec.template.spec.serviceAccountName; }],
  ['bad quantity', false, 'bad quantity', (o) => { gwc(o).resources.requests.memory = '128MB'; }],
  ['wrong KEDA behavior enum', false, 'not one of', (o) => { const so = pick(o, 'ScaledObject'); if (!so) return 'skip'; so.spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.policies[0].type = 'Replicas'; }],
  ['credential in trigger', false, 'credential', (o) => { const so = pick(o, 'ScaledObject'); if (!so) return 'skip'; so.spec.triggers[0].metadata.password = 'x'; }],
];

let passed = 0, failed = 0, skipped = 0;
const clean = findings(base);
if (clean.length) { console.log('clean render has findings:\n  ' + clean.join('\n  ')); failed++; }
for (const [name, needsSchemas, want, mutate] of cases) {
  if (needsSchemas && !schemas) { skipped++; continue; }
  const objs = JSON.parse(JSON.stringify(base));
  if (mutate(objs) === 'skip') { skipped++; continue; }
  const got = findings(objs);
  if (got.some((f) => f.includes(want))) passed++;
  else { failed++; console.log(`mutation "${name}": no finding containing "${want}"; got: ${got.join(' | ') || 'none'}`); }
}
console.error(`mutations: ${passed} caught, ${failed} missed, ${skipped} skipped`);
process.exit(failed ? 1 : 0);
