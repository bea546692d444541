import assert from "node:assert/strict";
import { join } from "node:path";
import { createRunDir, MetricsCsv, readMetricsCsv, writeFileAtomic } from "../tasks/run_files.ts";

function withTempDir(fn: (dir: string) => void): () => void {
  return () => {
    const dir = Deno.makeTempDirSync({ prefix: "facekit-run-" });
    try {
      fn(dir);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  };
}

const names = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();

Deno.test(
  "writeFileAtomic: writes text and bytes, replaces, leaves no temp file",
  withTempDir((dir) => {
    const p = join(dir, "a.txt");
    writeFileAtomic(p, "first");
    writeFileAtomic(p, "second ü");
    assert.equal(Deno.readTextFileSync(p), "second ü");
    const q = join(dir, "b.bin");
    writeFileAtomic(q, new Uint8Array([1, 2, 3]));
    assert.deepEqual(Array.from(Deno.readFileSync(q)), [1, 2, 3]);
    assert.deepEqual(names(dir), ["a.txt", "b.bin"]);
    assert.throws(() => writeFileAtomic(join(dir, "missing", "c.txt"), "x"));
    assert.deepEqual(names(dir), ["a.txt", "b.bin"]);
  }),
);

Deno.test(
  "createRunDir: runs/<task>-<YYYYMMDD-HHMMSS>, never reuses a non-empty folder",
  withTempDir((dir) => {
    const root = join(dir, "runs");
    const now = new Date(2024, 0, 2, 3, 4, 5); // local time, like the folder name
    const first = createRunDir("nose", undefined, { root, now });
    assert.equal(first, join(root, "nose-20240102-030405"));
    assert.ok(Deno.statSync(first).isDirectory);

    // Still empty: same name is fine. Once it has files, the next run gets a suffix.
    assert.equal(createRunDir("nose", undefined, { root, now }), first);
    Deno.writeTextFileSync(join(first, "metrics.csv"), "x\n");
    const second = createRunDir("nose", undefined, { root, now });
    assert.equal(second, `${first}-2`);
    Deno.writeTextFileSync(join(second, "metrics.csv"), "x\n");
    assert.equal(createRunDir("nose", undefined, { root, now }), `${first}-3`);

    // A task name cannot escape the runs folder.
    assert.equal(
      createRunDir("../a/b", undefined, { root, now }),
      join(root, "__a_b-20240102-030405"),
    );

    // An explicit `out` is used as is, even when it already holds files, but not over a run.
    assert.equal(createRunDir("nose", first), first);
    assert.deepEqual(names(first), ["metrics.csv"]);
    Deno.writeTextFileSync(join(first, "config.json"), "{}");
    assert.throws(() => createRunDir("nose", first), /already holds a run \(config\.json\)/);
    assert.throws(
      () => createRunDir("nose", join(first, "config.json")),
      /is a file, not a folder/,
    );
    const nested = join(dir, "x", "y", "z");
    assert.equal(createRunDir("face", nested), nested);
    assert.ok(Deno.statSync(nested).isDirectory);
  }),
);

Deno.test(
  "MetricsCsv: rewrites the CSV after every row; numbers round-trip exactly",
  withTempDir((dir) => {
    const path = join(dir, "metrics.csv");
    const csv = new MetricsCsv(path, ["epoch", "train_loss", "val_loss", "note"]);
    const rows = [
      { epoch: 1, train_loss: 0.1 + 0.2, val_loss: 1e-12, note: 'warm-up, lr "0.1"' },
      { epoch: 2, train_loss: 123456789.123, val_loss: NaN },
      { epoch: 3, train_loss: -0.5, val_loss: Infinity, note: "" },
    ];
    csv.append(rows[0]);
    assert.equal(Deno.readTextFileSync(path).trim().split("\n").length, 2);
    csv.append(rows[1]);
    csv.append(rows[2]);
    assert.deepEqual(names(dir), ["metrics.csv"]);
    assert.equal(Deno.readTextFileSync(path).split("\n")[0], "epoch,train_loss,val_loss,note");

    const back = readMetricsCsv(path);
    assert.deepEqual(back.columns, ["epoch", "train_loss", "val_loss", "note"]);
    assert.equal(back.rows.length, 3);
    assert.equal(back.rows[0].train_loss, 0.1 + 0.2);
    assert.equal(back.rows[0].val_loss, 1e-12);
    assert.equal(back.rows[0].note, 'warm-up, lr "0.1"');
    assert.equal(back.rows[1].train_loss, 123456789.123);
    assert.ok(Number.isNaN(back.rows[1].val_loss));
    assert.equal(back.rows[1].note, ""); // missing column → empty cell
    assert.equal(back.rows[2].train_loss, -0.5);
    assert.equal(back.rows[2].val_loss, Infinity);
    assert.equal(back.rows[2].epoch, 3);

    // A typo in a column name is an error, not a silently lost metric.
    assert.throws(() => csv.append({ epoch: 4, trian_loss: 1 } as never), /trian_loss/);
    assert.equal(csv.rows.length, 3);
    assert.throws(() => new MetricsCsv(path, []));
  }),
);
