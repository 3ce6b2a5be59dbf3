// Compares a bridged provider's generated Pulumi schema with the published Node.js SDK of the
// same name in node_modules: every resource token the SDK registers, every top-level property
// it sends or reads, and every function (invoke) token must exist in the schema. The toolchain
// builds the bridged plugins from the upstream Terraform providers with a mapping of our own
// (providers/bridged), so this is the check that the plugin speaks the SDK's names.
//
//   node tools/toolchain/check-sdk-schema.mjs <schema.json> <node_modules/@pulumi/NAME> [--allow-missing TOKEN,...]
//
// Exits 1 and lists every mismatch; --allow-missing names resource tokens and nested type names
// known to be absent (docker's natively implemented docker:index/image:Image and its types).
import fs from "node:fs";
import path from "node:path";

const [schemaPath, sdkDir, ...rest] = process.argv.slice(2);
if (!schemaPath || !sdkDir) {
  console.error("usage: check-sdk-schema.mjs <schema.json> <sdk dir> [--allow-missing TOKEN,...]");
  process.exit(2);
}
const allowIdx = rest.indexOf("--allow-missing");
const allowMissing = new Set(allowIdx >= 0 ? (rest[allowIdx + 1] || "").split(",").filter(Boolean) : []);

const schema = JSON.parse(fs.readFileSync(schemaPath, "utf8"));
const problems = [];
let resources = 0;
let functions = 0;
let props = 0;

function sdkFiles(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (entry.name === "types" || entry.name === "node_modules") continue;
      out.push(...sdkFiles(path.join(dir, entry.name)));
    } else if (entry.name.endsWith(".js") && !entry.name.endsWith(".map")) {
      out.push(path.join(dir, entry.name));
    }
  }
  return out;
}

for (const file of sdkFiles(sdkDir)) {
  const src = fs.readFileSync(file, "utf8");
  const rel = path.relative(sdkDir, file);
  const typeMatch = src.match(/static __pulumiType = '([^']+)'/);
  const names = [...new Set([...src.matchAll(/resourceInputs\["([A-Za-z0-9_$]+)"\]/g)].map((m) => m[1]))];
  if (typeMatch) {
    const token = typeMatch[1];
    if (!token.includes(":")) {
      // The provider resource itself: its inputs are the provider config.
      const known = new Set(Object.keys(schema.provider?.inputProperties || {}));
      for (const n of names) {
        props++;
        if (!known.has(n)) problems.push(`${rel}: provider config property "${n}" is not in the schema`);
      }
      continue;
    }
    resources++;
    const spec = schema.resources?.[token];
    if (!spec) {
      if (allowMissing.has(token)) {
        console.log(`note: ${token} (${rel}) is not provided by this plugin (allowed: --allow-missing)`);
      } else {
        problems.push(`${rel}: resource ${token} is not in the schema`);
      }
      continue;
    }
    const known = new Set([
      ...Object.keys(spec.inputProperties || {}),
      ...Object.keys(spec.properties || {}),
      ...Object.keys(spec.stateInputs?.properties || {}),
    ]);
    for (const n of names) {
      props++;
      if (!known.has(n)) problems.push(`${rel}: ${token} property "${n}" is not in the schema`);
    }
  }
  for (const m of src.matchAll(/runtime\.invoke(?:Output|SingleOutput)?\("([^"]+)"/g)) {
    functions++;
    if (!schema.functions?.[m[1]]) problems.push(`${rel}: function ${m[1]} is not in the schema`);
  }
}

// Nested object types: every property of an interface in types/input.d.ts and types/output.d.ts
// must be a property of the schema type of the same name (docker:index/ContainerPort:ContainerPort).
const typeProps = new Map();
for (const [token, spec] of Object.entries(schema.types || {})) {
  const name = token.split(":").pop();
  const set = typeProps.get(name) || new Set();
  for (const k of Object.keys(spec.properties || {})) set.add(k);
  typeProps.set(name, set);
}
let types = 0;
for (const file of ["types/input.d.ts", "types/output.d.ts"]) {
  const p = path.join(sdkDir, file);
  if (!fs.existsSync(p)) continue;
  const src = fs.readFileSync(p, "utf8");
  for (const m of src.matchAll(/export interface (\w+) \{([\s\S]*?)\n\}/g)) {
    const [, iface, body] = m;
    // Function argument/result shapes are named <Type>Args or <Fn>Result: skip those not in types.
    const name = iface.endsWith("Args") && !typeProps.has(iface) ? iface.slice(0, -4) : iface;
    const known = typeProps.get(name);
    if (!known) {
      if (allowMissing.has(iface)) {
        console.log(
          `note: type ${iface} (${file}) is not provided by this plugin (allowed: --allow-missing)`,
        );
      } else if (!/^Get\w+/.test(iface)) {
        problems.push(`${file}: type ${iface} is not in the schema`);
      }
      continue;
    }
    types++;
    for (const pm of body.matchAll(/^\s{4}(\w+)\??:/gm)) {
      props++;
      if (!known.has(pm[1])) problems.push(`${file}: ${iface} property "${pm[1]}" is not in the schema`);
    }
  }
}

console.log(
  `checked ${resources} resources, ${types} nested types, ${props} properties, ${functions} function calls of ${sdkDir} against ${schemaPath}`,
);
if (resources === 0) problems.push("no resources found in the SDK: wrong directory?");
if (problems.length) {
  for (const p of problems) console.error(`MISMATCH ${p}`);
  process.exit(1);
}
console.log("ok: the schema has every token, property and nested type property the SDK uses");
