#!/usr/bin/env node
/* podspec.js RENDER KIND/NAME CONTAINER env|args|probes -- what the kubelet would hand one
 * container of a rendered manifest, for running the real binaries outside a cluster:
 *   env     NAME=VALUE lines: envFrom ConfigMaps and Secrets, then env (valueFrom resolved,
 *           $(VAR) expanded as the kubelet does). Placeholder secrets CHANGE_ME_x -> test-x.
 *   args    the args, one per line, $(VAR) expanded from that env.
 *   probes  "<probe> <path> <containerPort>" lines for httpGet probes. */
'use strict';
const fs = require('fs');
const path = require('path');
const yaml = require(path.join(__dirname, '../../tools/k8s-validate/node_modules/js-yaml'));

const [file, ref, cname, what] = process.argv.slice(2);
const objs = yaml.loadAll(fs.readFileSync(file, 'utf8')).filter(Boolean);
const [kind, name] = ref.split('/');
const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
if (!o) { console.error(`podspec: no ${ref}`); process.exit(2); }
const spec = kind === 'CronJob' ? o.spec.jobTemplate.spec.template.spec : o.spec.template.spec;
const c = spec.containers.find((x) => x.name === cname);
if (!c) { console.error(`podspec: ${ref} has no container ${cname}`); process.exit(2); }
const find = (k, n) => objs.find((x) => x.kind === k && x.metadata.name === n);
const testValue = (v) => String(v).replace(/^CHANGE_ME_(.*)$/, 'test-$1');
const data = (x) => Object.fromEntries(Object.entries({ ...(x.data || {}), ...(x.stringData || {}) }).map(([k, v]) => [k, testValue(v)]));
const expand = (s, env) => String(s).replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, v) => (v in env ? env[v] : m));

const env = {};
for (const ef of c.envFrom || []) {
  const src = ef.configMapRef ? find('ConfigMap', ef.configMapRef.name) : find('Secret', ef.secretRef.name);
  Object.assign(env, data(src));
}
for (const e of c.env || []) {
  if (e.value !== undefined) env[e.name] = expand(e.value, env);
  else if (e.valueFrom && e.valueFrom.secretKeyRef) env[e.name] = data(find('Secret', e.valueFrom.secretKeyRef.name))[e.valueFrom.secretKeyRef.key];
  else if (e.valueFrom && e.valueFrom.configMapKeyRef) env[e.name] = data(find('ConfigMap', e.valueFrom.configMapKeyRef.name))[e.valueFrom.configMapKeyRef.key];
}
if (what === 'env') for (const [k, v] of Object.entries(env)) console.log(`${k}=${v}`);
else if (what === 'args') for (const a of c.args || []) console.log(expand(a, env));
else if (what === 'probes') {
  for (const p of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
    const g = c[p] && c[p].httpGet;
    if (!g) continue;
    const port = typeof g.port === 'number' ? g.port : (c.ports.find((x) => x.name === g.port) || {}).containerPort;
    console.log(`${p} ${g.path} ${port}`);
  }
} else { console.error('podspec: want env|args|probes'); process.exit(2); }
