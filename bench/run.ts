/**
 * Runs every benchmark one after another, each in its own process (so one's sockets and timers cannot skew the
 * next), and prints their JSON as one object. `npm run bench`, or `node --import tsx bench/run.ts [name…]`.
 */
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);
const dir = new URL('.', import.meta.url);
const all = readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
  .map((f) => f.slice(0, -3))
  .sort();
const names = process.argv.length > 2 ? process.argv.slice(2) : all;

const out: Record<string, unknown> = {};
for (const name of names) {
  if (!all.includes(name)) throw new Error(`no benchmark ${name} (have: ${all.join(', ')})`);
  const { stdout } = await run(process.execPath, ['--import', 'tsx', new URL(`${name}.ts`, dir).pathname], {
    env: process.env,
    maxBuffer: 16 * 1024 * 1024,
  });
  out[name] = JSON.parse(stdout);
}
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
