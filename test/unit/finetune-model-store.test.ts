// The per-workspace model store on real files: install / active / activate / rollback / prune,
// rejection of incomplete candidates, recovery from a crash in the middle of an install (leftover
// temp copy, torn active.json), damaged versions, and a full disk: for real on a tiny tmpfs in a
// private mount namespace where the system allows one (Linux user namespaces), and through an
// injected failing write everywhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { modelDirProblem } from '../../server/training/model-dir';
import { defaultStoreRoot, ModelStore, ModelStoreError, type ActiveModel } from '../../server/training/model-store';

const REPO = path.resolve(__dirname, '../..');
const BASE = path.join(REPO, 'models/default');

function tmp(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `diffill-test-${prefix}-`));
}

/** A model directory as the trainer writes one; `tag` makes each one's bytes distinct. */
function makeModel(parent: string, tag: string, onnxBytes = 4096): string {
  const dir = path.join(parent, `candidate-${tag}`);
  fs.mkdirSync(dir, { recursive: true });
  const config = {
    format: 'diffill-mdm',
    format_version: 1,
    name: tag,
    tokenizer: 'tokenizer.json',
    weights: { file: 'model.safetensors', dtype: 'float16' },
    onnx: { file: 'model.onnx', opset: 17, quantized: true },
  };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), '{"model":{"type":"BPE"}}');
  fs.writeFileSync(path.join(dir, 'model.onnx'), Buffer.alloc(onnxBytes, tag.charCodeAt(0)));
  fs.writeFileSync(path.join(dir, 'model.safetensors'), Buffer.from(`weights of ${tag}`));
  fs.writeFileSync(path.join(dir, 'README.md'), `# ${tag}\n`);
  return dir;
}

const expectKind = (kind: string) => (e: unknown) => e instanceof ModelStoreError && e.kind === kind;

function storeDir(active: ActiveModel): string | null {
  return active.dir;
}

