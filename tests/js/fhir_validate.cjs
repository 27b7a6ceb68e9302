// Validate FHIR resources with FHIR.js (npm "fhir"), against R4 4.0.1's structure definitions
// and value sets: an independent check of what /fhir/R4 emits.
//
//   node tests/js/fhir_validate.cjs < resources.json      (a JSON array of resources)
//
// Prints a JSON array with, for each resource, its list of errors (empty when valid); an
// element R4 does not define is an error too. Exits 2 when FHIR.js is not installed (run
// `make node-deps`).

const { existsSync, readFileSync } = require("node:fs");
const { resolve } = require("node:path");

const modulePath = process.env.FHIRJS_PATH
  || resolve(__dirname, "../../.cache/node/node_modules/fhir");
if (!existsSync(modulePath)) {
  process.stderr.write(`FHIR.js not found at ${modulePath}: run \`make node-deps\`\n`);
  process.exit(2);
}
const { Fhir } = require(modulePath);
// The default parser loads FHIR.js's cached R4 (4.0.1) structure definitions and value sets.
const fhir = new Fhir();
const resources = JSON.parse(readFileSync(0, "utf8"));
const results = resources.map((resource) =>
  fhir.validate(resource, { errorOnUnexpected: true }).messages
    .filter((m) => m.severity === "error")
    .map((m) => `${m.location}: ${m.message}`));
process.stdout.write(JSON.stringify(results));
