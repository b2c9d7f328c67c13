#!/usr/bin/env node
/* validate.js -- offline checks of rendered Kubernetes manifests (kubectl kustomize output):
 * 1. schema: every object against the Kubernetes OpenAPI schemas (and CRD schemas) in a
 *    directory, STRICT: an object schema listing `properties` without `additionalProperties`
 *    is closed (unless x-kubernetes-preserve-unknown-fields), so misspelled fields fail as
 *    they would on an API server with strict field validation; types, enums, required, and
 *    unique keys in list-type map/set lists (two env vars or ports with the same key).
 * 2. --policy: what schemas cannot say: Pod Security "restricted" on every pod, requests and
 *    limits, probes on long-running containers, default-deny NetworkPolicy, no RBAC
 *    wildcard, no ServiceAccount token where none is needed, no `latest` images, and links
 *    between objects (selectors, Services, HPA/PDB/ScaledObject targets, Secrets, ConfigMaps,
 *    grace period >= preStop + drain timeout, HPA never names nvidia.com/gpu as a Resource).
 * It does not talk to a cluster. Usage: validate.js [--schemas DIR] [--policy] [--json] FILE|-...
 * Exit 0: clean; 1: findings (one per line: "source: Kind/namespace/name: path: message"). */
'use strict';
const fs = require('fs');
const path = require('path');
let yaml;
try { yaml = require('js-yaml'); } catch (e) {
  console.error('k8s-validate: js-yaml missing: run `npm install` in tools/k8s-validate');
  process.exit(2);
}

/* ------------------------------------------------------------------ schema loading */

function gvkKey(group, version, kind) { return (group ? group + '/' : '') + version + '/' + kind; }

function splitApiVersion(av) {
  const i = (av || '').indexOf('/');
  return i < 0 ? ['', av || ''] : [av.slice(0, i), av.slice(i + 1)];
}

/* index: key -> [{source, schema, root, crd}]. By default the single-version set: the
 * k8s-v<version>-definitions.json file(s) plus CRD YAMLs. The per-group OpenAPI v3 files
 * (api__v1_openapi.json, ...) are older than their README says (no lifecycle `sleep`, 1.29+),
 * so they are loaded only with all=true (--all-schemas). */