/** A pid that surely belongs to no running process: a child that has already exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '']).pid!;
}

test('a fresh store serves the base model and installs, activates and lists versions', async () => {
  const root = tmp('store');
  const work = tmp('cand');
  try {
    const store = await ModelStore.open(root, { baseModelDir: BASE });
    assert.deepEqual(await store.active(), { source: 'base', dir: BASE });
    assert.deepEqual(await store.list(), []);
    assert.equal(store.recovery.repaired, false);

    const a = makeModel(work, 'a');
    const v1 = await store.install(a, { meta: { steps: 100, valLoss: 2.5 } });
    assert.equal(v1.valid, true);
    assert.equal(v1.active, true);
    assert.deepEqual(v1.meta, { steps: 100, valLoss: 2.5 });
    assert.ok(v1.dir.startsWith(path.join(root, 'versions') + path.sep));
    assert.deepEqual(await store.active(), { source: 'store', id: v1.id, dir: v1.dir });
    for (const f of ['config.json', 'tokenizer.json', 'model.onnx', 'model.safetensors', 'README.md']) {
      assert.deepEqual(fs.readFileSync(path.join(v1.dir, f)), fs.readFileSync(path.join(a, f)), f);
    }
    assert.ok(fs.existsSync(a), 'a copy leaves the candidate in place');
    assert.equal(v1.bytes, 4096 + fs.statSync(path.join(a, 'config.json')).size + 24 + 'weights of a'.length + 4);

    const v2 = await store.install(makeModel(work, 'b'), { activate: false });
    assert.equal((await store.active()).source === 'store' && (await store.active() as { id: string }).id, v1.id);
    const listed = await store.list();
    assert.deepEqual(listed.map((v) => v.id), [v2.id, v1.id], 'newest first');
    assert.deepEqual(listed.map((v) => v.active), [false, true]);
    assert.notEqual(v1.id, v2.id);

    // The pointer is a small JSON file written whole; nothing but versions and it in the root.
    const pointer = JSON.parse(fs.readFileSync(path.join(root, 'active.json'), 'utf8'));
    assert.equal(pointer.active, v1.id);
    assert.deepEqual(fs.readdirSync(root).sort(), ['active.json', 'versions']);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(work, { recursive: true, force: true });
  }
});

test('rollback walks back through the previously active models to the base model', async () => {
  const root = tmp('store');
  const work = tmp('cand');
  try {
    const store = await ModelStore.open(root, { baseModelDir: BASE });
    const v1 = await store.install(makeModel(work, 'a'));
    const v2 = await store.install(makeModel(work, 'b'));
    const v3 = await store.install(makeModel(work, 'c'));
    assert.equal(storeDir(await store.active()), v3.dir);

    assert.equal(storeDir(await store.rollback()), v2.dir);
    assert.equal(storeDir(await store.active()), v2.dir);
    assert.equal(storeDir(await store.rollback()), v1.dir);
    assert.deepEqual(await store.rollback(), { source: 'base', dir: BASE });
    await assert.rejects(store.rollback(), expectKind('nothing_to_roll_back'));

    // Choosing a version explicitly makes the one before it the "previous".
    await store.activate(v3.id);
    await store.activate(v1.id);
    assert.equal(storeDir(await store.rollback()), v3.dir);
    await assert.rejects(store.activate('2020-01-01T00-00-00-000Z'), expectKind('not_found'));

    // A previous version that was damaged meanwhile is passed over.
    await store.activate(v2.id);
    await store.activate(v1.id); // history: ..., v3, v2
    fs.truncateSync(path.join(v2.dir, 'model.onnx'), 10);
    assert.equal(storeDir(await store.rollback()), v3.dir);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(work, { recursive: true, force: true });
  }
});

test('prune keeps the newest versions and always the active one', async () => {
  const root = tmp('store');
  const work = tmp('cand');
  try {
    const store = await ModelStore.open(root);
    const ids: string[] = [];
    for (const tag of ['a', 'b', 'c', 'd']) ids.push((await store.install(makeModel(work, tag))).id);
    await store.activate(ids[0]!);
    const removed = await store.prune(1);
    assert.deepEqual(removed.sort(), [ids[1], ids[2]].sort());
    assert.deepEqual((await store.list()).map((v) => v.id).sort(), [ids[0], ids[3]].sort());
    assert.deepEqual(fs.readdirSync(path.join(root, 'versions')).sort(), [ids[0], ids[3]].sort(), 'no temp left behind');
    // The pruned versions are gone from the rollback history too.
    assert.equal(storeDir(await store.rollback()), path.join(root, 'versions', ids[3]!));
    assert.deepEqual(await store.prune(5), []);
    assert.deepEqual(await store.prune(0), [ids[0]]);
    await assert.rejects(store.prune(-1), expectKind('bad_argument'));
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(work, { recursive: true, force: true });
  }
});

test('incomplete or foreign candidates are rejected and leave the store untouched', async () => {
  const root = tmp('store');
  const work = tmp('cand');
  try {
    const store = await ModelStore.open(root, { baseModelDir: BASE });
    const good = await store.install(makeModel(work, 'g'));
    const cases: Array<[string, (dir: string) => void, RegExp]> = [
      ['no onnx', (d) => fs.rmSync(path.join(d, 'model.onnx')), /model\.onnx is missing/],
      ['empty weights', (d) => fs.writeFileSync(path.join(d, 'model.safetensors'), ''), /model\.safetensors is empty/],
      ['torn config', (d) => fs.writeFileSync(path.join(d, 'config.json'), '{"format": "diffill-'), /not valid JSON/],
      ['other format', (d) => fs.writeFileSync(path.join(d, 'config.json'), '{"format": "gguf"}'), /expected "diffill-mdm"/],
      ['config names a missing file', (d) => fs.writeFileSync(path.join(d, 'config.json'), '{"format":"diffill-mdm","onnx":{"file":"other.onnx"}}'), /other\.onnx .* missing/],
      ['config escapes the folder', (d) => fs.writeFileSync(path.join(d, 'config.json'), '{"format":"diffill-mdm","tokenizer":"../x.json"}'), /invalid file/],
    ];
    for (const [label, damage, message] of cases) {
      const dir = makeModel(work, `bad-${label.replace(/\W/g, '')}`);
      damage(dir);
      assert.match((await modelDirProblem(dir)) ?? '', message, label);
      await assert.rejects(store.install(dir), (e: unknown) => expectKind('invalid_candidate')(e) && message.test((e as Error).message), label);
    }
    await assert.rejects(store.install(path.join(work, 'does-not-exist')), expectKind('invalid_candidate'));
    assert.deepEqual(fs.readdirSync(path.join(root, 'versions')), [good.id]);
    assert.equal(storeDir(await store.active()), good.dir);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(work, { recursive: true, force: true });
  }
});

test('recovery after a crash mid-install: temp leftovers removed, torn pointer replaced', async () => {
  const root = tmp('store');
  const work = tmp('cand');
  try {
    let store = await ModelStore.open(root, { baseModelDir: BASE });
    const v1 = await store.install(makeModel(work, 'a'));
    const v2 = await store.install(makeModel(work, 'b'));

    // What a process killed during an install of a third model leaves behind: a partial copy
    // and a half-written pointer temp; and (worse than a rename can produce) a torn active.json.
    const dead = deadPid();
    const partial = `2030-01-01T00-00-00-000Z.tmp-${dead}-0a0b0c0d`;
    fs.mkdirSync(path.join(root, 'versions', partial));
    fs.writeFileSync(path.join(root, 'versions', partial, 'model.onnx'), Buffer.alloc(100));
    fs.writeFileSync(path.join(root, `active.json.tmp-${dead}-deadbeef`), '{"format":"diffill-model-st');
    fs.writeFileSync(path.join(root, 'active.json'), '{"format":"diffill-model-store","version":1,"act');
    // A temp of a process that is still running (an install in another window) is left alone.
    const live = `active.json.tmp-${process.pid}-01020304`;
    fs.writeFileSync(path.join(root, live), '{}');

    store = await ModelStore.open(root, { baseModelDir: BASE });
    assert.deepEqual(store.recovery.removedTemp.sort(), [`active.json.tmp-${dead}-deadbeef`, `versions/${partial}`].sort());
    assert.equal(store.recovery.repaired, true);
    assert.equal(store.recovery.after, v2.id, 'falls back to the newest valid version');
    assert.ok(fs.existsSync(path.join(root, live)));
    assert.deepEqual(fs.readdirSync(path.join(root, 'versions')).sort(), [v1.id, v2.id].sort());
    assert.equal(storeDir(await store.active()), v2.dir);
    assert.equal(JSON.parse(fs.readFileSync(path.join(root, 'active.json'), 'utf8')).active, v2.id);
    fs.rmSync(path.join(root, live));

    // A pointer naming a version that is gone falls back to the one active before it.
    await store.activate(v1.id);
    await store.activate(v2.id); // history: [v1]
    fs.rmSync(v2.dir, { recursive: true });
    store = await ModelStore.open(root, { baseModelDir: BASE });
    assert.deepEqual([store.recovery.before, store.recovery.after], [v2.id, v1.id]);
    assert.equal(storeDir(await store.active()), v1.dir);

    // A damaged active version is never served: active() falls back even before recovery runs.
    fs.truncateSync(path.join(v1.dir, 'model.safetensors'), 3);
    assert.deepEqual(await store.active(), { source: 'base', dir: BASE });
    const listed = await store.list();
    assert.equal(listed[0]!.valid, false);
    assert.match(listed[0]!.problem!, /model\.safetensors has 3 bytes/);
    store = await ModelStore.open(root, { baseModelDir: BASE });
    assert.equal(store.recovery.after, null);
    assert.equal(JSON.parse(fs.readFileSync(path.join(root, 'active.json'), 'utf8')).active, null);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(work, { recursive: true, force: true });
  }
});

function enospc(): NodeJS.ErrnoException {
  return Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
}

test('a full disk (injected ENOSPC) gives disk_full and leaves the active model untouched', async () => {
  const root = tmp('store');
  const work = tmp('cand');
  try {
    const healthy = await ModelStore.open(root, { baseModelDir: BASE });
    const v1 = await healthy.install(makeModel(work, 'a'));
    const pointerBefore = fs.readFileSync(path.join(root, 'active.json'), 'utf8');

    // The disk fills up while the model file is being copied: half of it written, then ENOSPC.
    const copyFails = await ModelStore.open(root, {
      baseModelDir: BASE,
      io: {
        async copyFile(source, destination) {
          const data = fs.readFileSync(source);
          fs.writeFileSync(destination, data.subarray(0, data.length >> 1));
          if (path.basename(source) === 'model.onnx') throw enospc();
          fs.appendFileSync(destination, data.subarray(data.length >> 1));
        },
      },
    });
    await assert.rejects(copyFails.install(makeModel(work, 'b')), (e: unknown) => expectKind('disk_full')(e) && /still active/.test((e as Error).message));
    assert.deepEqual(fs.readdirSync(path.join(root, 'versions')), [v1.id], 'the partial copy is removed');
    assert.equal(fs.readFileSync(path.join(root, 'active.json'), 'utf8'), pointerBefore);
    assert.equal(storeDir(await copyFails.active()), v1.dir);

    // The copy fits, but the disk is full when the pointer is switched.
    const pointerFails = await ModelStore.open(root, {
      baseModelDir: BASE,
      io: {
        async writeFile(file, data) {
          if (path.basename(file).startsWith('active.json')) {
            fs.writeFileSync(file, data.slice(0, 5));
            throw enospc();
          }
          fs.writeFileSync(file, data, { flag: 'wx' });
        },
      },
    });
    await assert.rejects(pointerFails.install(makeModel(work, 'c')), expectKind('disk_full'));
    assert.deepEqual(fs.readdirSync(path.join(root, 'versions')), [v1.id], 'the version that never became active is removed');
    assert.deepEqual(fs.readdirSync(root).sort(), ['active.json', 'versions'], 'no torn pointer temp left');
    assert.equal(fs.readFileSync(path.join(root, 'active.json'), 'utf8'), pointerBefore);

    // Recovery on a full disk: a torn pointer cannot be rewritten, yet the store opens and serves
    // the same fallback.
    fs.writeFileSync(path.join(root, 'active.json'), '{"format":"diffill-mo');
    const full = await ModelStore.open(root, { baseModelDir: BASE, io: { writeFile: async () => Promise.reject(enospc()) } });
    assert.equal(full.recovery.repaired, false);
    assert.match(full.recovery.error ?? '', /disk is full/);
    assert.equal(storeDir(await full.active()), v1.dir);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(work, { recursive: true, force: true });
  }
});

test('a full disk, for real: a 2 MiB tmpfs in a private mount namespace', async (t) => {
  if (process.platform !== 'linux' || spawnSync('unshare', ['-rm', 'true']).status !== 0) {
    t.skip('needs Linux user and mount namespaces (unshare -rm)');
    return;
  }
  const work = tmp('cand');
  const mount = tmp('tmpfs');
  try {
    const small = makeModel(work, 'small', 64 * 1024);
    const big = makeModel(work, 'big', 3 << 20);
    // The child opens a store on the tmpfs, installs the small model, then tries the big one with
    // and without the free-space check (the latter runs into ENOSPC while copying).
    const child = `
      const fs = require('node:fs');
      const { ModelStore } = require(${JSON.stringify(path.join(REPO, 'server/training/model-store.ts'))});
      (async () => {
        const [root, small, big] = process.argv.slice(1);
        const out = {};
        const store = await ModelStore.open(root);
        const v = await store.install(small);
        for (const checkFreeSpace of [true, false]) {
          const s = await ModelStore.open(root, { checkFreeSpace });
          try { await s.install(big); out[checkFreeSpace] = 'installed'; }
          catch (e) { out[checkFreeSpace] = e.kind + ': ' + (e.cause ? e.cause.code : 'precheck'); }
        }
        const active = await store.active();
        out.activeIsSmall = active.id === v.id;
        out.versions = fs.readdirSync(root + '/versions');
        out.root = fs.readdirSync(root).sort();
        process.stdout.write(JSON.stringify(out));
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const r = spawnSync(
      'unshare',
      ['-rm', 'sh', '-c', 'mount -t tmpfs -o size=2m tmpfs "$1" && exec "$2" --import tsx -e "$3" "$1/store" "$4" "$5"', 'sh', mount, process.execPath, child, small, big],
      { cwd: REPO, encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(out['true'], 'disk_full: precheck');
    assert.equal(out['false'], 'disk_full: ENOSPC');
    assert.equal(out['activeIsSmall'], true);
    assert.equal((out['versions'] as string[]).length, 1, 'no partial version left on the full disk');
    assert.deepEqual(out['root'], ['active.json', 'versions']);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(mount, { recursive: true, force: true });
  }
});

test('move, abort, concurrent installs, and where stores live', async () => {
  const root = tmp('store');
  const work = tmp('cand');
  try {
    const store = await ModelStore.open(root);
    const moved = makeModel(work, 'm');
    const vm = await store.install(moved, { move: true });
    assert.equal(fs.existsSync(moved), false, 'move renames the candidate into the store');
    assert.equal(vm.valid, true);

    const ac = new AbortController();
    ac.abort();
    await assert.rejects(store.install(makeModel(work, 'x'), { signal: ac.signal }), { name: 'AbortError' });
    assert.deepEqual(fs.readdirSync(path.join(root, 'versions')), [vm.id]);

    // Two installs at once (e.g. two commands in a row): both land, the later call wins.
    const [p, q] = await Promise.all([store.install(makeModel(work, 'p')), store.install(makeModel(work, 'q'))]);
    assert.notEqual(p.id, q.id);
    assert.equal(storeDir(await store.active()), q.dir);
    assert.equal(storeDir(await store.rollback()), p.dir);

    // The CLI's store: under ~/.diffill/workspaces/, one per workspace, stable.
    const home = tmp('home');
    const ws = tmp('ws');
    const r1 = await defaultStoreRoot(ws, home);
    assert.equal(r1, await defaultStoreRoot(ws + path.sep, home));
    assert.notEqual(r1, await defaultStoreRoot(work, home));
    assert.equal(path.dirname(r1), path.join(home, '.diffill', 'workspaces'));
    const opened = await ModelStore.open(r1, { workspace: ws });
    assert.deepEqual(JSON.parse(fs.readFileSync(path.join(opened.root, 'workspace.json'), 'utf8')), { workspace: ws });
    // Never inside the user's repository.
    await assert.rejects(ModelStore.open(path.join(ws, '.diffill'), { workspace: ws }), expectKind('bad_root'));
    assert.equal(fs.existsSync(path.join(ws, '.diffill')), false);
    fs.rmSync(home, { recursive: true, force: true });
    fs.rmSync(ws, { recursive: true, force: true });
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(work, { recursive: true, force: true });
  }
});
