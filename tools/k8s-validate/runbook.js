#!/usr/bin/env node
/* runbook.js -- the original step-by-step runbook as plain per-component files, cut from one
 * overlay's `kubectl kustomize` output, so `kubectl apply -f` of each in turn deploys exactly
 * what the Kustomize overlay does. --write DIR regenerates them; --check DIR fails (exit 1)
 * naming the files that differ. Input: the rendered overlay on stdin. */
'use strict';
const fs = require('fs');
const path = require('path');
const yaml = require('js-yaml');

/* Apply order, and which objects go where (by app.kubernetes.io/component, HPA by name). */
const FILES = ['namespace.yaml', 'redis.yaml', 'gateway.yaml', 'worker-gpu.yaml', 'worker-hpa.yaml'];
function fileFor(o) {
  const comp = ((o.metadata || {}).labels || {})['app.kubernetes.io/component'];
  if (o.kind === 'HorizontalPodAutoscaler' && o.metadata.name === 'llama-worker-hpa') return 'worker-hpa.yaml';
  if (comp === 'platform') return 'namespace.yaml';
  if (comp === 'redis' || comp === 'queue-init' || comp === 'ops') return 'redis.yaml';
  if (comp === 'gateway') return 'gateway.yaml';
  if (comp === 'worker') return 'worker-gpu.yaml';
  throw new Error(`${o.kind}/${o.metadata.name}: no runbook file for component ${comp}`);
}

function split(text, overlay) {
  const out = new Map(FILES.map((f, i) => [f,
    `# ${f} -- step ${i + 1} of ${FILES.length} of the llmq runbook (docs/OPERATIONS.md).\n` +
    `# GENERATED from deploy/k8s/overlays/${overlay} by tools/k8s-validate/runbook.js; do not\n` +
    `# edit: change deploy/k8s and run deploy/k8s/runbook/render.sh (a test checks they agree).\n` +
    `# kubectl apply -f ${FILES.join(', then ')}\n`]));
  const chunks = text.split(/^---\n/m).filter((c) => c.trim());
  for (const c of chunks) {
    const o = yaml.load(c);
    const f = fileFor(o);
    out.set(f, out.get(f) + '---\n' + c);
  }
  return out;
}

const [mode, dir, overlay = 'gpu'] = process.argv.slice(2);
if (!['--write', '--check'].includes(mode) || !dir) {
  console.error('usage: kubectl kustomize deploy/k8s/overlays/gpu | runbook.js --write|--check DIR [overlay]');
  process.exit(2);
}
const files = split(fs.readFileSync(0, 'utf8'), overlay);
let bad = 0;
for (const [f, text] of files) {
  const p = path.join(dir, f);
  if (mode === '--write') fs.writeFileSync(p, text);
  else if (!fs.existsSync(p) || fs.readFileSync(p, 'utf8') !== text) {
    console.log(`${p}: out of date with deploy/k8s/overlays/${overlay} (run deploy/k8s/runbook/render.sh)`);
    bad++;
  }
}
process.exit(bad ? 1 : 0);
