#!/usr/bin/env node
// Calls groved's Data service (proto/grove/data/v1/data.proto) from Node with
// @grpc/grpc-js and @grpc/proto-loader (installed by CTest into the build tree,
// found through NODE_PATH): every method, the bad requests with their statuses
// and located messages, a 19-digit HLC kept exact, and a watch resumed from
// its last cursor with no gap and no duplicate.
//
// usage: node data_grpc_node_test.js --source-dir DIR --groved PATH
'use strict';
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const TOKEN = 'node-s3cret';

function arg(name) {
  const i = process.argv.indexOf(name);
  if (i < 0 || i + 1 >= process.argv.length) throw new Error(`missing ${name}`);
  return process.argv[i + 1];
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitPort(port, child) {
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`groved exited with ${child.exitCode}`);
    const ok = await new Promise((resolve) => {
      const sock = net.connect(port, '127.0.0.1', () => { sock.end(); resolve(true); });
      sock.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`groved did not listen on ${port}`);
}

function loadData(sourceDir) {
  const def = protoLoader.loadSync('grove/data/v1/data.proto', {
    includeDirs: [path.join(sourceDir, 'proto')],
    keepCase: true, longs: String, defaults: true, oneofs: true,
  });
  return grpc.loadPackageDefinition(def).grove.data.v1;
}

// The unary methods as promises; a failure rejects with the grpc error.
function unary(client, md, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, md, { deadline: Date.now() + 20000 }, (err, resp) =>
      (err ? reject(err) : resolve(resp)));
  });
}

async function expectError(code, fragment, promise) {
  try {
    await promise;
  } catch (err) {
    assert.equal(err.code, code, `${fragment}: ${err.code} (${err.details}), expected ${code}`);
    assert.ok((err.details || '').includes(fragment), `details ${err.details} lack ${fragment}`);
    return;
  }
  assert.fail(`call succeeded, expected status ${code} (${fragment})`);
}

// Reads n events from a watch; resolves with them, the stream left open.
function readEvents(stream, n, ms = 10000) {
  return new Promise((resolve, reject) => {
    const got = [];
    const timer = setTimeout(() => reject(new Error(`only ${got.length} of ${n} events`)), ms);
    const onData = (ev) => {
      got.push(ev);
      if (got.length === n) {
        clearTimeout(timer);
        stream.removeListener('data', onData);
        resolve(got);
      }
    };
    stream.on('data', onData);
    stream.on('error', (err) => {
      if (err.code !== grpc.status.CANCELLED) { clearTimeout(timer); reject(err); }
    });
  });
}

function watchCursor(stream) {
  return new Promise((resolve) => stream.once('metadata', (md) => resolve(md.get('grove-cursor')[0])));
}

