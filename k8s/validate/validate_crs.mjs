// Validates custom resources against the published @kubernetes-models schemas.
// Usage: node validate_crs.mjs <node_modules dir> < objects.json   (a JSON array of manifests)
// Prints one JSON line per object: {"kind", "name", "ok", "error"}; exits 1 if any is invalid
// or of a kind this script has no model for.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const modules = process.argv[2];
const MODELS = {
  "monitoring.coreos.com/v1/ServiceMonitor": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor.js",
  "monitoring.coreos.com/v1/PodMonitor": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor.js",
  "monitoring.coreos.com/v1/PrometheusRule": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule.js",
  "keda.sh/v1alpha1/ScaledObject": "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject.js",
};

const objects = JSON.parse(readFileSync(0, "utf8"));
let failed = 0;
for (const obj of objects) {
  const key = `${obj.apiVersion}/${obj.kind}`;
  const name = obj.metadata?.name;
  const path = MODELS[key];
  let result = { kind: obj.kind, name, ok: true, error: null };
  if (!path) {
    result = { ...result, ok: false, error: `no schema for ${key}` };
  } else {
    try {
      const mod = await import(pathToFileURL(join(modules, path)).href);
      const Model = mod[obj.kind] ?? mod.default;
      new Model(obj).validate();
    } catch (err) {
      result = { ...result, ok: false, error: String(err?.message ?? err) };
    }
  }
  if (!result.ok) failed += 1;
  console.log(JSON.stringify(result));
}
process.exit(failed ? 1 : 0);