function loadSchemas(dir, all) {
  const index = new Map();
  const add = (key, entry) => { if (!index.has(key)) index.set(key, []); index.get(key).push(entry); };
  let objectMeta = null;
  for (const f of fs.readdirSync(dir).sort()) {
    const p = path.join(dir, f);
    if (f.endsWith('.json') && !all && !/definitions\.json$/.test(f)) continue;
    if (f.endsWith('.json')) {
      const root = JSON.parse(fs.readFileSync(p, 'utf8'));
      const defs = root.definitions || (root.components && root.components.schemas) || {};
      for (const [name, s] of Object.entries(defs)) {
        if (name === 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta' && root.definitions)
          objectMeta = { schema: s, root };
        for (const g of s['x-kubernetes-group-version-kind'] || [])
          add(gvkKey(g.group, g.version, g.kind), { source: f, schema: s, root, crd: false });
      }
    } else if (f.endsWith('.yaml') || f.endsWith('.yml')) {
      for (const doc of yaml.loadAll(fs.readFileSync(p, 'utf8'))) {
        if (!doc || doc.kind !== 'CustomResourceDefinition') continue;
        for (const v of doc.spec.versions || []) {
          const s = v.schema && v.schema.openAPIV3Schema;
          if (s) add(gvkKey(doc.spec.group, v.name, doc.spec.names.kind),
                     { source: f, schema: s, root: s, crd: true });
        }
      }
    }
  }
  return { index, objectMeta };
}

/* ------------------------------------------------------------------ strict validation */

function resolve(ref, root) {
  if (!ref.startsWith('#/')) throw new Error('unsupported $ref ' + ref);
  let x = root;
  for (const part of ref.slice(2).split('/')) x = x && x[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  if (!x) throw new Error('unresolved $ref ' + ref);
  return x;
}

function typeOf(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeMatches(want, v) {
  const t = typeOf(v);
  if (want === t) return true;
  if (want === 'number' && t === 'integer') return true;
  return false;
}

/* Appends {path, msg} to errs. Null is accepted anywhere (the API server treats it as unset). */
function check(schema, v, p, root, errs) {
  if (v === null || v === undefined) return;
  if (schema.$ref) return check(resolve(schema.$ref, root), v, p, root, errs);
  if (schema.allOf) for (const s of schema.allOf) check(s, v, p, root, errs);
  const intOrString = schema['x-kubernetes-int-or-string'] || schema.format === 'int-or-string';
  if (intOrString) {
    if (!(typeOf(v) === 'integer' || typeOf(v) === 'string'))
      errs.push({ path: p, msg: `expected integer or string, got ${typeOf(v)}` });
    return;
  }
  for (const key of ['oneOf', 'anyOf']) {
    if (!schema[key]) continue;
    const results = schema[key].map((s) => { const e = []; check(s, v, p, root, e); return e; });
    const ok = results.filter((e) => e.length === 0).length;
    if (key === 'oneOf' ? ok !== 1 : ok === 0) {
      const best = results.reduce((a, b) => (b.length < a.length ? b : a));
      if (ok === 0) errs.push(...best);
      else errs.push({ path: p, msg: 'matches more than one of oneOf' });
    }
  }
  if (schema.type && !typeMatches(schema.type, v)) {
    errs.push({ path: p, msg: `expected ${schema.type}, got ${typeOf(v)} (${JSON.stringify(v).slice(0, 40)})` });
    return;
  }
  if (schema.enum && !schema.enum.some((e) => e === v))
    errs.push({ path: p, msg: `${JSON.stringify(v)} not one of ${JSON.stringify(schema.enum)}` });
  const t = typeOf(v);
  if (t === 'integer' && schema.format === 'int32' && (v > 2147483647 || v < -2147483648))
    errs.push({ path: p, msg: `${v} out of int32 range` });
  if ((t === 'integer' || t === 'number') && schema.minimum !== undefined && v < schema.minimum)
    errs.push({ path: p, msg: `${v} < minimum ${schema.minimum}` });
  if ((t === 'integer' || t === 'number') && schema.maximum !== undefined && v > schema.maximum)
    errs.push({ path: p, msg: `${v} > maximum ${schema.maximum}` });
  if (t === 'string') {
    if (schema.minLength !== undefined && v.length < schema.minLength)
      errs.push({ path: p, msg: `shorter than ${schema.minLength}` });
    if (schema.maxLength !== undefined && v.length > schema.maxLength)
      errs.push({ path: p, msg: `longer than ${schema.maxLength}` });
    if (schema.pattern && !new RegExp(schema.pattern).test(v))
      errs.push({ path: p, msg: `does not match ${schema.pattern}` });
  }
  if (t === 'array') {
    if (schema.minItems !== undefined && v.length < schema.minItems)
      errs.push({ path: p, msg: `fewer than ${schema.minItems} items` });
    if (schema.items) v.forEach((x, i) => check(schema.items, x, `${p}[${i}]`, root, errs));
    /* list-type map/set: keys must be unique (the API server rejects duplicates; a
     * Kustomize patch can silently create them). Missing protocol defaults to TCP. */
    const lt = schema['x-kubernetes-list-type'];
    if (lt === 'map' || lt === 'set') {
      const keys = schema['x-kubernetes-list-map-keys'] || [];
      const seen = new Map();
      v.forEach((x, i) => {
        const id = lt === 'set' ? JSON.stringify(x)
          : JSON.stringify(keys.map((k) => (x && x[k] !== undefined ? x[k] : k === 'protocol' ? 'TCP' : null)));
        if (seen.has(id)) errs.push({ path: `${p}[${i}]`, msg: `duplicate ${lt === 'set' ? 'entry' : keys.join('+')} ${id} (also at [${seen.get(id)}])` });
        else seen.set(id, i);
      });
    }
  }
  if (t === 'object') {
    const props = schema.properties || {};
    for (const r of schema.required || [])
      if (!(r in v)) errs.push({ path: p, msg: `missing required field "${r}"` });
    const ap = schema.additionalProperties;
    const closed = schema.properties && ap === undefined && !schema['x-kubernetes-preserve-unknown-fields'];
    for (const [k, x] of Object.entries(v)) {
      const sub = `${p}.${k}`;
      if (props[k]) check(props[k], x, sub, root, errs);
      else if (ap && typeof ap === 'object') check(ap, x, sub, root, errs);
      else if (ap === false || closed) errs.push({ path: sub, msg: 'unknown field' });
    }
  }
}

function validateSchema(obj, schemas) {
  const errs = [];
  if (!obj.apiVersion || !obj.kind) return [{ path: '', msg: 'missing apiVersion or kind' }];
  const [g, v] = splitApiVersion(obj.apiVersion);
  const entries = schemas.index.get(gvkKey(g, v, obj.kind));
  if (!entries) return [{ path: '', msg: `no schema for ${obj.apiVersion} ${obj.kind}` }];
  for (const e of entries) {
    const one = [];
    if (e.crd) {
      /* A CRD schema says only `metadata: {type: object}`: check it as ObjectMeta. */
      const { metadata, ...rest } = obj;
      check(e.schema, rest, '', e.root, one);
      if (schemas.objectMeta) check(schemas.objectMeta.schema, metadata, '.metadata', schemas.objectMeta.root, one);
    } else {
      check(e.schema, obj, '', e.root, one);
    }
    for (const x of one) errs.push({ path: x.path, msg: `${x.msg} [${e.source}]` });
  }
  return errs;
}

/* ------------------------------------------------------------------ policy */

const WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob', 'Pod', 'ReplicaSet']);
const LONG_RUNNING = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet']);
const RESTRICTED_VOLUMES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral',
  'persistentVolumeClaim', 'projected', 'secret', 'name']);
const DNS1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUANTITY = /^[+-]?(\d+(\.\d*)?|\.\d+)(([KMGTPE]i)|[numkMGTPE]|[eE][+-]?\d+)?$/;

function podTemplate(o) {
  if (o.kind === 'Pod') return { meta: o.metadata || {}, spec: o.spec || {} };
  if (o.kind === 'CronJob') {
    const t = (((o.spec || {}).jobTemplate || {}).spec || {}).template || {};
    return { meta: t.metadata || {}, spec: t.spec || {} };
  }
  const t = (o.spec || {}).template || {};
  return { meta: t.metadata || {}, spec: t.spec || {} };
}

function labelsMatch(selector, labels) {
  if (!selector) return false;
  const ml = selector.matchLabels || {};
  for (const [k, v] of Object.entries(ml)) if ((labels || {})[k] !== v) return false;
  for (const ex of selector.matchExpressions || []) {
    const has = labels && ex.key in labels;
    const val = has ? labels[ex.key] : undefined;
    if (ex.operator === 'In' && !(has && ex.values.includes(val))) return false;
    if (ex.operator === 'NotIn' && has && ex.values.includes(val)) return false;
    if (ex.operator === 'Exists' && !has) return false;
    if (ex.operator === 'DoesNotExist' && has) return false;
  }
  return Object.keys(ml).length > 0 || (selector.matchExpressions || []).length > 0;
}

function quantityMillis(q) {
  const s = String(q);
  if (s.endsWith('m')) return parseFloat(s) / 1000;
  return parseFloat(s);
}

function policy(objs) {
  const out = [];
  const err = (o, p, msg) => out.push({ obj: o, path: p, msg });
  const ns = (o) => (o.metadata && o.metadata.namespace) || '';
  const byKind = (k) => objs.filter((o) => o.kind === k);
  const find = (k, n, namespace) => objs.find((o) => o.kind === k && o.metadata && o.metadata.name === n &&
                                                  (namespace === undefined || ns(o) === namespace));
  const envValue = (c, name, namespace) => {
    for (const e of c.env || []) if (e.name === name && e.value !== undefined) return e.value;
    for (const ef of c.envFrom || []) {
      const cm = ef.configMapRef && find('ConfigMap', ef.configMapRef.name, namespace);
      if (cm && cm.data && cm.data[name] !== undefined) return cm.data[name];
    }
    return undefined;
  };

  /* Names, namespaces. */
  for (const o of objs) {
    const name = o.metadata && o.metadata.name;
    if (!name || !DNS1123.test(name) || name.length > 253) err(o, '.metadata.name', `invalid name ${JSON.stringify(name)}`);
    const clusterScoped = ['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition',
      'PersistentVolume', 'StorageClass', 'PriorityClass'].includes(o.kind);
    if (!clusterScoped && !ns(o)) err(o, '.metadata.namespace', 'namespaced object without a namespace');
  }

  /* Namespaces that hold workloads: Pod Security labels and a default-deny NetworkPolicy. */
  const workloadNs = new Set(objs.filter((o) => WORKLOADS.has(o.kind)).map(ns));
  for (const n of workloadNs) {
    const nsObj = find('Namespace', n);
    if (!nsObj) err({ kind: 'Namespace', metadata: { name: n } }, '', 'workloads in a namespace this render does not define');
    else {
      const l = nsObj.metadata.labels || {};
      if (l['pod-security.kubernetes.io/enforce'] !== 'restricted')
        err(nsObj, '.metadata.labels', 'pod-security.kubernetes.io/enforce must be "restricted"');
    }
    const deny = byKind('NetworkPolicy').find((np) => ns(np) === n && np.spec &&
      np.spec.podSelector && Object.keys(np.spec.podSelector).length === 0 &&
      (np.spec.policyTypes || []).includes('Ingress') && (np.spec.policyTypes || []).includes('Egress') &&
      !(np.spec.ingress || []).length && !(np.spec.egress || []).length);
    if (!deny) err({ kind: 'Namespace', metadata: { name: n } }, '', 'no default-deny NetworkPolicy (podSelector {}, Ingress+Egress, no rules)');
  }

  /* RBAC: no wildcards, no cluster-admin. Which ServiceAccounts may read the API. */
  const apiUsers = new Set();
  for (const r of objs.filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole'))
    (r.rules || []).forEach((rule, i) => {
      for (const f of ['apiGroups', 'resources', 'verbs', 'resourceNames'])
        if ((rule[f] || []).some((x) => x.includes('*'))) err(r, `.rules[${i}].${f}`, 'RBAC wildcard');
      if ((rule.verbs || []).some((x) => ['escalate', 'bind', 'impersonate'].includes(x)))
        err(r, `.rules[${i}].verbs`, 'privilege-escalating verb');
    });
  for (const b of objs.filter((o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding')) {
    if (b.roleRef && ['cluster-admin', 'admin', 'edit'].includes(b.roleRef.name)) err(b, '.roleRef', `binds ${b.roleRef.name}`);
    if (b.roleRef && b.roleRef.kind === 'Role' && !find('Role', b.roleRef.name, ns(b)))
      err(b, '.roleRef', `Role ${b.roleRef.name} not in this render`);
    for (const s of b.subjects || [])
      if (s.kind === 'ServiceAccount') apiUsers.add(`${s.namespace || ns(b)}/${s.name}`);
  }
  for (const sa of byKind('ServiceAccount'))
    if (sa.automountServiceAccountToken !== false && !apiUsers.has(`${ns(sa)}/${sa.metadata.name}`))
      err(sa, '.automountServiceAccountToken', 'must be false: bound to no Role, needs no API token');

  /* Workloads. */
  for (const o of objs.filter((x) => WORKLOADS.has(x.kind))) {
    const { meta, spec } = podTemplate(o);
    const n = ns(o);
    const psc = spec.securityContext || {};
    const saName = spec.serviceAccountName || 'default';
    if (saName === 'default') err(o, '.spec.serviceAccountName', 'uses the default ServiceAccount');
    else if (!find('ServiceAccount', saName, n)) err(o, '.spec.serviceAccountName', `ServiceAccount ${saName} not in this render`);
    const needsApi = apiUsers.has(`${n}/${saName}`);
    if (!needsApi && spec.automountServiceAccountToken !== false)
      err(o, '.spec.automountServiceAccountToken', 'must be false: the pod needs no API access');
    for (const f of ['hostNetwork', 'hostPID', 'hostIPC'])
      if (spec[f]) err(o, `.spec.${f}`, 'host namespaces are not allowed (restricted)');
    (spec.volumes || []).forEach((v, i) => {
      for (const k of Object.keys(v)) if (!RESTRICTED_VOLUMES.has(k)) err(o, `.spec.volumes[${i}]`, `volume type ${k} not allowed (restricted)`);
    });
    const pscSeccomp = psc.seccompProfile && psc.seccompProfile.type;
    if (pscSeccomp && !['RuntimeDefault', 'Localhost'].includes(pscSeccomp)) err(o, '.spec.securityContext.seccompProfile', 'must be RuntimeDefault');
    if (psc.runAsUser === 0) err(o, '.spec.securityContext.runAsUser', 'runs as root');
    const grace = spec.terminationGracePeriodSeconds === undefined ? 30 : spec.terminationGracePeriodSeconds;
    const all = [...(spec.initContainers || []).map((c) => ['initContainers', c]), ...(spec.containers || []).map((c) => ['containers', c])];
    all.forEach(([where, c]) => {
      const cp = `.spec.${where}[${c.name}]`;
      const sc = c.securityContext || {};
      if (sc.privileged) err(o, cp + '.securityContext.privileged', 'privileged');
      if (sc.allowPrivilegeEscalation !== false) err(o, cp + '.securityContext.allowPrivilegeEscalation', 'must be false');
      const caps = sc.capabilities || {};
      if (!(caps.drop || []).includes('ALL')) err(o, cp + '.securityContext.capabilities.drop', 'must include ALL');
      if ((caps.add || []).some((x) => x !== 'NET_BIND_SERVICE')) err(o, cp + '.securityContext.capabilities.add', 'only NET_BIND_SERVICE may be added');
      if (sc.readOnlyRootFilesystem !== true) err(o, cp + '.securityContext.readOnlyRootFilesystem', 'must be true');
      if (!(sc.runAsNonRoot === true || (psc.runAsNonRoot === true && sc.runAsNonRoot !== false)))
        err(o, cp + '.securityContext.runAsNonRoot', 'must be true (pod or container)');
      if (sc.runAsUser === 0) err(o, cp + '.securityContext.runAsUser', 'runs as root');
      const seccomp = (sc.seccompProfile && sc.seccompProfile.type) || pscSeccomp;
      if (!['RuntimeDefault', 'Localhost'].includes(seccomp)) err(o, cp + '.securityContext.seccompProfile', 'must be RuntimeDefault (pod or container)');
      for (const port of c.ports || []) if (port.hostPort) err(o, cp + '.ports', 'hostPort not allowed');
      /* image */
      const img = c.image || '';
      const last = img.split('/').pop();
      if (!img) err(o, cp + '.image', 'no image');
      else if (!img.includes('@sha256:') && (!last.includes(':') || last.endsWith(':latest')))
        err(o, cp + '.image', `image ${img} must carry a version tag (not latest) or a digest`);
      /* resources */
      const res = c.resources || {};
      for (const kind of ['requests', 'limits'])
        for (const r of ['cpu', 'memory']) {
          const q = (res[kind] || {})[r];
          if (q === undefined) err(o, `${cp}.resources.${kind}.${r}`, 'missing');
          else if (!QUANTITY.test(String(q))) err(o, `${cp}.resources.${kind}.${r}`, `bad quantity ${q}`);
        }
      for (const [r, q] of Object.entries(res.requests || {})) {
        const lim = (res.limits || {})[r];
        if (lim !== undefined && r === 'cpu' && quantityMillis(q) > quantityMillis(lim)) err(o, `${cp}.resources`, `cpu request > limit`);
        if (r.includes('/') && lim !== undefined && String(lim) !== String(q))
          err(o, `${cp}.resources`, `extended resource ${r}: request must equal limit`);
      }
      for (const r of Object.keys(res.limits || {}))
        if (r.includes('/') && (res.requests || {})[r] === undefined) err(o, `${cp}.resources.requests`, `extended resource ${r} limited but not requested`);
      /* probes */
      if (LONG_RUNNING.has(o.kind) && where === 'containers')
        for (const pr of ['livenessProbe', 'readinessProbe', 'startupProbe'])
          if (!c[pr]) err(o, `${cp}.${pr}`, 'missing on a long-running container');
      for (const pr of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
        const probe = c[pr];
        const port = probe && ((probe.httpGet && probe.httpGet.port) || (probe.tcpSocket && probe.tcpSocket.port));
        if (typeof port === 'string' && !(c.ports || []).some((x) => x.name === port))
          err(o, `${cp}.${pr}`, `probe names port ${port} the container does not declare`);
      }
      /* preStop + drain timeout fit in the grace period */
      const pre = c.lifecycle && c.lifecycle.preStop;
      const preS = pre && pre.sleep ? Number(pre.sleep.seconds) : 0;
      if (pre && pre.exec) err(o, `${cp}.lifecycle.preStop`, 'exec preStop needs a shell in the image; use sleep');
      const drain = envValue(c, 'LLMQ_DRAIN_TIMEOUT_MS', n);
      if (drain !== undefined && grace < preS + Number(drain) / 1000)
        err(o, '.spec.terminationGracePeriodSeconds', `${grace} s < preStop ${preS} s + drain ${Number(drain) / 1000} s`);
      if (LONG_RUNNING.has(o.kind) && where === 'containers' && /llmq/.test(img) && drain === undefined)
        err(o, cp, 'llmq container without LLMQ_DRAIN_TIMEOUT_MS (grace period cannot be checked)');
      /* referenced ConfigMaps and Secrets exist */
      for (const ef of c.envFrom || []) {
        if (ef.configMapRef && !ef.configMapRef.optional && !find('ConfigMap', ef.configMapRef.name, n)) err(o, cp + '.envFrom', `ConfigMap ${ef.configMapRef.name} not in this render`);
        if (ef.secretRef && !ef.secretRef.optional && !find('Secret', ef.secretRef.name, n)) err(o, cp + '.envFrom', `Secret ${ef.secretRef.name} not in this render`);
      }
      for (const e of c.env || []) {
        const vf = e.valueFrom || {};
        const ref = vf.secretKeyRef ? ['Secret', vf.secretKeyRef] : vf.configMapKeyRef ? ['ConfigMap', vf.configMapKeyRef] : null;
        if (!ref || ref[1].optional) continue;
        const target = find(ref[0], ref[1].name, n);
        const data = target && { ...(target.data || {}), ...(target.stringData || {}) };
        if (!target) err(o, `${cp}.env[${e.name}]`, `${ref[0]} ${ref[1].name} not in this render`);
        else if (!(ref[1].key in data)) err(o, `${cp}.env[${e.name}]`, `${ref[0]} ${ref[1].name} has no key ${ref[1].key}`);
      }
      for (const vm of c.volumeMounts || [])
        if (!(spec.volumes || []).some((v) => v.name === vm.name) &&
            !((o.spec || {}).volumeClaimTemplates || []).some((t) => t.metadata.name === vm.name))
          err(o, cp + '.volumeMounts', `volume ${vm.name} not defined`);
    });
    for (const v of spec.volumes || []) {
      if (v.secret && !v.secret.optional && !find('Secret', v.secret.secretName, n)) err(o, '.spec.volumes', `Secret ${v.secret.secretName} not in this render`);
      if (v.configMap && !v.configMap.optional && !find('ConfigMap', v.configMap.name, n)) err(o, '.spec.volumes', `ConfigMap ${v.configMap.name} not in this render`);
      if (v.persistentVolumeClaim && !find('PersistentVolumeClaim', v.persistentVolumeClaim.claimName, n))
        err(o, '.spec.volumes', `PersistentVolumeClaim ${v.persistentVolumeClaim.claimName} not in this render`);
    }
    if (o.kind !== 'Pod' && o.kind !== 'CronJob' && o.kind !== 'Job' && !labelsMatch((o.spec || {}).selector, meta.labels))
      err(o, '.spec.selector', 'selector does not match the pod template labels');
    if (o.kind === 'StatefulSet' && o.spec.serviceName && !find('Service', o.spec.serviceName, n))
      err(o, '.spec.serviceName', `Service ${o.spec.serviceName} not in this render`);
  }

  /* Services select pods; targetPort names exist. */
  const pods = objs.filter((x) => WORKLOADS.has(x.kind)).map((o) => ({ o, ...podTemplate(o) }));
  for (const s of byKind('Service')) {
    if (!s.spec.selector) continue;
    const hit = pods.filter((p) => ns(p.o) === ns(s) && Object.entries(s.spec.selector).every(([k, v]) => (p.meta.labels || {})[k] === v));
    if (!hit.length) { err(s, '.spec.selector', 'selects no pod template in this render'); continue; }
    for (const port of s.spec.ports || [])
      if (typeof port.targetPort === 'string' && !hit.some((p) => (p.spec.containers || []).some((c) => (c.ports || []).some((x) => x.name === port.targetPort))))
        err(s, '.spec.ports', `targetPort ${port.targetPort} is not a named container port of the selected pods`);
  }
  for (const pdb of byKind('PodDisruptionBudget'))
    if (!pods.some((p) => ns(p.o) === ns(pdb) && labelsMatch(pdb.spec.selector, p.meta.labels)))
      err(pdb, '.spec.selector', 'selects no pod template in this render');
  for (const np of byKind('NetworkPolicy'))
    if (np.spec.podSelector && Object.keys(np.spec.podSelector).length && !pods.some((p) => ns(p.o) === ns(np) && labelsMatch(np.spec.podSelector, p.meta.labels)))
      err(np, '.spec.podSelector', 'selects no pod template in this render');

  /* Autoscalers. */
  const scaled = new Map();
  const target = (o, ref, p) => {
    const t = ref && find(ref.kind || 'Deployment', ref.name, ns(o));
    if (!t) { err(o, p, `scale target ${ref && ref.kind}/${ref && ref.name} not in this render`); return; }
    const key = `${ns(o)}/${ref.kind || 'Deployment'}/${ref.name}`;
    if (scaled.has(key)) err(o, p, `${key} is also scaled by ${scaled.get(key)}`);
    scaled.set(key, `${o.kind}/${o.metadata.name}`);
    if (t.spec && t.spec.replicas !== undefined) err(t, '.spec.replicas', `set, but ${o.kind}/${o.metadata.name} owns the count (each apply would reset it)`);
  };
  /* HPA behaviour: the API server validates these; the schemas only say "string"/"integer". */
  const behavior = (o, b, p) => {
    for (const d of ['scaleUp', 'scaleDown']) {
      const r = (b || {})[d];
      if (!r) continue;
      if (r.selectPolicy !== undefined && !['Max', 'Min', 'Disabled'].includes(r.selectPolicy))
        err(o, `${p}.${d}.selectPolicy`, `${JSON.stringify(r.selectPolicy)} not one of Max, Min, Disabled`);
      const w = r.stabilizationWindowSeconds;
      if (w !== undefined && !(w >= 0 && w <= 3600)) err(o, `${p}.${d}.stabilizationWindowSeconds`, 'must be 0..3600');
      (r.policies || []).forEach((pol, i) => {
        if (!['Pods', 'Percent'].includes(pol.type)) err(o, `${p}.${d}.policies[${i}].type`, `${JSON.stringify(pol.type)} not one of Pods, Percent`);
        if (!(pol.periodSeconds > 0 && pol.periodSeconds <= 1800)) err(o, `${p}.${d}.policies[${i}].periodSeconds`, 'must be 1..1800');
        if (!(pol.value > 0)) err(o, `${p}.${d}.policies[${i}].value`, 'must be > 0');
      });
    }
  };
  for (const h of byKind('HorizontalPodAutoscaler')) {
    behavior(h, h.spec.behavior, '.spec.behavior');
    target(h, h.spec.scaleTargetRef, '.spec.scaleTargetRef');
    if ((h.spec.minReplicas || 1) > h.spec.maxReplicas) err(h, '.spec', 'minReplicas > maxReplicas');
    (h.spec.metrics || []).forEach((m, i) => {
      if (m.type === 'Resource' && m.resource && !['cpu', 'memory'].includes(m.resource.name))
        err(h, `.spec.metrics[${i}]`, `Resource metric ${m.resource.name}: only cpu and memory are Resource metrics (GPU utilisation must be a Pods or External metric)`);
      if (m.type === 'Resource' || m.type === 'ContainerResource') {
        const t = find(h.spec.scaleTargetRef.kind, h.spec.scaleTargetRef.name, ns(h));
        const rn = (m.resource || m.containerResource).name;
        if (t && !podTemplate(t).spec.containers.every((c) => ((c.resources || {}).requests || {})[rn] !== undefined))
          err(h, `.spec.metrics[${i}]`, `Resource metric ${rn} needs requests.${rn} on every container`);
      }
    });
  }
  for (const so of byKind('ScaledObject')) {
    target(so, { kind: 'Deployment', ...so.spec.scaleTargetRef }, '.spec.scaleTargetRef');
    behavior(so, ((so.spec.advanced || {}).horizontalPodAutoscalerConfig || {}).behavior, '.spec.advanced.horizontalPodAutoscalerConfig.behavior');
    const hpaName = ((so.spec.advanced || {}).horizontalPodAutoscalerConfig || {}).name;
    if (hpaName && find('HorizontalPodAutoscaler', hpaName, ns(so))) err(so, '.spec.advanced', `KEDA would create HPA ${hpaName}, which this render also defines`);
    (so.spec.triggers || []).forEach((t, i) => {
      const ar = t.authenticationRef;
      if (ar && (ar.kind || 'TriggerAuthentication') === 'TriggerAuthentication' && !find('TriggerAuthentication', ar.name, ns(so)))
        err(so, `.spec.triggers[${i}].authenticationRef`, `TriggerAuthentication ${ar.name} not in this render`);
      for (const [k, v] of Object.entries(t.metadata || {}))
        if (/^(password|username)$/i.test(k) || /password/i.test(v)) err(so, `.spec.triggers[${i}].metadata.${k}`, 'credential in trigger metadata: use a TriggerAuthentication');
    });
  }
  for (const ta of byKind('TriggerAuthentication'))
    for (const r of ta.spec.secretTargetRef || []) {
      const s = find('Secret', r.name, ns(ta));
      const data = s && { ...(s.data || {}), ...(s.stringData || {}) };
      if (!s || !(r.key in data)) err(ta, '.spec.secretTargetRef', `Secret ${r.name} key ${r.key} not in this render`);
    }
  return out;
}

/* ------------------------------------------------------------------ main */

function main(argv) {
  let schemaDir = process.env.LLMQ_SHARED_DIR ? path.join(process.env.LLMQ_SHARED_DIR, 'k8s-schemas') : null;
  let doPolicy = false, asJson = false, allSchemas = false;
  const files = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--schemas') schemaDir = argv[++i];
    else if (a === '--policy') doPolicy = true;
    else if (a === '--no-schemas') schemaDir = '';
    else if (a === '--json') asJson = true;
    else if (a === '--all-schemas') allSchemas = true;
    else if (a === '-h' || a === '--help') {
      console.log('usage: validate.js [--schemas DIR|--no-schemas] [--all-schemas] [--policy] [--json] FILE|-...');
      return 0;
    } else files.push(a);
  }
  if (!files.length) files.push('-');
  const schemas = schemaDir ? loadSchemas(schemaDir, allSchemas) : null;
  const findings = [];
  const objs = [];
  for (const f of files) {
    const text = f === '-' ? fs.readFileSync(0, 'utf8') : fs.readFileSync(f, 'utf8');
    let docs;
    try { docs = yaml.loadAll(text); } catch (e) {
      findings.push(`${f}: YAML: ${e.message.split('\n')[0]}`);
      continue;
    }
    for (const d of docs) {
      if (d === null || d === undefined) continue;
      if (d.kind === 'List') { for (const it of d.items || []) objs.push({ o: it, f }); continue; }
      objs.push({ o: d, f });
    }
  }
  const label = (o) => `${o.kind}/${(o.metadata && o.metadata.namespace) ? o.metadata.namespace + '/' : ''}${o.metadata && o.metadata.name}`;
  if (schemas)
    for (const { o, f } of objs)
      for (const e of validateSchema(o, schemas)) findings.push(`${f}: ${label(o)}: ${e.path || '.'}: ${e.msg}`);
  if (doPolicy) {
    const src = new Map(objs.map(({ o, f }) => [o, f]));
    for (const e of policy(objs.map((x) => x.o)))
      findings.push(`${src.get(e.obj) || 'policy'}: ${label(e.obj)}: ${e.path || '.'}: ${e.msg}`);
  }
  if (asJson) console.log(JSON.stringify({ objects: objs.length, findings }, null, 1));
  else {
    for (const x of findings) console.log(x);
    console.error(`k8s-validate: ${objs.length} objects, ${findings.length} findings` +
                  `${schemas ? '' : ' (no schemas: schema checks skipped)'}${doPolicy ? '' : ' (policy checks off)'}`);
  }
  return findings.length ? 1 : 0;
}

if (require.main === module) process.exit(main(process.argv.slice(2)));
module.exports = { loadSchemas, validateSchema, policy };