async function run(target) {
  const data = loadData(arg('--source-dir'));
  const client = new data.Data(target, grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${TOKEN}`);
  const call = (method, request) => unary(client, md, method, request);
  const row = (resp) => JSON.parse(resp.row.toString());
  const S = grpc.status;

  await expectError(S.UNAUTHENTICATED, '', unary(client, new grpc.Metadata(), 'Get',
    { table: 'documents', pk: 'a' }));

  // Write: every kind of field at once, one HLC.
  let resp = await call('Write', {
    table: 'documents', pk: 'node/1', fields: [
      { field: 'title', value: Buffer.from('"Hello"') },
      { field: 'views', delta: 5 },
      { field: 'tags', set: { add: ['"red"', '"green"', '"blue"'].map((s) => Buffer.from(s)) } },
    ],
  });
  assert.deepEqual(row(resp), { title: 'Hello', views: 5, tags: ['blue', 'green', 'red'] });
  assert.match(resp.hlc.ts, /^\d{19}$/, 'ts is a 19-digit integer, exact as a string');
  assert.equal(resp.hlc.node, 'node-a');
  await call('Write', { table: 'documents', pk: 'node/1', fields: [{ field: 'views', delta: 2 }] });
  await call('Write', {
    table: 'documents', pk: 'node/1',
    fields: [{ field: 'tags', set: { remove: [Buffer.from('"green"')] } }],
  });
  resp = await call('Get', { table: 'documents', pk: 'node/1' });
  assert.deepEqual(row(resp), { title: 'Hello', views: 7, tags: ['blue', 'red'] });

  // WriteMany, then List in pages.
  const rows = [];
  for (let i = 0; i < 250; i++) {
    rows.push({ table: 'documents', pk: `many/${String(i).padStart(3, '0')}`,
      fields: [{ field: 'views', delta: i }] });
  }
  resp = await call('WriteMany', { rows });
  assert.equal(resp.rows, '250');
  const seen = [];
  let after = '';
  for (;;) {
    const page = await call('List', { table: 'documents', prefix: 'many/', after, limit: 100 });
    for (const r of page.rows) seen.push(r.pk);
    if (!page.has_next) break;
    after = page.next;
  }
  assert.deepEqual(seen, rows.map((r) => r.pk));

  // Delete, NOT_FOUND, revive.
  await call('Delete', { table: 'documents', pk: 'node/1' });
  await expectError(S.NOT_FOUND, '', call('Get', { table: 'documents', pk: 'node/1' }));
  await call('Write', { table: 'documents', pk: 'node/1', fields: [{ field: 'views', delta: 1 }] });
  assert.equal(row(await call('Get', { table: 'documents', pk: 'node/1' })).views, 8);

  // Bad requests: status and the located message; nothing written.
  const bad = (pk, fields, table = 'documents') => call('Write', { table, pk, fields });
  await expectError(S.PERMISSION_DENIED, 'secrets',
    bad('x', [{ field: 'title', value: Buffer.from('1') }], 'secrets'));
  await expectError(S.INVALID_ARGUMENT, 'colour',
    bad('node/bad', [{ field: 'colour', value: Buffer.from('"red"') }]));
  await expectError(S.INVALID_ARGUMENT, 'views',
    bad('node/bad', [{ field: 'views', value: Buffer.from('"seven"') }]));
  await expectError(S.INVALID_ARGUMENT, 'title',
    bad('node/bad', [{ field: 'title', value: Buffer.from('{"a":') }]));
  await expectError(S.NOT_FOUND, '', call('Get', { table: 'documents', pk: 'node/bad' }));
  await expectError(S.INVALID_ARGUMENT, 'limit',
    call('List', { table: 'documents', limit: 10001 }));
  const badWatch = client.Watch({ table: 'documents', since: 'nope' }, md);
  await expectError(S.INVALID_ARGUMENT, 'cursor', new Promise((resolve, reject) => {
    badWatch.on('error', reject);
    badWatch.on('end', resolve);
    badWatch.on('data', () => {});
  }));

  // Watch: two events, cut, resume from the last cursor: the third once.
  let stream = client.Watch({ table: 'documents', prefix: 'w/' }, md);
  assert.match(await watchCursor(stream), /^\d+\.\d+$/);
  for (let i = 0; i < 3; i++) {
    await call('Write', { table: 'documents', pk: `w/${i}`,
      fields: [{ field: 'title', value: Buffer.from(`"${i}"`) }] });
  }
  const first = await readEvents(stream, 2);
  stream.cancel();
  assert.deepEqual(first.map((e) => e.pk), ['w/0', 'w/1']);
  assert.deepEqual(JSON.parse(first[0].row.toString()), { title: '0' });
  await call('Delete', { table: 'documents', pk: 'w/1' });
  stream = client.Watch({ table: 'documents', prefix: 'w/', since: first[1].cursor }, md);
  const rest = await readEvents(stream, 2);
  stream.cancel();
  assert.deepEqual(rest.map((e) => [e.pk, e.deleted]), [['w/2', false], ['w/1', true]]);

  // A snapshot first: the visible rows.
  stream = client.Watch({ table: 'documents', prefix: 'w/', snapshot: true }, md);
  const snap = await readEvents(stream, 2);
  stream.cancel();
  assert.deepEqual(snap.map((e) => e.pk).sort(), ['w/0', 'w/2']);
  client.close();
}

async function main() {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'grove-data-node-'));
  const port = await freePort();
  const log = fs.openSync(path.join(work, 'groved.log'), 'a');
  const child = spawn(arg('--groved'), [
    '--node-id', 'node-a', '--db', path.join(work, 'node-a.db'),
    '--table', 'documents:title=lww,meta=lww,views=counter,tags=set',
    '--listen', `grpc://127.0.0.1:${port}`, '--token', TOKEN, '--log-level', 'warn',
  ], { stdio: ['ignore', log, log] });
  let failed = false;
  try {
    await waitPort(port, child);
    await run(`127.0.0.1:${port}`);
  } catch (err) {
    failed = true;
    console.error(err);
    console.error(fs.readFileSync(path.join(work, 'groved.log'), 'utf8'));
  } finally {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
      const code = await exited;
      clearTimeout(timer);
      if (code !== 0) { failed = true; console.error(`groved exited with ${code}`); }
    }
    fs.rmSync(work, { recursive: true, force: true });
  }
  if (failed) process.exit(1);
  console.log('data_grpc_node_test: OK');
}

main();
